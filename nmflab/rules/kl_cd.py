"""Coordinate descent for the KL divergence: safeguarded Newton steps, one column at a time.

With every other entry fixed, the KL objective of one entry ``w = W[i, k]`` is
the convex one-dimensional function

    f(w) = sum_j M_ij [(c_ij + w h_j) - V_ij log(c_ij + w h_j)] + l1 w + l2 w^2 / 2,

``c = WH - w h`` (Hsieh & Dhillon 2011). Rows of ``W`` do not interact, so a
whole column is updated at once, vectorized over its rows, and ``WH`` is
kept current by a rank-one correction. Each entry takes a projected Newton
step ``max(0, w - f'(w) / f''(w))``. A Newton step can overshoot (``f'`` is
concave, so a step from the right of the minimizer may land too far left),
so for each entry an upper bound on the change of ``f`` is formed from the
sums the step already needs (with ``log(1 + z) >= z - z^2/2`` for ``z >= 0``
and ``log(1 + z) >= z - z^2 / (2 (1 + z))`` for ``-1 < z < 0``); where it
does not prove a decrease, the entry takes the multiplicative
(majorization–minimization) step instead, which always decreases ``f``.
Every entry update therefore decreases the objective or leaves it: the
method keeps Lee & Seung's monotone descent and converges in far fewer
iterations. H is updated the same way, row by row.

Why this method: it is the coordinate descent that Hsieh & Dhillon showed
to beat multiplicative updates on KL by an order of magnitude, its steps
need only products nmflab already forms, it vectorizes over rows (so it
runs on NumPy and under ``jax.jit``/``vmap``), and the safeguard gives the
descent guarantee their analysis assumes.

References
----------
C.-J. Hsieh and I. S. Dhillon, "Fast coordinate descent methods with variable
selection for non-negative matrix factorization", KDD 2011.
D. D. Lee and H. S. Seung (2001), for the fallback step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .. import _kernels, _xp
from ..data.rows import row_blocks
from ..losses import Penalty
from ._registry import Rule, register
from ._common import ProductState

__all__ = ["CoordinateDescentKL", "MAX_AUTO_RANK", "MAX_AUTO_RANK_COMPILED"]

#: Largest rank at which ``method="auto"`` prefers coordinate descent to multiplicative updates for KL: a
#: sweep pays r column passes over V per factor, which wins at small rank and loses at rank 16
#: (benchmarks/NOTES.md).
MAX_AUTO_RANK = 8
#: The same with the compiled sweep primitives (:mod:`nmflab._kernels`, NumPy backend): one pass per
#: coordinate instead of about ten; on the digits (rank 16) coordinate descent then reached the level of
#: nimfa's best about twice as soon as multiplicative updates did, and lost at rank 49 on the faces
#: (benchmarks/NOTES.md).
MAX_AUTO_RANK_COMPILED = 16


def _sweep(xp, V, X, G, WH, M, l1: float, l2: float, newton_steps: int, side: str):
    """Update every column of W (``side="W"``, X = W, G = H) or row of H (``side="H"``, X = H, G = W).

    ``WH`` is kept current by rank-one corrections. Both sides work on ``V``
    and ``WH`` as they are laid out (no transposed copies); they differ only
    in which axis the sums run over. On NumPy with numba the sums and the
    corrections run as compiled primitives (:mod:`nmflab._kernels`) on the
    sweep's own copy of ``WH``: the same values, one pass each.
    """
    if _xp.is_numpy(xp):
        blocks = _cache_blocks(V.shape, side)
        if len(blocks) > 1:
            return _sweep_blocks(V, X, G, WH, M, l1, l2, newton_steps, side, blocks)
    if side == "W":
        get, index = (lambda A, k: A[:, k]), (lambda k: (slice(None), k))
        reduce = lambda A, v: A @ v  # noqa: E731  sum over features
        outer = lambda x, g: x[:, None] * g[None, :]  # noqa: E731
        size = X.shape[-2]
    else:
        get, index = (lambda A, k: A[k, :]), (lambda k: (k, slice(None)))
        reduce = lambda A, v: v @ A  # noqa: E731  sum over samples
        outer = lambda x, g: g[:, None] * x[None, :]  # noqa: E731
        size = X.shape[-1]
    rank = X.shape[-1] if side == "W" else X.shape[-2]
    X = _xp.scratch_copy(xp, X)
    compiled = _xp.is_numpy(xp) and _kernels.available()
    if compiled:
        import numpy as np

        WH = np.array(WH)  # the sweep's own copy: the compiled rank-one corrections write into it
    for k in range(rank):
        g = G[:, k] if side == "H" else G[k, :]
        weight_sum = xp.sum(g) * xp.ones(size, dtype=X.dtype) if M is None else reduce(M, g)
        for _ in range(newton_steps):
            x = get(X, k)
            if compiled:
                pull, curvature, z_scale = _kernels.newton_sums(V, WH, M, g, side)
            else:
                pull, curvature, z_scale = _newton_sums(xp, V, WH, M, g, side)
            grad = weight_sum - pull + l1 + l2 * x
            x_new = _safeguarded_step(xp, x, grad, curvature, z_scale, pull, weight_sum, l1, l2)
            WH = _kernels.add_outer(WH, x_new - x, g, side) if compiled else WH + outer(x_new - x, g)
            X = _xp.write(xp, X, index(k), x_new)
    return X, WH


#: Entries of ``V`` per block of :func:`_sweep_blocks`: with ``WH`` and two scratch arrays, about 2 MiB of
#: float64, one core's L2 cache (benchmarks/NOTES.md).
_BLOCK_ENTRIES = 2**16


def _cache_blocks(shape, side: str) -> list[slice]:
    """Ranges of the independent axis (rows for W, columns for H) holding about ``_BLOCK_ENTRIES`` entries each.

    The split depends on the shape alone, never on the thread count, so
    results do not depend on the machine.
    """
    n, p = shape[-2], shape[-1]
    return row_blocks(n, p, _BLOCK_ENTRIES) if side == "W" else row_blocks(p, n, _BLOCK_ENTRIES)


def _sweep_blocks(V, X, G, WH, M, l1: float, l2: float, newton_steps: int, side: str, blocks):
    """:func:`_sweep` on NumPy, one block of rows (W) or columns (H) at a time, a thread per core.

    A row of W (a column of H) interacts with the others only through G, so
    the sweep splits exactly along that axis. Each block's ``V``, ``WH``
    and scratch arrays stay in cache through all of its ``r`` coordinate
    updates, where the whole sweep would stream ``n x p`` arrays from
    memory some ten times per coordinate; NumPy releases the GIL, so the
    blocks run side by side.

    A block whose rows are shorter than its columns (the H side of a tall
    ``V``: 5000 x 13 strided slices of ALL/AML as genes x samples) runs as
    the other side's sweep of its transposed, contiguous copy, since
    NumPy's elementwise loops run along rows.
    """
    import numpy as np

    from ..parallel import pool_threads, thread_pool

    cut = (lambda A, b: A[b]) if side == "W" else (lambda A, b: A[:, b])

    def run(block):
        Vb, Xb, WHb, Mb = cut(V, block), cut(X, block), cut(WH, block), None if M is None else cut(M, block)
        if Vb.shape[-1] >= Vb.shape[-2]:
            return _sweep(np, Vb, Xb, G, WHb, Mb, l1, l2, newton_steps, side)
        # Short rows: NumPy's elementwise loops are per row, so the block runs as the other side's sweep of
        # its transpose (V^T ~ H^T W^T), laid out with the long axis contiguous.
        flat = (lambda A: None if A is None else np.ascontiguousarray(A.T))
        Xt, WHt = _sweep(np, flat(Vb), Xb.T, G.T, flat(WHb), flat(Mb), l1, l2, newton_steps,
                         "H" if side == "W" else "W")
        return Xt.T, WHt.T

    parts = list(thread_pool().map(run, blocks)) if pool_threads() > 1 else [run(b) for b in blocks]
    axis = 0 if side == "W" else 1
    return np.concatenate([x for x, _ in parts], axis=axis), np.concatenate([wh for _, wh in parts], axis=axis)


def _newton_sums(xp, V, WH, M, g, side: str):
    """Per entry of the column (row) being updated: ``sum M V g / WH``, ``sum M V g^2 / WH^2`` and the
    largest ``g / WH`` over the counted entries (``M > 0``) with ``V > 0``; ``WH = 0`` is taken as 1 (only
    an infinite objective reaches it). A hidden entry enters none of them, so its value changes nothing.

    Written with a division per sum: XLA fuses each sum with its own
    producers, where one shared reciprocal would be written out for its
    three consumers (slower, as was one variadic reduction:
    benchmarks/NOTES.md). NumPy, which writes every intermediate anyway,
    uses the reciprocal (:func:`_newton_sums_numpy`).
    """
    if _xp.is_numpy(xp):
        return _newton_sums_numpy(V, WH, M, g, side)
    safe = xp.where(WH > 0, WH, 1.0)
    ratio = V / safe if M is None else M * (V / safe)
    counted = V > 0 if M is None else (V > 0) & (M > 0)
    if side == "W":
        spread = xp.where(counted, g[None, :] / safe, 0.0)
        return ratio @ g, (ratio / safe) @ (g * g), xp.max(spread, axis=-1)
    spread = xp.where(counted, g[:, None] / safe, 0.0)
    return g @ ratio, (g * g) @ (ratio / safe), xp.max(spread, axis=-2)


def _newton_sums_numpy(V, WH, M, g, side: str):
    """:func:`_newton_sums` on NumPy: one reciprocal of ``WH`` for the three sums, in place in two fresh arrays.

    The same values up to rounding (a product with a reciprocal for a
    quotient), with one division per entry instead of three and no other
    ``n x p`` temporary.
    """
    import numpy as np

    inv = np.ones_like(WH)
    np.divide(1.0, WH, out=inv, where=WH > 0)
    ratio = np.multiply(V, inv)
    if M is not None:
        ratio *= M
    pull = ratio @ g if side == "W" else g @ ratio
    ratio *= inv
    curvature = ratio @ (g * g) if side == "W" else (g * g) @ ratio
    inv *= g[None, :] if side == "W" else g[:, None]
    np.copyto(inv, 0.0, where=V <= 0)
    if M is not None:
        np.copyto(inv, 0.0, where=M <= 0)
    return pull, curvature, inv.max(axis=-1 if side == "W" else -2)


def _safeguarded_step(xp, x, grad, curvature, z_scale, pull, weight_sum, l1: float, l2: float):
    """Each entry's projected Newton step where a bound proves it descends, else the MM step.

    ``curvature`` is ``f''(x)`` without the penalty, ``z_scale`` the largest
    ``g_j / WH_ij`` over the entries with ``V_ij > 0``, ``pull`` the sum of
    ``V g / WH``. The bound on ``f(x + s) - f(x)`` is
    ``s f'(x) + s^2 / 2 (f''_0(x) / (1 + s z_scale) [s < 0] + f''_0(x) [s >= 0] + l2)``,
    from ``log(1 + z) >= z - z^2/2`` for ``z >= 0`` and
    ``log(1 + z) >= z - z^2 / (2 (1 + z))`` for ``-1 < z < 0``.
    """
    hess = curvature + l2
    newton = xp.where(hess > 0, xp.maximum(x - grad / xp.where(hess > 0, hess, 1.0), 0.0),
                      xp.where(grad > 0, 0.0, x))
    step = newton - x
    room = xp.where(step < 0, 1.0 + step * z_scale, 1.0)
    bound = step * grad + 0.5 * step * step * (xp.where(room > 0, curvature / xp.where(room > 0, room, 1.0), xp.inf)
                                               + l2)
    # The majorization-minimization step (always a descent step): the minimizer of
    # b w - A log w + l2 w^2 / 2 with A = x * pull, b = weight_sum + l1.
    A, b = x * pull, weight_sum + l1
    if l2 > 0:
        mm = 2.0 * A / (b + xp.sqrt(b * b + 4.0 * l2 * A))
    else:
        mm = xp.where(b > 0, A / xp.where(b > 0, b, 1.0), x)
    return xp.where(bound <= 0, newton, mm)


def _segment_max(values, starts, size):
    """Maximum of ``values`` over each segment ``[starts[i], starts[i + 1])``; 0 for an empty segment."""
    import numpy as np

    out = np.zeros(size, dtype=values.dtype)
    filled = np.diff(starts) > 0
    if filled.any():
        out[filled] = np.maximum.reduceat(values, starts[:-1][filled])
    return out


def _sweep_sparse(data, X, G, WH, l1: float, l2: float, newton_steps: int, side: str):
    """:func:`_sweep` for a sparse ``V`` (:class:`nmflab.data.Sparse`): ``WH`` lives at the stored entries
    (``nnz`` values, CSR order).

    Zeros of ``V`` enter the objective only through ``sum(WH)``, so the
    gradient's constant part is a column (row) sum of the other factor and
    every other sum runs over the stored entries: ``O(nnz)`` work per
    coordinate sweep, never an ``n x p`` array. The segments are the CSR rows
    for W and the columns, through a fixed permutation to CSC order, for H.
    """
    import numpy as np

    (rows, cols), starts, (by_column, column_starts) = data.pattern, data.matrix.indptr, data.column_order
    values = data.matrix.data
    X = X.copy()
    rank = X.shape[1] if side == "W" else X.shape[0]
    size = X.shape[0] if side == "W" else X.shape[1]
    own, other = (rows, cols) if side == "W" else (cols, rows)
    compiled = _kernels.available()
    if compiled:
        WH = np.array(WH)  # the sweep's own copy: the compiled corrections write into it
    for k in range(rank):
        g = G[k, :] if side == "W" else G[:, k]
        g_at = None if compiled else g[other]
        weight_sum = np.full(size, g.sum())
        for _ in range(newton_steps):
            x = X[:, k] if side == "W" else X[k, :]
            if compiled:
                pull, curvature, z_scale = (_kernels.newton_sums_stored(values, WH, other, g, starts) if side == "W"
                                            else _kernels.newton_sums_stored(values, WH, other, g, column_starts,
                                                                             by_column))
            else:
                safe = np.where(WH > 0, WH, 1.0)
                ratio = values / safe
                pull = np.bincount(own, weights=ratio * g_at, minlength=size)
                curvature = np.bincount(own, weights=ratio / safe * g_at * g_at, minlength=size)
                spread = g_at / safe
                z_scale = (_segment_max(spread, starts, size) if side == "W"
                           else _segment_max(spread[by_column], column_starts, size))
            x_new = _safeguarded_step(np, x, weight_sum - pull + l1 + l2 * x, curvature, z_scale, pull, weight_sum,
                                      l1, l2)
            WH = _kernels.add_stored(WH, own, other, x_new - x, g) if compiled else WH + (x_new - x)[own] * g_at
            if side == "W":
                X[:, k] = x_new
            else:
                X[k, :] = x_new
    return X, WH


def _storage_paths(xp, data):
    """``(product, sweep)`` for this storage of ``V``: the one place where the rule asks how ``V`` is stored.

    On a sparse ``V`` the sweep runs over the stored entries and ``W H`` lives
    there; on every dense storage (blocked ones included: the sweep keeps
    ``W H`` current entry by entry, so it holds it whole) it runs over ``V``.
    """
    if data.kind == "sparse":
        return data.fitted, lambda X, G, WH, *options: _sweep_sparse(data, X, G, WH, *options)

    def dense_sweep(X, G, WH, l1, l2, newton_steps, side):
        return _sweep(xp, data.V, X, G, WH, data.weights, l1, l2, newton_steps, side)

    return (lambda W, H: W @ H), dense_sweep


@register
@dataclass(frozen=True)
class CoordinateDescentKL(Rule):
    """Safeguarded Newton coordinate descent for the generalized KL divergence, H first, then W.

    Parameters
    ----------
    newton_steps : int
        Newton steps per column per iteration (Hsieh & Dhillon use a few;
        one is usually best per unit of time).
    penalty : Penalty
        L1/L2 penalties on W and H.
    update_h, update_w : bool
    """

    newton_steps: int = 1
    penalty: Penalty = field(default_factory=Penalty)
    update_h: bool = True
    update_w: bool = True

    method: ClassVar[str] = "cd"
    loss: ClassVar[str] = "kl"
    beta: ClassVar[float] = 1.0
    summary: ClassVar[str] = "coordinate descent: safeguarded Newton steps, a column at a time"
    supports_sparse: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = True
    supports_penalty: ClassVar[bool] = True

    @classmethod
    def auto_score(cls, *, rank, sparse, backend="numpy"):
        """Chosen by ``"auto"`` on dense data up to :data:`MAX_AUTO_RANK`, or :data:`MAX_AUTO_RANK_COMPILED` where
        the NumPy backend runs the compiled sweeps (multiplicative updates above)."""
        limit = MAX_AUTO_RANK_COMPILED if backend == "numpy" and _kernels.available() else MAX_AUTO_RANK
        return None if sparse or (rank is not None and rank > limit) else 3

    def product(self, xp, data, W, H):
        """``W H`` as the sweeps keep it: whole on dense storage, at the stored entries of a sparse ``V``."""
        return _storage_paths(xp, data)[0](W, H)

    def step_h(self, xp, data, W, H, WH):
        """A sweep over the rows of H: ``(H, W H)`` after it (the block step :mod:`.extrapolation` takes)."""
        return _storage_paths(xp, data)[1](H, W, WH, self.penalty.l1_H, self.penalty.l2_H, self.newton_steps, "H")

    def step_w(self, xp, data, W, H, WH):
        """A sweep over the columns of W: ``(W, W H)`` after it."""
        return _storage_paths(xp, data)[1](W, H, WH, self.penalty.l1_W, self.penalty.l2_W, self.newton_steps, "W")

    def init(self, xp, data, W, H, consts):
        return ProductState(self.product(xp, data, W, H))

    def update(self, xp, data, W, H, state, consts):
        WH = state.WH
        if self.update_h:
            H, WH = self.step_h(xp, data, W, H, WH)
        if self.update_w:
            W, WH = self.step_w(xp, data, W, H, WH)
        # Recompute WH once per iteration so rank-one corrections do not accumulate rounding.
        return W, H, ProductState(self.product(xp, data, W, H))

    def objective(self, xp, data, W, H, state, consts):
        return data.divergence(1.0, W, H, state.WH) + self.penalty.value(xp, W, H)
