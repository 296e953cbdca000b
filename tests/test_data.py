"""The data layer: every storage of V gives the products and losses of the written-out formulas."""

import numpy as np
import pytest
import scipy.sparse

from nmflab import losses
from nmflab._xp import divide
from nmflab import parallel
from nmflab.data import Blocked, Dense, Sparse, as_data, blocked, rows, sparse, storage_kind

from ._problems import random_problem


def _problem(rng, weighted):
    V, W, H = random_problem(rng, 20, 11, 3, noise=0.3)
    V[rng.uniform(size=V.shape) < 0.3] = 0.0
    W[0, :] = 0.0  # a zero row of WH: the guarded ratio's 0 / 0
    M = (rng.uniform(size=V.shape) > 0.3).astype(float) if weighted else None
    return V, W, H, M


@pytest.fixture(params=[False, True], ids=["whole", "threaded"])
def small_blocks(request, monkeypatch):
    """Blocks of 3 rows (p = 11, a ragged last block) and of 7 stored entries; dense parts whole or threaded."""
    monkeypatch.setattr(rows, "BLOCK_ENTRIES", 33)
    monkeypatch.setattr(sparse, "_GATHER", 7)
    if request.param:
        _threaded(monkeypatch)


def _threaded(monkeypatch):
    """Dense NumPy elementwise parts by blocks of rows on two threads, whatever the size and the machine."""
    monkeypatch.setattr(rows, "THREADED_ENTRIES", 1)
    monkeypatch.setattr(parallel, "pool_threads", lambda: 2)


def _storages(V, M):
    """Every storage that can hold this V (sparse takes no weights), with its namespace."""
    out = [("dense", np, Dense.build(np, V, M)), ("blocked", np, Blocked.build(np, V, M))]
    if M is None:
        out.append(("sparse", np, Sparse.build(np, scipy.sparse.csr_matrix(V))))
    try:
        import jax.numpy as jnp
    except ImportError:
        return out
    out.append(("jax", jnp, Dense.build(jnp, jnp.asarray(V), None if M is None else jnp.asarray(M))))
    return out


@pytest.fixture
def x64():
    """JAX float64 for the duration of one test (the suite never switches it on globally)."""
    try:
        import jax
    except ImportError:
        yield
        return
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 1e-9])
def test_every_storage_forms_the_written_out_products(rng, small_blocks, x64, weighted, eps):
    V, W, H, M = _problem(rng, weighted)
    ones = np.ones_like(V) if M is None else M
    WH = W @ H
    ratio = divide(np, V, WH, eps, 0.0) * ones
    for name, xp, data in _storages(V, M):
        assert data.kind == name.replace("jax", "dense") and data.shape == V.shape and data.weighted == weighted
        assert data.entries == (np.count_nonzero(V) if name == "sparse" else V.size)
        Wx, Hx = xp.asarray(W), xp.asarray(H)
        np.testing.assert_allclose(np.asarray(data.left(Wx)), W.T @ (ones * V), rtol=1e-13, err_msg=name)
        np.testing.assert_allclose(np.asarray(data.right(Hx)), (ones * V) @ H.T, rtol=1e-13, err_msg=name)
        np.testing.assert_allclose(np.asarray(data.weight_sums(Wx, "H")) + 0 * H, W.T @ ones + 0 * H, rtol=1e-13)
        np.testing.assert_allclose(np.asarray(data.weight_sums(Hx, "W")) + 0 * W, ones @ H.T + 0 * W, rtol=1e-13)
        stored = (lambda V_, WH_: divide(xp, V_, WH_, eps, 0.0),)
        everywhere = (lambda WH_: WH_ * WH_,)
        for carried in (data.fitted(Wx, Hx), None):
            h_ratio, h_square = data.products(Wx, Hx, carried, "H", stored=stored, everywhere=everywhere)
            w_ratio, w_square = data.products(Wx, Hx, carried, "W", stored=stored, everywhere=everywhere)
            np.testing.assert_allclose(np.asarray(h_ratio), W.T @ ratio, rtol=1e-13, err_msg=name)
            np.testing.assert_allclose(np.asarray(w_ratio), ratio @ H.T, rtol=1e-13, err_msg=name)
            np.testing.assert_allclose(np.asarray(h_square), W.T @ (ones * WH**2), rtol=1e-13, err_msg=name)
            np.testing.assert_allclose(np.asarray(w_square), (ones * WH**2) @ H.T, rtol=1e-13, err_msg=name)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("beta", [2.0, 1.0, 0.5, 1.5, 3.0])
def test_every_storage_gives_the_divergence(rng, small_blocks, x64, weighted, beta):
    V, W, H, M = _problem(rng, weighted)
    W[0, :] = 0.1
    expected = losses.beta_divergence(np, V, W @ H, beta, M)
    if beta == 2:
        assert expected == pytest.approx(0.5 * np.sum((1.0 if M is None else M) * (V - W @ H) ** 2), rel=1e-13)
    for name, xp, data in _storages(V, M):
        Wx, Hx = xp.asarray(W), xp.asarray(H)
        for carried in (data.fitted(Wx, Hx), None):
            assert float(data.divergence(beta, Wx, Hx, carried)) == pytest.approx(expected, rel=1e-12), name


