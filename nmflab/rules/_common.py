"""Helpers shared by the rules: transposes, guarded division, penalty rescaling."""

from __future__ import annotations

from dataclasses import replace

from .. import _xp

__all__ = ["T", "divide", "shifted_power", "scaled_penalty"]


def T(xp, X):
    """Transpose of the last two axes."""
    return xp.matrix_transpose(X)


def divide(xp, numerator, denominator, eps: float, where_zero: float):
    """``numerator / (denominator + eps)``; with ``eps == 0``, ``where_zero`` where the denominator is 0.

    ``eps > 0`` is the chapter's and R's guard. It perturbs the rule: near a
    fixed point, where ``numerator - denominator`` is below ``eps``, a step
    can move the wrong way and raise the objective by O(eps^2). ``eps = 0``
    is the exact rule, monotone up to rounding; a zero denominator then
    means the entry (or its whole column) is zero and cannot move, which
    ``where_zero`` expresses.
    """
    if not _xp.is_jax(xp):
        return _divide_numpy(numerator, denominator, eps, where_zero)
    if eps > 0:
        return numerator / (denominator + eps)
    positive = denominator > 0
    return xp.where(positive, numerator / xp.where(positive, denominator, 1.0), where_zero)


def _divide_numpy(numerator, denominator, eps: float, where_zero: float):
    """:func:`divide` on NumPy with one fresh array and no other ``n x p`` temporary (same values, bit for bit).

    On ``n x p`` arrays the guarded quotient written out costs three or four
    full-size temporaries and as many passes; KL's ``V / WH`` is two of
    them per iteration.
    """
    import numpy as np

    numerator, denominator = np.asarray(numerator), np.asarray(denominator)
    shape = np.broadcast_shapes(numerator.shape, denominator.shape)
    dtype = np.result_type(numerator, denominator, eps if eps > 0 else where_zero)
    if eps > 0:
        if denominator.shape != shape or not np.can_cast(denominator.dtype, dtype):
            return numerator / (denominator + eps)
        out = np.add(denominator, eps, dtype=dtype)
        return np.divide(numerator, out, out=out)
    out = np.full(shape, where_zero, dtype=dtype)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def shifted_power(xp, WH, power: float, eps: float):
    """``(WH + eps)**power``; with ``eps == 0``, 0 where ``WH`` is 0.

    An entry with ``WH = 0`` has every product ``W_ik H_kj`` equal to 0, so
    its terms in a beta-divergence update are multiplied by a zero factor
    (the ``0 * inf = 0`` limit).
    """
    if eps > 0:
        return (WH + eps) ** power
    positive = WH > 0
    return xp.where(positive, xp.where(positive, WH, 1.0) ** power, 0.0)


def scaled_penalty(rule, scale: float):
    """``rule`` with its penalty expressed for the data divided by ``scale``."""
    return replace(rule, penalty=rule.penalty.rescaled(scale, rule.beta))
