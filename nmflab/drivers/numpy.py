"""The NumPy driver: a plain Python loop around a rule."""

from __future__ import annotations

import time

import numpy as np

from ..result import Status
from ..stopping import StopCriteria, check, finite_probe, initial_status, start_monitor
from . import RunRecord, kkt_of

__all__ = ["run"]


def _flush_subnormal(X):
    """``X`` with its subnormal entries (below the smallest normal number) set to 0.

    What XLA's CPU backend does to every result (flush to zero), so the
    two backends agree; and what keeps NumPy fast: multiplicative updates
    shrink dying entries geometrically into the subnormal range, where
    each operation on them costs ~100 cycles. On the digits (KL MU, rank
    16) 200 iterations took 0.38 s at first and 2.9 s after 2000, with
    3537 subnormal entries in the factors. Negative entries (none in
    a factor) would be set to 0 too.
    """
    small = X < np.finfo(X.dtype).tiny
    if not np.any(small & (X != 0)):  # the common case (exact zeros alone): 4x cheaper than the where
        return X
    return np.where(small, X.dtype.type(0), X)


def _run_one(rule, V, consts, W, H, criteria: StopCriteria, check_every: int, start: float) -> RunRecord:
    state = rule.init(np, V, W, H, consts)
    initial = rule.objective(np, V, W, H, state, consts)
    monitor = start_monitor(np, W, H, initial)
    status = int(initial_status(np, initial))
    traces = {"objective": [], "iterations": [], "times": [], "w_change": [], "h_change": [], "kkt": []}
    iteration = 0
    while status == Status.RUNNING:
        for _ in range(min(check_every, criteria.max_iter - iteration)):
            W, H, state = rule.update(np, V, W, H, state, consts)
            W, H = _flush_subnormal(W), _flush_subnormal(H)
        iteration = min(iteration + check_every, criteria.max_iter)
        if criteria.needs_objective:
            objective = rule.objective(np, V, W, H, state, consts)
        else:
            objective = finite_probe(np, W, H)
        kkt = kkt_of(np, rule, V, W, H, consts) if criteria.needs_kkt else np.nan
        code, monitor, (w_change, h_change) = check(np, monitor, W, H, objective, kkt, iteration, criteria)
        status = int(code)
        elapsed = time.perf_counter() - start
        if status == Status.RUNNING and criteria.time_limit is not None and elapsed > criteria.time_limit:
            status = int(Status.TIME_LIMIT)
        if not criteria.needs_objective:  # evaluated once, after the last iteration
            objective = rule.objective(np, V, W, H, state, consts) if status != Status.RUNNING else np.nan
        for name, value in zip(traces, (objective, iteration, elapsed, w_change, h_change, kkt)):
            traces[name].append(value)
    return RunRecord(
        W=W,
        H=H,
        initial_objective=float(initial),
        objective=np.asarray(traces["objective"], dtype=np.float64),
        iterations=np.asarray(traces["iterations"], dtype=np.int64),
        times=np.asarray(traces["times"], dtype=np.float64),
        w_change=np.asarray(traces["w_change"], dtype=np.float64),
        h_change=np.asarray(traces["h_change"], dtype=np.float64),
        kkt=np.asarray(traces["kkt"], dtype=np.float64),
        n_iter=iteration,
        status=status,
    )


def run(rule, V, W0s, H0s, criteria: StopCriteria, check_every: int, weights=None, lanes=None) -> list[RunRecord]:
    """Fit every start in ``(W0s[i], H0s[i])`` one after the other (``lanes`` is for JAX; one at a time here).

    Floating-point warnings are silenced inside the loop: a non-finite
    objective is caught by the stopping rules and reported as
    ``Status.NONFINITE``. The wall-time budget covers all restarts together,
    as on JAX, and ``times`` count from the start of this call.
    """
    start = time.perf_counter()
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        consts = rule.prepare(np, V, weights)
        return [_run_one(rule, V, consts, W0, H0, criteria, check_every, start) for W0, H0 in zip(W0s, H0s)]
