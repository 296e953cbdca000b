"""The primitive: :func:`nmf`, a function from data to a :class:`~nmflab.result.Result`."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import time
import warnings

import numpy as np

from . import init as _init
from . import rules as _rules
from . import sketch as _sketch
from . import validation as val
from .data import is_sparse
from .diagnostics import noise_base
from .drivers import BACKENDS
from .losses import NAMED_LOSSES, Penalty, resolve_loss
from .progress import Check, as_callback
from .result import Result, Status
from .stopping import RULES, StopCriteria

__all__ = ["nmf", "fit_weights", "methods", "make_rule", "rule_class", "default_loss", "check_options",
           "ZeroLockingWarning", "ScaleWarning", "LOSSES", "MAX_ITER_LIMIT"]

LOSSES = tuple(NAMED_LOSSES)
#: Largest ``max_iter``: iteration counts are int32 on every backend.
MAX_ITER_LIMIT = 2**31 - 2**20


class ZeroLockingWarning(UserWarning):
    """A multiplicative rule was started from exact zeros, which it can never move."""


class ScaleWarning(UserWarning):
    """A rule with an absolute floor (R's presets) runs on data at a scale where the floor changes the fit."""

#: The relative change of a fit by a rule's absolute constant above which :class:`ScaleWarning` is raised.
SCALE_WARNING_LEVEL = 1e-4


def methods() -> dict[str, tuple[str, ...]]:
    """Methods registered for each loss family, ``"auto"`` (the fastest for the data) first.

    ``"beta"`` stands for every beta-divergence other than Frobenius and KL.
    The list is the registry's (:func:`nmflab.rules.register`), built-in
    rules and users' alike; :func:`nmflab.rules.registered` gives the classes.

    Returns
    -------
    dict
        ``{loss: ("auto", method, ...)}``.
    """
    out = {family: ["auto"] for family in _rules.FAMILIES}
    for family, method in _rules.registered():
        out[family].append(method)
    return {family: tuple(names) for family, names in out.items()}


def default_loss(method) -> str:
    """The loss a method minimizes when ``loss`` is not given.

    A method registered for one loss only (``"hals"``, ``"cd"``, R's
    ``"brunet"``) brings it; ``"auto"`` and methods of several losses
    (``"mu"``) mean Frobenius. A method only for other beta-divergences needs
    ``loss=beta``.
    """
    if isinstance(method, _rules.Rule):
        method = type(method)
    if isinstance(method, type):
        families = (method.loss,)
    elif method == "auto":
        return "frobenius"
    else:
        families = _rules.families_of(method)
        if not families:
            names = sorted({m for m in sum(methods().values(), ()) if m != "auto"})
            raise ValueError(f"unknown method {method!r}; choose 'auto' or one of {', '.join(map(repr, names))}")
    if "frobenius" in families:
        return "frobenius"
    if families == ("beta",):
        raise ValueError(f"method {getattr(method, 'method', method)!r} minimizes a beta-divergence: "
                         "give its beta as loss (e.g. loss=1.5)")
    return families[0]


def rule_class(loss, method="auto", *, sparse: bool = False, rank: int | None = None, backend: str = "numpy",
               weighted: bool = False, penalized: bool = False):
    """The registered rule class for ``(loss, method)`` and the data, and the loss's ``(name, beta)``.

    ``method`` is a registered name, ``"auto"`` (the registry's choice for
    the loss, the rank and the storage; see :meth:`nmflab.rules.Rule.auto_score`),
    a rule class itself, or a configured rule (its class is returned). Refuses, with a message naming the alternatives,
    a method that does not minimize the loss, take this storage or run on
    this backend.
    """
    name, beta = resolve_loss(default_loss(method) if loss is None else loss)
    family = _rules.family_of(beta)
    if isinstance(method, _rules.Rule):
        method = type(method)
    if isinstance(method, type):
        _rules.check_rule_class(method)
        if method.loss != family:
            raise ValueError(f"{method.__qualname__} minimizes the {method.loss!r} loss, not {name!r}")
        cls = method
    elif not isinstance(method, str):
        raise TypeError(f"method must be a name, a rule class or a rule, got {method!r}")
    elif method == "auto":
        cls = _rules.auto_choice(family, rank=rank, sparse=sparse, backend=backend, weighted=weighted,
                                 penalized=penalized)
    else:
        cls = _rules.lookup(family, method)
    if sparse and not cls.supports_sparse:
        others = sorted(repr(m) for (f, m), c in _rules.registered().items() if f == family and c.supports_sparse)
        raise ValueError(f"method {cls.method!r} does not take sparse input; use {', '.join(others)} or pass "
                         "V.toarray()")
    if backend not in cls.backends:
        raise ValueError(f"method {cls.method!r} runs on backend {' or '.join(map(repr, cls.backends))}, "
                         f"not {backend!r}")
    return cls, name, beta


def make_rule(loss, method="auto", eps: float | None = None, *, penalty: Penalty | None = None,
              beta_exponent: str = "mm", sparse: bool = False, rank: int | None = None, backend: str = "numpy",
              weighted: bool = False):
    """The rule object for ``(loss, method)``, configured; ``method="auto"`` picks the fastest.

    ``eps=None`` keeps the rule's own default for the field its class names
    as ``guard`` (the denominator guard of ``"mu"`` and ``"lee"``, the
    periodic floor of ``"brunet"``); a method without one refuses ``eps``.
    A configured rule (``method=ANLS(max_pivots=20)``, ``SparseNMFRight(sparsity=0.1)``)
    keeps its fields except those that ``eps`` and the penalty set.
    """
    return _build_rule(loss, method, eps, penalty, beta_exponent, sparse, rank, backend, weighted)[0]


def _build_rule(loss, method, eps, penalty, beta_exponent, sparse, rank, backend, weighted):
    """:func:`make_rule`, and the loss's name."""
    cls, loss_name, beta = rule_class(loss, method, sparse=sparse, rank=rank, backend=backend, weighted=weighted,
                                      penalized=penalty is not None and penalty.active)
    fields = {f.name for f in dataclasses.fields(cls)}
    val.check_choice(beta_exponent, "beta_exponent", ("mm", "heuristic"))
    kwargs = {}
    if cls.loss == "beta":
        kwargs["beta"] = beta
        if "exponent" in fields:
            kwargs["exponent"] = beta_exponent
    if eps is not None:
        eps = val.check_nonnegative_float(eps, "eps")
        if cls.guard is None:
            raise ValueError(f"method {cls.method!r} has no denominator guard or floor for eps to set; leave eps "
                             "unset (it applies to the multiplicative methods and R's)")
        kwargs[cls.guard] = eps
    if penalty is not None and penalty.active:
        if not cls.supports_penalty:
            others = [repr(m) for (f, m), c in _rules.registered().items() if f == cls.loss and c.supports_penalty]
            raise ValueError(f"method {cls.method!r} takes no penalty (l1_W, l2_W, l1_H, l2_H); use "
                             f"{' or '.join(others)}")
        kwargs["penalty"] = penalty
    if isinstance(method, _rules.Rule):
        return dataclasses.replace(method, **kwargs), loss_name
    return cls(**kwargs), loss_name


def _hides_entries(V) -> bool:
    """Whether ``V`` is a ``numpy.ma`` array with hidden entries (fitted as missing, so the fit is weighted)."""
    return bool(np.ma.isMaskedArray(V) and np.ma.getmaskarray(V).any())


def with_fixed(rule, *, h: bool = False, w: bool = False):
    """A copy of ``rule`` that leaves ``H`` (``h=True``) or ``W`` (``w=True``) unchanged.

    An extrapolated rule becomes the rule it wraps: extrapolation works
    between two blocks, and with one of them fixed its acceptance test (one
    objective for the whole factor) would tie together rows of ``W`` that
    are separate problems, which ``transform`` keeps apart.
    """
    if h or w:
        rule = _rules.extrapolation.plain_rule(rule)
    fields = {f.name for f in dataclasses.fields(rule)}
    if not {"update_h", "update_w"} <= fields:
        raise ValueError(f"method {rule.method!r} cannot hold a factor fixed (its rule has no update_h and update_w "
                         "fields), so it cannot fit weights for given parts")
    return dataclasses.replace(rule, update_h=not h, update_w=not w)


def _stop_rules(stop) -> tuple[str, ...]:
    """``stop`` as a tuple of rule names (empty for ``"max_iter"``)."""
    names = (stop,) if isinstance(stop, str) else tuple(stop)
    if not names:
        raise ValueError("stop needs at least one rule, or 'max_iter'")
    for name in names:
        val.check_choice(name, "stop rule", RULES + ("max_iter",))
    if "max_iter" in names:
        if len(names) > 1:
            raise ValueError("stop='max_iter' switches every other rule off and cannot be combined")
        return ()
    return tuple(r for r in RULES if r in names)


def _solver_setup(loss, method, backend, stop, max_iter, tol, eps, check_every, iterate_tol, kkt_tol, patience,
                  time_limit, penalty=None, beta_exponent="mm", sparse=False, rank=None, trace=True,
                  weighted=False):
    """Validate the options every entry point shares; return ``(rule, criteria, check_every, loss_name)``.

    The defaults of ``max_iter``, ``check_every`` and ``stop`` are the
    rule's own (its class attributes: R's methods bring R's).
    """
    val.check_choice(backend, "backend", BACKENDS)
    if sparse and backend != "numpy":
        raise ValueError("sparse input runs on backend='numpy'; pass V.toarray() for the JAX backend")
    rule, loss_name = _build_rule(loss, method, eps, penalty, beta_exponent, sparse, rank, backend, weighted)
    max_iter = val.check_positive_int(rule.max_iter if max_iter is None else max_iter, "max_iter")
    if max_iter > MAX_ITER_LIMIT:
        raise ValueError(f"max_iter must be at most {MAX_ITER_LIMIT} (iteration counts are 32-bit), got {max_iter}")
    check_every = val.check_positive_int(rule.check_every if check_every is None else check_every, "check_every")
    rules = _stop_rules(rule.stop if stop is None else stop)
    if sparse and "kkt" in rules:
        raise ValueError("the kkt stopping rule needs dense gradients; use it with dense input")
    if time_limit is not None:
        time_limit = val.check_nonnegative_float(time_limit, "time_limit", strictly=True)
    criteria = StopCriteria(
        max_iter=max_iter,
        rules=rules,
        tol=val.check_nonnegative_float(tol, "tol"),
        iterate_tol=val.check_nonnegative_float(iterate_tol, "iterate_tol"),
        kkt_tol=val.check_nonnegative_float(kkt_tol, "kkt_tol"),
        patience=val.check_positive_int(patience, "patience", minimum=0),
        time_limit=time_limit,
        trace=bool(trace),
    )
    return rule, criteria, check_every, loss_name


def _penalty(l1_W, l2_W, l1_H, l2_H) -> Penalty:
    return Penalty(*(val.check_nonnegative_float(v, name) for v, name in
                     ((l1_W, "l1_W"), (l2_W, "l2_W"), (l1_H, "l1_H"), (l2_H, "l2_H"))))


def _data_and_weights(V, mask, missing, dtype, rule, loss_name):
    """Validated data and entry weights (None when every entry counts)."""
    val.check_choice(missing, "missing", ("error", "mask"))
    if is_sparse(V):
        if mask is not None:
            raise ValueError("masks are for dense input; a sparse V counts every entry, stored or zero")
        if rule.beta <= 0:
            raise ValueError(f"the beta-divergence with beta = {rule.beta} <= 0 is infinite at every zero of V; "
                             "a sparse V has zeros (pass the positive entries as a mask of a dense V)")
        return val.check_sparse_matrix(V, "V", dtype=dtype), None
    V, weights = val.hidden_as_weights(V, nan_is_missing=missing == "mask")
    V = val.check_data_matrix(V, "V", dtype=dtype)
    if mask is not None:
        given = val.check_weights(mask, V.shape, V.dtype)
        weights = given if weights is None else given * weights
    elif weights is not None:
        weights = weights.astype(V.dtype)
    if weights is not None:
        if not rule.supports_weights:
            others = [repr(m) for (f, m), c in _rules.registered().items() if f == rule.loss and c.supports_weights]
            raise ValueError(f"method {rule.method!r} does not take a mask or weights; use {' or '.join(others)}")
        if not weights.any():
            raise ValueError("the mask hides every entry: nothing is left to fit")
    if rule.beta <= 0:
        counted = V if weights is None else V[weights > 0]
        if (counted <= 0).any():
            raise ValueError(
                f"the {loss_name} loss (beta <= 0) needs positive data wherever it is counted; "
                "mask the zero entries or add a small offset"
            )
    return V, weights


def _driver(backend: str):
    """The driver module of ``backend`` (:data:`nmflab.drivers.BACKENDS`), or an ImportError naming the install."""
    needs = BACKENDS[backend]
    if needs is not None and importlib.util.find_spec(needs) is None:
        raise ImportError(
            f"backend={backend!r} needs {needs}, which is not installed; install it with "
            f"`pip install 'nmflab[{needs}]'` (or `pip install {needs}`)"
        )
    return importlib.import_module(f"{__package__}.drivers.{backend}")


def _data_scale(V: np.ndarray, rule, weights=None) -> float:
    """Power of two bringing the largest counted entry of ``V`` into ``[1, 2)``.

    1 for an all-zero ``V`` or a rule that is not scale-free; such a rule
    warns (:class:`ScaleWarning`) where its absolute constant changes the fit
    (:meth:`nmflab.rules.Rule.guard_effect`).

    Dividing by a power of two is exact in binary floating point, so the fit
    of ``V / s`` is the fit of ``V`` with every intermediate rescaled; it
    keeps products such as ``W^T W H`` inside the floating-point range for
    data anywhere from 1e-300 to 1e300.
    """
    vmax = float(V.max() if weights is None else np.max(V, where=weights > 0, initial=0.0))  # sparse: .max()
    if vmax == 0:
        return 1.0
    if not rule.scale_free:
        effect = rule.guard_effect(vmax)
        if effect > SCALE_WARNING_LEVEL:
            warnings.warn(
                f"method {rule.method!r} keeps R's absolute {rule.guard} = {getattr(rule, rule.guard):.3g}, which on "
                f"data whose largest entry is {vmax:.3g} changes the fit by about {effect:.1e} relative to the fit "
                "of the same data rescaled; divide V by its largest entry to match R's fit of rescaled data, or "
                "use a scale-free method ('mu', 'hals', 'cd')",
                ScaleWarning,
                stacklevel=4,
            )
        return 1.0
    return float(2.0 ** np.floor(np.log2(vmax)))


def _rescaled(V, scale: float):
    """``V / scale`` in ``V``'s dtype, without a copy when ``scale == 1``.

    A sparse ``V`` has its stored values divided (scipy's ``V / x`` would
    return float64 for float32 data) into a matrix that shares ``V``'s index
    arrays (the fit only reads them; a copy of 5 million entries cost 0.25 s).
    """
    if scale == 1.0:
        return V
    if is_sparse(V):
        from .data.sparse import with_values

        return with_values(V, V.data / V.dtype.type(scale))
    return V / V.dtype.type(scale)


def _random_starts(V, rank, init, restarts, seed, first=0):
    """Starting factors of restarts ``first, ..., first + restarts - 1`` for a named init.

    Start ``k`` draws from ``SeedSequence(seed, spawn_key=(k,))``: the
    ``k``-th child that ``SeedSequence(seed).spawn`` would give.
    """
    W0s, H0s = [], []
    for k in range(first, first + restarts):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
        if init == "random":
            W0, H0 = _init.random_start(V, rank, rng)
        else:
            W0, H0 = _init.nndsvd(V, rank, variant=init, rng=rng)
        W0s.append(W0)
        H0s.append(H0)
    return W0s, H0s


def _is_pair(x) -> bool:
    """True for ``(W0, H0)``: a pair of two-dimensional array-likes."""
    try:
        return len(x) == 2 and np.ndim(x[0]) == 2 and np.ndim(x[1]) == 2
    except (TypeError, ValueError):
        return False


def _custom_pairs(init) -> list:
    """The starts of a non-string ``init``: one pair ``(W0, H0)`` or a non-empty list of them."""
    if _is_pair(init):
        return [init]
    if isinstance(init, (list, tuple)) and init and all(_is_pair(x) for x in init):
        return list(init)
    raise TypeError(
        "init must be one of " + ", ".join(map(repr, _init.INITS)) + ", a pair (W0, H0) of arrays or a list of "
        "such pairs (one start per restart)"
    )


def _custom_starts(init, shape, rank, dtype):
    """Validated ``(W0s, H0s)`` from a user-supplied pair or list of pairs."""
    n, p = shape
    pairs = _custom_pairs(init)
    label = (lambda name, k: name) if len(pairs) == 1 else (lambda name, k: f"{name} of start {k}")
    W0s = [val.check_factor(W0, label("W0", k), (n, rank), dtype) for k, (W0, _) in enumerate(pairs)]
    H0s = [val.check_factor(H0, label("H0", k), (rank, p), dtype) for k, (_, H0) in enumerate(pairs)]
    return W0s, H0s


def _warn_zero_locking(rule, W0s, H0s, init_name):
    if not rule.zero_locking:
        return
    zeros = int(sum(int((W == 0).sum()) + int((H == 0).sum()) for W, H in zip(W0s, H0s)))
    if zeros:
        warnings.warn(
            f"the start (init={init_name!r}) has {zeros} exact zeros in W and H; multiplicative updates "
            "can never move an exact zero (zero-locking), so those entries stay 0 for the whole fit. "
            "Use init='nndsvda' or 'nndsvdar', or method='brunet', whose periodic floor revives them",
            ZeroLockingWarning,
            stacklevel=3,
        )


def nmf(
    V,
    rank,
    *,
    loss: str | None = None,
    method: str = "auto",
    init="random",
    restarts: int = 1,
    max_iter: int | None = None,
    tol: float = 1e-4,
    eps: float | None = None,
    check_every: int | None = None,
    stop=None,
    iterate_tol: float = 1e-5,
    kkt_tol: float = 1e-4,
    patience: int = 40,
    time_limit: float | None = None,
    mask=None,
    missing: str = "error",
    l1_W: float = 0.0,
    l2_W: float = 0.0,
    l1_H: float = 0.0,
    l2_H: float = 0.0,
    beta_exponent: str = "mm",
    backend: str = "numpy",
    seed: int | None = None,
    dtype=None,
    keep_restarts: bool = False,
    first_restart: int = 0,
    lanes: int | None = None,
    trace: bool = True,
    progress=False,
    sketch=None,
) -> Result:
    """Non-negative matrix factorization ``V ≈ W @ H`` with ``W, H >= 0``.

    Orientation: rows of ``V`` are observations. ``V`` is
    ``(n_samples, n_features)``, ``W`` is ``(n_samples, rank)`` (weights of
    each sample), ``H`` is ``(rank, n_features)`` (the parts). The textbook
    and R convention, columns as observations (``V_R = W_R H_R``), is
    ``nmf(V_R.T, r)``, which returns ``W = H_R.T`` and ``H = W_R.T``.

    Parameters
    ----------
    V : array_like, shape (n_samples, n_features)
        Non-negative finite data.
    rank : int
        Number of components, at least 1.
    loss : {"frobenius", "kl", "itakura-saito"} or float, optional
        ``"frobenius"``: ``0.5 * ||V - WH||_F**2``; ``"kl"``: the generalized
        Kullback–Leibler divergence ``sum(V log(V/WH) - V + WH)``; any real
        number: that beta-divergence (2 Frobenius, 1 KL, 0 Itakura–Saito).
        Default: the loss of a method registered for one loss only
        (``"cd"`` and ``"brunet"``: KL), else Frobenius.
    method : str, rule class or rule
        ``"auto"`` (the registry's fastest rule for the loss and the data:
        HALS for Frobenius; for KL coordinate descent up to rank 8, or 16
        where its compiled sweeps run (``pip install 'nmflab[fast]'``, NumPy
        backend), the extrapolated multiplicative updates ``"e-mu"`` above and
        for sparse data on NumPy (``"mu"`` on JAX and for penalized fits)) or a name from
        :func:`methods`, the registry (users' own rules included, see
        :class:`nmflab.rules.Rule`): ``"hals"`` (accelerated HALS), ``"cd"``,
        ``"mu"`` (multiplicative updates, H then W), ``"anls"`` (exact NNLS
        per factor by block principal pivoting), ``"e-hals"`` and
        ``"e-anls"`` (extrapolated, Ang & Gillis 2019), ``"e-mu"`` (KL
        multiplicative updates extrapolated along ``log W``, ``log H``) and
        ``"e-cd"`` (KL coordinate descent extrapolated),
        ``"brunet"`` and
        ``"lee"`` (R NMF's algorithms, iterate for iterate; they bring R's
        defaults: ``max_iter=2000``, ``check_every=10``, connectivity
        stopping with ``patience=40``), ``"snmf/r"`` and ``"snmf/l"`` (R's
        sparse NMF, iterate for iterate). A rule class may be passed itself,
        or a configured rule to set its own fields
        (``method=nmflab.rules.SparseNMFRight(sparsity=0.1)``).
    init : {"random", "nndsvd", "nndsvda", "nndsvdar"}, (W0, H0) or list of (W0, H0)
        Starting point; see :mod:`nmflab.init`. A list gives one restart per
        start (``restarts`` is then their number; batched on JAX like random
        restarts): the way to continue many fits at once, e.g. from
        perturbations of a good one. A start with exact zeros (``"nndsvd"``)
        under ``"mu"`` raises a :class:`ZeroLockingWarning`.
    restarts : int
        Number of random starts; the one with the lowest final objective wins.
        Only for random starts (``"random"``, ``"nndsvdar"``).
    max_iter : int, optional
        Largest number of iterations. Default: the method's own (1000; R's
        methods 2000).
    tol : float
        Threshold of the ``"objective"`` rule: stop when the objective changes
        by at most ``tol`` relative between two checks.
    eps : float, optional
        ``"mu"``: added to every denominator (default 1e-9; ``0`` is the exact
        rule). It acts on the data scaled by a power of two so that
        ``max(V)`` lies in ``[1, 2)`` (see Notes). ``"lee"``: R's ``eps``
        (1e-9). ``"brunet"``: R's periodic floor (machine epsilon).
    check_every : int, optional
        Iterations between two checks of the objective and the stopping rules
        (default: the method's own, 10). ``check_every=1`` records the traces
        after every iteration.
    stop : str or sequence of str, optional
        Stopping rules (see :mod:`nmflab.stopping`): any of ``"objective"``
        (the default, but for R's methods: ``"connectivity"``), ``"iterate"``,
        ``"kkt"``, ``"connectivity"``; the first
        one met stops the fit and is named in ``Result.status``.
        ``"max_iter"`` alone switches every rule off: the fit runs exactly
        ``max_iter`` iterations (unless it turns non-finite or runs out of
        ``time_limit``).
    iterate_tol, kkt_tol, patience : float, float, int
        Thresholds of the ``"iterate"``, ``"kkt"`` and ``"connectivity"`` rules.
    time_limit : float, optional
        Wall-time budget in seconds for the whole call, under any ``stop``.
        It is shared among the restarts: each stops at the first check past
        its share, ``Status.TIME_LIMIT`` (an equal part of what is left when
        it starts, :func:`nmflab.stopping.restart_deadline`), so late
        restarts are not starved by early ones.
    mask : array_like of bool or of non-negative weights, optional
        The shape of ``V``: ``True`` (or a positive weight) where an entry is
        observed and counted, ``False`` (0) where it is missing or held out.
        A masked entry is neither fitted nor counted in the objective; its
        value in ``V`` is ignored (but must be finite unless ``missing="mask"``).
    missing : {"error", "mask"}
        What a NaN in ``V`` means: an error (the default, so a NaN is never
        silently dropped), or a missing entry, masked.
    l1_W, l2_W, l1_H, l2_H : float
        Penalties ``l1_W sum(W) + l2_W/2 ||W||^2 + l1_H sum(H) + l2_H/2 ||H||^2``
        added to the loss (see :class:`nmflab.losses.Penalty` for the map
        from scikit-learn's ``alpha_W, alpha_H, l1_ratio``).
    beta_exponent : {"mm", "heuristic"}
        For a beta-divergence other than Frobenius and KL: the
        majorization-minimization exponent (monotone) or the heuristic 1.
    backend : {"numpy", "jax"}
        The driver. JAX compiles the fit and batches restarts.
    seed : int, optional
        Seed of the random starts; one is drawn (and recorded in the result)
        when none is given. Restart ``k`` uses the ``k``-th child of
        ``numpy.random.SeedSequence(seed)``, so its start does not depend on
        how many restarts are run, nor on the backend.
    dtype : {None, "float32", "float64"}
        Computation dtype; ``None`` keeps float32/float64 input and promotes
        anything else to float64.
    keep_restarts : bool
        Also return every restart's factors (``Result.restart_W``,
        ``Result.restart_H``), e.g. for consensus clustering.
    first_restart : int
        Run starts ``first_restart, ..., first_restart + restarts - 1`` of
        the seed's sequence, so that a long series of restarts can be split
        into calls (or machines) with the same result as one call.
    lanes : int, optional
        JAX: how many restarts run side by side; a restart that stops hands
        its lane to the next one. Default: all on an accelerator; on a CPU
        as many as keep a batch of products in cache
        (:func:`nmflab.drivers.jax.default_lanes`). Ignored by NumPy.
    trace : bool
        Evaluate the objective at every check (the default: the trace that
        the descent diagnostics read). ``False`` evaluates it only where the
        ``"objective"`` rule needs it and once after the last iteration
        (``Result.objective`` is NaN at the other checks): a fit stopped by
        the connectivity, iterate or kkt rule then saves a pass over the data
        per check (KL: a logarithm per entry), as R's NMF does.
    progress : bool or callable
        ``True`` prints a line to standard error every 2 seconds while a
        restart runs and one when it stops
        (:class:`nmflab.progress.FitProgress`); a callable is called with a
        :class:`nmflab.progress.Check` after every check of every restart. On
        JAX the compiled loop then returns to the host after each check.
    sketch : bool, int or nmflab.Sketch, optional
        Fit the Frobenius loss on a randomized sketch ``Q B`` of ``V``
        (:mod:`nmflab.sketch`: ``l = rank + 20`` columns and 2 power
        iterations by default, an int sets ``l``): every product with ``V``
        then costs ``O((n + p) l r)`` in place of ``O(n p r)``, at the price
        of the part of ``V`` the sketch misses. ``Result.sketch`` reports
        that part and the objective on the sketch; ``Result.final_objective``
        is the objective on ``V``. For large dense data of low numerical
        rank; a few full iterations from the result
        (``init=(res.W, res.H)``) recover what the sketch lost. Methods
        ``"hals"``, ``"e-hals"``, ``"anls"``, ``"e-anls"``, ``"mu"``; no
        mask, no ``"kkt"`` stopping.

    Returns
    -------
    Result
        Factors of the best restart in NumPy arrays, the traces, the status
        and the provenance of the fit; ``Result.summary()`` reports on its
        stability.

    Notes
    -----
    The ``"mu"`` drivers work on ``V / s`` where ``s`` is a power of two
    (recorded as ``Result.data_scale``); the returned ``W`` and the
    objective are in the units of ``V``. Division by a power of two is
    exact, so this changes no digit of a fit whose intermediates stay in
    range, and keeps fits of data at scales from 1e-300 to 1e300 finite. The
    reported objective is the loss in the units of ``V``, which may itself
    overflow (Frobenius for entries near 1e300) although the fit does not.
    R's methods run on ``V`` as given, to match R's arithmetic.

    Examples
    --------
    >>> import numpy as np, nmflab
    >>> V = np.random.default_rng(0).random((30, 20))
    >>> res = nmflab.nmf(V, 3, seed=0)
    >>> res.W.shape, res.H.shape
    ((30, 3), (3, 20))
    """
    # Arguments first, data second: nothing is computed before all are valid.
    rank, rule, criteria, check_every, loss_name, restarts, seed, first_restart, lanes, sketch = _checked_arguments(
        rank, loss, method, init, restarts, max_iter, tol, eps, check_every, stop, iterate_tol, kkt_tol, patience,
        time_limit, mask, missing, l1_W, l2_W, l1_H, l2_H, beta_exponent, backend, seed, dtype, first_restart,
        lanes, trace, sketch, sparse=is_sparse(V), masked_input=_hides_entries(V))
    callback = as_callback(progress, restarts, first_restart)
    V, weights = _data_and_weights(V, mask, missing, dtype, rule, loss_name)
    if not isinstance(init, str):
        custom = _custom_starts(init, V.shape, rank, V.dtype)
    driver = _driver(backend)

    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    scale = _data_scale(V, rule, weights)
    V_scaled = _rescaled(V, scale)
    if isinstance(init, str):
        # Starts see the counted entries only (masked ones set to 0).
        W0s, H0s = _random_starts(V_scaled if weights is None else V_scaled * (weights > 0), rank, init, restarts, seed,
                                  first_restart)
        init_name = init
    else:
        W0s, H0s = [W0 / V.dtype.type(scale) for W0 in custom[0]], custom[1]
        init_name = "custom"
    _warn_zero_locking(rule, W0s, H0s, init_name)
    sketched = None
    if sketch is not None:
        sketched = _sketch.sketch(V_scaled, sketch.columns(rank, V.shape), sketch.power_iterations,
                                  np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_SKETCH_STREAM,))))
    return _run(driver, rule, criteria, check_every, V, V_scaled, weights, W0s, H0s, backend, seed, init_name, scale,
                loss_name, keep_restarts=keep_restarts, first_restart=first_restart, lanes=lanes, progress=callback,
                sketched=sketched, sketch=sketch)


