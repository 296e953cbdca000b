"""The one loop body: a start, and the check interval that every driver runs.

A fit is a sequence of check intervals: ``check_every`` updates of the rule,
then the objective (or, where no rule needs it, a probe that the factors are
finite), the KKT residual where the kkt rule is on, and the stopping test.
:func:`check_interval` writes that once, over an array namespace, with the
control flow of :mod:`nmflab._xp`: the NumPy driver calls it from a Python
loop, the JAX driver from ``lax.while_loop`` under ``vmap`` (the way jaxopt
switches one loop between Python and ``lax``), so a fit stops at the same
iteration with the same factors on both. What only the host can do is here
too, as functions both drivers call: each restart's share of the wall-time
budget (:func:`nmflab.stopping.restart_deadline`) and the objective evaluated
once after the last iteration when ``trace=False`` (:func:`final_objective`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import _xp
from ..result import Trace
from ..stopping import StopCriteria, check, finite_probe, initial_status, start_monitor

__all__ = ["Carry", "start", "check_interval", "final_objective"]


class Carry(NamedTuple):
    """What one restart carries from a check to the next."""

    W: Any
    H: Any
    state: Any
    iteration: Any
    status: Any
    monitor: Any
    initial: Any


def start(xp, rule, data, consts, W, H) -> Carry:
    """The carry of a start ``(W, H)``: the rule's state, the start's objective and the stopping monitor."""
    state = rule.init(xp, data, W, H, consts)
    initial = rule.objective(xp, data, W, H, state, consts)
    return Carry(W, H, state, xp.asarray(0, dtype=xp.int32), initial_status(xp, initial),
                 start_monitor(xp, W, H, initial), initial)


def check_interval(xp, rule, data, consts, criteria: StopCriteria, check_every, carry: Carry,
                   step=None, whole_intervals: bool | None = None) -> tuple[Carry, Trace]:
    """``check_every`` updates (fewer before ``max_iter``) and the check after them.

    Parameters
    ----------
    step : callable, optional
        ``step(xp, data, W, H, state, consts) -> (W, H, state)``, one
        iteration: the rule's ``update`` unless a driver wraps it (the NumPy
        driver flushes subnormal numbers after each).
    whole_intervals : bool, optional
        Whether ``max_iter`` is a multiple of ``check_every``, so that every
        interval makes exactly ``check_every`` updates. Computed from the two
        when they are numbers; a driver that passes them as traced values
        (the JAX driver) says it.

    Returns
    -------
    carry : Carry
    row : Trace
        The check's row of the trace (``times`` NaN: the host fills it in).

    Notes
    -----
    The carry's factors and state are handed to the updates, not kept: on
    NumPy the products the state carries (``W H``, an ``n x p`` array for KL)
    are freed as soon as the first update has replaced them, as in a plain
    loop, provided the caller holds no reference to the carry it passes
    (the NumPy driver pops it from a list).
    """
    step = rule.update if step is None else step
    if whole_intervals is None:
        whole_intervals = criteria.max_iter % check_every == 0
    if whole_intervals:
        # A fixed trip count: under vmap a per-lane count would make every
        # update select between old and new factors (and products) per lane.
        steps = check_every
    else:
        steps = xp.minimum(check_every, criteria.max_iter - carry.iteration)
    factors = [(carry.W, carry.H, carry.state)]
    carry = carry._replace(W=None, H=None, state=None)
    W, H, state = _xp.fori_loop(xp, steps, lambda _, f: step(xp, data, *f, consts), factors.pop())
    iteration = carry.iteration + steps
    objective = rule.objective(xp, data, W, H, state, consts) if criteria.needs_objective else finite_probe(xp, W, H)
    kkt = data.kkt_residual(rule.beta, W, H, getattr(rule, "penalty", None)) if criteria.needs_kkt else xp.nan
    code, monitor, (w_change, h_change) = check(xp, carry.monitor, W, H, objective, kkt, iteration, criteria)
    if not criteria.needs_objective:
        objective = xp.nan  # evaluated once the restart has stopped (final_objective)
    row = Trace(objective=objective, iterations=iteration, times=xp.nan, w_change=w_change, h_change=h_change,
                kkt=kkt)
    return carry._replace(W=W, H=H, state=state, iteration=iteration, status=code, monitor=monitor), row


def final_objective(xp, rule, data, consts, W, H, state):
    """The objective after a restart's last iteration, where the checks did not evaluate it (``trace=False``)."""
    return rule.objective(xp, data, W, H, state, consts)
