"""The JAX driver: each fit is compiled; restarts are one batch.

The loop is a ``lax.while_loop`` over checks with a ``lax.fori_loop`` of
``check_every`` updates inside, batched over restarts with ``jax.vmap`` (a
finished restart's carry is frozen while the others go on, so a batch gives
the answer of separate runs). The rule, the stopping criteria and
``check_every`` are static arguments: frozen dataclasses and integers that
hash by value, so repeated calls with the same configuration and shapes
reuse the compiled programs.

The loop runs in segments (``_advance`` stops after a given number of
checks and returns to Python): one segment for the whole fit normally, one
per check when a wall-time budget is set, so that the host can read the
clock, record the time of each check and stop the batch when the budget
runs out.

Float64 needs JAX's x64 mode; the driver switches it on for the duration
of a float64 call only (``jax.enable_x64``), never globally.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..result import Status
from ..stopping import StopCriteria, check, initial_status, start_monitor
from . import RunRecord, kkt_of, n_checks

__all__ = ["run", "trace_count"]

_TRACES = {"count": 0}
_TRACE_NAMES = ("objective", "iterations", "w_change", "h_change", "kkt")


def trace_count() -> int:
    """How many times a fit program has been traced (compiled) so far."""
    return _TRACES["count"]


def _start_one(rule, criteria: StopCriteria, check_every: int, V, consts, W, H):
    state = rule.init(jnp, V, W, H, consts)
    initial = rule.objective(jnp, V, W, H, state, consts)
    size = n_checks(criteria.max_iter, check_every)
    nan = jnp.full((size,), jnp.nan, dtype=V.dtype)
    return {
        "W": W,
        "H": H,
        "state": state,
        "iteration": jnp.int32(0),
        "status": initial_status(jnp, initial),
        "monitor": start_monitor(jnp, W, H, initial),
        "initial": initial,
        "k": jnp.int32(0),
        "objective": nan,
        "iterations": jnp.zeros((size,), dtype=jnp.int32),
        "w_change": nan,
        "h_change": nan,
        "kkt": nan,
    }


def _advance_one(rule, criteria: StopCriteria, check_every: int, V, consts, carry, k_limit):
    def one_update(_, factors):
        return rule.update(jnp, V, *factors, consts)

    def running(c):
        return (c["status"] == int(Status.RUNNING)) & (c["k"] < k_limit)

    def check_interval(c):
        steps = jnp.minimum(check_every, criteria.max_iter - c["iteration"])
        W, H, state = lax.fori_loop(0, steps, one_update, (c["W"], c["H"], c["state"]))
        iteration = c["iteration"] + steps
        objective = rule.objective(jnp, V, W, H, state, consts)
        kkt = kkt_of(jnp, rule, V, W, H, consts) if criteria.needs_kkt else jnp.nan
        code, monitor, (w_change, h_change) = check(jnp, c["monitor"], W, H, objective, kkt, iteration, criteria)
        k = c["k"]
        new = dict(c, W=W, H=H, state=state, iteration=iteration, status=code, monitor=monitor, k=k + 1)
        for name, value in zip(_TRACE_NAMES, (objective, iteration, w_change, h_change, kkt)):
            new[name] = c[name].at[k].set(jnp.asarray(value, dtype=c[name].dtype))
        return new

    return lax.while_loop(running, check_interval, carry)


@partial(jax.jit, static_argnames=("rule", "criteria", "check_every"))
def _start(V, W0s, H0s, weights, *, rule, criteria, check_every):
    _TRACES["count"] += 1  # runs only while tracing
    consts = rule.prepare(jnp, V, weights)
    carry = jax.vmap(lambda W, H: _start_one(rule, criteria, check_every, V, consts, W, H))(W0s, H0s)
    return consts, carry


@partial(jax.jit, static_argnames=("rule", "criteria", "check_every"))
def _advance(V, consts, carry, k_limit, *, rule, criteria, check_every):
    _TRACES["count"] += 1
    return jax.vmap(lambda c: _advance_one(rule, criteria, check_every, V, consts, c, k_limit))(carry)


def _precision(dtype: np.dtype):
    if np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def run(rule, V, W0s, H0s, criteria: StopCriteria, check_every: int, weights=None) -> list[RunRecord]:
    """Fit all starts ``(W0s[i], H0s[i])`` as one batch."""
    size = n_checks(criteria.max_iter, check_every)
    # The budget is enforced here on the host; leaving it out of the static
    # configuration lets fits with different budgets share one compiled program.
    static = dict(rule=rule, criteria=replace(criteria, time_limit=None), check_every=check_every)
    batch = len(W0s)
    times = None
    with _precision(V.dtype):
        start = time.perf_counter()
        V_dev = jnp.asarray(V)
        weights_dev = None if weights is None else jnp.asarray(weights)
        consts, carry = _start(V_dev, jnp.asarray(np.stack(W0s)), jnp.asarray(np.stack(H0s)), weights_dev, **static)
        if criteria.time_limit is None:
            carry = _advance(V_dev, consts, carry, jnp.int32(size), **static)
            out = jax.device_get(carry)
        else:
            times = np.full((batch, size), np.nan)
            for k in range(size):
                carry = _advance(V_dev, consts, carry, jnp.int32(k + 1), **static)
                status = np.asarray(carry["status"])  # waits for the segment
                elapsed = time.perf_counter() - start
                progressed = np.asarray(carry["k"]) == k + 1
                times[progressed, k] = elapsed
                running = status == int(Status.RUNNING)
                if not running.any():
                    break
                if elapsed > criteria.time_limit:
                    carry = dict(carry, status=jnp.where(jnp.asarray(running), int(Status.TIME_LIMIT), carry["status"]))
                    break
            out = jax.device_get(carry)
    records = []
    for b in range(batch):
        k = int(out["k"][b])
        records.append(
            RunRecord(
                W=np.asarray(out["W"][b]),
                H=np.asarray(out["H"][b]),
                initial_objective=float(out["initial"][b]),
                objective=np.asarray(out["objective"][b][:k], dtype=np.float64),
                iterations=np.asarray(out["iterations"][b][:k], dtype=np.int64),
                times=None if times is None else times[b, :k],
                w_change=np.asarray(out["w_change"][b][:k], dtype=np.float64),
                h_change=np.asarray(out["h_change"][b][:k], dtype=np.float64),
                kkt=np.asarray(out["kkt"][b][:k], dtype=np.float64),
                n_iter=int(out["iteration"][b]),
                status=int(out["status"][b]),
            )
        )
    return records
