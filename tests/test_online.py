"""Online NMF (``nmflab.online``): the statistics, the steps against hand-written ones, streams, memory, errors."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse

import nmflab
from nmflab import Status
from nmflab.online import OnlineNMF, online_nmf


def _low_rank(seed=0, n=400, p=30, rank=3, noise=0.0):
    rng = np.random.default_rng(seed)
    return rng.random((n, rank)) @ rng.random((rank, p)) + noise * rng.random((n, p))


def test_replaced_statistics_are_the_batch_products_of_the_current_weights():
    """With each revisited block's statistics replaced, A = W^T W and B = W^T V over every row (Mairal et al. 3.4.3)."""
    V = _low_rank(1, noise=0.1)
    state = OnlineNMF(3, method="hals", forgetting=1.0, seed=0)
    W_all = np.zeros((400, 3))
    for sweep in range(3):
        for lo in range(0, 400, 64):
            rows = slice(lo, lo + 64)
            old = W_all[rows].copy() if sweep else None
            W, _ = state.partial_fit(V[rows], old, old)
            W_all[rows] = W
        np.testing.assert_allclose(state.A, W_all.T @ W_all, rtol=1e-10)
        np.testing.assert_allclose(state.B, W_all.T @ V, rtol=1e-10)


def test_one_block_of_exact_steps_is_batch_anls():
    """One block holding every row: a pass solves W for H, then H for W, exactly: batch ANLS from (argmin_W(H0), H0)."""
    V = _low_rank(2, n=60, noise=0.2)
    H0 = np.random.default_rng(3).random((3, 30))
    online = online_nmf(V, 3, method="anls", block_rows=60, H=H0, max_iter=4, stop="max_iter")
    W1 = nmflab.fit_weights(V, H0, method="anls", max_iter=1, stop="max_iter").W
    batch = nmflab.nmf(V, 3, method="anls", init=(W1, H0), max_iter=4, stop="max_iter")
    np.testing.assert_allclose(online.H, batch.H, rtol=1e-8, atol=1e-12)
    assert online.passes == 4 and online.status == Status.MAX_ITER


def test_kl_steps_are_lee_and_seung_with_accumulated_terms():
    """A KL block: one multiplicative step on W for H, then H from the accumulated numerator and denominator
    (A = rho A + H N, B = rho B + D, H = A / B), written out here by hand."""
    rng = np.random.default_rng(4)
    V = rng.random((50, 20)) + 0.1
    H0, W0 = rng.random((3, 20)) + 0.1, rng.random((50, 3)) + 0.1
    state = OnlineNMF(3, loss="kl", method="mu", forgetting=0.5, block_iter=1, block_tol=0.0, eps=0.0, H=H0)
    A = B = None
    H = H0
    for block in (V[:25], V[25:], V[:25]):
        W_start = W0[: len(block)]
        W = W_start * ((block / (W_start @ H)) @ H.T) / H.sum(axis=1)[None, :]
        numerator, denominator = W.T @ (block / (W @ H)), W.sum(axis=0)[:, None] * np.ones((1, 20))
        A = H * numerator if A is None else 0.5 * A + H * numerator
        B = denominator if B is None else 0.5 * B + denominator
        H = A / B
        W_online, _ = state.partial_fit(block, W_start)
        np.testing.assert_allclose(W_online, W, rtol=1e-12)
        np.testing.assert_allclose(state.H, H, rtol=1e-12)


@pytest.mark.parametrize("method", ["hals", "anls", "mu"])
def test_passes_over_an_array_descend_to_the_batch_fit(method):
    """Exact rank-3 data: passes with replaced statistics drive the loss toward 0, as batch fits do."""
    V = _low_rank(5)
    res = online_nmf(V, 3, method=method, block_rows=50, seed=1, max_iter=60, stop="max_iter")
    exact = 0.5 * np.sum((V - res.W @ res.H) ** 2)
    start = 0.5 * np.sum(V**2)
    assert exact < 1e-3 * start
    assert res.objective[-1] < res.objective[0]
    assert res.W.shape == (400, 3) and res.rows[-1] == 60 * 400


def test_a_stream_is_one_pass_and_keeps_no_weights():
    V = _low_rank(6, noise=0.1)
    blocks = (V[lo:lo + 40] for lo in range(0, 400, 40))
    res = online_nmf(blocks, 3, seed=2, check_every=4)
    assert res.passes == 1 and res.W is None and res.block_rows is None
    np.testing.assert_array_equal(res.rows, [160, 320, 400])
    again = online_nmf(lambda: (V[lo:lo + 40] for lo in range(0, 400, 40)), 3, seed=2, check_every=4, max_iter=3,
                       stop="max_iter")
    assert again.passes == 3 and len(again.objective) == 8  # 30 blocks: checks after 4, 8, ..., 28 and the last 2
    np.testing.assert_allclose(again.objective[:2], res.objective[:2], rtol=1e-12)  # the same first pass