def test_frobenius_from_products_and_its_guard_on_every_storage(rng, x64):
    V, W, H, _ = _problem(rng, False)
    W[0, :] = 0.1
    for name, xp, data in _storages(V, None):
        Wx, Hx = xp.asarray(W), xp.asarray(H)
        value = data.frobenius(Wx, Hx, data.right(Hx), Hx @ Hx.T)
        assert float(value) == pytest.approx(0.5 * np.sum((V - W @ H) ** 2), rel=1e-12), name
    # near an exact fit the identity cancels; dense storages form the residual instead
    exact = W @ H
    Hp = H * (1 + 1e-9)
    truth = 0.5 * np.sum((exact - W @ Hp) ** 2)
    for name, xp, data in _storages(exact, None):
        Wx, Hx = xp.asarray(W), xp.asarray(Hp)
        value = float(data.frobenius(Wx, Hx, data.right(Hx), Hx @ Hx.T))
        if name == "sparse":
            assert value >= 0.0  # the identity alone, never below zero
        else:
            assert value == pytest.approx(truth, rel=1e-6), name


def test_residual_and_kkt_need_dense_storage(rng):
    V, W, H, M = _problem(rng, True)
    data = as_data(np, V, M)
    np.testing.assert_array_equal(data.residual(W, H), V - W @ H)
    assert data.kkt_residual(2.0, W, H) == pytest.approx(float(losses.kkt_residual(np, 2.0, V, W, H, M)))
    sparse_data = as_data(np, scipy.sparse.csr_matrix(V))
    with pytest.raises(ValueError, match="needs dense"):
        sparse_data.residual(W, H)
    with pytest.raises(ValueError, match="needs dense gradients"):
        sparse_data.kkt_residual(2.0, W, H)
    with pytest.raises(ValueError, match="masks are for dense input"):
        as_data(np, scipy.sparse.csr_matrix(V), M)


def test_storage_is_chosen_from_the_data_and_backend():
    big = np.broadcast_to(np.float64(1.0), (2**12, 2**12))  # 2**24 entries, no memory
    assert storage_kind(np, big) == "blocked"
    assert storage_kind(np, big[:, :2**12 - 1]) == "dense"
    assert storage_kind(np, scipy.sparse.random(2**12, 2**12, density=1e-4, format="csr")) == "sparse"
    jnp = pytest.importorskip("jax.numpy")
    assert storage_kind(jnp, jnp.broadcast_to(jnp.float32(1.0), (2**12, 2**12))) == "dense"


@pytest.mark.parametrize("loss", ["kl", 0.5, "itakura-saito"])
def test_mu_fit_in_blocks_has_the_iterates_of_the_written_out_fit(rng, monkeypatch, loss):
    import nmflab

    V, W0, H0 = random_problem(rng, 30, 11, 3, noise=0.3)
    mask = rng.uniform(size=V.shape) > 0.2
    kw = dict(loss=loss, method="mu", init=(W0, H0), mask=mask, l1_H=0.1, l2_W=0.2, max_iter=40, stop="max_iter",
              check_every=1, backend="numpy")
    whole = nmflab.nmf(V, 3, **kw)
    monkeypatch.setattr(rows, "BLOCK_ENTRIES", 44)
    monkeypatch.setattr(blocked, "MIN_ENTRIES", 1)
    assert storage_kind(np, V) == "blocked"
    fitted_in_blocks = nmflab.nmf(V, 3, **kw)
    np.testing.assert_allclose(fitted_in_blocks.W, whole.W, rtol=1e-11)
    np.testing.assert_allclose(fitted_in_blocks.H, whole.H, rtol=1e-11)
    np.testing.assert_allclose(fitted_in_blocks.objective, whole.objective, rtol=1e-12)


def test_elementwise_parts_by_rows_on_threads_are_those_of_the_whole_arrays(rng, monkeypatch):
    V = rng.uniform(size=(23, 7))
    WH = rng.uniform(size=(23, 7))
    WH[3] = 0.0
    f = lambda V_, WH_: np.log1p(divide(np, V_, WH_, 0.0, 0.0)) * WH_  # noqa: E731
    whole = f(V, WH)
    monkeypatch.setattr(rows, "BLOCK_ENTRIES", 15)  # blocks of 2 rows, the last of one
    _threaded(monkeypatch)
    by_rows = rows.elementwise_by_rows(f, V, WH)
    assert by_rows.dtype == whole.dtype
    np.testing.assert_array_equal(by_rows, whole)
    np.testing.assert_array_equal(rows.elementwise_by_rows(f, V.astype(np.float32), WH.astype(np.float32)),
                                  f(V.astype(np.float32), WH.astype(np.float32)))


@pytest.mark.parametrize("loss", ["kl", 0.5])
@pytest.mark.parametrize("masked", [False, True])
def test_mu_fit_with_threaded_parts_has_the_iterates_of_the_whole_fit(rng, monkeypatch, loss, masked):
    import nmflab

    V, W0, H0 = random_problem(rng, 30, 11, 3, noise=0.3)
    kw = dict(loss=loss, method="mu", init=(W0, H0), mask=(rng.uniform(size=V.shape) > 0.2) if masked else None,
              max_iter=30, stop="max_iter", check_every=1, backend="numpy")
    whole = nmflab.nmf(V, 3, **kw)
    monkeypatch.setattr(rows, "BLOCK_ENTRIES", 44)
    _threaded(monkeypatch)
    threaded = nmflab.nmf(V, 3, **kw)
    np.testing.assert_array_equal(threaded.W, whole.W)  # the same operations on every entry
    np.testing.assert_array_equal(threaded.H, whole.H)
    np.testing.assert_allclose(threaded.objective, whole.objective, rtol=1e-13)  # the sums in another order
