"""Update rules: the math of one iteration, and nothing else.

A rule is a frozen dataclass (it hashes by value, so it is a safe static
argument of ``jax.jit``) with pure methods over an array namespace ``xp``:

``prepare(xp, V) -> consts``
    Quantities of the data alone, computed once per fit (e.g. ``||V||^2``).
``init(xp, V, W, H, consts) -> state``
    The rule's state for a start ``(W, H)``: products it carries from one
    iteration to the next so the objective costs nothing extra.
``update(xp, V, W, H, state, consts) -> (W, H, state)``
    One iteration: H first, then W (as the seed chapter's code and R's NMF
    package do). No in-place writes, no loops over iterations, no stopping,
    no randomness.
``objective(xp, V, W, H, state, consts) -> scalar``
    The loss at ``(W, H)``, reusing what ``state`` holds.

Every method also accepts a leading batch axis on ``W`` and ``H``
(``(b, n, r)``, ``(b, r, p)``): products use ``@`` and
``xp.matrix_transpose``, reductions run over the last two axes.

Fields ``update_h`` and ``update_w`` freeze one factor (``update_h=False``
is how :meth:`nmflab.NMF.transform` solves for W with the parts fixed).

References
----------
D. D. Lee and H. S. Seung, "Algorithms for non-negative matrix
factorization", NIPS 13 (2001).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from . import _xp, losses

__all__ = ["MultiplicativeFrobenius", "MultiplicativeKL", "Rule"]

#: Relative accuracy the Frobenius trace identity must reach to be used.
_IDENTITY_TARGET = 1e-9


def _T(xp, X):
    return xp.matrix_transpose(X)


def _divide(xp, numerator, denominator, eps: float, where_zero: float):
    """``numerator / (denominator + eps)``; with ``eps == 0``, ``where_zero`` where the denominator is 0.

    ``eps > 0`` is the chapter's and R's guard. It perturbs the rule: near a
    fixed point, where ``numerator - denominator`` is below ``eps``, a step
    can move the wrong way and raise the objective by O(eps^2). ``eps = 0``
    is the exact Lee–Seung rule, monotone up to rounding; a zero
    denominator then means the entry (or its whole column) is zero and
    cannot move, which ``where_zero`` expresses.
    """
    if eps > 0:
        return numerator / (denominator + eps)
    positive = denominator > 0
    return xp.where(positive, numerator / xp.where(positive, denominator, 1.0), where_zero)


@dataclass(frozen=True)
class MultiplicativeFrobenius:
    """Lee–Seung multiplicative updates for ``0.5 * ||V - WH||_F**2``.

    ``H <- H * (W^T V) / (W^T W H + eps)``, then
    ``W <- W * (V H^T) / (W H H^T + eps)``.
    Each step does not increase the objective (Lee & Seung 2001, Theorem 1).

    Parameters
    ----------
    eps : float
        Added to every denominator (see :func:`_divide`; ``0`` gives the
        exact rule, with 0/0 steps leaving the entry unchanged).
    update_h, update_w : bool
        Which factors the rule updates.
    """

    eps: float = 1e-9
    update_h: bool = True
    update_w: bool = True

    loss: ClassVar[str] = "frobenius"
    method: ClassVar[str] = "mu"

    def prepare(self, xp, V):
        norm_sq = xp.vdot(V, V)  # no n x p temporary on NumPy (BLAS dot)
        # The trace identity's absolute error is about 4*eps_dtype*||V||^2;
        # below this value its relative error would exceed _IDENTITY_TARGET.
        eps_dtype = xp.finfo(V.dtype).eps
        return {"norm_sq": norm_sq, "identity_floor": 4.0 * eps_dtype / _IDENTITY_TARGET * norm_sq}

    def init(self, xp, V, W, H, consts):
        return {"VHt": V @ _T(xp, H), "HHt": H @ _T(xp, H)}

    def update(self, xp, V, W, H, state, consts):
        if self.update_h:
            WtV = _T(xp, W) @ V
            WtW = _T(xp, W) @ W
            H = H * _divide(xp, WtV, WtW @ H, self.eps, 1.0)
            # With H fixed the products from init stay valid.
            state = {"VHt": V @ _T(xp, H), "HHt": H @ _T(xp, H)}
        if self.update_w:
            W = W * _divide(xp, state["VHt"], W @ state["HHt"], self.eps, 1.0)
        return W, H, state

    def objective(self, xp, V, W, H, state, consts):
        identity = losses.frobenius_from_products(xp, consts["norm_sq"], W, state["VHt"], state["HHt"])
        return _xp.cond(
            xp,
            identity > consts["identity_floor"],
            lambda: identity,
            lambda: losses.frobenius(xp, V, W, H),
        )


@dataclass(frozen=True)
class MultiplicativeKL:
    """Lee–Seung multiplicative updates for the generalized KL divergence.

    ``H <- H * (W^T (V / (WH + eps))) / (W^T 1 + eps)``, then
    ``W <- W * ((V / (WH + eps)) H^T) / (1 H^T + eps)``.
    Each step does not increase the divergence (Lee & Seung 2001, Theorem 2).
    The state carries ``WH`` for the current factors, which the next
    update and the objective both need, so the objective is free.

    Parameters
    ----------
    eps : float
        Added to every denominator.
    update_h, update_w : bool
        Which factors the rule updates.
    """

    eps: float = 1e-9
    update_h: bool = True
    update_w: bool = True

    loss: ClassVar[str] = "kl"
    method: ClassVar[str] = "mu"

    def prepare(self, xp, V):
        return {}

    def init(self, xp, V, W, H, consts):
        return {"WH": W @ H}

    def update(self, xp, V, W, H, state, consts):
        WH = state["WH"]
        if self.update_h:
            ratio = _divide(xp, V, WH, self.eps, 0.0)
            column_sums = xp.sum(W, axis=-2)[..., :, None]
            H = H * _divide(xp, _T(xp, W) @ ratio, column_sums, self.eps, 1.0)
            WH = W @ H
        if self.update_w:
            ratio = _divide(xp, V, WH, self.eps, 0.0)
            row_sums = xp.sum(H, axis=-1)[..., None, :]
            W = W * _divide(xp, ratio @ _T(xp, H), row_sums, self.eps, 1.0)
            WH = W @ H
        return W, H, {"WH": WH}

    def objective(self, xp, V, W, H, state, consts):
        return losses.kl_divergence(xp, V, state["WH"])


Rule = MultiplicativeFrobenius | MultiplicativeKL
