"""Diagnostics of a fit: pure functions of a :class:`~nmflab.Result` or of ``(V, W, H)``.

Orientation as everywhere in nmflab: ``V ≈ W @ H``, ``W`` is
``(n_samples, rank)``, ``H`` is ``(rank, n_features)``; the parts are the
rows of ``H``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Descent",
    "monotone_descent",
    "objective_noise",
    "noise_from_stats",
    "noise_base",
    "relative_error",
    "normalize",
    "center_of_mass_order",
    "align_parts",
    "recovery_score",
    "kkt_residual",
    "zero_counts",
    "dead_components",
    "svd_floor",
    "Summary",
    "summarize",
]


@dataclass(frozen=True)
class Descent:
    """How monotone an objective trace is.

    Attributes
    ----------
    max_increase : float
        Largest ``f[k+1] - f[k]`` over the trace (negative when the objective
        fell at every step; the seed chapter prints this number).
    max_relative_increase : float
        Largest ``(f[k+1] - f[k]) / |f[k]|``.
    tolerance : float
        Relative increase attributed to rounding.
    monotone : bool
        ``max_relative_increase <= tolerance``.
    """

    max_increase: float
    max_relative_increase: float
    tolerance: float
    monotone: bool


def objective_noise(V, loss, objective, dtype=np.float64, weights=None):
    """Absolute rounding noise of a computed objective value.

    A fit that has reached its floor shows objective changes of this size
    in either direction; they are rounding, not ascent. Bounds, with ``u``
    the unit roundoff of ``dtype`` and a safety factor of 16 for the
    several roundings per entry:

    * Frobenius, ``f = 0.5 * ||R||^2`` with ``R = V - WH``: each entry of
      ``WH`` carries an error ``d_ij`` of order ``u |V_ij|``, which moves
      ``f`` by ``R_ij d_ij + d_ij^2 / 2``; summed, at most
      ``u sqrt(2f) ||V|| + u^2 ||V||^2 / 2``. Where the drivers use the trace
      identity (:func:`nmflab.losses.frobenius_from_products`), its
      cancellation adds ``4 u ||V||^2``.
    * Other beta-divergences: each summand is a sum of terms of size
      ``V_ij**beta / |beta (beta - 1)|`` (KL: ``V_ij``; Itakura–Saito: 1), each
      rounded with relative error ``u``; summed, ``u sum(V**beta) * 3 / |beta (beta - 1)|``
      (:func:`noise_base`).

    Plus ``16 u f`` for the rounding of the sum itself.

    Parameters
    ----------
    V : array_like
        The data (in the units of the objective).
    loss : str or float
        Loss name or beta.
    objective : float or array_like
    dtype : numpy dtype
        Precision of the computation.
    weights : array_like, optional
        Entry weights of a masked fit.

    Returns
    -------
    float or ndarray
    """
    from .losses import resolve_loss

    _, beta = resolve_loss(loss)
    V = np.asarray(V, dtype=np.float64)
    return noise_from_stats(beta, objective, noise_base(V, beta, weights), dtype)


def noise_base(V, beta: float, weights=None) -> float:
    """The data's part of :func:`objective_noise`: ``||V||_F`` for Frobenius (beta 2), else the term sum."""
    if hasattr(V, "tocsr"):  # sparse: zeros add nothing to these sums (beta > 0)
        V = np.asarray(V.tocsr().data, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):  # an overflowing bound is inf, not an error
        if weights is None:  # every entry counts: no n x p temporaries on this per-fit path
            if beta == 2:
                square = float(np.vdot(V.ravel(), V.ravel()))
                if np.isfinite(square):
                    return float(np.sqrt(square))
            elif beta == 1:
                return float(V.sum())
            elif beta == 0:
                return float(V.size)
            else:
                return float(np.sum(np.abs(V) ** beta) * 3.0 / abs(beta * (beta - 1.0)))
    w = np.ones_like(V) if weights is None else np.asarray(weights, dtype=np.float64)
    counted = w > 0
    with np.errstate(over="ignore", under="ignore"):
        if beta == 2:
            top = float(np.max(np.abs(V), where=counted, initial=0.0))
            if top == 0:
                return 0.0
            return float(top * np.sqrt(np.sum(np.where(counted, w * (V / top) ** 2, 0.0))))
        if beta == 1:
            return float(np.sum(np.where(counted, w * V, 0.0)))
        if beta == 0:
            return float(np.sum(np.where(counted, w, 0.0)))
        return float(np.sum(np.where(counted, w * np.abs(V) ** beta, 0.0)) * 3.0 / abs(beta * (beta - 1.0)))


