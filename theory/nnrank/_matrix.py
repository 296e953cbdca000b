"""The matrix a non-negative rank question is asked about, and its certificates.

Every method of :mod:`theory.nnrank` starts from :func:`as_matrix`: a finite,
non-negative, two-dimensional array with at least one entry. Integer input
(NumPy integer arrays, float arrays whose entries are all integers, object
arrays of Python integers or :class:`fractions.Fraction`, of any size) is
*exact*: its rank is computed in rational arithmetic and its certificates are
checked exactly where they can be.

rank₊ is invariant under positive row and column scaling, and so is every
method here, by construction: :func:`as_matrix` computes a canonical
representative ``B = D1 M D2`` (:func:`log_balance`: the scaling that makes
the logarithms of the non-zero entries of every row and column sum to zero
in the least-squares sense; it is the same matrix for every positive scaling
of ``M``), and the numerical methods work on ``B``. The support is the exact
pattern of non-zero entries (no tolerance decides what is zero), and a
floating-point certificate is checked entry by entry on ``B`` and returned in
the units of ``M``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

__all__ = ["NonnegMatrix", "as_matrix", "Certificate", "numerical_rank", "exact_rank", "on_support", "log_balance",
           "zero_certificate"]

#: Relative tolerance for float computations: singular values, residuals.
DEFAULT_TOL = 1e-9
#: Floats below this that hold integers are taken as those integers (exact); from 2**53 on every float does.
FLOAT_INTEGERS = 2.0**53


@dataclass(frozen=True)
class NonnegMatrix:
    """A validated non-negative matrix and its canonical representative.

    Attributes
    ----------
    values : ndarray of float64
        The canonical representative ``B = D1 M D2`` (:func:`log_balance`),
        on which every numerical method works: scaling the rows or columns of
        ``M`` does not change it.
    exact : tuple of tuple of Fraction or None
        The entries of ``M`` as fractions when the input is exact (integers or
        fractions), else None.
    row_scale, col_scale : ndarray
        ``D1`` and ``D2`` as vectors: ``values = row_scale[:, None] * M * col_scale``.
    original : ndarray of float64
        ``M`` itself in floating point (entries beyond the float range of an
        exact input are ``inf`` there; the exact entries are in ``exact``).
    """

    values: np.ndarray
    exact: tuple | None
    row_scale: np.ndarray
    col_scale: np.ndarray
    original: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    @property
    def support(self) -> np.ndarray:
        """Boolean pattern of the non-zero entries (exactly: no tolerance)."""
        return self.values > 0

    @property
    def entries(self) -> list[tuple[int, int]]:
        """Positions ``(i, j)`` of the non-zero entries, in C order."""
        return [(int(i), int(j)) for i, j in np.argwhere(self.support)]

    @property
    def is_zero(self) -> bool:
        """True for the zero matrix (rank₊ = 0)."""
        return not self.support.any()

    def to_units_of_m(self, W, H):
        """Factors of ``values`` (``B = W H``) as factors of ``M`` (``M = W' H'``)."""
        return np.asarray(W, dtype=float) / self.row_scale[:, None], np.asarray(H, dtype=float) / self.col_scale


def on_support(shape: tuple[int, int], entries, values) -> np.ndarray:
    """A dense matrix holding ``values`` at ``entries`` (a solver's variables) and zeros elsewhere."""
    out = np.zeros(shape)
    if entries:
        rows, cols = zip(*entries)
        out[list(rows), list(cols)] = values
    return out


#: Non-zero entries up to which :func:`log_balance` solves its least-squares problem densely.
_DENSE_BALANCE = 20000


def log_balance(logs: np.ndarray, support: np.ndarray):
    """``(a, b)`` minimizing ``sum over the support of (L_ij + a_i + b_j)**2`` (``L`` the logarithms).

    The residuals ``L_ij + a_i + b_j`` of this least-squares problem are
    unique (the solution is not: a constant moves between ``a`` and ``b`` on
    each connected part of the support), so ``exp(L + a_i + b_j)`` is the same
    matrix for every positive scaling of the input: a canonical
    representative in which the logarithms of every row's and every column's
    non-zero entries sum to zero. Rows and columns without a non-zero entry
    get 0.
    """
    m, n = support.shape
    rows, cols = np.nonzero(support)
    a, b = np.zeros(m), np.zeros(n)
    if rows.size == 0:
        return a, b
    rhs = -logs[rows, cols]
    if rows.size <= _DENSE_BALANCE:
        A = np.zeros((rows.size, m + n))
        A[np.arange(rows.size), rows] = 1.0
        A[np.arange(rows.size), m + cols] = 1.0
        x = np.linalg.lstsq(A, rhs, rcond=None)[0]
    else:
        import scipy.sparse
        import scipy.sparse.linalg

        A = scipy.sparse.csr_matrix((np.ones(2 * rows.size), (np.repeat(np.arange(rows.size), 2),
                                                               np.ravel(np.column_stack([rows, m + cols])))),
                                    shape=(rows.size, m + n))
        x = scipy.sparse.linalg.lsqr(A, rhs, atol=1e-15, btol=1e-15, iter_lim=10 * (m + n))[0]
    return x[:m], x[m:]


def _log(x) -> float:
    """``log(x)`` for a positive float, integer or Fraction of any size."""
    if isinstance(x, Fraction):
        return math.log(x.numerator) - math.log(x.denominator)
    return math.log(x)


def as_matrix(M, name: str = "M") -> NonnegMatrix:
    """Validate ``M``, decide whether it is exact and compute its canonical representative.

    Raises
    ------
    TypeError
        For non-numeric input.
    ValueError
        For wrong dimensions, empty, non-finite or negative input.
    """
    if isinstance(M, NonnegMatrix):
        return M
    arr = np.asarray(M, dtype=object if _holds_exact_objects(M) else None)
    fractions = None
    if arr.dtype == object:
        try:
            fractions = np.vectorize(Fraction, otypes=[object])(arr)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold real numbers or fractions: {exc}") from exc
        with np.errstate(over="ignore"):
            values = np.vectorize(_to_float, otypes=[float])(fractions) if fractions.size else fractions.astype(float)
    elif arr.dtype.kind in "biu":
        fractions = np.vectorize(lambda x: Fraction(int(x)), otypes=[object])(arr) if arr.size else None
        values = arr.astype(float)
    elif arr.dtype.kind == "f":
        values = arr.astype(float)
    else:
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}")
    if values.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got {values.ndim}-D with shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"{name} is empty: shape {values.shape}")
    if fractions is None and not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains non-finite entries (NaN or Inf)")
    negative = (fractions < 0) if fractions is not None else (values < 0)
    if negative.any():
        pos = tuple(int(i) for i in np.argwhere(negative)[0])
        raise ValueError(
            f"{name} has negative entries (the first is {float(values[pos])!r} at {pos}); "
            "the non-negative rank is defined for non-negative matrices only"
        )
    # Floats holding small integers (counts, 0/1 patterns) are those integers. From 2**53 on every float is an
    # integer, so integrality says nothing there: such entries are taken as floats (a rank-1 product of floats
    # scaled to 1e27 is, as integers, of rank 2 through its rounding; hypothesis found the bounds calling its
    # rank₊ 2 where the unscaled copy got 1).
    if fractions is None and np.all(values == np.round(values)) and np.all(values < FLOAT_INTEGERS):
        fractions = np.vectorize(lambda x: Fraction(int(x)), otypes=[object])(values)
    support = (fractions != 0) if fractions is not None else (values > 0)
    support = np.asarray(support, dtype=bool)
    logs = np.zeros(values.shape)
    if fractions is not None:
        for i, j in zip(*np.nonzero(support)):
            logs[i, j] = _log(fractions[i, j])
    else:
        logs[support] = np.log(values[support])
    a, b = log_balance(logs, support)
    balanced = np.where(support, np.exp(np.where(support, logs + a[:, None] + b[None, :], 0.0)), 0.0)
    exact = tuple(tuple(row) for row in fractions) if fractions is not None else None
    return NonnegMatrix(balanced, exact, np.exp(a), np.exp(b), values)


