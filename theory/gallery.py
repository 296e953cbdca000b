"""Matrices whose non-negative rank is known (or bracketed) in the literature.

Each constructor returns a :class:`GalleryMatrix`: the matrix, its rank, the
literature's rank₊ as an interval ``(low, high)`` (equal ends when the value
is settled; an open value is an interval, never a guess) and the source.
Rational parameters (ints, :class:`fractions.Fraction`) give exact matrices.

Sources
-------
- Thomas (1974), SIAM Review 16, problem 73-14: the 4 × 4 matrix of rank 3
  and non-negative rank 4 (here up to the order of rows and columns).
- Beasley & Laffey (2009), LAA 431: linear Euclidean distance matrices
  LEDM(n)_ij = (i - j)²; rank₊ = n for n <= 4.
- Fawzi & Parrilo (2016), Math. Program. 158: τ₊(LEDM(5)) = 4.1857 proves
  rank₊(LEDM(5)) = 5; τ₊^sos of [[1, 1], [1, α]] is 2 / (1 + α).
- Gillis & Glineur (2012), LAA 437: rank₊(LEDM(6)) = 5 < 6 (a 5-term
  factorization; LEDM(5) is a submatrix), nested hexagons, the restricted
  rank and the geometric bound, which for LEDM(n) (restricted rank n) gives
  6 for n = 7..9, 7 for n = 10..14 and 8 for n = 15, 16: the lower ends
  recorded here (recomputed by :func:`theory.nnrank.geometric_bound`).
- Hrubeš (2012), *On the nonnegative rank of distance matrices*, IPL 112:
  a recursive construction of factorizations of LEDM(n); the upper ends
  recorded here (6 for n = 7, 8; 7 for 9..12; 8 for 13..16) are the sizes
  reported for it, not re-derived here (LEDM(m) is a principal submatrix of
  LEDM(n) for m <= n, so a factorization of one bounds the smaller ones).
- Vandaele, Gillis & Glineur (2017), LAA 521 (and Vandaele, Gillis,
  Glineur & Tuyttens 2016, J. Global Optim. 65): extension complexity of
  regular n-gons, settled for n <= 13 (3, 4, 5, 5, 6, 6, 7, 7, 7, 7, 8 for
  n = 3..13); above 13 the upper bound 2⌈log2 n⌉ (minus one when
  2^(k-1) < n <= 2^(k-1) + 2^(k-2)) is recorded with the geometric bound
  (restricted rank n) as the low end, which meets it at n = 15, 16 (8).
- Gillis, *Nonnegative Matrix Factorization* (SIAM 2020), ch. 2-3: nested
  rectangles S(a, b) (rank₊ = 3 iff (1 + a)(1 + b) <= 2, else 4) and nested
  hexagons X_a (3 for a <= 2, 4 for a <= 3, 5 beyond).
- rank₊ is additive on direct sums (every rank-one term of a factorization
  lies inside one diagonal block).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy.linalg import block_diag

__all__ = [
    "GalleryMatrix",
    "identity",
    "all_ones",
    "thomas",
    "ledm",
    "ngon_slack",
    "nested_rectangles",
    "nested_hexagons",
    "two_by_two",
    "direct_sum",
    "standard_gallery",
]


@dataclass
class GalleryMatrix:
    """A named matrix with its literature rank₊ (an interval) and source."""

    name: str
    matrix: np.ndarray
    rank: int
    nonneg_rank: tuple[int, int]
    source: str
    params: dict = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        return self.nonneg_rank[0] == self.nonneg_rank[1]


def _exact(values) -> np.ndarray:
    """Integer arrays stay integer; anything holding a Fraction becomes an object array."""
    arr = np.array(values, dtype=object)
    if all(isinstance(x, int) for x in arr.ravel()):
        return arr.astype(np.int64)
    if any(isinstance(x, Fraction) for x in arr.ravel()):
        return np.vectorize(Fraction, otypes=[object])(arr)
    return arr.astype(float)


def _rational(x):
    return isinstance(x, (int, Fraction))


def identity(n: int) -> GalleryMatrix:
    """The n × n identity: rank₊ = rank = n (its n diagonal entries form a fooling set)."""
    return GalleryMatrix(f"identity({n})", np.eye(n, dtype=np.int64), n, (n, n), "Gillis (2020), ch. 3 exercises",
                         {"n": n})


def all_ones(m: int, n: int | None = None) -> GalleryMatrix:
    """The all-ones matrix: rank₊ = rank = 1."""
    n = m if n is None else n
    return GalleryMatrix(f"all_ones({m}x{n})", np.ones((m, n), dtype=np.int64), 1, (1, 1),
                         "Gillis (2020), ch. 3 exercises", {"m": m, "n": n})


def thomas() -> GalleryMatrix:
    """Thomas's 4 × 4 0/1 matrix: rank 3, rank₊ 4."""
    M = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 1]], dtype=np.int64)
    return GalleryMatrix("thomas", M, 3, (4, 4), "Thomas (1974), SIAM Review 16")