def noise_from_stats(beta: float, objective, base: float, dtype=np.float64):
    """:func:`objective_noise` from the loss's beta and :func:`noise_base` (what a Result records)."""
    u = float(np.finfo(dtype).eps)
    f = np.abs(np.asarray(objective, dtype=np.float64))
    base = np.float64(base)  # NumPy arithmetic: a bound beyond the float range is inf, not an OverflowError
    with np.errstate(over="ignore"):
        if beta == 2:
            data_term = np.sqrt(2.0 * f) * base + (u + 0.25) * base**2
        else:
            data_term = base
        return 16.0 * u * (f + data_term)


def monotone_descent(objective, *, initial: float | None = None, noise=None, rtol: float | None = None,
                     dtype=np.float64) -> Descent:
    """Check that an objective trace never increases beyond rounding.

    Parameters
    ----------
    objective : array_like, 1-D
        The trace (e.g. ``Result.objective``).
    initial : float, optional
        Objective at the start, prepended to the trace.
    noise : float or array_like, optional
        Absolute rounding noise of each value (see :func:`objective_noise`);
        an increase up to the noise of the value it starts from is rounding.
    rtol : float, optional
        Relative increase tolerated as rounding when ``noise`` is not given;
        default ``1e3 * eps`` of ``dtype``.
    dtype : numpy dtype
        Precision the trace was computed in.

    Returns
    -------
    Descent
        ``tolerance`` is the relative tolerance used (``noise`` divided by the
        objective, at its largest, when ``noise`` is given).
    """
    f = np.asarray(objective, dtype=np.float64)
    if initial is not None:
        f = np.concatenate([[initial], f])
    evaluated = ~np.isnan(f)  # NaN: not evaluated at that check (trace=False) or not representable
    if noise is not None:
        noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), f.shape)[evaluated]
    f = f[evaluated]
    if f.size < 2:
        return Descent(-np.inf, -np.inf, 0.0, True)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(f[1:] == f[:-1], 0.0, f[1:] - f[:-1])  # inf to inf is no change
        base = np.abs(f[:-1])
        rel = np.where(base > 0, diff / base, np.where(diff > 0, np.inf, 0.0))
        if noise is None:
            tol = 1e3 * float(np.finfo(dtype).eps) if rtol is None else float(rtol)
            allowed = tol * base
        else:
            allowed = noise[:-1]
            tol = float(np.max(np.where(base > 0, allowed / base, 0.0)))
    return Descent(float(np.max(diff)), float(np.max(rel)), tol, bool(np.all(diff <= allowed)))


def relative_error(V, W, H, weights=None) -> float:
    """``||V - W H||_F / ||V||_F`` (``0`` for ``V = 0`` fitted exactly), over the counted entries under ``weights``.

    Dense ``V``: both norms against ``max |V|``, so that entries of 1e-300 or
    1e300 do not square out of range; with ``weights`` (a mask) both norms are
    weighted, ``sqrt(sum w (V - WH)**2 / sum w V**2)``. Sparse ``V``: from its
    stored entries (:meth:`nmflab.data.Sparse.divergence`), no ``n x p`` array.
    """
    from .data import is_sparse

    W, H = np.asarray(W, dtype=float), np.asarray(H, dtype=float)
    if is_sparse(V):
        if weights is not None:
            raise ValueError("masks are for dense input; a sparse V counts every entry, stored or zero")
        return float(np.sqrt(2.0 * loss_value(V, W, H, "frobenius")) / np.sqrt(V.tocsr().power(2).sum()))
    V = np.asarray(V, dtype=float)
    root = 1.0 if weights is None else np.sqrt(np.asarray(weights, dtype=float))
    top = float(np.abs(V).max()) or 1.0
    with np.errstate(over="ignore", under="ignore"):
        residual = np.linalg.norm(root * (V / top - (W / top) @ H))
        norm = np.linalg.norm(root * (V / top))
    return float(residual / norm) if norm > 0 else float(residual)


