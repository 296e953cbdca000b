"""Products with a function of WH formed a block of rows at a time (nmflab._dense) against the written-out forms."""

import numpy as np
import pytest

import nmflab
from nmflab import _dense, losses
from nmflab.rules._common import divide

from ._problems import random_problem


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 3 rows (p = 11) and the blocked path for any V: a ragged last block included."""
    monkeypatch.setattr(_dense, "BLOCK_ENTRIES", 33)
    monkeypatch.setattr(_dense, "MIN_ENTRIES", 1)


def _problem(rng):
    V, W, H = random_problem(rng, 20, 11, 3, noise=0.3)
    V[rng.uniform(size=V.shape) < 0.2] = 0.0
    W[0, :] = 0.0  # a zero row of WH: the guarded ratio's 0 / 0
    M = (rng.uniform(size=V.shape) > 0.3).astype(float)
    return V, W, H, M


def _kl_parts(eps):
    return lambda V, WH, M: (divide(np, V, WH, eps, 0.0) * (1.0 if M is None else M),)


@pytest.mark.parametrize("eps", [0.0, 1e-9])
@pytest.mark.parametrize("weighted", [False, True])
def test_products_equal_the_written_out_forms(rng, small_blocks, eps, weighted):
    V, W, H, M = _problem(rng)
    M = M if weighted else None
    assert len(_dense.row_blocks(*V.shape)) == 7
    ratio = divide(np, V, W @ H, eps, 0.0) * (1.0 if M is None else M)
    square = lambda V_, WH, M_: (*_kl_parts(eps)(V_, WH, M_), WH * WH)  # noqa: E731  two arrays per block
    (h_side,) = _dense.products(V, W, H, _kl_parts(eps), "H", M)
    np.testing.assert_allclose(h_side, W.T @ ratio, rtol=1e-13)
    w_ratio, w_square = _dense.products(V, W, H, square, "W", M)
    np.testing.assert_allclose(w_ratio, ratio @ H.T, rtol=1e-13)
    np.testing.assert_allclose(w_square, (W @ H) ** 2 @ H.T, rtol=1e-13)
    _, h_square = _dense.products(V, W, H, square, "H", M)
    np.testing.assert_allclose(h_square, W.T @ (W @ H) ** 2, rtol=1e-13)


@pytest.mark.parametrize("weighted", [False, True])
def test_blocked_sum_equals_the_whole(rng, small_blocks, weighted):
    V, W, H, M = _problem(rng)
    W[0, :] = 0.1
    M = M if weighted else None
    total = _dense.total(V, W, H, lambda V_, WH, M_: losses.kl_divergence(np, V_, WH, M_), M)
    assert total == pytest.approx(losses.kl_divergence(np, V, W @ H, M), rel=1e-13)


def test_applies_to_large_dense_numpy_data_only(rng):
    import scipy.sparse

    big = np.broadcast_to(np.float64(1.0), (2**12, 2**12))  # 2**24 entries, no memory
    assert _dense.applies(np, big)
    assert not _dense.applies(np, big[:, :2**12 - 1])
    assert not _dense.applies(np, scipy.sparse.random(2**12, 2**12, density=1e-4, format="csr"))
    jnp = pytest.importorskip("jax.numpy")
    assert not _dense.applies(jnp, jnp.broadcast_to(jnp.float32(1.0), (2**12, 2**12)))


@pytest.mark.parametrize("loss", ["kl", 0.5, "itakura-saito"])
def test_mu_fit_in_blocks_has_the_iterates_of_the_written_out_fit(rng, monkeypatch, loss):
    V, W0, H0 = random_problem(rng, 30, 11, 3, noise=0.3)
    mask = rng.uniform(size=V.shape) > 0.2
    kw = dict(loss=loss, method="mu", init=(W0, H0), mask=mask, l1_H=0.1, l2_W=0.2, max_iter=40, stop="max_iter",
              check_every=1, backend="numpy")
    whole = nmflab.nmf(V, 3, **kw)
    monkeypatch.setattr(_dense, "BLOCK_ENTRIES", 44)
    monkeypatch.setattr(_dense, "MIN_ENTRIES", 1)
    assert "row_blocks" in nmflab.api.make_rule(loss, "mu").prepare(np, V)
    blocked = nmflab.nmf(V, 3, **kw)
    np.testing.assert_allclose(blocked.W, whole.W, rtol=1e-11)
    np.testing.assert_allclose(blocked.H, whole.H, rtol=1e-11)
    np.testing.assert_allclose(blocked.objective, whole.objective, rtol=1e-12)
