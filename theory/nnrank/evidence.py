"""One record per bound computation: what was run, what it proved, and its data."""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Evidence", "ceil_bound", "timed"]


@dataclass
class Evidence:
    """The outcome of one method on one matrix.

    Attributes
    ----------
    method : str
        Method name (as accepted by ``nonneg_rank_bounds(methods=...)``).
    kind : {"lower", "upper", "exact"}
        What the method bounds.
    bound : int or None
        The integer bound it proves on rank₊; None when it proves nothing
        (a time limit before any bound, an ``unknown`` answer, a method that
        does not apply).
    value : float or None
        The quantity behind the bound (an LP or SDP optimum, a set size).
    seconds : float
        Wall time.
    status : str
        ``"optimal"``, ``"time_limit"``, ``"sat"``, ``"unsat"``, ``"unknown"``,
        ``"not applicable: ..."``, ``"failed: ..."``.
    exact_arithmetic : bool
        True when the argument is combinatorial or in rational arithmetic;
        False when it rests on a floating-point solver (its integer bound is
        the value rounded up after subtracting a safety margin).
    data : dict
        The evidence itself: the fooling set, the cover, the SDP value, the
        polygon, the certificate residual.
    """

    method: str
    kind: str
    bound: int | None
    value: float | None = None
    seconds: float = 0.0
    status: str = "optimal"
    exact_arithmetic: bool = False
    data: dict = field(default_factory=dict)

    def summary(self) -> str:
        value = "" if self.value is None else f"{self.value:.6g}"
        bound = "-" if self.bound is None else str(self.bound)
        return f"{self.method:<22} {self.kind:<6} {bound:>5} {value:>12} {self.seconds:9.3f}s  {self.status}"


#: Margin subtracted from a floating-point bound before rounding up, so that a
#: solver's last digits cannot add a unit that the mathematics does not give.
FLOAT_MARGIN = 1e-6


def zero_matrix(method: str, kind: str = "lower", **data) -> Evidence:
    """The answer of every method for the zero matrix: rank₊ = 0, exactly."""
    return Evidence(method, kind, 0, 0.0, 0.0, "optimal: the zero matrix has rank₊ 0", True, data)


def ceil_bound(value: float, *, margin: float = FLOAT_MARGIN) -> int:
    """Smallest integer >= ``value`` once a relative safety margin is removed."""
    return int(math.ceil(value - margin * max(1.0, abs(value))))


@contextmanager
def timed():
    """``with timed() as clock: ...; clock()`` gives the seconds elapsed."""
    start = time.perf_counter()
    yield lambda: time.perf_counter() - start