def normalize(W, H, norm: str = "sum"):
    """Rescale so that each part (row of ``H``) has unit sum or unit 2-norm.

    ``W`` is rescaled by the inverse factors, so ``W @ H`` is unchanged.
    Parts that are all zero are left as they are.

    Parameters
    ----------
    W : ndarray, shape (n_samples, rank)
    H : ndarray, shape (rank, n_features)
    norm : {"sum", "l2"}

    Returns
    -------
    W, H : ndarray
    """
    W = np.asarray(W, dtype=float)
    H = np.asarray(H, dtype=float)
    if norm == "sum":
        scale = H.sum(axis=1)
    elif norm == "l2":
        scale = np.linalg.norm(H, axis=1)
    else:
        raise ValueError(f"unknown norm {norm!r}; choose 'sum' or 'l2'")
    scale = np.where(scale > 0, scale, 1.0)
    return W * scale[None, :], H / scale[:, None]


def center_of_mass_order(H) -> np.ndarray:
    """Permutation ordering the parts (rows of ``H``) by their centre of mass over the features."""
    H = np.asarray(H, dtype=float)
    mass = H.sum(axis=1)
    positions = np.arange(H.shape[1])
    centers = np.where(mass > 0, H @ positions / np.where(mass > 0, mass, 1), np.inf)
    return np.argsort(centers, kind="stable")


def _cosines(A, B) -> np.ndarray:
    A = np.asarray(A, dtype=float)
    B = np.asarray(B, dtype=float)
    na = np.linalg.norm(A, axis=1, keepdims=True)
    nb = np.linalg.norm(B, axis=1, keepdims=True)
    return (A / np.where(na > 0, na, 1)) @ (B / np.where(nb > 0, nb, 1)).T


def align_parts(H, H_ref):
    """Match the parts of ``H`` to those of ``H_ref`` by the Hungarian method.

    Maximizes the total cosine similarity between matched rows
    (Kuhn 1955; scipy's ``linear_sum_assignment``).

    Parameters
    ----------
    H : ndarray, shape (rank, n_features)
    H_ref : ndarray, shape (rank_ref, n_features)

    Returns
    -------
    permutation : ndarray of int, shape (min(rank, rank_ref),)
        ``H[permutation[k]]`` is matched with ``H_ref[k]``.
    cosines : ndarray, shape (min(rank, rank_ref),)
        Cosine similarity of each matched pair.
    """
    from scipy.optimize import linear_sum_assignment

    C = _cosines(H_ref, H)
    rows, cols = linear_sum_assignment(C, maximize=True)
    return cols, C[rows, cols]


def recovery_score(H, H_ref) -> float:
    """Mean cosine similarity of the parts of ``H`` matched to ``H_ref`` (1 is perfect recovery)."""
    return float(np.mean(align_parts(H, H_ref)[1]))


