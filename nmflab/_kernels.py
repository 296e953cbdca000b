"""Compiled primitives of the NumPy backend (numba), each with the pure NumPy form it must equal.

Only where a benchmark showed that NumPy's one-pass-per-operation
evaluation is what an iteration waits on (benchmarks/NOTES.md): a compiled
primitive fuses the passes into one over each row, in cache. The math stays
in the rule: only its NumPy path (KL coordinate descent's sweep, which owns
the arrays it writes) calls these, and falls back to the pure form when
numba is not installed or ``NMFLAB_COMPILED=0`` is set; the tests check that
both give the same iterates to rounding.

- :func:`newton_sums`: the three sums of a KL coordinate-descent step
  (:func:`nmflab.rules.kl_cd._newton_sums_numpy`), about ten passes over
  ``n x p`` arrays in NumPy, one here.
- :func:`add_outer`: ``WH + d g^T`` (or ``g d^T``), written into ``WH``.
- :func:`newton_sums_stored`, :func:`add_stored`: the same over the stored
  entries of a sparse ``V`` (NumPy: two ``bincount`` and a segment maximum
  over ``nnz``-long temporaries per coordinate).
- :func:`hals_sweeps`: HALS's inner sweeps over one factor
  (:func:`nmflab.rules.hals._rows`): NumPy pays a Python-level step per
  component and sweep, which on small data (ALL/AML at rank 3: up to
  hundreds of sweeps of three rows) is most of an iteration.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from types import SimpleNamespace

import numpy as np

__all__ = ["installed", "available", "newton_sums", "add_outer", "newton_sums_stored", "add_stored", "hals_sweeps"]

#: Reassociation (and contraction, reciprocals) only: the sums may be vectorized in any order, as BLAS's are;
#: NaN and infinity keep their meaning.
_FAST = {"reassoc", "contract", "arcp"}


def installed() -> bool:
    """Whether numba can be imported (``pip install 'nmflab[fast]'``), without importing it."""
    return importlib.util.find_spec("numba") is not None


def available() -> bool:
    """Whether the compiled primitives run: numba installed and ``NMFLAB_COMPILED`` not ``0``.

    numba is imported here, at the first call (a KL fit that asks), not with nmflab.
    """
    return os.environ.get("NMFLAB_COMPILED", "1") != "0" and _compiled() is not None


@functools.cache
def _compiled():
    """The kernels (numba, compiled at their first call and cached on disk), or None without numba."""
    if not installed():
        return None
    import numba

    @numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
    def terms(v, wh, m, counted, g):  # pragma: no cover - compiled
        """One entry's parts of the three sums: ``m v g / wh``, ``m v g^2 / wh^2`` and ``g / wh`` where counted."""
        inv = 1.0 / wh if wh > 0 else 1.0
        ratio = v * inv * m
        return ratio * g, ratio * inv * (g * g), inv * g if counted else 0.0

    @numba.njit(cache=True, nogil=True, fastmath=_FAST)
    def sums_rows(V, WH, M, weighted, g):  # pragma: no cover - compiled
        n, p = V.shape
        pull = np.zeros(n, dtype=WH.dtype)
        curvature = np.zeros(n, dtype=WH.dtype)
        spread = np.zeros(n, dtype=WH.dtype)
        for i in range(n):
            a = 0.0
            b = 0.0
            z = 0.0
            for j in range(p):
                m = M[i, j] if weighted else 1.0
                da, db, dz = terms(V[i, j], WH[i, j], m, V[i, j] > 0 and m > 0, g[j])
                a += da
                b += db
                z = max(z, dz)
            pull[i] = a
            curvature[i] = b
            spread[i] = z
        return pull, curvature, spread

    @numba.njit(cache=True, nogil=True, fastmath=_FAST)
    def sums_columns(V, WH, M, weighted, g):  # pragma: no cover - compiled
        n, p = V.shape
        pull = np.zeros(p, dtype=WH.dtype)
        curvature = np.zeros(p, dtype=WH.dtype)
        spread = np.zeros(p, dtype=WH.dtype)
        for i in range(n):
            for j in range(p):
                m = M[i, j] if weighted else 1.0
                da, db, dz = terms(V[i, j], WH[i, j], m, V[i, j] > 0 and m > 0, g[i])
                pull[j] += da
                curvature[j] += db
                spread[j] = max(spread[j], dz)
        return pull, curvature, spread

    @numba.njit(cache=True, nogil=True)
    def add_outer(WH, rows, cols):  # pragma: no cover - compiled
        n, p = WH.shape
        for i in range(n):
            r = rows[i]
            if r != 0.0:
                for j in range(p):
                    WH[i, j] += r * cols[j]

    @numba.njit(cache=True, nogil=True, fastmath=_FAST)
    def sums_stored(values, WH, other, g, order, starts, ordered):  # pragma: no cover - compiled
        m = len(starts) - 1
        pull = np.zeros(m, dtype=WH.dtype)
        curvature = np.zeros(m, dtype=WH.dtype)
        spread = np.zeros(m, dtype=WH.dtype)
        for s in range(m):
            a = 0.0
            b = 0.0
            z = 0.0
            for t in range(starts[s], starts[s + 1]):
                e = order[t] if ordered else t
                da, db, dz = terms(values[e], WH[e], 1.0, True, g[other[e]])  # stored values are positive
                a += da
                b += db
                z = max(z, dz)
            pull[s] = a
            curvature[s] = b
            spread[s] = z
        return pull, curvature, spread

    @numba.njit(cache=True, nogil=True)
    def add_stored(WH, own, other, d, g):  # pragma: no cover - compiled
        for e in range(len(WH)):
            WH[e] += d[own[e]] * g[other[e]]

    @numba.njit(cache=True, nogil=True, fastmath=_FAST)
    def hals_rows(X, A, B, l1, l2, tiny, max_sweeps, delta):  # pragma: no cover - compiled
        r, m = X.shape
        out = X.copy()
        row = np.empty(m, dtype=X.dtype)
        first = 0.0
        sweeps = 0
        while True:
            change = 0.0
            for k in range(r):
                denominator = B[k, k] + l2
                if denominator >= tiny:
                    row[:] = A[k]
                    for other in range(r):
                        if other != k:
                            c = B[k, other]
                            for j in range(m):
                                row[j] -= c * out[other, j]
                    scale = 1.0 / denominator
                    for j in range(m):
                        value = (row[j] - l1) * scale
                        if value < 0.0:
                            value = 0.0
                        step = value - out[k, j]
                        change += step * step
                        out[k, j] = value
                elif l1 != 0.0:  # a dead row pays only the penalty: 0
                    for j in range(m):
                        change += out[k, j] * out[k, j]
                        out[k, j] = 0.0
            change = np.sqrt(change)
            sweeps += 1
            if sweeps == 1:
                first = change
            if sweeps >= max_sweeps or not change > delta * first:
                return out

    return SimpleNamespace(sums_rows=sums_rows, sums_columns=sums_columns, add_outer=add_outer,
                           sums_stored=sums_stored, add_stored=add_stored, hals_rows=hals_rows)


