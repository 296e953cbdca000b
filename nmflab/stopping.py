"""Stopping rules, shared by every driver.

After each check both drivers call :func:`check` with the same inputs, so
a fit stops at the same iteration on NumPy and on JAX. The rules:

``"objective"``
    ``|f_prev - f| <= tol * |f_prev|`` between two consecutive checks.
``"iterate"``
    ``||W - W_prev|| <= iterate_tol * ||W_prev||`` and the same for ``H``
    (the objective can stall while the factors still move).
``"kkt"``
    The relative KKT residual (:func:`nmflab.losses.kkt_residual`) is at
    most ``kkt_tol``.
``"connectivity"``
    The assignment of each sample to its dominant component (the argmax of
    its row of ``W``) has not changed, as a partition, for more than
    ``patience`` consecutive checks: R's NMF and Brunet et al. (2004) check
    every 10 iterations and stop after more than 40 unchanged checks.

``max_iter`` always applies; ``stop="max_iter"`` switches every other rule
off. A wall-time budget (``time_limit``) applies under any rule, and is
enforced by the drivers between checks, since only the host sees the clock:
each restart stops at its :func:`restart_deadline`, its share of the budget. A
non-finite objective always stops the run. The check itself, which both
drivers run, is :func:`nmflab.drivers.loop.check_interval`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from .result import Status

__all__ = ["RULES", "StopCriteria", "Monitor", "start_monitor", "check", "assignment", "relative_change",
           "finite_probe", "initial_status", "restart_deadline"]

#: Stopping rules that can be combined (``stop=("objective", "kkt")``).
RULES = ("objective", "iterate", "kkt", "connectivity")


@dataclass(frozen=True)
class StopCriteria:
    """When a fit stops (hashable: a static argument of the JAX driver).

    Parameters
    ----------
    max_iter : int
        Hard limit on iterations.
    rules : tuple of str
        Active rules from :data:`RULES`; empty for ``stop="max_iter"``.
    tol, iterate_tol, kkt_tol : float
        Thresholds of the ``"objective"``, ``"iterate"`` and ``"kkt"`` rules.
    patience : int
        The ``"connectivity"`` rule stops after more than ``patience``
        consecutive unchanged checks.
    time_limit : float or None
        Seconds for all restarts together, shared among them as
        :func:`restart_deadline` says.
    trace : bool
        Evaluate the objective at every check. When false, the objective is
        evaluated only where the ``"objective"`` rule needs it, and once
        after the last iteration; the checks in between only test that the
        factors are finite.
    """

    max_iter: int
    rules: tuple = ("objective",)
    tol: float = 1e-4
    iterate_tol: float = 1e-5
    kkt_tol: float = 1e-4
    patience: int = 40
    time_limit: float | None = None
    trace: bool = True

    @property
    def needs_kkt(self) -> bool:
        return "kkt" in self.rules

    @property
    def needs_objective(self) -> bool:
        """Whether every check evaluates the objective."""
        return self.trace or "objective" in self.rules


class Monitor(NamedTuple):
    """What the rules remember between checks: the last objective and factors, the sample assignment and
    how many checks it has stayed the same."""

    objective: Any
    W: Any
    H: Any
    labels: Any
    unchanged: Any


def restart_deadline(now: float, end: float, unstarted: int, lanes: int = 1) -> float:
    """The clock time by which a restart starting at ``now`` must stop under a budget that ends at ``end``.

    Each restart gets an equal share of what is left of the budget, shared
    among the restarts not yet started (this one included) that run
    ``lanes`` at a time: ``(end - now) / ceil(unstarted / lanes)``. A restart
    that stops early leaves its unused time to those after it, and the last
    one may run to ``end``; none gets the whole budget to the detriment of
    the rest (drivers test the deadline between checks, on the host).
    """
    waves = -(-int(unstarted) // max(int(lanes), 1))
    return now + (end - now) / max(waves, 1)


def finite_probe(xp, W, H):
    """0 where ``W`` and ``H`` are finite, NaN or inf otherwise: stands in for an objective not evaluated."""
    total = xp.sum(W) + xp.sum(H)
    return total - total


def assignment(xp, W):
    """Each sample's dominant component, canonically relabelled.

    Sample ``i`` gets the index of the first sample that shares its dominant
    component, so two assignments are equal exactly when they define the same
    partition (the connectivity matrices agree), whatever the component order.
    """
    labels = xp.argmax(W, axis=-1)
    rank = W.shape[-1]
    members = labels[None, :] == xp.arange(rank)[:, None]  # (rank, n)
    first = xp.argmax(members, axis=-1)
    return first[labels].astype(xp.int32)


def relative_change(xp, new, old):
    """``||new - old||_F / ||old||_F`` (inf if ``old`` is zero and ``new`` is not)."""
    diff = new - old
    num = xp.sqrt(xp.sum(diff * diff))
    den = xp.sqrt(xp.sum(old * old))
    return xp.where(den > 0, num / xp.where(den > 0, den, 1.0), xp.where(num > 0, xp.inf, 0.0))


def start_monitor(xp, W, H, objective) -> Monitor:
    """The :class:`Monitor` at the start of a fit."""
    return Monitor(objective, W, H, xp.full((W.shape[-2],), -1, dtype=xp.int32), xp.asarray(0, dtype=xp.int32))


def initial_status(xp, objective):
    """``RUNNING``, or ``NONFINITE`` if the start's objective is not finite."""
    return xp.where(xp.isfinite(objective), int(Status.RUNNING), int(Status.NONFINITE)).astype(xp.int32)