def loss_value(V, W, H, loss="frobenius", weights=None) -> float:
    """The loss of ``(W, H)`` on ``V``: half the squared Frobenius norm, the KL or any beta-divergence.

    ``V`` dense or scipy.sparse; it is stored as a fit would store it
    (:func:`nmflab.data.as_data`), so a sparse ``V`` is scored at its stored
    entries and a large dense one a block of rows at a time, never with the
    ``n x p`` product in memory. ``weights`` is an optional mask (dense ``V``).
    """
    from .data import as_data, is_sparse
    from .losses import resolve_loss

    _, beta = resolve_loss(loss)
    V = V.tocsr() if is_sparse(V) else np.asarray(V, dtype=np.result_type(V, W, H, np.float32))
    weights = None if weights is None else np.asarray(weights, dtype=V.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(as_data(np, V, weights).divergence(beta, np.asarray(W), np.asarray(H), None))


def kkt_residual(V, W, H, loss="frobenius", weights=None, penalty=None) -> float:
    """Relative KKT residual of ``(W, H)`` for ``loss`` (0 at a stationary point).

    ``loss`` is a name or a beta (see :func:`nmflab.losses.resolve_loss`);
    ``weights`` an optional mask; ``penalty`` the fit's
    :class:`nmflab.losses.Penalty` (``Result.penalty``), without which a
    penalized fit's residual is that of the unpenalized problem.

    The norm of ``min(X, grad_X)`` over ``X`` in ``{W, H}``, on the problem
    scaled to ``||V||_F = 1`` with balanced components; see
    :func:`nmflab.losses.kkt_residual`. The gradients need ``W H`` whole: a
    sparse ``V`` of up to 2**24 entries is made dense for it; beyond, NaN.
    """
    from . import losses
    from .data import is_sparse

    if is_sparse(V):
        if V.shape[0] * V.shape[1] > 2**24:
            return float("nan")
        V = V.toarray()
    _, beta = losses.resolve_loss(loss)
    weights = None if weights is None else np.asarray(weights, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(losses.kkt_residual(np, beta, np.asarray(V, float), np.asarray(W, float), np.asarray(H, float),
                                         weights, penalty))


def zero_counts(W, H) -> tuple[int, int]:
    """Entries of ``W`` and of ``H`` that are exactly zero.

    Under multiplicative updates an exact zero never moves again
    (zero-locking); a count that only grows over a fit is the symptom.
    """
    return int(np.count_nonzero(np.asarray(W) == 0)), int(np.count_nonzero(np.asarray(H) == 0))


def dead_components(W, H, rtol: float = 1e-8) -> np.ndarray:
    """Components that contribute nothing: ``||W[:, k]|| * ||H[k, :]|| <= rtol * max_j (...)``.

    A column of ``W`` or a row of ``H`` that is all zero makes its component
    dead; the test is invariant under the ``W D, D^-1 H`` rescaling.

    Returns
    -------
    ndarray of int
        Indices of the dead components (all of them if every one is zero).
    """
    from .losses import scaled_norm

    w_norms = scaled_norm(np, np.asarray(W, float), -2)
    h_norms = scaled_norm(np, np.asarray(H, float), -1)
    with np.errstate(divide="ignore"):  # compared in logarithms: the product of two norms may leave the float range
        mass = np.log(w_norms) + np.log(h_norms)
    top = mass.max() if mass.size else -np.inf
    return np.flatnonzero((mass <= np.log(rtol) + top) | (mass == -np.inf))


def svd_floor(V, rank: int) -> tuple[float, float]:
    """The Eckart–Young floor that no rank-``rank`` NMF can beat.

    Returns
    -------
    objective : float
        ``0.5 * sum_{i > rank} sigma_i**2``, the least Frobenius objective of
        any rank-``rank`` matrix (non-negative or not).
    relative_error : float
        ``sqrt(sum_{i > rank} sigma_i**2) / ||V||_F``.
    """
    from .data import is_sparse

    if is_sparse(V):  # the leading singular values alone (ARPACK): the tail is ||V||^2 minus their squares
        V = V.tocsr().astype(float)
        top = float(abs(V).max()) or 1.0
        scaled = V / top
        total = float(scaled.power(2).sum())
        if rank >= min(V.shape) - 1:  # svds needs k < min(n, p): the matrix is small enough to be made dense
            sigma = np.linalg.svd(scaled.toarray(), compute_uv=False)
            tail = float(np.sum(sigma[rank:] ** 2))
        else:
            from scipy.sparse.linalg import svds

            head = svds(scaled, k=rank, return_singular_vectors=False)
            tail = max(total - float(np.sum(head**2)), 0.0)
    else:
        V = np.asarray(V, dtype=float)
        top = float(np.abs(V).max()) or 1.0
        sigma = np.linalg.svd(V / top, compute_uv=False)  # against max |V|: squares stay in range
        tail, total = float(np.sum(sigma[rank:] ** 2)), float(np.sum(sigma**2))
    with np.errstate(over="ignore", under="ignore"):
        return float(0.5 * np.float64(tail) * np.float64(top) ** 2), (np.sqrt(tail / total) if total > 0 else 0.0)


@dataclass(frozen=True)
class Summary:
    """Stability report of one fit; :meth:`format` renders it."""

    status: str
    message: str
    loss: str
    n_iter: int
    rank: int
    initial_objective: float
    final_objective: float
    descent: Descent
    last_w_change: float
    last_h_change: float
    zeros_w: int
    zeros_h: int
    size_w: int
    size_h: int
    dead: tuple
    restarts: int
    best_restart: int
    restart_spread: float
    kkt: float | None = None
    svd_objective: float | None = None
    svd_relative_error: float | None = None
    relative_error: float | None = None

    def format(self) -> str:
        lines = [
            f"stopped after {self.n_iter} iterations: {self.message}",
            f"objective: {self.initial_objective:.6g} at the start -> {self.final_objective:.6g}",
            "monotone descent: "
            + ("yes" if self.descent.monotone else "NO")
            + (f" (largest relative increase {self.descent.max_relative_increase:.3g}, "
               if self.descent.max_relative_increase > 0 else " (the objective never increased; ")
            + f"rounding tolerance {self.descent.tolerance:.3g})",
            f"last relative change: W {self.last_w_change:.3g}, H {self.last_h_change:.3g}",
            f"exact zeros: W {self.zeros_w} of {self.size_w}, H {self.zeros_h} of {self.size_h}; "
            + (f"dead components: {list(self.dead)}" if self.dead else "no dead component"),
        ]
        if self.restarts > 1:
            lines.append(
                f"restarts: {self.restarts}, best #{self.best_restart}; "
                f"final objectives spread {self.restart_spread:.3g} relative"
            )
        if self.kkt is not None:
            lines.append(f"KKT residual (relative): {self.kkt:.3g}")
        if self.svd_objective is not None:
            line = f"relative error {self.relative_error:.4g}; rank-{self.rank} SVD floor {self.svd_relative_error:.4g}"
            if self.loss == "frobenius":
                line += f" (objective floor {self.svd_objective:.6g})"
            lines.append(line)
        elif self.relative_error is not None:
            lines.append(f"relative error {self.relative_error:.4g} over the counted entries (no SVD floor under a mask)")
        return "\n".join(lines)


def _counted_entries(result, V, mask):
    """``(V, weights)`` of the data a fit saw: NaN and ``numpy.ma``-masked entries of a dense ``V`` missing,
    ``mask`` applied."""
    from . import validation as val
    from .data import is_sparse

    shape = (result.W.shape[0], result.H.shape[1])
    if tuple(V.shape) != shape:
        raise ValueError(f"summary(V) needs the data of this fit, of shape {shape}; got V of shape {tuple(V.shape)}")
    weights = None
    if not is_sparse(V):
        V, weights = val.hidden_as_weights(V, nan_is_missing=True)
    if mask is not None:
        if is_sparse(V):
            raise ValueError("masks are for dense input; a sparse V counts every entry, stored or zero")
        given = val.check_weights(mask, shape, np.float64)
        weights = given if weights is None else given * weights
    if result.weighted and weights is None:
        raise ValueError("this fit counted only the entries of its mask: pass the mask too, summary(V, mask)")
    return V, weights


def summarize(result, V=None, mask=None) -> Summary:
    """Collect every diagnostic of a :class:`~nmflab.Result` (and of ``V`` if given).

    Without ``V``: the descent check (with the rounding-noise bound from
    ``result.noise_base``), the last iterate change,
    exact zeros, dead components and the spread over restarts. With ``V``:
    also the KKT residual (with the fit's penalty), the relative error and the
    SVD floor.

    A fit that counted only some entries needs them again: ``mask`` as given
    to :func:`nmflab.nmf`, and NaN entries of ``V`` count as missing (as under
    ``missing="mask"``). The relative error is then over the counted entries
    and the SVD floor, which has no closed form under a mask, is left out.
    """
    trace = np.concatenate([[result.initial_objective], result.objective])
    from .losses import resolve_loss

    noise = noise_from_stats(resolve_loss(result.loss)[1], trace, result.noise_base, result.dtype)
    descent = monotone_descent(trace, noise=noise)
    finals = np.asarray(result.restart_objectives, dtype=float)
    finite = finals[np.isfinite(finals)]
    spread = float((finite.max() - finite.min()) / abs(finite.min())) if finite.size and finite.min() != 0 else 0.0
    zeros_w, zeros_h = zero_counts(result.W, result.H)
    extra = {}
    if V is not None:
        V, weights = _counted_entries(result, V, mask)
        extra = {
            "kkt": kkt_residual(V, result.W, result.H, result.loss, weights, result.penalty),
            "relative_error": relative_error(V, result.W, result.H, weights),
        }
        if weights is None:
            extra["svd_objective"], extra["svd_relative_error"] = svd_floor(V, result.W.shape[1])
    w_change = result.w_change if result.w_change is not None and len(result.w_change) else [np.nan]
    h_change = result.h_change if result.h_change is not None and len(result.h_change) else [np.nan]
    return Summary(
        status=result.status.name,
        message=result.message,
        loss=result.loss,
        n_iter=result.n_iter,
        rank=result.W.shape[1],
        initial_objective=result.initial_objective,
        final_objective=result.final_objective,
        descent=descent,
        last_w_change=float(w_change[-1]),
        last_h_change=float(h_change[-1]),
        zeros_w=zeros_w,
        zeros_h=zeros_h,
        size_w=int(result.W.size),
        size_h=int(result.H.size),
        dead=tuple(int(k) for k in dead_components(result.W, result.H)),
        restarts=len(finals),
        best_restart=result.best_restart,
        restart_spread=spread,
        **extra,
    )