def _checked_arguments(rank, loss, method, init, restarts, max_iter, tol, eps, check_every, stop, iterate_tol,
                       kkt_tol, patience, time_limit, mask, missing, l1_W, l2_W, l1_H, l2_H, beta_exponent, backend,
                       seed, dtype, first_restart, lanes, trace, sketch=None, *, sparse, masked_input=False):
    """Every argument of :func:`nmf` but the data, validated: the rule, the stopping criteria and the counts."""
    rank = val.check_positive_int(rank, "rank")
    rule, criteria, check_every, loss_name = _solver_setup(
        loss, method, backend, stop, max_iter, tol, eps, check_every, iterate_tol, kkt_tol, patience, time_limit,
        _penalty(l1_W, l2_W, l1_H, l2_H), beta_exponent, sparse=sparse, rank=rank, trace=trace,
        weighted=mask is not None or missing == "mask" or masked_input)
    val.check_choice(missing, "missing", ("error", "mask"))
    val.resolve_dtype(dtype, np.dtype(np.float64))
    if isinstance(init, str):
        val.check_choice(init, "init", _init.INITS)
    restarts = val.check_positive_int(restarts, "restarts")
    if seed is not None:
        seed = val.check_positive_int(seed, "seed", minimum=0)
    first_restart = val.check_positive_int(first_restart, "first_restart", minimum=0)
    if lanes is not None:
        lanes = val.check_positive_int(lanes, "lanes")
    if not isinstance(init, str) and len(_custom_pairs(init)) > 1:
        starts = len(_custom_pairs(init))
        if restarts not in (1, starts):
            raise ValueError(f"restarts={restarts} with {starts} custom starts: each start is one restart "
                             f"(leave restarts at 1 or pass {starts})")
        restarts = starts
    elif restarts > 1 and _init.is_deterministic(init):
        name = init if isinstance(init, str) else "a custom (W0, H0)"
        raise ValueError(
            f"restarts={restarts} with init={name!r}: a deterministic start makes every restart "
            "identical; use init='random' or 'nndsvdar' for restarts"
        )
    sketch = _sketch.as_sketch(sketch)
    if sketch is not None:
        _check_sketchable(rule, criteria, weighted=mask is not None or missing == "mask" or masked_input)
    return rank, rule, criteria, check_every, loss_name, restarts, seed, first_restart, lanes, sketch


