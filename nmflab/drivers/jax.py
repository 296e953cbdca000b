"""The JAX driver: each fit is compiled; restarts are one batch.

The loop is a ``lax.while_loop`` over the check interval that the NumPy
driver runs too (:func:`nmflab.drivers.loop.check_interval`: a
``lax.fori_loop`` of ``check_every`` updates and the check), batched over
restarts with ``jax.vmap`` (a finished restart's carry is frozen while the
others go on, so a batch gives the answer of separate runs). The rule and
the active stopping rules are static arguments (frozen dataclasses that
hash by value); the thresholds, ``max_iter`` and ``check_every`` are
run-time arguments (:class:`Limits`), and the lanes' traces have a fixed
size (:data:`TRACE_ROWS`), so fits that differ in those reuse the compiled
programs; restart counts map onto power-of-two lane counts
(:func:`default_lanes`).

The loop runs in segments (``_advance`` returns to Python): a segment ends
when every lane has stopped or filled its trace (the host then drains the
rows); when restarts outnumber the lanes, as soon as one lane's restart
stops, and the host puts the next restart into that lane; after one check
when a wall-time budget or a progress callback is set, so that the host can
read the clock, record the time of each check and stop a restart when its
share of the budget runs out.

Float64 needs JAX's x64 mode; the driver switches it on for the duration
of a float64 call only (``jax.enable_x64``), never globally.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..data import Compressed, Dense, as_data
from ..result import Status, Trace
from ..stopping import StopCriteria, restart_deadline
from . import RunRecord, loop

__all__ = ["run", "trace_count", "default_lanes"]

_TRACES = {"count": 0}
#: The trace fields a lane records on the device (the host records the times).
_DEVICE_FIELDS = tuple(name for name in Trace._fields if name != "times")

for _storage in (Dense, Compressed):
    try:  # the data object is an argument of the compiled programs: its arrays are leaves, its namespace static
        jax.tree_util.register_dataclass(_storage)
    except ValueError:  # registered already (this module reloaded)
        pass


#: Checks a lane's trace holds on the device between two visits of the host, which then drains it. One
#: size for every ``max_iter`` and ``check_every``, so that they are run-time values of the compiled loop.
TRACE_ROWS = 64


class Lane(NamedTuple):
    """One restart on the device: its carry, its trace since the host last drained it, and how many checks that is."""

    carry: loop.Carry
    trace: Trace
    k: Any


class Limits(NamedTuple):
    """The stopping thresholds and ``check_every``: arguments of the compiled loop, not part of its program."""

    max_iter: Any
    tol: Any
    iterate_tol: Any
    kkt_tol: Any
    patience: Any
    check_every: Any


def _limits(criteria: StopCriteria, check_every: int, dtype) -> Limits:
    as_int = partial(jnp.asarray, dtype=jnp.int32)
    as_real = partial(jnp.asarray, dtype=dtype)
    return Limits(as_int(criteria.max_iter), as_real(criteria.tol), as_real(criteria.iterate_tol),
                  as_real(criteria.kkt_tol), as_int(criteria.patience), as_int(check_every))


def _structure(criteria: StopCriteria) -> StopCriteria:
    """What of ``criteria`` the compiled program depends on: the rules and ``trace`` (the numbers are Limits)."""
    return replace(criteria, max_iter=1, tol=0.0, iterate_tol=0.0, kkt_tol=0.0, patience=0, time_limit=None)


def trace_count() -> int:
    """How many times a fit program has been traced (compiled) so far."""
    return _TRACES["count"]


def _start_one(rule, data, consts, W, H) -> Lane:
    carry = loop.start(jnp, rule, data, consts, W, H)
    nan = jnp.full((TRACE_ROWS,), jnp.nan, dtype=data.dtype)
    trace = Trace(objective=nan, iterations=jnp.zeros((TRACE_ROWS,), dtype=jnp.int32), times=None, w_change=nan,
                  h_change=nan, kkt=nan)
    return Lane(carry, trace, jnp.int32(0))


def _check_lane(rule, criteria: StopCriteria, check_every, whole_intervals: bool, data, consts, lane: Lane) -> Lane:
    """One restart's check interval (:func:`.loop.check_interval`), its row written into the trace."""
    carry, row = loop.check_interval(jnp, rule, data, consts, criteria, check_every, lane.carry,
                                     whole_intervals=whole_intervals)
    written = {name: getattr(lane.trace, name).at[lane.k].set(jnp.asarray(getattr(row, name),
                                                                        dtype=getattr(lane.trace, name).dtype))
               for name in _DEVICE_FIELDS}
    return Lane(carry, lane.trace._replace(**written), lane.k + 1)


