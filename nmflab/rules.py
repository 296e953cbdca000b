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

Class attributes: ``loss`` and ``method`` (names), and ``scale_free``:
whether the rule may run on ``V`` divided by a power of two (see
:func:`nmflab.nmf`); rules that reproduce another package's arithmetic
digit for digit say False.

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

import numpy as np

from . import _xp, losses

__all__ = ["MultiplicativeFrobenius", "MultiplicativeKL", "BrunetKL", "LeeFrobenius", "Rule"]

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


def _kl_step_h(xp, V, W, H, WH, eps):
    """``H * (W^T (V / WH)) / (W^T 1)``, denominators guarded by ``eps``."""
    ratio = _divide(xp, V, WH, eps, 0.0)
    column_sums = xp.sum(W, axis=-2)[..., :, None]
    return H * _divide(xp, _T(xp, W) @ ratio, column_sums, eps, 1.0)


def _kl_step_w(xp, V, W, H, WH, eps):
    """``W * ((V / WH) H^T) / (1 H^T)``, denominators guarded by ``eps``."""
    ratio = _divide(xp, V, WH, eps, 0.0)
    row_sums = xp.sum(H, axis=-1)[..., None, :]
    return W * _divide(xp, ratio @ _T(xp, H), row_sums, eps, 1.0)


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
    scale_free: ClassVar[bool] = True

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
    scale_free: ClassVar[bool] = True

    def prepare(self, xp, V):
        return {}

    def init(self, xp, V, W, H, consts):
        return {"WH": W @ H}

    def update(self, xp, V, W, H, state, consts):
        WH = state["WH"]
        if self.update_h:
            H = _kl_step_h(xp, V, W, H, WH, self.eps)
            WH = W @ H
        if self.update_w:
            W = _kl_step_w(xp, V, W, H, WH, self.eps)
            WH = W @ H
        return W, H, {"WH": WH}

    def objective(self, xp, V, W, H, state, consts):
        return losses.kl_divergence(xp, V, state["WH"])


# ---------------------------------------------------------------------------
# R NMF package presets (Gaujoux & Seoighe 2010), iterate for iterate.
#
# R's orientation is V_R (features x samples) = W_R H_R, with H_R the sample
# side. nmflab's V is V_R^T, so nmflab's W is H_R^T and nmflab's H is W_R^T.
# R updates H_R first, then W_R: in nmflab's terms the sample-side factor W
# first, then H. These rules therefore update W before H, and run on the data
# as given (``scale_free = False``: no internal power-of-two rescaling), so
# that every floating-point operation matches R's.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BrunetKL:
    """R NMF's ``"brunet"`` algorithm (Brunet et al. 2004), in nmflab's orientation.

    KL multiplicative updates of the sample side ``W`` then of ``H``, with
    no ``eps`` in the denominators; after every ``floor_every``-th iteration
    all entries of ``W`` and ``H`` below ``floor`` are raised to ``floor``
    (R: ``.Machine$double.eps``). The floor revives entries that the
    multiplicative updates had driven to zero (zero-locking), at the price of
    a tiny, periodic departure from monotone descent.

    References
    ----------
    J.-P. Brunet, P. Tamayo, T. R. Golub and J. P. Mesirov, "Metagenes and
    molecular pattern discovery using matrix factorization", PNAS 101 (2004).
    R. Gaujoux and C. Seoighe, "A flexible R package for nonnegative matrix
    factorization", BMC Bioinformatics 11 (2010) 367 (``nmf_update.brunet``).
    """

    floor: float = float(np.finfo(np.float64).eps)
    floor_every: int = 10
    update_h: bool = True
    update_w: bool = True

    loss: ClassVar[str] = "kl"
    method: ClassVar[str] = "brunet"
    scale_free: ClassVar[bool] = False

    def prepare(self, xp, V):
        return {}

    def init(self, xp, V, W, H, consts):
        return {"WH": W @ H, "iteration": xp.asarray(0)}

    def update(self, xp, V, W, H, state, consts):
        iteration = state["iteration"] + 1
        if self.update_w:
            W = _kl_step_w(xp, V, W, H, state["WH"], 0.0)
        if self.update_h:
            H = _kl_step_h(xp, V, W, H, W @ H, 0.0)
        floor_now = iteration % self.floor_every == 0
        if self.update_w:
            W = xp.where(floor_now & (W < self.floor), self.floor, W)
        if self.update_h:
            H = xp.where(floor_now & (H < self.floor), self.floor, H)
        return W, H, {"WH": W @ H, "iteration": iteration}

    def objective(self, xp, V, W, H, state, consts):
        return losses.kl_divergence(xp, V, state["WH"])


@dataclass(frozen=True)
class LeeFrobenius:
    """R NMF's ``"lee"`` algorithm (Lee & Seung 2001 as R implements it), in nmflab's orientation.

    ``W <- max(W * (V H^T), eps) / (W H H^T + eps)``, then
    ``H <- max(H * (W^T V), eps) / (W^T W H + eps)``, then (``rescale``)
    each row of ``H`` divided by its sum (R rescales the columns of its
    basis ``W_R = H^T`` without compensating the other factor). The floor
    ``eps`` on the numerators keeps every entry positive: no zero-locking,
    but no monotone-descent guarantee either.

    References
    ----------
    R. Gaujoux and C. Seoighe (2010), ``nmf_update.lee`` in R's NMF package.
    """

    eps: float = 1e-9
    rescale: bool = True
    update_h: bool = True
    update_w: bool = True

    loss: ClassVar[str] = "frobenius"
    method: ClassVar[str] = "lee"
    scale_free: ClassVar[bool] = False

    def prepare(self, xp, V):
        return {}

    def init(self, xp, V, W, H, consts):
        return {}

    def update(self, xp, V, W, H, state, consts):
        if self.update_w:
            Ht = _T(xp, H)
            W = xp.maximum(W * (V @ Ht), self.eps) / (W @ (H @ Ht) + self.eps)
        if self.update_h:
            Wt = _T(xp, W)
            H = xp.maximum(H * (Wt @ V), self.eps) / ((Wt @ W) @ H + self.eps)
            if self.rescale:
                H = H / xp.sum(H, axis=-1)[..., :, None]
        return W, H, state

    def objective(self, xp, V, W, H, state, consts):
        return losses.frobenius(xp, V, W, H)


Rule = MultiplicativeFrobenius | MultiplicativeKL | BrunetKL | LeeFrobenius
