"""Products with a scipy.sparse ``V`` that touch only its stored entries (NumPy backend).

KL updates need ``V / WH``, which is zero wherever ``V`` is: these helpers form
``WH`` at the stored entries only (``nnz x r`` work, never an ``n x p`` array).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

__all__ = ["pattern", "at_nonzeros", "with_values", "kl_divergence"]


def pattern(V):
    """Row and column index of every stored entry of a CSR ``V``."""
    rows = np.repeat(np.arange(V.shape[0]), np.diff(V.indptr))
    return rows, V.indices


#: Entries x rank gathered at once by :func:`at_nonzeros` (16 MiB of float64 per factor).
_GATHER = 2**21


def at_nonzeros(pattern_, W, H):
    """``(W @ H)[i, j]`` for the stored entries ``(i, j)``, in storage order.

    The rows of ``W`` and columns of ``H`` are gathered in blocks of
    entries, so the temporaries stay a few MiB whatever ``nnz``: gathering
    all at once would take ``2 nnz r`` numbers (1.6 GB for 5 million
    entries at rank 20, four times what scikit-learn's whole fit needs).
    """
    rows, cols = pattern_
    out = np.empty(len(rows), dtype=np.result_type(W, H))
    step = max(1, _GATHER // max(W.shape[1], 1))
    for lo in range(0, len(rows), step):
        hi = lo + step
        np.einsum("ij,ji->i", W[rows[lo:hi]], H[:, cols[lo:hi]], optimize=False, out=out[lo:hi])
    return out


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
