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


@pytest.mark.parametrize("compiled", ["0", "1"])
def test_a_penalized_extrapolated_fit_is_stationary(monkeypatch, compiled):
    """Near stationarity the objective's gains fall below its rounding: the reported pair must keep following the
    sequence (it froze at a KKT residual of 6e-8 when only a strictly lower objective replaced it, with the
    compiled HALS sweeps, whose rounding differs from NumPy's)."""
    monkeypatch.setenv("NMFLAB_COMPILED", compiled)
    rng = np.random.default_rng(3)
    V = rng.random((40, 25))
    res = nmflab.nmf(V, 5, method="e-hals", seed=0, stop="kkt", kkt_tol=1e-8, max_iter=5000, l1_W=0.3, l2_H=0.5)
    assert res.status == nmflab.Status.KKT
    assert kkt_residual(np, 2.0, V, res.W, res.H, penalty=nmflab.losses.Penalty(l1_W=0.3, l2_H=0.5)) < 1e-8


def test_an_extrapolated_kl_fit_is_stationary():
    """The KL scheme's comparisons with the best pair allow the divergence's rounding: with strict ones the plain
    step from the best pair (a descent step) evaluated a rounding above it, every restart fell back to the best
    pair, and e-CD stayed at a KKT residual of 2.3e-8 for 18000 iterations."""
    rng = np.random.default_rng(3)
    V = rng.poisson(rng.random((40, 5)) @ rng.random((5, 25)) * 3).astype(float) + rng.random((40, 25))
    res = nmflab.nmf(V, 5, loss="kl", method="e-cd", seed=0, stop="kkt", kkt_tol=1e-9, max_iter=20000)
    assert res.status == nmflab.Status.KKT
    assert kkt_residual(np, 1.0, V, res.W, res.H) < 1e-9


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


# KL rules extrapolated: multiplicative updates along log W, log H ("e-mu"), coordinate descent as HALS ("e-cd")


def _kl(V, WH):
    return float(np.sum(V * np.log(V / WH) - V + WH))


def _mu_steps(V):
    """Lee-Seung's steps on H and on W, written out (eps = 0), and the geometric extrapolation."""
    step_h = lambda W, H: H * (W.T @ (V / (W @ H))) / W.sum(axis=0)[:, None]  # noqa: E731
    step_w = lambda W, H: W * ((V / (W @ H)) @ H.T) / H.sum(axis=1)[None, :]  # noqa: E731
    return step_h, step_w, lambda X, last, step: X * (X / last) ** step


def _cd_steps(V):
    """Coordinate descent's sweeps (nmflab's, tested in test_solvers) and the projected linear extrapolation."""
    cd, data = nmflab.rules.CoordinateDescentKL(), as_data(np, V, None)
    step_h = lambda W, H: cd.step_h(np, data, W, H, W @ H)[0]  # noqa: E731
    step_w = lambda W, H: cd.step_w(np, data, W, H, W @ H)[0]  # noqa: E731
    return step_h, step_w, lambda X, last, step: np.maximum(X + step * (X - last), 0.0)


def _extrapolated_reference(steps, V, W, H, iterations, step=0.5, shrink=1.5, grow=1.05, grow_cap=1.01):
    """The scheme of ExtrapolatedKL written out: the reported pair, its objective, and how many rises there were."""
    step_h, step_w, extrapolate = steps
    W_last, H_last, W_a, H_a = W, H, W, H
    cap, previous, rises = 1.0, np.inf, 0
    best, reported = _kl(V, W @ H), (W, H)
    for _ in range(iterations):
        error = _kl(V, W_a @ H_a)
        if error > previous:
            rises += 1
            W_a, H_a = W_last, H_last
            error = _kl(V, W_a @ H_a)
            if error > best:  # the plain iterates are worse than the best pair: start from that instead
                (W_a, H_a), error = reported, best
            cap, step = step, step / shrink
        else:
            step, cap = min(cap, step * grow), min(1.0, cap * grow_cap)
        if error < best:
            best, reported = error, (W_a, H_a)
        H_new = step_h(W_a, H_a)
        H_p = extrapolate(H_new, H_last, step)
        W_new = step_w(W_a, H_p)
        W_a = extrapolate(W_new, W_last, step)
        W_last, H_last, H_a, previous = W_new, H_new, H_p, error
    return reported, best, rises


@pytest.mark.parametrize("method", ["e-mu", "e-cd"])
def test_extrapolated_kl_rules_follow_their_scheme_written_out(method):
    V, W0, H0 = _problem(4)
    cls, steps = {"e-mu": (nmflab.rules.ExtrapolatedMultiplicativeKL, _mu_steps),
                  "e-cd": (nmflab.rules.ExtrapolatedCoordinateDescentKL, _cd_steps)}[method]
    settings = dict(step=0.9, shrink=1.5, grow=1.3, grow_cap=1.1)
    rule = cls(**settings, **({"eps": 0.0} if method == "e-mu" else {}))
    (W_ref, H_ref), best, rises = _extrapolated_reference(steps(V), V, W0, H0, 60, **settings)
    assert rises > 0  # the aggressive settings exercise the restarts
    for backend in ("numpy", "jax") if _has_jax() else ("numpy",):
        fit = nmflab.nmf(V, 6, loss="kl", method=rule, init=(W0, H0), max_iter=60, stop="max_iter",
                         backend=backend, dtype="float64")
        np.testing.assert_allclose(fit.W, W_ref, rtol=1e-7, atol=1e-12, err_msg=backend)
        np.testing.assert_allclose(fit.H, H_ref, rtol=1e-7, atol=1e-12, err_msg=backend)
        assert fit.final_objective == pytest.approx(best, rel=1e-10)
        assert fit.final_objective == pytest.approx(_kl(V, fit.W @ fit.H), rel=1e-10)  # the reported pair's


