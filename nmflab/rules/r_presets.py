"""R NMF package presets (Gaujoux & Seoighe 2010), iterate for iterate.

R's orientation is V_R (features x samples) = W_R H_R, with H_R the sample
side. nmflab's V is V_R^T, so nmflab's W is H_R^T and nmflab's H is W_R^T.
R updates H_R first, then W_R: in nmflab's terms the sample-side factor W
first, then H. These rules therefore update W before H, and run on the data
as given (``scale_free = False``: no internal power-of-two rescaling), so
that every floating-point operation matches R's. They take no weights and
no penalty, as in R. A scipy.sparse ``V`` (which R's package would make
dense) runs the same updates with the products of :mod:`nmflab._sparse`:
the same iterates up to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import _sparse, _xp, losses
from .._xp import fuses_product, product
from ._common import T
from .mu import carried_product, kl_objective, kl_step_h, kl_step_w

__all__ = ["BrunetKL", "LeeFrobenius"]


class _AsInR:
    """What R's presets share: they run on the data as given, without weights, penalty or constants."""

    scale_free: ClassVar[bool] = False
    supports_weights: ClassVar[bool] = False
    supports_sparse: ClassVar[bool] = True

    def rescaled(self, scale):
        return self

    def prepare(self, xp, V, weights=None):
        return {"sparse": _sparse.pattern(V)} if _xp.is_sparse(V) else {}


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

    loss: ClassVar[str] = "kl"
    method: ClassVar[str] = "brunet"
    beta: ClassVar[float] = 1.0

    def _product(self, xp, W, H, consts):
        """``WH`` for the KL steps: fused into its consumer on JAX at small rank, else as :func:`carried_product`."""
        return product(xp, W, H) if fuses_product(xp, W) else carried_product(xp, W, H, consts)

    def init(self, xp, V, W, H, consts):
        # The product is carried from one iteration to the next, except where
        # forming it inside its consumer is cheaper than storing it.
        state = {"iteration": xp.asarray(0)}
        return state if fuses_product(xp, W) else {**state, "WH": carried_product(xp, W, H, consts)}

    def update(self, xp, V, W, H, state, consts):
        iteration = state["iteration"] + 1
        if self.update_w:
            W = kl_step_w(xp, V, W, H, state["WH"] if "WH" in state else self._product(xp, W, H, consts), 0.0)
        if self.update_h:
            H = kl_step_h(xp, V, W, H, self._product(xp, W, H, consts), 0.0)
        floor_now = iteration % self.floor_every == 0
        if self.update_w:
            W = xp.where(floor_now & (W < self.floor), self.floor, W)
        if self.update_h:
            H = xp.where(floor_now & (H < self.floor), self.floor, H)
        if "WH" in state:
            return W, H, {"WH": carried_product(xp, W, H, consts), "iteration": iteration}
        return W, H, {"iteration": iteration}

    def objective(self, xp, V, W, H, state, consts):
        return kl_objective(xp, V, W, H, state["WH"] if "WH" in state else self._product(xp, W, H, consts), consts)


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

    loss: ClassVar[str] = "frobenius"
    method: ClassVar[str] = "lee"
    beta: ClassVar[float] = 2.0

    def init(self, xp, V, W, H, consts):
        return {}

    def update(self, xp, V, W, H, state, consts):
        sparse = "sparse" in consts
        if self.update_w:
            Ht = T(xp, H)
            VHt = _sparse.times(V, Ht) if sparse else V @ Ht  # R's arithmetic for dense V, not _xp's (H V^T)^T
            W = xp.maximum(W * VHt, self.eps) / (W @ (H @ Ht) + self.eps)
        if self.update_h:
            Wt = T(xp, W)
            WtV = _xp.left_product(xp, W, V) if sparse else Wt @ V
            H = xp.maximum(H * WtV, self.eps) / ((Wt @ W) @ H + self.eps)
            if self.rescale:
                H = H / xp.sum(H, axis=-1)[..., :, None]
        return W, H, state

    def objective(self, xp, V, W, H, state, consts):
        if "sparse" in consts:  # the trace identity, without an n x p array (as MultiplicativeFrobenius does)
            return losses.frobenius_from_products(xp, _xp.sq_norm(xp, V), W, _xp.right_product(xp, V, T(xp, H)),
                                                  H @ T(xp, H))
        return losses.frobenius(xp, V, W, H)
