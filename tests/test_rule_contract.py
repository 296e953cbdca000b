"""Every registered rule, users' included, against the same contract.

The rules are those of the registry at collection time: the built-in ones
and the worked example of a user-defined rule (``examples/projected_gradient.py``,
the README's "Writing a rule"), imported here as a user would import theirs.
A new rule that registers itself is checked by these tests without editing
them.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import nmflab
from nmflab import Status

from .conftest import HAVE_JAX

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
import projected_gradient  # noqa: E402  registers method "pgd"

#: The loss each family is tested with (the "beta" family: one beta between KL and Frobenius).
LOSS_OF = {"frobenius": "frobenius", "kl": "kl", "beta": 0.5}
RULES = [pytest.param(cls, id=f"{family}-{method}") for (family, method), cls in nmflab.rules.registered().items()]
SKETCHABLE = [param for param in RULES if param.values[0].supports_sketch]
needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="jax not installed")


def _problem(seed=0, n=24, p=15, rank=3, zeros=True):
    rng = np.random.default_rng(seed)
    V = rng.random((n, rank)) @ rng.random((rank, p)) + 0.1 * rng.random((n, p))
    if zeros:
        V[rng.random((n, p)) < 0.2] = 0.0
    return V, rng.random((n, rank)) + 0.1, rng.random((rank, p)) + 0.1


def _kw(cls, **extra):
    """Options naming the rule by its registered name and loss, as a user would."""
    return dict(loss=LOSS_OF[cls.loss], method=cls.method, **extra)


def test_the_registry_holds_the_built_in_rules_and_the_example():
    registered = nmflab.rules.registered()
    for key in [("frobenius", "hals"), ("frobenius", "mu"), ("frobenius", "lee"), ("kl", "cd"), ("kl", "mu"),
                ("kl", "brunet"), ("beta", "mu"), ("frobenius", "pgd")]:
        assert key in registered
    assert registered[("frobenius", "pgd")] is projected_gradient.ProjectedGradient
    assert "pgd" in nmflab.methods()["frobenius"]


@pytest.mark.parametrize("cls", RULES)
def test_declared_descent(cls):
    """A rule that declares itself monotone never raises the objective (up to rounding); every rule ends
    below its start."""
    V, W0, H0 = _problem(1)
    res = nmflab.nmf(V, 3, init=(W0, H0), max_iter=60, stop="max_iter", check_every=1, **_kw(cls))
    trace = np.concatenate([[res.initial_objective], res.objective])
    assert np.all(np.isfinite(trace))
    assert trace[-1] < trace[0]
    rule = nmflab.api.make_rule(LOSS_OF[cls.loss], cls.method)
    if rule.monotone:
        assert np.all(np.diff(trace) <= 1e-10 * np.abs(trace[:-1])), np.diff(trace).max()


@needs_jax
@pytest.mark.parametrize("cls", RULES)
def test_numpy_and_jax_stop_at_the_same_iteration_with_the_same_factors(cls):
    if "jax" not in cls.backends:
        pytest.skip(f"{cls.method} runs on NumPy only")
    V, W0, H0 = _problem(2)
    kw = _kw(cls, init=(W0, H0), tol=1e-5, max_iter=400)
    a = nmflab.nmf(V, 3, backend="numpy", **kw)
    b = nmflab.nmf(V, 3, backend="jax", **kw)
    assert (a.status, a.n_iter) == (b.status, b.n_iter)
    assert a.status != Status.NONFINITE
    np.testing.assert_allclose(a.W, b.W, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(a.H, b.H, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-10)


@needs_jax
@pytest.mark.parametrize("cls", RULES)
def test_a_batch_of_restarts_equals_separate_runs(cls):
    if "jax" not in cls.backends:
        pytest.skip(f"{cls.method} runs on NumPy only")
    V, _, _ = _problem(3)
    kw = _kw(cls, init="random", restarts=3, seed=5, max_iter=120, tol=1e-5, keep_restarts=True)
    batched = nmflab.nmf(V, 3, backend="jax", lanes=3, **kw)
    separate = nmflab.nmf(V, 3, backend="numpy", **kw)
    np.testing.assert_array_equal(batched.restart_n_iter, separate.restart_n_iter)
    np.testing.assert_array_equal(batched.restart_status, separate.restart_status)
    np.testing.assert_allclose(batched.restart_objectives, separate.restart_objectives, rtol=1e-10)
    np.testing.assert_allclose(batched.restart_W, separate.restart_W, rtol=1e-8, atol=1e-11)
    assert batched.best_restart == separate.best_restart


@pytest.mark.parametrize("cls", RULES)
def test_sparse_input_gives_the_dense_fit(cls):
    """Where the rule's iterates depend on the storage by design (``invariant_fields``), under those fields."""
    import dataclasses

    import scipy.sparse

    from nmflab.drivers import numpy as driver
    from nmflab.stopping import StopCriteria

    V, W0, H0 = _problem(4)
    if not cls.supports_sparse:
        with pytest.raises(ValueError, match="does not take sparse input"):
            nmflab.nmf(scipy.sparse.csr_matrix(V), 3, max_iter=5, **_kw(cls))
        return
    rule = dataclasses.replace(nmflab.api.make_rule(LOSS_OF[cls.loss], cls.method), **cls.invariant_fields)
    criteria = StopCriteria(25, ())
    (a,) = driver.run(rule, scipy.sparse.csr_matrix(V), [W0], [H0], criteria, 5)
    (b,) = driver.run(rule, V, [W0], [H0], criteria, 5)
    np.testing.assert_allclose(a.W, b.W, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.H, b.H, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.trace.objective, b.trace.objective, rtol=1e-9)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("jax", marks=needs_jax)])