#: rank₊(LEDM(n)) for n = 6..16 as intervals, with where each end comes from (see the module's sources).
_LEDM = {6: (5, 5), 7: (6, 6), 8: (6, 6), 9: (6, 7), 10: (7, 7), 11: (7, 7), 12: (7, 7), 13: (7, 8), 14: (7, 8),
         15: (8, 8), 16: (8, 8)}


def ledm(n: int) -> GalleryMatrix:
    """Linear Euclidean distance matrix ``(i - j)²`` (rank 3 for n >= 3)."""
    if n < 2:
        raise ValueError("ledm needs n >= 2")
    M = np.array([[(i - j) ** 2 for j in range(n)] for i in range(n)], dtype=np.int64)
    rank = min(n, 3)
    if n <= 4:
        known, source = (n, n), "Beasley & Laffey (2009)"
    elif n == 5:
        known, source = (5, 5), "Fawzi & Parrilo (2016): tau_+ = 4.1857"
    elif n == 6:
        known, source = (5, 5), "LEDM(5) is a submatrix; a 5-term factorization (Gillis & Glineur 2012)"
    elif n in _LEDM:
        known = _LEDM[n]
        source = ("lower: the geometric bound with restricted rank n (Gillis & Glineur 2012); upper: factorizations "
                  "after Hrubeš (2012)")
    else:
        from .nnrank.polygons import geometric_lower_bound

        known, source = (geometric_lower_bound(3, n), n), "lower: the geometric bound (Gillis & Glineur 2012)"
    return GalleryMatrix(f"ledm({n})", M, rank, known, source, {"n": n})


#: Extension complexity of the regular n-gon as an interval (Vandaele, Gillis & Glineur 2017 settle n <= 13;
#: 15 and 16 meet the geometric bound; 14 lies between the geometric bound and the construction).
_NGON_XC = {3: (3, 3), 4: (4, 4), 5: (5, 5), 6: (5, 5), 7: (6, 6), 8: (6, 6), 9: (7, 7), 10: (7, 7), 11: (7, 7),
            12: (7, 7), 13: (8, 8), 14: (7, 8), 15: (8, 8), 16: (8, 8)}


def _ngon_upper(n: int) -> int:
    k = math.ceil(math.log2(n))
    reduce = 2 ** (k - 1) < n <= 2 ** (k - 1) + 2 ** (k - 2)
    return 2 * k - (1 if reduce else 0)


def ngon_slack(n: int) -> GalleryMatrix:
    """Slack matrix of the regular n-gon (facets × vertices, rank 3).

    ``S_ij = cos(π/n) - cos(2π(j - i - 1/2)/n)``: the distance of vertex j
    to the line of edge i, scaled; its zeros (the two vertices of each edge)
    are set exactly. rank₊ is the extension complexity of the n-gon
    (Yannakakis 1991).
    """
    if n < 3:
        raise ValueError("a polygon needs n >= 3")
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    S = math.cos(math.pi / n) - np.cos(2 * math.pi * (j - i - 0.5) / n)
    S[((j - i) % n == 0) | ((j - i) % n == 1)] = 0.0
    S = np.clip(S, 0, None)
    if n in _NGON_XC:
        known, source = _NGON_XC[n], "Vandaele, Gillis & Glineur (2017)"
    else:
        from .nnrank.polygons import geometric_lower_bound

        known = (geometric_lower_bound(3, n), _ngon_upper(n))
        source = "lower: the geometric bound (Gillis & Glineur 2012); upper: Vandaele, Gillis & Glineur (2017)"
    return GalleryMatrix(f"ngon({n})", S, 3, known, source, {"n": n})


