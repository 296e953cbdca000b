"""The race's bookkeeping: the refined figures find the first iteration that reaches a target."""

import numpy as np
import pytest

from benchmarks import race
from benchmarks.race import TARGETS, first_iteration, refine, targets


@pytest.mark.parametrize("seed", range(20))
def test_bisection_finds_the_first_iteration_brute_force_finds(seed):
    rng = np.random.default_rng(seed)
    objective = np.cumsum(rng.exponential(size=200))[::-1]  # decreasing
    first = int(rng.integers(1, 200))
    level = objective[first]
    below = int(rng.integers(0, first))
    above = int(rng.integers(first, 200))
    calls = []

    def reaches(k):
        calls.append(k)
        return bool(objective[k] <= level)

    assert first_iteration(reaches, below, above) == first
    assert len(calls) <= int(np.ceil(np.log2(max(above - below, 2))))


def test_refine_times_every_solver_alike_and_recomputes_the_ratios(monkeypatch):
    """Two solvers sampled at different points of the same deterministic objective ``max(1/k, 1/50)``:
    the refined runs find the exact count, 50, for both, and the ratio follows the refined times."""
    def objective(k):
        return max(1 / k, 1 / 50)

    curves = {"nmflab-a": [(0.01 * k, objective(k), k) for k in (20, 40, 60)],
              "peer": [(0.01 * k, objective(k), k) for k in (16, 32, 64)]}
    best, table = targets(curves)
    assert best == 1 / 50
    cost = {"nmflab-a": 0.001, "peer": 0.002}  # seconds an iteration, in place of a clock
    runs = {name: (lambda k, name=name: (k, cost[name])) for name in curves}
    monkeypatch.setattr(race, "best_seconds", lambda run, repeats: run()[0] * run()[1])
    refine(table, curves, runs, lambda k, _: objective(k), best)
    for label, _ in TARGETS:
        for name in curves:
            assert table[name][label]["refined"] == {"iterations": 50, "seconds": pytest.approx(50 * cost[name])}
        assert table["nmflab-a"][label]["speedup_vs_fastest_peer"] == pytest.approx(2.0)
