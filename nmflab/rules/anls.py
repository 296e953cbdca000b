"""Alternating non-negative least squares (ANLS) with block principal pivoting.

Each iteration solves the non-negative least-squares problem of one factor
exactly, the other fixed, then of the other: ``H <- argmin_{H >= 0}
||V - W H||^2``, then ``W`` likewise. Every step is the exact minimizer of
its block, so the objective never increases and every limit point is
stationary (Grippo & Sciandrone 2000, two blocks).

The subproblems are solved by the block principal pivoting method of Kim &
Park (2011): for each column ``x`` of the unknown, a guess of its passive
set ``F`` (the entries allowed to be positive) gives the unconstrained
solution ``x_F = G_FF^{-1} a_F`` and the dual ``y = G x - a`` on the rest;
entries that violate ``x_F >= 0`` or ``y >= 0`` are exchanged between the
sets, all at once while that reduces their number (three chances after it
did not), then one at a time (the largest index, Murty's rule, which ends in
finitely many steps). The previous iterate's positive entries are the first
guess, so late in a fit one or two exchanges suffice.

The columns are solved side by side: each pivoting step solves every
column's ``r x r`` masked system at once (``G`` restricted to ``F`` and the
identity elsewhere), a batched solve that is a pure function of the arrays,
so the rule traces under ``jax.jit`` and ``vmap``. With a mask the Gram
matrix differs by column (row-wise weighted NNLS: ``G_j = W^T diag(m_j) W``).

References
----------
J. Kim and H. Park, "Fast nonnegative matrix factorization: an active-set-like
method and comparisons", SIAM J. Sci. Comput. 33 (2011) 3261–3281
(Algorithm 2, with ``alpha = 3`` chances).
K. G. Murty, "Note on a Bard-type scheme for solving the complementarity
problem", Opsearch 11 (1974) 123–130 (the single-exchange rule).
L. Grippo and M. Sciandrone, "On the convergence of the block nonlinear
Gauss–Seidel method under convex constraints", Oper. Res. Lett. 26 (2000)
127–136.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np

from .. import _xp
from ..losses import Penalty
from ._common import T, alternate
from ._registry import Rule, register

__all__ = ["ANLS", "ANLSState", "nnls", "weighted_grams"]

#: Full exchanges allowed after one that did not reduce the number of infeasible entries (Kim & Park's alpha).
CHANCES = 3


class ANLSState(NamedTuple):
    """``V H^T`` and ``H H^T`` (they give the next W step and the objective), or None with a mask."""

    VHt: Any = None
    HHt: Any = None


def _masked_systems(xp, G, passive, ridge):
    """For each column, ``G`` on its passive set (plus ``ridge``) and the identity elsewhere: ``(m, r, r)``."""
    f = xp.astype(passive, G.dtype)
    eye = xp.eye(G.shape[-1], dtype=G.dtype)
    return G * (f[:, :, None] * f[:, None, :]) + eye * (1.0 - f + ridge * f)[:, :, None]


def _grouped_solve(G, passive, a, ridge):
    """NumPy: the masked solves of :func:`nnls` with one factorization per distinct passive set (Kim & Park 2011).

    Columns that share a passive set share its system ``G_FF``; late in a fit
    most columns of a factor share a few sets. Where the sets are mostly
    distinct, the batched solve over all columns is cheaper than a loop, and
    this returns None.
    """
    m, r = a.shape
    packed = np.ascontiguousarray(np.packbits(passive, axis=1))  # one key per passive set: its bits as bytes
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, which = np.unique(keys, return_index=True, return_inverse=True)
    if len(first) * 4 > m:
        return None
    x = np.zeros_like(a)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(len(first) + 1))
    for group, column in enumerate(first):
        idx = np.flatnonzero(passive[column])
        if idx.size:
            cols = order[bounds[group]:bounds[group + 1]]
            system = G[np.ix_(idx, idx)] + ridge * np.eye(idx.size, dtype=G.dtype)
            x[np.ix_(cols, idx)] = np.linalg.solve(system, a[np.ix_(cols, idx)].T).T
    return x


#: Entries of the masked systems NumPy forms at once (8 MiB of float64): the columns are solved in chunks of
#: this many ``r x r`` entries, so the memory stays that of a chunk whatever the number of columns.
SOLVE_ENTRIES = 2**20


def _masked_solve(xp, G, passive, a, ridge):
    """Every column's masked system solved (:func:`_masked_systems`); on NumPy a chunk of columns at a time.

    Each system is solved by itself (LAPACK's batched ``gesv`` loops over
    them), so the chunks give the same digits as one batch.
    """
    def batch(G, passive, a):
        systems = _masked_systems(xp, G, passive, ridge)
        return xp.linalg.solve(systems, xp.where(passive, a, 0.0)[:, :, None])[:, :, 0]

    m, r = a.shape
    step = max(1, SOLVE_ENTRIES // (r * r))
    if not _xp.is_numpy(xp) or m <= step:
        return batch(G, passive, a)
    x = np.empty_like(a)
    for lo in range(0, m, step):
        cols = slice(lo, lo + step)
        x[cols] = batch(G if G.ndim == 2 else G[cols], passive[cols], a[cols])
    return x


def _gram_times(xp, G, X):
    """``G_j x_j`` for each column ``j`` (rows of ``X``): ``G`` shared ``(r, r)`` or one per column ``(m, r, r)``."""
    if G.ndim == 2:
        return X @ G  # G is symmetric
    return (G @ X[:, :, None])[:, :, 0]


def nnls(xp, G, A, X0, max_pivots: int | None = None):
    """``argmin_{X >= 0} 0.5 <X, G X> - <A, X>`` column by column, by block principal pivoting.

    Parameters
    ----------
    G : array, ``(r, r)`` or ``(m, r, r)``
        The Gram matrix (``W^T W``, penalties added), shared by every
        column or one per column (weighted problems). Symmetric,
        positive semi-definite.
    A : array, ``(r, m)``
        The right-hand sides (``W^T V``, minus an L1 penalty).
    X0 : array, ``(r, m)``
        The previous iterate: its positive entries are the first guess of
        each column's passive set, and a column whose pivoting did not
        finish keeps it unless the pivoted one is better.
    max_pivots : int, optional
        Pivoting steps at most (default ``5 r + 10``; Murty's rule needs
        more only in contrived cases).

    Returns
    -------
    array, ``(r, m)``
        The minimizer. A component whose diagonal ``G_kk`` is 0 or
        subnormal (its column of ``W`` is 0: every value is a minimizer
        unless the right-hand side is negative) keeps its value from ``X0``,
        or goes to 0 where its right-hand side is negative (an L1 penalty).
    """
    r = G.shape[-1]
    dtype = G.dtype
    max_pivots = 5 * r + 10 if max_pivots is None else int(max_pivots)
    a = T(xp, A)  # (m, r): one column per row, for the batched solves
    x0 = T(xp, X0)
    m = a.shape[0]
    diag = xp.diagonal(G, axis1=-2, axis2=-1)
    alive = xp.broadcast_to(diag >= xp.finfo(dtype).tiny, (m, r))
    # a relative ridge of a few ulps keeps every passive block positive definite (collinear columns of W)
    ridge = xp.asarray(r * xp.finfo(dtype).eps, dtype=dtype) * xp.max(diag)

    def solved(passive, G=G, a=a):
        x = _grouped_solve(G, passive, a, ridge) if _xp.is_numpy(xp) and G.ndim == 2 else None
        if x is None:
            x = _masked_solve(xp, G, passive, a, ridge)
        y = xp.where(passive, 0.0, _gram_times(xp, G, x) - a)
        return x, y

    def resolved(passive, x, y, count):
        """The solutions after an exchange: of every column on JAX, of the columns that changed on NumPy."""
        if not _xp.is_numpy(xp):
            return solved(passive)
        todo = np.flatnonzero(count > 0)  # Kim & Park solve only the columns still infeasible
        x_todo, y_todo = solved(passive[todo], G if G.ndim == 2 else G[todo], a[todo])
        x, y = x.copy(), y.copy()
        x[todo], y[todo] = x_todo, y_todo
        return x, y

    def infeasible(passive, x, y):
        return alive & ((passive & (x < 0)) | (~passive & (y < 0)))

    passive = (x0 > 0) & alive
    x, y = solved(passive)
    bad = infeasible(passive, x, y)
    count = xp.sum(bad, axis=1, dtype=xp.int32)
    start = (passive, x, y, bad, count, xp.full((m,), CHANCES, dtype=xp.int32),
             xp.full((m,), r + 1, dtype=xp.int32), xp.asarray(0))

    def going(carry):
        *_, count, _, _, step = carry
        return xp.any(count > 0) & (step < max_pivots)

    def pivot(carry):
        passive, x, y, bad, count, chances, best, step = carry
        fewer = count < best
        full = fewer | (chances >= 1)
        chances = xp.where(fewer, CHANCES, xp.where(full, chances - 1, chances))
        best = xp.where(fewer, count, best)
        # Murty's rule: exchange only the infeasible entry of largest index
        last = (r - 1) - xp.argmax(xp.flip(bad, axis=1), axis=1)
        single = bad & (xp.arange(r)[None, :] == last[:, None])
        flip = xp.where(full[:, None], bad, single) & (count > 0)[:, None]
        passive = passive ^ flip
        x, y = resolved(passive, x, y, count)
        bad = infeasible(passive, x, y)
        return passive, x, y, bad, xp.sum(bad, axis=1, dtype=xp.int32), chances, best, step + 1

    passive, x, y, bad, count, *_ = _xp.while_loop(xp, going, pivot, start)
    x = xp.maximum(x, 0.0)  # exact zeros off the passive set; clips only a column whose pivoting did not finish
    dead = ~alive
    x = xp.where(dead, xp.where(a < 0, 0.0, x0), x)
    unfinished = count > 0
    # a column cut off by max_pivots keeps its start unless the clipped pivot is no worse
    value = xp.sum(x * (0.5 * _gram_times(xp, G, x) - a), axis=1)
    value0 = xp.sum(x0 * (0.5 * _gram_times(xp, G, x0) - a), axis=1)
    x = xp.where((unfinished & (value > value0))[:, None], x0, x)
    return T(xp, x)


def weighted_grams(xp, M, X):
    """``X^T diag(m_j) X`` for each column ``m_j`` of the weights ``M`` (``n x m``): ``(m, r, r)``."""
    return xp.einsum("ij,ik,il->jkl", M, X, X)


def _ridge_diag(xp, G, l2):
    return G + l2 * xp.eye(G.shape[-1], dtype=G.dtype) if l2 else G


@register
@dataclass(frozen=True)
class ANLS(Rule):
    """ANLS for ``0.5 * ||V - WH||_F**2`` (+ penalty): exact NNLS for H, then for W, by block principal pivoting.

    Parameters
    ----------
    penalty : Penalty
        L1/L2 penalties: the subproblem of H becomes ``min 0.5 <H, (W^T W +
        l2_H I) H> - <W^T V - l1_H, H>``, likewise for W.
    max_pivots : int, optional
        Pivoting steps per subproblem at most (:func:`nnls`).
    update_h, update_w : bool

    Notes
    -----
    An iteration costs the products ``W^T V`` and ``V H^T`` (``O(npr)``,
    as HALS) plus the pivoting, a few batched ``r x r`` solves per column
    (``O((n + p) r^3)`` each). With a mask each column has its own Gram
    matrix (``O(npr^2)`` to form). R NMF's ``snmf/r`` and ``snmf/l`` are
    this rule with Kim & Park's sparsity penalty (:mod:`.r_presets`).
    """

    penalty: Penalty = field(default_factory=Penalty)
    max_pivots: int | None = None
    update_h: bool = True
    update_w: bool = True

    method: ClassVar[str] = "anls"
    loss: ClassVar[str] = "frobenius"
    beta: ClassVar[float] = 2.0
    summary: ClassVar[str] = "ANLS: exact NNLS for each factor by block principal pivoting (Kim and Park 2011)"
    max_iter: ClassVar[int] = 500
    check_every: ClassVar[int] = 5
    supports_sparse: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = True
    supports_penalty: ClassVar[bool] = True
    extrapolable: ClassVar[bool] = True
    supports_sketch: ClassVar[bool] = True

    def init(self, xp, data, W, H, consts):
        if data.weighted:
            return ANLSState()
        return ANLSState(VHt=data.right(H), HHt=H @ T(xp, H))

    def update(self, xp, data, W, H, state, consts):
        if data.weighted:
            pen, M = self.penalty, data.weights
            if self.update_h:
                G = _ridge_diag(xp, weighted_grams(xp, M, W), pen.l2_H)
                H = nnls(xp, G, data.left(W) - pen.l1_H, H, self.max_pivots)
            if self.update_w:
                G = _ridge_diag(xp, weighted_grams(xp, T(xp, M), T(xp, H)), pen.l2_W)
                W = T(xp, nnls(xp, G, T(xp, data.right(H)) - pen.l1_W, T(xp, W), self.max_pivots))
            return W, H, state
        return alternate(self, xp, data, W, H, state)

    def solve_h(self, xp, data, H, WtV, WtW):
        """The exact H for ``W^T V`` and ``W^T W``, warm-started at ``H`` (the step :mod:`.extrapolation` takes)."""
        pen = self.penalty
        return nnls(xp, _ridge_diag(xp, WtW, pen.l2_H), WtV - pen.l1_H, H, self.max_pivots)

    def solve_w(self, xp, data, W, VHt, HHt):
        """The exact W for ``V H^T`` and ``H H^T``, warm-started at ``W``."""
        pen = self.penalty
        return T(xp, nnls(xp, _ridge_diag(xp, HHt, pen.l2_W), T(xp, VHt) - pen.l1_W, T(xp, W), self.max_pivots))

    def objective(self, xp, data, W, H, state, consts):
        penalty = self.penalty.value(xp, W, H)
        if data.weighted:
            return penalty + data.divergence(2.0, W, H, data.fitted(W, H))
        return penalty + data.frobenius(W, H, state.VHt, state.HHt)
