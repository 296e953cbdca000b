"""The JAX driver: each fit is compiled; restarts are one batch.

The loop is a ``lax.while_loop`` over the check interval that the NumPy
driver runs too (:func:`nmflab.drivers.loop.check_interval`: a
``lax.fori_loop`` of ``check_every`` updates and the check), batched over
restarts with ``jax.vmap`` (a finished restart's carry is frozen while the
others go on, so a batch gives the answer of separate runs). The rule, the stopping criteria and
``check_every`` are static arguments: frozen dataclasses and integers that
hash by value, so repeated calls with the same configuration and shapes
reuse the compiled programs.

The loop runs in segments (``_advance`` returns to Python): one segment
for the whole fit normally; when restarts outnumber the lanes, a segment
ends as soon as one lane's restart stops, and the host puts the next
restart into that lane; one check per segment when a wall-time budget is
set, so that the host can read the clock, record the time of each check
and stop the batch when the budget runs out.

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

from ..data import Dense
from ..result import Status, Trace
from ..stopping import StopCriteria, restart_deadline
from . import RunRecord, loop, n_checks

__all__ = ["run", "trace_count", "default_lanes"]

_TRACES = {"count": 0}
#: The trace fields a lane records on the device (the host records the times).
_DEVICE_FIELDS = tuple(name for name in Trace._fields if name != "times")

try:  # the data object is an argument of the compiled programs: its arrays are leaves, its namespace static
    jax.tree_util.register_dataclass(Dense)
except ValueError:  # registered already (this module reloaded)
    pass


class Lane(NamedTuple):
    """One restart on the device: its carry, its trace so far and how many checks it has made."""

    carry: loop.Carry
    trace: Trace
    k: Any


def trace_count() -> int:
    """How many times a fit program has been traced (compiled) so far."""
    return _TRACES["count"]


def _start_one(rule, criteria: StopCriteria, check_every: int, data, consts, W, H) -> Lane:
    carry = loop.start(jnp, rule, data, consts, W, H)
    size = n_checks(criteria.max_iter, check_every)
    nan = jnp.full((size,), jnp.nan, dtype=data.dtype)
    trace = Trace(objective=nan, iterations=jnp.zeros((size,), dtype=jnp.int32), times=None, w_change=nan,
                  h_change=nan, kkt=nan)
    return Lane(carry, trace, jnp.int32(0))


def _check_lane(rule, criteria: StopCriteria, check_every: int, data, consts, lane: Lane) -> Lane:
    """One restart's check interval (:func:`.loop.check_interval`), its row written into the trace."""
    carry, row = loop.check_interval(jnp, rule, data, consts, criteria, check_every, lane.carry)
    written = {name: getattr(lane.trace, name).at[lane.k].set(jnp.asarray(getattr(row, name),
                                                                        dtype=getattr(lane.trace, name).dtype))
               for name in _DEVICE_FIELDS}
    return Lane(carry, lane.trace._replace(**written), lane.k + 1)


@partial(jax.jit, static_argnames=("rule", "criteria", "check_every"))
def _start(V, W0s, H0s, weights, *, rule, criteria, check_every):
    _TRACES["count"] += 1  # runs only while tracing
    data = Dense.build(jnp, V, weights)
    consts = rule.prepare(jnp, data)
    lanes = jax.vmap(lambda W, H: _start_one(rule, criteria, check_every, data, consts, W, H))(W0s, H0s)
    return data, consts, lanes


@partial(jax.jit, static_argnames=("rule", "criteria", "check_every"))
def _advance(data, consts, lanes, k_limits, until_first_stop, *, rule, criteria, check_every):
    """Checks of every lane until all have stopped or reached ``k_limits``; with ``until_first_stop``, until one has.

    A lane that has stopped keeps its carry while the others go on (what
    a batched ``while_loop`` does), so its result is that of a separate
    run. Ending at the first stop lets the host put the next pending
    restart into that lane at once instead of running it idle.
    """
    _TRACES["count"] += 1

    def running(lanes):
        return (lanes.carry.status == int(Status.RUNNING)) & (lanes.k < k_limits)

    def go_on(lanes):
        active = running(lanes)
        return jnp.where(until_first_stop, jnp.all(active), jnp.any(active))

    def checks(lanes):
        active = running(lanes)
        new = jax.vmap(lambda one: _check_lane(rule, criteria, check_every, data, consts, one))(lanes)
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


@partial(jax.jit, static_argnames=("rule",))
def _final_objective(data, consts, W, H, state, *, rule):
    """The objective of one stopped restart (where the checks did not evaluate it)."""
    return loop.final_objective(jnp, rule, data, consts, W, H, state)


def _precision(dtype: np.dtype):
    if np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()


#: Bytes of one (lanes x n x p) batch of products that the CPU keeps in cache (about one core's L2).
_LANE_BYTES = 2**20


