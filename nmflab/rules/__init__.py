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
:mod:`.r_presets` (R NMF's brunet and lee), :mod:`._registry`. Every module
of this package whose name does not start with ``_`` is imported here, in
the order of its name, so that a new built-in rule is one file: its
``@register`` runs when nmflab is imported.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from ._registry import (FAMILIES, Rule, auto_choice, check_rule_class, families_of, family_of, lookup, register,
                        registered, unregister)
for _module in sorted(m.name for m in _pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    _importlib.import_module(f"{__name__}.{_module}")
del _module

from .anls import ANLS  # noqa: E402  the built-in rules under their own names
from .extrapolation import (ExtrapolatedANLS, ExtrapolatedCoordinateDescentKL, ExtrapolatedHALS,  # noqa: E402
                            ExtrapolatedMultiplicativeKL, extrapolated)
from .hals import HALS  # noqa: E402
from .kl_cd import CoordinateDescentKL  # noqa: E402
from .mu import MultiplicativeBeta, MultiplicativeFrobenius, MultiplicativeKL, mm_exponent  # noqa: E402
from .r_presets import BrunetKL, LeeFrobenius, SparseNMFLeft, SparseNMFRight  # noqa: E402

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
    "ANLS",
    "ExtrapolatedHALS",
    "ExtrapolatedANLS",
    "ExtrapolatedMultiplicativeKL",
    "ExtrapolatedCoordinateDescentKL",
    "extrapolated",
    "CoordinateDescentKL",
    "BrunetKL",
    "LeeFrobenius",
    "SparseNMFRight",
    "SparseNMFLeft",
    "mm_exponent",
]
