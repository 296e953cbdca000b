"""Upper bounds by exact factorizations, and an exact decision procedure.

* :func:`exact_nmf_heuristic`: multi-start HALS (nmflab's solver) at a target
  rank, then an iterated local search from the best points, each candidate
  *rounded toward an exact factorization*: entries that are
  numerically zero are set to zero and the factors polished by alternating
  non-negative least squares on that pattern; for exact input the factors
  are also rounded to fractions with small denominators and checked exactly.
  Whatever it returns has been re-verified (:func:`verify_certificate`).
  (Multi-start is the baseline of Vandaele, Gillis, Glineur & Tuyttens 2016,
  *Heuristics for exact NMF*, J. Global Optim. 65.)
* :func:`smt_decide`: is there a factorization with r columns? Asked of z3's
  non-linear real arithmetic solver, which is complete: ``unsat`` proves
  rank₊ > r, ``sat`` comes with a model that is verified as a certificate,
  ``unknown`` (a time limit) proves nothing and is reported as such. Zero
  entries add the disjunctions ``W_it = 0 or H_tj = 0``; scaling and
  permutation symmetry are removed (columns of W sum to one, rows of H in
  non-increasing order of their sums). Exact input only: for rounded floats
  the question would be about the rounding errors.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.optimize import nnls

from ._matrix import NonnegMatrix, as_matrix, verify_certificate, zero_certificate
from .evidence import Evidence, timed, zero_matrix

__all__ = ["exact_nmf_heuristic", "smt_decide"]


#: Residual evaluations of one Gauss-Newton solve in the polish. The genuine factorizations of the gallery
#: polish in 30 to 80; a near miss that is not one can use any number (2000 took minutes at 16 x 15).
POLISH_EVALUATIONS = 400


class _OutOfTime(Exception):
    """The polish's clock ran out inside scipy's ``least_squares`` (raised from its Jacobian callback)."""


def _polish(V: np.ndarray, W: np.ndarray, H: np.ndarray, rounds: int = 30, out_of_time=lambda: False):
    """Round toward an exact factorization.

    Entries that are numerically zero are set to zero; alternating NNLS then
    refines the rest, and when the fit is already close a bound-constrained
    Gauss-Newton solve (scipy's ``least_squares``) on the remaining entries
    converges quadratically where HALS crawls.

    ``out_of_time()``, the caller's clock, is read between NNLS rounds and
    at every Gauss-Newton iteration: once it is true the best factors so far
    are returned, so a caller's time limit holds for the polish too.
    """
    scale = V.max()
    W = np.where(W < 1e-7 * scale, 0.0, W)
    H = np.where(H < 1e-7 * scale, 0.0, H)
    for _ in range(rounds):
        if out_of_time():
            return W, H
        H = np.column_stack([nnls(W, V[:, j], maxiter=2000)[0] for j in range(V.shape[1])])
        W = np.column_stack([nnls(H.T, V[i, :], maxiter=2000)[0] for i in range(V.shape[0])]).T
        if np.abs(V - W @ H).max() <= 1e-13 * scale:
            return W, H
    if np.abs(V - W @ H).max() > 1e-3 * scale:
        return W, H
    # balance each term's scale between W and H (the solve is badly scaled otherwise)
    d = np.sqrt(np.maximum(H.max(axis=1), 1e-300) / np.maximum(W.max(axis=0), 1e-300))
    W, H = W * d, H / d[:, None]
    # a near miss often holds entries of 1e-9 that are 0 in the exact factorization (HALS only creeps
    # toward 0): each pass sets entries below a share of their column's (row's) largest to 0 and solves
    # for the rest on that pattern; the best fit of the passes is kept
    for share in (0.0, 1e-7, 1e-5):
        if out_of_time():
            break
        W0 = np.where(W < share * W.max(axis=0), 0.0, W)
        H0 = np.where(H < share * H.max(axis=1)[:, None], 0.0, H)
        W2, H2 = _solve_on_pattern(V, W0, H0, out_of_time)
        if np.abs(V - W2 @ H2).max() < np.abs(V - W @ H).max():
            W, H = W2, H2
        if np.abs(V - W @ H).max() <= 1e-13 * scale:
            break
    return W, H


def _solve_on_pattern(V: np.ndarray, W: np.ndarray, H: np.ndarray, out_of_time=lambda: False):
    """Bound-constrained Gauss-Newton (scipy's ``least_squares``) on the non-zero entries of ``W`` and ``H``.

    Stopped by ``out_of_time()`` (read at every iteration), it returns the
    point of smallest largest residual it evaluated.
    """
    from scipy.optimize import least_squares

    free_W, free_H = W > 0, H > 0

    def unpack(x):
        Wx, Hx = np.zeros_like(W), np.zeros_like(H)
        Wx[free_W] = x[: free_W.sum()]
        Hx[free_H] = x[free_W.sum():]
        return Wx, Hx

    x0 = np.concatenate([W[free_W], H[free_H]])
    best = [np.inf, x0]  # the smallest largest residual evaluated, and its point

    def residual(x):
        Wx, Hx = unpack(x)
        r = (Wx @ Hx - V).ravel()
        largest = np.abs(r).max()
        if largest < best[0]:
            best[:] = [largest, np.array(x)]
        return r

    def jacobian(x):
        # called once per iteration: the place to stop (least_squares takes no callback that can)
        if out_of_time():
            raise _OutOfTime
        # d(WH)_ij / dW_ik = H_kj and d(WH)_ij / dH_kj = W_ik; columns in the order of x (finite differences
        # would cost one evaluation per free entry, minutes per candidate at 16 x 15)
        Wx, Hx = unpack(x)
        (m, r), n = W.shape, H.shape[1]
        JW = np.zeros((m, n, m, r))
        JW[np.arange(m), :, np.arange(m), :] = Hx.T
        JH = np.zeros((m, n, r, n))
        JH[:, np.arange(n), :, np.arange(n)] = Wx
        return np.concatenate([JW.reshape(m * n, m * r)[:, free_W.ravel()],
                               JH.reshape(m * n, r * n)[:, free_H.ravel()]], axis=1)

    try:
        x = least_squares(residual, x0, jac=jacobian, bounds=(0, np.inf), xtol=1e-15, ftol=1e-15, gtol=1e-15,
                          max_nfev=POLISH_EVALUATIONS).x
    except _OutOfTime:
        x = best[1]
    return unpack(x)


def _rationalize(M: NonnegMatrix, W: np.ndarray, H: np.ndarray, source: str):
    """An exact certificate from fractions with small denominators near ``W, H`` (in the units of ``M``), or None.

    How a term's scale is split between ``W[:, k]`` and ``H[k, :]`` is
    arbitrary, and fractions are found only for some splits: the factors as
    they are, then with each column of ``W``, then each row of ``H``, at
    largest entry 1.
    """
    w_max = np.where(W.max(axis=0) > 0, W.max(axis=0), 1.0)
    h_max = np.where(H.max(axis=1) > 0, H.max(axis=1), 1.0)
    for Ws, Hs in ((W, H), (W / w_max, H * w_max[:, None]), (W * h_max, H / h_max[:, None])):
        for denominator in (1, 2, 4, 6, 12, 60, 360, 2520):
            Wq = np.vectorize(lambda x: Fraction(x).limit_denominator(denominator), otypes=[object])(Ws)
            Hq = np.vectorize(lambda x: Fraction(x).limit_denominator(denominator), otypes=[object])(Hs)
            certificate = verify_certificate(M, Wq, Hq, source)
            if certificate is not None:
                return certificate
    return None


#: Iterations of each perturbed fit in the local search (short: a perturbation is near a local minimum).
SEARCH_ITER = 100
#: Rounds without improvement after which the local search starts a new chain from fresh starts.
SEARCH_PATIENCE = 15
#: Perturbation of the local search: every entry of W times ``exp(SEARCH_SIGMA * N(0, 1))``, one column redrawn.
SEARCH_SIGMA = 0.3


def _perturbed(W: np.ndarray, H: np.ndarray, count: int, rng: np.random.Generator) -> list:
    """``count`` starts near ``(W, H)``: W's entries scaled by log-normal noise and one of its columns redrawn."""
    starts = []
    for _ in range(count):
        W2 = W * np.exp(SEARCH_SIGMA * rng.standard_normal(W.shape))
        k = rng.integers(W.shape[1])
        W2[:, k] = rng.random(W.shape[0]) * max(float(W[:, k].max()), 1e-3)
        starts.append((W2, H.copy()))
    return starts


def exact_nmf_heuristic(M, rank: int, *, restarts: int | None = None, search_rounds: int | None = None,
                        max_iter: int = 2000, seed: int = 0, time_limit: float | None = None, rtol: float = 1e-11,
                        backend: str | None = None) -> Evidence:
    """Search for ``M = W H`` with ``rank`` columns; an upper bound when found.

    Two phases, each candidate polished toward an exact factorization and
    verified:

    1. *Multi-start*: restarts run in batches (batched on JAX when it is
       installed: 200 starts a batch, else 5 on NumPy) until one polishes to
       an exact factorization or ``restarts`` starts have run (default: 400
       on JAX, 20 on NumPy). Exact NMF is a rare event per start (about 1
       start in 40 for LEDM(6) at rank 5).
    2. *Iterated local search* (the perturb-and-descend scheme that
       Vandaele, Gillis, Glineur & Tuyttens 2016 found far stronger than
       restarts): from the best point of a batch of fresh starts, each round
       fits a batch of perturbations of the current point
       (:data:`SEARCH_ITER` HALS iterations each) and moves to the best if
       it fits better; after :data:`SEARCH_PATIENCE` rounds without a move a
       new chain begins. ``search_rounds`` rounds in all (default: until the
       time limit; without one 300 on JAX, 100 on NumPy). The 12-gon's 7-term
       factorization, which 2000 restarts miss, is found this way.

    The search runs on the canonical representative of ``M`` (scaling
    ``M`` changes nothing). A factorization counts only when every non-zero
    entry is matched to ``rtol`` and every zero exactly
    (:func:`verify_certificate`): genuine exact factorizations polish to
    about 1e-15; a near miss is reported with its residual, not as a bound.
    Under ``time_limit`` both phases share the clock; without it the work
    budgets alone decide (the same result on any machine).
    """
    import importlib.util

    from nmflab import nmf

    M = as_matrix(M)
    if M.is_zero:
        return zero_matrix("exact_nmf_heuristic", "upper", certificate=zero_certificate(M))
    if backend is None:
        backend = "jax" if importlib.util.find_spec("jax") else "numpy"
    batch = 200 if backend == "jax" else 5
    restarts = restarts if restarts is not None else (400 if backend == "jax" else 20)
    if search_rounds is None:  # under a clock the clock decides; without one, a budget of work
        search_rounds = (300 if backend == "jax" else 100) if time_limit is None else np.iinfo(np.int64).max
    V = M.values / M.values.max()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(rank,)))
    with timed() as clock:

        def remaining():
            return None if time_limit is None else time_limit - clock()

        def fit(init, count, first, iterations):
            """The fits of a batch (random starts ``first...`` or the given ones) as (error, W, H), best first."""
            result = nmf(V, rank, method="hals", init=init, restarts=count, first_restart=first,
                         max_iter=iterations, tol=1e-14, seed=seed, keep_restarts=True, trace=False,
                         time_limit=None if time_limit is None else max(remaining(), 1e-3),  # the clock may
                         backend=backend, dtype="float64")  # have run out since the caller looked
            fits = [(float(np.abs(V - W @ H).max()), np.asarray(W, float), np.asarray(H, float))
                    for W, H in zip(result.restart_W, result.restart_H)]
            return sorted(fits, key=lambda f: f[0])

        best = [np.inf, None]  # the smallest residual and its polished factors (in the units of M)

        def out_of_time():
            return time_limit is not None and remaining() <= 0

        def settle(W, H):
            """Polish and verify a candidate; the certificate, or None (the best near miss is kept)."""
            W, H = _polish(V, W, H, out_of_time=out_of_time)
            residual = float(np.abs(V - W @ H).max())  # on the canonical representative, relative to its largest
            Wm, Hm = M.to_units_of_m(W * M.values.max(), H)
            certificate = _rationalize(M, Wm, Hm, "exact_nmf_heuristic") if M.exact is not None else None
            if certificate is None:
                certificate = verify_certificate(M, Wm, Hm, "exact_nmf_heuristic", rtol=rtol)
            if residual < best[0]:
                best[:] = [residual, (Wm, Hm)]
            return certificate

        certificate, starts_used, rounds_used = None, 0, 0
        while certificate is None and starts_used < restarts and not out_of_time():
            count = min(batch, restarts - starts_used)
            _, W, H = fit("random", count, starts_used, max_iter)[0]
            starts_used += count
            certificate = settle(W, H)
        chain = 0
        while certificate is None and rounds_used < search_rounds and not out_of_time():
            # a new chain: the best of a batch of fresh starts (beyond those of phase 1)
            error, W, H = fit("random", batch, restarts + chain * batch, max_iter)[0]
            chain += 1
            idle = 0
            while idle < SEARCH_PATIENCE and rounds_used < search_rounds and not out_of_time():
                error2, W2, H2 = fit(_perturbed(W, H, batch, rng), batch, 0, SEARCH_ITER)[0]
                rounds_used += 1
                if error2 < error:
                    error, W, H, idle = error2, W2, H2, 0
                else:
                    idle += 1
                if error < 1e-6:
                    break
            certificate = settle(W, H)
    data = {"rank": rank, "restarts": starts_used, "search_rounds": rounds_used, "chains": chain}
    if certificate is None:
        return Evidence("exact_nmf_heuristic", "upper", None, best[0], clock(), f"not found at rank {rank}", False,
                        dict(data, best_residual=best[0], near_miss=best[1]))
    return Evidence("exact_nmf_heuristic", "upper", rank, certificate.residual, clock(), "found",
                    certificate.exact, dict(data, certificate=certificate))


