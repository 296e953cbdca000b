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
The reported iterate is the best pair so far (the newest within rounding of
the lowest objective), so the objective the driver sees never increases
beyond rounding (the safeguard the restarts alone do not give).

Multiplicative updates cannot be extrapolated that way: the projection onto
the orthant creates exact zeros, which a multiplicative step never leaves.
They are extrapolated in the coordinates in which they are steps,
``log X`` (a multiplicative update adds ``log(numerator / denominator)``
to ``log X``): ``X_ahead = X_new * (X_new / X_last)**step``, positive
wherever ``X_new`` is, with the same adaptive step and restarts
(:class:`ExtrapolatedMultiplicativeKL`, ``"e-mu"``). KL coordinate descent,
whose Newton steps leave 0 where they gain, is extrapolated as HALS is
(:class:`ExtrapolatedCoordinateDescentKL`, ``"e-cd"``). The KL variants
are nmflab's; Ang and Gillis extrapolate HALS and ANLS.

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

from .. import _xp
from ..losses import Penalty, identity_rounding
from ._common import T, penalty_h, penalty_w
from ._registry import Rule, check_rule_class, register
from .anls import ANLS
from .hals import HALS
from .kl_cd import CoordinateDescentKL
from .mu import MultiplicativeKL, _Multiplicative, kl_step_h, kl_step_w

__all__ = ["Extrapolated", "ExtrapolationState", "extrapolated", "ExtrapolatedHALS", "ExtrapolatedANLS",
           "ExtrapolatedKL", "ExtrapolatedMultiplicativeKL", "ExtrapolatedCoordinateDescentKL",
           "adapted_step", "plain_rule"]


class ExtrapolationState(NamedTuple):
    """The two sequences, the step parameters, and the products of the reported pair.

    ``W_last, H_last``: the last block steps (what the next extrapolation
    moves away from); ``W_ahead, H_ahead``: the extrapolated points the next
    block steps start from; ``step``, ``cap``: the extrapolation parameter
    and its current bound; ``error``: the objective of the last pair;
    ``best``: that of the reported pair, whose ``V H^T`` and ``H H^T`` are
    ``VHt``, ``HHt`` (None for :class:`ExtrapolatedKL`, whose error is the
    divergence of an extrapolated pair, ``error`` the last one evaluated);
    ``lowest``: the lowest objective evaluated.
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
    lowest: Any


@dataclass(frozen=True)
class _AdaptiveSteps(Rule):
    """The parameters of Ang & Gillis's adaptive step, shared by the Frobenius and the KL schemes.

    ``step`` (beta_0), ``shrink`` (eta), ``grow`` (gamma), ``grow_cap``
    (gamma-bar), checked by :func:`_check_step_parameters`; the penalty and
    which factors are updated.
    """

    step: float = 0.5
    shrink: float = 1.5
    grow: float = 1.05
    grow_cap: float = 1.01
    penalty: Penalty = field(default_factory=Penalty)
    update_h: bool = True
    update_w: bool = True

    def __post_init__(self):
        _check_step_parameters(self)


@dataclass(frozen=True)
class Extrapolated(_AdaptiveSteps):
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
        super().__post_init__()
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
        return ExtrapolationState(W, H, W, H, step, cap, error, error, VHt, HHt, error)

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
        next_step, cap = adapted_step(xp, self, worse, step, state.cap)
        # The pair reported is the newest whose error is within the error's rounding (the trace identity's) of the
        # lowest evaluated. With a strict "lower than the best" the pair froze once the sequence's gains fell below
        # rounding: the pair rounding favoured was kept while the sequence went on to stationarity (a KKT residual
        # stuck at 6e-8 where it reached 1e-13).
        rounding = identity_rounding(xp, data.norm_sq, data.dtype)
        better = error <= state.lowest + rounding
        W_out, H_out = xp.where(better, W_new, W), xp.where(better, H_pair, H)
        new = ExtrapolationState(W_last=W_new, H_last=H_new, W_ahead=W_ahead, H_ahead=H_ahead, step=next_step,
                                 cap=cap, error=error, best=xp.where(better, error, state.best),
                                 VHt=xp.where(better, VHt, state.VHt), HHt=xp.where(better, HHt, state.HHt),
                                 lowest=xp.minimum(error, state.lowest))
        return W_out, H_out, new

    def objective(self, xp, data, W, H, state, consts):
        return state.best


def _check_step_parameters(rule) -> None:
    """Refuse a step schedule outside Ang & Gillis's conditions: 0 <= step <= 1, shrink >= grow >= grow_cap >= 1."""
    if not rule.shrink >= rule.grow >= rule.grow_cap >= 1.0 or not 0.0 <= rule.step <= 1.0:
        raise ValueError("extrapolation needs 0 <= step <= 1 and shrink >= grow >= grow_cap >= 1, got "
                         f"step={rule.step}, shrink={rule.shrink}, grow={rule.grow}, grow_cap={rule.grow_cap}")


