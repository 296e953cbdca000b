"""Extrapolation with restarts for alternating Frobenius rules (Ang & Gillis 2019).

Two-block alternating methods (HALS, ANLS, MU) take the next block step not
from the last iterate but from a point extrapolated along the last move,
``X_ahead = max(X_new + step * (X_new - X_last), 0)``, as accelerated
gradient methods do. Ang and Gillis found this to cut the iterations of
A-HALS and ANLS several times over, provided the step adapts: it grows by
``grow`` after every step that lowered the error (up to a cap that itself
grows by ``grow_cap``, at most 1), and after a step that raised it the
extrapolated points restart from the plain iterates, the cap becomes the
step that failed and the step shrinks by ``shrink``.

:func:`extrapolated` wraps any rule that declares ``extrapolable = True``
(it provides ``solve_h`` and ``solve_w``, its block steps from the
products); ``"e-hals"`` and ``"e-anls"`` are the built-in rules wrapped.
Multiplicative updates are not: the projection onto the orthant creates
exact zeros, which a multiplicative step never leaves. The reported iterate is the best pair so far, so the objective the
driver sees never increases (the safeguard the restarts alone do not give).

References
----------
A. M. S. Ang and N. Gillis, "Accelerating nonnegative matrix factorization
algorithms using extrapolation", Neural Computation 31 (2019) 417–439
(the scheme and its parameters: initial step, shrink factor eta, growth
gamma and cap growth gamma-bar).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from ..losses import Penalty
from ._common import T
from ._registry import Rule, check_rule_class, register
from .anls import ANLS
from .hals import HALS

__all__ = ["Extrapolated", "ExtrapolationState", "extrapolated", "ExtrapolatedHALS", "ExtrapolatedANLS"]


class ExtrapolationState(NamedTuple):
    """The two sequences, the step parameters, and the products of the reported pair.

    ``W_last, H_last``: the last block steps (what the next extrapolation
    moves away from); ``W_ahead, H_ahead``: the extrapolated points the next
    block steps start from; ``step``, ``cap``: the extrapolation parameter
    and its current bound; ``error``: the objective of the last pair;
    ``best``: that of the reported pair, whose ``V H^T`` and ``H H^T`` are
    ``VHt``, ``HHt``.
    """

    W_last: Any
    H_last: Any
    W_ahead: Any
    H_ahead: Any
    step: Any
    cap: Any
    error: Any
    best: Any
    VHt: Any
    HHt: Any


@dataclass(frozen=True)
class Extrapolated(Rule):
    """An alternating Frobenius rule with Ang & Gillis's extrapolation and restarts (see the module).

    Parameters
    ----------
    inner : Rule, optional
        The rule whose block steps are extrapolated (default: the class's
        ``inner_class()``); its penalty is the wrapper's ``penalty``.
    step : float
        The initial extrapolation parameter (Ang & Gillis's beta_0).
    shrink : float
        Division of the step after a step that raised the error (eta).
    grow, grow_cap : float
        Growth of the step after a step that lowered it (gamma), and of its
        cap (gamma-bar); ``shrink >= grow >= grow_cap >= 1``.
    penalty : Penalty
    update_h, update_w : bool

    Notes
    -----
    An iteration costs what the inner rule's does (the same products, taken
    at the extrapolated points) plus a few elementwise passes over the
    factors. Masks are not supported: the block steps are written for the
    products ``W^T V``, ``V H^T`` of unweighted data.
    """

    inner: Any = None
    step: float = 0.5
    shrink: float = 1.5
    grow: float = 1.05
    grow_cap: float = 1.01
    penalty: Penalty = field(default_factory=Penalty)
    update_h: bool = True
    update_w: bool = True

    inner_class: ClassVar[type]
    loss: ClassVar[str] = "frobenius"
    beta: ClassVar[float] = 2.0
    supports_weights: ClassVar[bool] = False
    # A penalty on one factor only has no minimizer (scale W up and H down), and extrapolation runs down that
    # direction much faster than the plain rule: V 40 x 30, l1_H = 2, e-HALS reached W ~ 1e25 and stopped at
    # an objective of 5.87 where HALS was at 4.32. auto keeps HALS for penalized fits.
    auto_with_penalty: ClassVar[bool] = False

    def __post_init__(self):
        inner = self.inner_class() if self.inner is None else self.inner
        if not getattr(inner, "extrapolable", False):
            raise ValueError(f"{type(inner).__qualname__} does not provide the block steps solve_h and solve_w "
                             "(extrapolable = True) that extrapolation needs")
        if not self.shrink >= self.grow >= self.grow_cap >= 1.0 or not 0.0 <= self.step <= 1.0:
            raise ValueError("extrapolation needs 0 <= step <= 1 and shrink >= grow >= grow_cap >= 1, got "
                             f"step={self.step}, shrink={self.shrink}, grow={self.grow}, grow_cap={self.grow_cap}")
        if hasattr(inner, "penalty"):
            inner = dataclasses.replace(inner, penalty=self.penalty)
        object.__setattr__(self, "inner", inner)

    def prepare(self, xp, data):
        return self.inner.prepare(xp, data)

    def _error(self, xp, data, W, H, VHt, HHt):
        return data.frobenius(W, H, VHt, HHt) + self.penalty.value(xp, W, H)

    def init(self, xp, data, W, H, consts):
        VHt, HHt = data.right(H), H @ T(xp, H)
        error = self._error(xp, data, W, H, VHt, HHt)
        step, cap = xp.asarray(self.step, dtype=data.dtype), xp.asarray(1.0, dtype=data.dtype)
        return ExtrapolationState(W, H, W, H, step, cap, error, error, VHt, HHt)

    def update(self, xp, data, W, H, state, consts):
        inner, step = self.inner, state.step
        W_ahead, H_ahead = state.W_ahead, state.H_ahead
        if self.update_h:
            H_new = inner.solve_h(xp, data, H_ahead, data.left(W_ahead), T(xp, W_ahead) @ W_ahead)
            H_pair = xp.maximum(H_new + step * (H_new - state.H_last), 0.0)
        else:
            H_new = H_pair = H
        # W's step is taken for the extrapolated H, and the pair (W_new, H_pair) is the one evaluated
        VHt, HHt = data.right(H_pair), H_pair @ T(xp, H_pair)
        if self.update_w:
            W_new = inner.solve_w(xp, data, W_ahead, VHt, HHt)
            W_ahead = xp.maximum(W_new + step * (W_new - state.W_last), 0.0)
        else:
            W_new = W_ahead = W
        error = self._error(xp, data, W_new, H_pair, VHt, HHt)
        worse = error > state.error
        # a step that raised the error: extrapolate again from the plain iterates, with a smaller step
        W_ahead = xp.where(worse, W_new, W_ahead)
        H_ahead = xp.where(worse, H_new, H_pair)
        next_step = xp.where(worse, step / self.shrink, xp.minimum(state.cap, step * self.grow))
        cap = xp.where(worse, step, xp.minimum(1.0, state.cap * self.grow_cap))
        better = error < state.best
        W_out, H_out = xp.where(better, W_new, W), xp.where(better, H_pair, H)
        new = ExtrapolationState(W_last=W_new, H_last=H_new, W_ahead=W_ahead, H_ahead=H_ahead, step=next_step,
                                 cap=cap, error=error, best=xp.where(better, error, state.best),
                                 VHt=xp.where(better, VHt, state.VHt), HHt=xp.where(better, HHt, state.HHt))
        return W_out, H_out, new

    def objective(self, xp, data, W, H, state, consts):
        return state.best


def extrapolated(rule_class: type, method: str | None = None, auto_priority: int | None = None) -> type:
    """Register and return the extrapolated version of ``rule_class`` (method ``"e-" + its method``).

    ``rule_class`` must minimize the Frobenius loss and declare
    ``extrapolable = True`` (:class:`nmflab.rules.Rule`); the new rule takes
    its defaults, storages and backends, and no mask. ``auto_priority`` as
    for any rule (None: ``method="auto"`` never picks it). The class belongs
    to the calling module (as :func:`collections.namedtuple`'s do): assign
    it there to the name ``"Extrapolated" + rule_class.__name__``, so that it
    pickles (a parallel rank survey hands rule classes to its workers).
    """
    check_rule_class(rule_class)
    if rule_class.loss != "frobenius" or not getattr(rule_class, "extrapolable", False):
        raise ValueError(f"{rule_class.__qualname__} is not an extrapolable Frobenius rule (it needs loss "
                         "'frobenius', extrapolable = True, and solve_h/solve_w)")
    name = method or f"e-{rule_class.method}"
    invariant = {"inner": rule_class(**rule_class.invariant_fields)} if rule_class.invariant_fields else {}
    attributes = dict(
        inner_class=rule_class, method=name,
        summary=f"{rule_class.method} with Ang and Gillis's extrapolation and restarts",
        max_iter=rule_class.max_iter, check_every=rule_class.check_every, stop=rule_class.stop,
        supports_sparse=rule_class.supports_sparse, supports_penalty=rule_class.supports_penalty,
        supports_batch=rule_class.supports_batch, supports_sketch=rule_class.supports_sketch,
        backends=rule_class.backends,
        zero_locking=rule_class.zero_locking, invariant_fields=invariant, auto_priority=auto_priority,
        __annotations__={}, __module__=sys._getframe(1).f_globals.get("__name__", __name__),
        __doc__=f"{rule_class.__qualname__} extrapolated (:class:`Extrapolated`): method ``{name!r}``.",
    )
    name_of_class = f"Extrapolated{rule_class.__name__}"
    cls = type(name_of_class, (Extrapolated,), {**attributes, "__qualname__": name_of_class})
    return register(dataclass(frozen=True)(cls))


#: Not "auto" (yet): faster than HALS on every real set of the race, slower on exact low-rank data with little
#: noise (benchmarks/NOTES.md).
ExtrapolatedHALS = extrapolated(HALS)
ExtrapolatedANLS = extrapolated(ANLS)
