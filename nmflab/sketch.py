"""Randomized range finding: the sketch ``V ≈ Q B`` that sketched fits (``nmf(sketch=...)``) iterate on.

:func:`range_finder` is randomized subspace iteration (Halko, Martinsson &
Tropp 2011, Alg. 4.4): ``Q`` spans ``(V V^T)^q V Omega`` for a Gaussian
``Omega`` of ``l`` columns, re-orthonormalized after every product so that
the small singular values are not lost to rounding. With ``l = r +
oversampling`` the error ``||V - Q Q^T V||`` is close to that of the best
rank-``l`` approximation, and each power iteration sharpens it where the
spectrum decays slowly. :func:`sketch` adds ``B = Q^T V``; a fit then works
on ``Q B`` (:class:`nmflab.data.compressed.Compressed`), and
:class:`SketchReport` says what the compression cost.

The defaults (20 extra columns, 2 power iterations) are those Erichson et
al. (2018) recommend for randomized HALS; Halko et al. (sec. 4.5) show that
``q = 1`` or ``2`` already brings the error near the optimum for spectra
of the kind real data have.

References
----------
N. Halko, P.-G. Martinsson and J. A. Tropp, "Finding structure with
randomness: probabilistic algorithms for constructing approximate matrix
decompositions", SIAM Review 53 (2011) 217–288.
N. B. Erichson, A. Mendible, S. Wihlborn and J. N. Kutz, "Randomized
nonnegative matrix factorization", Pattern Recognition Letters 104 (2018)
1–7.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import validation as val
from .data.compressed import QB

__all__ = ["Sketch", "SketchReport", "range_finder", "sketch", "as_sketch"]


@dataclass(frozen=True)
class Sketch:
    """How to sketch ``V`` for a fit: ``nmf(V, r, sketch=Sketch(...))`` (``sketch=True`` takes the defaults).

    Parameters
    ----------
    size : int, optional
        Columns ``l`` of ``Q``. Default ``rank + oversampling``. At least the
        rank; capped at ``min(n, p)``, where ``Q B`` is ``V`` itself.
    oversampling : int
        Columns beyond the rank when ``size`` is not given.
    power_iterations : int
        Products with ``V V^T`` that sharpen the range (``q``).
    """

    size: int | None = None
    oversampling: int = 20
    power_iterations: int = 2

    def __post_init__(self):
        if self.size is not None:
            val.check_positive_int(self.size, "sketch size")
        val.check_positive_int(self.oversampling, "sketch oversampling", minimum=0)
        val.check_positive_int(self.power_iterations, "sketch power_iterations", minimum=0)

    def columns(self, rank: int, shape: tuple[int, int]) -> int:
        """``l`` for a fit of this rank on data of this shape."""
        size = rank + self.oversampling if self.size is None else self.size
        if size < rank:
            raise ValueError(f"sketch size {size} is below the rank {rank}: Q B would have rank < {rank}")
        return min(size, *shape)


@dataclass(frozen=True)
class SketchReport:
    """What a sketched fit reports about its sketch (``Result.sketch``).

    Attributes
    ----------
    size, power_iterations : int
        The sketch that was made.
    residual : float
        ``||V - Q B||_F / ||V||_F``, the part of the data the sketch lost
        (from ``||V||^2 - ||B||^2``, so resolved down to about ``1e-8``).
    compressed_objective : float
        The objective of the returned factors on ``Q B``, the problem the
        iterations solved (the trace records it); ``Result.final_objective``
        is the same factors' objective on ``V``.
    """

    size: int
    power_iterations: int
    residual: float
    compressed_objective: float = math.nan


def as_sketch(value) -> Sketch | None:
    """The :class:`Sketch` of ``nmf``'s ``sketch=``: None/False (none), True (defaults), an int (the size), a Sketch."""
    if value is None or value is False:
        return None
    if value is True:
        return Sketch()
    if isinstance(value, Sketch):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return Sketch(size=int(value))
    raise TypeError(f"sketch must be True, a size (int) or an nmflab.Sketch, got {value!r}")


def _orthonormal(Y):
    Q, _ = np.linalg.qr(Y)
    return Q


def range_finder(V, size: int, power_iterations: int, rng: np.random.Generator) -> np.ndarray:
    """``Q``, ``n x size`` with orthonormal columns spanning about the leading range of ``V`` (dense or sparse).

    Halko et al. (2011), Alg. 4.4: ``Y = V Omega``, then ``q`` times ``Q =
    orth(Y)``, ``Z = orth(V^T Q)``, ``Y = V Z``; finally ``Q = orth(Y)``.
    """
    Y = V @ rng.standard_normal((V.shape[1], size)).astype(V.dtype, copy=False)
    for _ in range(power_iterations):
        Y = V @ _orthonormal(V.T @ _orthonormal(Y))
    return _orthonormal(np.asarray(Y))


def sketch(V, size: int, power_iterations: int, rng: np.random.Generator) -> tuple[QB, float]:
    """The sketch ``Q B`` of ``V`` (``B = Q^T V``) and its relative residual ``||V - Q B|| / ||V||``."""
    Q = range_finder(V, size, power_iterations, rng)
    B = np.ascontiguousarray(np.asarray(V.T @ Q).T)  # Q^T V, as a product with V^T (one pass, sparse or dense)
    if hasattr(V, "tocsr"):
        values = V.data
        largest = float(values.max()) if values.size else 0.0
    else:
        values = V
        largest = float(V.max())
    norm_sq = float(np.vdot(values, values))
    lost = max(norm_sq - float(np.vdot(B, B)), 0.0)
    residual = math.sqrt(lost / norm_sq) if norm_sq > 0 else 0.0
    return QB(Q=Q, B=B, largest=V.dtype.type(largest)), residual