@partial(jax.jit, static_argnames=("rule",))
def _start(V, W0s, H0s, weights, *, rule):
    _TRACES["count"] += 1  # runs only while tracing
    data = as_data(jnp, V, weights)
    consts = rule.prepare(jnp, data)
    lanes = jax.vmap(lambda W, H: _start_one(rule, data, consts, W, H))(W0s, H0s)
    return data, consts, lanes


@partial(jax.jit, static_argnames=("rule", "structure", "whole_intervals"))
def _advance(data, consts, lanes, limits, k_limit, until_first_stop, *, rule, structure, whole_intervals):
    """Checks of every lane until all have stopped or made ``k_limit`` checks; with ``until_first_stop``, until one has.

    A lane that has stopped keeps its carry while the others go on (what
    a batched ``while_loop`` does), so its result is that of a separate
    run. Ending at the first stop lets the host put the next pending
    restart into that lane at once instead of running it idle. The
    thresholds and ``check_every`` are the run-time ``limits``; only the
    rules (``structure``) and whether ``max_iter`` is a whole number of
    check intervals (``whole_intervals``: then every interval has the same
    trip count in every lane) shape the program.
    """
    _TRACES["count"] += 1
    criteria = replace(structure, max_iter=limits.max_iter, tol=limits.tol, iterate_tol=limits.iterate_tol,
                       kkt_tol=limits.kkt_tol, patience=limits.patience)

    def running(lanes):
        return (lanes.carry.status == int(Status.RUNNING)) & (lanes.k < k_limit)

    def go_on(lanes):
        active = running(lanes)
        return jnp.where(until_first_stop, jnp.all(active), jnp.any(active))

    def checks(lanes):
        active = running(lanes)
        new = jax.vmap(lambda one: _check_lane(rule, criteria, limits.check_every, whole_intervals, data, consts,
                                               one))(lanes)
        return jax.tree_util.tree_map(
            lambda n, o: jnp.where(active.reshape(active.shape + (1,) * (o.ndim - 1)), n, o), new, lanes)

    return lax.while_loop(go_on, checks, lanes)


@jax.jit
def _refill(fresh, started, lanes):
    """Lanes where ``fresh`` is true take the lane of a new start; the others keep theirs.

    Only selects: it compiles in a fraction of the time a program that
    starts the restarts itself would (those are :func:`_start`'s).
    """
    def pick(new, old):
        return jnp.where(fresh.reshape(fresh.shape + (1,) * (old.ndim - 1)), new, old)

    return jax.tree_util.tree_map(pick, started, lanes)


@jax.jit
def _drained(lanes, idle):
    """The lanes with their trace counters reset (the host has copied the rows) and ``idle`` lanes stopped."""
    status = jnp.where(idle, jnp.int32(Status.MAX_ITER), lanes.carry.status)
    return lanes._replace(k=jnp.zeros_like(lanes.k), carry=lanes.carry._replace(status=status))


@partial(jax.jit, static_argnames=("rule",))
def _final_objectives(data, consts, W, H, state, *, rule):
    """The objective of every lane's factors (for restarts whose checks did not evaluate it)."""
    return jax.vmap(lambda w, h, st: loop.final_objective(jnp, rule, data, consts, w, h, st))(W, H, state)