def test_sparse_blocks_give_the_dense_fit():
    V = _low_rank(7, noise=0.1)
    V[V < 0.6] = 0.0
    a = online_nmf(scipy.sparse.csr_matrix(V), 3, method="anls", block_rows=100, seed=3, max_iter=5, stop="max_iter")
    b = online_nmf(V, 3, method="anls", block_rows=100, seed=3, max_iter=5, stop="max_iter")
    np.testing.assert_allclose(a.H, b.H, rtol=1e-9, atol=1e-12)


def test_the_objective_rule_stops_a_converged_fit():
    V = _low_rank(8, noise=0.05)
    res = online_nmf(V, 3, block_rows=100, seed=4, tol=1e-3, max_iter=500)
    assert res.status == Status.CONVERGED and res.passes < 500
    last, before = res.objective[-1], res.objective[-2]
    assert abs(before - last) <= 1e-3 * before


def test_an_array_on_disk_is_fitted_a_block_at_a_time(tmp_path):
    """Peak memory of the fit of a 16 MB memory-mapped array: a few blocks (800 KB each) and the factors, not V."""
    n, p, rows = 20000, 100, 1000
    path = tmp_path / "V.npy"
    np.save(path, _low_rank(9, n=n, p=p, rank=5, noise=0.1))
    V = np.load(path, mmap_mode="r")
    tracemalloc.start()
    try:
        res = online_nmf(V, 5, block_rows=rows, seed=5, max_iter=2, stop="max_iter")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    block, factors = rows * p * 8, (n * 5 + 5 * p) * 8
    assert peak < 4 * block + 2 * factors, peak
    assert peak < n * p * 8 / 4  # far from V's 16 MB
    assert res.W.shape == (n, 5)


@pytest.mark.parametrize("source, options, error, message", [
    (np.ones((10, 4)), dict(method="cd", loss="kl"), ValueError, "online kl fits take 'mu'"),
    (np.ones((10, 4)), dict(method="lee"), ValueError, "online Frobenius fits take"),
    (np.ones((10, 4)), dict(forgetting=0.0), ValueError, "forgetting must be in"),
    (np.ones((10, 4)), dict(stop="kkt"), ValueError, "stop"),
    (np.zeros((0, 4)), {}, ValueError, "non-empty"),
    (-np.ones((10, 4)), {}, ValueError, "egative"),
    (iter([np.ones((5, 4)), np.ones((5, 3))]), {}, ValueError, "same columns"),
    (iter([]), {}, ValueError, "no blocks"),
    (42, {}, TypeError, "source must be"),
    (np.ones((10, 4)), dict(H=np.ones((3, 4))), ValueError, r"H must have shape \(2, 4\)"),
    (np.ones((10, 4)), dict(H=-np.ones((2, 4))), ValueError, "H must be non-negative"),
    (np.ones((10, 4)), dict(H=np.ones((2, 5))), ValueError, "a block has 4 columns, the parts 5"),
])
def test_bad_sources_and_options_are_refused(source, options, error, message):
    with pytest.raises(error, match=message):
        online_nmf(source, 2, **options)


def test_the_estimator_learns_online_with_partial_fit():
    """Blocks of exact rank-3 data, 40 passes: the parts reconstruct X to a small fraction of its norm (from a
    random start at about 100 %)."""
    X = _low_rank(10)
    model = nmflab.NMF(3, random_state=0, forgetting=0.7)
    for _ in range(40):
        for lo in range(0, 400, 100):
            model.partial_fit(X[lo:lo + 100])
    assert model.components_.shape == (3, 30) and model.n_steps_ == 160
    W = model.transform(X)
    assert np.linalg.norm(X - W @ model.components_) < 5e-3 * np.linalg.norm(X)
    other = nmflab.NMF(3, random_state=0, forgetting=1.0)
    other.partial_fit(X[:100])
    first = nmflab.NMF(3, random_state=0, forgetting=1.0).partial_fit(X[:100])
    np.testing.assert_array_equal(other.components_, first.components_)
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[:, :10])


@pytest.mark.parametrize("loss, method", [("frobenius", "anls"), ("kl", "mu"), (0.5, "mu")])
def test_auto_takes_the_online_rule_of_the_loss(loss, method):
    assert OnlineNMF(12, loss=loss).rule.method == method  # at rank 12, batch "auto" would take HALS, MU, MU
    assert OnlineNMF(2, loss="kl").rule.method == "mu"  # where batch "auto" takes coordinate descent
