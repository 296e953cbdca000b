"""HALS for the Frobenius loss, with the acceleration of Gillis & Glineur (2012).

Hierarchical alternating least squares updates one column of W (one row of
H) at a time by its exact non-negative least-squares minimizer, the others
fixed, so every step is a descent step. Gillis & Glineur observe that the
products ``V H^T`` and ``H H^T`` (cost ``O(npr)``) can serve several sweeps
over the columns (cost ``O(nr^2)`` each): the rule makes up to
``1 + floor(alpha * rho)`` inner sweeps per factor, ``rho`` the ratio of
the two costs, and stops them early once a sweep changes the factor by less
than ``delta`` times the first sweep did.

References
----------
A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale
nonnegative matrix and tensor factorizations", IEICE Trans. Fundamentals
E92-A (2009) 708–721.
N. Gillis and F. Glineur, "Accelerated multiplicative updates and
hierarchical ALS algorithms for nonnegative matrix factorization", Neural
Computation 24 (2012) 1085–1105 (alpha = 0.5, delta = 0.1 recommended).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from .. import _kernels, _xp
from ..losses import Penalty
from ._common import T, alternate
from ._registry import Rule, register

__all__ = ["HALS", "HALSState", "inner_sweeps"]


class HALSState(NamedTuple):
    """``V H^T`` and ``H H^T`` (unweighted), or the residual ``E = V - W H`` (weighted)."""

    VHt: Any = None
    HHt: Any = None
    E: Any = None


def inner_sweeps(n: int, p: int, rank: int, alpha: float, entries: int | None = None) -> tuple[int, int]:
    """Largest numbers of inner sweeps for W and for H (Gillis & Glineur 2012, sec. 3.2).

    ``rho_W = 1 + (n p + p r) / (n (r + 1))``: the cost of ``V H^T`` and
    ``H H^T`` over that of a sweep of W (n x r); ``rho_H`` likewise. For a
    sparse ``V`` the products cost ``entries`` (its stored entries) in place
    of ``n p``: counting every zero would allow hundreds of sweeps that cost
    more than the products they are meant to amortize.
    """
    cost = n * p if entries is None else entries  # a dense V's products cost n p
    rho_w = 1 + (cost + p * rank) // (n * (rank + 1))
    rho_h = 1 + (cost + n * rank) // (p * (rank + 1))
    return 1 + int(alpha * rho_w), 1 + int(alpha * rho_h)


def _sweep(xp, X, A, coupling, scale, alive, l1):
    """One Gauss–Seidel sweep over the rows of X for ``min ||Y - G^T X||`` with ``A = G Y``, ``B = G G^T``.

    The factor is swept in its ``r x m`` form, one row (a component) at a
    time: ``coupling[k] @ X`` then reads X along its contiguous rows (a
    column of an ``m x r`` array would be a strided walk through all of it).
    ``coupling``, ``scale`` and ``alive`` come from :func:`_sweep_terms`; row
    ``k`` becomes ``max(0, (A_k - coupling_k X - l1) * scale_k)``, which is
    ``max(0, (A_k - B_k X + B_kk X_k - l1) / (B_kk + l2))`` without the two
    passes over the row that add back its own term. A dead row (``B_kk + l2 =
    0``: the other factor's component is 0, so ``A_k`` and ``B_k`` are too) has
    the linear objective ``l1 sum(x)``: it is left as it is without an L1
    penalty (every value is a minimizer) and set to 0 with one (the only one).
    """

    # NumPy clamps against an array of zeros much faster than against the scalar 0: only the array
    # form takes its vector loop (benchmarks/NOTES.md)
    zeros = xp.zeros_like(X[0])

    def row_update(k, X):
        numerator = A[k] - coupling[k] @ X
        if l1:
            numerator = numerator - l1
        row = _xp.cond(xp, alive[k], lambda: xp.maximum(numerator * scale[k], zeros), lambda: zeros if l1 else X[k])
        return _xp.write(xp, X, k, row)

    return _xp.fori_loop(xp, X.shape[-2], row_update, _xp.scratch_copy(xp, X))


def _sweep_terms(xp, B, l2):
    """``B`` with its diagonal set to 0, ``1 / (B_kk + l2)`` and whether ``B_kk + l2`` is a normal number.

    A row whose ``B_kk + l2`` is 0 or subnormal is dead: a subnormal has lost
    its precision (``1 / B_kk`` would blow the row up), and XLA flushes it to
    zero, so both backends treat the component alike.
    """
    diag = xp.diagonal(B)
    coupling = B - diag[:, None] * xp.eye(B.shape[-1], dtype=B.dtype)
    denominator = diag + l2
    alive = denominator >= xp.finfo(B.dtype).tiny
    return coupling, 1.0 / xp.where(alive, denominator, 1.0), alive


def _rows(xp, X, A, B, l1, l2, max_sweeps: int, delta: float):
    """Up to ``max_sweeps`` sweeps, stopped once a sweep moves X by <= delta * the first sweep's move.

    The NumPy backend makes them compiled where numba is installed
    (:func:`nmflab._kernels.hals_sweeps`, the same sweeps in one call).
    """
    if _xp.is_numpy(xp) and X.ndim == 2 and _kernels.available():
        return _kernels.hals_sweeps(X, A, B, l1, l2, max_sweeps, delta)
    A = _xp.contiguous(xp, A)
    coupling, scale, alive = _sweep_terms(xp, B, l2)
    first = _sweep(xp, X, A, coupling, scale, alive, l1)
    first_change = xp.sqrt(xp.sum((first - X) ** 2))
    if max_sweeps == 1:
        return first

    def more(carry):
        _, change, sweeps = carry
        return (sweeps < max_sweeps) & (change > delta * first_change)

    def sweep(carry):
        current, _, sweeps = carry
        new = _sweep(xp, current, A, coupling, scale, alive, l1)
        return new, xp.sqrt(xp.sum((new - current) ** 2)), sweeps + 1

    out, _, _ = _xp.while_loop(xp, more, sweep, (first, first_change, xp.asarray(1)))
    return out


def _weighted_columns(xp, X, G, E, M, l1, l2):
    """One sweep for ``min sum M (Y - X G)^2`` over the columns of X, with ``E = Y - X G`` kept current."""
    X = _xp.scratch_copy(xp, X)
    for k in range(X.shape[-1]):
        g = G[k, :]
        old = X[:, k]
        diag = M @ (g * g) + l2
        numerator = (M * E) @ g + old * (diag - l2) - l1
        dead = 0.0 if l1 else old  # no curvature: the penalty's minimizer 0, or any value without one
        column = xp.where(diag > 0, xp.maximum(numerator / xp.where(diag > 0, diag, 1.0), 0.0), dead)
        E = E - (column - old)[:, None] * g[None, :]
        X = _xp.write(xp, X, (slice(None), k), column)
    return X, E


@register
@dataclass(frozen=True)
class HALS(Rule):
    """Accelerated HALS for ``0.5 * ||V - WH||_F**2`` (+ penalty), H first, then W.

    Parameters
    ----------
    alpha : float
        Inner sweeps per factor at most ``1 + floor(alpha * rho)``
        (:func:`inner_sweeps`); ``alpha=0`` is plain HALS (one sweep).
    delta : float
        Inner sweeps stop once one moves the factor by at most ``delta`` times
        the first sweep's move.
    penalty : Penalty
        L1/L2 penalties: the column minimizer becomes
        ``max(0, (A_k - X B_k + x_k B_kk - l1) / (B_kk + l2))``.
    update_h, update_w : bool

    Notes
    -----
    With weights (a mask) the closed form needs the residual, which the state
    then carries (``n x p``); each column update costs ``O(np)``, so one sweep
    is made per factor. A column whose Gram diagonal is 0 (a dead component)
    is left as it is, or set to 0 under an L1 penalty, which it would only pay.
    """

    alpha: float = 0.5
    delta: float = 0.1
    penalty: Penalty = field(default_factory=Penalty)
    update_h: bool = True
    update_w: bool = True

    method: ClassVar[str] = "hals"
    loss: ClassVar[str] = "frobenius"
    beta: ClassVar[float] = 2.0
    summary: ClassVar[str] = "HALS with Gillis and Glineur's accelerated inner sweeps"
    supports_sparse: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = True
    supports_penalty: ClassVar[bool] = True
    invariant_fields: ClassVar[dict] = {"alpha": 0.0}  # the sweep budget counts a sparse V's stored entries
    auto_priority: ClassVar[int] = 2
    extrapolable: ClassVar[bool] = True
    supports_sketch: ClassVar[bool] = True

    def init(self, xp, data, W, H, consts):
        if data.weighted:
            return HALSState(E=data.residual(W, H))
        return HALSState(VHt=data.right(H), HHt=H @ T(xp, H))

    def update(self, xp, data, W, H, state, consts):
        pen = self.penalty
        if data.weighted:
            M, E = data.weights, state.E
            if self.update_h:
                Ht, Et = _weighted_columns(xp, T(xp, H), T(xp, W), T(xp, E), T(xp, M), pen.l1_H, pen.l2_H)
                H, E = T(xp, Ht), T(xp, Et)
            if self.update_w:
                W, E = _weighted_columns(xp, W, H, E, M, pen.l1_W, pen.l2_W)
            return W, H, HALSState(E=E)
        return alternate(self, xp, data, W, H, state)

    def _sweeps(self, data, rank):
        n, p = data.shape
        return inner_sweeps(n, p, rank, self.alpha, data.entries)

    def solve_h(self, xp, data, H, WtV, WtW):
        """The inner sweeps over H from ``H`` for ``W^T V`` and ``W^T W`` (the step :mod:`.extrapolation` takes)."""
        pen = self.penalty
        return _rows(xp, H, WtV, WtW, pen.l1_H, pen.l2_H, self._sweeps(data, H.shape[-2])[1], self.delta)

    def solve_w(self, xp, data, W, VHt, HHt):
        """The inner sweeps over W from ``W`` for ``V H^T`` and ``H H^T``."""
        pen = self.penalty
        sweeps = self._sweeps(data, W.shape[-1])[0]
        return T(xp, _rows(xp, T(xp, W), T(xp, VHt), HHt, pen.l1_W, pen.l2_W, sweeps, self.delta))

    def objective(self, xp, data, W, H, state, consts):
        penalty = self.penalty.value(xp, W, H)
        if data.weighted:
            E = state.E
            return 0.5 * xp.sum(data.weights * E * E) + penalty
        return penalty + data.frobenius(W, H, state.VHt, state.HHt)
