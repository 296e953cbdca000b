"""Drivers own iteration: they run the check interval of :mod:`.loop` until the stopping test says stop.

Each driver is one module with ``run(rule, V, W0s, H0s, criteria,
check_every, weights=None, lanes=None) -> list[RunRecord]``: it builds the
data object (:func:`nmflab.data.as_data`), runs every start and returns one
:class:`RunRecord` per restart (NumPy arrays). ``numpy`` is a Python loop,
``jax`` a compiled ``lax.while_loop`` batched over restarts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..result import Trace

__all__ = ["RunRecord", "BACKENDS", "n_checks"]

#: The drivers, by backend name: each is the module ``nmflab.drivers.<name>``, with the package it needs.
BACKENDS = {"numpy": None, "jax": "jax"}


@dataclass(frozen=True)
class RunRecord:
    """What one restart produced, in the driver's (scaled) units: its factors, start objective, trace and stop."""

    W: np.ndarray
    H: np.ndarray
    initial_objective: float
    trace: Trace
    n_iter: int
    status: int


def n_checks(max_iter: int, check_every: int) -> int:
    """Number of checks a run of ``max_iter`` iterations can make."""
    return -(-max_iter // check_every)
