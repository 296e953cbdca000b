"""Soundness of the non-negative rank bounds on families with a known answer.

``M = W H`` with non-negative ``W`` (m x k) and ``H`` (k x n) has rank₊ <= k, and
rank₊ does not change under positive row and column scaling, permutation or
transposition. So on every member of these families no lower bound may exceed
``k``, the bounds may not contradict each other, every certificate must
factor the matrix as given (entry by entry, however small, and its zeros
exactly), and the bounds of
a scaled or permuted copy must be those of the original. The families are
drawn by hypothesis: integer and real factors, rows and columns scaled over
up to 60 orders of magnitude, integers far beyond 2**53 (whose rank only exact
arithmetic gets right).
"""

from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("cvxpy")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from theory import gallery  # noqa: E402
from theory.nnrank import fooling_set, nonneg_rank_bounds, rectangle_cover  # noqa: E402
from theory.nnrank._matrix import exact_rank  # noqa: E402

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Every method but the slow ones (SDPs, tau_plus, the heuristic's many restarts, z3): the property is the same.
CHEAP = ["fooling_set", "rectangle_cover", "nested_polygons", "geometric", "hyperplane_separation",
         "refined_rectangle_cover"]


@st.composite
def products(draw, integer=None):
    """``(M, k)``: a product of non-negative factors with inner size k (some factor entries 0)."""
    k = draw(st.integers(1, 3))
    m, n = draw(st.integers(k, 6)), draw(st.integers(k, 6))
    integer = draw(st.booleans()) if integer is None else integer
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = rng.integers(0, 4, (m, k)) if integer else rng.random((m, k)) * (rng.random((m, k)) > 0.25)
    H = rng.integers(0, 4, (k, n)) if integer else rng.random((k, n)) * (rng.random((k, n)) > 0.25)
    return W @ H, k


def _scalings(draw_seed, shape, span):
    rng = np.random.default_rng(draw_seed)
    return 10.0 ** rng.uniform(-span, span, shape[0]), 10.0 ** rng.uniform(-span, span, shape[1])


def _check(M, k, bounds):
    """No lower bound above k, no contradiction, a certificate of M itself."""
    assert bounds.lower <= k, (bounds.lower, k)
    assert bounds.lower <= bounds.upper
    for e in bounds.evidence:
        if e.kind in ("lower", "exact") and e.bound is not None:
            assert e.bound <= k, (e.method, e.bound, k)
    cert = bounds.certificate
    W, H = np.asarray(cert.W, dtype=object if cert.exact else float), np.asarray(cert.H, dtype=object if cert.exact
                                                                                    else float)
    if cert.exact:
        assert (W.dot(H) == np.asarray(M, dtype=object)).all()
    else:
        approx = np.asarray(W, float) @ np.asarray(H, float)
        target = np.asarray(M, dtype=float)
        nonzero = target > 0
        assert np.allclose(approx[nonzero], target[nonzero], rtol=1e-6, atol=0)  # every entry, however small
        # a zero entry of M is a zero of the certificate: every term W_ik H_kj there is 0
        assert (approx[~nonzero] == 0).all(), approx[~nonzero]


@SETTINGS
@given(products(), st.integers(0, 2**32 - 1), st.floats(0, 30))
def test_bounds_are_sound_and_invariant_under_scaling_permutation_transposition(case, seed, span):
    M, k = case
    base = nonneg_rank_bounds(M, methods=CHEAP, time_limit=None)
    _check(M, k, base)
    r, c = _scalings(seed, M.shape, span)
    rng = np.random.default_rng(seed)
    rows, cols = rng.permutation(M.shape[0]), rng.permutation(M.shape[1])
    scaled = (r[:, None] * M * c[None, :])[rows][:, cols]
    for variant in (scaled, scaled.T):
        other = nonneg_rank_bounds(variant, methods=CHEAP, time_limit=None)
        _check(variant, k, other)
        assert (other.lower, other.upper, other.rank) == (base.lower, base.upper, base.rank)


@SETTINGS
@given(products(integer=True), st.integers(53, 200), st.integers(0, 2**32 - 1))
def test_huge_integers_are_exact(case, bits, seed):
    """Integers beyond 2**53 (int64 while they fit, Python integers beyond), with a ± 1 on one entry so that
    the floats round it away: the rank and bounds are those of the exact matrix."""
    M, k = case
    rng = np.random.default_rng(seed)
    big = np.array([[int(x) * 2**bits for x in row] for row in M], dtype=object)
    i, j = rng.integers(0, M.shape[0]), rng.integers(0, M.shape[1])
    big[i, j] += 1  # invisible in float64 (relative 2**-53 or less), visible to exact arithmetic
    expected = exact_rank([[Fraction(x) for x in row] for row in big])
    inputs = [big] + ([big.astype(np.int64)] if bits <= 58 else [])  # entries up to 27 * 2**58 + 1 < 2**63
    for X in inputs:
        bounds = nonneg_rank_bounds(X, methods=["fooling_set", "rectangle_cover"], time_limit=None)
        assert bounds.rank == expected, (X.dtype, bounds.rank, expected)
        assert bounds.certificate.exact
        assert bounds.lower <= min(M.shape)


def test_the_reported_members_of_the_families():
    """The examples the issue names (each stands for a family the properties above cover)."""
    rng = np.random.default_rng(0)
    W, H = rng.random((5, 3)), rng.random((3, 5))
    for step in (2, 6, 30):
        D = np.diag(10.0 ** (-step * np.arange(5)))
        bounds = nonneg_rank_bounds(D @ W @ H @ D, time_limit=None)
        assert (bounds.lower, bounds.upper) == (3, 3)
    assert fooling_set(np.outer([1, 1e-5], [1, 1e-5])).bound == 1
    assert [e for e in rectangle_cover(np.outer([1, 1e-5], [1, 1e-5])) if e.method == "rectangle_cover"][0].bound == 1
    assert nonneg_rank_bounds([[2**52, 1], [1, 3]], time_limit=None).lower == 2  # 3 * 2**52 - 1 != 0
    assert nonneg_rank_bounds(np.array([[2**200, 1], [1, 3]], dtype=object), time_limit=None).lower == 2
    assert nonneg_rank_bounds(np.array([[Fraction(1, 3), 1], [1, 3]]), time_limit=None).lower == 1
    zero = nonneg_rank_bounds(np.zeros((3, 4)), methods="all", time_limit=None)
    assert (zero.lower, zero.upper, zero.certificate.W.shape, zero.certificate.H.shape) == (0, 0, (3, 0), (0, 4))


def test_a_scaled_gallery_matrix_settles_like_the_original():
    """Thomas's matrix (rank₊ 4) scaled over 20 orders of magnitude, as floats: the same exact answer."""
    M = gallery.thomas().matrix.astype(float)
    r, c = 10.0 ** np.linspace(-10, 10, M.shape[0]), 10.0 ** np.linspace(8, -8, M.shape[1])
    for X in (M, r[:, None] * M * c[None, :]):
        bounds = nonneg_rank_bounds(X, time_limit=None)
        assert (bounds.lower, bounds.upper) == (4, 4)


#: Two members of the family above that hypothesis found breaking the bounds (both are one rank-3 product
#: ``W H``, scaled over ~40 orders of magnitude; one entry of H and of W is 0, so an edge of the inner
#: polygon lies on the outer one). The first got rank₊ >= 4 from the geometric bound: the nested-polygon
#: search stopped a line running along that shared edge at its first vertex, missed the triangle, and the
#: geometric bound took the 4 vertices it found for the restricted rank. The second got a certificate
#: whose zero entries were 1e-15 of the balanced matrix's scale but above the entries around them. The
#: third (an integer product with a zero row) got rank₊ >= 4 again: the zero row's rounding-sized row of the
#: outer polygon passed for a constraint and stopped every line at once.
FOUND = [
    [[0, 0, 0, 0, 0], [14, 16, 8, 15, 13], [17, 18, 10, 17, 15], [15, 16, 10, 14, 12], [4, 5, 4, 3, 2]],
    [[147.54515309856947, 7609.891540385559, 3861078.4928652425, 0.026464073157796135, 153880458.0673718],
     [7.091122052432898e-11, 8.925376130374907e-09, 5.164834542168698e-06, 1.6404548586080794e-13,
      9.448529862519585e-05],
     [4.260458366579814e-07, 3.429149252720881e-05, 0.03195165448076323, 9.553754075546797e-10,
      0.15281478747814475],
     [0.013998420798815048, 0.0, 366.32176893180707, 0.0, 0.0],
     [7.635877054514538e-09, 1.0833275654476704e-07, 0.00026022963598179506, 2.804733504737991e-12,
      0.0006207830157769441]],
    [[2.095304649953915e-18, 620.4329615507528, 0.0007707539498622175, 0.00019544317931053347,
      6.763719919816267e-24],
     [2.5325603102876294e-07, 600782025045658.4, 59696907.80091129, 43382036.75531339, 1.8016574650185437e-13],
     [0.0, 0.0, 7.753956779133803e+20, 1.9662020096313262e+20, 0.0],
     [3.80125151203027e-09, 8379688574002.811, 5083324.578887347, 1678675.4712403603, 3.4772832907903335e-15],
     [2.145562505523229e-06, 3357750267658938.5, 323408705.8273589, 228251812.96414527, 3.6258707541936646e-12]],
]


@pytest.mark.parametrize("M", FOUND)
def test_the_counterexamples_hypothesis_found(M):
    """Both are rank-3 products (rank₊ = 3): settled as 3 with a certificate exact on the zeros."""
    M = np.array(M)
    bounds = nonneg_rank_bounds(M, methods=CHEAP, time_limit=None)
    _check(M, 3, bounds)
    assert (bounds.lower, bounds.upper) == (3, 3)
    polygons = [e for e in bounds.evidence if e.method == "nested_polygons"][0]
    assert (polygons.kind, polygons.bound, polygons.data["restricted_rank_lower"]) == ("exact", 3, 3)


def test_floats_beyond_two_to_the_53_are_floats_not_integers():
    """A rank-1 product of floats scaled to 1e27 (hypothesis found it): every entry is an integer-valued float,
    and taken as those integers its rank, through the rounding, is 2; the unscaled copy got rank₊ 1. Such
    entries are floats; a float matrix of small integers is still exact."""
    M = np.array([[2.6246128020179737e+27, 6.987983375094637e+27],
                  [1.0658415765839844e+16, 2.8377836197121976e+16], [0.0, 0.0]])
    bounds = nonneg_rank_bounds(M, methods=CHEAP, time_limit=None)
    _check(M, 1, bounds)
    assert (bounds.lower, bounds.upper, bounds.rank) == (1, 1, 1)
    small = nonneg_rank_bounds(np.array([[2.0**52, 1.0], [1.0, 3.0]]), time_limit=None)
    assert small.lower == 2 and small.certificate.exact  # 3 * 2**52 - 1 != 0, which floats of it would miss
