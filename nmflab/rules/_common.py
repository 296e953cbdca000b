"""Helpers shared by the rules: transposes, powers with a zero guard, the penalty's gradient terms."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..losses import Penalty

__all__ = ["T", "shifted_power", "penalty_w", "penalty_h", "ProductState"]


class ProductState(NamedTuple):
    """``W H`` as the data carry it (:meth:`nmflab.data.Data.fitted`; None where they form it where needed)."""

    WH: Any = None


def T(xp, X):
    """Transpose of the last two axes."""
    return xp.matrix_transpose(X)


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


def penalty_w(penalty: Penalty, W):
    """The gradient of the penalty in ``W`` (``l1_W + l2_W W``), or 0 without one."""
    return penalty.l1_W + penalty.l2_W * W if (penalty.l1_W or penalty.l2_W) else 0.0


def penalty_h(penalty: Penalty, H):
    """The gradient of the penalty in ``H`` (``l1_H + l2_H H``), or 0 without one."""
    return penalty.l1_H + penalty.l2_H * H if (penalty.l1_H or penalty.l2_H) else 0.0
