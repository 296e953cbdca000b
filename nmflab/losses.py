"""Objective functions, written once over an array namespace ``xp``.

Every function accepts an optional leading batch axis on ``W`` and ``H``
and returns one value per batch member. ``weights`` (``M``, the shape of
``V``, or None) weighs each entry: a masked entry (weight 0) is neither
fitted nor counted.

Orientation: ``V`` is ``(n_samples, n_features)``, ``W`` is
``(n_samples, rank)``, ``H`` is ``(rank, n_features)``.

The beta-divergence family (Févotte & Idier 2011) covers the losses:
``beta = 2`` is half the squared Euclidean distance (Frobenius), ``beta = 1``
the generalized Kullback–Leibler divergence, ``beta = 0`` Itakura–Saito.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _xp

__all__ = [
    "frobenius",
    "frobenius_from_products",
    "identity_rounding",
    "kl_divergence",
    "beta_divergence",
    "divergence_terms",
    "stable_divergence",
    "divergence",
    "gradients",
    "kkt_residual",
    "scaled_norm",
    "Penalty",
    "resolve_loss",
    "NAMED_LOSSES",
]


def _sum2(xp, X):
    """Sum over the last two axes."""
    return xp.sum(X, axis=(-2, -1))


def _weighted(xp, X, weights):
    """``weights * X``, with exact zeros where the weight is 0 (even if ``X`` is inf or NaN there)."""
    if weights is None:
        return X
    return xp.where(weights > 0, weights * X, 0.0)


def frobenius(xp, V, W, H, weights=None):
    """Half the squared Frobenius norm of the residual, ``0.5 * sum(M (V - W H)**2)``.

    Computed from the residual itself: accurate to rounding of each entry,
    but it forms the ``n x p`` product ``W H``.
    """
    R = V - W @ H
    return 0.5 * _sum2(xp, _weighted(xp, R * R, weights))


def frobenius_from_products(xp, norm_sq, W, VHt, HHt):
    """``0.5 * ||V - W H||_F**2`` (unweighted) from products an update already holds.

    Uses the trace identity
    ``||V - WH||^2 = ||V||^2 - 2 tr(W^T V H^T) + tr((W^T W)(H H^T))``
    with ``VHt = V H^T`` and ``HHt = H H^T``; it costs ``O((n + r) r^2)``
    instead of ``O(n p r)``. Its absolute error is about
    ``4 * eps * ||V||^2`` (:func:`identity_rounding`): callers fall back to :func:`frobenius` when the
    result is small against ``||V||^2`` (catastrophic cancellation).
    """
    WtW = xp.matrix_transpose(W) @ W
    return 0.5 * (norm_sq - 2.0 * _sum2(xp, W * VHt) + _sum2(xp, WtW * HHt))


def identity_rounding(xp, norm_sq, dtype):
    """The absolute rounding of :func:`frobenius_from_products`, ``4 eps ||V||^2`` (``norm_sq = ||V||^2``)."""
    return 4.0 * xp.finfo(dtype).eps * norm_sq


def kl_divergence(xp, V, WH, weights=None):
    """Generalized Kullback–Leibler divergence ``sum(M (V log(V / WH) - V + WH))``.

    Entries with ``V == 0`` contribute ``WH`` (the convention ``0 log 0 = 0``);
    an entry with ``V > 0`` and ``WH == 0`` makes the divergence infinite.
    Each summand is non-negative, so the sum carries no cancellation.
    """
    positive = V > 0
    if weights is None and _xp.is_numpy(xp) and V.shape == WH.shape:
        # The same summands, bit for bit, in one n x p array: ten passes and six temporaries become five and one.
        import numpy as np

        with np.errstate(divide="ignore"):
            terms = np.divide(V, WH, out=np.ones(V.shape, dtype=np.result_type(V, WH)), where=positive)
            np.log(terms, out=terms)
        terms *= V
        terms -= V
        terms += WH
        return _sum2(np, terms)
    return _sum2(xp, _weighted(xp, divergence_terms(xp, V, WH, 1.0), weights))


def divergence_terms(xp, V, WH, beta: float):
    """The beta-divergence entry by entry, ``d_beta(V_ij | WH_ij)``: the one place for its formula.

    ``d_beta(v | x) = (v**beta + (beta - 1) x**beta - beta v x**(beta - 1)) / (beta (beta - 1))``
    for ``beta`` not 0 or 1; ``beta = 2`` is half the squared difference,
    ``beta = 1`` KL (``v log(v / x) - v + x``, with ``0 log 0 = 0``) and
    ``beta = 0`` Itakura–Saito, ``v / x - log(v / x) - 1`` (Févotte & Idier
    2011, eq. 2). For ``beta <= 0`` the data must be positive.
    """
    if beta == 2:
        R = V - WH
        return 0.5 * (R * R)
    if beta == 1:
        positive = V > 0
        safe_WH = xp.where(positive, WH, 1.0)
        safe_V = xp.where(positive, V, 1.0)
        return xp.where(positive, V * xp.log(safe_V / safe_WH), 0.0) - V + WH
    if beta == 0:
        ratio = V / WH
        return ratio - xp.log(ratio) - 1.0
    # V * WH**(beta - 1) is 0 where V is 0, also where WH is 0 (d_beta(0 | 0) = 0 for beta > 0).
    positive = V > 0
    cross = xp.where(positive, V * xp.where(positive, WH, 1.0) ** (beta - 1.0), 0.0)
    return (V**beta + (beta - 1.0) * WH**beta - beta * cross) / (beta * (beta - 1.0))


def beta_divergence(xp, V, WH, beta: float, weights=None):
    """Beta-divergence ``sum(M d_beta(V | WH))`` for any real ``beta`` (:func:`divergence_terms`)."""
    if beta == 1:
        return kl_divergence(xp, V, WH, weights)
    return _sum2(xp, _weighted(xp, divergence_terms(xp, V, WH, beta), weights))


def stable_divergence(V, WH, beta: float, weights=None) -> float:
    """The beta-divergence of NumPy arrays without overflow or underflow short of the result's own.

    Each term is computed at its own power of two, ``d(v | x) = 2**(beta e)
    d(v / 2**e | x / 2**e)`` with ``2**e`` near ``max(v, x)`` (the divergence
    is homogeneous of degree ``beta``), and the terms are summed against the
    largest exponent: exact rescalings, so a term is lost only where it is
    negligible beside the largest one. With entries from 1e-300 to 1e300
    the plain sum overflows in its squares or underflows in them (half the
    squared residual of O(1) entries beside a fitted 1e300 is 14.8, not 0).
    """
    import numpy as np

    V, WH = np.asarray(V, dtype=float), np.asarray(WH, dtype=float)
    _, e = np.frexp(np.maximum(V, WH))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        terms = divergence_terms(np, np.ldexp(V, -e), np.ldexp(WH, -e), beta)
        if weights is not None:
            terms = np.where(np.asarray(weights) > 0, np.asarray(weights) * terms, 0.0)
        if not np.isfinite(terms).all():
            return float(np.sum(terms))  # inf (a zero model at a positive entry) or NaN, as it is
        live = terms != 0
        if not live.any():
            return 0.0
        k = beta * e.astype(float)
        top = float(k[live].max())
        total = float(np.sum(terms[live] * np.exp2(k[live] - top)))
        return float(np.ldexp(total, int(top))) if top.is_integer() else total * 2.0**top


def divergence(xp, beta: float, V, W, H, weights=None):
    """The loss of ``(W, H)`` for the beta-divergence ``beta`` (forms ``W H``)."""
    return beta_divergence(xp, V, W @ H, beta, weights)


@dataclass(frozen=True)
class Penalty:
    """L1 and L2 penalties on the factors, added to the loss.

    ``l1_W * sum(W) + l2_W / 2 * ||W||_F**2 + l1_H * sum(H) + l2_H / 2 * ||H||_F**2``
    (``W, H >= 0``, so ``sum`` is the L1 norm).

    scikit-learn's ``NMF(alpha_W, alpha_H, l1_ratio)`` is this penalty with
    ``l1_W = alpha_W * l1_ratio * n_features``,
    ``l2_W = alpha_W * (1 - l1_ratio) * n_features``,
    ``l1_H = alpha_H * l1_ratio * n_samples``,
    ``l2_H = alpha_H * (1 - l1_ratio) * n_samples`` (its objective scales the
    penalties by the dimensions; ours states them directly).
    """

    l1_W: float = 0.0
    l2_W: float = 0.0
    l1_H: float = 0.0
    l2_H: float = 0.0

    @property
    def active(self) -> bool:
        return any((self.l1_W, self.l2_W, self.l1_H, self.l2_H))

    def value(self, xp, W, H):
        out = 0.0
        if self.l1_W or self.l2_W:
            out = out + self.l1_W * _sum2(xp, W) + 0.5 * self.l2_W * _sum2(xp, W * W)
        if self.l1_H or self.l2_H:
            out = out + self.l1_H * _sum2(xp, H) + 0.5 * self.l2_H * _sum2(xp, H * H)
        return out

    def rescaled(self, scale: float, beta: float) -> Penalty:
        """The penalty of the problem on ``V / scale`` (with ``W / scale``, ``H``).

        The loss scales as ``scale**beta``; ``sum(W)`` as ``scale``; ``||W||^2``
        as ``scale**2``; the H terms not at all. Dividing every term by
        ``scale**beta`` gives the coefficients below, so both problems have
        the same minimizers.
        """
        if scale == 1.0 or not self.active:
            return self
        import numpy as np

        s = np.float64(scale)
        with np.errstate(over="ignore", under="ignore"):
            return Penalty(
                l1_W=float(self.l1_W * s ** (1.0 - beta)),
                l2_W=float(self.l2_W * s ** (2.0 - beta)),
                l1_H=float(self.l1_H * s ** (-beta)),
                l2_H=float(self.l2_H * s ** (-beta)),
            )


def gradients(xp, beta: float, V, W, H, weights=None, penalty: Penalty | None = None):
    """Gradients ``(dW, dH)`` of the (weighted, penalized) beta-divergence at ``(W, H)``.

    With ``G = M * (WH)**(beta - 2) * (WH - V)``: ``dW = G H^T``,
    ``dH = W^T G``; Frobenius (``beta = 2``) gives ``G = M (WH - V)``, KL
    (``beta = 1``) ``G = M (1 - V / WH)`` (0 where ``V = 0`` meets ``WH = 0``).
    The penalty adds ``l1 + l2 * X``.
    """
    WH = W @ H
    positive = V > 0
    if beta == 2:
        G = WH - V
    elif beta == 1:
        G = 1.0 - xp.where(positive, V / xp.where(positive, WH, 1.0), 0.0)
    else:
        # WH**(beta - 1) - V WH**(beta - 2) where WH > 0. At WH = 0 the slope is its limit: -inf where V > 0
        # (beta < 2), +inf where V = 0 (beta < 1), else 0; written out it is inf * 0 = NaN or inf - inf.
        # Infinite slopes are held at a finite `big`, so that a factor entry of 0 times one is 0, not NaN.
        big = xp.finfo(WH.dtype).max / (4.0 * max(V.shape[-2], V.shape[-1]))
        live = WH > 0
        safe = xp.where(live, WH, 1.0)
        inside = safe ** (beta - 1.0) - xp.where(positive, V * safe ** (beta - 2.0), 0.0)
        at_zero = xp.where(positive, -big if beta < 2 else 0.0, big if beta < 1 else 0.0)
        G = xp.where(live, xp.clip(inside, -big, big), at_zero)
    G = _weighted(xp, G, weights)
    dW = G @ xp.matrix_transpose(H)
    dH = xp.matrix_transpose(W) @ G
    if penalty is not None and penalty.active:
        dW = dW + penalty.l1_W + penalty.l2_W * W
        dH = dH + penalty.l1_H + penalty.l2_H * H
    return dW, dH


def scaled_norm(xp, X, axis, weights=None):
    """``sqrt(sum(M X**2))`` over ``axis``, the squares taken against the largest ``|X|``: no overflow or
    underflow short of the norm's own (entries of 1e160 or 1e-300 square out of range)."""
    size = xp.abs(X)
    top = xp.max(size, axis=axis, keepdims=True)
    ratio = size / xp.where(top > 0, top, 1.0)
    squares = ratio * ratio if weights is None else _weighted(xp, ratio * ratio, weights)
    return xp.sum(top, axis=axis) * xp.sqrt(xp.sum(squares, axis=axis))


