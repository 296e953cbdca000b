"""Soundness of the non-negative rank bounds on families with a known answer.

``M = W H`` with non-negative ``W`` (m x k) and ``H`` (k x n) has rank₊ <= k, and
rank₊ does not change under positive row and column scaling, permutation or
transposition. So on every member of these families no lower bound may exceed
``k``, the bounds may not contradict each other, every certificate must
factor the matrix as given (entry by entry, however small), and the bounds of
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
CHEAP = ["fooling_set", "rectangle_cover", "nested_polygons", "geometric", "hyperplane_separation"]


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
        # a zero entry: small against its row's and column's scale (exactly 0 in a zero row or column)
        scale = np.sqrt(target.max(axis=1)[:, None] * target.max(axis=0)[None, :])
        assert (approx[~nonzero] <= 1e-6 * scale[~nonzero]).all()


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