def _has_jax():
    import importlib.util

    return importlib.util.find_spec("jax") is not None


@pytest.mark.parametrize("plain, extrapolated", [("mu", "e-mu"), ("cd", "e-cd")])
def test_a_zero_step_gives_the_plain_kl_rule_one_iteration_behind(plain, extrapolated):
    V, W0, H0 = _problem(5)
    rule = nmflab.rules.lookup("kl", extrapolated)(step=0.0)
    reference = nmflab.nmf(V, 6, loss="kl", method=plain, init=(W0, H0), max_iter=30, stop="max_iter")
    zero = nmflab.nmf(V, 6, loss="kl", method=rule, init=(W0, H0), max_iter=31, stop="max_iter")
    np.testing.assert_allclose(zero.W, reference.W, rtol=1e-10)
    np.testing.assert_allclose(zero.H, reference.H, rtol=1e-10)


@pytest.mark.parametrize("plain, extrapolated, iterations", [("mu", "e-mu", 400), ("cd", "e-cd", 100)])
def test_extrapolated_kl_rules_need_fewer_iterations(plain, extrapolated, iterations):
    """On the digits (KL, rank 16, NNDSVDa) the extrapolated rule reaches the plain rule's objective after
    ``iterations`` in fewer iterations (how many fewer depends on the path: benchmarks/NOTES.md), and its
    reported objective never rises."""
    pytest.importorskip("sklearn")
    V = nmflab.datasets.load_digits().data
    kw = dict(loss="kl", init="nndsvda", max_iter=iterations, stop="max_iter", check_every=5, seed=0,
              backend="numpy")
    reference = nmflab.nmf(V, 16, method=plain, **kw)
    fast = nmflab.nmf(V, 16, method=extrapolated, **kw)
    assert np.all(np.diff(fast.objective) <= 0)  # the reported pair is the best so far
    target = reference.final_objective * (1 + 1e-6)
    assert np.any(fast.objective <= target)
    reached = fast.iterations[np.argmax(fast.objective <= target)]
    assert reached < iterations, reached


def test_extrapolated_kl_rules_with_a_factor_fixed_are_their_plain_rules():
    V, W0, H0 = _problem(7)
    penalty = nmflab.losses.Penalty(l1_W=0.1)
    rule = nmflab.rules.ExtrapolatedMultiplicativeKL(eps=1e-7, penalty=penalty)
    assert nmflab.api.with_fixed(rule, h=True) == nmflab.rules.MultiplicativeKL(eps=1e-7, penalty=penalty,
                                                                                 update_h=False)
    rule = nmflab.rules.ExtrapolatedCoordinateDescentKL(newton_steps=2, penalty=penalty)
    assert nmflab.api.with_fixed(rule, w=True) == nmflab.rules.CoordinateDescentKL(newton_steps=2, penalty=penalty,
                                                                                    update_w=False)
    assert nmflab.fit_weights(V, H0, loss="kl", method="e-mu", max_iter=10).method == "mu"
    assert nmflab.fit_weights(V, H0, loss="kl", method="e-cd", max_iter=10).method == "cd"
    with pytest.raises(ValueError, match="shrink >= grow"):
        nmflab.rules.ExtrapolatedMultiplicativeKL(grow=2.0)
    with pytest.raises(ValueError, match="h_terms"):
        nmflab.online_nmf(V, 6, loss="kl", method="e-mu")


def test_extrapolated_cd_recovers_from_an_extrapolated_pair_of_infinite_divergence():
    """On the Lee corpus (counts, mostly zeros) from NNDSVDa, projected extrapolation puts zeros of W H on
    positive counts (an infinite divergence) and the plain iterates fitted to them stay infinite; the restart
    then starts from the best pair, and the fit descends as coordinate descent does."""
    try:
        V = nmflab.datasets.load_lee_news().data.astype(float)
    except (ImportError, FileNotFoundError) as exc:
        pytest.skip(str(exc))
    W0, H0 = nmflab.init.nndsvd(V, 10, variant="nndsvda")
    kw = dict(loss="kl", init=(W0, H0), max_iter=30, stop="max_iter", check_every=5, backend="numpy")
    plain = nmflab.nmf(V, 10, method="cd", **kw)
    fast = nmflab.nmf(V, 10, method="e-cd", **kw)
    start = float(nmflab.losses.kl_divergence(np, V, W0 @ H0))
    assert np.isfinite(fast.final_objective) and fast.final_objective < 0.7 * start
    assert fast.final_objective <= plain.final_objective * 1.01
