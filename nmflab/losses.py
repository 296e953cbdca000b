"""Objective functions, written once over an array namespace ``xp``.

Every function accepts an optional leading batch axis on ``W`` and ``H``
and returns one value per batch member.

Orientation: ``V`` is ``(n_samples, n_features)``, ``W`` is
``(n_samples, rank)``, ``H`` is ``(rank, n_features)``.
"""

from __future__ import annotations

__all__ = [
    "frobenius",
    "frobenius_from_products",
    "kl_divergence",
    "gradients",
    "kkt_residual",
    "HOMOGENEITY",
]

#: Degree of homogeneity of each loss: ``loss(sV, sX) = s**d * loss(V, X)``.
#: Used to report objectives in the units of the caller's data after the
#: drivers have worked on a rescaled copy.
HOMOGENEITY = {"frobenius": 2, "kl": 1}


def _sum2(xp, X):
    """Sum over the last two axes."""
    return xp.sum(X, axis=(-2, -1))


def frobenius(xp, V, W, H):
    """Half the squared Frobenius norm of the residual, ``0.5 * ||V - W H||_F**2``.

    Computed from the residual itself: accurate to rounding of each entry,
    but it forms the ``n x p`` product ``W H``.
    """
    R = V - W @ H
    return 0.5 * _sum2(xp, R * R)


def frobenius_from_products(xp, norm_sq, W, VHt, HHt):
    """``0.5 * ||V - W H||_F**2`` from products an update already holds.

    Uses the trace identity
    ``||V - WH||^2 = ||V||^2 - 2 tr(W^T V H^T) + tr((W^T W)(H H^T))``
    with ``VHt = V H^T`` and ``HHt = H H^T``; it costs ``O((n + r) r^2)``
    instead of ``O(n p r)``. Its absolute error is about
    ``4 * eps * ||V||^2``: callers fall back to :func:`frobenius` when the
    result is small against ``||V||^2`` (catastrophic cancellation).
    """
    WtW = xp.matrix_transpose(W) @ W
    return 0.5 * (norm_sq - 2.0 * _sum2(xp, W * VHt) + _sum2(xp, WtW * HHt))


def kl_divergence(xp, V, WH):
    """Generalized Kullback–Leibler divergence ``sum(V log(V / WH) - V + WH)``.

    Entries with ``V == 0`` contribute ``WH`` (the convention ``0 log 0 = 0``);
    an entry with ``V > 0`` and ``WH == 0`` makes the divergence infinite.
    Each summand is non-negative, so the sum carries no cancellation.
    """
    positive = V > 0
    safe_WH = xp.where(positive, WH, 1.0)
    safe_V = xp.where(positive, V, 1.0)
    log_term = xp.where(positive, V * xp.log(safe_V / safe_WH), 0.0)
    return _sum2(xp, log_term - V + WH)


def gradients(xp, loss: str, V, W, H):
    """Gradients ``(dW, dH)`` of the loss at ``(W, H)``.

    Frobenius (``0.5 ||V - WH||^2``): ``dW = W (H H^T) - V H^T``,
    ``dH = (W^T W) H - W^T V``.
    KL: with ``R = V / WH`` (0 where ``V = 0``), ``dW = (1 - R) H^T``,
    ``dH = W^T (1 - R)``.
    """
    Wt = xp.matrix_transpose(W)
    Ht = xp.matrix_transpose(H)
    if loss == "frobenius":
        return W @ (H @ Ht) - V @ Ht, (Wt @ W) @ H - Wt @ V
    if loss == "kl":
        WH = W @ H
        positive = V > 0
        ratio = xp.where(positive, V / xp.where(positive, WH, 1.0), 0.0)
        residual = 1.0 - ratio
        return residual @ Ht, Wt @ residual
    raise ValueError(f"unknown loss {loss!r}")


def kkt_residual(xp, loss: str, V, W, H):
    """Relative KKT (stationarity) residual of ``(W, H)``, a scale-free number.

    The KKT conditions of ``min f(W, H) s.t. W, H >= 0`` are
    ``X >= 0, grad_X >= 0, X * grad_X = 0`` for ``X`` in ``{W, H}``;
    ``min(X, grad_X) = 0`` entrywise says all three at once (the "natural
    residual"). To make the number comparable across problems it is
    computed after removing the two scalings the problem has:

    * the data is scaled to ``||V||_F = 1`` (``W`` and ``H`` by ``||V||^-1/2``);
    * each component is balanced, ``||W[:, k]|| = ||H[k, :]||`` (the
      ``W D, D^-1 H`` ambiguity), so the residual cannot be made small by
      shrinking one factor.

    Returns ``sqrt(||min(W, dW)||^2 + ||min(H, dH)||^2)`` of the normalized
    problem; 0 exactly at a KKT point.
    """
    norm = xp.sqrt(xp.vdot(V, V))
    norm = xp.where(norm > 0, norm, 1.0)
    w_norms = xp.sqrt(xp.sum(W * W, axis=-2))
    h_norms = xp.sqrt(xp.sum(H * H, axis=-1))
    live = (w_norms > 0) & (h_norms > 0)
    balance = xp.where(live, xp.sqrt(xp.where(live, h_norms, 1.0) / xp.where(live, w_norms, 1.0)), 1.0)
    Vn = V / norm
    Wn = W * balance[..., None, :] / xp.sqrt(norm)
    Hn = H / balance[..., :, None] / xp.sqrt(norm)
    dW, dH = gradients(xp, loss, Vn, Wn, Hn)
    rW = xp.minimum(Wn, dW)
    rH = xp.minimum(Hn, dH)
    return xp.sqrt(xp.sum(rW * rW, axis=(-2, -1)) + xp.sum(rH * rH, axis=(-2, -1)))
