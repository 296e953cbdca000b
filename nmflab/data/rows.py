"""Blocks of rows: the unit in which the NumPy data layer forms what it need not form whole, and threads it.

A block of :data:`BLOCK_ENTRIES` entries of an ``n x p`` array (about one
core's L2 cache) keeps its temporaries in cache between the operations on
it; blocks are independent, so where their work releases the GIL they run
on the cores at once (:func:`nmflab.parallel.thread_pool`). The threshold
and block size were measured (benchmarks/NOTES.md).
"""

from __future__ import annotations

import numpy as np

from .. import parallel

__all__ = ["BLOCK_ENTRIES", "THREADED_ENTRIES", "row_blocks", "elementwise_by_rows"]

#: Entries of ``WH`` per block of rows (2 MiB of float64, about one core's L2 cache).
BLOCK_ENTRIES = 2**18


def row_blocks(n: int, p: int, entries: int | None = None) -> list[slice]:
    """Ranges of the ``n`` rows of an ``n x p`` array holding about ``entries`` (:data:`BLOCK_ENTRIES`) each."""
    step = max(1, (BLOCK_ENTRIES if entries is None else entries) // max(p, 1))
    return [slice(lo, min(lo + step, n)) for lo in range(0, n, step)]


#: Entries of ``V`` from which NumPy evaluates the elementwise parts of a product a block of rows per thread.
THREADED_ENTRIES = 2**20


def elementwise_by_rows(f, *arrays):
    """``f(*arrays)`` for an elementwise ``f`` of 2-d NumPy arrays of one shape, a block of rows per thread.

    NumPy runs each ufunc on one thread; the GEMMs around it run on all
    cores. A KL update's ``V / WH`` and its divergence are such passes over
    ``n x p`` arrays, and on one core they cost as much as a GEMM
    (benchmarks/NOTES.md). Blocks of :data:`BLOCK_ENTRIES`
    entries keep each block's temporaries in cache; ufuncs release the GIL,
    so the blocks run on the cores at once. Each entry is computed by the
    same operations as the whole call, so the values are the same bit for
    bit. Below :data:`THREADED_ENTRIES` entries, or on one core, ``f`` runs
    on the whole arrays.
    """
    n, p = arrays[0].shape
    if n * p < THREADED_ENTRIES or parallel.pool_threads() < 2 or n < 2:
        return f(*arrays)
    first, *rest = row_blocks(n, p)
    head = f(*(a[first] for a in arrays))
    out = np.empty((n, p), dtype=head.dtype)
    out[first] = head

    def fill(rows):
        out[rows] = f(*(a[rows] for a in arrays))

    list(parallel.thread_pool().map(fill, rest))
    return out
