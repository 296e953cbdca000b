"""Drivers own iteration: they call a rule's ``update`` until the shared
stopping predicate says stop, and record the objective at every check.

Each driver returns one :class:`RunRecord` per restart (NumPy arrays).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RunRecord", "BACKENDS", "n_checks", "kkt_of"]

BACKENDS = ("numpy", "jax")


@dataclass(frozen=True)
class RunRecord:
    """What one restart produced, in the driver's (scaled) units.

    The traces hold one entry per check: objective, iteration number, wall
    time since the start (or None), relative change of W and of H since the
    previous check, and the KKT residual (NaN unless the kkt rule is on).
    """

    W: np.ndarray
    H: np.ndarray
    initial_objective: float
    objective: np.ndarray
    iterations: np.ndarray
    times: np.ndarray | None
    w_change: np.ndarray
    h_change: np.ndarray
    kkt: np.ndarray
    n_iter: int
    status: int


def n_checks(max_iter: int, check_every: int) -> int:
    """Number of checks a run of ``max_iter`` iterations can make."""
    return -(-max_iter // check_every)


def kkt_of(xp, rule, V, W, H, consts):
    """The relative KKT residual of the problem ``rule`` minimizes (weights and penalty included)."""
    from ..losses import kkt_residual

    return kkt_residual(xp, rule.beta, V, W, H, consts.get("weights"), getattr(rule, "penalty", None))