def kkt_residual(xp, beta: float, V, W, H, weights=None, penalty: Penalty | None = None):
    """Relative KKT (stationarity) residual of ``(W, H)``, a scale-free number.

    The KKT conditions of ``min f(W, H) s.t. W, H >= 0`` are
    ``X >= 0, grad_X >= 0, X * grad_X = 0`` for ``X`` in ``{W, H}``;
    ``min(X, grad_X) = 0`` entrywise says all three at once (the "natural
    residual"). To make the number comparable across problems it is
    computed after removing the two scalings the unpenalized problem has:

    * the data is scaled to ``||V||_F = 1`` (``W`` and ``H`` by ``||V||^-1/2``);
    * each component is balanced, ``||W[:, k]|| = ||H[k, :]||`` (the
      ``W D, D^-1 H`` ambiguity), so the residual cannot be made small by
      shrinking one factor.

    Returns ``sqrt(||min(W, dW)||^2 + ||min(H, dH)||^2)`` of the normalized
    problem; 0 exactly at a KKT point. With a penalty (which fixes the scale)
    the residual is taken on the problem as given.
    """
    if penalty is not None and penalty.active:
        dW, dH = gradients(xp, beta, V, W, H, weights, penalty)
        return _natural_residual(xp, W, dW, H, dH)
    norm = scaled_norm(xp, V, (-2, -1), weights)
    norm = xp.where(norm > 0, norm, 1.0)
    w_norms = scaled_norm(xp, W, -2)
    h_norms = scaled_norm(xp, H, -1)
    live = (w_norms > 0) & (h_norms > 0)
    balance = xp.where(live, xp.sqrt(xp.where(live, h_norms, 1.0) / xp.where(live, w_norms, 1.0)), 1.0)
    Vn = V / norm
    Wn = W * balance[..., None, :] / xp.sqrt(norm)
    Hn = H / balance[..., :, None] / xp.sqrt(norm)
    dW, dH = gradients(xp, beta, Vn, Wn, Hn, weights)
    return _natural_residual(xp, Wn, dW, Hn, dH)


