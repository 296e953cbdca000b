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

from ._matrix import as_matrix, canonical_scaling
from .evidence import Evidence, ceil_bound, timed, zero_matrix

__all__ = ["tau_sos", "nonneg_nuclear_norm"]

#: The lifting of τ₊^sos has one row per non-zero entry; above this many it is skipped.
MAX_SOS_ENTRIES = 150
#: The nuclear-norm SDP has an (m + n) x (m + n) matrix variable; above this size it is skipped.
MAX_NUCLEAR_SIZE = 120


def _solve(problem, time_limit):
    """Solve with Clarabel (then SCS); the status says when a result is inaccurate."""
    import warnings

    import cvxpy as cp

    for solver in ("CLARABEL", "SCS"):
        if solver in cp.installed_solvers():
            try:
                kwargs = {"time_limit": float(time_limit)} if (time_limit and solver == "CLARABEL") else {}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    problem.solve(solver=solver, **kwargs)
                return solver
            except cp.error.SolverError:
                continue
    problem.solve()
    return "default"


def tau_sos(M, *, time_limit: float | None = None, max_entries: int = MAX_SOS_ENTRIES) -> Evidence:
    """The SDP relaxation τ₊^sos of the self-scaled bound (see module docstring)."""
    import cvxpy as cp

    M = as_matrix(M)
    if M.is_zero:
        return zero_matrix("tau_sos")
    with timed() as clock:
        A = M.values / M.values.max()
        entries = M.entries
        if len(entries) > max_entries:
            return Evidence("tau_sos", "lower", None, None, clock(),
                            f"not applicable: {len(entries)} non-zero entries > {max_entries}")
        pos = {e: k + 1 for k, e in enumerate(entries)}
        N = len(entries)
        Z = cp.Variable((N + 1, N + 1), symmetric=True)
        a = np.array([A[e] for e in entries])
        constraints = [Z >> 0, Z[0, 1:] == a, cp.diag(Z)[1:] <= a**2]
        for ((i, j), (k, l)) in itertools.combinations(entries, 2):
            p, q = pos[(i, j)], pos[(k, l)]
            r, s = pos.get((i, l)), pos.get((k, j))
            if r is None or s is None:
                constraints.append(Z[p, q] == 0)
            elif {r, s} != {p, q} and (min(r, s), max(r, s)) > (p, q):
                constraints.append(Z[p, q] == Z[r, s])
        problem = cp.Problem(cp.Minimize(Z[0, 0]), constraints)
        solver = _solve(problem, time_limit)
        ok = problem.status in ("optimal", "optimal_inaccurate") and problem.value is not None
        value = float(problem.value) if ok else None
    return Evidence("tau_sos", "lower", ceil_bound(value, margin=1e-5) if ok else None, value, clock(),
                    problem.status if ok else f"failed: {problem.status}", False,
                    {"solver": solver, "lifting_size": N + 1})


def nonneg_nuclear_norm(M, *, time_limit: float | None = None) -> Evidence:
    """(ν₊ / ||M||_F)² with ν₊ from its doubly-non-negative SDP relaxation."""
    import cvxpy as cp

    M = as_matrix(M)
    if M.is_zero:
        return zero_matrix("nonneg_nuclear_norm")
    with timed() as clock:
        m, n = M.shape
        if m + n > MAX_NUCLEAR_SIZE:
            return Evidence("nonneg_nuclear_norm", "lower", None, None, clock(),
                            f"not applicable: m + n = {m + n} > {MAX_NUCLEAR_SIZE} for the SDP")
        A = canonical_scaling(M.values)
        A = A / np.linalg.norm(A)
        Z = cp.Variable((m + n, m + n), symmetric=True)
        constraints = [Z >> 0, Z >= 0, Z[:m, m:] == A]
        problem = cp.Problem(cp.Minimize((cp.trace(Z[:m, :m]) + cp.trace(Z[m:, m:])) / 2), constraints)
        solver = _solve(problem, time_limit)
        ok = problem.status in ("optimal", "optimal_inaccurate") and problem.value is not None
        nu = float(problem.value) if ok else None
        value = nu**2 if ok else None
    return Evidence("nonneg_nuclear_norm", "lower", ceil_bound(value, margin=1e-5) if ok else None, value,
                    clock(), problem.status if ok else f"failed: {problem.status}", False,
                    {"solver": solver, "nu_plus_lower": nu})
