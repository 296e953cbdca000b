"""``V`` replaced by a low-rank sketch ``Q B`` (a randomized range finder's output), for sketched Frobenius fits.

``Q`` is ``n x l`` with orthonormal columns and ``B = Q^T V`` is ``l x p``
(:func:`nmflab.sketch.range_finder`). A Frobenius rule asks its data for
``W^T V`` and ``V H^T``; here they are ``(W^T Q) B`` and ``Q (B H^T)``,
``O((n + p) l r)`` work in place of ``O(n p r)``, and the rule, unchanged,
minimizes ``0.5 ||Q B - W H||^2`` over non-negative ``W`` (``n x r``) and ``H``:
the compressed problem, whose factors are those of the full one (no
projection step is needed, ``W`` never leaves the orthant). Erichson et
al. (2018) run HALS on ``B`` with ``W`` kept as ``Q^T W`` and project
``Q (Q^T W)`` onto the orthant after each column; the form here descends
on one well-defined objective at the price of ``O(n r^2)`` sweeps of ``W``
(which the accelerated HALS amortizes anyway).

References
----------
N. B. Erichson, A. Mendible, S. Wihlborn and J. N. Kutz, "Randomized
nonnegative matrix factorization", Pattern Recognition Letters 104 (2018)
1–7.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ._base import Data
from .dense import Dense

__all__ = ["QB", "Compressed"]


class QB(NamedTuple):
    """A sketch ``V ≈ Q B`` with the largest entry of ``V`` (what :func:`nmflab.sketch.range_finder` returns).

    A NamedTuple, hence a pytree: the JAX driver moves its arrays to the
    device as they are.
    """

    Q: Any
    B: Any
    largest: Any

    @property
    def shape(self) -> tuple[int, int]:
        return (self.Q.shape[-2], self.B.shape[-1])

    @property
    def dtype(self):
        return self.B.dtype


@dataclass(frozen=True)
class Compressed(Data):
    """``V`` as its sketch ``Q B``: the products of a Frobenius fit in ``O((n + p) l r)``.

    Attributes
    ----------
    Q : array, shape (n, l)
        Orthonormal columns spanning (about) the range of ``V``.
    B : array, shape (l, p)
        ``Q^T V``.
    norm_sq : scalar array
        ``||B||^2 = ||Q B||^2`` (the trace identity's constant).
    vmax : scalar array
        The largest entry of ``V`` itself (the scale of the data, for rules
        that read it).
    xp : module
        The array namespace.
    """

    Q: Any
    B: Any
    norm_sq: Any = None
    vmax: Any = None
    xp: Any = field(default=np, metadata={"static": True})

    kind: ClassVar[str] = "compressed"

    @classmethod
    def build(cls, xp, V: QB, weights=None):
        if weights is not None:
            raise ValueError("a sketched V has no entries to weight: fit a masked V without sketch=")
        return cls(Q=V.Q, B=V.B, norm_sq=xp.vdot(V.B, V.B), vmax=V.largest, xp=xp)

    @property
    def shape(self):
        return (self.Q.shape[-2], self.B.shape[-1])

    @property
    def dtype(self):
        return self.B.dtype

    @property
    def size(self) -> int:
        """``l``, the sketch's number of columns."""
        return self.Q.shape[-1]

    @property
    def entries(self) -> int:
        """What a product costs per component: ``(n + p) l`` (through ``Q`` and ``B`` in turn)."""
        n, p = self.shape
        return (n + p) * self.size

    def largest(self):
        return self.vmax

    def left(self, W):
        return (self.xp.matrix_transpose(W) @ self.Q) @ self.B

    def right(self, H):
        return self.Q @ (self.B @ self.xp.matrix_transpose(H))

    def fitted(self, W, H):
        return None

    def products(self, W, H, WH, side: str, stored=(), everywhere=()) -> tuple:
        raise ValueError("a sketched V serves the Frobenius loss only: its products with V / WH have no meaning")

    def divergence(self, beta: float, W, H, WH):
        if float(beta) != 2.0:
            raise ValueError("a sketched V serves the Frobenius loss only")
        R = self.residual(W, H)
        return 0.5 * self.xp.sum(R * R)

    #: The trace identity with ``||B||^2``, or the formed residual where it would cancel: Dense's rule, which
    #: reads only ``xp``, ``norm_sq``, ``dtype`` and :meth:`divergence`.
    frobenius = Dense.frobenius

    def residual(self, W, H):
        return self.Q @ self.B - W @ H
