"""The rule protocol (:class:`Rule`) and the registry that every list of methods derives from.

A rule is a frozen dataclass that subclasses :class:`Rule`; its class
attributes say what it is, and :func:`register` adds it. :func:`nmflab.nmf`,
:func:`nmflab.methods`, ``method="auto"``, the estimator, the command line
and the rank survey all read the registry: nothing else lists methods.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

__all__ = ["Rule", "register", "unregister", "registered", "lookup", "families_of", "auto_choice", "FAMILIES",
           "family_of", "check_rule_class"]

#: Loss families: a rule minimizes Frobenius (beta 2), KL (beta 1), or any beta-divergence ("beta").
FAMILIES = ("frobenius", "kl", "beta")


def family_of(beta: float) -> str:
    """The family of the beta-divergence ``beta``."""
    return {2.0: "frobenius", 1.0: "kl"}.get(float(beta), "beta")


class Rule:
    """The math of one iteration, and nothing else: what every update rule provides.

    Subclass it as a frozen dataclass and decorate the class with
    :func:`register`. The methods are pure functions over an array namespace
    ``xp`` (``numpy`` or ``jax.numpy``) and a data object ``data``
    (:mod:`nmflab.data`: ``data.left(W)`` is ``W^T V``, ``data.right(H)`` is
    ``V H^T``, ...): no in-place writes, no loops over iterations, no
    stopping, no randomness. Written this way a rule runs on both backends,
    batched over restarts under ``jax.vmap``, and on every storage of ``V``.

    Methods
    -------
    ``prepare(xp, data) -> consts``
        Quantities of the data alone, computed once per fit and shared by
        every restart (default: None).
    ``init(xp, data, W, H, consts) -> state``
        The rule's state for a start ``(W, H)``: products it carries from one
        iteration to the next (a NamedTuple of arrays, or None).
    ``update(xp, data, W, H, state, consts) -> (W, H, state)``
        One iteration. The state keeps its structure and dtypes.
    ``objective(xp, data, W, H, state, consts) -> scalar``
        The loss (plus penalty) at ``(W, H)``, reusing what ``state`` holds.
    ``rescaled(scale) -> rule``
        The same rule for the data divided by ``scale`` (default: the
        ``penalty`` field rescaled, :meth:`nmflab.losses.Penalty.rescaled`).
    ``h_terms(xp, data, W, H, WH) -> (numerator, denominator)``, optional
        A multiplicative rule's step on H as its two terms (``H <- H *
        (numerator / denominator)**gamma``), which online fits
        (:mod:`nmflab.online`) accumulate over blocks of rows. Frobenius
        rules serve online fits through ``solve_h`` (see ``extrapolable``).

    Class attributes
    ----------------
    method : str
        The name users pass as ``method=``.
    loss : {"frobenius", "kl", "beta"}
        The loss family; a ``"beta"`` rule has a ``beta`` field, the others
        a ``beta`` class attribute (2 or 1).
    summary : str
        One line for listings (``nmflab.methods``, the command line's help).
    max_iter, check_every, stop
        The defaults the method brings (R's methods bring R's).
    supports_sparse, supports_weights, supports_penalty, supports_batch : bool
        What the rule takes: a scipy.sparse ``V``, a mask, an L1/L2
        ``penalty`` field, restarts batched side by side on JAX.
    backends : tuple of str
        The drivers it runs on.
    zero_locking : bool
        Multiplicative steps that can never move an exact zero (a start with
        zeros then warns).
    guard : str or None
        The field that ``nmf(eps=...)`` sets (a denominator guard or a floor).
    scale_free : bool
        Whether the driver may run it on ``V`` divided by a power of two
        (rules that reproduce another package's arithmetic say False).
    monotone : bool
        Whether every iteration is a descent step up to rounding (the
        contract tests check it).
    invariant_fields : dict
        Field values under which the iterates do not depend on how ``V`` is
        stored (empty: they never do). HALS sizes its inner sweeps by the
        cost of a product, the stored entries of a sparse ``V``, so its
        sparse and dense fits differ unless ``alpha=0``.
    extrapolable : bool
        Whether the rule provides its two blocks for the unweighted Frobenius
        loss as ``solve_h(xp, data, H, WtV, WtW) -> H`` and ``solve_w(xp, data,
        W, VHt, HHt) -> W`` (the update from the products), so that
        :mod:`nmflab.rules.extrapolation` can wrap it.
    supports_sketch : bool
        Whether it runs on a sketch ``Q B`` of ``V`` (``nmf(sketch=...)``:
        :class:`nmflab.data.Compressed`): an unweighted Frobenius rule that
        asks its data for ``W^T V``, ``V H^T`` and the objective only, and
        whose steps stay non-negative where ``W^T V`` has negative entries
        (a sketch of non-negative data need not be non-negative).
    auto_with_penalty : bool
        Whether ``method="auto"`` may pick it for a penalized fit (an
        explicit ``method=`` always may, if it supports penalties).
    auto_priority : int or None
        How strongly ``method="auto"`` prefers it (highest wins among the
        rules of the loss that take the data); None: never chosen by auto.
        :meth:`auto_score` may refine it by the rank and the storage.
    """

    method: ClassVar[str]
    loss: ClassVar[str]
    summary: ClassVar[str] = ""
    max_iter: ClassVar[int] = 1000
    check_every: ClassVar[int] = 10
    stop: ClassVar[tuple] = ("objective",)
    supports_sparse: ClassVar[bool] = False
    supports_weights: ClassVar[bool] = False
    supports_penalty: ClassVar[bool] = False
    supports_batch: ClassVar[bool] = True
    backends: ClassVar[tuple] = ("numpy", "jax")
    zero_locking: ClassVar[bool] = False
    guard: ClassVar[str | None] = None
    scale_free: ClassVar[bool] = True
    monotone: ClassVar[bool] = True
    invariant_fields: ClassVar[dict] = {}
    extrapolable: ClassVar[bool] = False
    supports_sketch: ClassVar[bool] = False
    auto_with_penalty: ClassVar[bool] = True
    auto_priority: ClassVar[int | None] = None

    @classmethod
    def auto_score(cls, *, rank: int | None, sparse: bool, backend: str = "numpy") -> int | None:
        """Priority of this rule for ``method="auto"`` on data of this rank and storage, on this backend (None: not
        chosen). An override may leave ``backend`` out of its signature."""
        return cls.auto_priority

    def prepare(self, xp, data):
        return None

    def guard_effect(self, vmax: float) -> float:
        """Relative size, on data whose largest entry is ``vmax``, of an absolute constant the rule adds.

        0 for a scale-free rule. Rules that keep another package's absolute
        floors (R's presets, ``scale_free = False``) say how far that constant
        moves the fit away from the fit of the rescaled data; ``nmf`` warns
        (:class:`nmflab.ScaleWarning`) when it exceeds ``1e-4``.
        """
        return 0.0

    def rescaled(self, scale: float):
        if scale == 1.0 or not hasattr(self, "penalty"):
            return self
        return dataclasses.replace(self, penalty=self.penalty.rescaled(scale, self.beta))

    def init(self, xp, data, W, H, consts):
        raise NotImplementedError

    def update(self, xp, data, W, H, state, consts):
        raise NotImplementedError

    def objective(self, xp, data, W, H, state, consts):
        raise NotImplementedError


_REGISTRY: dict[tuple[str, str], type] = {}


def check_rule_class(cls) -> None:
    """Refuse a class that cannot serve as a rule, naming what is missing."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    if not (isinstance(cls, type) and issubclass(cls, Rule)):
        raise TypeError(f"{name} must subclass nmflab.rules.Rule to be registered")
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise TypeError(f"{name} must be a frozen dataclass (@dataclass(frozen=True)): a rule is a static argument "
                        "of the compiled loop and must hash by value")
    method = getattr(cls, "method", None)
    if not isinstance(method, str) or not method or method == "auto":
        raise TypeError(f"{name}.method must be a non-empty name other than 'auto', got {method!r}")
    if getattr(cls, "loss", None) not in FAMILIES:
        raise TypeError(f"{name}.loss must be one of {', '.join(map(repr, FAMILIES))}, got {getattr(cls, 'loss', None)!r}")
    fields = {f.name for f in dataclasses.fields(cls)}
    if cls.loss == "beta" and "beta" not in fields:
        raise TypeError(f"{name} minimizes a beta-divergence and needs a 'beta' field")
    if cls.loss != "beta" and getattr(cls, "beta", None) != {"frobenius": 2.0, "kl": 1.0}[cls.loss]:
        raise TypeError(f"{name}.beta must be {({'frobenius': 2.0, 'kl': 1.0})[cls.loss]} for the {cls.loss} loss")
    if cls.supports_penalty and "penalty" not in fields:
        raise TypeError(f"{name} says it supports a penalty but has no 'penalty' field")
    if cls.guard is not None and cls.guard not in fields:
        raise TypeError(f"{name}.guard names {cls.guard!r}, which is not one of its fields")
    for attr in ("init", "update", "objective"):
        if getattr(cls, attr) is getattr(Rule, attr):
            raise TypeError(f"{name} must define {attr}()")
    unknown = set(cls.backends) - {"numpy", "jax"}
    if unknown or not cls.backends:
        raise TypeError(f"{name}.backends must name some of 'numpy', 'jax', got {cls.backends!r}")


def register(cls):
    """Class decorator: add a rule to the registry under ``(cls.loss, cls.method)``.

    A name already taken by another class is refused; registering a class of
    the same module and name again (a reloaded module) replaces it.
    """
    check_rule_class(cls)
    key = (cls.loss, cls.method)
    old = _REGISTRY.get(key)
    if old is not None and old is not cls and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"method {cls.method!r} for the {cls.loss} loss is registered already by "
                         f"{old.__module__}.{old.__qualname__}; choose another name or unregister it first")
    _REGISTRY[key] = cls
    return cls


def unregister(loss: str, method: str) -> None:
    """Remove the rule registered under ``(loss family, method)``."""
    if (loss, method) not in _REGISTRY:
        raise KeyError(f"no rule is registered as method {method!r} for the {loss!r} loss")
    del _REGISTRY[(loss, method)]


def registered() -> dict[tuple[str, str], type]:
    """Every registered rule: ``{(loss family, method): class}``, in registration order."""
    return dict(_REGISTRY)


def families_of(method: str) -> tuple[str, ...]:
    """The loss families for which ``method`` is registered."""
    return tuple(f for f in FAMILIES if (f, method) in _REGISTRY)


def lookup(family: str, method: str) -> type:
    """The rule class of ``(family, method)``, or a ValueError that says which methods the family has."""
    try:
        return _REGISTRY[(family, method)]
    except KeyError:
        pass
    here = ", ".join(repr(m) for (f, m) in _REGISTRY if f == family)
    elsewhere = families_of(method)
    if elsewhere:
        raise ValueError(f"method {method!r} minimizes the {' or '.join(map(repr, elsewhere))} loss, not {family!r}; "
                         f"for the {family!r} loss choose 'auto' or one of {here}")
    raise ValueError(f"unknown method {method!r} for the {family!r} loss; choose 'auto' or one of {here}")


def _backend_argument(method, backend: str) -> dict:
    """``{"backend": backend}`` if ``method`` takes it (users' rules written before it was offered need not)."""
    import inspect

    params = inspect.signature(method).parameters.values()
    takes = any(p.name == "backend" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return {"backend": backend} if takes else {}


def auto_choice(family: str, *, rank: int | None, sparse: bool, backend: str, weighted: bool = False,
                penalized: bool = False) -> type:
    """The rule ``method="auto"`` picks: the highest :meth:`Rule.auto_score` among those that take the data
    (and the penalty, where one is given: see :attr:`Rule.auto_with_penalty`)."""
    best, best_score = None, None
    for (f, _), cls in _REGISTRY.items():
        if (f != family or backend not in cls.backends or (sparse and not cls.supports_sparse)
                or (weighted and not cls.supports_weights) or (penalized and not cls.auto_with_penalty)):
            continue
        score = cls.auto_score(rank=rank, sparse=sparse, **_backend_argument(cls.auto_score, backend))
        if score is not None and (best_score is None or score > best_score):
            best, best_score = cls, score
    if best is None:
        raise ValueError(f"no registered method for the {family} loss takes this input automatically; name one")
    return best
