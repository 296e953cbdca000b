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
    assert dg.objective_noise(V, "frobenius", 2.0) == pytest.approx(16 * u * (2 + 2 * 6 + u * 36 + 36 / 4))
    assert dg.objective_noise(V, "kl", 2.0) == pytest.approx(16 * u * (2 + 12))
    assert dg.objective_noise(V, "itakura-saito", 2.0) == pytest.approx(16 * u * (2 + 4))
    assert dg.objective_noise(V, 0.5, 2.0) == pytest.approx(16 * u * (2 + 4 * np.sqrt(3) * 3 / 0.25))


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


def test_kkt_residual_hand_computed():
    """V = [[1]], W = [[2]], H = [[1]]: balanced factors sqrt(2), sqrt(2);
    dW = W H^2 - V H = sqrt(2), dH = W^2 H - W V = sqrt(2); residual sqrt(2 + 2) = 2."""
    assert dg.kkt_residual([[1.0]], [[2.0]], [[1.0]]) == pytest.approx(2.0, rel=1e-14)


def test_kkt_residual_is_zero_at_an_exact_factorization_and_scale_free():
    rng = np.random.default_rng(3)
    W, H = rng.uniform(0.1, 1, (8, 3)), rng.uniform(0.1, 1, (3, 6))
    V = W @ H
    for loss in ("frobenius", "kl"):
        assert dg.kkt_residual(V, W, H, loss) < 1e-12
    W2 = W + 0.05
    base = dg.kkt_residual(V, W2, H)
    assert base > 1e-3
    D = np.diag([0.1, 3.0, 50.0])
    assert dg.kkt_residual(V, W2 @ D, np.linalg.inv(D) @ H) == pytest.approx(base, rel=1e-10)
    assert dg.kkt_residual(7.0 * V, 7.0 * W2, H) == pytest.approx(base, rel=1e-10)


def test_kkt_residual_flags_a_zero_locked_entry():
    """An entry stuck at 0 whose gradient is negative (it wants to grow) violates KKT."""
    W, H = np.array([[1.0, 0.0]]), np.array([[1.0], [1.0]])
    V = np.array([[2.0]])  # the optimum needs W[0, 1] > 0; dW[0, 1] = WH - V = -1 < 0
    assert dg.kkt_residual(V, W, H) > 0.1


def test_zero_counts_and_dead_components():
    W = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0]])
    H = np.array([[1.0, 1.0], [5.0, 5.0], [1e-12, 0.0]])
    assert dg.zero_counts(W, H) == (3, 1)
    # Component 1 has a zero column of W; component 2's contribution is 1e-12 of the largest.
    np.testing.assert_array_equal(dg.dead_components(W, H), [1, 2])
    np.testing.assert_array_equal(dg.dead_components(W, H, rtol=1e-13), [1])


def test_svd_floor_closed_form():
    V = np.diag([3.0, 2.0, 1.0])
    objective, rel = dg.svd_floor(V, 1)
    assert objective == pytest.approx(0.5 * (4 + 1))
    assert rel == pytest.approx(np.sqrt(5 / 14))


def test_no_nmf_beats_the_svd_floor():
    import nmflab

    V = np.random.default_rng(5).uniform(0, 1, (20, 15))
    res = nmflab.nmf(V, 4, seed=0, max_iter=2000, tol=1e-8)
    floor, _ = dg.svd_floor(V, 4)
    assert res.final_objective >= floor


def test_summary_reports_zero_locking_of_an_nndsvd_start():
    import warnings

    import nmflab
    from nmflab.api import ZeroLockingWarning

    V = np.random.default_rng(1).uniform(0, 1, (30, 20))
    with pytest.warns(ZeroLockingWarning, match="exact zeros"):
        res = nmflab.nmf(V, 4, method="mu", init="nndsvd", max_iter=200)
    W0, H0 = nmflab.init.nndsvd(V, 4)
    zeros = dg.zero_counts(res.W, res.H)
    assert zeros == dg.zero_counts(W0, H0) and sum(zeros) > 0  # exactly the zeros of the start, locked
    text = res.summary(V)
    assert f"exact zeros: W {zeros[0]} of 120, H {zeros[1]} of 80" in text
    assert "KKT residual" in text and "SVD floor" in text and "monotone descent: yes" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nmflab.nmf(V, 4, method="mu", init="nndsvda", max_iter=5)  # no zeros: no warning
        nmflab.nmf(V, 4, method="hals", init="nndsvd", max_iter=5)  # HALS moves zeros: no warning
        nmflab.nmf(V, 4, init="nndsvd", method="brunet", max_iter=5)  # the floor revives zeros: no warning
