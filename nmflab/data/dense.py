"""``V`` as a dense array of any array library (NumPy, JAX; a pytree that passes through ``jax.jit`` and ``vmap``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .. import _xp, losses, parallel
from . import rows as _rows
from ._base import Data

__all__ = ["Dense", "FUSED_RANK", "IDENTITY_TARGET"]

#: Largest rank for which JAX forms ``W @ H`` as a sum of outer products (fused into its consumer).
FUSED_RANK = 8
#: Relative accuracy the Frobenius trace identity must reach to be used (else the residual is formed).
IDENTITY_TARGET = 1e-9


@dataclass(frozen=True)
class Dense(Data):
    """``V`` held as one dense array of the namespace ``xp``.

    Build it with :meth:`build`, which computes what the data alone decide
    (``||V||^2``, the weighted values ``M V``) once per fit; on JAX that
    happens inside the compiled start, and the object is then an argument of
    the compiled loop (the JAX driver registers the class as a pytree whose
    leaves are the arrays below and whose static part is ``xp``).

    Attributes
    ----------
    V : array, shape (n, p)
    weights : array or None
        Entry weights ``M`` (a mask: 1 counted, 0 not), the shape of ``V``.
    weighted_V : array or None
        ``M V``, for the products with ``V`` of a weighted fit.
    norm_sq : scalar array or None
        ``||V||^2`` of an unweighted fit (the Frobenius trace identity).
    xp : module
        The array namespace.
    """

    V: Any
    weights: Any = None
    weighted_V: Any = None
    norm_sq: Any = None
    xp: Any = field(default=np, metadata={"static": True})

    kind: ClassVar[str] = "dense"

    @classmethod
    def build(cls, xp, V, weights=None):
        """The data object of a fit, with the constants of the data computed once."""
        if weights is None:
            return cls(V=V, norm_sq=xp.vdot(V, V), xp=xp)  # a BLAS dot, no n x p temporary
        return cls(V=V, weights=weights, weighted_V=weights * V, xp=xp)

    @property
    def shape(self):
        return tuple(self.V.shape[-2:])

    @property
    def dtype(self):
        return self.V.dtype

    @property
    def entries(self) -> int:
        n, p = self.shape
        return n * p

    def largest(self):
        return self.xp.max(self.V)

    @property
    def _values(self):
        """``M V`` (``V`` without weights)."""
        return self.V if self.weights is None else self.weighted_V

    def _left(self, W, F):
        """``W^T F``; on JAX with ``W^T`` written out first.

        ``lax.optimization_barrier`` keeps XLA from folding the transpose
        back into the product: XLA:CPU contracts a column-major ``W^T`` with
        ``F`` at half the speed (benchmarks/NOTES.md).
        """
        xp = self.xp
        if _xp.is_jax(xp):
            from jax import lax

            return lax.optimization_barrier(xp.matrix_transpose(W)) @ F
        return xp.matrix_transpose(W) @ F

    def left(self, W):
        return self._left(W, self._values)

    def right(self, H):
        X = self._values
        if _xp.is_numpy(self.xp) and X.ndim == 2 and H.ndim == 2:
            return (H @ X.T).T  # the same product; OpenBLAS runs it faster for a thin H^T (benchmarks/NOTES.md)
        return X @ self.xp.matrix_transpose(H)

    def fuses(self, W) -> bool:
        """True where :meth:`fitted` leaves ``W H`` to its consumers: on JAX up to :data:`FUSED_RANK`.

        Written as a sum of ``r`` outer products the product is elementwise,
        so XLA fuses it into whatever consumes it (``V / WH``) and never
        writes the ``n x p`` matrix; a matrix product cannot be fused and
        costs a write and a read of ``n x p`` entries, the dominant memory
        traffic of a KL update at small rank.
        """
        return _xp.is_jax(self.xp) and W.shape[-1] <= FUSED_RANK

    def product(self, W, H):
        """``W @ H``, as a sum of outer products where :meth:`fuses`."""
        if not self.fuses(W):
            return W @ H
        acc = W[..., :, 0:1] * H[..., 0:1, :]
        for k in range(1, W.shape[-1]):
            acc = acc + W[..., :, k:k + 1] * H[..., k:k + 1, :]
        return acc

    def fitted(self, W, H):
        return None if self.fuses(W) else W @ H

    def products(self, W, H, WH, side: str, stored=(), everywhere=()) -> tuple:
        if WH is None:
            WH = self.product(W, H)
        M = self.weights
        if self._threads(WH):
            arrays = (self.V, WH) if M is None else (self.V, WH, M)
            parts = [_rows.elementwise_by_rows(_part(f, M is not None, True), *arrays) for f in stored]
            parts += [_rows.elementwise_by_rows(_part(h, M is not None, False), *arrays) for h in everywhere]
        else:
            parts = [f(self.V, WH) for f in stored] + [h(WH) for h in everywhere]
            if M is not None:
                parts = [F * M for F in parts]
        if side == "H":
            return tuple(self._left(W, F) for F in parts)
        Ht = self.xp.matrix_transpose(H)
        return tuple(F @ Ht for F in parts)

    def _threads(self, WH) -> bool:
        """Whether the elementwise passes go by blocks of rows on threads (:func:`elementwise_by_rows`): 2-d NumPy."""
        return (_xp.is_numpy(self.xp) and self.V.ndim == 2 and WH.ndim == 2
                and self.V.size >= _rows.THREADED_ENTRIES and parallel.pool_threads() > 1)

    def divergence(self, beta: float, W, H, WH):
        WH = self.product(W, H) if WH is None else WH
        if not self._threads(WH):
            return losses.beta_divergence(self.xp, self.V, WH, beta, self.weights)
        return _divergence_by_rows(self.V, WH, beta, self.weights)

    def frobenius(self, W, H, VHt, HHt):
        """The trace identity where it is accurate, else the residual itself.

        The identity's absolute error is about ``4 eps ||V||^2``: below
        ``4 eps / IDENTITY_TARGET * ||V||^2`` its relative error would
        exceed :data:`IDENTITY_TARGET`, and the ``n x p`` residual is formed.
        """
        xp = self.xp
        identity = losses.frobenius_from_products(xp, self.norm_sq, W, VHt, HHt)
        floor = losses.identity_rounding(xp, self.norm_sq, self.dtype) / IDENTITY_TARGET
        return _xp.cond(xp, identity > floor, lambda: identity, lambda: self.divergence(2.0, W, H, None))

    def residual(self, W, H):
        return self.V - W @ H

    def kkt_residual(self, beta: float, W, H, penalty=None):
        return losses.kkt_residual(self.xp, beta, self.V, W, H, self.weights, penalty)


def _part(f, weighted: bool, of_V: bool):
    """A part of :meth:`Dense.products` as a function of ``(V, WH[, M])``: ``f(V, WH)`` or ``f(WH)``, times ``M``."""
    if of_V:
        return (lambda V, WH, M: f(V, WH) * M) if weighted else f
    return (lambda V, WH, M: f(WH) * M) if weighted else (lambda V, WH: f(WH))


def _divergence_by_rows(V, WH, beta: float, weights):
    """:func:`nmflab.losses.beta_divergence` of 2-d NumPy arrays, a block of rows per thread, the blocks' sums added."""
    def part(rows):
        return losses.beta_divergence(np, V[rows], WH[rows], beta, None if weights is None else weights[rows])

    return np.sum(list(parallel.thread_pool().map(part, _rows.row_blocks(*V.shape))))
