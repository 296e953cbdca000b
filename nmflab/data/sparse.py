"""A scipy.sparse ``V`` (CSR, NumPy backend): products that touch only its stored entries.

KL updates need ``V / WH``, which is zero wherever ``V`` is: the products
here form ``WH`` at the stored entries only (``nnz x r`` work, never an
``n x p`` array). The beta-divergence terms that live on every entry
(``WH^(beta-1)``, ``sum WH^beta``) are formed a block of rows at a time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse

from .. import losses
from ..parallel import pool_threads, thread_pool
from ._base import Data
from .rows import row_blocks

__all__ = ["Sparse", "is_sparse", "pattern", "at_nonzeros", "with_values", "times", "transposed_times",
           "kl_divergence", "beta_divergence", "power_product"]


def is_sparse(V) -> bool:
    """True for a scipy.sparse matrix or array."""
    return hasattr(V, "tocsr") and type(V).__module__.startswith("scipy.sparse")


def pattern(V):
    """Row and column index of every stored entry of a CSR ``V``."""
    rows = np.repeat(np.arange(V.shape[0]), np.diff(V.indptr))
    return rows, V.indices


#: Entries x rank gathered at once by :func:`at_nonzeros` (16 MiB of float64 per factor).
_GATHER = 2**21


def at_nonzeros(pattern_, W, H):
    """``(W @ H)[i, j]`` for the stored entries ``(i, j)``, in storage order.

    Rows of ``W`` and of ``H^T`` are gathered for a block of entries at a
    time (contiguous rows; a column of ``H`` would be a strided gather), so
    the temporaries stay a few MiB whatever ``nnz``: gathering all at once
    would take ``2 nnz r`` numbers. Blocks run on a thread per core; they
    are independent, so the result does not depend on the split.
    """
    rows, cols = pattern_
    Ht = np.ascontiguousarray(H.T)
    out = np.empty(len(rows), dtype=np.result_type(W, H))
    step = max(1, _GATHER // max(W.shape[1], 1))

    def fill(lo):
        block = np.take(W, rows[lo:lo + step], axis=0)
        block *= np.take(Ht, cols[lo:lo + step], axis=0)
        block.sum(axis=1, out=out[lo:lo + step])

    starts = range(0, len(rows), step)
    if len(starts) > 1 and pool_threads() > 1:
        list(thread_pool().map(fill, starts))
    else:
        for lo in starts:
            fill(lo)
    return out


def _row_slices(V):
    """``V`` (CSR) cut into one block of rows per thread, as views of its arrays (no copy)."""
    n, parts = V.shape[0], pool_threads()
    bounds = np.linspace(0, n, min(parts, n) + 1).astype(int)
    return [(lo, hi, scipy.sparse.csr_matrix((V.data[V.indptr[lo]:V.indptr[hi]], V.indices[V.indptr[lo]:V.indptr[hi]],
                                               V.indptr[lo:hi + 1] - V.indptr[lo]), shape=(hi - lo, V.shape[1])))
            for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def times(V, X, blocks=None):
    """``V @ X`` for a CSR ``V`` and a dense ``X``, a block of rows per thread (scipy releases the GIL).

    ``blocks``: ``V``'s :func:`_row_slices`, where the caller keeps them
    (scipy copies the slices' arrays as it makes them).
    """
    blocks = _row_slices(V) if blocks is None else blocks
    if len(blocks) == 1:
        return np.asarray(V @ X)
    out = np.empty((V.shape[0], X.shape[1]), dtype=np.result_type(V.dtype, X))

    def fill(block):
        lo, hi, rows = block
        out[lo:hi] = rows @ X

    list(thread_pool().map(fill, blocks))
    return out


def transposed_times(V, X, blocks=None):
    """``V^T @ X`` for a CSR ``V`` and a dense ``X``: per-thread blocks of rows, their products summed."""
    blocks = _row_slices(V) if blocks is None else blocks
    if len(blocks) == 1:
        return np.asarray(V.T @ X)
    parts = thread_pool().map(lambda block: np.asarray(block[2].T @ X[block[0]:block[1]]), blocks)
    return functools.reduce(np.add, parts)


def with_values(V, values):
    """A CSR matrix with the sparsity of ``V`` and the given stored values."""
    return scipy.sparse.csr_matrix((values, V.indices, V.indptr), shape=V.shape)


def kl_divergence(V, W, H, WH_nz):
    """Generalized KL of ``W H`` to a sparse ``V``: ``sum_nz V log(V / WH) - sum V + sum WH``.

    ``sum(WH)`` over all entries is ``sum(W, 0) . sum(H, 1)``; zeros of ``V``
    contribute only to it.
    """
    data = V.data
    with np.errstate(divide="ignore"):
        log_terms = data * np.log(data / WH_nz)
    return float(np.sum(log_terms) - np.sum(data) + W.sum(axis=0) @ H.sum(axis=1))


def power_product(W, H, transform, side: str):
    """``W^T f(WH)`` (``side="H"``) or ``f(WH) H^T`` (``side="W"``) over every entry, ``f = transform``.

    The beta-divergence updates need a power of ``WH`` at the zeros of a
    sparse ``V`` too; it is formed one block of rows at a time
    (:func:`nmflab.data.rows.row_blocks`), never as an ``n x p`` array.
    """
    if side == "H":
        out = np.zeros((W.shape[1], H.shape[1]), dtype=np.result_type(W, H))
        for rows in row_blocks(W.shape[0], H.shape[1]):
            out += W[rows].T @ transform(W[rows] @ H)
        return out
    out = np.empty((W.shape[0], H.shape[0]), dtype=np.result_type(W, H))
    for rows in row_blocks(W.shape[0], H.shape[1]):
        out[rows] = transform(W[rows] @ H) @ H.T
    return out


def beta_divergence(V, W, H, WH_nz, beta: float) -> float:
    """Beta-divergence (``beta > 0``, not 1) of ``W H`` to a sparse ``V``.

    ``d(V | WH) = (V^b + (b - 1) WH^b - b V WH^(b-1)) / (b (b - 1))``; at a
    zero of ``V`` it is ``WH^b / b``, so the total is the stored entries'
    ``(V^b - b V WH^(b-1)) / (b (b - 1))`` plus ``sum(WH^b) / b`` over every
    entry (formed by blocks of rows).
    """
    data = V.data
    with np.errstate(divide="ignore"):
        stored = np.sum(data**beta - beta * data * WH_nz ** (beta - 1.0)) / (beta * (beta - 1.0))
    everywhere = sum(np.sum((W[rows] @ H) ** beta) for rows in row_blocks(W.shape[0], H.shape[1]))
    return float(stored + everywhere / beta)


@dataclass(frozen=True)
class Sparse(Data):
    """``V`` as a CSR matrix; ``W H`` is carried at its stored entries only.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
    norm_sq : float
        ``||V||^2``, the sum of the squared stored values.
    """

    matrix: Any
    norm_sq: Any = None

    kind: ClassVar[str] = "sparse"
    xp: ClassVar[Any] = np
    # The products with V run on the thread pool; BLAS only forms r x r Grams and n x r updates. OpenBLAS's
    # workers spin for a while after each call and take the pool's cores (benchmarks/NOTES.md).
    blas_threads: ClassVar[int | None] = 1

    @classmethod
    def build(cls, xp, V, weights=None):
        if weights is not None:
            raise ValueError("masks are for dense input; a sparse V counts every entry, stored or zero")
        V = V.tocsr()
        return cls(matrix=V, norm_sq=np.dot(V.data, V.data))

    @property
    def shape(self):
        return self.matrix.shape

    @property
    def dtype(self):
        return self.matrix.dtype

    @property
    def entries(self) -> int:
        return int(self.matrix.nnz)

    def largest(self):
        data = self.matrix.data
        return max(float(data.max()), 0.0) if data.size else 0.0

    @functools.cached_property
    def pattern(self):
        """``(rows, cols)`` of the stored entries, in CSR order."""
        return pattern(self.matrix)

    @functools.cached_property
    def column_order(self):
        """``(order, starts)``: the permutation of the stored entries into column order, and where each column starts."""
        cols = self.matrix.indices
        order = np.argsort(cols, kind="stable")
        return order, np.searchsorted(cols[order], np.arange(self.shape[1] + 1))

    @functools.cached_property
    def row_slices(self):
        """``V`` cut into a block of rows per thread, made once: scipy copies a slice's arrays as it makes it
        (on 5 million entries, 0.02 s a product, a sixth of a HALS iteration)."""
        return _row_slices(self.matrix)

    def left(self, W):
        return transposed_times(self.matrix, W, self.row_slices).T

    def right(self, H):
        return times(self.matrix, H.T, self.row_slices)

    def fitted(self, W, H):
        return at_nonzeros(self.pattern, W, H)

    def products(self, W, H, WH, side: str, stored=(), everywhere=()) -> tuple:
        if WH is None:
            WH = self.fitted(W, H)
        V = self.matrix
        out = []
        for f in stored:
            S = with_values(V, f(V.data, WH))
            out.append(transposed_times(S, W).T if side == "H" else times(S, H.T))
        return tuple(out) + tuple(power_product(W, H, h, side) for h in everywhere)

    def divergence(self, beta: float, W, H, WH):
        if WH is None:
            WH = self.fitted(W, H)
        if beta == 1:
            return kl_divergence(self.matrix, W, H, WH)
        if beta == 2:
            # ||V||^2 - 2 <V, WH> + ||WH||^2, the last as <W^T W, H H^T>; never below 0 through rounding
            data = self.matrix.data
            return max(0.5 * float(self.norm_sq - 2.0 * (data @ WH) + np.sum((W.T @ W) * (H @ H.T))), 0.0)
        if beta <= 0:
            raise ValueError(f"the beta-divergence with beta = {beta} <= 0 is infinite at every zero of V; "
                             "a sparse V has zeros (pass the positive entries as a mask of a dense V)")
        return beta_divergence(self.matrix, W, H, WH, beta)

    def frobenius(self, W, H, VHt, HHt):
        """The trace identity, never below 0 (the residual would be an ``n x p`` array)."""
        return np.maximum(losses.frobenius_from_products(np, self.norm_sq, W, VHt, HHt), 0.0)