#: The spawn key of the sketch's random stream (restart ``k`` draws its start from key ``k``).
_SKETCH_STREAM = 2**32 - 1


def _check_sketchable(rule, criteria, *, weighted: bool) -> None:
    """Refuse a sketched fit that a sketch cannot serve, saying what can."""
    if rule.loss != "frobenius":
        raise ValueError(f"sketch= compresses V for the Frobenius loss; the {rule.loss!r} loss needs V's entries")
    if weighted:
        raise ValueError("sketch= cannot weight entries: a mask needs V's entries; fit without sketch=")
    if not rule.supports_sketch:
        able = [repr(m) for (f, m), c in _rules.registered().items() if f == "frobenius" and c.supports_sketch]
        raise ValueError(f"method {rule.method!r} does not run on a sketch; use {', '.join(able)}")
    if "kkt" in criteria.rules:
        raise ValueError("the kkt stopping rule measures V's gradients, which a sketched fit does not form; "
                         "use stop='objective' or 'iterate'")


def check_options(rank, *, sparse: bool = False, **options):
    """Validate options of :func:`nmf` without data, raising what :func:`nmf` would raise for them.

    For work that must refuse bad options before it starts (a rank survey
    before it writes its store): an unknown option name is a TypeError, a
    bad value the ValueError or TypeError :func:`nmf` gives. Returns the
    rule :func:`nmf` would run with them at this rank (``method="auto"``
    resolved as :func:`nmf` resolves it).
    """
    import inspect

    bound = inspect.signature(nmf).bind(None, rank, **options)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    del arguments["V"]
    names = [name for name, param in inspect.signature(_checked_arguments).parameters.items()
             if param.kind is not param.KEYWORD_ONLY]
    return _checked_arguments(*(arguments[name] for name in names), sparse=sparse)[1]


