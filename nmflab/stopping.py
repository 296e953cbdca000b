"""The stopping predicate, shared by every driver.

Both drivers call :func:`stop_code` after each check with the same inputs,
so a fit stops at the same iteration on NumPy and on JAX.
"""

from __future__ import annotations

from dataclasses import dataclass

from .result import Status

__all__ = ["StopCriteria", "stop_code"]


@dataclass(frozen=True)
class StopCriteria:
    """When a fit stops.

    Parameters
    ----------
    max_iter : int
        Hard limit on iterations.
    tol : float
        The fit has converged when ``|f_prev - f| <= tol * |f_prev|`` between
        two consecutive checks. ``tol=0`` never converges early.
    use_tol : bool
        False for ``stop="max_iter"``: every test but the iteration count
        (and the non-finite guard) is switched off.
    """

    max_iter: int
    tol: float = 1e-4
    use_tol: bool = True


def stop_code(xp, previous, current, iteration, criteria: StopCriteria):
    """Status code after a check (``Status.RUNNING`` to go on).

    Parameters
    ----------
    xp : module
        Array namespace.
    previous, current : scalar arrays
        Objective at the previous check (or at the start) and now.
    iteration : int or scalar array
        Iterations done so far.
    criteria : StopCriteria

    Returns
    -------
    scalar integer array
        A :class:`~nmflab.result.Status` value; non-finite takes precedence,
        then convergence, then the iteration limit.
    """
    nonfinite = ~xp.isfinite(current)
    if criteria.use_tol:
        converged = xp.abs(previous - current) <= criteria.tol * xp.abs(previous)
    else:
        converged = xp.asarray(False)
    at_limit = iteration >= criteria.max_iter
    code = xp.where(at_limit, int(Status.MAX_ITER), int(Status.RUNNING))
    code = xp.where(converged, int(Status.CONVERGED), code)
    return xp.where(nonfinite, int(Status.NONFINITE), code)