def plain_rule(rule):
    """The rule an extrapolated ``rule`` extrapolates (its block steps without extrapolation), else ``rule``."""
    if isinstance(rule, Extrapolated):
        return rule.inner
    if isinstance(rule, ExtrapolatedKL):
        return rule.plain()
    return rule


def adapted_step(xp, rule, worse, step, cap):
    """The next step and cap: after a rise the cap becomes the step and the step shrinks; else both grow (to 1)."""
    next_step = xp.where(worse, step / rule.shrink, xp.minimum(cap, step * rule.grow))
    return next_step, xp.where(worse, step, xp.minimum(1.0, cap * rule.grow_cap))


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


def _geometric(xp, X, last, step):
    """``X * (X / last)**step``: a move along ``log X``; entries with ``last == 0`` do not move."""
    ratio = xp.where(last > 0, X / xp.where(last > 0, last, 1.0), 1.0)
    return X * ratio**step


def _linear(xp, X, last, step):
    """``max(X + step (X - last), 0)``: Ang & Gillis's extrapolation, projected onto the orthant."""
    return xp.maximum(X + step * (X - last), 0.0)


@dataclass(frozen=True)
class ExtrapolatedKL(_AdaptiveSteps):
    """KL block steps (H, then W) with Ang & Gillis's adaptive extrapolation and restarts; subclasses name the steps.

    An iteration: the KL objective of the extrapolated pair ``(W_a, H_a)``
    (its ``W_a H_a`` is the product the step on H needs anyway); if it rose
    above the previous pair's, the pair is replaced by the plain iterates
    (whose objective is evaluated in turn), or by the best pair so far where
    they are worse than it, and the step shrinks; else step and cap grow,
    as in :class:`Extrapolated`; then ``H_new`` = the block step
    from ``(W_a, H_a)``, ``H_p`` = ``H_new`` extrapolated from ``H_last``,
    ``W_new`` = the step from ``(W_a, H_p)``, ``W_a'`` = ``W_new`` extrapolated
    from ``W_last``. The reported pair is the best evaluated, so the
    objective the driver sees never increases. (Falling back to the best
    pair matters for KL, not for Frobenius: a projected extrapolated ``H``
    can put a zero of ``W H`` on a positive entry of ``V``, where the
    divergence is infinite, and the plain ``W`` fitted to that ``H`` can
    keep it there; on the Lee corpus the restarts from the plain iterates
    then never left an infinite objective.)

    An iteration costs the plain rule's plus the divergence (one ``n x p``
    logarithm pass) and the products of the extrapolated pairs; a restart
    costs one more product and divergence (under ``vmap`` on JAX, where both
    branches of a choice are evaluated, every iteration does).

    Parameters (of every subclass)
    ------------------------------
    step, shrink, grow, grow_cap : float
        As for :class:`Extrapolated` (Ang & Gillis's beta_0, eta, gamma,
        gamma-bar).
    penalty : Penalty
    update_h, update_w : bool
    """

    loss: ClassVar[str] = "kl"
    beta: ClassVar[float] = 1.0
    supports_sparse: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = True
    supports_penalty: ClassVar[bool] = True
    # as for Extrapolated: a one-sided penalty has no minimizer, which extrapolation runs towards
    auto_with_penalty: ClassVar[bool] = False

    # What a subclass provides.
    def plain(self) -> Rule:
        """The rule whose block steps are extrapolated, with this rule's settings."""
        raise NotImplementedError

    def _extrapolate(self, xp, X, last, step):
        raise NotImplementedError

    def _product(self, xp, data, W, H):
        """``W H`` as the block steps take it (:meth:`nmflab.data.Data.fitted` unless the steps need it whole)."""
        return data.fitted(W, H)

    def _step_h(self, xp, data, W, H, WH):
        raise NotImplementedError

    def _step_w(self, xp, data, W, H, WH):
        raise NotImplementedError

    # The scheme.
    def _error(self, xp, data, W, H, WH, dtype=None):
        return xp.asarray(data.divergence(1.0, W, H, WH) + self.penalty.value(xp, W, H), dtype=dtype)

    def init(self, xp, data, W, H, consts):
        error = self._error(xp, data, W, H, self._product(xp, data, W, H))
        step, cap = xp.asarray(self.step, dtype=data.dtype), xp.asarray(1.0, dtype=data.dtype)
        # the first update evaluates the start again as its extrapolated pair: infinity is never exceeded
        return ExtrapolationState(W, H, W, H, step, cap, xp.full_like(error, xp.inf), error, None, None, error)

    def update(self, xp, data, W, H, state, consts):
        dtype = state.error.dtype
        W_a, H_a = state.W_ahead, state.H_ahead
        WH = self._product(xp, data, W_a, H_a)
        error = self._error(xp, data, W_a, H_a, WH, dtype)
        worse = error > state.error
        # Comparisons with the best pair allow the divergence's rounding (as Extrapolated's do). Each term is
        # formed from entries of V and W H, so that is a few eps (sum V + sum W H), about 8 eps sum(W H) near a
        # fit (sum W H = sum V at a stationary point). Strict comparisons froze e-CD on a 40 x 25 count matrix:
        # the plain step from the best pair, a descent step, evaluated a rounding above it, every restart fell
        # back to the best pair, and the fit stayed there (a KKT residual of 2.3e-8 from iteration 2010 to
        # 20000, the step shrinking to 0).
        rounding = 8.0 * xp.finfo(dtype).eps * xp.sum(xp.sum(W, axis=-2) * xp.sum(H, axis=-1), axis=-1)

        def restart():  # a rise: the steps start from the plain iterates, or the best pair where they are worse
            WH_plain = self._product(xp, data, state.W_last, state.H_last)
            plain_error = self._error(xp, data, state.W_last, state.H_last, WH_plain, dtype)
            return _xp.cond(xp, plain_error <= state.best + rounding,
                            lambda: (state.W_last, state.H_last, WH_plain, plain_error),
                            lambda: (W, H, self._product(xp, data, W, H), state.best))

        W_a, H_a, WH, error = _xp.cond(xp, worse, restart, lambda: (W_a, H_a, WH, error))
        step, cap = adapted_step(xp, self, worse, state.step, state.cap)
        better = error <= state.lowest + rounding
        W_out, H_out = xp.where(better, W_a, W), xp.where(better, H_a, H)
        H_last, H_p = state.H_last, H_a
        if self.update_h:
            H_last = self._step_h(xp, data, W_a, H_a, WH)
            H_p = self._extrapolate(xp, H_last, state.H_last, step)
        W_last, W_next = state.W_last, W_a
        if self.update_w:
            W_last = self._step_w(xp, data, W_a, H_p, self._product(xp, data, W_a, H_p))
            W_next = self._extrapolate(xp, W_last, state.W_last, step)
        new = ExtrapolationState(W_last=W_last, H_last=H_last, W_ahead=W_next, H_ahead=H_p, step=step, cap=cap,
                                 error=error, best=xp.where(better, error, state.best), VHt=None, HHt=None,
                                 lowest=xp.minimum(error, state.lowest))
        return W_out, H_out, new

    def objective(self, xp, data, W, H, state, consts):
        return state.best


