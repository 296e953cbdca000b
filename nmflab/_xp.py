"""The few array-namespace helpers the rules need beyond the array API.

Rules are written once against a namespace ``xp`` (``numpy`` or
``jax.numpy``). Where the two differ (a data-dependent branch), the
difference lives here and nowhere else.
"""

from __future__ import annotations

import numpy as np

__all__ = ["is_jax", "cond", "while_loop", "fori_loop", "contiguous", "scratch_copy", "write", "is_sparse", "sq_norm", "left_product",
           "right_product", "fuses_product", "product"]

#: Largest rank for which JAX forms ``W @ H`` as a sum of outer products.
FUSED_RANK = 8


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


def while_loop(xp, cond_fn, body_fn, init):
    """``while cond_fn(x): x = body_fn(x)``: a Python loop on NumPy, ``lax.while_loop`` on JAX.

    The iterates are the same on both backends; only JAX needs the carry's
    structure and dtypes to stay fixed.
    """
    if is_jax(xp):
        import jax

        return jax.lax.while_loop(cond_fn, body_fn, init)
    value = init
    while bool(cond_fn(value)):
        value = body_fn(value)
    return value


def is_sparse(V) -> bool:
    """True for a scipy.sparse matrix (NumPy backend only)."""
    return hasattr(V, "tocsr") and type(V).__module__.startswith("scipy.sparse")


def sq_norm(xp, V):
    """``||V||_F^2`` without an ``n x p`` temporary (the stored values of a sparse ``V``)."""
    if is_sparse(V):
        return np.dot(V.data, V.data)
    return xp.vdot(V, V)


def left_product(xp, W, V):
    """``W^T V``; for a sparse ``V`` as ``(V^T W)^T`` so scipy multiplies sparse by dense (threads by rows).

    On JAX, ``W^T`` is written out first (``lax.optimization_barrier`` keeps
    XLA from folding the transpose back into the product): XLA:CPU
    contracts a column-major ``W^T`` with ``V`` at half speed (20000 x 5000,
    rank 40, float64: 447 ms as ``W.T @ V``, 210 ms with ``W^T`` written
    out; NumPy 191 ms). Under ``vmap`` (batched restarts) both take the
    same time.
    """
    if is_sparse(V):
        from . import _sparse

        return _sparse.transposed_times(V.tocsr(), W).T
    if is_jax(xp):
        from jax import lax

        return lax.optimization_barrier(xp.matrix_transpose(W)) @ V
    return xp.matrix_transpose(W) @ V


def right_product(xp, V, Ht):
    """``V Ht`` (``Ht`` is ``H^T``); for a sparse ``V`` a block of its rows per thread.

    A dense NumPy ``V`` is multiplied as ``(H V^T)^T``: the same product, which
    OpenBLAS runs faster for a thin ``Ht`` (2 threads, ms: 38 x 5000 rank 3
    0.152 -> 0.106, digits 1797 x 64 rank 16 0.122 -> 0.104, 20000 x 5000
    rank 40 208 -> 182, faces 400 x 10304 rank 49 9.8 either way).
    """
    if is_sparse(V):
        from . import _sparse

        return _sparse.times(V.tocsr(), Ht)
    if not is_jax(xp) and V.ndim == 2 and Ht.ndim == 2:
        return (Ht.T @ V.T).T
    return V @ Ht


def fori_loop(xp, n: int, body_fn, init):
    """``for i in range(n): x = body_fn(i, x)``: a Python loop on NumPy, ``lax.fori_loop`` on JAX.

    On JAX the body is traced once (``i`` is a traced integer), so a loop over
    the r columns of a factor compiles to one compact loop instead of r
    unrolled copies.
    """
    if is_jax(xp):
        import jax

        return jax.lax.fori_loop(0, n, body_fn, init)
    value = init
    for i in range(n):
        value = body_fn(i, value)
    return value


def contiguous(xp, X):
    """``X`` with C-contiguous rows on NumPy (a copy only if it is a transposed view); ``X`` itself on JAX."""
    return X if is_jax(xp) else np.ascontiguousarray(X)


def scratch_copy(xp, X):
    """A private copy of ``X`` that :func:`write` may fill in place (NumPy); ``X`` itself on JAX.

    A rule that replaces the columns of a factor one by one copies it once
    per sweep this way, not once per column; the caller's array is never
    written, so the rule stays a pure function.
    """
    return X if is_jax(xp) else X.copy()


def write(xp, X, index, value):
    """``X[index] = value`` into a :func:`scratch_copy` (NumPy), or ``X.at[index].set(value)`` (JAX)."""
    if is_jax(xp):
        return X.at[index].set(value)
    X[index] = value
    return X


def fuses_product(xp, W) -> bool:
    """True where :func:`product` is an elementwise expression that XLA fuses into its consumer."""
    return is_jax(xp) and W.shape[-1] <= FUSED_RANK


def product(xp, W, H):
    """``W @ H``; on JAX, for a rank up to ``FUSED_RANK``, as ``sum_k W[:, k] H[k, :]``.

    Written as a sum of ``r`` outer products the product is elementwise, so
    XLA fuses it into whatever consumes it (``V / WH``) and never writes
    the ``n x p`` matrix; a matrix product cannot be fused and costs a
    write and a read of ``n x p`` entries, the dominant memory traffic of a
    KL update at small rank. ALL/AML (38 x 5000), float32, 4 restarts,
    KL update: 0.24 ms -> 0.19 ms per restart at rank 4, 0.23 -> 0.15 at
    rank 2. NumPy gets ``W @ H``.
    """
    if not fuses_product(xp, W):
        return W @ H
    acc = W[..., :, 0:1] * H[..., 0:1, :]
    for k in range(1, W.shape[-1]):
        acc = acc + W[..., :, k:k + 1] * H[..., k:k + 1, :]
    return acc
