"""The few array-namespace helpers the rules need beyond the array API.

Rules are written once against a namespace ``xp`` (``numpy`` or
``jax.numpy``). Where the two differ (a data-dependent branch), the
difference lives here and nowhere else.
"""

from __future__ import annotations

import numpy as np

__all__ = ["is_jax", "cond"]


def is_jax(xp) -> bool:
    """True if ``xp`` is ``jax.numpy``."""
    return getattr(xp, "__name__", "") == "jax.numpy"


def cond(xp, pred, true_fn, false_fn):
    """Evaluate ``true_fn()`` if ``pred`` else ``false_fn()``.

    NumPy evaluates only the chosen branch for a scalar predicate (and both,
    combined by ``where``, for an array of predicates). JAX uses
    ``lax.cond``, which becomes a select under ``vmap``.
    """
    if is_jax(xp):
        import jax

        return jax.lax.cond(pred, true_fn, false_fn)
    if np.ndim(pred) == 0:
        return true_fn() if bool(pred) else false_fn()
    return np.where(pred, true_fn(), false_fn())