def fit_weights(
    V,
    H,
    *,
    loss: str | None = None,
    method: str = "auto",
    max_iter: int | None = None,
    tol: float = 1e-4,
    eps: float | None = None,
    check_every: int | None = None,
    stop=None,
    iterate_tol: float = 1e-5,
    kkt_tol: float = 1e-4,
    patience: int = 40,
    time_limit: float | None = None,
    mask=None,
    missing: str = "error",
    l1_W: float = 0.0,
    l2_W: float = 0.0,
    beta_exponent: str = "mm",
    backend: str = "numpy",
    dtype=None,
) -> Result:
    """Weights ``W >= 0`` of new samples for fixed parts ``H``: ``V ≈ W @ H``.

    Runs the same rule as :func:`nmf` with ``H`` frozen. Each row of ``W``
    starts at ``c_i * 1`` with ``c_i`` the least-squares weight of row ``i``
    of ``V`` on the sum of the parts, so a row's start depends on that row
    alone.

    Parameters
    ----------
    V : array_like, shape (n_samples, n_features)
    H : array_like, shape (rank, n_features)
        The parts, non-negative.
    loss, method, max_iter, tol, eps, check_every, stop, iterate_tol, kkt_tol, patience, time_limit
        As in :func:`nmf`.
    mask, missing, l1_W, l2_W, beta_exponent, backend, dtype
        As in :func:`nmf`.

    Returns
    -------
    Result
        ``Result.W`` holds the weights; ``Result.H`` is ``H``.
    """
    rule, criteria, check_every, loss_name = _solver_setup(
        loss, method, backend, stop, max_iter, tol, eps, check_every, iterate_tol, kkt_tol, patience, time_limit,
        _penalty(l1_W, l2_W, 0.0, 0.0), beta_exponent, sparse=is_sparse(V),
        weighted=mask is not None or missing == "mask" or _hides_entries(V))
    rule = with_fixed(rule, h=True)
    V, weights = _data_and_weights(V, mask, missing, dtype, rule, loss_name)
    H_arr = np.asarray(H)
    if H_arr.ndim != 2 or H_arr.shape[1] != V.shape[1]:
        raise ValueError(
            f"H must have shape (rank, {V.shape[1]}) to match V's {V.shape[1]} features, got {H_arr.shape}"
        )
    H = val.check_factor(H_arr, "H", H_arr.shape, V.dtype)
    driver = _driver(backend)
    scale = _data_scale(V, rule, weights)
    V_scaled = _rescaled(V, scale)
    parts_sum = H.sum(axis=0)
    denom = float(parts_sum @ parts_sum)
    counted = V_scaled if weights is None else V_scaled * (weights > 0)
    start = np.asarray(counted @ parts_sum).ravel() / denom if denom > 0 else np.zeros(V.shape[0], V.dtype)
    W0 = np.repeat(start[:, None], H.shape[0], axis=1).astype(V.dtype)
    return _run(driver, rule, criteria, check_every, V, V_scaled, weights, [W0], [H], backend, 0, "fixed-H", scale,
                loss_name)


