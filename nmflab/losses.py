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
