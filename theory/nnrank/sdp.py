"""Semidefinite lower bounds on rank₊ (cvxpy, imported on first use).

* ``tau_sos``: the sum-of-squares relaxation τ₊^sos of Fawzi & Parrilo's
  self-scaled bound (Math. Program. 158, 2016, §4). With ``a = vec(M)``,

      τ₊^sos(M) = min t  s.t.  [[t, aᵀ], [a, X]] ⪰ 0,
                               X_(ij),(ij) <= M_ij²,
                               X_(ij),(kl) = X_(il),(kj),

  and entries of ``X`` that touch a zero of ``M`` vanish (rows of zeros of
  ``M`` are dropped from the lifting). It is invariant under scaling and
  permutations and satisfies rank₊ >= τ₊ >= τ₊^sos; for ``[[1, 1], [1, α]]``
  with 0 <= α <= 1 it equals 2 / (1 + α).
* ``nonneg_nuclear_norm``: Fawzi & Parrilo's non-negative nuclear norm bound
  (Math. Program. 153, 2015): rank₊(M) >= (ν₊(M) / ||M||_F)², with ν₊ bounded
  below by its doubly-non-negative relaxation
  ``min (tr X + tr Y)/2 s.t. [[X, M], [Mᵀ, Y]] ⪰ 0 and >= 0``. It is not
  scaling invariant; it is evaluated on the canonical (Sinkhorn) scaling.
"""

from __future__ import annotations

import itertools

import numpy as np

from ._deadline import Timeout, call_with_deadline
from ._matrix import as_matrix, canonical_scaling
from .evidence import Evidence, ceil_bound, timed, zero_matrix

__all__ = ["nonneg_nuclear_norm", "tau_sos"]

#: The lifting of τ₊^sos has one row per non-zero entry; above this many it is skipped.
MAX_SOS_ENTRIES = 150
#: The nuclear-norm SDP has an (m + n) x (m + n) matrix variable; above this size it is skipped.
MAX_NUCLEAR_SIZE = 120


def _solve(problem):
    """Solve with Clarabel (then SCS); the status says when a result is inaccurate."""
    import warnings

    import cvxpy as cp

    for solver in ("CLARABEL", "SCS"):
        if solver in cp.installed_solvers():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    problem.solve(solver=solver)
                return solver
            except cp.error.SolverError:
                continue
    problem.solve()
    return "default"


def _outcome(problem, solver):
    """``(value, status, solver)`` of a solved problem: value None and status ``"failed: ..."`` unless optimal
    (or optimal but inaccurate)."""
    ok = problem.status in ("optimal", "optimal_inaccurate") and problem.value is not None
    return (float(problem.value), problem.status, solver) if ok else (None, f"failed: {problem.status}", solver)


def _within(solve, args, time_limit):
    """``solve(*args)``, in a child process stopped after ``time_limit`` seconds where one is given.

    The solvers keep a time limit only between iterations, and one
    iteration of a large SDP can take longer than the time left
    (:mod:`._deadline`). ``(None, "time_limit: ...", None)`` when stopped.
    """
    if time_limit is None:
        return solve(*args)
    try:
        return call_with_deadline(solve, args, seconds=time_limit)
    except Timeout:
        return None, f"time_limit: stopped after {time_limit:.3g} s", None


def _tau_sos_problem(A, entries):
    """The SDP of τ₊^sos for the scaled matrix ``A`` and its non-zero ``entries``, solved."""
    import cvxpy as cp

    pos = {e: k + 1 for k, e in enumerate(entries)}
    N = len(entries)
    Z = cp.Variable((N + 1, N + 1), symmetric=True)
    a = np.array([A[e] for e in entries])
    constraints = [Z >> 0, Z[0, 1:] == a, cp.diag(Z)[1:] <= a**2]
    zeros, same = [], []  # positions (p, q) of Z that vanish; pairs of positions that are equal
    for ((i, j), (k, l)) in itertools.combinations(entries, 2):
        p, q = pos[(i, j)], pos[(k, l)]
        r, s = pos.get((i, l)), pos.get((k, j))
        if r is None or s is None:
            zeros.append((p, q))
        elif {r, s} != {p, q} and (min(r, s), max(r, s)) > (p, q):
            same.append((p, q, r, s))
    # one constraint per kind, indexed by arrays: cvxpy compiles one object in place of thousands
    # (the 13-gon has about 10^4 pairs of entries; one constraint each took longer to compile than to solve)
    if zeros:
        p, q = np.array(zeros).T
        constraints.append(Z[p, q] == 0)
    if same:
        p, q, r, s = np.array(same).T
        constraints.append(Z[p, q] == Z[r, s])
    problem = cp.Problem(cp.Minimize(Z[0, 0]), constraints)
    return _outcome(problem, _solve(problem))


def tau_sos(M, *, time_limit: float | None = None, max_entries: int = MAX_SOS_ENTRIES) -> Evidence:
    """The SDP relaxation τ₊^sos of the self-scaled bound (see module docstring).

    With ``time_limit`` the SDP is solved in a child process that is
    stopped when the time is up (status ``"time_limit: ..."``).
    """
    M = as_matrix(M)
    if M.is_zero:
        return zero_matrix("tau_sos")
    with timed() as clock:
        entries = M.entries
        if len(entries) > max_entries:
            return Evidence("tau_sos", "lower", None, None, clock(),
                            f"not applicable: {len(entries)} non-zero entries > {max_entries}")
        value, status, solver = _within(_tau_sos_problem, (M.values / M.values.max(), entries), time_limit)
    return Evidence("tau_sos", "lower", None if value is None else ceil_bound(value, margin=1e-5), value, clock(),
                    status, False, {"solver": solver, "lifting_size": len(entries) + 1})


def _nuclear_problem(A):
    """The doubly-non-negative SDP bounding ν₊ of ``A`` (unit Frobenius norm) from below, solved."""
    import cvxpy as cp

    m, n = A.shape
    Z = cp.Variable((m + n, m + n), symmetric=True)
    constraints = [Z >> 0, Z >= 0, Z[:m, m:] == A]
    problem = cp.Problem(cp.Minimize((cp.trace(Z[:m, :m]) + cp.trace(Z[m:, m:])) / 2), constraints)
    return _outcome(problem, _solve(problem))


def nonneg_nuclear_norm(M, *, time_limit: float | None = None) -> Evidence:
    """(ν₊ / ||M||_F)² with ν₊ from its doubly-non-negative SDP relaxation (a time limit as for :func:`tau_sos`)."""
    M = as_matrix(M)
    if M.is_zero:
        return zero_matrix("nonneg_nuclear_norm")
    with timed() as clock:
        m, n = M.shape
        if m + n > MAX_NUCLEAR_SIZE:
            return Evidence("nonneg_nuclear_norm", "lower", None, None, clock(),
                            f"not applicable: m + n = {m + n} > {MAX_NUCLEAR_SIZE} for the SDP")
        A = canonical_scaling(M.values)
        nu, status, solver = _within(_nuclear_problem, (A / np.linalg.norm(A),), time_limit)
    value = None if nu is None else nu**2
    return Evidence("nonneg_nuclear_norm", "lower", None if value is None else ceil_bound(value, margin=1e-5), value,
                    clock(), status, False, {"solver": solver, "nu_plus_lower": nu})
