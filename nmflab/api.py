"""The primitive: :func:`nmf`, a function from data to a :class:`~nmflab.result.Result`."""

from __future__ import annotations

import importlib.util
import time
import warnings
from dataclasses import replace

import numpy as np

from . import _validation as val
from . import init as _init
from .drivers import BACKENDS
from .losses import HOMOGENEITY
from .result import Result, Status
from .rules import BrunetKL, LeeFrobenius, MultiplicativeFrobenius, MultiplicativeKL
from .stopping import RULES, StopCriteria

__all__ = ["nmf", "fit_weights", "methods", "make_rule", "ZeroLockingWarning", "LOSSES"]

LOSSES = ("frobenius", "kl")

# (loss, method) -> rule class. "auto" resolves through _AUTO.
_RULES = {
    ("frobenius", "mu"): MultiplicativeFrobenius,
    ("kl", "mu"): MultiplicativeKL,
    ("kl", "brunet"): BrunetKL,
    ("frobenius", "lee"): LeeFrobenius,
}
# The fastest rule available for each loss.
_AUTO = {"frobenius": "mu", "kl": "mu"}
# Methods that fix their loss, and the defaults they bring (R's NMF package:
# maxIter = 2000, connectivity checked every 10 iterations, stopconv = 40).
_PRESETS = {
    "brunet": {"loss": "kl", "max_iter": 2000, "check_every": 10, "stop": ("connectivity",)},
    "lee": {"loss": "frobenius", "max_iter": 2000, "check_every": 10, "stop": ("connectivity",)},
}
_DEFAULTS = {"max_iter": 1000, "check_every": 10, "stop": ("objective",)}
# Rules whose multiplicative steps can never move an exact zero.
_ZERO_LOCKING = (MultiplicativeFrobenius, MultiplicativeKL)


class ZeroLockingWarning(UserWarning):
    """A multiplicative rule was started from exact zeros, which it can never move."""


def methods() -> dict[str, tuple[str, ...]]:
    """Methods available for each loss, ``"auto"`` first.

    ``"mu"``: Lee–Seung multiplicative updates; ``"brunet"`` and ``"lee"``:
    R NMF's algorithms of those names, reproduced iterate for iterate (see
    :class:`nmflab.rules.BrunetKL`, :class:`nmflab.rules.LeeFrobenius`).

    Returns
    -------
    dict
        ``{loss: ("auto", method, ...)}``; ``"auto"`` picks the fastest.
    """
    return {loss: ("auto",) + tuple(m for (l_, m) in _RULES if l_ == loss) for loss in LOSSES}


def _resolve_loss(loss, method) -> str:
    preset = _PRESETS.get(method)
    if loss is None:
        return preset["loss"] if preset else "frobenius"
    val.check_choice(loss, "loss", LOSSES)
    if preset and preset["loss"] != loss:
        raise ValueError(f"method {method!r} minimizes the {preset['loss']!r} loss, not {loss!r}")
    return loss


def make_rule(loss: str | None, method: str, eps: float | None = None):
    """The rule object for ``(loss, method)``; ``method="auto"`` picks the fastest.

    ``eps=None`` keeps the rule's own default (the denominator guard of
    ``"mu"`` and ``"lee"``, the periodic floor of ``"brunet"``).
    """
    loss = _resolve_loss(loss, method)
    val.check_choice(method, "method", methods()[loss])
    if method == "auto":
        method = _AUTO[loss]
    cls = _RULES[(loss, method)]
    if eps is None:
        return cls()
    eps = val.check_nonnegative_float(eps, "eps")
    return cls(floor=eps) if cls is BrunetKL else cls(eps=eps)


def with_fixed(rule, *, h: bool = False, w: bool = False):
    """A copy of ``rule`` that leaves ``H`` (``h=True``) or ``W`` (``w=True``) unchanged."""
    return replace(rule, update_h=not h, update_w=not w)


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
                  time_limit):
    """Validate the options every entry point shares; return ``(rule, criteria, check_every)``."""
    rule = make_rule(loss, method, eps)
    defaults = _PRESETS.get(rule.method, _DEFAULTS)
    val.check_choice(backend, "backend", BACKENDS)
    max_iter = val.check_positive_int(defaults["max_iter"] if max_iter is None else max_iter, "max_iter")
    check_every = val.check_positive_int(defaults["check_every"] if check_every is None else check_every,
                                         "check_every")
    rules = _stop_rules(defaults["stop"] if stop is None else stop)
    if time_limit is not None:
        time_limit = val.check_nonnegative_float(time_limit, "time_limit", strictly=True)
    criteria = StopCriteria(
        max_iter=max_iter,
        rules=rules,
        tol=val.check_nonnegative_float(tol, "tol"),
        iterate_tol=val.check_nonnegative_float(iterate_tol, "iterate_tol"),
        kkt_tol=val.check_nonnegative_float(kkt_tol, "kkt_tol"),
        patience=val.check_positive_int(patience, "patience", minimum=0),
        time_limit=None if not rules else time_limit,
    )
    return rule, criteria, check_every


