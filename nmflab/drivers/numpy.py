"""The NumPy driver: the check interval of :mod:`.loop` in a plain Python loop."""

from __future__ import annotations

import time

import numpy as np

from .._malloc import tune_allocator
from ..data import as_data
from ..parallel import blas_threads
from ..result import Status, Trace
from ..stopping import StopCriteria, restart_deadline
from . import RunRecord, loop

__all__ = ["run", "flush_subnormal"]


def flush_subnormal(X):
    """``X`` with its subnormal entries (nonzero, smaller in magnitude than the smallest normal number) set to 0.

    What XLA's CPU backend does to every result (flush to zero), so the two
    backends agree; and what keeps NumPy fast: multiplicative updates shrink
    dying entries geometrically into the subnormal range, where each
    operation on them costs about a hundred cycles. Only subnormals are
    touched: a negative entry of a signed factor (semi-NMF) keeps its value.
    """
    tiny = np.finfo(X.dtype).tiny
    below = X < tiny
    if not np.any(below & (X != 0)):  # no subnormal and no negative entry (the common case): no write
        return X
    return np.where(below & (X > -tiny), X.dtype.type(0), X)


def _flushed(rule):
    """The rule's update followed by :func:`flush_subnormal` of both factors."""

    def step(xp, data, W, H, state, consts):
        W, H, state = rule.update(xp, data, W, H, state, consts)
        return flush_subnormal(W), flush_subnormal(H), state

    return step


def _run_one(rule, data, consts, W, H, criteria: StopCriteria, check_every: int, start: float,
             deadline: float, report=None) -> RunRecord:
    step = _flushed(rule)
    carry = loop.start(np, rule, data, consts, W, H)
    rows = []
    while carry.status == Status.RUNNING:
        handed = [carry]  # handed over: the interval frees the previous state once an update replaces it
        del carry
        carry, row = loop.check_interval(np, rule, data, consts, criteria, check_every, handed.pop(), step)
        now = time.perf_counter()
        if carry.status == Status.RUNNING and now > deadline:
            carry = carry._replace(status=np.int32(Status.TIME_LIMIT))
        rows.append(row._replace(times=now - start))
        if report is not None:
            report(int(carry.iteration), float(row.objective), int(carry.status))
    if rows and not criteria.needs_objective:
        final = loop.final_objective(np, rule, data, consts, carry.W, carry.H, carry.state)
        rows[-1] = rows[-1]._replace(objective=final)
    return RunRecord(W=carry.W, H=carry.H, initial_objective=float(carry.initial), trace=Trace.stack(rows),
                     n_iter=int(carry.iteration), status=int(carry.status))


def run(rule, V, W0s, H0s, criteria: StopCriteria, check_every: int, weights=None, lanes=None,
        progress=None) -> list[RunRecord]:
    """Fit every start in ``(W0s[i], H0s[i])`` one after the other (``lanes`` is for JAX; one at a time here).

    ``progress(i, iteration, objective, status)``, if given, is called after
    every check of start ``i`` (objective in the driver's units, NaN where
    not evaluated; status a :class:`~nmflab.result.Status` value).

    The first call fixes glibc's allocator thresholds for the process
    (:mod:`nmflab._malloc`; ``NMFLAB_MALLOC=default`` leaves them alone).
    BLAS runs with the threads the storage asks for while the fit runs
    (:attr:`nmflab.data.Data.blas_threads`: one for sparse ``V``).

    Floating-point warnings are silenced inside the loop: a non-finite
    objective is caught by the stopping rules and reported as
    ``Status.NONFINITE``. The wall-time budget covers all restarts together,
    each stopping at its share (:func:`nmflab.stopping.restart_deadline`),
    as on JAX; ``times`` count from the start of this call.
    """
    tune_allocator()  # once per process: the speed of an iteration must not hang on the order of its frees
    start = time.perf_counter()
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        data = as_data(np, V, weights)
        with blas_threads(data.blas_threads):
            consts = rule.prepare(np, data)
            records, now = [], start
            for i, (W0, H0) in enumerate(zip(W0s, H0s)):
                deadline = np.inf
                if criteria.time_limit is not None:
                    deadline = restart_deadline(now, start + criteria.time_limit, len(W0s) - i)
                report = None if progress is None else (lambda *check, i=i: progress(i, *check))
                records.append(_run_one(rule, data, consts, W0, H0, criteria, check_every, start, deadline, report))
                times = records[-1].trace.times
                now = start + float(times[-1]) if len(times) else time.perf_counter()  # the clock's last reading
        return records
