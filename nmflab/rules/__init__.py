"""Update rules: the math of one iteration, and nothing else.

A rule is a frozen dataclass (it hashes by value, so it is a safe static
argument of ``jax.jit``) with pure methods over an array namespace ``xp``:

``prepare(xp, V, weights=None) -> consts``
    Quantities of the data alone, computed once per fit (``||V||^2``, the
    entry weights).
``init(xp, V, W, H, consts) -> state``
    The rule's state for a start ``(W, H)``: products it carries from one
    iteration to the next so the objective costs nothing extra.
``update(xp, V, W, H, state, consts) -> (W, H, state)``
    One iteration. No in-place writes, no loops over iterations, no
    stopping, no randomness.
``objective(xp, V, W, H, state, consts) -> scalar``
    The loss (plus penalty) at ``(W, H)``, reusing what ``state`` holds.
``rescaled(scale) -> rule``
    The same rule for the data divided by ``scale`` (penalties rescaled).

Class attributes: ``loss`` and ``method`` (names), ``beta`` (the
beta-divergence of the loss: 2 Frobenius, 1 KL), ``scale_free`` (whether
the rule may run on ``V`` divided by a power of two; rules that reproduce
another package's arithmetic say False) and ``supports_weights``.
Fields ``update_h`` and ``update_w`` freeze one factor (``update_h=False`` is
how :func:`nmflab.fit_weights` solves for W with the parts fixed).

Modules: :mod:`.mu` (multiplicative updates: Frobenius, KL, beta),
:mod:`.hals` (accelerated HALS), :mod:`.kl_cd` (coordinate descent for KL),
:mod:`.r_presets` (R NMF's brunet and lee).
"""

from .hals import HALS
from .kl_cd import CoordinateDescentKL
from .mu import MultiplicativeBeta, MultiplicativeFrobenius, MultiplicativeKL, mm_exponent
from .r_presets import BrunetKL, LeeFrobenius

__all__ = [
    "MultiplicativeFrobenius",
    "MultiplicativeKL",
    "MultiplicativeBeta",
    "HALS",
    "CoordinateDescentKL",
    "BrunetKL",
    "LeeFrobenius",
    "mm_exponent",
]