def nested_rectangles(a, b) -> GalleryMatrix:
    """S(a, b): slacks of the square [-1, 1]² at the vertices of [-a, a] × [-b, b].

    rank₊ = 3 iff (1 + a)(1 + b) <= 2, else 4 (0 < a, b < 1).
    """
    if not (0 < a < 1 and 0 < b < 1):
        raise ValueError("nested_rectangles needs 0 < a, b < 1")
    one = 1 if _rational(a) and _rational(b) else 1.0
    rows = [[one - a, one + a, one + a, one - a], [one + a, one - a, one - a, one + a],
            [one - b, one - b, one + b, one + b], [one + b, one + b, one - b, one - b]]
    known = 3 if (1 + a) * (1 + b) <= 2 else 4
    return GalleryMatrix(f"nested_rectangles({a},{b})", _exact(rows), 3, (known, known),
                         "Gillis (2020), ch. 3", {"a": a, "b": b})


def nested_hexagons(a) -> GalleryMatrix:
    """X_a: slacks of a regular hexagon at the vertices of a concentric one shrunk by 1 - 1/a.

    The 6 × 6 circulant with first row (1, 1, a, 2a - 1, 2a - 1, a), a >= 1;
    rank₊ = 1 at a = 1, 3 for a <= 2, 4 for a <= 3, 5 beyond.
    """
    if a < 1:
        raise ValueError("nested_hexagons needs a >= 1")
    one = 1 if _rational(a) else 1.0
    first = [one, one, a, 2 * a - 1, 2 * a - 1, a]
    rows = [first[-k:] + first[:-k] if k else first for k in range(6)]
    known = 1 if a == 1 else 3 if a <= 2 else 4 if a <= 3 else 5
    return GalleryMatrix(f"nested_hexagons({a})", _exact(rows), 1 if a == 1 else 3, (known, known),
                         "Gillis & Glineur (2012); Gillis (2020), ch. 3", {"a": a})


def two_by_two(alpha) -> GalleryMatrix:
    """A(α) = [[1, 1], [1, α]]: rank₊ = rank (1 at α = 1, else 2); τ₊^sos = 2/(1 + α) for α <= 1."""
    if alpha < 0:
        raise ValueError("two_by_two needs alpha >= 0")
    one = 1 if _rational(alpha) else 1.0
    r = 1 if alpha == 1 else 2
    return GalleryMatrix(f"two_by_two({alpha})", _exact([[one, one], [one, alpha]]), r, (r, r),
                         "Fawzi & Parrilo (2016)", {"alpha": alpha})


def direct_sum(*parts: GalleryMatrix) -> GalleryMatrix:
    """Block-diagonal sum; rank and rank₊ (its interval) add up."""
    if not parts:
        raise ValueError("direct_sum needs at least one matrix")
    blocks = [np.asarray(p.matrix) for p in parts]
    if any(b.dtype == object for b in blocks):
        M = np.vectorize(Fraction, otypes=[object])(block_diag(*[b.astype(object) for b in blocks]))
        M = np.array(M, dtype=object)
    else:
        M = block_diag(*blocks)
    low = sum(p.nonneg_rank[0] for p in parts)
    high = sum(p.nonneg_rank[1] for p in parts)
    return GalleryMatrix(" + ".join(p.name for p in parts), M, sum(p.rank for p in parts), (low, high),
                         "additivity on direct sums", {"parts": [p.name for p in parts]})


def standard_gallery(max_size: int = 16) -> list[GalleryMatrix]:
    """The gallery used by the ``rank_gap`` experiment (matrices up to ``max_size``)."""
    items = [identity(4), all_ones(3, 5), thomas()]
    items += [ledm(n) for n in range(3, min(16, max_size) + 1)]
    items += [ngon_slack(n) for n in range(3, min(16, max_size) + 1)]
    items += [nested_rectangles(Fraction(1, 5), Fraction(1, 5)), nested_rectangles(Fraction(1, 2), Fraction(1, 3)),
              nested_rectangles(Fraction(1, 2), Fraction(1, 2))]
    items += [nested_hexagons(a) for a in (Fraction(3, 2), 2, Fraction(5, 2), 3, 4)]
    items += [two_by_two(Fraction(1, 2)), two_by_two(0)]
    items += [direct_sum(thomas(), ledm(3))]
    return [g for g in items if max(g.matrix.shape) <= max_size]
