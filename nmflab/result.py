"""The vocabulary of a fit: why it stopped (:class:`Status`) and what it found (:class:`Result`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Status", "Result", "Trace", "CONVERGED_STATUSES"]


class Trace(NamedTuple):
    """What a fit records at each check: one schema for the drivers' loop, :class:`Result` and the files of :mod:`nmflab.io`.

    A row (one check) holds scalars; a whole trace holds one array per
    field, one entry per check.

    Attributes
    ----------
    objective
        The objective after the check's iterations (NaN where it was not
        evaluated: ``trace=False``).
    iterations
        Iterations done at the check.
    times
        Wall-clock seconds since the start of the fit (None where the
        driver cannot observe them).
    w_change, h_change
        Relative change ``||X - X_prev||_F / ||X_prev||_F`` of W and of H
        since the previous check (the first against the start).
    kkt
        The relative KKT residual (NaN unless the ``"kkt"`` stopping rule is on).
    """

    objective: Any
    iterations: Any
    times: Any
    w_change: Any
    h_change: Any
    kkt: Any

    @classmethod
    def stack(cls, rows) -> "Trace":
        """The trace of a sequence of rows, as NumPy arrays (float64; iterations int64)."""
        columns = list(zip(*rows)) if rows else [()] * len(cls._fields)
        return cls(**{name: np.asarray(column, dtype=np.int64 if name == "iterations" else np.float64)
                      for name, column in zip(cls._fields, columns)})


class Status(enum.IntEnum):
    """Why a fit stopped.

    The integer values are what the drivers carry inside their loops
    (``RUNNING`` while iterating); :attr:`message` says it in words.
    """

    RUNNING = 0
    CONVERGED = 1
    MAX_ITER = 2
    NONFINITE = 3
    ITERATES_STALLED = 4
    KKT = 5
    CONNECTIVITY = 6
    TIME_LIMIT = 7

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Status.RUNNING: "still iterating",
    Status.CONVERGED: "converged (objective rule): the relative change of the objective between two checks fell to tol",
    Status.MAX_ITER: "stopped at max_iter before any stopping rule was met",
    Status.NONFINITE: "stopped: the objective or the factors became non-finite (NaN or Inf)",
    Status.ITERATES_STALLED: "converged (iterate rule): the relative change of W and of H between two checks fell to iterate_tol",
    Status.KKT: "converged (kkt rule): the relative KKT residual fell to kkt_tol",
    Status.CONNECTIVITY: "converged (connectivity rule): the assignment of samples to components was unchanged for more than patience checks",
    Status.TIME_LIMIT: "stopped: the wall-time budget (time_limit) ran out",
}

#: Statuses that mean a stopping rule was met.
CONVERGED_STATUSES = frozenset({Status.CONVERGED, Status.ITERATES_STALLED, Status.KKT, Status.CONNECTIVITY})


@dataclass(frozen=True, eq=False)
class Result:
    """Outcome of :func:`nmflab.nmf`.

    Orientation: ``V`` is ``(n_samples, n_features)`` and ``V ≈ W @ H`` with
    ``W`` of shape ``(n_samples, rank)`` (per-sample weights) and ``H`` of
    shape ``(rank, n_features)`` (the parts). All arrays are NumPy arrays,
    whatever backend ran the fit.

    Attributes
    ----------
    W, H : numpy.ndarray
        Factors of the winning restart.
    objective : numpy.ndarray, shape (n_checks,)
        Objective of the winning restart at each check: after iterations
        ``iterations[0], iterations[1], ...`` (every ``check_every`` iterations
        and after the last one). Frobenius: ``0.5 * ||V - WH||_F**2``;
        KL: ``sum(V log(V / WH) - V + WH)``.
    iterations : numpy.ndarray of int, shape (n_checks,)
        Iteration number of each entry of ``objective``.
    times : numpy.ndarray or None
        Wall-clock seconds since the start of the iterations at each check
        (NumPy driver); ``None`` where the driver cannot observe it (JAX runs
        the whole loop as one compiled call; see ``wall_time``).
    n_iter : int
        Iterations run by the winning restart.
    status : Status
        Why the winning restart stopped; ``status.message`` says it in words.
    best_restart : int
        Index of the winning restart (lowest final objective).
    restart_objectives, restart_n_iter, restart_status : numpy.ndarray
        Final objective, iteration count and status code of every restart.
    loss, method, rule : str
        Loss name, method name and ``repr`` of the update rule used.
    backend : str
        ``"numpy"`` or ``"jax"``.
    dtype : str
        Floating dtype of the computation.
    seed : int
        Seed of the random start (drawn and recorded when none was given).
    init : str
        Name of the initialization.
    wall_time : float
        Seconds for the iterations of all restarts (compilation included on JAX).
    initial_objective : float
        Objective at the start of the winning restart.
    w_change, h_change : numpy.ndarray
        Relative change ``||X - X_prev||_F / ||X_prev||_F`` of W and of H
        between consecutive checks (the first against the start).
    kkt : numpy.ndarray
        Relative KKT residual at each check (NaN unless the ``"kkt"``
        stopping rule was on; :func:`nmflab.diagnostics.kkt_residual` computes
        it for any fit).
    stop_rules : tuple of str
        The stopping rules that were active (empty for ``stop="max_iter"``).
    weighted : bool
        Whether a mask or weights applied (the objective then counts only them).
    penalty : nmflab.losses.Penalty or None
        The L1/L2 penalty added to the loss, None without one.
    noise_base : float
        The data's part of the rounding-noise bound of the objective
        (:func:`nmflab.diagnostics.noise_base`: ``||V||_F`` for Frobenius).
    data_scale : float
        Power of two by which ``V`` was divided internally (see :func:`nmflab.nmf`).
    restart_W, restart_H : numpy.ndarray or None
        Factors of every restart, stacked: ``(restarts, n_samples, rank)``
        and ``(restarts, rank, n_features)``; only when ``nmf`` was asked
        to keep them (``keep_restarts=True``), else None.
    first_restart : int
        Index, in the seed's sequence of starts, of this call's first
        restart: restart ``i`` here is start ``first_restart + i``.
    sketch : nmflab.sketch.SketchReport or None
        For a sketched fit (``nmf(sketch=...)``): the sketch's size and
        residual, and the objective on the sketch. The trace
        (``objective``, ``initial_objective``) is then that of the problem
        the iterations solved, on the sketch ``Q B``; ``final_objective``
        and ``restart_objectives`` are on ``V`` itself.
    """

    W: np.ndarray
    H: np.ndarray
    objective: np.ndarray
    iterations: np.ndarray
    n_iter: int
    status: Status
    best_restart: int
    restart_objectives: np.ndarray
    restart_n_iter: np.ndarray
    restart_status: np.ndarray
    loss: str
    method: str
    rule: str
    backend: str
    dtype: str
    seed: int
    init: str
    wall_time: float
    data_scale: float = 1.0
    times: np.ndarray | None = field(default=None)
    initial_objective: float = float("nan")
    w_change: np.ndarray | None = None
    h_change: np.ndarray | None = None
    kkt: np.ndarray | None = None
    stop_rules: tuple = ()
    noise_base: float = float("nan")
    weighted: bool = False
    penalty: object = None
    restart_W: np.ndarray | None = None
    restart_H: np.ndarray | None = None
    first_restart: int = 0
    sketch: Any = None

    @property
    def trace(self) -> Trace:
        """The winning restart's traces, as one :class:`Trace`."""
        return Trace(**{name: getattr(self, name) for name in Trace._fields})

    @property
    def message(self) -> str:
        """Why the winning restart stopped, in words."""
        return self.status.message

    @property
    def final_objective(self) -> float:
        """Objective on ``V`` after the last iteration of the winning restart (the start's if none ran)."""
        if self.sketch is not None:
            return float(self.restart_objectives[self.best_restart])
        return float(self.objective[-1]) if len(self.objective) else float(self.initial_objective)

    @property
    def converged(self) -> bool:
        """True if the winning restart met a stopping rule (not a limit)."""
        return self.status in CONVERGED_STATUSES

    def summary(self, V=None, mask=None) -> str:
        """A report on the fit's stability hazards (see :func:`nmflab.diagnostics.summarize`).

        With the data ``V`` it also gives the KKT residual and the rank-r SVD
        floor; a masked fit needs its ``mask`` too.
        """
        from .diagnostics import summarize

        return summarize(self, V, mask).format()

    def __repr__(self) -> str:
        return (
            f"Result(loss={self.loss!r}, method={self.method!r}, rank={self.W.shape[1]}, "
            f"n_iter={self.n_iter}, objective={self.final_objective:.6g}, "
            f"status={self.status.name}, backend={self.backend!r}, dtype={self.dtype!r}, "
            f"restarts={len(self.restart_objectives)}, best_restart={self.best_restart})"
        )
