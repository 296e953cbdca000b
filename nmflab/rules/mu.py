"""Multiplicative updates: Lee–Seung for Frobenius and KL, and the beta-divergence family.

Every rule updates H, then W; takes optional entry weights (``consts["weights"]``:
a mask or non-negative weights, the shape of ``V``) and an L1/L2 ``penalty``
whose gradient's positive part joins the denominators.

References
----------
D. D. Lee and H. S. Seung, "Algorithms for non-negative matrix
factorization", NIPS 13 (2001).
C. Févotte and J. Idier, "Algorithms for nonnegative matrix factorization
with the beta-divergence", Neural Computation 23 (2011) 2421–2456.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .. import _dense, _sparse, _xp, losses
from ..losses import Penalty
from ._common import T, divide, scaled_penalty, shifted_power

__all__ = ["MultiplicativeFrobenius", "MultiplicativeKL", "MultiplicativeBeta", "mm_exponent"]

#: Relative accuracy the Frobenius trace identity must reach to be used.
_IDENTITY_TARGET = 1e-9


def _penalty_w(penalty: Penalty, W):
    return penalty.l1_W + penalty.l2_W * W if (penalty.l1_W or penalty.l2_W) else 0.0


def _penalty_h(penalty: Penalty, H):
    return penalty.l1_H + penalty.l2_H * H if (penalty.l1_H or penalty.l2_H) else 0.0


def _kl_ratio(eps):
    """``(M V / WH,)`` for a block of rows (NumPy), the ratio of :func:`kl_step_h` (in place in one array)."""

    def parts(V, WH, M):
        import numpy as np

        ratio = divide(np, V, WH, eps, 0.0)
        return (ratio if M is None else np.multiply(ratio, M, out=ratio),)

    return parts


def carried_product(xp, W, H, consts):
    """The ``WH`` a KL or beta step takes (and the state carries): the product at the stored entries of a sparse
    ``V`` (``consts["sparse"]`` its pattern), None where :mod:`nmflab._dense` forms it by blocks
    (``consts["row_blocks"]``), else ``W @ H``."""
    if "sparse" in consts:
        return _sparse.at_nonzeros(consts["sparse"], W, H)
    return None if "row_blocks" in consts else W @ H


def kl_objective(xp, V, W, H, WH, consts):
    """The generalized KL divergence for ``WH`` as :func:`carried_product` gives it."""
    if "sparse" in consts:
        return _sparse.kl_divergence(V, W, H, WH)
    if "row_blocks" in consts:
        return _dense.total(V, W, H, lambda V_, WH_, M_: losses.kl_divergence(xp, V_, WH_, M_), consts.get("weights"))
    return losses.kl_divergence(xp, V, WH, consts.get("weights"))


def kl_step_h(xp, V, W, H, WH, eps, weights=None, extra=0.0):
    """``H * (W^T (M V / WH)) / (W^T M + extra)``, denominators guarded by ``eps``.

    For a sparse ``V``, ``WH`` holds the product at its stored entries
    (:func:`carried_product`) and ``V / WH`` is formed there only. ``WH=None``
    forms ``W^T (M V / WH)`` one block of rows at a time
    (:mod:`nmflab._dense`, NumPy), never the ``n x p`` product.
    """
    if _xp.is_sparse(V):
        numerator = _sparse.transposed_times(_sparse.with_values(V, divide(xp, V.data, WH, eps, 0.0)), W).T
    elif WH is None:
        (numerator,) = _dense.products(V, W, H, _kl_ratio(eps), "H", weights)
    else:
        ratio = divide(xp, V, WH, eps, 0.0)
        numerator = _xp.left_product(xp, W, ratio if weights is None else ratio * weights)
    denominator = (xp.sum(W, axis=-2)[..., :, None] if weights is None else T(xp, W) @ weights) + extra
    return H * divide(xp, numerator, denominator, eps, 1.0)


def kl_step_w(xp, V, W, H, WH, eps, weights=None, extra=0.0):
    """``W * ((M V / WH) H^T) / (M H^T + extra)``, denominators guarded by ``eps`` (``WH`` as in :func:`kl_step_h`)."""
    if _xp.is_sparse(V):
        numerator = _sparse.times(_sparse.with_values(V, divide(xp, V.data, WH, eps, 0.0)), T(xp, H))
    elif WH is None:
        (numerator,) = _dense.products(V, W, H, _kl_ratio(eps), "W", weights)
    else:
        ratio = divide(xp, V, WH, eps, 0.0)
        numerator = (ratio if weights is None else ratio * weights) @ T(xp, H)
    denominator = (xp.sum(H, axis=-1)[..., None, :] if weights is None else weights @ T(xp, H)) + extra
    return W * divide(xp, numerator, denominator, eps, 1.0)


@dataclass(frozen=True)
class MultiplicativeFrobenius:
    """Lee–Seung multiplicative updates for ``0.5 * ||V - WH||_F**2``.

    ``H <- H * (W^T V) / (W^T W H + eps)``, then
    ``W <- W * (V H^T) / (W H H^T + eps)``; with weights ``M``,
    ``W^T (M V) / (W^T (M WH))`` and likewise for W; a penalty adds
    ``l1 + l2 X`` to the denominators. Each step does not increase the
    objective (Lee & Seung 2001, Theorem 1; the penalized and weighted
    cases follow from the same auxiliary function).

    Parameters
    ----------
    eps : float
        Added to every denominator (see :func:`._common.divide`; ``0`` gives
        the exact rule, with 0/0 steps leaving the entry unchanged).
    penalty : Penalty
        L1/L2 penalties on W and H.
    update_h, update_w : bool
        Which factors the rule updates.
    """

    eps: float = 1e-9
    penalty: Penalty = field(default_factory=Penalty)
    update_h: bool = True
    update_w: bool = True

    loss: ClassVar[str] = "frobenius"
    method: ClassVar[str] = "mu"
    beta: ClassVar[float] = 2.0
    scale_free: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = True
    supports_sparse: ClassVar[bool] = True

    rescaled = scaled_penalty

    def prepare(self, xp, V, weights=None):
        if weights is not None:
            return {"weights": weights, "MV": weights * V}
        norm_sq = _xp.sq_norm(xp, V)  # no n x p temporary (BLAS dot; stored values if sparse)
        # The trace identity's absolute error is about 4*eps_dtype*||V||^2;
        # below this value its relative error would exceed _IDENTITY_TARGET.
        eps_dtype = xp.finfo(V.dtype).eps
        consts = {"norm_sq": norm_sq, "identity_floor": 4.0 * eps_dtype / _IDENTITY_TARGET * norm_sq}
        if _xp.is_sparse(V):
            consts["sparse"] = True  # the residual would be dense: the identity is always used
        return consts

    def init(self, xp, V, W, H, consts):
        if "weights" in consts:
            return {"WH": W @ H}
        return {"VHt": _xp.right_product(xp, V, T(xp, H)), "HHt": H @ T(xp, H)}

    def update(self, xp, V, W, H, state, consts):
        if "weights" in consts:
            return self._update_weighted(xp, W, H, state, consts)
        if self.update_h:
            WtV = _xp.left_product(xp, W, V)
            WtW = T(xp, W) @ W
            H = H * divide(xp, WtV, WtW @ H + _penalty_h(self.penalty, H), self.eps, 1.0)
            # With H fixed the products from init stay valid.
            state = {"VHt": _xp.right_product(xp, V, T(xp, H)), "HHt": H @ T(xp, H)}
        if self.update_w:
            W = W * divide(xp, state["VHt"], W @ state["HHt"] + _penalty_w(self.penalty, W), self.eps, 1.0)
        return W, H, state

    def _update_weighted(self, xp, W, H, state, consts):
        M, MV = consts["weights"], consts["MV"]
        WH = state["WH"]
        if self.update_h:
            denominator = T(xp, W) @ (M * WH) + _penalty_h(self.penalty, H)
            H = H * divide(xp, T(xp, W) @ MV, denominator, self.eps, 1.0)
            WH = W @ H
        if self.update_w:
            denominator = (M * WH) @ T(xp, H) + _penalty_w(self.penalty, W)
            W = W * divide(xp, MV @ T(xp, H), denominator, self.eps, 1.0)
            WH = W @ H
        return W, H, {"WH": WH}

    def objective(self, xp, V, W, H, state, consts):
        penalty = self.penalty.value(xp, W, H)
        if "weights" in consts:
            R = V - state["WH"]
            return 0.5 * xp.sum(consts["weights"] * R * R) + penalty
        identity = losses.frobenius_from_products(xp, consts["norm_sq"], W, state["VHt"], state["HHt"])
        if "sparse" in consts:
            return penalty + xp.maximum(identity, 0.0)
        return penalty + _xp.cond(
            xp,
            identity > consts["identity_floor"],
            lambda: identity,
            lambda: losses.frobenius(xp, V, W, H),
        )


@dataclass(frozen=True)
class MultiplicativeKL:
    """Lee–Seung multiplicative updates for the generalized KL divergence.

    ``H <- H * (W^T (V / WH)) / (W^T 1)``, then
    ``W <- W * ((V / WH) H^T) / (1 H^T)``, denominators guarded by ``eps``;
    weights ``M`` multiply ``V / WH`` and replace the ones; a penalty adds
    ``l1 + l2 X`` to the denominators. Each step does not increase the
    divergence (Lee & Seung 2001, Theorem 2). The state carries ``WH``,
    which the next update and the objective both need.

    Parameters
    ----------
    eps : float
        Added to every denominator.
    penalty : Penalty
    update_h, update_w : bool
    """

    eps: float = 1e-9
    penalty: Penalty = field(default_factory=Penalty)
    update_h: bool = True
    update_w: bool = True

    loss: ClassVar[str] = "kl"
    method: ClassVar[str] = "mu"
    beta: ClassVar[float] = 1.0
    scale_free: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = True
    supports_sparse: ClassVar[bool] = True

    rescaled = scaled_penalty

    def prepare(self, xp, V, weights=None):
        if _xp.is_sparse(V):
            return {"sparse": _sparse.pattern(V)}
        consts = {} if weights is None else {"weights": weights}
        if _dense.applies(xp, V):
            consts["row_blocks"] = True  # WH is formed a block of rows at a time, never kept
        return consts

    def init(self, xp, V, W, H, consts):
        return {"WH": carried_product(xp, W, H, consts)}

    def update(self, xp, V, W, H, state, consts):
        M = consts.get("weights")
        WH = state["WH"]
        if self.update_h:
            H = kl_step_h(xp, V, W, H, WH, self.eps, M, _penalty_h(self.penalty, H))
            WH = carried_product(xp, W, H, consts)
        if self.update_w:
            W = kl_step_w(xp, V, W, H, WH, self.eps, M, _penalty_w(self.penalty, W))
            WH = carried_product(xp, W, H, consts)
        return W, H, {"WH": WH}

    def objective(self, xp, V, W, H, state, consts):
        return kl_objective(xp, V, W, H, state["WH"], consts) + self.penalty.value(xp, W, H)


def mm_exponent(beta: float) -> float:
    """Exponent that makes the beta-divergence MU a majorization-minimization step.

    ``1 / (2 - beta)`` for ``beta < 1``, ``1`` for ``1 <= beta <= 2``,
    ``1 / (beta - 1)`` for ``beta > 2`` (Févotte & Idier 2011, Table 2).
    """
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


@dataclass(frozen=True)
class MultiplicativeBeta:
    """Multiplicative updates for the beta-divergence, any real ``beta``.

    ``H <- H * [W^T (M V WH^(beta-2)) / (W^T (M WH^(beta-1)) + l1 + l2 H)]^gamma``,
    then W likewise. ``exponent="mm"`` uses Févotte & Idier's
    ``gamma(beta)`` (:func:`mm_exponent`), which makes every step a
    majorization-minimization step, so the objective never increases;
    ``exponent="heuristic"`` uses ``gamma = 1`` (the classic rule, often
    faster, monotone only for ``1 <= beta <= 2``).

    Parameters
    ----------
    beta : float
        ``2``: Frobenius, ``1``: KL, ``0``: Itakura–Saito. For
        ``beta <= 0`` the data must be positive wherever it is counted.
    exponent : {"mm", "heuristic"}
    eps : float
        Added to every denominator (and keeps ``WH`` away from 0 in
        negative powers).
    penalty : Penalty
    update_h, update_w : bool
    """

    beta: float = 0.0
    exponent: str = "mm"
    eps: float = 1e-9
    penalty: Penalty = field(default_factory=Penalty)
    update_h: bool = True
    update_w: bool = True

    loss: ClassVar[str] = "beta"
    method: ClassVar[str] = "mu"
    scale_free: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = True
    supports_sparse: ClassVar[bool] = True

    rescaled = scaled_penalty

    @property
    def gamma(self) -> float:
        return mm_exponent(self.beta) if self.exponent == "mm" else 1.0

    def prepare(self, xp, V, weights=None):
        if _xp.is_sparse(V):
            if self.beta <= 0:
                raise ValueError(f"the beta-divergence with beta = {self.beta} <= 0 is infinite at every zero of V; "
                                 "a sparse V has zeros (pass the positive entries as a mask of a dense V)")
            return {"sparse": _sparse.pattern(V)}
        consts = {} if weights is None else {"weights": weights}
        if _dense.applies(xp, V):
            consts["row_blocks"] = True  # WH is formed a block of rows at a time, never kept
        return consts

    def init(self, xp, V, W, H, consts):
        return {"WH": carried_product(xp, W, H, consts)}

    def _ratio(self, xp, num, den):
        ratio = divide(xp, num, den, self.eps, 1.0)
        return ratio if self.gamma == 1.0 else ratio**self.gamma

    def _parts(self, xp, V, WH, M):
        """``V WH^(beta-2)`` and ``WH^(beta-1)`` (times the weights); with ``eps = 0``, 0 where ``WH`` is 0."""
        low = V * shifted_power(xp, WH, self.beta - 2.0, self.eps)
        high = shifted_power(xp, WH, self.beta - 1.0, self.eps)
        if M is not None:
            low, high = M * low, M * high
        return low, high

    def _high(self, WH):
        """``WH^(beta-1)`` for a block of ``W H`` (NumPy), as :meth:`_parts` forms it."""
        import numpy as np

        return shifted_power(np, WH, self.beta - 1.0, self.eps)

    def _products(self, xp, V, W, H, WH, M, side: str):
        """``W^T`` times (``side="H"``), or times ``H^T`` (``side="W"``), the two arrays of :meth:`_parts`.

        ``WH`` as :func:`carried_product` gives it: for a sparse ``V``,
        ``V WH^(beta-2)`` at its stored entries and ``WH^(beta-1)`` by blocks
        of rows (:func:`nmflab._sparse.power_product`); for ``None``, both by
        blocks of rows (:mod:`nmflab._dense`); else written out.
        """
        if _xp.is_sparse(V):
            low = _sparse.with_values(V, V.data * shifted_power(xp, WH, self.beta - 2.0, self.eps))
            high = _sparse.power_product(W, H, self._high, side)
            return (_sparse.transposed_times(low, W).T if side == "H" else _sparse.times(low, T(xp, H))), high
        if WH is None:
            return _dense.products(V, W, H, lambda V_, WH_, M_: self._parts(xp, V_, WH_, M_), side, M)
        low, high = self._parts(xp, V, WH, M)
        if side == "H":
            return _xp.left_product(xp, W, low), _xp.left_product(xp, W, high)
        return low @ T(xp, H), high @ T(xp, H)

    def update(self, xp, V, W, H, state, consts):
        M = consts.get("weights")
        WH = state["WH"]
        if self.update_h:
            low, high = self._products(xp, V, W, H, WH, M, "H")
            H = H * self._ratio(xp, low, high + _penalty_h(self.penalty, H))
            WH = carried_product(xp, W, H, consts)
        if self.update_w:
            low, high = self._products(xp, V, W, H, WH, M, "W")
            W = W * self._ratio(xp, low, high + _penalty_w(self.penalty, W))
            WH = carried_product(xp, W, H, consts)
        return W, H, {"WH": WH}

    def objective(self, xp, V, W, H, state, consts):
        if "sparse" in consts:
            return _sparse.beta_divergence(V, W, H, state["WH"], self.beta) + self.penalty.value(xp, W, H)
        if "row_blocks" in consts:
            value = _dense.total(V, W, H, lambda V_, WH_, M_: losses.beta_divergence(xp, V_, WH_, self.beta, M_),
                                 consts.get("weights"))
        else:
            value = losses.beta_divergence(xp, V, state["WH"], self.beta, consts.get("weights"))
        return value + self.penalty.value(xp, W, H)
