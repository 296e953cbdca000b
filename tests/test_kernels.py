"""The compiled primitives (numba) against their pure NumPy forms: the same KL coordinate-descent and HALS iterates.

Skipped without numba (``pip install 'nmflab[fast]'``); the pure path is what every other test runs where
numba is absent, and ``NMFLAB_COMPILED=0`` selects it here.
"""

import numpy as np
import pytest

import nmflab
from nmflab import _kernels
from nmflab.losses import Penalty
from nmflab.rules import hals, kl_cd

pytestmark = pytest.mark.skipif(not _kernels.installed(), reason="numba not installed (pip install 'nmflab[fast]')")


def _fit(monkeypatch, compiled, V, r, loss="kl", method="cd", **options):
    monkeypatch.setenv("NMFLAB_COMPILED", "1" if compiled else "0")
    assert _kernels.available() == compiled
    rng = np.random.default_rng(1)
    W0, H0 = rng.random((V.shape[0], r)) + 0.1, rng.random((r, V.shape[1])) + 0.1
    return nmflab.nmf(V, r, loss=loss, method=method,
                      init=(W0.astype(V.dtype), H0.astype(V.dtype)), max_iter=15, stop="max_iter", check_every=1,
                      **options)


@pytest.mark.parametrize("shape", [(300, 40), (40, 300), (700, 700)])  # short and long rows; several cache blocks
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_sweeps_give_the_pure_iterates(monkeypatch, shape, weighted):
    rng = np.random.default_rng(0)
    V = rng.poisson(rng.random((shape[0], 4)) @ rng.random((4, shape[1])) * 2).astype(float)
    options = dict(mask=rng.random(shape) > 0.2) if weighted else {}
    options.update(l1_H=0.01, l2_W=0.1)
    pure = _fit(monkeypatch, False, V, 4, **options)
    fast = _fit(monkeypatch, True, V, 4, **options)
    np.testing.assert_allclose(fast.W, pure.W, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fast.H, pure.H, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fast.objective, pure.objective, rtol=1e-12)


def test_float32_stays_float32_and_agrees_to_its_precision(monkeypatch):
    rng = np.random.default_rng(2)
    V = rng.poisson(rng.random((200, 3)) @ rng.random((3, 90)) * 3).astype(np.float32)
    pure = _fit(monkeypatch, False, V, 3)
    fast = _fit(monkeypatch, True, V, 3)
    assert fast.W.dtype == np.float32
    np.testing.assert_allclose(fast.objective, pure.objective, rtol=1e-4)


@pytest.mark.parametrize("side", ["W", "H"])
def test_the_primitives_equal_their_numpy_forms(side):
    """Zeros of V and of WH, weights with zeros: the three sums and the rank-one correction as NumPy forms them."""
    rng = np.random.default_rng(3)
    V = rng.random((30, 20)) * (rng.random((30, 20)) > 0.3)
    WH = rng.random((30, 20)) * (rng.random((30, 20)) > 0.1)
    M = (rng.random((30, 20)) > 0.25).astype(float)
    g = rng.random(20 if side == "W" else 30)
    for weights in (None, M):
        expected = kl_cd._newton_sums_numpy(V, WH, weights, g, side)
        for got, want in zip(_kernels.newton_sums(V, WH, weights, g, side), expected):
            np.testing.assert_allclose(got, want, rtol=1e-12)
    d = rng.standard_normal(30 if side == "W" else 20)
    outer = d[:, None] * g[None, :] if side == "W" else g[:, None] * d[None, :]
    np.testing.assert_allclose(_kernels.add_outer(WH.copy(), d, g, side), WH + outer, rtol=1e-15)


@pytest.mark.parametrize("shape", [(300, 40), (40, 300)])
def test_compiled_sparse_sweeps_give_the_pure_iterates(monkeypatch, shape):
    import scipy.sparse

    rng = np.random.default_rng(4)
    V = rng.poisson(rng.random((shape[0], 4)) @ rng.random((4, shape[1])) * 0.7).astype(float)
    V[:, 0] = 0.0  # an empty column (a segment without entries)
    S = scipy.sparse.csr_matrix(V)
    pure = _fit(monkeypatch, False, S, 4, l1_W=0.01)
    fast = _fit(monkeypatch, True, S, 4, l1_W=0.01)
    np.testing.assert_allclose(fast.W, pure.W, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fast.H, pure.H, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fast.objective, pure.objective, rtol=1e-12)


@pytest.mark.parametrize("method", ["hals", "e-hals", "plain"])
@pytest.mark.parametrize("sparse", [False, True])
def test_compiled_hals_sweeps_give_the_pure_iterates(monkeypatch, method, sparse):
    """Dense and sparse V, penalties on both factors, several inner sweeps (tall V) and one (plain HALS)."""
    import scipy.sparse

    rng = np.random.default_rng(5)
    V = rng.random((400, 5)) @ rng.random((5, 30)) + 0.01 * rng.random((400, 30))
    if sparse:
        V = scipy.sparse.csr_matrix(V * (rng.random(V.shape) > 0.3))
    options = dict(l1_W=0.05, l2_H=0.1)
    if method == "plain":  # one sweep per factor
        method, options = hals.HALS(alpha=0.0, penalty=Penalty(l1_W=0.05, l2_H=0.1)), {}
    pure = _fit(monkeypatch, False, V, 5, loss="frobenius", method=method, **options)
    fast = _fit(monkeypatch, True, V, 5, loss="frobenius", method=method, **options)
    np.testing.assert_allclose(fast.W, pure.W, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fast.H, pure.H, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fast.objective, pure.objective, rtol=1e-12)


@pytest.mark.parametrize("l1", [0.0, 0.3])
@pytest.mark.parametrize("max_sweeps", [1, 2, 40])
def test_the_hals_primitive_equals_the_numpy_sweeps(monkeypatch, l1, max_sweeps):
    """A dead component (zero Gram diagonal: kept, or zeroed under L1) and the early stop of the inner sweeps."""
    rng = np.random.default_rng(6)
    G = rng.random((4, 50))
    G[2] = 0.0  # the other factor's component 2 is 0: row 2 of X is dead
    Y = rng.random((50, 60))
    X = rng.random((4, 60))
    A, B = G @ Y, G @ G.T
    monkeypatch.setenv("NMFLAB_COMPILED", "0")
    want = hals._rows(np, X, A, B, l1, 0.0, max_sweeps, 0.1)
    monkeypatch.setenv("NMFLAB_COMPILED", "1")
    got = hals._rows(np, X, A, B, l1, 0.0, max_sweeps, 0.1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(got[2], 0.0 if l1 else X[2])
    assert not np.shares_memory(got, X)


def test_compiled_hals_keeps_float32(monkeypatch):
    rng = np.random.default_rng(7)
    V = (rng.random((200, 3)) @ rng.random((3, 90))).astype(np.float32)
    pure = _fit(monkeypatch, False, V, 3, loss="frobenius", method="hals")
    fast = _fit(monkeypatch, True, V, 3, loss="frobenius", method="hals")
    assert fast.W.dtype == fast.H.dtype == np.float32
    np.testing.assert_allclose(fast.objective, pure.objective, rtol=1e-4)
