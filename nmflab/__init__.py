"""nmflab: non-negative matrix factorization for research.

``V ≈ W @ H`` with ``V`` of shape ``(n_samples, n_features)`` (rows are
observations), ``W >= 0`` of shape ``(n_samples, rank)`` and ``H >= 0`` of
shape ``(rank, n_features)``.

Importing nmflab needs only NumPy and SciPy; JAX, scikit-learn and
matplotlib are imported where they are used (``backend="jax"``,
:class:`nmflab.NMF`, the figures).
"""

from __future__ import annotations

from .api import ScaleWarning, ZeroLockingWarning, fit_weights, methods, nmf
from .result import Result, Status
from .online import online_nmf
from .sketch import Sketch

__version__ = "0.1.0"

__all__ = ["nmf", "fit_weights", "methods", "Result", "Status", "Sketch", "online_nmf", "ZeroLockingWarning", "ScaleWarning", "NMF", "datasets",
           "diagnostics", "__version__"]


def __getattr__(name):
    # Lazy: the estimator needs scikit-learn, which nmflab does not import eagerly.
    if name == "NMF":
        from .estimator import NMF

        return NMF
    if name in ("datasets", "diagnostics"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'nmflab' has no attribute {name!r}")
