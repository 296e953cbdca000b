"""Fawzi & Parrilo's self-scaled bound τ₊ computed exactly, with open tools.

τ₊(M) = min { t : M ∈ t · conv(R : R rank one, 0 <= R <= M) } is a lower
bound on rank₊ that sees the values of ``M``, not only its support
(Fawzi & Parrilo, Math. Program. 158, 2016). By LP duality

    τ₊(M) = max <L, M>  s.t.  <L, R> <= 1  for every rank-one 0 <= R <= M,

and for *any* ``L`` the ratio ``<L, M> / max_R <L, R>`` is a lower bound. The
published computation needs a commercial global solver for the inner
maximum; here it is a certified branch-and-bound:

* **oracle**: ``max <L, u vᵀ>`` over ``u, v >= 0`` with ``u_i v_j <= M_ij``.
  For fixed ``v`` the best ``u_i`` is ``min_j M_ij / v_j`` when
  ``(L v)_i > 0`` and 0 otherwise, so the problem is the maximum of
  ``g(v) = Σ_i [(L v)_i]_+ · min_{j: v_j > 0} M_ij / v_j`` over the faces
  ``v_c = 1`` of the unit box (g is homogeneous of degree 0). Boxes of ``v``
  are bounded above by interval arithmetic and below by evaluating ``g``;
  the best-first search stops when the gap is below ``oracle_rtol``, so its
  upper value is a certified maximum (up to floating point).
* **cutting planes**: the LP over ``L`` is solved with the rank-one matrices
  found so far; the oracle's maximizer is added as a cut while it violates
  the LP's constraint.

The reported value is the best certified ratio seen, so it is a valid lower
bound whenever the run stops (time limit included). Reference value: the
5 × 5 linear Euclidean distance matrix has τ₊ = 4.1857, proving rank₊ = 5.
"""

from __future__ import annotations

import heapq

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from ._matrix import as_matrix, on_support
from .evidence import Evidence, ceil_bound, timed, zero_matrix

__all__ = ["tau_plus", "rank_one_oracle"]


