"""The primitive: :func:`nmf`, a function from data to a :class:`~nmflab.result.Result`."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import replace

import numpy as np

from . import _validation as val
from . import init as _init
from .drivers import BACKENDS
from .losses import HOMOGENEITY
from .result import Result, Status
from .rules import MultiplicativeFrobenius, MultiplicativeKL
from .stopping import StopCriteria

__all__ = ["nmf", "fit_weights", "methods", "make_rule", "LOSSES", "STOPS"]

LOSSES = ("frobenius", "kl")
STOPS = ("tol", "max_iter")

# (loss, method) -> rule class. "auto" resolves through _AUTO.
_RULES = {
    ("frobenius", "mu"): MultiplicativeFrobenius,
    ("kl", "mu"): MultiplicativeKL,
}
# The fastest rule available for each loss.
_AUTO = {"frobenius": "mu", "kl": "mu"}


def methods() -> dict[str, tuple[str, ...]]:
    """Methods available for each loss, ``"auto"`` first.

    Returns
    -------
    dict
        ``{loss: ("auto", method, ...)}``; ``"auto"`` picks the fastest.
    """
    out = {}
    for loss in LOSSES:
        out[loss] = ("auto",) + tuple(m for (l_, m) in _RULES if l_ == loss)
    return out


def make_rule(loss: str, method: str, eps: float):
    """The rule object for ``(loss, method)``; ``method="auto"`` picks the fastest."""
    val.check_choice(loss, "loss", LOSSES)
    val.check_choice(method, "method", methods()[loss])
    if method == "auto":
        method = _AUTO[loss]
    return _RULES[(loss, method)](eps=eps)


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


def _solver_setup(loss, method, backend, stop, max_iter, tol, eps, check_every):
    """Validate the options every entry point shares; return ``(rule, criteria, check_every)``."""
    val.check_choice(backend, "backend", BACKENDS)
    val.check_choice(stop, "stop", STOPS)
    max_iter = val.check_positive_int(max_iter, "max_iter")
    check_every = val.check_positive_int(check_every, "check_every")
    tol = val.check_nonnegative_float(tol, "tol")
    eps = val.check_nonnegative_float(eps, "eps")
    rule = make_rule(loss, method, eps)
    return rule, StopCriteria(max_iter=max_iter, tol=tol, use_tol=(stop == "tol")), check_every


def _data_scale(V: np.ndarray) -> float:
    """Power of two bringing ``max(V)`` into ``[1, 2)`` (1 for an all-zero ``V``).

    Dividing by a power of two is exact in binary floating point, so the fit
    of ``V / s`` is the fit of ``V`` with every intermediate rescaled; it
    keeps products such as ``W^T W H`` inside the floating-point range for
    data anywhere from 1e-300 to 1e300.
    """
    vmax = float(V.max())
    if vmax == 0:
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


def nmf(
    V,
    rank,
    *,
    loss: str = "frobenius",
    method: str = "auto",
    init="random",
    restarts: int = 1,
    max_iter: int = 1000,
    tol: float = 1e-4,
    eps: float = 1e-9,
    check_every: int = 10,
    stop: str = "tol",
    backend: str = "numpy",
    seed: int | None = None,
    dtype=None,
) -> Result:
    """Non-negative matrix factorization ``V ≈ W @ H`` with ``W, H >= 0``.

    Orientation: rows of ``V`` are observations. ``V`` is
    ``(n_samples, n_features)``, ``W`` is ``(n_samples, rank)`` (weights of
    each sample), ``H`` is ``(rank, n_features)`` (the parts). The textbook
    convention, columns as observations, is ``nmf(V.T, r)`` with the factors
    transposed and swapped.

    Parameters
    ----------
    V : array_like, shape (n_samples, n_features)
        Non-negative finite data.
    rank : int
        Number of components, at least 1.
    loss : {"frobenius", "kl"}
        ``"frobenius"``: ``0.5 * ||V - WH||_F**2``; ``"kl"``: the generalized
        Kullback–Leibler divergence ``sum(V log(V/WH) - V + WH)``.
    method : str
        ``"auto"`` (the fastest rule for the loss) or a name from
        :func:`methods` (``"mu"``: Lee–Seung multiplicative updates).
    init : {"random", "nndsvd", "nndsvda", "nndsvdar"} or (W0, H0)
        Starting point; see :mod:`nmflab.init`.
    restarts : int
        Number of random starts; the one with the lowest final objective wins.
        Only for random starts (``"random"``, ``"nndsvdar"``).
    max_iter : int
        Largest number of iterations (one iteration updates H, then W).
    tol : float
        Convergence when the objective changes by at most ``tol`` relative
        between two checks.
    eps : float
        Added to every denominator of the updates. It acts on the data scaled
        by a power of two so that ``max(V)`` lies in ``[1, 2)`` (see Notes).
    check_every : int
        Iterations between two checks of the objective (and of the stopping
        rule). ``check_every=1`` records the objective after every iteration.
    stop : {"tol", "max_iter"}
        ``"max_iter"`` switches every test but the iteration count off: the
        fit runs exactly ``max_iter`` iterations (unless it turns non-finite).
    backend : {"numpy", "jax"}
        The driver. JAX compiles the whole fit and batches restarts.
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
        Factors of the best restart in NumPy arrays, the objective trace, the
        status and the provenance of the fit.

    Notes
    -----
    The drivers work on ``V / s`` where ``s`` is a power of two (recorded as
    ``Result.data_scale``); the returned ``W`` and the objective are in the
    units of ``V``. Division by a power of two is exact, so this changes no
    digit of a fit whose intermediates stay in range, and keeps fits of data
    at scales from 1e-300 to 1e300 finite. The reported objective is the
    loss in the units of ``V``, which may itself overflow (Frobenius for
    entries near 1e300) although the fit does not.

    Examples
    --------
    >>> import numpy as np, nmflab
    >>> V = np.random.default_rng(0).random((30, 20))
    >>> res = nmflab.nmf(V, 3, seed=0)
    >>> res.W.shape, res.H.shape
    ((30, 3), (3, 20))
    """
    # Arguments first, data second: nothing is computed before all are valid.
    rule, criteria, check_every = _solver_setup(loss, method, backend, stop, max_iter, tol, eps, check_every)
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
    scale = _data_scale(V)
    V_scaled = _rescaled(V, scale)
    if isinstance(init, str):
        W0s, H0s = _random_starts(V_scaled, rank, init, restarts, seed)
        init_name = init
    else:
        W0s, H0s = [custom[0] / V.dtype.type(scale)], [custom[1]]
        init_name = "custom"
    return _run(driver, rule, criteria, check_every, V_scaled, W0s, H0s, backend, seed, init_name, scale)


def fit_weights(
    V,
    H,
    *,
    loss: str = "frobenius",
    method: str = "auto",
    max_iter: int = 1000,
    tol: float = 1e-4,
    eps: float = 1e-9,
    check_every: int = 10,
    stop: str = "tol",
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
    loss, method, max_iter, tol, eps, check_every, stop, backend, dtype
        As in :func:`nmf`.

    Returns
    -------
    Result
        ``Result.W`` holds the weights; ``Result.H`` is ``H``.
    """
    rule, criteria, check_every = _solver_setup(loss, method, backend, stop, max_iter, tol, eps, check_every)
    rule = with_fixed(rule, h=True)
    V = val.check_data_matrix(V, "V", dtype=dtype)
    H_arr = np.asarray(H)
    if H_arr.ndim != 2 or H_arr.shape[1] != V.shape[1]:
        raise ValueError(
            f"H must have shape (rank, {V.shape[1]}) to match V's {V.shape[1]} features, got {H_arr.shape}"
        )
    H = val.check_factor(H_arr, "H", H_arr.shape, V.dtype)
    driver = _driver(backend)
    scale = _data_scale(V)
    V_scaled = _rescaled(V, scale)
    parts_sum = H.sum(axis=0)
    denom = float(parts_sum @ parts_sum)
    weights = V_scaled @ parts_sum / denom if denom > 0 else np.zeros(V.shape[0], V.dtype)
    W0 = np.repeat(weights[:, None], H.shape[0], axis=1).astype(V.dtype)
    return _run(driver, rule, criteria, check_every, V_scaled, [W0], [H], backend, 0, "fixed-H", scale)


def _run(driver, rule, criteria, check_every, V_scaled, W0s, H0s, backend, seed, init_name, scale) -> Result:
    """Run ``driver`` on every start and assemble the Result in the units of ``V``."""
    start = time.perf_counter()
    records = driver.run(rule, V_scaled, W0s, H0s, criteria, check_every)
    wall = time.perf_counter() - start
    return _assemble(records, rule, backend, V_scaled.dtype, seed, init_name, wall, scale)


def _assemble(records, rule, backend, dtype, seed, init_name, wall, scale) -> Result:
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
    )


def with_fixed(rule, *, h: bool = False, w: bool = False):
    """A copy of ``rule`` that leaves ``H`` (``h=True``) or ``W`` (``w=True``) unchanged."""
    return replace(rule, update_h=not h, update_w=not w)