def _precision(dtype: np.dtype):
    if np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()


#: Bytes of one (lanes x n x p) batch of products that the CPU keeps in cache (about one core's L2).
_LANE_BYTES = 2**20


def default_lanes(shape, dtype, restarts: int) -> int:
    """How many restarts run side by side: a power of two, so that other restart counts reuse the program.

    On an accelerator, all of them in one batch, rounded up to a power of
    two (the extra lanes idle). On a CPU, the iteration is bound by memory
    traffic once a batch of ``n x p`` products outgrows the cache: as many
    lanes as fit in ``_LANE_BYTES`` (at least one; measured in
    benchmarks/NOTES.md), and no more than the restarts, rounded down to a
    power of two (the pool runs the rest as lanes free up: the work is the
    same). Fewer lanes also waste less at the end of a pool, when the last
    restarts run beside idle lanes.
    """
    if jax.default_backend() != "cpu":
        return 1 << max(int(restarts) - 1, 0).bit_length()
    per_lane = int(np.prod(shape)) * np.dtype(dtype).itemsize
    fitting = int(min(restarts, max(1, _LANE_BYTES // max(per_lane, 1))))
    return 1 << (fitting.bit_length() - 1)


def _collected(rows: list[dict], times) -> Trace:
    """One restart's trace from the chunks the host drained."""
    fields = {name: np.concatenate([chunk[name] for chunk in rows]) if rows else
              np.zeros(0, dtype=np.int64 if name == "iterations" else np.float64) for name in _DEVICE_FIELDS}
    return Trace(times=None if times is None else np.asarray(times, dtype=np.float64), **fields)


def run(rule, V, W0s, H0s, criteria: StopCriteria, check_every: int, weights=None, lanes=None,
        progress=None) -> list[RunRecord]:
    """Fit all starts ``(W0s[i], H0s[i])``, ``lanes`` of them side by side (default: :func:`default_lanes`).

    The lanes form a pool: the device runs until a restart stops (or the
    lanes' traces are full), the host collects it and puts the next pending
    start into its lane, so that no lane idles while a slow restart
    finishes (the total work is the sum of the restarts' iterations, not
    their maximum times their number). A restart's iterates do not depend
    on its lane or its neighbours. A rule that does not support batching
    (``supports_batch = False``) runs one restart at a time. The device
    visits the host every :data:`TRACE_ROWS` checks to hand over the trace,
    and after every check under a time budget or with ``progress`` (called
    as by the NumPy driver), so that the host can read the clock.

    What compiles: one start program per rule and shapes, one loop program
    per rule, stopping rules, shapes and lane count, and whether
    ``max_iter`` is a multiple of ``check_every``. The thresholds, ``max_iter``
    and ``check_every`` are run-time values, and restart counts share the
    power-of-two lane counts of :func:`default_lanes`.
    """
    static = dict(rule=rule, structure=_structure(criteria),
                  whole_intervals=criteria.max_iter % check_every == 0)
    total = len(W0s)
    if not rule.supports_batch:
        width = 1
    else:
        width = int(lanes) if lanes else default_lanes(V.shape, V.dtype, total)
        width = max(1, width if not lanes else min(width, total))
    timed = criteria.time_limit is not None
    segment = 1 if timed or progress is not None else TRACE_ROWS
    records: list[RunRecord | None] = [None] * total
    rows: list[list[dict]] = [[] for _ in range(total)]
    times = [[] for _ in range(total)] if timed else None
    with _precision(V.dtype):
        start = time.perf_counter()
        limits = _limits(criteria, check_every, V.dtype)
        V_dev = jax.tree_util.tree_map(jnp.asarray, V)  # an array, or the arrays of a sketch (a QB)
        weights_dev = None if weights is None else jnp.asarray(weights)
        lane_of = [i if i < total else -1 for i in range(width)]  # restart in each lane; -1: idle
        waiting = list(range(width, total))

        def stack(starts, which):
            return jnp.asarray(np.stack([which[i if i >= 0 else 0] for i in starts]))

        data, consts, pool = _start(V_dev, stack(lane_of, W0s), stack(lane_of, H0s), weights_dev, rule=rule)
        idle = jnp.asarray([i < 0 for i in lane_of])
        pool = _drained(pool, idle)
        made = np.zeros(width, dtype=np.int64)  # checks made by each lane's restart
        end = start + criteria.time_limit if timed else np.inf
        deadline = np.full(width, restart_deadline(start, end, total, width) if timed else np.inf)
        k_limit = jnp.asarray(segment, dtype=jnp.int32)
        while True:
            # While restarts wait for a lane, return as soon as one lane stops.
            pool = _advance(data, consts, pool, limits, k_limit, jnp.asarray(bool(waiting)), **static)
            k, status, iteration, trace = jax.device_get((pool.k, pool.carry.status, pool.carry.iteration,
                                                          pool.trace))  # waits for the segment
            now = time.perf_counter()
            status = np.asarray(status).copy()
            for lane in np.flatnonzero((k > 0) & (np.asarray(lane_of) >= 0)):
                restart, count = lane_of[lane], int(k[lane])
                rows[restart].append({name: np.array(getattr(trace, name)[lane][:count],
                                                     dtype=np.int64 if name == "iterations" else np.float64)
                                      for name in _DEVICE_FIELDS})
                made[lane] += count
                if timed:
                    times[restart] += [now - start] * count
            running = (status == int(Status.RUNNING)) & (np.asarray(lane_of) >= 0)
            if timed:
                over = running & (made > 0) & (now > deadline)  # every restart makes at least one check
                status[over] = int(Status.TIME_LIMIT)
                running &= ~over
            if progress is not None:
                for lane in np.flatnonzero((k > 0) & (np.asarray(lane_of) >= 0)):
                    progress(lane_of[lane], int(iteration[lane]), float(trace.objective[lane][int(k[lane]) - 1]),
                             int(status[lane]))
            stopped = [lane for lane in range(width) if lane_of[lane] >= 0 and not running[lane]]
            fresh = np.zeros(width, dtype=bool)
            if stopped:
                W, H, initial = jax.device_get((pool.carry.W, pool.carry.H, pool.carry.initial))
                finals = None
                if not criteria.needs_objective:
                    finals = np.asarray(_final_objectives(data, consts, pool.carry.W, pool.carry.H, pool.carry.state,
                                                          rule=rule))
                for lane in stopped:
                    restart = lane_of[lane]
                    restart_trace = _collected(rows[restart], None if times is None else times[restart])
                    if finals is not None and len(restart_trace.objective):
                        restart_trace.objective[-1] = finals[lane]
                    records[restart] = RunRecord(W=np.asarray(W[lane]), H=np.asarray(H[lane]),
                                                 initial_objective=float(initial[lane]), trace=restart_trace,
                                                 n_iter=int(iteration[lane]), status=int(status[lane]))
                    lane_of[lane] = waiting.pop(0) if waiting else -1
                    fresh[lane] = lane_of[lane] >= 0
                    made[lane] = 0
            if not any(i >= 0 for i in lane_of):
                break
            if timed:  # the host's verdicts (TIME_LIMIT) freeze those lanes on the device too
                pool = pool._replace(carry=pool.carry._replace(status=jnp.asarray(status)))
            pool = _drained(pool, jnp.asarray([i < 0 for i in lane_of]))
            if fresh.any():
                starts = [lane_of[lane] if fresh[lane] else -1 for lane in range(width)]
                _, _, started = _start(V_dev, stack(starts, W0s), stack(starts, H0s), weights_dev, rule=rule)
                pool = started if fresh.all() else _refill(jnp.asarray(fresh), started, pool)
                if timed:
                    deadline[fresh] = restart_deadline(now, end, len(waiting) + int(fresh.sum()), width)
    return records
