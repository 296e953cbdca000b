"""Property-based tests over shapes, ranks, zero rows and columns, and scales 1e-300 .. 1e300."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nmflab

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):
    n = draw(st.integers(1, 8))
    p = draw(st.integers(1, 8))
    rank = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    V = rng.uniform(0, 1, (n, p)) ** draw(st.sampled_from([1, 3]))  # some entries near zero
    zero_rows = draw(st.lists(st.integers(0, n - 1), max_size=n // 2))
    zero_cols = draw(st.lists(st.integers(0, p - 1), max_size=p // 2))
    V[zero_rows, :] = 0
    V[:, zero_cols] = 0
    loss = draw(st.sampled_from(["frobenius", "kl"]))
    return V, rank, loss, seed


def _descent_ok(res, V):
    trace = np.concatenate([[res.initial_objective], res.objective])
    assert not np.isnan(trace).any()
    noise = nmflab.diagnostics.objective_noise(V, res.loss, trace)
    descent = nmflab.diagnostics.monotone_descent(trace, noise=noise)
    assert descent.monotone, f"objective increased beyond rounding: {descent}"


@SETTINGS
@given(problems())
def test_exact_rule_has_no_nan_and_no_increase_beyond_rounding(problem):
    """eps = 0 is Lee & Seung's rule, whose every step is a descent step."""
    V, rank, loss, seed = problem
    res = nmflab.nmf(V, rank, loss=loss, method="mu", seed=seed % 1000, max_iter=60, check_every=1, stop="max_iter",
                     eps=0.0)
    assert np.all(np.isfinite(res.W)) and np.all(np.isfinite(res.H))
    assert res.W.min() >= 0 and res.H.min() >= 0
    _descent_ok(res, V)


@SETTINGS
@given(problems())
def test_guarded_rule_has_no_nan_and_descends(problem):
    """With the default eps the steps near a fixed point may rise by O(eps^2)
    (see nmflab.rules._divide); the fit still never turns non-finite and ends lower."""
    V, rank, loss, seed = problem
    res = nmflab.nmf(V, rank, loss=loss, method="mu", seed=seed % 1000, max_iter=60, check_every=1, stop="max_iter")
    assert np.all(np.isfinite(res.W)) and np.all(np.isfinite(res.H))
    assert not np.isnan(res.objective).any()
    assert res.final_objective <= res.initial_objective


@SETTINGS
@given(problems(), st.integers(-996, 996))
def test_power_of_two_scaling_is_exactly_equivariant(problem, exponent):
    """nmf(2^k V) = (2^k W, H) to the last bit, for any k that keeps V in range."""
    V, rank, loss, seed = problem
    kw = dict(loss=loss, method="mu", seed=seed % 1000, max_iter=30, check_every=3, stop="max_iter")
    base = nmflab.nmf(V, rank, **kw)
    scaled = nmflab.nmf(np.ldexp(V, exponent), rank, **kw)
    np.testing.assert_array_equal(scaled.H, base.H)
    np.testing.assert_array_equal(scaled.W, np.ldexp(base.W, exponent))


@SETTINGS
@given(problems(), st.integers(-300, 300))
def test_any_scale_from_1e_minus_300_to_1e300(problem, exponent):
    V, rank, loss, seed = problem
    kw = dict(loss=loss, method="mu", seed=seed % 1000, max_iter=40, check_every=1, stop="max_iter", eps=0.0)
    base = nmflab.nmf(V, rank, **kw)
    scaled = nmflab.nmf(V * 10.0**exponent, rank, **kw)
    assert np.all(np.isfinite(scaled.W)) and np.all(np.isfinite(scaled.H))
    assert not np.isnan(scaled.objective).any()
    # Same fit up to rounding: the relative error does not depend on the scale.
    if V.any():
        e_base = nmflab.diagnostics.relative_error(V, base.W, base.H)
        Vs = V * 10.0**exponent
        with np.errstate(over="ignore", under="ignore"):
            e_scaled = np.linalg.norm(V - (scaled.W / 10.0**exponent) @ scaled.H) / np.linalg.norm(V)
        assert e_scaled == pytest.approx(e_base, rel=1e-6, abs=1e-9)
        finite = np.isfinite(scaled.objective) & (scaled.objective > 0)
        if finite.all():
            _descent_ok(scaled, Vs)


@SETTINGS
@given(problems(), st.sampled_from(["hals", 0.5, 0.0, 3.0]))
def test_other_rules_have_no_nan_and_no_increase_beyond_rounding(problem, which):
    """HALS (Frobenius) and the beta-divergence MU with the MM exponent are descent methods too."""
    V, rank, _, seed = problem
    if which == "hals":
        kw = dict(loss="frobenius", method="hals")
    else:
        if which <= 0:
            V = V + 0.1  # beta <= 0 needs positive data
        kw = dict(loss=which, method="mu", eps=0.0)
    res = nmflab.nmf(V, rank, seed=seed % 1000, max_iter=40, check_every=1, stop="max_iter", **kw)
    assert np.all(np.isfinite(res.W)) and np.all(np.isfinite(res.H))
    _descent_ok(res, V)