def _natural_residual(xp, W, dW, H, dH):
    """``sqrt(||min(W, dW)||^2 + ||min(H, dH)||^2)``, a residual far from stationarity as large as it is, not inf."""
    return xp.hypot(scaled_norm(xp, xp.minimum(W, dW), (-2, -1)), scaled_norm(xp, xp.minimum(H, dH), (-2, -1)))


#: Names of the beta-divergences with a name of their own.
NAMED_LOSSES = {"frobenius": 2.0, "kl": 1.0, "itakura-saito": 0.0}
_ALIASES = {"euclidean": "frobenius", "kullback-leibler": "kl", "is": "itakura-saito"}


def resolve_loss(loss) -> tuple[str, float]:
    """``(name, beta)`` of a loss given by name or by its beta.

    ``"frobenius"`` (beta 2), ``"kl"`` (1), ``"itakura-saito"`` (0) and
    aliases (``"euclidean"``, ``"kullback-leibler"``, ``"is"``), or a real
    number: 2 and 1 are named as above, any other beta is ``"beta=<value>"``.
    """
    import numbers

    if isinstance(loss, str):
        key = _ALIASES.get(loss.lower(), loss.lower())
        if key in NAMED_LOSSES:
            return key, NAMED_LOSSES[key]
        if key.startswith("beta="):
            try:
                return resolve_loss(float(key[5:]))
            except ValueError:
                pass
        raise ValueError(
            f"unknown loss {loss!r}; choose 'frobenius', 'kl', 'itakura-saito' or a real beta (e.g. loss=1.5)"
        )
    if isinstance(loss, numbers.Real) and not isinstance(loss, bool):
        beta = float(loss)
        if beta != beta or beta in (float("inf"), float("-inf")):
            raise ValueError(f"loss beta must be finite, got {loss!r}")
        for name, value in NAMED_LOSSES.items():
            if beta == value:
                return name, value
        return f"beta={beta:g}", beta
    raise TypeError(f"loss must be a name or a real beta, got {loss!r}")