def check(xp, monitor, W, H, objective, kkt, iteration, criteria: StopCriteria):
    """Evaluate the rules after a check.

    Parameters
    ----------
    xp : module
        Array namespace.
    monitor : Monitor
        From :func:`start_monitor` or the previous call.
    W, H : arrays
        Current factors.
    objective, kkt : scalar arrays
        Current objective and KKT residual (``nan`` when not computed).
    iteration : int or scalar array
        Iterations done so far.
    criteria : StopCriteria

    Returns
    -------
    code : scalar int32 array
        A :class:`~nmflab.result.Status` value (``RUNNING`` to go on).
        Precedence: non-finite, then the rules in :data:`RULES` order, then
        ``max_iter``.
    monitor : Monitor
        To pass to the next call.
    changes : tuple
        Relative change of ``W`` and of ``H`` since the previous check.
    """
    w_change = relative_change(xp, W, monitor.W)
    h_change = relative_change(xp, H, monitor.H)
    if "connectivity" in criteria.rules:
        labels = assignment(xp, W)
        same = xp.all(labels == monitor.labels)
        unchanged = xp.where(same, monitor.unchanged + 1, 0).astype(xp.int32)
    else:  # only the connectivity rule reads them: no argmax over W at every check
        labels, unchanged = monitor.labels, monitor.unchanged

    met = {
        "objective": xp.abs(monitor.objective - objective) <= criteria.tol * xp.abs(monitor.objective),
        "iterate": (w_change <= criteria.iterate_tol) & (h_change <= criteria.iterate_tol),
        "kkt": kkt <= criteria.kkt_tol,
        "connectivity": unchanged > criteria.patience,
    }
    status_of = {
        "objective": Status.CONVERGED,
        "iterate": Status.ITERATES_STALLED,
        "kkt": Status.KKT,
        "connectivity": Status.CONNECTIVITY,
    }
    code = xp.where(iteration >= criteria.max_iter, int(Status.MAX_ITER), int(Status.RUNNING))
    for rule in reversed(RULES):  # the first rule in RULES order wins
        if rule in criteria.rules:
            code = xp.where(met[rule], int(status_of[rule]), code)
    code = xp.where(xp.isfinite(objective), code, int(Status.NONFINITE)).astype(xp.int32)
    return code, Monitor(objective, W, H, labels, unchanged), (w_change, h_change)