@pytest.mark.parametrize("cls", RULES)
def test_a_masked_entry_changes_nothing(cls, backend):
    V, W0, H0 = _problem(5)
    mask = np.random.default_rng(6).random(V.shape) > 0.25
    kw = _kw(cls, init=(W0, H0), max_iter=30, stop="max_iter", check_every=5, mask=mask, backend=backend)
    if not cls.supports_weights:
        with pytest.raises(ValueError, match="does not take a mask"):
            nmflab.nmf(V, 3, **kw)
        return
    other = np.where(mask, V, 1e3 + V)  # only the hidden entries differ
    a = nmflab.nmf(V, 3, **kw)
    b = nmflab.nmf(other, 3, **kw)
    np.testing.assert_allclose(a.W, b.W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.H, b.H, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("jax", marks=needs_jax)])
@pytest.mark.parametrize("cls", RULES)
def test_float32_stays_float32(cls, backend):
    if backend not in cls.backends:
        pytest.skip(f"{cls.method} runs on {cls.backends}")
    V, W0, H0 = _problem(7)
    res = nmflab.nmf(V.astype(np.float32), 3, init=(W0.astype(np.float32), H0.astype(np.float32)), max_iter=20,
                     backend=backend, **_kw(cls))
    assert res.W.dtype == res.H.dtype == np.float32 and res.dtype == "float32"
    assert np.isfinite(res.final_objective)


@pytest.mark.parametrize("cls", RULES)
def test_penalties_are_taken_or_refused(cls):
    V, W0, H0 = _problem(8)
    kw = _kw(cls, init=(W0, H0), max_iter=20, stop="max_iter", l1_W=0.3, l2_H=0.2)
    if not cls.supports_penalty:
        with pytest.raises(ValueError, match="takes no penalty"):
            nmflab.nmf(V, 3, **kw)
        return
    res = nmflab.nmf(V, 3, **kw)
    loss = nmflab.diagnostics.loss_value(V, res.W, res.H, LOSS_OF[cls.loss])
    penalty = 0.3 * res.W.sum() + 0.5 * 0.2 * np.sum(res.H**2)
    assert res.final_objective == pytest.approx(loss + penalty, rel=1e-9)


@pytest.mark.parametrize("cls", RULES)
def test_bad_input_is_refused_with_a_message_naming_the_problem(cls):
    V, W0, H0 = _problem(9)
    kw = _kw(cls, max_iter=5)
    bad = V.copy()
    bad[2, 3] = -1.0
    with pytest.raises(ValueError, match=r"Negative values.*\(2, 3\)"):
        nmflab.nmf(bad, 3, **kw)
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"non-finite"):
        nmflab.nmf(bad, 3, **kw)
    with pytest.raises(ValueError, match=r"rank must be at least 1"):
        nmflab.nmf(V, 0, **kw)
    with pytest.raises(ValueError, match=r"empty"):
        nmflab.nmf(np.zeros((0, 4)), 2, **kw)
    with pytest.raises(ValueError, match=r"W0 must have shape \(24, 3\)"):
        nmflab.nmf(V, 3, init=(W0[:5], H0), **kw)


