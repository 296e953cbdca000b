"""NumPy and JAX drivers: same stopping point, same factors, batched = separate, no retrace."""

import numpy as np
import pytest

import nmflab
from nmflab.result import Status

from ._problems import random_problem
from .conftest import HAVE_JAX

needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="jax not installed")


@needs_jax
@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("check_every", [1, 10])
def test_numpy_and_jax_stop_at_the_same_iteration_with_the_same_factors(loss, check_every):
    rng = np.random.default_rng(11)
    V, W0, H0 = random_problem(rng, 20, 15, 4, noise=0.2)
    kw = dict(loss=loss, init=(W0, H0), max_iter=3000, tol=1e-6, check_every=check_every)
    a = nmflab.nmf(V, 4, backend="numpy", **kw)
    b = nmflab.nmf(V, 4, backend="jax", **kw)
    assert a.status == b.status == Status.CONVERGED
    assert a.n_iter == b.n_iter
    assert b.dtype == "float64" and b.W.dtype == np.float64
    np.testing.assert_array_equal(a.iterations, b.iterations)
    np.testing.assert_allclose(a.W, b.W, atol=1e-10, rtol=0)
    np.testing.assert_allclose(a.H, b.H, atol=1e-10, rtol=0)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-10)


@needs_jax
def test_jax_float64_without_global_x64_flag():
    import jax

    assert not jax.config.jax_enable_x64, "the test suite must not switch x64 on globally"
    rng = np.random.default_rng(0)
    V, W0, H0 = random_problem(rng)
    res = nmflab.nmf(V, 3, init=(W0, H0), backend="jax", max_iter=5, stop="max_iter")
    assert res.W.dtype == np.float64 and res.H.dtype == np.float64
    assert not jax.config.jax_enable_x64


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(backend, dtype):
    rng = np.random.default_rng(0)
    V, _, _ = random_problem(rng)
    res = nmflab.nmf(V.astype(dtype), 3, seed=0, backend=backend, max_iter=50)
    assert res.W.dtype == res.H.dtype == np.dtype(dtype)
    assert res.dtype == dtype


@needs_jax
@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_batched_restarts_equal_separate_runs(loss):
    rng = np.random.default_rng(5)
    V, _, _ = random_problem(rng, 25, 12, 3, noise=0.3)
    batched = nmflab.nmf(V, 3, loss=loss, restarts=4, seed=9, backend="jax", max_iter=2000, tol=1e-5)
    separate = nmflab.nmf(V, 3, loss=loss, restarts=4, seed=9, backend="numpy", max_iter=2000, tol=1e-5)
    np.testing.assert_array_equal(batched.restart_n_iter, separate.restart_n_iter)
    assert len(set(batched.restart_n_iter)) > 1, "restarts should stop at different iterations here"
    np.testing.assert_allclose(batched.restart_objectives, separate.restart_objectives, rtol=1e-10)
    assert batched.best_restart == separate.best_restart
    np.testing.assert_allclose(batched.W, separate.W, atol=1e-10)