def _to_float(x: Fraction) -> float:
    try:
        return float(x)
    except OverflowError:
        return math.inf


def _holds_exact_objects(M) -> bool:
    """True for an object array, or nested lists holding Fractions or integers too large for int64."""
    if isinstance(M, np.ndarray):
        return M.dtype == object
    try:
        return any((isinstance(x, numbers.Rational) and not isinstance(x, (bool, np.integer))
                    and (not isinstance(x, int) or abs(x) >= 2**63))
                   for row in M for x in row)
    except TypeError:
        return False


def row_echelon(rows, *, reduced: bool = False) -> tuple[list[list], list[int]]:
    """Gaussian elimination over the rationals: the echelon form of ``rows`` and its pivot columns.

    Column by column, a row with a non-zero entry there becomes the next
    pivot row and the rows below it are cleared (``reduced``: the rows above
    too, Gauss-Jordan). The pivot columns are the columns independent of the
    ones before them, so their number is the rank.
    """
    work = [list(r) for r in rows]
    pivots: list[int] = []
    n_cols = len(work[0]) if work else 0
    for col in range(n_cols):
        top = len(pivots)
        pivot = next((r for r in range(top, len(work)) if work[r][col] != 0), None)
        if pivot is None:
            continue
        work[top], work[pivot] = work[pivot], work[top]
        for r in range(len(work)) if reduced else range(top + 1, len(work)):
            if r != top and work[r][col] != 0:
                f = work[r][col] / work[top][col]
                work[r] = [a - f * b for a, b in zip(work[r], work[top])]
        pivots.append(col)
    return work, pivots