#: z3 is offered matrices of at most this many entries.
MAX_SMT_ENTRIES = 400


#: z3's resource budget for :func:`smt_decide` when no wall-clock limit is set: a count of z3's own
#: elementary steps, so that "unknown" means the same on every machine.
SMT_RLIMIT = 50_000_000


def smt_decide(M, rank: int, *, time_limit: float | None = 60.0, rlimit: int | None = None) -> Evidence:
    """Decide rank₊(M) <= rank exactly with z3 (exact input only).

    ``time_limit`` bounds the wall-clock seconds, ``rlimit`` z3's resource
    count (its deterministic measure of work: the same answer on a fast and
    a slow machine); with neither, :data:`SMT_RLIMIT` applies. Running out of
    either gives ``"unknown"``, which proves nothing.
    """
    M = as_matrix(M)
    if M.is_zero:
        return zero_matrix("smt", "exact")
    with timed() as clock:
        if M.exact is None:
            return Evidence("smt", "exact", None, None, clock(),
                            "not applicable: needs exact (integer or fraction) input")
        if M.values.size > MAX_SMT_ENTRIES:
            return Evidence("smt", "exact", None, None, clock(),
                            f"not applicable: {M.values.size} entries > {MAX_SMT_ENTRIES}")
        import z3

        m, n = M.shape
        W = [[z3.Real(f"w{i}_{t}") for t in range(rank)] for i in range(m)]
        H = [[z3.Real(f"h{t}_{j}") for j in range(n)] for t in range(rank)]
        solver = z3.Solver()
        if time_limit is not None:
            solver.set("timeout", max(1, int(time_limit * 1000)))
        if rlimit is not None or time_limit is None:
            solver.set("rlimit", int(SMT_RLIMIT if rlimit is None else rlimit))
        for row in W + H:
            solver.add(*[x >= 0 for x in row])
        for t in range(rank):
            solver.add(z3.Sum([W[i][t] for i in range(m)]) == 1)
        for t in range(rank - 1):
            solver.add(z3.Sum(H[t]) >= z3.Sum(H[t + 1]))
        for i in range(m):
            for j in range(n):
                value = M.exact[i][j]
                if value == 0:
                    solver.add(*[z3.Or(W[i][t] == 0, H[t][j] == 0) for t in range(rank)])
                else:
                    solver.add(z3.Sum([W[i][t] * H[t][j] for t in range(rank)])
                               == z3.RealVal(f"{value.numerator}/{value.denominator}"))
        answer = solver.check()
        if answer == z3.unsat:
            return Evidence("smt", "lower", rank + 1, None, clock(), "unsat", True, {"rank": rank})
        if answer == z3.unknown:
            return Evidence("smt", "exact", None, None, clock(), "unknown", True,
                            {"rank": rank, "reason": solver.reason_unknown()})
        model = solver.model()

        def value_of(x):
            v = model.eval(x, model_completion=True)
            if z3.is_rational_value(v):
                return Fraction(v.numerator_as_long(), v.denominator_as_long())
            return float(v.approx(30).as_fraction())

        Wv = np.array([[value_of(x) for x in row] for row in W], dtype=object)
        Hv = np.array([[value_of(x) for x in row] for row in H], dtype=object)
        exact = all(isinstance(x, Fraction) for x in list(Wv.ravel()) + list(Hv.ravel()))
        certificate = verify_certificate(M, Wv, Hv, "smt") if exact else verify_certificate(
            M, Wv.astype(float), Hv.astype(float), "smt", rtol=1e-12)
    if certificate is None:
        return Evidence("smt", "upper", None, None, clock(), "failed: sat model did not verify", True,
                        {"rank": rank})
    return Evidence("smt", "upper", rank, None, clock(), "sat", certificate.exact,
                    {"rank": rank, "certificate": certificate})
