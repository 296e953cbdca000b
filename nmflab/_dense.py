"""Products with a function of ``WH`` for a large dense ``V``, ``WH`` formed a block of rows at a time (NumPy).

A KL multiplicative update needs ``W^T (V / WH)`` and ``(V / WH) H^T``.
Written out, ``WH`` and the ratio are ``n x p`` arrays: each update writes
and reads them from memory several times (20000 x 5000 float64: 800 MB a
pass, ~0.1 s each here), where the products themselves are GEMMs that run
near the arithmetic peak. Formed for a block of rows at a time, the block
of ``WH`` and of the ratio stays in cache between its two GEMMs, and
``V`` is the only ``n x p`` array read. The same for the objective, and
for the beta-divergence's ``V WH^(beta-2)`` and ``WH^(beta-1)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["applies", "products", "row_blocks", "total"]

#: Entries of ``V`` from which the blocked products are used. KL MU per iteration, whole against blocked
#: (rank 40, p = 5000 rows of the synthetic set, and the faces): 5 and 15 million entries within noise
#: (100-136 vs 110-115 ms, 326-363 vs 343-370 ms), 30 million 684-736 vs 504-508 ms, 100 million
#: 2.08-2.12 vs 0.79-0.80 s; the faces (400 x 10304, rank 49, 4 million) 81-91 vs 116-134 ms.
MIN_ENTRIES = 2**24
#: Entries of ``WH`` per block of rows (2 MiB of float64, one core's L2 cache here). 20000 x 5000, rank 40,
#: KL's ``W^T (V / WH)`` alternated with the written-out form: 2**16: 1.2-1.6 s, 2**18: 1.1 s, 2**20: 1.4 s,
#: written out 2.1-2.7 s (the GEMM ``W @ H`` alone 0.26 s).
BLOCK_ENTRIES = 2**18


def applies(xp, V) -> bool:
    """True for a dense NumPy ``V`` of at least :data:`MIN_ENTRIES` entries."""
    from . import _xp

    return not _xp.is_jax(xp) and not _xp.is_sparse(V) and V.shape[-2] * V.shape[-1] >= MIN_ENTRIES


def row_blocks(n: int, p: int, entries: int | None = None) -> list[slice]:
    """Ranges of the ``n`` rows of an ``n x p`` array holding about ``entries`` (:data:`BLOCK_ENTRIES`) each."""
    step = max(1, (BLOCK_ENTRIES if entries is None else entries) // max(p, 1))
    return [slice(lo, min(lo + step, n)) for lo in range(0, n, step)]


def products(V, W, H, parts, side: str, weights=None) -> tuple:
    """``W^T F`` (``side="H"``) or ``F H^T`` (``side="W"``) for each array ``F`` of ``parts(V, WH, M)``,
    formed a block of rows at a time.

    ``parts(V_b, WH_b, M_b)`` returns the arrays for one block of rows (``M_b``
    None without weights). The values of the written-out form (the same
    GEMMs on the same rows; the ``W^T`` products sum their blocks in turn).
    """
    n, p = V.shape
    dtype = np.result_type(V, W, H)
    cut = (lambda rows: None) if weights is None else (lambda rows: weights[rows])  # noqa: E731
    if side == "H":
        out = None
        for rows in row_blocks(n, p):
            block = [W[rows].T @ F for F in parts(V[rows], W[rows] @ H, cut(rows))]
            if out is None:
                out = block  # fresh arrays: the sums accumulate in them
            else:
                for o, b in zip(out, block):
                    o += b
        return tuple(out)
    Ht = np.ascontiguousarray(H.T)
    out = None
    for rows in row_blocks(n, p):
        block = parts(V[rows], W[rows] @ H, cut(rows))
        if out is None:
            out = [np.empty((n, H.shape[0]), dtype=dtype) for _ in block]
        for o, F in zip(out, block):
            o[rows] = F @ Ht
    return tuple(out)


def total(V, W, H, summand, weights=None) -> float:
    """``sum_b summand(V_b, W_b H, M_b)`` over blocks of rows (an objective without the ``n x p`` product)."""
    return float(sum(summand(V[rows], W[rows] @ H, None if weights is None else weights[rows])
                     for rows in row_blocks(*V.shape)))
