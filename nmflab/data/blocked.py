"""A large dense ``V`` on NumPy whose products with a function of ``WH`` are formed a block of rows at a time.

A KL multiplicative update needs ``W^T (V / WH)`` and ``(V / WH) H^T``.
Written out, ``WH`` and the ratio are ``n x p`` arrays: each update writes
and reads them from memory several times, where the products themselves are
GEMMs that run near the arithmetic peak. Formed for a block of rows at a
time, the block of ``WH`` and of the ratio stays in cache between its two
GEMMs, and ``V`` is the only ``n x p`` array read. The same for the
objective and for the beta-divergence's ``V WH^(beta-2)`` and
``WH^(beta-1)``. The threshold and block size were measured
(benchmarks/NOTES.md).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .. import losses
from .dense import Dense
from .rows import row_blocks

__all__ = ["Blocked", "MIN_ENTRIES"]

#: Entries of ``V`` from which a dense NumPy ``V`` is stored as :class:`Blocked`.
MIN_ENTRIES = 2**24


class Blocked(Dense):
    """A dense NumPy ``V`` that never forms ``W H`` whole: :meth:`fitted` is None, products go by blocks of rows.

    The products and losses have the values of the written-out form (the
    same GEMMs on the same rows; the ``W^T`` products sum their blocks in
    turn, so they agree to rounding).
    """

    kind: ClassVar[str] = "blocked"

    def fitted(self, W, H):
        return None

    def _blocks(self):
        return row_blocks(*self.shape)

    def _cut(self, rows):
        return None if self.weights is None else self.weights[rows]

    def products(self, W, H, WH, side: str, stored=(), everywhere=()) -> tuple:
        V, M = self.V, self.weights

        def parts(rows):
            WH_b = W[rows] @ H
            block = [f(V[rows], WH_b) for f in stored] + [h(WH_b) for h in everywhere]
            if M is not None:
                block = [F * M[rows] for F in block]  # not in place: a part may be a view of V or WH
            return block

        if side == "H":
            out = None
            for rows in self._blocks():
                block = [W[rows].T @ F for F in parts(rows)]
                if out is None:
                    out = block  # fresh arrays: the sums accumulate in them
                else:
                    for o, b in zip(out, block):
                        o += b
            return tuple(out)
        Ht = np.ascontiguousarray(H.T)
        n = self.shape[0]
        out = None
        for rows in self._blocks():
            block = parts(rows)
            if out is None:
                out = [np.empty((n, H.shape[0]), dtype=np.result_type(V, W, H)) for _ in block]
            for o, F in zip(out, block):
                o[rows] = F @ Ht
        return tuple(out)

    def divergence(self, beta: float, W, H, WH):
        V, M = self.V, self.weights
        return float(sum(losses.beta_divergence(np, V[rows], W[rows] @ H, beta, None if M is None else M[rows])
                         for rows in self._blocks()))