@register
@dataclass(frozen=True)
class ExtrapolatedMultiplicativeKL(ExtrapolatedKL, _Multiplicative):
    """Lee–Seung KL updates extrapolated along ``log W``, ``log H`` (:class:`ExtrapolatedKL`): method ``"e-mu"``.

    A multiplicative update adds ``log(numerator / denominator)`` to
    ``log X``, so the extrapolation moves there: ``X_new (X_new /
    X_last)**step``. No projection: an entry reaches 0 only by underflow,
    as Lee–Seung's do (only faster). An iteration costs the four products
    of a multiplicative one plus the divergence.

    Parameters
    ----------
    step, shrink, grow, grow_cap : float
    eps : float
        Added to every denominator of the multiplicative steps.
    penalty : Penalty
    update_h, update_w : bool
    """

    eps: float = 1e-9

    method: ClassVar[str] = "e-mu"
    summary: ClassVar[str] = "Lee-Seung updates extrapolated along log W, log H (adaptive step, restarts)"

    @classmethod
    def auto_score(cls, *, rank, sparse, backend="numpy"):
        """Above plain MU (1) and below coordinate descent where that applies (3), on NumPy, where it was raced:
        the faces (rank 49) to torchnmf's level at its pace where MU never got there in 10 s, sparse counts
        to within 0.1 % where MU did not (benchmarks/NOTES.md). Under ``vmap`` on JAX each restart pays both
        branches of the restart test, which was not raced."""
        return 2 if backend == "numpy" else None

    def plain(self):
        return MultiplicativeKL(eps=self.eps, penalty=self.penalty, update_h=self.update_h, update_w=self.update_w)

    def _extrapolate(self, xp, X, last, step):
        return _geometric(xp, X, last, step)

    def _step_h(self, xp, data, W, H, WH):
        return kl_step_h(xp, data, W, H, WH, self.eps, penalty_h(self.penalty, H))

    def _step_w(self, xp, data, W, H, WH):
        return kl_step_w(xp, data, W, H, WH, self.eps, penalty_w(self.penalty, W))


