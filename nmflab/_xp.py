"""Control flow and writes over an array namespace: the few places where NumPy and JAX must differ.

Rules are written once against a namespace ``xp`` (``numpy``, ``jax.numpy``
or any library with the array API). A data-dependent branch, a loop, a
write into an array and a division guarded against zero denominators are
written differently for a traced program than for eager arrays; that
difference lives here and nowhere else. This module is a leaf: it imports
nothing from nmflab, and it knows nothing of how the data are stored
(that is :mod:`nmflab.data`).

NumPy gets fast paths (a Python branch, an in-place write); JAX gets
``lax`` primitives; every other library gets the generic array-API form,
never a NumPy internal.
"""

from __future__ import annotations

import numpy as np

__all__ = ["is_numpy", "is_jax", "cond", "while_loop", "fori_loop", "contiguous", "scratch_copy", "write", "divide"]


def is_numpy(xp) -> bool:
    """True if ``xp`` is NumPy itself (the namespace whose in-place fast paths nmflab takes)."""
    return xp is np


def is_jax(xp) -> bool:
    """True if ``xp`` is ``jax.numpy``."""
    return getattr(xp, "__name__", "") == "jax.numpy"


def cond(xp, pred, true_fn, false_fn):
    """Evaluate ``true_fn()`` if ``pred`` else ``false_fn()``.

    JAX uses ``lax.cond``, which becomes a select under ``vmap``. Elsewhere a
    scalar predicate evaluates only the chosen branch, and an array of
    predicates combines both branches with ``where``.
    """
    if is_jax(xp):
        import jax

        return jax.lax.cond(pred, true_fn, false_fn)
    if np.ndim(pred) == 0:
        return true_fn() if bool(pred) else false_fn()
    return xp.where(pred, true_fn(), false_fn())


def while_loop(xp, cond_fn, body_fn, init):
    """``while cond_fn(x): x = body_fn(x)``: ``lax.while_loop`` on JAX, a Python loop elsewhere.

    The iterates are the same on every backend; only JAX needs the carry's
    structure and dtypes to stay fixed.
    """
    if is_jax(xp):
        import jax

        return jax.lax.while_loop(cond_fn, body_fn, init)
    value = init
    del init  # the loop holds its value alone: a replaced value is freed at once
    while bool(cond_fn(value)):
        value = body_fn(value)
    return value


def fori_loop(xp, n, body_fn, init):
    """``for i in range(n): x = body_fn(i, x)``: ``lax.fori_loop`` on JAX, a Python loop elsewhere.

    On JAX the body is traced once (``i`` is a traced integer) and ``n`` may
    be traced too, so a loop over the r columns of a factor compiles to one
    compact loop instead of r unrolled copies.
    """
    if is_jax(xp):
        import jax

        return jax.lax.fori_loop(0, n, body_fn, init)
    value = init
    del init  # the loop holds its value alone: a replaced value is freed at once
    for i in range(int(n)):
        value = body_fn(i, value)
    return value


def contiguous(xp, X):
    """``X`` with C-contiguous rows on NumPy (a copy only if it is a transposed view); ``X`` itself elsewhere."""
    return np.ascontiguousarray(X) if is_numpy(xp) else X


def scratch_copy(xp, X):
    """A private copy of ``X`` that :func:`write` may fill in place; ``X`` itself on JAX (immutable arrays).

    A rule that replaces the columns of a factor one by one copies it once
    per sweep this way, not once per column; the caller's array is never
    written, so the rule stays a pure function.
    """
    if is_jax(xp):
        return X
    return X.copy() if is_numpy(xp) else xp.asarray(X, copy=True)


def write(xp, X, index, value):
    """``X[index] = value`` into a :func:`scratch_copy`: ``X.at[index].set(value)`` on JAX, in place elsewhere."""
    if is_jax(xp):
        return X.at[index].set(value)
    X[index] = value
    return X


def divide(xp, numerator, denominator, eps: float, where_zero: float):
    """``numerator / (denominator + eps)``; with ``eps == 0``, ``where_zero`` where the denominator is 0.

    ``eps > 0`` is the seed chapter's and R's guard. It perturbs the rule:
    near a fixed point, where ``numerator - denominator`` is below ``eps``,
    a step can move the wrong way and raise the objective by O(eps^2).
    ``eps = 0`` is the exact rule, monotone up to rounding; a zero
    denominator then means the entry (or its whole column) is zero and
    cannot move, which ``where_zero`` expresses.

    On NumPy the quotient is formed in one fresh array with no other
    temporary (the same values, bit for bit): on ``n x p`` arrays the guard
    written out costs three or four full-size temporaries and as many
    passes, and KL's ``V / WH`` is two of them per iteration.
    """
    if is_numpy(xp):
        return _divide_numpy(numerator, denominator, eps, where_zero)
    if eps > 0:
        return numerator / (denominator + eps)
    positive = denominator > 0
    return xp.where(positive, numerator / xp.where(positive, denominator, 1.0), where_zero)


def _divide_numpy(numerator, denominator, eps: float, where_zero: float):
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
