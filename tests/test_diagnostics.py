"""Diagnostics against hand-computed cases."""

import numpy as np
import pytest

from nmflab import diagnostics as dg


def test_monotone_descent_on_constructed_traces():
    d = dg.monotone_descent([10.0, 8.0, 8.0, 5.0])
    assert d.monotone and d.max_increase == 0.0
    d = dg.monotone_descent([10.0, 8.0, 9.0, 5.0])
    assert not d.monotone and d.max_increase == 1.0 and d.max_relative_increase == pytest.approx(1 / 8)
    d = dg.monotone_descent([4.0, 3.0], initial=5.0)
    assert d.max_increase == -1.0
    # An increase within the stated noise is rounding.
    assert dg.monotone_descent([1.0, 1.0 + 1e-13], noise=1e-12).monotone
    assert not dg.monotone_descent([1.0, 1.0 + 1e-11], noise=1e-12).monotone


def test_objective_noise_is_the_stated_bound():
    V = np.full((2, 2), 3.0)  # ||V|| = 6, sum = 12
    u = np.finfo(float).eps
    assert dg.objective_noise(V, "frobenius", 2.0) == pytest.approx(16 * u * (2 + 2 * 6 + u * 36))
    assert dg.objective_noise(V, "kl", 2.0) == pytest.approx(16 * u * (2 + 12))


def test_relative_error():
    V = np.array([[3.0, 0.0], [0.0, 4.0]])
    assert dg.relative_error(V, np.eye(2), np.zeros((2, 2))) == pytest.approx(1.0)
    assert dg.relative_error(V, np.eye(2), V) == 0.0


@pytest.mark.parametrize("norm", ["sum", "l2"])
def test_normalize_keeps_the_product(norm):
    rng = np.random.default_rng(0)
    W, H = rng.uniform(0, 2, (7, 3)), rng.uniform(0, 2, (3, 5))
    H[1] = 0  # a dead part is left alone
    Wn, Hn = dg.normalize(W, H, norm)
    np.testing.assert_allclose(Wn @ Hn, W @ H, rtol=1e-13)
    sizes = Hn.sum(1) if norm == "sum" else np.linalg.norm(Hn, axis=1)
    np.testing.assert_allclose(sizes[[0, 2]], 1.0)
    assert sizes[1] == 0


def test_center_of_mass_order():
    H = np.array([[0, 0, 0, 1.0], [1.0, 0, 0, 0], [0, 1.0, 1.0, 0]])
    np.testing.assert_array_equal(dg.center_of_mass_order(H), [1, 2, 0])


def test_alignment_recovers_a_known_permutation():
    rng = np.random.default_rng(1)
    H_ref = rng.uniform(0, 1, (5, 12))
    perm = np.array([3, 0, 4, 1, 2])
    H = H_ref[perm] * rng.uniform(0.5, 2, (5, 1))  # permuted and rescaled
    matched, cosines = dg.align_parts(H, H_ref)
    np.testing.assert_array_equal(perm[matched], np.arange(5))
    np.testing.assert_allclose(cosines, 1.0)
    assert dg.recovery_score(H, H_ref) == pytest.approx(1.0)


def test_recovery_score_of_orthogonal_parts_is_zero():
    assert dg.recovery_score(np.array([[1.0, 0]]), np.array([[0, 1.0]])) == 0.0
    # Two parts, one matched exactly and one orthogonal to its match: mean cosine 1/2.
    H = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    H_ref = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    assert dg.recovery_score(H, H_ref) == pytest.approx(0.5)
