"""Set-up of a survey's worker process: one compute thread, so that N workers share N cores.

This module imports nothing numerical: a worker runs :func:`one_thread` as
its initializer before its first task imports JAX, and XLA reads its flags
only when its CPU client starts.
"""

from __future__ import annotations

import os

__all__ = ["one_thread"]

_XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"


def one_thread(compilation_cache: str | None = None) -> None:
    """Limit this process to one compute thread (XLA, and BLAS where it can still be told).

    With ``compilation_cache`` (a directory the pool's workers share), JAX
    stores every program it compiles there and loads the ones another
    worker compiled first: a survey compiles each rank's programs once, not
    once per worker.
    """
    if compilation_cache is not None:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = compilation_cache
        os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    kept = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_multi_thread_eigen")]
    os.environ["XLA_FLAGS"] = " ".join([_XLA_ONE_THREAD, *kept])
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    try:  # BLAS was loaded already if the parent's main module imported NumPy
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)
