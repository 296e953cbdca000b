"""R NMF package presets (Gaujoux & Seoighe 2010), iterate for iterate.

R's orientation is V_R (features x samples) = W_R H_R, with H_R the sample
side. nmflab's V is V_R^T, so nmflab's W is H_R^T and nmflab's H is W_R^T.
R updates H_R first, then W_R: in nmflab's terms the sample-side factor W
first, then H. These rules therefore update W before H, and run on the data
as given (``scale_free = False``: no internal power-of-two rescaling), so
that every floating-point operation matches R's. They take no weights and
no penalty, as in R. A scipy.sparse ``V`` (which R's package would make
dense) runs the same updates with the products of :class:`nmflab.data.Sparse`:
the same iterates up to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ._common import T
from ._registry import Rule, register
from .mu import kl_step_h, kl_step_w

__all__ = ["BrunetKL", "LeeFrobenius", "BrunetState"]


class _AsInR(Rule):
    """What R's presets share: R's defaults, the data as given, no weights and no penalty."""

    max_iter: ClassVar[int] = 2000  # R's NMF: maxIter = 2000, connectivity checked every 10, stopconv = 40
    check_every: ClassVar[int] = 10
    stop: ClassVar[tuple] = ("connectivity",)
    supports_sparse: ClassVar[bool] = True
    scale_free: ClassVar[bool] = False
    monotone: ClassVar[bool] = False

    def rescaled(self, scale):
        return self


class BrunetState(NamedTuple):
    """The iteration count (for the periodic floor) and ``W H`` as the data carry it."""

    iteration: Any
    WH: Any = None


@register
@dataclass(frozen=True)
class BrunetKL(_AsInR):
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

    def guard_effect(self, vmax: float) -> float:
        """The floor against factor entries, which scale as ``sqrt(vmax)``."""
        return self.floor / np.sqrt(vmax)

    method: ClassVar[str] = "brunet"
    loss: ClassVar[str] = "kl"
    beta: ClassVar[float] = 1.0
    summary: ClassVar[str] = "R NMF's brunet: KL updates with R's periodic floor, R's defaults (connectivity stop)"
    guard: ClassVar[str] = "floor"

    def init(self, xp, data, W, H, consts):
        return BrunetState(xp.asarray(0), data.fitted(W, H))

    def update(self, xp, data, W, H, state, consts):
        iteration = state.iteration + 1
        if self.update_w:
            W = kl_step_w(xp, data, W, H, state.WH, 0.0)
        if self.update_h:
            H = kl_step_h(xp, data, W, H, data.fitted(W, H), 0.0)
        floor_now = iteration % self.floor_every == 0
        if self.update_w:
            W = xp.where(floor_now & (W < self.floor), self.floor, W)
        if self.update_h:
            H = xp.where(floor_now & (H < self.floor), self.floor, H)
        return W, H, BrunetState(iteration, data.fitted(W, H))

    def objective(self, xp, data, W, H, state, consts):
        return data.divergence(1.0, W, H, state.WH)


@register
@dataclass(frozen=True)
class LeeFrobenius(_AsInR):
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

    def guard_effect(self, vmax: float) -> float:
        """``eps`` against the numerators (which scale as ``vmax**2`` once ``H`` is rescaled) and the
        denominators (``vmax`` or ``vmax**2``)."""
        return self.eps / min(vmax, vmax * vmax)

    method: ClassVar[str] = "lee"
    loss: ClassVar[str] = "frobenius"
    beta: ClassVar[float] = 2.0
    summary: ClassVar[str] = "R NMF's lee: Lee-Seung updates as R writes them, R's defaults (connectivity stop)"
    guard: ClassVar[str] = "eps"

    def init(self, xp, data, W, H, consts):
        return None

    def update(self, xp, data, W, H, state, consts):
        if self.update_w:
            W = xp.maximum(W * data.right(H), self.eps) / (W @ (H @ T(xp, H)) + self.eps)
        if self.update_h:
            H = xp.maximum(H * data.left(W), self.eps) / ((T(xp, W) @ W) @ H + self.eps)
            if self.rescale:
                H = H / xp.sum(H, axis=-1)[..., :, None]
        return W, H, state

    def objective(self, xp, data, W, H, state, consts):
        return data.divergence(2.0, W, H, None)