def _driver(backend: str):
    if backend == "jax":
        if importlib.util.find_spec("jax") is None:
            raise ImportError(
                "backend='jax' needs JAX, which is not installed; install it with "
                "`pip install 'nmflab[jax]'` (or `pip install jax`)"
            )
        from .drivers import jax as driver
    else:
        from .drivers import numpy as driver
    return driver


def _data_scale(V: np.ndarray, rule) -> float:
    """Power of two bringing ``max(V)`` into ``[1, 2)``; 1 for an all-zero ``V`` or a rule that is not scale-free.

    Dividing by a power of two is exact in binary floating point, so the fit
    of ``V / s`` is the fit of ``V`` with every intermediate rescaled; it
    keeps products such as ``W^T W H`` inside the floating-point range for
    data anywhere from 1e-300 to 1e300.
    """
    vmax = float(V.max())
    if vmax == 0 or not rule.scale_free:
        return 1.0
    return float(2.0 ** np.floor(np.log2(vmax)))


def _rescaled(V: np.ndarray, scale: float) -> np.ndarray:
    """``V / scale`` without a copy when ``scale == 1``."""
    return V if scale == 1.0 else V / V.dtype.type(scale)


def _random_starts(V, rank, init, restarts, seed):
    """Starting factors of every restart for a named init."""
    W0s, H0s = [], []
    for stream in np.random.SeedSequence(seed).spawn(restarts):
        rng = np.random.default_rng(stream)
        if init == "random":
            W0, H0 = _init.random_start(V, rank, rng)
        else:
            W0, H0 = _init.nndsvd(V, rank, variant=init, rng=rng)
        W0s.append(W0)
        H0s.append(H0)
    return W0s, H0s


def _custom_start(init, shape, rank, dtype):
    """Validated ``(W0, H0)`` from a user-supplied pair."""
    try:
        W0, H0 = init
    except (TypeError, ValueError):
        raise TypeError(
            "init must be one of " + ", ".join(map(repr, _init.INITS)) + " or a pair (W0, H0) of arrays"
        ) from None
    n, p = shape
    return val.check_factor(W0, "W0", (n, rank), dtype), val.check_factor(H0, "H0", (rank, p), dtype)


