"""A user-defined rule: alternating projected gradient steps for the Frobenius loss.

Each factor takes one gradient step of length ``1 / L`` and is projected on
the non-negative orthant, ``L`` an upper bound on the Lipschitz constant of
that factor's gradient (``||W||_F^2 >= ||W^T W||_2`` for the H step), so each
step descends (the descent lemma). Registered, it is a method like the
built-in ones: ``nmflab.nmf(V, r, method="pgd")`` on NumPy or JAX, sparse
input, restarts, rank surveys, the estimator and the command line.
"""

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from nmflab.rules import Rule, register


class GradientState(NamedTuple):
    VHt: Any  # V H^T and H H^T: the W step and the objective both reuse them
    HHt: Any


@register
@dataclass(frozen=True)
class ProjectedGradient(Rule):
    """Alternating projected gradient descent for 0.5 ||V - WH||^2, H first, then W."""

    update_h: bool = True  # fields that freeze a factor (nmflab.fit_weights and NMF.transform use them)
    update_w: bool = True

    method: ClassVar[str] = "pgd"
    loss: ClassVar[str] = "frobenius"
    beta: ClassVar[float] = 2.0
    summary: ClassVar[str] = "projected gradient, step 1/L (an example of a user-defined rule)"
    supports_sparse: ClassVar[bool] = True  # it uses only data.left, data.right and data.frobenius

    def init(self, xp, data, W, H, consts):
        return GradientState(data.right(H), H @ xp.matrix_transpose(H))

    def update(self, xp, data, W, H, state, consts):
        if self.update_h:
            WtW = xp.matrix_transpose(W) @ W
            H = xp.maximum(H - _inverse(xp, _squares(xp, W)) * (WtW @ H - data.left(W)), 0.0)
            state = GradientState(data.right(H), H @ xp.matrix_transpose(H))
        if self.update_w:
            W = xp.maximum(W - _inverse(xp, _squares(xp, H)) * (W @ state.HHt - state.VHt), 0.0)
        return W, H, state

    def objective(self, xp, data, W, H, state, consts):
        return data.frobenius(W, H, state.VHt, state.HHt)


def _squares(xp, X):
    """``||X||_F^2``, per matrix of a leading batch axis (shaped to broadcast against X)."""
    return xp.sum(X * X, axis=(-2, -1))[..., None, None]


def _inverse(xp, L):
    """``1 / L``, and 0 where ``L`` is 0 (a zero factor: the other one has no gradient)."""
    return xp.where(L > 0, 1.0 / xp.where(L > 0, L, 1.0), 0.0)