def default_lanes(shape, dtype, restarts: int) -> int:
    """How many restarts run side by side.

    On an accelerator, all of them (one batch). On a CPU, the iteration
    is bound by memory traffic once a batch of ``n x p`` products
    outgrows the cache: as many lanes as fit in ``_LANE_BYTES`` (at
    least one; measured in benchmarks/NOTES.md). Fewer lanes also waste
    less at the end of a pool, when the last restarts run beside idle
    lanes.
    """
    if jax.default_backend() != "cpu":
        return restarts
    per_lane = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return int(min(restarts, max(1, _LANE_BYTES // max(per_lane, 1))))


def _record(out: Lane, lane: int, times, final=None) -> RunRecord:
    k = int(out.k[lane])
    trace = Trace(times=None if times is None else np.asarray(times[:k]),
                  **{name: np.array(getattr(out.trace, name)[lane][:k],
                                    dtype=np.int64 if name == "iterations" else np.float64)
                     for name in _DEVICE_FIELDS})
    if final is not None and k > 0:
        trace.objective[-1] = final
    carry = out.carry
    return RunRecord(W=np.asarray(carry.W[lane]), H=np.asarray(carry.H[lane]),
                     initial_objective=float(carry.initial[lane]), trace=trace,
                     n_iter=int(carry.iteration[lane]), status=int(carry.status[lane]))


def run(rule, V, W0s, H0s, criteria: StopCriteria, check_every: int, weights=None, lanes=None,
        progress=None) -> list[RunRecord]:
    """Fit all starts ``(W0s[i], H0s[i])``, ``lanes`` of them side by side (default: :func:`default_lanes`).

    With as many lanes as starts and no wall-time budget, the whole fit
    is one compiled call. Otherwise the lanes form a pool: the device runs
    until a restart stops, the host collects it and puts the next pending
    start into its lane, so that no lane idles while a slow restart
    finishes (the total work is the sum of the restarts' iterations, not
    their maximum times their number). A restart's iterates do not depend
    on its lane or its neighbours. A rule that does not support batching
    (``supports_batch = False``) runs one restart at a time. ``progress`` is
    called as by the NumPy driver, after every check (the pool then returns
    to the host after each check, as under a time budget).
    """
    size = n_checks(criteria.max_iter, check_every)
    # The budget is enforced here on the host; leaving it out of the static
    # configuration lets fits with different budgets share one compiled program.
    static = dict(rule=rule, criteria=replace(criteria, time_limit=None), check_every=check_every)
    total = len(W0s)
    width = 1 if not rule.supports_batch else int(lanes or default_lanes(V.shape, V.dtype, total))
    width = max(1, min(width, total))
    timed = criteria.time_limit is not None
    segment = 1 if timed or progress is not None else size
    records: list[RunRecord | None] = [None] * total
    times = [np.full(size, np.nan) for _ in range(total)] if timed else None
    with _precision(V.dtype):
        start = time.perf_counter()
        V_dev = jnp.asarray(V)
        weights_dev = None if weights is None else jnp.asarray(weights)
        lane_of = list(range(width))  # restart in each lane; -1 once the lane is idle
        waiting = list(range(width, total))
        data, consts, pool = _start(V_dev, jnp.asarray(np.stack([W0s[i] for i in lane_of])),
                                    jnp.asarray(np.stack([H0s[i] for i in lane_of])), weights_dev, **static)
        k_host = np.zeros(width, dtype=np.int32)
        end = start + criteria.time_limit if timed else np.inf
        deadline = np.full(width, restart_deadline(start, end, total, width) if timed else np.inf)
        while True:
            # While restarts wait for a lane, return as soon as one lane stops.
            pool = _advance(data, consts, pool, jnp.asarray(k_host + segment, dtype=jnp.int32),
                            jnp.asarray(bool(waiting)), **static)
            out = jax.device_get(pool)  # waits for the segment
            now = time.perf_counter()
            k_after, status = np.asarray(out.k), np.asarray(out.carry.status).copy()
            running = status == int(Status.RUNNING)
            if timed:
                for lane in np.flatnonzero(k_after > k_host):
                    times[lane_of[lane]][k_after[lane] - 1] = now - start
                # Every restart makes at least one check, as on NumPy.
                over = running & (k_after > 0) & (now > deadline)
                if over.any():
                    status[over] = int(Status.TIME_LIMIT)
                    out = out._replace(carry=out.carry._replace(status=status))
                    pool = pool._replace(carry=pool.carry._replace(status=jnp.asarray(status)))
                    running &= ~over
            if progress is not None:
                for lane in np.flatnonzero(k_after > k_host):
                    if lane_of[lane] >= 0:
                        progress(lane_of[lane], int(out.carry.iteration[lane]),
                                 float(out.trace.objective[lane][k_after[lane] - 1]), int(status[lane]))
            k_host = k_after.copy()
            fresh = np.zeros(width, dtype=bool)
            for lane in np.flatnonzero(~running):
                restart = lane_of[lane]
                if restart < 0:
                    continue
                final = None
                if not criteria.needs_objective:
                    # from the host copy: indexing device arrays would compile a slice per shape
                    lane_state = jax.tree_util.tree_map(lambda x, i=lane: x[i], out.carry.state)
                    final = float(_final_objective(data, consts, out.carry.W[lane], out.carry.H[lane], lane_state,
                                                   rule=rule))
                records[restart] = _record(out, lane, None if times is None else times[restart], final)
                lane_of[lane] = waiting.pop(0) if waiting else -1
                fresh[lane] = lane_of[lane] >= 0
            if not any(i >= 0 for i in lane_of):
                break
            if fresh.any():
                filler = next(i for i in lane_of if i >= 0)
                starts = [lane_of[lane] if fresh[lane] else filler for lane in range(width)]
                _, _, started = _start(V_dev, jnp.asarray(np.stack([W0s[i] for i in starts])),
                                       jnp.asarray(np.stack([H0s[i] for i in starts])), weights_dev, **static)
                pool = started if fresh.all() else _refill(jnp.asarray(fresh), started, pool)
                k_host[fresh] = 0
                if timed:
                    deadline[fresh] = restart_deadline(now, end, len(waiting) + int(fresh.sum()), width)
    return records
