"""Helpers shared by the rules: transposes, powers with a zero guard, the penalty's gradient terms."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..losses import Penalty

__all__ = ["T", "shifted_power", "penalty_w", "penalty_h", "ProductState", "alternate"]


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


def alternate(rule, xp, data, W, H, state):
    """One unweighted Frobenius iteration of a rule with block steps: H by ``rule.solve_h``, then W by ``rule.solve_w``.

    The state is of the rule's own type with fields ``VHt`` and ``HHt``
    (``V H^T`` and ``H H^T`` for the new H, which the W step and the
    objective use); with H fixed those of ``init`` stay valid.
    """
    if rule.update_h:
        H = rule.solve_h(xp, data, H, data.left(W), T(xp, W) @ W)
        state = state._replace(VHt=data.right(H), HHt=H @ T(xp, H))
    if rule.update_w:
        W = rule.solve_w(xp, data, W, state.VHt, state.HHt)
    return W, H, state