def newton_sums_stored(values, WH, other, g, starts, order=None):
    """The three sums of :func:`newton_sums` for a sparse ``V``, over its stored entries (``WH`` there too).

    The entries of segment ``s`` (a row of W's side, a column of H's) are
    ``order[starts[s]:starts[s + 1]]`` (the entries themselves where
    ``order`` is None, CSR rows); ``other[e]`` indexes ``g`` for entry ``e``.
    The values of :func:`nmflab.rules.kl_cd._sweep_sparse`'s sums, summed in another order.
    """
    ordered = order is not None
    order = order if ordered else starts  # a placeholder of the right type, never read
    return _compiled().sums_stored(values, WH, other, np.ascontiguousarray(g, dtype=WH.dtype), order, starts,
                                   ordered)


def add_stored(WH, own, other, d, g):
    """``WH[e] += d[own[e]] g[other[e]]`` for every stored entry ``e``, in ``WH`` (the caller's own array)."""
    _compiled().add_stored(WH, own, other, np.ascontiguousarray(d, dtype=WH.dtype),
                           np.ascontiguousarray(g, dtype=WH.dtype))
    return WH


def newton_sums(V, WH, M, g, side: str):
    """``sum M V g / WH``, ``sum M V g^2 / WH^2`` and ``max g / WH`` over the entries with ``V > 0`` (and ``M > 0``),
    per row (``side="W"``, sums over columns) or per column (``side="H"``), ``WH <= 0`` taken as 1.

    The values of :func:`nmflab.rules.kl_cd._newton_sums_numpy`, summed in another order.
    """
    weighted = M is not None
    M = M if weighted else V  # a placeholder of the right type, never read
    kernels = _compiled()
    kernel = kernels.sums_rows if side == "W" else kernels.sums_columns
    return kernel(V, WH, M, weighted, np.ascontiguousarray(g, dtype=WH.dtype))


def add_outer(WH, d, g, side: str):
    """``WH + d g^T`` (``side="W"``: ``d`` per row) or ``WH + g d^T`` (``side="H"``: ``d`` per column), in ``WH``.

    ``WH`` must be the caller's own array (it is written).
    """
    rows, cols = (d, g) if side == "W" else (g, d)
    _compiled().add_outer(WH, np.ascontiguousarray(rows, dtype=WH.dtype), np.ascontiguousarray(cols, dtype=WH.dtype))
    return WH


def hals_sweeps(X, A, B, l1: float, l2: float, max_sweeps: int, delta: float):
    """HALS's inner sweeps over the rows of ``X`` (``r x m``) for ``A = G Y``, ``B = G G^T``, as
    :func:`nmflab.rules.hals._rows` makes them.

    Row ``k`` of a sweep becomes ``max(0, (A_k - sum_{l != k} B_kl X_l - l1) / (B_kk + l2))``
    with the rows before it already updated (Gauss–Seidel); a dead row
    (``B_kk + l2`` below the smallest normal number) is kept, or set to 0
    under an L1 penalty; sweeps stop after ``max_sweeps`` or once one moves
    ``X`` by at most ``delta`` times the first did. The values of the NumPy
    sweeps, summed in another order; ``X`` is not written.
    """
    dtype = X.dtype
    return _compiled().hals_rows(np.ascontiguousarray(X), np.ascontiguousarray(A, dtype=dtype),
                                 np.ascontiguousarray(B, dtype=dtype), dtype.type(l1), dtype.type(l2),
                                 dtype.type(np.finfo(dtype).tiny), int(max_sweeps), float(delta))
