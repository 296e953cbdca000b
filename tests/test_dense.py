"""KL products formed a block of rows at a time (nmflab._dense) against the written-out n x p forms."""

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


@pytest.mark.parametrize("eps", [0.0, 1e-9])
@pytest.mark.parametrize("weighted", [False, True])
def test_ratio_products_equal_the_written_out_forms(rng, small_blocks, eps, weighted):
    V, W, H, M = _problem(rng)
    M = M if weighted else None
    assert len(_dense._row_blocks(*V.shape)) == 7
    ratio = divide(np, V, W @ H, eps, 0.0) * (1.0 if M is None else M)
    np.testing.assert_allclose(_dense.ratio_product(V, W, H, eps, "H", M), W.T @ ratio, rtol=1e-13)
    np.testing.assert_allclose(_dense.ratio_product(V, W, H, eps, "W", M), ratio @ H.T, rtol=1e-13)


@pytest.mark.parametrize("weighted", [False, True])
def test_blocked_kl_divergence_equals_the_whole(rng, small_blocks, weighted):
    V, W, H, M = _problem(rng)
    W[0, :] = 0.1
    M = M if weighted else None
    assert _dense.kl_divergence(V, W, H, M) == pytest.approx(losses.kl_divergence(np, V, W @ H, M), rel=1e-13)


def test_applies_to_large_dense_numpy_data_only(rng):
    import scipy.sparse

    big = np.ones((2**11, 2**11))
    assert _dense.applies(np, big)
    assert not _dense.applies(np, big[:, :2**10 - 1])
    assert not _dense.applies(np, scipy.sparse.csr_matrix(big))
    jnp = pytest.importorskip("jax.numpy")
    assert not _dense.applies(jnp, jnp.ones((2**11, 2**11)))


def test_kl_mu_fit_in_blocks_has_the_iterates_of_the_written_out_fit(rng, monkeypatch):
    V, W0, H0 = random_problem(rng, 30, 11, 3, noise=0.3)
    mask = rng.uniform(size=V.shape) > 0.2
    kw = dict(loss="kl", method="mu", init=(W0, H0), mask=mask, l1_H=0.1, l2_W=0.2, max_iter=40, stop="max_iter",
              check_every=1, backend="numpy")
    whole = nmflab.nmf(V, 3, **kw)
    monkeypatch.setattr(_dense, "BLOCK_ENTRIES", 44)
    monkeypatch.setattr(_dense, "MIN_ENTRIES", 1)
    assert "row_blocks" in nmflab.api.make_rule("kl", "mu").prepare(np, V)
    blocked = nmflab.nmf(V, 3, **kw)
    np.testing.assert_allclose(blocked.W, whole.W, rtol=1e-11)
    np.testing.assert_allclose(blocked.H, whole.H, rtol=1e-11)
    np.testing.assert_allclose(blocked.objective, whole.objective, rtol=1e-12)
