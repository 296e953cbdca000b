"""Sketched fits (``nmf(sketch=...)``): the range finder, the compressed data, what the Result reports."""

import json

import numpy as np
import pytest
import scipy.sparse

import nmflab
import nmflab.io
from nmflab.data import Compressed, as_data
from nmflab.sketch import Sketch, range_finder, sketch

from .conftest import HAVE_JAX

SKETCH_STREAM = (2**32 - 1,)


def _low_rank(seed=0, n=60, p=40, rank=4, noise=0.0):
    rng = np.random.default_rng(seed)
    return rng.random((n, rank)) @ rng.random((rank, p)) + noise * rng.random((n, p))


def test_the_range_of_an_exact_low_rank_matrix_is_found_exactly():
    """A rank-4 V lies in the span of 4 + a few Gaussian directions: Q is orthonormal and Q Q^T V = V."""
    V = _low_rank()
    for q in (0, 1, 3):
        Q = range_finder(V, 7, q, np.random.default_rng(q))
        np.testing.assert_allclose(Q.T @ Q, np.eye(7), atol=1e-12)
        np.testing.assert_allclose(Q @ (Q.T @ V), V, atol=1e-12 * np.abs(V).max())


def test_power_iterations_bring_the_error_to_the_optimal_one():
    """With a slowly decaying spectrum the residual of a rank-l sketch approaches the best rank-l error (Eckart–Young:
    the tail of the singular values), and the power iterations close most of the gap."""
    rng = np.random.default_rng(1)
    U, _ = np.linalg.qr(rng.standard_normal((300, 100)))
    Vt, _ = np.linalg.qr(rng.standard_normal((200, 100)))
    s = 1.0 / np.arange(1, 101) ** 0.5
    V = (U * s) @ Vt.T
    best = np.sqrt(np.sum(s[10:] ** 2) / np.sum(s**2))
    errors = []
    for q in (0, 2):
        _, residual = sketch(V, 10, q, np.random.default_rng(2))
        errors.append(residual)
    assert best <= errors[1] < errors[0]
    assert errors[1] < 1.05 * best


@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_the_reported_residual_is_that_of_the_sketch(storage):
    rng = np.random.default_rng(3)
    V = _low_rank(3, noise=0.3)
    V[rng.random(V.shape) < 0.5] = 0.0
    X = scipy.sparse.csr_matrix(V) if storage == "sparse" else V
    qb, residual = sketch(X, 6, 1, np.random.default_rng(4))
    assert isinstance(qb.B, np.ndarray) and qb.B.shape == (6, 40)
    np.testing.assert_allclose(residual, np.linalg.norm(V - qb.Q @ qb.B) / np.linalg.norm(V), rtol=1e-6)
    assert qb.largest == V.max()


def test_the_compressed_data_forms_the_products_of_q_b():
    """Every product and loss of the Compressed data equals the same of the dense matrix Q B, formed."""
    V = _low_rank(5, noise=0.2)
    qb, _ = sketch(V, 6, 1, np.random.default_rng(5))
    data, dense = as_data(np, qb), as_data(np, qb.Q @ qb.B)
    assert isinstance(data, Compressed) and data.entries == (60 + 40) * 6
    rng = np.random.default_rng(6)
    W, H = rng.random((60, 3)), rng.random((3, 40))
    np.testing.assert_allclose(data.left(W), dense.left(W), rtol=1e-12)
    np.testing.assert_allclose(data.right(H), dense.right(H), rtol=1e-12)
    np.testing.assert_allclose(data.frobenius(W, H, data.right(H), H @ H.T), 0.5 * np.sum((qb.Q @ qb.B - W @ H) ** 2),
                               rtol=1e-10)
    with pytest.raises(ValueError, match="Frobenius loss only"):
        data.products(W, H, None, "H", stored=(lambda V, WH: V / WH,))


