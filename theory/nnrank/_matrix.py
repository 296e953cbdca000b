"""The matrix a non-negative rank question is asked about, and its certificates.

Every method of :mod:`theory.nnrank` starts from :func:`as_matrix`: a finite,
non-negative, two-dimensional array with at least one entry. Integer input
(NumPy integer arrays, float arrays whose entries are all integers, or object
arrays of :class:`fractions.Fraction`) is *exact*: its rank is computed in
rational arithmetic and its certificates are checked exactly where they can be.
Other float input is handled with a tolerance relative to its largest entry.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

__all__ = ["NonnegMatrix", "as_matrix", "Certificate", "numerical_rank", "exact_rank", "on_support"]

#: Relative tolerance for float input: singular values, residuals and zero tests.
DEFAULT_TOL = 1e-9


@dataclass(frozen=True)
class NonnegMatrix:
    """A validated non-negative matrix.

    Attributes
    ----------
    values : ndarray of float64
        The entries.
    exact : tuple of tuple of Fraction or None
        The entries as fractions when the input is exact (integers or
        fractions), else None.
    tol : float
        Absolute tolerance used for zero tests and residuals
        (``DEFAULT_TOL`` times the largest entry for float input, 0 for exact).
    """

    values: np.ndarray
    exact: tuple | None
    tol: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    @property
    def support(self) -> np.ndarray:
        """Boolean pattern of the non-zero entries (above ``tol``)."""
        return self.values > self.tol

    @property
    def entries(self) -> list[tuple[int, int]]:
        """Positions ``(i, j)`` of the non-zero entries, in C order."""
        return [(int(i), int(j)) for i, j in np.argwhere(self.support)]


def on_support(shape: tuple[int, int], entries, values) -> np.ndarray:
    """A dense matrix holding ``values`` at ``entries`` (a solver's variables) and zeros elsewhere."""
    out = np.zeros(shape)
    if entries:
        rows, cols = zip(*entries)
        out[list(rows), list(cols)] = values
    return out


def as_matrix(M, name: str = "M", *, tol: float | None = None) -> NonnegMatrix:
    """Validate ``M`` and decide whether it is exact.

    Raises
    ------
    TypeError
        For non-numeric input.
    ValueError
        For wrong dimensions, empty, non-finite or negative input.
    """
    if isinstance(M, NonnegMatrix):
        return M
    arr = np.asarray(M, dtype=object if _holds_fractions(M) else None)
    if arr.dtype == object:
        try:
            fractions = np.vectorize(Fraction, otypes=[object])(arr)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold real numbers or fractions: {exc}") from exc
        values = fractions.astype(float)
    elif arr.dtype.kind in "biuf":
        values = arr.astype(float)
        fractions = None
    else:
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}")
    if values.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got {values.ndim}-D with shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"{name} is empty: shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains non-finite entries (NaN or Inf)")
    if values.min() < 0:
        pos = tuple(int(i) for i in np.unravel_index(int(np.argmin(values)), values.shape))
        raise ValueError(
            f"{name} has negative entries (the smallest is {float(values[pos])!r} at {pos}); "
            "the non-negative rank is defined for non-negative matrices only"
        )
    if fractions is None and np.all(values == np.round(values)) and values.max() < 2.0**52:
        fractions = np.vectorize(lambda x: Fraction(int(x)), otypes=[object])(values)
    if fractions is not None:
        exact = tuple(tuple(row) for row in fractions)
        return NonnegMatrix(values, exact, 0.0)
    scale = float(values.max())
    return NonnegMatrix(values, None, (DEFAULT_TOL if tol is None else tol) * scale)


def _holds_fractions(M) -> bool:
    if isinstance(M, np.ndarray):
        return M.dtype == object
    try:
        return any(isinstance(x, Fraction) or (isinstance(x, numbers.Rational) and not isinstance(x, int))
                   for row in M for x in row)
    except TypeError:
        return False


def exact_rank(rows) -> int:
    """Rank of a matrix of fractions by Gaussian elimination over the rationals."""
    work = [list(r) for r in rows]
    rank, n_cols = 0, len(work[0]) if work else 0
    for col in range(n_cols):
        pivot = next((r for r in range(rank, len(work)) if work[r][col] != 0), None)
        if pivot is None:
            continue
        work[rank], work[pivot] = work[pivot], work[rank]
        for r in range(rank + 1, len(work)):
            if work[r][col] != 0:
                f = work[r][col] / work[rank][col]
                work[r] = [a - f * b for a, b in zip(work[r], work[rank])]
        rank += 1
    return rank


