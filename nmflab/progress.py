"""Progress of long fits: what the drivers report after each check, and a printer for it.

A driver calls ``progress(check)`` on the host after every check of every
restart (:class:`Check`); :func:`nmflab.nmf` hands it the objective in the
units of ``V``. ``nmf(progress=True)`` prints with :class:`FitProgress`;
any callable taking a :class:`Check` can stand in its place (a notebook
widget, a logger, a plot that updates).
"""

from __future__ import annotations

import sys
import time
from typing import NamedTuple

from .result import Status

__all__ = ["Check", "FitProgress", "as_callback"]


class Check(NamedTuple):
    """One check of one restart, as a driver saw it.

    Attributes
    ----------
    restart : int
        Index of the restart (counting from ``first_restart``).
    iteration : int
        Iterations done so far by this restart.
    objective : float
        Objective at this check in the units of ``V`` (NaN where the check
        did not evaluate it: ``trace=False``).
    status : Status
        ``RUNNING``, or why this restart stopped at this check.
    """

    restart: int
    iteration: int
    objective: float
    status: Status


class FitProgress:
    """One line per stopped restart and, while one runs, a line every ``every`` seconds, to ``stream``.

    Lines are plain text, so that a log file reads as well as a terminal:
    ``nmf: restart 2/10, iteration 340, objective 123.4, 5.1 s`` and
    ``nmf: restart 2/10 stopped after 410 iterations (converged ...), objective 120.9, 6.0 s``.
    """

    def __init__(self, restarts: int, *, first_restart: int = 0, every: float = 2.0, stream=None,
                 clock=time.monotonic):
        self.total = first_restart + restarts
        self.every = every
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.last = self.started

    def __call__(self, check: Check) -> None:
        now = self.clock()
        where = f"nmf: restart {check.restart + 1}/{self.total}"
        objective = "" if check.objective != check.objective else f", objective {check.objective:.6g}"
        if check.status != Status.RUNNING:
            line = f"{where} stopped after {check.iteration} iterations ({check.status.message}){objective}"
        elif now - self.last >= self.every:
            line = f"{where}, iteration {check.iteration}{objective}"
        else:
            return
        self.last = now
        print(f"{line}, {now - self.started:.1f} s", file=self.stream or sys.stderr, flush=True)


def as_callback(progress, restarts: int, first_restart: int = 0):
    """The callable that ``nmf(progress=...)`` names: None for False, a :class:`FitProgress` for True."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return FitProgress(restarts, first_restart=first_restart)
    if callable(progress):
        return progress
    raise TypeError(f"progress must be True, False or a callable taking a nmflab.progress.Check, got {progress!r}")
