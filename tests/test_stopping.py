"""Each stopping rule stops where it should: on constructed sequences, and end to end on both backends."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

import nmflab
from nmflab import Status, stopping
from nmflab.stopping import StopCriteria

from ._problems import random_problem


def _walk(criteria, steps):
    """Feed (W, H, objective, kkt) per check to the shared predicate; return (status, check index)."""
    W0, H0, f0 = steps[0][:3]
    monitor = stopping.start_monitor(np, W0, H0, f0)
    for k, (W, H, f, kkt) in enumerate(steps[1:], start=1):
        code, monitor, _ = stopping.check(np, monitor, W, H, f, kkt, 10 * k, criteria)
        if code != Status.RUNNING:
            return Status(int(code)), k
    return Status.RUNNING, len(steps) - 1


W = np.array([[2.0, 1.0], [1.0, 2.0], [3.0, 0.5]])
H = np.ones((2, 4))


def test_objective_rule_on_a_constructed_trace():
    values = [100.0, 50.0, 40.0, 39.999, 39.998]
    steps = [(W, H, f, np.nan) for f in values]
    # 40 -> 39.999 is a relative change of 2.5e-5 <= 1e-4: stop at check 3.
    assert _walk(StopCriteria(1000, ("objective",), tol=1e-4), steps) == (Status.CONVERGED, 3)
    assert _walk(StopCriteria(1000, ("objective",), tol=1e-6), steps) == (Status.RUNNING, 4)


def test_iterate_rule_needs_both_factors_still():
    steps = [(W, H, 1.0, np.nan), (W * 1.1, H, 0.5, np.nan), (W * 1.1, H * 1.2, 0.4, np.nan),
             (W * 1.1 * (1 + 1e-7), H * 1.2, 0.3, np.nan)]
    assert _walk(StopCriteria(1000, ("iterate",), iterate_tol=1e-6), steps) == (Status.ITERATES_STALLED, 3)


def test_kkt_rule():
    steps = [(W, H, 1.0, np.nan), (W, H, 0.9, 1e-2), (W, H, 0.8, 1e-5)]
    assert _walk(StopCriteria(1000, ("kkt",), kkt_tol=1e-4), steps) == (Status.KKT, 2)


def test_connectivity_rule_counts_unchanged_partitions_like_r():
    """R: inc counts unchanged checks since the last change; stop when inc > stopconv (patience)."""
    patience = 3
    W_other = W[:, ::-1]  # components relabelled, same partition {0}, {1, 2}
    W_changed = np.array([[2.0, 1.0], [2.0, 1.0], [3.0, 0.5]])  # partition {0, 1, 2}
    criteria = StopCriteria(1000, ("connectivity",), patience=patience)

    def walk(checks):
        return _walk(criteria, [(W, H, 1.0, np.nan)] + [(w, H, 1.0, np.nan) for w in checks])

    # unchanged count per check: 0 (first), 1, 2 (relabelling is no change), 0 (change), 1, 2, 3
    checks = [W, W_other, W, W_changed, W_changed, W_changed, W_changed]
    assert walk(checks) == (Status.RUNNING, 7)
    assert walk(checks + [W_changed]) == (Status.CONNECTIVITY, 8)  # count 4 > 3
    assert walk([W, W_other, W, W, W]) == (Status.CONNECTIVITY, 5)  # without the change


def test_nonfinite_takes_precedence_and_max_iter_comes_last():
    steps = [(W, H, 1.0, np.nan), (W, H, np.nan, np.nan)]
    assert _walk(StopCriteria(10, ("objective",)), steps) == (Status.NONFINITE, 1)
    steps = [(W, H, 1.0, np.nan), (W, H, 1.0, np.nan)]
    assert _walk(StopCriteria(10, ("objective",)), steps) == (Status.CONVERGED, 1)  # met at the limit: rule wins
    assert _walk(StopCriteria(10, ()), steps) == (Status.MAX_ITER, 1)


def test_assignment_is_a_partition_label():
    a = stopping.assignment(np, np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]))
    b = stopping.assignment(np, np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, [0, 1, 0])


@pytest.mark.parametrize(
    "stop,kw,status",
    [
        ("objective", {"tol": 1e-5}, Status.CONVERGED),
        ("iterate", {"iterate_tol": 1e-4}, Status.ITERATES_STALLED),
        ("kkt", {"kkt_tol": 1e-3}, Status.KKT),
        ("connectivity", {"patience": 5}, Status.CONNECTIVITY),
    ],
)
def test_each_rule_end_to_end_same_stop_on_both_backends(stop, kw, status):
    pytest.importorskip("jax")
    rng = np.random.default_rng(21)
    V, W0, H0 = random_problem(rng, 25, 14, 3, noise=0.2)
    # HALS: the rules under test, not a method whose reported iterate moves only when it improves (e-hals)
    runs = [nmflab.nmf(V, 3, init=(W0, H0), method="hals", stop=stop, max_iter=20000, backend=b, **kw)
            for b in ("numpy", "jax")]
    assert runs[0].status == runs[1].status == status
    assert runs[0].n_iter == runs[1].n_iter < 20000
    np.testing.assert_allclose(runs[0].W, runs[1].W, atol=1e-10)
    # The traces that the rule read say it was met at the last check and not before.
    r = runs[0]
    if stop == "iterate":
        assert max(r.w_change[-1], r.h_change[-1]) <= 1e-4 < max(r.w_change[-2], r.h_change[-2])
    if stop == "kkt":
        assert r.kkt[-1] <= 1e-3 < r.kkt[-2]
        assert r.kkt[-1] == pytest.approx(nmflab.diagnostics.kkt_residual(V, r.W, r.H), rel=1e-6)


def test_first_rule_met_wins_and_is_named():
    rng = np.random.default_rng(2)
    V, W0, H0 = random_problem(rng)
    kw = dict(init=(W0, H0), method="hals", stop=("objective", "iterate"))
    res = nmflab.nmf(V, 3, tol=1e-2, iterate_tol=1e-12, **kw)
    assert res.status == Status.CONVERGED and "objective rule" in res.message
    res = nmflab.nmf(V, 3, tol=0.0, iterate_tol=1e-3, **kw)
    assert res.status == Status.ITERATES_STALLED and "iterate rule" in res.message


@dataclass(frozen=True)
class PoisonAt(nmflab.rules.Rule):
    """A rule that turns W into NaN at a given iteration (to test the drivers); not registered."""

    at: int
    update_h: bool = True
    update_w: bool = True
    loss: ClassVar[str] = "frobenius"
    method: ClassVar[str] = "poison"
    beta: ClassVar[float] = 2.0

    def init(self, xp, data, W, H, consts):
        return xp.asarray(0)

    def update(self, xp, data, W, H, state, consts):
        i = state + 1
        return xp.where(i == self.at, xp.nan, W * 0.99), H, i

    def objective(self, xp, data, W, H, state, consts):
        return data.divergence(2.0, W, H, None)


def test_nonfinite_mid_run_stops_with_that_status(backend):
    from importlib import import_module

    driver = import_module(f"nmflab.drivers.{backend}")
    rng = np.random.default_rng(0)
    V, W0, H0 = random_problem(rng)
    criteria = StopCriteria(100, ("objective",), tol=0.0)
    (rec,) = driver.run(PoisonAt(13), V, [W0], [H0], criteria, 5)
    assert rec.status == Status.NONFINITE
    assert rec.n_iter == 15  # the first check after iteration 13
    assert np.isfinite(rec.trace.objective[:-1]).all() and np.isnan(rec.trace.objective[-1])


class _Clock:
    """A stand-in for the ``time`` module whose ``perf_counter`` advances 0.25 s per reading (exact in binary)."""

    def __init__(self):
        self.readings = 0

    def perf_counter(self):
        self.readings += 1
        return 0.25 * (self.readings - 1)


def test_time_limit_stops_at_the_first_check_past_the_budget(backend, monkeypatch):
    """The budget is read off a clock that ticks once per check, so the verdict is the same on any machine:
    checks end at 0.25, 0.5, 0.75 and 1.0 s, and the first past 0.6 s (the third) stops the fit."""
    from importlib import import_module

    driver = import_module(f"nmflab.drivers.{backend}")
    monkeypatch.setattr(driver, "time", _Clock())
    rng = np.random.default_rng(0)
    V, W0, H0 = random_problem(rng, 40, 30, 4)
    res = nmflab.nmf(V, 4, method="mu", init=(W0, H0), tol=0.0, max_iter=10**6, check_every=5, time_limit=0.6,
                     backend=backend)
    assert res.status == Status.TIME_LIMIT
    assert res.n_iter == 15
    np.testing.assert_array_equal(res.times, [0.25, 0.5, 0.75])
    untimed = nmflab.nmf(V, 4, method="mu", init=(W0, H0), max_iter=15, stop="max_iter", check_every=5)
    np.testing.assert_allclose(res.W, untimed.W, rtol=1e-10)  # the budget only stops; it changes no iterate


def test_the_time_limit_holds_under_stop_max_iter(backend, monkeypatch):
    """It was ignored there: a user who asks for a budget gets it under any rule."""
    from importlib import import_module

    monkeypatch.setattr(import_module(f"nmflab.drivers.{backend}"), "time", _Clock())
    rng = np.random.default_rng(0)
    V, W0, H0 = random_problem(rng)
    res = nmflab.nmf(V, 3, init=(W0, H0), max_iter=50, stop="max_iter", check_every=5, time_limit=0.6,
                     backend=backend)
    assert res.status == Status.TIME_LIMIT and res.n_iter == 15


def test_restarts_share_the_time_limit(backend, monkeypatch):
    """Restart 0 took the whole budget and left one check to each later one. Now each stops past its
    share of what is left when it starts: with checks ticking 0.25 s, a 1.5 s budget over 3 restarts gives
    deadlines 0.5, 0.75 + 0.75 / 2 = 1.125 and 1.5, so 3, 2 and 2 checks (the shared budget gave 7, 1, 1)."""
    from importlib import import_module

    monkeypatch.setattr(import_module(f"nmflab.drivers.{backend}"), "time", _Clock())
    rng = np.random.default_rng(0)
    V, _, _ = random_problem(rng, 40, 30, 4)
    kw = dict(method="mu", restarts=3, seed=0, max_iter=10**6, tol=0.0, check_every=5, time_limit=1.5,
              backend=backend)
    res = nmflab.nmf(V, 4, **kw, **({"lanes": 1} if backend == "jax" else {}))
    assert list(res.restart_n_iter) == [15, 10, 10]
    assert list(res.restart_status) == [Status.TIME_LIMIT] * 3




def test_progress_reports_every_check_of_every_restart_in_the_units_of_v(backend):
    """nmf() said nothing on long fits. A callable now sees each check; its objective is the trace's."""
    rng = np.random.default_rng(0)
    V, _, _ = random_problem(rng, 30, 20, 3)
    V = V * 2.0**-40  # a data scale: the driver works on V / 2**-40, the report must not
    checks = []
    kw = dict(method="mu", restarts=3, seed=0, max_iter=60, check_every=10, keep_restarts=True, backend=backend,
              **({"lanes": 2} if backend == "jax" else {}))
    res = nmflab.nmf(V, 3, progress=checks.append, **kw)
    quiet = nmflab.nmf(V, 3, **kw)
    np.testing.assert_array_equal(res.restart_W, quiet.restart_W)  # reporting changes no iterate
    for restart in range(3):
        mine = [c for c in checks if c.restart == restart]
        assert [c.iteration for c in mine] == list(range(10, 61, 10))
        assert [c.status for c in mine] == [Status.RUNNING] * 5 + [Status(res.restart_status[restart])]
    best = [c.objective for c in checks if c.restart == res.best_restart]
    np.testing.assert_allclose(best, res.objective, rtol=1e-12)
    later = []
    nmflab.nmf(V, 3, progress=later.append, first_restart=5, **{**kw, "restarts": 1})
    assert {c.restart for c in later} == {5}
    with pytest.raises(TypeError, match="progress must be True, False or a callable"):
        nmflab.nmf(V, 3, progress="yes")


def test_the_progress_printer_throttles_and_reports_each_stop():
    import io

    from nmflab.progress import Check, FitProgress

    ticks = iter(np.arange(0.0, 100.0, 0.75))
    out = io.StringIO()
    printer = FitProgress(2, every=2.0, stream=out, clock=lambda: float(next(ticks)))
    for k in range(1, 7):  # checks at 0.75, 1.5, ..., 4.5 s
        printer(Check(0, 10 * k, 100.0 / k, Status.RUNNING))
    printer(Check(0, 70, 14.0, Status.CONVERGED))
    printer(Check(1, 10, float("nan"), Status.RUNNING))
    lines = out.getvalue().splitlines()
    assert lines == ["nmf: restart 1/2, iteration 30, objective 33.3333, 2.2 s",
                     "nmf: restart 1/2, iteration 60, objective 16.6667, 4.5 s",
                     f"nmf: restart 1/2 stopped after 70 iterations ({Status.CONVERGED.message}), objective 14, 5.2 s"]