def independent_rows(rows) -> list[int]:
    """Indices of a maximal linearly independent subset of ``rows`` (fractions), greedily from the first."""
    return row_echelon([list(col) for col in zip(*rows)])[1]  # the pivot columns of the rows taken as columns


def solve_square(A, b) -> list:
    """``x`` with ``A x = b`` for a non-singular square matrix of fractions (Gauss-Jordan elimination)."""
    work, _ = row_echelon([list(A[i]) + [b[i]] for i in range(len(A))], reduced=True)
    return [row[-1] / row[i] for i, row in enumerate(work)]


def exact_rank(rows) -> int:
    """Rank of a matrix of fractions by Gaussian elimination over the rationals."""
    return len(row_echelon(rows)[1])


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
        The largest relative error over the non-zero entries of ``M`` (its
        zero entries are matched exactly; :func:`verify_certificate`; 0 for
        an exact certificate).
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
    """Re-verify a proposed factorization ``M = W H`` (in the units of ``M``); return it as a Certificate or None.

    Exact input with fraction factors is checked exactly. Otherwise the check
    is made on the canonical representative (``values``), with ``Wb = D1 W``
    and ``Hb = H D2``: negative entries no larger than ``rtol`` times their
    column's (row's) largest are set to 0, as are the rows of ``W`` (columns of
    ``H``) at zero rows (columns) of ``M``, which every factorization has, and
    the factors are put onto the zero pattern of ``M`` (:func:`onto_pattern`).
    Then every non-zero entry must be matched to ``rtol`` relative to itself
    and every zero entry is exactly zero. Measured so, a small entry of a badly
    scaled ``M`` is held to the same digits as a large one, and the verdict
    does not change when ``M`` is scaled.
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
    with np.errstate(over="ignore", invalid="ignore"):
        Wb = M.row_scale[:, None] * np.asarray(W, dtype=float)
        Hb = np.asarray(H, dtype=float) * M.col_scale[None, :]
    if not (np.isfinite(Wb).all() and np.isfinite(Hb).all()):
        return None
    if (Wb < -rtol * np.abs(Wb).max(axis=0, initial=0)).any() or \
            (Hb < -rtol * np.abs(Hb).max(axis=1, initial=0)[:, None]).any():
        return None
    Wb, Hb = np.maximum(Wb, 0), np.maximum(Hb, 0)
    # a zero row (column) of M forces a zero row of W (column of H) in every factorization
    Wb[~M.support.any(axis=1)] = 0.0
    Hb[:, ~M.support.any(axis=0)] = 0.0
    Wb, Hb = onto_pattern(Wb, Hb, M.support)
    product = Wb @ Hb
    support = M.support
    if (product[~support] != 0).any():  # onto_pattern makes them 0; a guard, not a tolerance
        return None
    errors = np.abs(M.values - product)[support] / M.values[support]
    residual = float(errors.max(initial=0.0))
    if residual > rtol:
        return None
    Wm, Hm = M.to_units_of_m(Wb, Hb)
    return Certificate(Wm, Hm, residual, False, source)


def onto_pattern(W: np.ndarray, H: np.ndarray, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative factors whose product is exactly zero wherever ``support`` is False.

    ``(W H)_ij = 0`` for non-negative factors means every term ``W_ik H_kj`` is
    0, so an exact factorization of a matrix with a zero at ``(i, j)`` has, for
    every k, ``W_ik = 0`` or ``H_kj = 0``. A floating-point solver leaves both
    small instead; here the one smaller against its column of W (row of H) is
    set to 0, for every such term at once (setting entries to 0 only removes
    terms, so one pass reaches the pattern). What this does to the non-zero
    entries is for the caller to check.
    """
    if support.all():
        return W, H
    w_rel = W / np.where(W.max(axis=0) > 0, W.max(axis=0), 1.0)
    h_rel = H / np.where(H.max(axis=1) > 0, H.max(axis=1), 1.0)[:, None]
    live = ~support[:, :, None] & (W[:, None, :] > 0) & (H.T[None, :, :] > 0)  # m x n x r: terms to remove
    w_smaller = w_rel[:, None, :] <= h_rel.T[None, :, :]
    drop_w = (live & w_smaller).any(axis=1)  # m x r
    drop_h = (live & ~w_smaller).any(axis=0).T  # r x n
    return np.where(drop_w, 0.0, W), np.where(drop_h, 0.0, H)


def zero_certificate(M: NonnegMatrix) -> Certificate:
    """The zero matrix as a product with no terms: ``(m x 0) (0 x n)``, rank₊ = 0."""
    m, n = M.shape
    return Certificate(np.zeros((m, 0)), np.zeros((0, n)), 0.0, True, "zero matrix")


def trivial_certificate(M: NonnegMatrix) -> Certificate:
    """``M = I M`` or ``M = M I``, whichever is smaller: rank₊ <= min(m, n)."""
    m, n = M.shape
    data = np.array(M.exact, dtype=object) if M.exact is not None else M.original
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
