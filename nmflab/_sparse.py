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


def at_nonzeros(pattern_, W, H):
    """``(W @ H)[i, j]`` for the stored entries ``(i, j)``, in storage order."""
    rows, cols = pattern_
    return np.einsum("ij,ji->i", W[rows], H[:, cols], optimize=False)


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