def _units_of_v(rule, scale: float, V, weights):
    """``(unit, representable)``: the map of an objective on ``V / scale`` to the units of ``V``, and where it is exact.

    The loss scales as ``scale**beta``. ``scale`` is ``2**k``: for an integer
    beta, ``ldexp`` multiplies by ``2**(k beta)`` exactly, overflowing to inf
    only where the objective itself does, and keeps zeros zero. The map is
    exact unless the scaled data has entries so small that their terms
    (about ``v**beta``) underflow: then a value near the bottom of the range
    (a Frobenius objective of O(1) beside an entry of 1e300 is 1e-599 there)
    is lost, and only values well above the underflow threshold are kept.
    """
    power = rule.beta * (int(np.frexp(scale)[1]) - 1)
    if float(power).is_integer():
        unit = lambda x: np.ldexp(x, int(power))  # noqa: E731
    else:
        unit = lambda x: np.where(x == 0, 0.0, np.asarray(x) * 2.0**power)  # noqa: E731
    floor = np.finfo(V.dtype).tiny / np.finfo(V.dtype).eps

    @functools.cache
    def lossy() -> bool:  # a pass over V, made only for a value near the bottom of the range
        if scale == 1.0 or rule.beta <= 0:
            return False
        values = V.data if is_sparse(V) else (V if weights is None else V[weights > 0])
        smallest = float(np.min(values, where=values > 0, initial=np.inf)) / scale
        return bool(np.isfinite(smallest) and smallest**rule.beta < floor)

    def representable(x):
        tiny = np.abs(np.asarray(x, dtype=float)) < floor
        return ~(tiny & lossy()) if np.any(tiny) else ~tiny

    return unit, representable


