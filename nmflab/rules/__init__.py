"""Update rules: the math of one iteration, and nothing else; and the registry of methods.

A rule is a frozen dataclass subclassing :class:`Rule` and decorated with
:func:`register`; :class:`Rule` documents the protocol (pure ``init``,
``update`` and ``objective`` over an array namespace and a data object) and
the class attributes that declare what a rule is and supports. Every list
of methods in nmflab (:func:`nmflab.methods`, ``method="auto"``, the
estimator, the command line, the rank survey) reads the registry, so a
rule defined and registered in a user's own module is a method like any
other. README.md ("Writing a rule") has a complete example.

Fields ``update_h`` and ``update_w`` freeze one factor (``update_h=False`` is
how :func:`nmflab.fit_weights` solves for W with the parts fixed).

Modules: :mod:`.mu` (multiplicative updates: Frobenius, KL, beta),
:mod:`.hals` (accelerated HALS), :mod:`.kl_cd` (coordinate descent for KL),
:mod:`.r_presets` (R NMF's brunet and lee), :mod:`._registry`.
"""

from ._registry import (FAMILIES, Rule, auto_choice, check_rule_class, families_of, family_of, lookup, register,
                        registered, unregister)
from .hals import HALS
from .kl_cd import CoordinateDescentKL
from .mu import MultiplicativeBeta, MultiplicativeFrobenius, MultiplicativeKL, mm_exponent
from .r_presets import BrunetKL, LeeFrobenius

__all__ = [
    "Rule",
    "register",
    "unregister",
    "registered",
    "lookup",
    "families_of",
    "family_of",
    "auto_choice",
    "check_rule_class",
    "FAMILIES",
    "MultiplicativeFrobenius",
    "MultiplicativeKL",
    "MultiplicativeBeta",
    "HALS",
    "CoordinateDescentKL",
    "BrunetKL",
    "LeeFrobenius",
    "mm_exponent",
]