def numerical_rank(values: np.ndarray, rtol: float = DEFAULT_TOL) -> int:
    """Number of singular values above ``rtol`` times the largest."""
    s = np.linalg.svd(values, compute_uv=False)
    return int(np.sum(s > rtol * s[0])) if s[0] > 0 else 0


def matrix_rank(M: NonnegMatrix) -> int:
    """Exact rank for exact input, tolerance-aware numerical rank otherwise."""
    if M.exact is not None:
        return exact_rank(M.exact)
    return numerical_rank(M.values)


@dataclass
class Certificate:
    """A non-negative factorization ``M = W @ H`` proving ``rank₊(M) <= W.shape[1]``.

    Attributes
    ----------
    W, H : ndarray
        Non-negative factors (float64), or object arrays of Fractions when
        ``exact``.
    residual : float
        ``max |M - W H|`` divided by ``max M`` (0 for an exact certificate).
    exact : bool
        True when ``W H == M`` was checked in rational arithmetic.
    source : str
        The method that produced it.
    """

    W: np.ndarray
    H: np.ndarray
    residual: float
    exact: bool
    source: str
    notes: dict = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return int(self.W.shape[1])


def verify_certificate(M: NonnegMatrix, W, H, source: str, *, rtol: float = 1e-7) -> Certificate | None:
    """Re-verify a proposed factorization; return it as a Certificate or None.

    Exact input with fraction factors is checked exactly; otherwise the
    factors must be non-negative (entries above ``-rtol * max M`` are clipped
    to 0 and the residual recomputed) and ``max |M - W H| <= rtol * max M``.
    """
    W = np.asarray(W)
    H = np.asarray(H)
    if W.ndim != 2 or H.ndim != 2 or W.shape[0] != M.shape[0] or H.shape[1] != M.shape[1] or W.shape[1] != H.shape[0]:
        return None
    if W.dtype == object and H.dtype == object and M.exact is not None:
        if any(x < 0 for x in W.ravel()) or any(x < 0 for x in H.ravel()):
            return None
        product = W.dot(H)
        if all(product[i, j] == M.exact[i][j] for i in range(M.shape[0]) for j in range(M.shape[1])):
            return Certificate(W, H, 0.0, True, source)
        return None
    Wf = np.asarray(W, dtype=float)
    Hf = np.asarray(H, dtype=float)
    scale = float(M.values.max()) or 1.0
    if Wf.min(initial=0) < -rtol * scale or Hf.min(initial=0) < -rtol * scale:
        return None
    Wf, Hf = np.maximum(Wf, 0), np.maximum(Hf, 0)
    residual = float(np.abs(M.values - Wf @ Hf).max()) / scale
    if residual > rtol:
        return None
    return Certificate(Wf, Hf, residual, False, source)


def trivial_certificate(M: NonnegMatrix) -> Certificate:
    """``M = I M`` or ``M = M I``, whichever is smaller: rank₊ <= min(m, n)."""
    m, n = M.shape
    data = np.array(M.exact, dtype=object) if M.exact is not None else M.values
    eye = np.eye(min(m, n), dtype=int)
    if M.exact is not None:
        eye = np.vectorize(Fraction, otypes=[object])(eye)
    W, H = (eye, data) if m <= n else (data, eye)
    return Certificate(W, H, 0.0, M.exact is not None, "trivial")


def canonical_scaling(values: np.ndarray, *, iterations: int = 2000, rtol: float = 1e-12) -> np.ndarray:
    """``D1 M D2`` with every row summing to n and every column to m (Sinkhorn).

    Bounds that are not invariant under positive diagonal scaling (the
    nuclear-norm and hyperplane-separation bounds) are evaluated on this
    representative, which is unique when the pattern of ``M`` has total
    support, so that they become invariant (rank₊ itself is). Matrices
    without total support converge slowly; the result after ``iterations``
    passes is used (still a valid input for any bound, since every positive
    scaling has the same non-negative rank). When the iteration does not
    converge (no total support) the matrix is only divided by its largest
    entry, so that no entry is driven towards zero. Zero rows and columns are
    kept.
    """
    m, n = values.shape
    A = values.astype(float).copy()
    live_r = A.sum(axis=1) > 0
    live_c = A.sum(axis=0) > 0
    if not live_r.any():
        return A
    B = A[np.ix_(live_r, live_c)]
    B = B / B.max()
    rows, cols = B.shape
    start = B
    for _ in range(iterations):
        B = B * (cols / B.sum(axis=1))[:, None]
        B = B * (rows / B.sum(axis=0))[None, :]
        if np.abs(B.sum(axis=1) - cols).max() <= rtol * cols:
            break
    else:
        B = start
    A[np.ix_(live_r, live_c)] = B
    return A