def _warn_zero_locking(rule, W0s, H0s, init_name):
    if not isinstance(rule, _ZERO_LOCKING):
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
    backend: str = "numpy",
    seed: int | None = None,
    dtype=None,
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
    loss : {"frobenius", "kl"}, optional
        ``"frobenius"``: ``0.5 * ||V - WH||_F**2``; ``"kl"``: the generalized
        Kullback–Leibler divergence ``sum(V log(V/WH) - V + WH)``. Default:
        the method's loss (``"brunet"``: KL), else Frobenius.
    method : str
        ``"auto"`` (the fastest rule for the loss) or a name from
        :func:`methods`: ``"mu"`` (Lee–Seung multiplicative updates, H then
        W), ``"brunet"`` and ``"lee"`` (R NMF's algorithms, iterate for
        iterate; they bring R's defaults: ``max_iter=2000``,
        ``check_every=10``, connectivity stopping with ``patience=40``).
    init : {"random", "nndsvd", "nndsvda", "nndsvdar"} or (W0, H0)
        Starting point; see :mod:`nmflab.init`. A start with exact zeros
        (``"nndsvd"``) under ``"mu"`` raises a :class:`ZeroLockingWarning`.
    restarts : int
        Number of random starts; the one with the lowest final objective wins.
        Only for random starts (``"random"``, ``"nndsvdar"``).
    max_iter : int, optional
        Largest number of iterations. Default 1000 (2000 for R's methods).
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
        (default 10). ``check_every=1`` records the traces after every
        iteration.
    stop : str or sequence of str, optional
        Stopping rules (see :mod:`nmflab.stopping`): any of ``"objective"``
        (default), ``"iterate"``, ``"kkt"``, ``"connectivity"``; the first
        one met stops the fit and is named in ``Result.status``.
        ``"max_iter"`` alone switches every rule off: the fit runs exactly
        ``max_iter`` iterations (unless it turns non-finite).
    iterate_tol, kkt_tol, patience : float, float, int
        Thresholds of the ``"iterate"``, ``"kkt"`` and ``"connectivity"`` rules.
    time_limit : float, optional
        Wall-time budget in seconds for the whole call (all restarts); the fit
        stops at the first check past it with ``Status.TIME_LIMIT``.
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
    rule, criteria, check_every = _solver_setup(loss, method, backend, stop, max_iter, tol, eps, check_every,
                                                iterate_tol, kkt_tol, patience, time_limit)
    if isinstance(init, str):
        val.check_choice(init, "init", _init.INITS)
    restarts = val.check_positive_int(restarts, "restarts")
    if seed is not None:
        seed = val.check_positive_int(seed, "seed", minimum=0)
    if restarts > 1 and _init.is_deterministic(init):
        name = init if isinstance(init, str) else "a custom (W0, H0)"
        raise ValueError(
            f"restarts={restarts} with init={name!r}: a deterministic start makes every restart "
            "identical; use init='random' or 'nndsvdar' for restarts"
        )
    V = val.check_data_matrix(V, "V", dtype=dtype)
    rank = val.check_positive_int(rank, "rank")
    if not isinstance(init, str):
        custom = _custom_start(init, V.shape, rank, V.dtype)
    driver = _driver(backend)

    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    scale = _data_scale(V, rule)
    V_scaled = _rescaled(V, scale)
    if isinstance(init, str):
        W0s, H0s = _random_starts(V_scaled, rank, init, restarts, seed)
        init_name = init
    else:
        W0s, H0s = [custom[0] / V.dtype.type(scale)], [custom[1]]
        init_name = "custom"
    _warn_zero_locking(rule, W0s, H0s, init_name)
    return _run(driver, rule, criteria, check_every, V, V_scaled, W0s, H0s, backend, seed, init_name, scale)


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
    loss, method, max_iter, tol, eps, check_every, stop, iterate_tol, kkt_tol, patience, time_limit, backend, dtype
        As in :func:`nmf`.

    Returns
    -------
    Result
        ``Result.W`` holds the weights; ``Result.H`` is ``H``.
    """
    rule, criteria, check_every = _solver_setup(loss, method, backend, stop, max_iter, tol, eps, check_every,
                                                iterate_tol, kkt_tol, patience, time_limit)
    rule = with_fixed(rule, h=True)
    V = val.check_data_matrix(V, "V", dtype=dtype)
    H_arr = np.asarray(H)
    if H_arr.ndim != 2 or H_arr.shape[1] != V.shape[1]:
        raise ValueError(
            f"H must have shape (rank, {V.shape[1]}) to match V's {V.shape[1]} features, got {H_arr.shape}"
        )
    H = val.check_factor(H_arr, "H", H_arr.shape, V.dtype)
    driver = _driver(backend)
    scale = _data_scale(V, rule)
    V_scaled = _rescaled(V, scale)
    parts_sum = H.sum(axis=0)
    denom = float(parts_sum @ parts_sum)
    weights = V_scaled @ parts_sum / denom if denom > 0 else np.zeros(V.shape[0], V.dtype)
    W0 = np.repeat(weights[:, None], H.shape[0], axis=1).astype(V.dtype)
    return _run(driver, rule, criteria, check_every, V, V_scaled, [W0], [H], backend, 0, "fixed-H", scale)


def _run(driver, rule, criteria, check_every, V, V_scaled, W0s, H0s, backend, seed, init_name, scale) -> Result:
    """Run ``driver`` on every start and assemble the Result in the units of ``V``."""
    start = time.perf_counter()
    records = driver.run(rule, V_scaled, W0s, H0s, criteria, check_every)
    wall = time.perf_counter() - start
    finals = np.array([r.objective[-1] if len(r.objective) else r.initial_objective for r in records])
    best = int(np.argmin(np.where(np.isfinite(finals), finals, np.inf)))
    rec = records[best]
    # scale is 2**k: ldexp multiplies by 2**(k*d) exactly, overflowing to inf
    # only where the objective itself does, and keeps zeros zero.
    exponent = HOMOGENEITY[rule.loss] * (int(np.frexp(scale)[1]) - 1)
    with np.errstate(over="ignore", under="ignore"):
        objective = np.ldexp(rec.objective, exponent)
        restart_objectives = np.ldexp(finals, exponent)
        initial_objective = float(np.ldexp(rec.initial_objective, exponent))
    dtype = V.dtype
    return Result(
        W=rec.W * dtype.type(scale),
        H=rec.H,
        objective=objective,
        iterations=rec.iterations,
        n_iter=rec.n_iter,
        status=Status(rec.status),
        best_restart=best,
        restart_objectives=restart_objectives,
        restart_n_iter=np.array([r.n_iter for r in records]),
        restart_status=np.array([r.status for r in records]),
        loss=rule.loss,
        method=rule.method,
        rule=repr(rule),
        backend=backend,
        dtype=str(dtype),
        seed=seed,
        init=init_name,
        wall_time=wall,
        data_scale=scale,
        times=rec.times,
        initial_objective=initial_objective,
        w_change=rec.w_change,
        h_change=rec.h_change,
        kkt=rec.kkt,
        stop_rules=criteria.rules,
        data_norm=float(np.sqrt(np.vdot(V, V))),
        data_sum=float(V.sum(dtype=np.float64)),
    )