def _g(A: np.ndarray, L: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """g at the rows of V (B x n), and the optimal u for each (B x m)."""
    Lv = V @ L.T  # B x m
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(V[:, None, :] > 0, A[None, :, :] / V[:, None, :], np.inf)  # B x m x n
    cap = ratio.min(axis=2)
    u = np.where(Lv > 0, cap, 0.0)
    u = np.where(np.isfinite(u), u, 0.0)
    return (u * Lv).sum(axis=1), u


def _upper(A: np.ndarray, L: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Interval upper bound of g over boxes [lo, hi] (B x n)."""
    Lv_hi = np.maximum(lo @ np.clip(L, 0, None).T + hi @ np.clip(L, None, 0).T, 0.0)
    Lv_hi = np.maximum(Lv_hi, hi @ np.clip(L, 0, None).T + lo @ np.clip(L, None, 0).T)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(lo[:, None, :] > 0, A[None, :, :] / lo[:, None, :], np.inf)
    cap = ratio.min(axis=2)
    return np.where(Lv_hi > 0, Lv_hi * np.where(np.isfinite(cap), cap, 0.0), 0.0).sum(axis=1)


def rank_one_oracle(A: np.ndarray, L: np.ndarray, *, rtol: float = 1e-4, max_boxes: int = 400_000,
                    batch: int = 512):
    """Certified ``max <L, R>`` over rank-one ``0 <= R <= A``.

    Returns
    -------
    upper : float
        A certified upper bound on the maximum.
    lower : float
        The value of the best rank-one matrix found.
    R : ndarray
        That matrix.
    """
    transpose = A.shape[0] < A.shape[1]
    if transpose:
        A, L = A.T, L.T
    m, n = A.shape
    heap: list = []
    best_value, best_R = 0.0, np.zeros((m, n))
    lo0, hi0 = [], []
    for c in range(n):
        lo = np.zeros(n)
        hi = np.ones(n)
        lo[c] = 1.0
        lo0.append(lo)
        hi0.append(hi)
    lo, hi = np.array(lo0), np.array(hi0)
    ub = _upper(A, L, lo, hi)
    for k in range(n):
        heapq.heappush(heap, (-ub[k], k, lo[k], hi[k]))
    counter = n
    explored = 0
    while heap:
        top = -heap[0][0]
        if top <= best_value + rtol * max(abs(best_value), 1e-12) or explored >= max_boxes:
            break
        popped = [heapq.heappop(heap) for _ in range(min(batch, len(heap)))]
        lo = np.array([p[2] for p in popped])
        hi = np.array([p[3] for p in popped])
        width = hi - lo
        axis = np.argmax(width, axis=1)
        mid = (lo[np.arange(len(lo)), axis] + hi[np.arange(len(lo)), axis]) / 2
        lo_a, hi_a = lo.copy(), hi.copy()
        hi_a[np.arange(len(lo)), axis] = mid
        lo_b, hi_b = lo.copy(), hi.copy()
        lo_b[np.arange(len(lo)), axis] = mid
        clo = np.vstack([lo_a, lo_b])
        chi = np.vstack([hi_a, hi_b])
        explored += len(clo)
        centers = (clo + chi) / 2
        # zero coordinates matter (a v_j > 0 kills every row with M_ij = 0),
        # so the low corner and the centre with the box's zeros are tried too
        centers_zeroed = np.where(clo == 0, 0.0, centers)
        for points in (centers, chi, clo, centers_zeroed):
            values, u = _g(A, L, points)
            t = int(np.argmax(values))
            if values[t] > best_value:
                best_value = float(values[t])
                best_R = np.outer(u[t], points[t])
        ub = _upper(A, L, clo, chi)
        for k in np.flatnonzero(ub > best_value + rtol * max(abs(best_value), 1e-12)):
            counter += 1
            heapq.heappush(heap, (-ub[k], counter, clo[k], chi[k]))
    # pruned boxes were within rtol of the best value; unexplored ones are bounded by their keys
    upper = max(best_value + rtol * max(abs(best_value), 1e-12), -heap[0][0] if heap else -np.inf)
    if transpose:
        best_R = best_R.T
    return float(upper), float(best_value), best_R


#: The oracle's branch-and-bound runs over min(m, n) coordinates; above this many τ₊ is skipped.
MAX_TAU_SIDE = 14


def tau_plus(M, *, time_limit: float | None = 120.0, oracle_rtol: float = 1e-4, max_rounds: int = 500) -> Evidence:
    """τ₊(M) by cutting planes with the certified oracle (see module docstring)."""
    M = as_matrix(M)
    if M.is_zero:
        return zero_matrix("tau_plus")
    with timed() as clock:
        if min(M.shape) > MAX_TAU_SIDE:
            return Evidence("tau_plus", "lower", None, None, clock(),
                            f"not applicable: min(m, n) = {min(M.shape)} > {MAX_TAU_SIDE} for the oracle")
        A = M.values / M.values.max()
        entries = M.entries
        a = np.array([A[e] for e in entries])
        size = float(min(M.shape))
        bounds = [(-10 * size / x, 1 / x) for x in a]  # single-entry cuts as bounds
        cuts: list[np.ndarray] = []
        best, best_L, status, rounds = 0.0, None, "max_rounds", 0
        for rounds in range(1, max_rounds + 1):
            if cuts:
                C = np.array(cuts)
                lp = linprog(-a, A_ub=csr_matrix(C), b_ub=np.ones(len(cuts)), bounds=bounds, method="highs")
            else:
                lp = linprog(-a, bounds=bounds, method="highs")
            if lp.status != 0:
                status = f"failed: {lp.message}"
                break
            Lmat = on_support(M.shape, entries, lp.x)
            upper, lower, R = rank_one_oracle(A, Lmat, rtol=oracle_rtol)
            value = float(a @ lp.x) / upper if upper > 0 else 0.0
            if value > best:
                best, best_L = value, Lmat
            if upper <= 1 + 2 * oracle_rtol:
                status = "optimal"
                break
            if lower <= 1 + 1e-9:
                status = "oracle gap"
                break
            if time_limit is not None and clock() >= time_limit:
                status = "time_limit"
                break
            cuts.append(np.array([R[e] for e in entries]))
    return Evidence("tau_plus", "lower", ceil_bound(best, margin=max(oracle_rtol, 1e-6)) if best_L is not None else None,
                    best, clock(), status, False, {"L": best_L, "rounds": rounds, "lp_value": float(-lp.fun) if lp.status == 0 else None})
