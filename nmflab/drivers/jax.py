"""The JAX driver: the whole fit is one jitted call.

The loop is a ``lax.while_loop`` over checks with a ``lax.fori_loop`` of
``check_every`` updates inside; restarts are batched with ``jax.vmap``
(a finished restart's carry is frozen while the others go on, so a batch
gives the same answer as separate runs). The rule, the stopping criteria
and ``check_every`` are static arguments: they are frozen dataclasses and
integers that hash by value, so repeated calls with the same configuration
and shapes reuse the compiled program.

Float64 needs JAX's x64 mode; the driver switches it on for the duration
of a float64 call only (``jax.enable_x64``), never globally.
"""

from __future__ import annotations

import contextlib
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..result import Status
from ..stopping import StopCriteria, stop_code
from . import RunRecord, n_checks

__all__ = ["run", "trace_count"]

_TRACES = {"count": 0}


def trace_count() -> int:
    """How many times the fit program has been traced (compiled) so far."""
    return _TRACES["count"]


def _fit_one(rule, criteria: StopCriteria, check_every: int, V, consts, W, H):
    state = rule.init(jnp, V, W, H, consts)
    initial = rule.objective(jnp, V, W, H, state, consts)
    size = n_checks(criteria.max_iter, check_every)
    trace = jnp.full((size,), jnp.nan, dtype=V.dtype)
    iterations = jnp.zeros((size,), dtype=jnp.int32)
    status = stop_code(jnp, initial, initial, 0, StopCriteria(criteria.max_iter, use_tol=False))

    def one_update(_, factors):
        return rule.update(jnp, V, *factors, consts)

    def running(carry):
        return carry["status"] == int(Status.RUNNING)

    def check_interval(carry):
        steps = jnp.minimum(check_every, criteria.max_iter - carry["iteration"])
        W, H, state = lax.fori_loop(0, steps, one_update, (carry["W"], carry["H"], carry["state"]))
        iteration = carry["iteration"] + steps
        current = rule.objective(jnp, V, W, H, state, consts)
        k = carry["k"]
        return {
            "W": W,
            "H": H,
            "state": state,
            "iteration": iteration,
            "previous": current,
            "status": stop_code(jnp, carry["previous"], current, iteration, criteria).astype(jnp.int32),
            "trace": carry["trace"].at[k].set(current),
            "iterations": carry["iterations"].at[k].set(iteration),
            "k": k + 1,
        }

    carry = {
        "W": W,
        "H": H,
        "state": state,
        "iteration": jnp.int32(0),
        "previous": initial,
        "status": status.astype(jnp.int32),
        "trace": trace,
        "iterations": iterations,
        "k": jnp.int32(0),
    }
    out = lax.while_loop(running, check_interval, carry)
    return {
        "W": out["W"],
        "H": out["H"],
        "initial": initial,
        "trace": out["trace"],
        "iterations": out["iterations"],
        "n_checks": out["k"],
        "n_iter": out["iteration"],
        "status": out["status"],
    }


@partial(jax.jit, static_argnames=("rule", "criteria", "check_every"))
def _fit_batch(V, W0s, H0s, *, rule, criteria, check_every):
    _TRACES["count"] += 1  # runs only while tracing
    consts = rule.prepare(jnp, V)
    return jax.vmap(lambda W, H: _fit_one(rule, criteria, check_every, V, consts, W, H))(W0s, H0s)


def _precision(dtype: np.dtype):
    if np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def run(rule, V, W0s, H0s, criteria: StopCriteria, check_every: int) -> list[RunRecord]:
    """Fit all starts ``(W0s[i], H0s[i])`` as one batch in one compiled call."""
    with _precision(V.dtype):
        out = _fit_batch(
            jnp.asarray(V),
            jnp.asarray(np.stack(W0s)),
            jnp.asarray(np.stack(H0s)),
            rule=rule,
            criteria=criteria,
            check_every=check_every,
        )
        out = jax.device_get(out)
    records = []
    for b in range(len(W0s)):
        k = int(out["n_checks"][b])
        records.append(
            RunRecord(
                W=np.asarray(out["W"][b]),
                H=np.asarray(out["H"][b]),
                initial_objective=float(out["initial"][b]),
                objective=np.asarray(out["trace"][b][:k], dtype=np.float64),
                iterations=np.asarray(out["iterations"][b][:k], dtype=np.int64),
                times=None,
                n_iter=int(out["n_iter"][b]),
                status=int(out["status"][b]),
            )
        )
    return records
