"""The NumPy driver: a plain Python loop around a rule."""

from __future__ import annotations

import time

import numpy as np

from ..result import Status
from ..stopping import StopCriteria, stop_code
from . import RunRecord

__all__ = ["run"]


def _run_one(rule, V, consts, W, H, criteria: StopCriteria, check_every: int) -> RunRecord:
    state = rule.init(np, V, W, H, consts)
    previous = rule.objective(np, V, W, H, state, consts)
    initial = float(previous)
    objective, iterations, times = [], [], []
    iteration = 0
    status = int(stop_code(np, previous, previous, 0, StopCriteria(criteria.max_iter, use_tol=False)))
    start = time.perf_counter()
    while status == Status.RUNNING:
        steps = min(check_every, criteria.max_iter - iteration)
        for _ in range(steps):
            W, H, state = rule.update(np, V, W, H, state, consts)
        iteration += steps
        current = rule.objective(np, V, W, H, state, consts)
        objective.append(float(current))
        iterations.append(iteration)
        times.append(time.perf_counter() - start)
        status = int(stop_code(np, previous, current, iteration, criteria))
        previous = current
    return RunRecord(
        W=W,
        H=H,
        initial_objective=initial,
        objective=np.asarray(objective, dtype=np.float64),
        iterations=np.asarray(iterations, dtype=np.int64),
        times=np.asarray(times),
        n_iter=iteration,
        status=status,
    )


def run(rule, V, W0s, H0s, criteria: StopCriteria, check_every: int) -> list[RunRecord]:
    """Fit every start in ``(W0s[i], H0s[i])`` one after the other.

    Floating-point warnings are silenced inside the loop: a non-finite
    objective is caught by the stopping predicate and reported as
    ``Status.NONFINITE``.
    """
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        consts = rule.prepare(np, V)
        return [_run_one(rule, V, consts, W0, H0, criteria, check_every) for W0, H0 in zip(W0s, H0s)]
