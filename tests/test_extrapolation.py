"""Extrapolation with restarts (Ang & Gillis 2019) around HALS and ANLS.

The registry's contract tests cover "e-hals" and "e-anls" like every rule
(descent, NumPy = JAX, batches, sparse = dense, float32, penalties, bad
input); here: the plain rule when the step is 0, the reported objective is
that of the reported pair and the best one evaluated, the restart rule, and
fewer iterations than the plain rule to the same objective.
"""

import numpy as np
import pytest

import nmflab
from nmflab.data import as_data
from nmflab.losses import kkt_residual
from nmflab.rules import HALS
from nmflab.rules.extrapolation import ExtrapolatedANLS, ExtrapolatedHALS, extrapolated


def _problem(seed=0, n=60, p=40, r=6):
    rng = np.random.default_rng(seed)
    V = rng.random((n, r)) @ rng.random((r, p)) + 0.05 * rng.random((n, p))
    return V, rng.random((n, r)), rng.random((r, p))


@pytest.mark.parametrize("method", ["hals", "anls"])
def test_a_zero_step_gives_the_plain_rule(method):
    V, W0, H0 = _problem()
    plain = nmflab.nmf(V, 6, method=method, init=(W0, H0), max_iter=25, stop="max_iter")
    rule = {"hals": ExtrapolatedHALS, "anls": ExtrapolatedANLS}[method](step=0.0)
    zero = nmflab.nmf(V, 6, method=rule, init=(W0, H0), max_iter=25, stop="max_iter")
    np.testing.assert_allclose(zero.W, plain.W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(zero.H, plain.H, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", [ExtrapolatedHALS, ExtrapolatedANLS])
def test_the_reported_pair_is_the_best_evaluated_and_restarts_follow_the_rule(cls):
    """Step by step: the reported objective is the true one of the reported pair and the least of all pairs
    evaluated; after a rise the step is divided by eta and capped by the failed step, else it grows."""
    V, W0, H0 = _problem(1)
    rule = cls(step=0.9, shrink=1.5, grow=1.3, grow_cap=1.1)
    data = as_data(np, V, None)
    state = rule.init(np, data, W0, H0, None)
    W, H = W0, H0
    errors, rises = [float(state.error)], 0
    for _ in range(60):
        previous = state
        W, H, state = rule.update(np, data, W, H, state, None)
        errors.append(float(state.error))
        assert float(rule.objective(np, data, W, H, state, None)) == pytest.approx(0.5 * np.sum((V - W @ H) ** 2),
                                                                                      rel=1e-9)
        assert float(state.best) == pytest.approx(min(errors), rel=1e-12)
        step, cap = float(previous.step), float(previous.cap)
        if errors[-1] > errors[-2]:
            rises += 1
            assert float(state.step) == pytest.approx(step / 1.5) and float(state.cap) == pytest.approx(step)
            np.testing.assert_array_equal(state.H_ahead, state.H_last)  # extrapolation starts again
            np.testing.assert_array_equal(state.W_ahead, state.W_last)
        else:
            assert float(state.step) == pytest.approx(min(cap, 1.3 * step))
            assert float(state.cap) == pytest.approx(min(1.0, 1.1 * cap))
    assert rises > 0  # the aggressive settings did trigger restarts


@pytest.mark.parametrize("method", ["hals", "anls"])
def test_extrapolation_needs_fewer_iterations_to_the_same_objective(method):
    V, W0, H0 = _problem(2, n=120, p=80, r=10)
    plain = nmflab.nmf(V, 10, method=method, init=(W0, H0), max_iter=400, stop="max_iter", check_every=5)
    fast = nmflab.nmf(V, 10, method=f"e-{method}", init=(W0, H0), max_iter=400, stop="max_iter", check_every=5)
    target = plain.final_objective * (1 + 1e-6)
    reached = fast.iterations[np.argmax(fast.objective <= target)]
    assert np.any(fast.objective <= target) and reached <= 400 / 2, reached


def test_a_penalized_extrapolated_fit_is_stationary():
    rng = np.random.default_rng(3)
    V = rng.random((40, 25))
    res = nmflab.nmf(V, 5, method="e-hals", seed=0, stop="kkt", kkt_tol=1e-8, max_iter=5000, l1_W=0.3, l2_H=0.5)
    assert res.status == nmflab.Status.KKT
    assert kkt_residual(np, 2.0, V, res.W, res.H, penalty=nmflab.losses.Penalty(l1_W=0.3, l2_H=0.5)) < 1e-8


def test_what_cannot_be_extrapolated_is_refused():
    with pytest.raises(ValueError, match="extrapolable"):
        extrapolated(nmflab.rules.MultiplicativeKL)
    with pytest.raises(ValueError, match="shrink >= grow"):
        ExtrapolatedHALS(grow=2.0)
    with pytest.raises(ValueError, match="does not provide"):
        ExtrapolatedHALS(inner=nmflab.rules.LeeFrobenius())
    V, W0, H0 = _problem()
    with pytest.raises(ValueError, match="mask"):
        nmflab.nmf(V, 6, method="e-hals", mask=np.ones(V.shape, dtype=bool))
    assert ExtrapolatedHALS().inner == HALS()


def test_where_extrapolation_is_not_taken():
    """auto stays HALS (e-HALS is slower on exact low-rank data); a penalized fit never gets an extrapolated rule
    from auto (a penalty on one factor has no minimizer, and extrapolation runs off along the scaling); with a
    factor held fixed the extrapolated rule is its inner rule (the rows of W are then separate problems, which
    one acceptance test would tie together); a mask is refused by name."""
    V, W0, H0 = _problem()
    kw = dict(init=(W0, H0), max_iter=10, stop="max_iter")
    assert nmflab.nmf(V, 6, **kw).method == "hals"
    assert nmflab.rules.auto_choice("frobenius", rank=6, sparse=False, backend="numpy", penalized=True).method == "hals"
    assert nmflab.nmf(V, 6, l1_H=0.1, method="e-hals", **kw).method == "e-hals"  # asked for by name
    assert nmflab.fit_weights(V, H0, method="e-hals", max_iter=10).method == "hals"
    with pytest.raises(ValueError, match="mask"):
        nmflab.nmf(V, 6, method="e-hals", mask=np.ones(V.shape, bool), **kw)


def test_a_users_rule_is_extrapolated_by_one_call():
    """extrapolated() wraps and registers any extrapolable Frobenius rule; the wrapper belongs to the caller."""
    import dataclasses
    from typing import ClassVar

    @dataclasses.dataclass(frozen=True)
    class OneSweepHALS(HALS):
        alpha: float = 0.0
        method: ClassVar[str] = "one-sweep-hals"

    cls = extrapolated(OneSweepHALS)
    try:
        assert cls.method == "e-one-sweep-hals" and cls.__module__ == __name__
        assert nmflab.rules.lookup("frobenius", "e-one-sweep-hals") is cls
        V, W0, H0 = _problem()
        plain = nmflab.nmf(V, 6, method=OneSweepHALS, init=(W0, H0), max_iter=30, stop="max_iter")
        ours = nmflab.nmf(V, 6, method="e-one-sweep-hals", init=(W0, H0), max_iter=30, stop="max_iter")
        assert ours.method == "e-one-sweep-hals" and ours.final_objective < plain.final_objective
    finally:
        nmflab.rules.unregister("frobenius", "e-one-sweep-hals")