@register
@dataclass(frozen=True)
class ExtrapolatedCoordinateDescentKL(ExtrapolatedKL):
    """KL coordinate descent with Ang & Gillis's extrapolation and restarts (:class:`ExtrapolatedKL`): ``"e-cd"``.

    Each block step is a sweep of :class:`~nmflab.rules.kl_cd.CoordinateDescentKL`
    over every column of the factor; the extrapolated points are projected
    onto the orthant (a Newton step leaves 0 where it gains). Besides the
    sweeps an iteration forms the two products of the extrapolated pairs and
    the divergence.

    Parameters
    ----------
    step, shrink, grow, grow_cap : float
    newton_steps : int
        As for :class:`~nmflab.rules.kl_cd.CoordinateDescentKL`.
    penalty : Penalty
    update_h, update_w : bool
    """

    newton_steps: int = 1

    method: ClassVar[str] = "e-cd"
    summary: ClassVar[str] = "coordinate descent with Ang and Gillis's extrapolation and restarts"

    def plain(self):
        return CoordinateDescentKL(newton_steps=self.newton_steps, penalty=self.penalty, update_h=self.update_h,
                                   update_w=self.update_w)

    def _extrapolate(self, xp, X, last, step):
        return _linear(xp, X, last, step)

    def _product(self, xp, data, W, H):
        return self.plain().product(xp, data, W, H)

    def _step_h(self, xp, data, W, H, WH):
        return self.plain().step_h(xp, data, W, H, WH)[0]

    def _step_w(self, xp, data, W, H, WH):
        return self.plain().step_w(xp, data, W, H, WH)[0]
