"""R NMF package presets (Gaujoux & Seoighe 2010), iterate for iterate.

R's orientation is V_R (features x samples) = W_R H_R, with H_R the sample
side. nmflab's V is V_R^T, so nmflab's W is H_R^T and nmflab's H is W_R^T.
R updates H_R first, then W_R: in nmflab's terms the sample-side factor W
first, then H (``snmf/l``, which R runs on the transpose, the other way
round). These rules therefore update W before H, and run on the data
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
from .anls import nnls
from .mu import kl_step_h, kl_step_w

__all__ = ["BrunetKL", "LeeFrobenius", "BrunetState", "SparseNMFRight", "SparseNMFLeft", "SparseNMFState"]


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


class SparseNMFState(NamedTuple):
    """The iteration count (the first iteration normalizes the start) and the penalty weight ``eta``."""

    iteration: Any
    eta: Any


@dataclass(frozen=True)
class _SparseNMF(_AsInR):
    """Kim & Park's sparse NMF as R NMF runs it (``snmf/r``, ``snmf/l``); see the subclasses.

    Minimizes ``0.5 * (||V - W H||^2 + eta^2 ||D||^2 + sparsity * sum_j
    (sum_k S_jk)^2)``, ``S`` the sparse factor, ``D`` the dense one, by
    exact alternating NNLS (:func:`nmflab.rules.anls.nnls`: the same
    minimizers R's ``fcnnls`` finds, so the iterates agree up to rounding):
    the sparse factor first, with the Gram matrix plus ``sparsity`` times the
    matrix of ones (the squared L1 norm of each of its columns), then the
    dense one with ``eta^2`` on the diagonal. Before the first step the dense
    factor's components are scaled to unit Euclidean norm, as R does.

    Parameters
    ----------
    eta : float, optional
        Weight of the dense factor's penalty (R's ``eta``; its default, -1,
        means the largest entry of ``V``, which None means here).
    sparsity : float
        R's ``beta`` (0.01), the weight of the squared L1 norms.
    max_pivots : int, optional
        Pivoting steps per subproblem at most (:func:`nmflab.rules.anls.nnls`).
    update_h, update_w : bool
        A factor held fixed is neither solved for nor normalized.

    Notes
    -----
    R stops with its own test (the largest component of each row is the
    same over ``bi_conv[2]`` checks and a KKT measure fell by ``eps_conv``);
    here the objective rule stops, every 5 iterations as R checks, or
    ``stop="max_iter"`` runs R's count exactly. R's ``.snmf.objective``
    reports ``eta`` (not ``eta^2``) times the dense factor's squares, which
    is not what its steps minimize; the objective here is. Where a
    component of the sparse factor comes out entirely zero, R starts again
    from a new random matrix; here the fit goes on with that component dead.

    References
    ----------
    H. Kim and H. Park, "Sparse non-negative matrix factorizations via
    alternating non-negativity-constrained least squares for microarray data
    analysis", Bioinformatics 23 (2007) 1495–1502.
    R. Gaujoux and C. Seoighe (2010), ``nmf_snmf`` in R's NMF package.
    """

    eta: float | None = None
    sparsity: float = 0.01
    max_pivots: int | None = None
    update_h: bool = True
    update_w: bool = True

    loss: ClassVar[str] = "frobenius"
    beta: ClassVar[float] = 2.0
    max_iter: ClassVar[int] = 20000  # R: nmf.getOption("maxIter") %||% 20000
    check_every: ClassVar[int] = 5
    stop: ClassVar[tuple] = ("objective",)
    sparse_side: ClassVar[str]

    def prepare(self, xp, data):
        return data.largest() if self.eta is None else self.eta

    def init(self, xp, data, W, H, consts):
        return SparseNMFState(xp.asarray(0), xp.asarray(consts, dtype=data.dtype))

    def _solve(self, xp, data, W, H, side: str, extra):
        """W (``side="W"``) or H given the other by exact NNLS, ``extra`` added to the Gram matrix."""
        if side == "H":
            return W, nnls(xp, T(xp, W) @ W + extra, data.left(W), H, self.max_pivots)
        return T(xp, nnls(xp, H @ T(xp, H) + extra, T(xp, data.right(H)), T(xp, W), self.max_pivots)), H

    def update(self, xp, data, W, H, state, consts):
        sparse_w = self.sparse_side == "W"
        update_sparse, update_dense = (self.update_w, self.update_h) if sparse_w else (self.update_h, self.update_w)
        if update_dense:  # R scales the dense factor's components to unit norm before its first step
            first = state.iteration == 0
            if sparse_w:
                norms = xp.sqrt(xp.sum(H * H, axis=-1, keepdims=True))
                H = xp.where(first, H / xp.where(norms > 0, norms, 1.0), H)
            else:
                norms = xp.sqrt(xp.sum(W * W, axis=-2, keepdims=True))
                W = xp.where(first, W / xp.where(norms > 0, norms, 1.0), W)
        if update_sparse:  # the squared L1 norms of its components: sparsity times the matrix of ones
            W, H = self._solve(xp, data, W, H, self.sparse_side, self.sparsity)
        if update_dense:
            ridge = state.eta * state.eta * xp.eye(W.shape[-1], dtype=W.dtype)
            W, H = self._solve(xp, data, W, H, "H" if sparse_w else "W", ridge)
        return W, H, state._replace(iteration=state.iteration + 1)

    def objective(self, xp, data, W, H, state, consts):
        sparse, dense = (H, W) if self.sparse_side == "H" else (T(xp, W), T(xp, H))
        sums = xp.sum(sparse, axis=-2)
        penalty = 0.5 * (state.eta * state.eta * xp.sum(dense * dense) + self.sparsity * xp.sum(sums * sums))
        return data.divergence(2.0, W, H, data.fitted(W, H)) + penalty


@register
@dataclass(frozen=True)
class SparseNMFRight(_SparseNMF):
    """R NMF's ``"snmf/r"``: sparse coefficients (R's H, nmflab's sample-side W). See :class:`_SparseNMF`."""

    method: ClassVar[str] = "snmf/r"
    summary: ClassVar[str] = "R NMF's snmf/r: ANLS with sparse sample-side factor (Kim and Park 2007)"
    sparse_side: ClassVar[str] = "W"


@register
@dataclass(frozen=True)
class SparseNMFLeft(_SparseNMF):
    """R NMF's ``"snmf/l"``: a sparse basis (R's W, nmflab's feature-side H). See :class:`_SparseNMF`."""

    method: ClassVar[str] = "snmf/l"
    summary: ClassVar[str] = "R NMF's snmf/l: ANLS with sparse feature-side factor (Kim and Park 2007)"
    sparse_side: ClassVar[str] = "H"
