"""Multiplicative updates: Lee–Seung for Frobenius and KL, and the beta-divergence family.

Every rule updates H, then W; takes entry weights (a mask, through the data
object) and an L1/L2 ``penalty`` whose gradient's positive part joins the
denominators.

References
----------
D. D. Lee and H. S. Seung, "Algorithms for non-negative matrix
factorization", NIPS 13 (2001).
C. Févotte and J. Idier, "Algorithms for nonnegative matrix factorization
with the beta-divergence", Neural Computation 23 (2011) 2421–2456.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from .._xp import divide
from ..losses import Penalty
from ._common import ProductState, T, alternate, penalty_h, penalty_w, shifted_power
from ._registry import Rule, register

__all__ = ["MultiplicativeFrobenius", "MultiplicativeKL", "MultiplicativeBeta", "mm_exponent", "kl_step_h",
           "kl_step_w", "FrobeniusState", "ProductState"]


class FrobeniusState(NamedTuple):
    """What a Frobenius update carries: ``V H^T`` and ``H H^T`` (unweighted), or ``W H`` (weighted)."""

    VHt: Any = None
    HHt: Any = None
    WH: Any = None


def _kl_ratio(xp, eps):
    """``V / WH`` with the denominator guard: 0 wherever ``V`` is, so formed at the stored entries only."""
    return lambda V, WH: divide(xp, V, WH, eps, 0.0)


def _itself(WH):
    return WH


def kl_terms_h(xp, data, W, H, WH, eps, extra=0.0):
    """The numerator ``W^T (M V / WH)`` and denominator ``W^T M + extra`` of the KL step on H."""
    (numerator,) = data.products(W, H, WH, "H", stored=(_kl_ratio(xp, eps),))
    return numerator, data.weight_sums(W, "H") + extra


def kl_step_h(xp, data, W, H, WH, eps, extra=0.0):
    """``H * (W^T (M V / WH)) / (W^T M + extra)``, denominators guarded by ``eps`` (``WH`` as the data carry it)."""
    return H * divide(xp, *kl_terms_h(xp, data, W, H, WH, eps, extra), eps, 1.0)


def kl_step_w(xp, data, W, H, WH, eps, extra=0.0):
    """``W * ((M V / WH) H^T) / (M H^T + extra)``, denominators guarded by ``eps``."""
    (numerator,) = data.products(W, H, WH, "W", stored=(_kl_ratio(xp, eps),))
    return W * divide(xp, numerator, data.weight_sums(H, "W") + extra, eps, 1.0)


class _Multiplicative(Rule):
    """What the multiplicative updates share: every storage, masks, penalties, an ``eps`` guard, zero-locking."""

    supports_sparse: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = True
    supports_penalty: ClassVar[bool] = True
    zero_locking: ClassVar[bool] = True
    guard: ClassVar[str] = "eps"
    auto_priority: ClassVar[int] = 1  # the fallback of "auto" wherever a faster method does not apply


@register
@dataclass(frozen=True)
class MultiplicativeFrobenius(_Multiplicative):
    """Lee–Seung multiplicative updates for ``0.5 * ||V - WH||_F**2``.

    ``H <- H * (W^T V) / (W^T W H + eps)``, then
    ``W <- W * (V H^T) / (W H H^T + eps)``; with weights ``M``,
    ``W^T (M V) / (W^T (M WH))`` and likewise for W; a penalty adds
    ``l1 + l2 X`` to the denominators. Each step does not increase the
    objective (Lee & Seung 2001, Theorem 1; the penalized and weighted
    cases follow from the same auxiliary function).

    Parameters
    ----------
    eps : float
        Added to every denominator (see :func:`nmflab._xp.divide`; ``0``
        gives the exact rule, with 0/0 steps leaving the entry unchanged).
    penalty : Penalty
        L1/L2 penalties on W and H.
    update_h, update_w : bool
        Which factors the rule updates.
    """

    eps: float = 1e-9
    penalty: Penalty = field(default_factory=Penalty)
    update_h: bool = True
    update_w: bool = True

    method: ClassVar[str] = "mu"
    loss: ClassVar[str] = "frobenius"
    beta: ClassVar[float] = 2.0
    summary: ClassVar[str] = "Lee-Seung multiplicative updates"
    supports_sketch: ClassVar[bool] = True

    def init(self, xp, data, W, H, consts):
        if data.weighted:
            return FrobeniusState(WH=data.fitted(W, H))
        return FrobeniusState(VHt=data.right(H), HHt=H @ T(xp, H))

    def update(self, xp, data, W, H, state, consts):
        if data.weighted:
            return self._update_weighted(xp, data, W, H, state)
        return alternate(self, xp, data, W, H, state)

    def solve_h(self, xp, data, H, WtV, WtW):
        """One multiplicative step on H for ``W^T V`` and ``W^T W``.

        Not offered for extrapolation (``extrapolable`` stays False): an
        extrapolated point projected onto the orthant has exact zeros, which
        a multiplicative step can never leave (from NNDSVDa on the digits,
        the first extrapolated H was 0 and the fit stayed at W H = 0).

        ``W^T V`` enters by its positive part. It has no negative entry for
        non-negative ``V``, where this is the Lee–Seung step bit for bit; a
        sketch ``Q B`` of ``V`` may have some. The Lee–Seung step minimizes a
        separable quadratic majorizer of the objective (their auxiliary
        function); with a negative ``(W^T V)_kj`` that minimizer is negative,
        and the minimizer over the orthant of the same separable majorizer is
        0, which the positive part gives: the step still descends.
        """
        return H * divide(xp, xp.maximum(WtV, 0.0), WtW @ H + penalty_h(self.penalty, H), self.eps, 1.0)

    def solve_w(self, xp, data, W, VHt, HHt):
        """One multiplicative step on W for ``V H^T`` (its positive part) and ``H H^T``."""
        return W * divide(xp, xp.maximum(VHt, 0.0), W @ HHt + penalty_w(self.penalty, W), self.eps, 1.0)

    def _update_weighted(self, xp, data, W, H, state):
        WH = state.WH
        if self.update_h:
            (denominator,) = data.products(W, H, WH, "H", everywhere=(_itself,))
            H = H * divide(xp, data.left(W), denominator + penalty_h(self.penalty, H), self.eps, 1.0)
            WH = data.fitted(W, H)
        if self.update_w:
            (denominator,) = data.products(W, H, WH, "W", everywhere=(_itself,))
            W = W * divide(xp, data.right(H), denominator + penalty_w(self.penalty, W), self.eps, 1.0)
            WH = data.fitted(W, H)
        return W, H, FrobeniusState(WH=WH)

    def objective(self, xp, data, W, H, state, consts):
        penalty = self.penalty.value(xp, W, H)
        if data.weighted:
            return data.divergence(2.0, W, H, state.WH) + penalty
        return penalty + data.frobenius(W, H, state.VHt, state.HHt)


@register
@dataclass(frozen=True)
class MultiplicativeKL(_Multiplicative):
    """Lee–Seung multiplicative updates for the generalized KL divergence.

    ``H <- H * (W^T (V / WH)) / (W^T 1)``, then
    ``W <- W * ((V / WH) H^T) / (1 H^T)``, denominators guarded by ``eps``;
    weights ``M`` multiply ``V / WH`` and replace the ones; a penalty adds
    ``l1 + l2 X`` to the denominators. Each step does not increase the
    divergence (Lee & Seung 2001, Theorem 2). The state carries ``WH``,
    which the next update and the objective both need.

    Parameters
    ----------
    eps : float
        Added to every denominator.
    penalty : Penalty
    update_h, update_w : bool
    """

    eps: float = 1e-9
    penalty: Penalty = field(default_factory=Penalty)
    update_h: bool = True
    update_w: bool = True

    method: ClassVar[str] = "mu"
    loss: ClassVar[str] = "kl"
    beta: ClassVar[float] = 1.0
    summary: ClassVar[str] = "Lee-Seung multiplicative updates"

    def init(self, xp, data, W, H, consts):
        return ProductState(data.fitted(W, H))

    def h_terms(self, xp, data, W, H, WH):
        """The numerator and denominator of the step on H: ``W^T (M V / WH)`` and ``W^T M + l1 + l2 H``."""
        return kl_terms_h(xp, data, W, H, WH, self.eps, penalty_h(self.penalty, H))

    def update(self, xp, data, W, H, state, consts):
        WH = state.WH
        if self.update_h:
            H = kl_step_h(xp, data, W, H, WH, self.eps, penalty_h(self.penalty, H))
            WH = data.fitted(W, H)
        if self.update_w:
            W = kl_step_w(xp, data, W, H, WH, self.eps, penalty_w(self.penalty, W))
            WH = data.fitted(W, H)
        return W, H, ProductState(WH)

    def objective(self, xp, data, W, H, state, consts):
        return data.divergence(1.0, W, H, state.WH) + self.penalty.value(xp, W, H)


def mm_exponent(beta: float) -> float:
    """Exponent that makes the beta-divergence MU a majorization-minimization step.

    ``1 / (2 - beta)`` for ``beta < 1``, ``1`` for ``1 <= beta <= 2``,
    ``1 / (beta - 1)`` for ``beta > 2`` (Févotte & Idier 2011, Table 2).
    """
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


@register
@dataclass(frozen=True)
class MultiplicativeBeta(_Multiplicative):
    """Multiplicative updates for the beta-divergence, any real ``beta``.

    ``H <- H * [W^T (M V WH^(beta-2)) / (W^T (M WH^(beta-1)) + l1 + l2 H)]^gamma``,
    then W likewise. ``exponent="mm"`` uses Févotte & Idier's
    ``gamma(beta)`` (:func:`mm_exponent`), which makes every step a
    majorization-minimization step, so the objective never increases;
    ``exponent="heuristic"`` uses ``gamma = 1`` (the classic rule, often
    faster, monotone only for ``1 <= beta <= 2``).

    Parameters
    ----------
    beta : float
        ``2``: Frobenius, ``1``: KL, ``0``: Itakura–Saito. For
        ``beta <= 0`` the data must be positive wherever it is counted.
    exponent : {"mm", "heuristic"}
    eps : float
        Added to every denominator (and keeps ``WH`` away from 0 in
        negative powers).
    penalty : Penalty
    update_h, update_w : bool
    """

    beta: float = 0.0
    exponent: str = "mm"
    eps: float = 1e-9
    penalty: Penalty = field(default_factory=Penalty)
    update_h: bool = True
    update_w: bool = True

    method: ClassVar[str] = "mu"
    loss: ClassVar[str] = "beta"
    summary: ClassVar[str] = "Fevotte-Idier multiplicative updates (majorization-minimization exponent)"
    @property
    def gamma(self) -> float:
        return mm_exponent(self.beta) if self.exponent == "mm" else 1.0

    @property
    def monotone(self) -> bool:
        """The MM exponent always descends; the heuristic one only for ``1 <= beta <= 2``."""
        return self.exponent == "mm" or 1.0 <= self.beta <= 2.0

    def _ratio(self, xp, num, den):
        ratio = divide(xp, num, den, self.eps, 1.0)
        return ratio if self.gamma == 1.0 else ratio**self.gamma

    def _products(self, xp, data, W, H, WH, side: str):
        """``V WH^(beta-2)`` (0 wherever ``V`` is) and ``WH^(beta-1)``, times ``W^T`` or ``H^T``."""
        beta, eps = self.beta, self.eps
        return data.products(W, H, WH, side, stored=(lambda V, WH_: V * shifted_power(xp, WH_, beta - 2.0, eps),),
                             everywhere=(lambda WH_: shifted_power(xp, WH_, beta - 1.0, eps),))

    def init(self, xp, data, W, H, consts):
        return ProductState(data.fitted(W, H))

    def h_terms(self, xp, data, W, H, WH):
        """The numerator and denominator of the step on H (before the exponent ``gamma``)."""
        low, high = self._products(xp, data, W, H, WH, "H")
        return low, high + penalty_h(self.penalty, H)

    def update(self, xp, data, W, H, state, consts):
        WH = state.WH
        if self.update_h:
            H = H * self._ratio(xp, *self.h_terms(xp, data, W, H, WH))
            WH = data.fitted(W, H)
        if self.update_w:
            low, high = self._products(xp, data, W, H, WH, "W")
            W = W * self._ratio(xp, low, high + penalty_w(self.penalty, W))
            WH = data.fitted(W, H)
        return W, H, ProductState(WH)

    def objective(self, xp, data, W, H, state, consts):
        return data.divergence(self.beta, W, H, state.WH) + self.penalty.value(xp, W, H)