@pytest.mark.parametrize("cls", RULES)
def test_the_rule_brings_its_defaults_and_holds_parts_fixed(cls):
    V, W0, H0 = _problem(10)
    res = nmflab.nmf(V, 3, init=(W0, H0), **_kw(cls))
    assert res.stop_rules == tuple(cls.stop)
    assert res.n_iter <= cls.max_iter and res.iterations[0] == min(cls.check_every, res.n_iter)
    assert res.method == cls.method
    fixed = nmflab.fit_weights(V, H0, max_iter=15, stop="max_iter", **_kw(cls))
    np.testing.assert_array_equal(fixed.H, H0)
    assert fixed.final_objective < nmflab.diagnostics.loss_value(V, fixed.W * 0 + 1e-3, H0, LOSS_OF[cls.loss])


def test_auto_picks_a_registered_rule_for_every_loss_and_storage():
    for family, loss in LOSS_OF.items():
        for sparse in (False, True):
            for rank in (3, 20):
                cls = nmflab.rules.auto_choice(family, rank=rank, sparse=sparse, backend="numpy")
                assert nmflab.rules.registered()[(family, cls.method)] is cls
                assert cls.auto_score(rank=rank, sparse=sparse) is not None
                assert not sparse or cls.supports_sparse
    assert nmflab.rules.auto_choice("kl", rank=3, sparse=False, backend="numpy").method == "cd"
    assert nmflab.rules.auto_choice("kl", rank=12, sparse=False, backend="jax").method == "mu"  # no compiled sweeps
    assert nmflab.rules.auto_choice("kl", rank=17, sparse=False, backend="numpy").method == "e-mu"
    assert nmflab.rules.auto_choice("kl", rank=3, sparse=True, backend="numpy").method == "e-mu"
    assert nmflab.rules.auto_choice("kl", rank=17, sparse=False, backend="jax").method == "mu"
    assert nmflab.rules.auto_choice("kl", rank=17, sparse=False, backend="numpy", penalized=True).method == "mu"
    assert nmflab.rules.auto_choice("frobenius", rank=3, sparse=True, backend="jax").method == "hals"
    assert nmflab.rules.auto_choice("frobenius", rank=3, sparse=False, backend="numpy", weighted=True).method == "hals"


@pytest.mark.parametrize("cls", RULES)
def test_a_sketch_that_is_the_data_gives_the_dense_fit(cls):
    """A sketch of full size (``Q B = V`` to rounding) changes a sketchable rule's iterates by rounding only;
    a rule that cannot run on a sketch refuses ``sketch=``."""
    import dataclasses

    from nmflab.drivers import numpy as driver
    from nmflab.sketch import sketch
    from nmflab.stopping import StopCriteria

    V, W0, H0 = _problem(7)
    if not cls.supports_sketch:
        with pytest.raises(ValueError, match="sketch"):
            nmflab.nmf(V, 3, max_iter=5, sketch=True, **_kw(cls))
        return
    qb, residual = sketch(V, min(V.shape), 1, np.random.default_rng(0))
    assert residual < 1e-6
    rule = dataclasses.replace(nmflab.api.make_rule(LOSS_OF[cls.loss], cls.method), **cls.invariant_fields)
    criteria = StopCriteria(25, ())
    (a,) = driver.run(rule, qb, [W0], [H0], criteria, 5)
    (b,) = driver.run(rule, V, [W0], [H0], criteria, 5)
    np.testing.assert_allclose(a.W, b.W, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(a.H, b.H, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(a.trace.objective, b.trace.objective, rtol=1e-8)


@pytest.mark.parametrize("cls", SKETCHABLE)
def test_on_a_small_sketch_the_iterates_stay_non_negative_and_descend(cls):
    """A sketch of 5 columns of data with zeros has negative entries; the steps stay in the orthant and (for a
    monotone rule) descend on the sketched problem."""
    V, W0, H0 = _problem(8)
    res = nmflab.nmf(V, 3, init=(W0, H0), max_iter=60, stop="max_iter", check_every=1, sketch=5, seed=3,
                     **_kw(cls))
    from nmflab.sketch import sketch

    qb, _ = sketch(V, 5, 2, np.random.default_rng(np.random.SeedSequence(3, spawn_key=(2**32 - 1,))))
    assert (qb.Q @ qb.B).min() < 0  # the case the test is about
    assert res.W.min() >= 0 and res.H.min() >= 0
    trace = np.concatenate([[res.initial_objective], res.objective])
    assert np.all(np.isfinite(trace))
    if nmflab.api.make_rule("frobenius", cls.method).monotone:
        assert np.all(np.diff(trace) <= 1e-10 * np.abs(trace[:-1])), np.diff(trace).max()
