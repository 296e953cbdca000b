"""Starting points: NNDSVD against its definition and against scikit-learn; the random start."""

import numpy as np
import pytest

from nmflab import init as nmf_init


def _data(seed=0, n=20, p=12):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 4)) @ rng.uniform(0, 1, (4, p)) + 0.05 * rng.uniform(0, 1, (n, p))


def test_nndsvd_rank_one_is_the_best_rank_one_approximation():
    """For a positive matrix the leading singular vectors are positive (Perron):
    rank-1 NNDSVD is the Eckart–Young optimum s1 u1 v1^T."""
    V = _data()
    W, H = nmf_init.nndsvd(V, 1)
    U, s, Vt = np.linalg.svd(V)
    np.testing.assert_allclose(W @ H, s[0] * np.outer(U[:, 0], Vt[0]), rtol=1e-12)


def test_nndsvd_matches_scikit_learn():
    """Same algorithm, independent code. scikit-learn takes the SVD from a
    randomized solver and zeroes entries below 1e-6, hence the tolerance."""
    sk_nmf = pytest.importorskip("sklearn.decomposition._nmf")
    V = _data(1, 30, 17)
    W, H = nmf_init.nndsvd(V, 5)
    W_sk, H_sk = sk_nmf._initialize_nmf(V, 5, init="nndsvd", random_state=0)
    np.testing.assert_allclose(W, W_sk, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H, H_sk, rtol=1e-5, atol=1e-6)


def test_nndsvd_has_zeros_and_the_variants_fill_them():
    V = _data(2)
    W, H = nmf_init.nndsvd(V, 4, "nndsvd")
    assert (W == 0).sum() + (H == 0).sum() > 0
    Wa, Ha = nmf_init.nndsvd(V, 4, "nndsvda")
    assert np.all(Wa[W == 0] == V.mean()) and np.all(Ha[H == 0] == V.mean())
    np.testing.assert_array_equal(Wa[W > 0], W[W > 0])
    Wr, Hr = nmf_init.nndsvd(V, 4, "nndsvdar", rng=np.random.default_rng(1))
    assert np.all(Wr[W == 0] > 0) and np.all(Wr[W == 0] <= 0.01 * V.mean())


def test_nndsvd_of_a_matrix_of_lower_rank_leaves_components_finite():
    V = np.outer(np.arange(1.0, 7.0), np.arange(1.0, 5.0))  # rank 1
    W, H = nmf_init.nndsvd(V, 3)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
    np.testing.assert_allclose(W @ H, V, rtol=1e-10)


def test_randomized_svd_matches_lapack_on_a_large_matrix():
    rng = np.random.default_rng(3)
    V = rng.uniform(0, 1, (1500, 8)) @ rng.uniform(0, 1, (8, 1200)) + 1e-3 * rng.uniform(0, 1, (1500, 1200))
    U, s, Vt = nmf_init.truncated_svd(V, 6, rng)
    s_exact = np.linalg.svd(V, compute_uv=False)[:6]
    np.testing.assert_allclose(s, s_exact, rtol=1e-8)
    np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-10)


def test_random_start_is_scaled_to_the_data():
    rng = np.random.default_rng(4)
    V = 1000 * _data(3)
    W, H = nmf_init.random_start(V, 4, rng)
    assert W.min() >= 0 and H.min() >= 0
    # E|N(0,1)|^2 = 2/pi per product, times rank terms: mean(WH) ≈ (2/pi) * mean(V).
    assert np.mean(W @ H) == pytest.approx(2 / np.pi * V.mean(), rel=0.3)