def test_a_sketched_fit_reports_the_objective_on_v_and_on_the_sketch():
    V = _low_rank(7, n=200, p=120, rank=5, noise=0.05)
    res = nmflab.nmf(V, 5, sketch=Sketch(size=9, power_iterations=1), seed=2, restarts=3, keep_restarts=True,
                     max_iter=300, tol=1e-7)
    assert (res.sketch.size, res.sketch.power_iterations) == (9, 1)
    qb, residual = sketch(V, 9, 1, np.random.default_rng(np.random.SeedSequence(2, spawn_key=SKETCH_STREAM)))
    assert res.sketch.residual == residual
    direct = [0.5 * np.sum((V - W @ H) ** 2) for W, H in zip(res.restart_W, res.restart_H)]
    np.testing.assert_allclose(res.restart_objectives, direct, rtol=1e-9)
    assert res.best_restart == int(np.argmin(direct))
    assert res.final_objective == pytest.approx(direct[res.best_restart], rel=1e-9)
    on_sketch = 0.5 * np.sum((qb.Q @ qb.B - res.W @ res.H) ** 2)
    assert res.sketch.compressed_objective == pytest.approx(on_sketch, rel=1e-9)
    assert res.objective[-1] == pytest.approx(on_sketch, rel=1e-9)  # the trace is the sketched problem's
    # the sketch misses the noise: the fit on V is no better than the sketch's residual allows
    assert res.final_objective >= 0.5 * (residual * np.linalg.norm(V)) ** 2 * (1 - 1e-9)


def test_on_exact_low_rank_data_the_sketched_fit_is_the_full_fit():
    """QB = V when V has rank <= l: ANLS reaches the same factors with and without the sketch."""
    V = _low_rank(8, n=80, p=50, rank=4)
    W0, H0 = nmflab.init.random_start(V, 4, np.random.default_rng(0))
    full = nmflab.nmf(V, 4, method="anls", init=(W0, H0), max_iter=50, stop="max_iter")
    sk = nmflab.nmf(V, 4, method="anls", init=(W0, H0), max_iter=50, stop="max_iter", sketch=8, seed=0)
    np.testing.assert_allclose(sk.W, full.W, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sk.H, full.H, rtol=1e-6, atol=1e-9)


def test_the_same_seed_makes_the_same_sketch_and_the_sketch_size_is_bounded():
    V = _low_rank(9, noise=0.1)
    a = nmflab.nmf(V, 3, sketch=True, seed=4, max_iter=20)
    b = nmflab.nmf(V, 3, sketch=True, seed=4, max_iter=20)
    np.testing.assert_array_equal(a.W, b.W)
    assert a.sketch.size == 3 + 20
    assert Sketch(size=500).columns(3, V.shape) == 40  # capped at min(n, p): then Q B is V
    assert Sketch().columns(3, (10, 8)) == 8


@pytest.mark.parametrize("options, message", [
    (dict(loss="kl"), "Frobenius loss"),
    (dict(method="lee"), "does not run on a sketch; use 'anls', 'hals'"),
    (dict(mask=np.ones((60, 40), bool)), "cannot weight entries"),
    (dict(stop="kkt"), "kkt stopping rule"),
    (dict(sketch=Sketch(size=2)), "below the rank 3"),
])
def test_what_a_sketch_cannot_serve_is_refused(options, message):
    V = _low_rank(10, noise=0.1)
    options = {"sketch": True, **options}
    with pytest.raises(ValueError, match=message):
        nmflab.nmf(V, 3, **options)


def test_bad_sketch_options_are_refused():
    with pytest.raises(TypeError, match="sketch must be True, a size"):
        nmflab.nmf(_low_rank(), 3, sketch="yes")
    with pytest.raises(ValueError, match="sketch size"):
        Sketch(size=0)
    with pytest.raises(ValueError, match="power_iterations"):
        Sketch(power_iterations=-1)


def test_the_sketch_is_written_with_the_result(tmp_path):
    res = nmflab.nmf(_low_rank(11, noise=0.1), 3, sketch=True, seed=0, max_iter=20)
    _, json_path = nmflab.io.write_result(res, tmp_path / "fit")
    written = json.loads(json_path.read_text())
    assert written["sketch"]["size"] == 23 and written["final_objective"] == res.final_objective


@pytest.mark.skipif(not HAVE_JAX, reason="jax not installed")
def test_the_jax_backend_fits_the_same_sketch():
    V = _low_rank(12, noise=0.1)
    kw = dict(sketch=True, seed=6, max_iter=200, tol=1e-6, method="hals")
    a = nmflab.nmf(V, 3, backend="numpy", **kw)
    b = nmflab.nmf(V, 3, backend="jax", **kw)
    assert a.n_iter == b.n_iter
    np.testing.assert_allclose(a.W, b.W, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(a.final_objective, b.final_objective, rtol=1e-10)