@needs_jax
@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_a_pool_of_lanes_gives_the_restarts_of_separate_runs(lanes):
    """Fewer lanes than restarts: stopped restarts hand their lane on; nothing changes."""
    rng = np.random.default_rng(5)
    V, _, _ = random_problem(rng, 25, 12, 3, noise=0.3)
    kw = dict(loss="kl", restarts=7, seed=9, max_iter=2000, tol=1e-5, check_every=3, keep_restarts=True)
    pooled = nmflab.nmf(V, 3, backend="jax", lanes=lanes, **kw)
    separate = nmflab.nmf(V, 3, backend="numpy", **kw)
    assert len(set(separate.restart_n_iter)) > 2, "restarts should stop at different iterations here"
    np.testing.assert_array_equal(pooled.restart_n_iter, separate.restart_n_iter)
    np.testing.assert_array_equal(pooled.restart_status, separate.restart_status)
    np.testing.assert_allclose(pooled.restart_objectives, separate.restart_objectives, rtol=1e-10)
    np.testing.assert_allclose(pooled.restart_W, separate.restart_W, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(pooled.restart_H, separate.restart_H, rtol=1e-8, atol=1e-12)


@needs_jax
@pytest.mark.parametrize("until_first_stop", [True, False])
def test_a_segment_ends_at_the_first_stopped_lane_only_while_restarts_wait(until_first_stop):
    """Lane 0 may make 1 check, lane 1 may make 4: with restarts waiting the segment ends after
    lane 0's check (its lane is refilled at once); without, lane 1 goes on and lane 0 stays frozen."""
    import jax.numpy as jnp

    from nmflab.drivers import jax as jax_driver
    from nmflab.rules.mu import MultiplicativeKL
    from nmflab.stopping import StopCriteria

    rng = np.random.default_rng(3)
    V, W0, H0 = random_problem(rng, 12, 9, 2)
    criteria = StopCriteria(max_iter=100, rules=())
    static = dict(rule=MultiplicativeKL(), structure=jax_driver._structure(criteria), whole_intervals=True)
    with jax_driver._precision(np.float64):
        W0s, H0s = jnp.asarray(np.stack([W0, W0 * 2])), jnp.asarray(np.stack([H0, H0 / 2]))
        data, consts, lanes = jax_driver._start(jnp.asarray(V), W0s, H0s, None, rule=static["rule"])
        out = jax_driver._advance(data, consts, lanes, jax_driver._limits(criteria, 5, np.float64),
                                  jnp.asarray([1, 4], dtype=jnp.int32), jnp.asarray(until_first_stop), **static)
    assert list(np.asarray(out.k)) == ([1, 1] if until_first_stop else [1, 4])
    assert list(np.asarray(out.carry.iteration)) == ([5, 5] if until_first_stop else [5, 20])
    lone = nmflab.nmf(V, 2, init=(W0, H0), loss="kl", method="mu", backend="numpy", max_iter=5, stop="max_iter")
    np.testing.assert_allclose(np.asarray(out.carry.W[0]), lone.W, rtol=1e-10)  # frozen after its own check


@needs_jax
def test_a_pool_under_a_time_limit_gives_every_restart_a_check():
    rng = np.random.default_rng(5)
    V, _, _ = random_problem(rng, 25, 12, 3, noise=0.3)
    res = nmflab.nmf(V, 3, loss="kl", restarts=5, seed=1, backend="jax", lanes=2, max_iter=10**6, tol=0,
                     time_limit=1e-9)
    assert list(res.restart_status) == [Status.TIME_LIMIT] * 5
    assert all(n >= 10 for n in res.restart_n_iter)  # one check of check_every=10 iterations each


def test_first_restart_splits_a_series_of_restarts(backend):
    rng = np.random.default_rng(6)
    V, _, _ = random_problem(rng, 15, 10, 3)
    kw = dict(seed=4, backend=backend, max_iter=50, keep_restarts=True)
    whole = nmflab.nmf(V, 3, restarts=5, **kw)
    head = nmflab.nmf(V, 3, restarts=2, **kw)
    tail = nmflab.nmf(V, 3, restarts=3, first_restart=2, **kw)
    assert tail.first_restart == 2
    np.testing.assert_allclose(np.concatenate([head.restart_W, tail.restart_W]), whole.restart_W, rtol=1e-12)
    np.testing.assert_allclose(np.concatenate([head.restart_objectives, tail.restart_objectives]),
                               whole.restart_objectives, rtol=1e-12)
    assert whole.restart_W.shape == (5, 15, 3) and whole.restart_H.shape == (5, 3, 10)
    np.testing.assert_array_equal(whole.restart_W[whole.best_restart], whole.W)
    assert nmflab.nmf(V, 3, restarts=2, seed=4, max_iter=5).restart_W is None


def test_restart_k_is_the_same_whatever_the_number_of_restarts(backend):
    rng = np.random.default_rng(6)
    V, _, _ = random_problem(rng, 15, 10, 3)
    many = nmflab.nmf(V, 3, restarts=3, seed=4, backend=backend, max_iter=100)
    one = nmflab.nmf(V, 3, restarts=1, seed=4, backend=backend, max_iter=100)
    assert many.restart_objectives[0] == pytest.approx(one.restart_objectives[0], rel=1e-12)


def test_restarts_keep_the_best(backend):
    rng = np.random.default_rng(3)
    V, _, _ = random_problem(rng, 15, 10, 4, noise=0.5)
    res = nmflab.nmf(V, 4, restarts=5, seed=1, backend=backend, max_iter=30, stop="max_iter")
    assert res.best_restart == int(np.argmin(res.restart_objectives))
    assert res.final_objective == pytest.approx(res.restart_objectives.min())
    assert res.restart_objectives.max() > res.restart_objectives.min()


def test_same_seed_same_start_on_both_backends():
    pytest.importorskip("jax")
    rng = np.random.default_rng(1)
    V, _, _ = random_problem(rng)
    for init in ("random", "nndsvdar"):
        a = nmflab.nmf(V, 3, init=init, seed=123, backend="numpy", max_iter=1, stop="max_iter")
        b = nmflab.nmf(V, 3, init=init, seed=123, backend="jax", max_iter=1, stop="max_iter")
        assert a.initial_objective == pytest.approx(b.initial_objective, rel=1e-13)
        np.testing.assert_allclose(a.W, b.W, rtol=1e-12)


def test_seed_makes_a_fit_reproducible_and_is_recorded(backend):
    rng = np.random.default_rng(2)
    V, _, _ = random_problem(rng)
    a = nmflab.nmf(V, 3, seed=77, backend=backend, max_iter=40)
    b = nmflab.nmf(V, 3, seed=77, backend=backend, max_iter=40)
    np.testing.assert_array_equal(a.W, b.W)
    drawn = nmflab.nmf(V, 3, backend=backend, max_iter=40)
    again = nmflab.nmf(V, 3, seed=drawn.seed, backend=backend, max_iter=40)
    np.testing.assert_array_equal(drawn.W, again.W)


@pytest.mark.parametrize("max_iter,check_every", [(1, 1), (37, 10), (40, 10), (5, 50)])
def test_stop_max_iter_runs_exactly_max_iter(backend, max_iter, check_every):
    rng = np.random.default_rng(4)
    V, W0, H0 = random_problem(rng)
    res = nmflab.nmf(V, 3, init=(W0, H0), max_iter=max_iter, check_every=check_every, stop="max_iter", backend=backend)
    assert res.n_iter == max_iter
    assert res.status == Status.MAX_ITER
    expected = list(range(check_every, max_iter + 1, check_every))
    if not expected or expected[-1] != max_iter:
        expected.append(max_iter)
    np.testing.assert_array_equal(res.iterations, expected)


def test_tol_stops_when_the_relative_change_falls_below_it(backend):
    rng = np.random.default_rng(8)
    V, W0, H0 = random_problem(rng, 20, 10, 3)
    res = nmflab.nmf(V, 3, init=(W0, H0), max_iter=5000, tol=1e-5, check_every=5, backend=backend)
    assert res.status == Status.CONVERGED
    f = np.concatenate([[res.initial_objective], res.objective])
    change = np.abs(np.diff(f)) / np.abs(f[:-1])
    assert change[-1] <= 1e-5 * (1 + 1e-9)
    assert np.all(change[:-1] > 1e-5)


def test_numpy_driver_records_times():
    rng = np.random.default_rng(4)
    V, _, _ = random_problem(rng)
    res = nmflab.nmf(V, 3, seed=0, max_iter=30, stop="max_iter")
    assert res.times is not None and len(res.times) == len(res.objective)
    assert np.all(np.diff(res.times) >= 0)


@needs_jax
def test_repeated_calls_do_not_recompile():
    """Every new tol, max_iter, check_every or restart count compiled anew (about 1.5 s each): they are run-time
    values now, and restart counts share power-of-two lane counts."""
    from nmflab.drivers import jax as jax_driver

    rng = np.random.default_rng(12)
    V, _, _ = random_problem(rng, 13, 7, 2)
    kw = dict(loss="kl", restarts=4, max_iter=50, tol=1e-6, check_every=5, backend="jax")
    nmflab.nmf(V, 2, seed=1, **kw)
    before = jax_driver.trace_count()
    for seed in range(2, 6):
        nmflab.nmf(V * (1 + seed), 2, seed=seed, **kw)
    for change in ({"tol": 1e-3}, {"max_iter": 70}, {"check_every": 10}, {"max_iter": 1000, "check_every": 2},
                   {"restarts": 5}, {"restarts": 7}, {"iterate_tol": 1e-3, "stop": ("objective", "iterate")}):
        nmflab.nmf(V, 2, seed=1, **{**kw, **change})
    # once for the iterate rule (another program); the rest reused what the first fit compiled
    assert jax_driver.trace_count() == before + 1
    nmflab.nmf(V, 2, seed=1, **{**kw, "check_every": 7})  # 50 is not a multiple of 7: the loop program once
    assert jax_driver.trace_count() == before + 2
    nmflab.nmf(V, 2, seed=3, **{**kw, "max_iter": 90, "check_every": 7})
    assert jax_driver.trace_count() == before + 2


def test_nonfinite_objective_is_reported(backend):
    """An overflow to Inf stops the run with the non-finite status, never a silent result."""
    V = np.full((4, 3), 1.0)
    W0 = np.full((4, 2), 1e200)
    H0 = np.full((2, 3), 1e200)
    res = nmflab.nmf(V, 2, init=(W0, H0), max_iter=20, backend=backend)
    assert res.status == Status.NONFINITE
    assert "non-finite" in res.message


@pytest.mark.parametrize("backend_name", ["numpy", pytest.param("jax", marks=needs_jax)])
def test_without_trace_the_fit_is_the_same_and_only_the_final_objective_is_evaluated(backend_name):
    rng = np.random.default_rng(8)
    V, _, _ = random_problem(rng, 20, 14, 3, noise=0.3)
    kw = dict(method="brunet", restarts=5, seed=3, backend=backend_name, keep_restarts=True, lanes=2)
    traced = nmflab.nmf(V, 3, **kw)
    bare = nmflab.nmf(V, 3, trace=False, **kw)
    np.testing.assert_array_equal(bare.restart_n_iter, traced.restart_n_iter)
    np.testing.assert_array_equal(bare.restart_status, traced.restart_status)
    np.testing.assert_allclose(bare.restart_objectives, traced.restart_objectives, rtol=1e-12)
    np.testing.assert_array_equal(bare.restart_W, traced.restart_W)
    assert np.isnan(bare.objective[:-1]).all() and len(bare.objective) == len(traced.objective)
    # the objective rule still needs the objective at every check
    ruled = nmflab.nmf(V, 3, loss="kl", method="mu", trace=False, seed=1, backend=backend_name, max_iter=200)
    assert np.isfinite(ruled.objective).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_flushes_subnormal_factor_entries_to_zero_as_xla_does(dtype):
    from nmflab.drivers.numpy import flush_subnormal

    tiny = np.finfo(dtype).tiny
    X = np.array([0.0, tiny / 4, tiny, 2 * tiny, 1.0], dtype=dtype)
    flushed = flush_subnormal(X)
    assert flushed.dtype == dtype
    np.testing.assert_array_equal(flushed, np.array([0.0, 0.0, tiny, 2 * tiny, 1.0], dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_flush_keeps_negative_entries_of_a_signed_factor(dtype):
    """Only subnormals are flushed (of either sign, as XLA does): a signed factor (semi-NMF) is not projected."""
    from nmflab.drivers.numpy import flush_subnormal

    tiny = np.finfo(dtype).tiny
    X = np.array([[-2.0, -tiny, -tiny / 4, 0.0], [tiny / 8, 3.0, -1e-3, tiny]], dtype=dtype)
    expected = np.array([[-2.0, -tiny, 0.0, 0.0], [0.0, 3.0, -1e-3, tiny]], dtype=dtype)
    np.testing.assert_array_equal(flush_subnormal(X), expected)
    signed = np.array([[-1.5, 2.0], [0.25, -4.0]], dtype=dtype)  # no subnormal: nothing changes at all
    np.testing.assert_array_equal(flush_subnormal(signed), signed)


@needs_jax
def test_a_subnormal_start_entry_ends_as_zero_on_both_backends():
    """Multiplicative updates keep a subnormal entry subnormal (slow on a CPU); both backends flush it."""
    rng = np.random.default_rng(2)
    V, W0, H0 = random_problem(rng, 10, 8, 2)
    W0 = W0.copy()
    W0[0, 0] = 1e-310
    kw = dict(loss="kl", method="mu", init=(W0, H0), max_iter=3, stop="max_iter")
    a = nmflab.nmf(V, 2, backend="numpy", **kw)
    b = nmflab.nmf(V, 2, backend="jax", **kw)
    assert a.W[0, 0] == 0.0 == b.W[0, 0]
    assert not ((a.W > 0) & (a.W < np.finfo(float).tiny)).any()
    np.testing.assert_allclose(a.W, b.W, rtol=1e-10, atol=0)


@pytest.mark.parametrize("method", ["mu", "cd", "hals"])
def test_a_longer_check_interval_holds_no_more_memory(method):
    """With a check every iteration each update's input state is dropped when the next replaces it; a check
    every 5 iterations must hold no more (a loop that kept the previous check's carry alive through the
    interval held one more n x p product: W H, for KL)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    V = rng.random((400, 300))
    W0, H0 = rng.random((400, 4)), rng.random((4, 300))

    def peak(check_every):
        kw = dict(loss="frobenius" if method == "hals" else "kl", method=method, init=(W0, H0), max_iter=20,
                  stop="max_iter", check_every=check_every)
        nmflab.nmf(V, 4, **kw)
        tracemalloc.start()
        try:
            nmflab.nmf(V, 4, **kw)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(5) < peak(1) + 0.25 * V.nbytes, (peak(5) / V.nbytes, peak(1) / V.nbytes)