def _loss_in_units_of_v(rule, V, weights, scale, unit, representable, W, H, scaled_value) -> float:
    """A fit's objective in the units of ``V``: mapped from the scaled one, or evaluated afresh where that was lost.

    Evaluated afresh (:func:`nmflab.losses.stable_divergence`, plus the
    penalty) for dense data; a sparse ``V`` keeps the mapped value.
    """
    if representable(scaled_value) or is_sparse(V):
        return float(unit(scaled_value))
    from .losses import stable_divergence

    W_v = np.asarray(W, dtype=float) * scale
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        WH = scale * (np.asarray(W, dtype=float) @ np.asarray(H, dtype=float))
        value = stable_divergence(V, WH, rule.beta, weights)
        penalty = getattr(rule, "penalty", None)
        return value + (float(penalty.value(np, W_v, np.asarray(H, dtype=float))) if penalty is not None else 0.0)


def _active_penalty(rule):
    """The rule's :class:`~nmflab.losses.Penalty` if it has one that is not zero, else None."""
    penalty = getattr(rule, "penalty", None)
    return penalty if penalty is not None and penalty.active else None


def _run(driver, rule, criteria, check_every, V, V_scaled, weights, W0s, H0s, backend, seed, init_name, scale,
         loss_name, *, keep_restarts=False, first_restart=0, lanes=None, progress=None, sketched=None,
         sketch=None) -> Result:
    """Run ``driver`` on every start and assemble the Result in the units of ``V``.

    ``progress`` takes a :class:`~nmflab.progress.Check` after every check, its objective in the units of ``V``.
    ``sketched``: ``(QB, residual)`` of a sketched fit, which the driver runs on in place of ``V_scaled``
    (the restarts are then ranked by their objectives on ``V_scaled``).
    """
    unit, representable = _units_of_v(rule, scale, V, weights)
    report = None
    if progress is not None:
        def report(i, iteration, objective, status):
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                value = float(unit(objective)) if representable(objective) else float("nan")
            progress(Check(first_restart + i, iteration, value, Status(status)))
    start = time.perf_counter()
    records = driver.run(rule.rescaled(scale), V_scaled if sketched is None else sketched[0], W0s, H0s, criteria,
                         check_every, weights, lanes=lanes, progress=report)
    wall = time.perf_counter() - start
    ends = [r.trace.objective[-1] if len(r.trace.objective) else r.initial_objective for r in records]
    if sketched is not None:
        on_sketch, ends = ends, _objectives_on(rule.rescaled(scale), V_scaled, records)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        finals = np.array([_loss_in_units_of_v(rule, V, weights, scale, unit, representable, r.W, r.H, end)
                           for r, end in zip(records, ends)])
        best = int(np.argmin(np.where(np.isfinite(finals), finals, np.inf)))
        rec = records[best]
        objective = np.where(representable(rec.trace.objective), unit(rec.trace.objective), np.nan)
        if len(objective) and sketched is None:
            objective[-1] = finals[best]
        trace = rec.trace._replace(objective=objective)
        initial_objective = _loss_in_units_of_v(rule, V, weights, scale, unit, representable, W0s[best], H0s[best],
                                                rec.initial_objective)
        restart_objectives = finals
    dtype = V.dtype
    return Result(
        W=rec.W * dtype.type(scale),
        H=rec.H,
        **trace._asdict(),
        n_iter=rec.n_iter,
        status=Status(rec.status),
        best_restart=best,
        restart_objectives=restart_objectives,
        restart_n_iter=np.array([r.n_iter for r in records]),
        restart_status=np.array([r.status for r in records]),
        loss=loss_name,
        method=rule.method,
        rule=repr(rule),
        backend=backend,
        dtype=str(dtype),
        seed=seed,
        init=init_name,
        wall_time=wall,
        data_scale=scale,
        initial_objective=initial_objective,
        stop_rules=criteria.rules,
        noise_base=noise_base(V, rule.beta, weights),
        weighted=weights is not None,
        penalty=_active_penalty(rule),
        restart_W=np.stack([r.W * dtype.type(scale) for r in records]) if keep_restarts else None,
        restart_H=np.stack([r.H for r in records]) if keep_restarts else None,
        first_restart=first_restart,
        sketch=None if sketched is None else _sketch.SketchReport(
            size=int(sketched[0].Q.shape[1]), power_iterations=sketch.power_iterations, residual=sketched[1],
            compressed_objective=float(unit(on_sketch[best]))),
    )


def _objectives_on(rule, V, records) -> list[float]:
    """Each restart's objective on ``V`` itself (a sketched fit's trace holds those on the sketch)."""
    from .data import as_data

    data = as_data(np, V)
    consts = rule.prepare(np, data)
    return [float(rule.objective(np, data, r.W, r.H, rule.init(np, data, r.W, r.H, consts), consts))
            for r in records]
