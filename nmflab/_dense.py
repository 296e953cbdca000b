"""KL products with a large dense ``V`` that form ``WH`` one block of rows at a time (NumPy backend).

A KL multiplicative update needs ``W^T (V / WH)`` and ``(V / WH) H^T``.
Written out, ``WH`` and the ratio are ``n x p`` arrays: each update writes
and reads them from memory several times (20000 x 5000 float64: 800 MB a
pass, ~0.1 s each here), where the products themselves are GEMMs that run
near the arithmetic peak. Formed for a block of rows at a time, the block
of ``WH`` and of the ratio stays in cache between its two GEMMs, and
``V`` is the only ``n x p`` array read. The same for the objective.
"""

from __future__ import annotations

import numpy as np

__all__ = ["applies", "ratio_product", "kl_divergence"]

#: Entries of ``V`` from which the blocked products are used: below it (a few MB) the arrays stay in cache
#: and one GEMM over all rows is faster than many smaller ones.
MIN_ENTRIES = 2**22
#: Entries of ``WH`` per block of rows (2 MiB of float64, one core's L2 cache here). 20000 x 5000, rank 40,
#: ``W^T (V / WH)`` alternated with the written-out form: 2**16: 1.2-1.6 s, 2**18: 1.1 s, 2**20: 1.4 s,
#: written out 2.1-2.7 s (the GEMM ``W @ H`` alone 0.26 s).
BLOCK_ENTRIES = 2**18


def applies(xp, V) -> bool:
    """True for a dense NumPy ``V`` of at least :data:`MIN_ENTRIES` entries."""
    from . import _xp

    return not _xp.is_jax(xp) and not _xp.is_sparse(V) and V.shape[-2] * V.shape[-1] >= MIN_ENTRIES


def _row_blocks(n: int, p: int) -> list[slice]:
    step = max(1, BLOCK_ENTRIES // max(p, 1))
    return [slice(lo, min(lo + step, n)) for lo in range(0, n, step)]


def _ratio(V, WH, eps: float, weights):
    """``M V / WH`` with the rules' guard (:func:`nmflab.rules._common.divide`, 0 where ``V / 0``)."""
    from .rules._common import divide

    ratio = divide(np, V, WH, eps, 0.0)
    return ratio if weights is None else np.multiply(ratio, weights, out=ratio)


def ratio_product(V, W, H, eps: float, side: str, weights=None):
    """``W^T (M V / WH)`` (``side="H"``) or ``(M V / WH) H^T`` (``side="W"``), a block of rows at a time.

    The values of the written-out form (the same GEMMs on the same rows;
    the ``W^T`` product sums its blocks one after another).
    """
    n, p = V.shape
    if side == "H":
        out = np.zeros((W.shape[1], p), dtype=np.result_type(V, W, H))
        for rows in _row_blocks(n, p):
            out += W[rows].T @ _ratio(V[rows], W[rows] @ H, eps, None if weights is None else weights[rows])
        return out
    Ht = np.ascontiguousarray(H.T)
    out = np.empty((n, H.shape[0]), dtype=np.result_type(V, W, H))
    for rows in _row_blocks(n, p):
        out[rows] = _ratio(V[rows], W[rows] @ H, eps, None if weights is None else weights[rows]) @ Ht
    return out


def kl_divergence(V, W, H, weights=None) -> float:
    """:func:`nmflab.losses.kl_divergence` of ``W @ H`` to ``V``, summed over blocks of rows."""
    from .losses import kl_divergence as kl

    return float(sum(kl(np, V[rows], W[rows] @ H, None if weights is None else weights[rows])
                     for rows in _row_blocks(*V.shape)))
