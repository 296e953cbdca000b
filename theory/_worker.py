"""Set-up of a survey's worker process: one compute thread, so that N workers share N cores.

This module imports nothing numerical: a worker runs :func:`one_thread` as
its initializer before its first task imports JAX, and XLA reads its flags
only when its CPU client starts.
"""

from __future__ import annotations

import os

__all__ = ["one_thread"]

_XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"


def one_thread() -> None:
    """Limit this process to one compute thread (XLA, and BLAS where it can still be told)."""
    kept = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_multi_thread_eigen")]
    os.environ["XLA_FLAGS"] = " ".join([_XLA_ONE_THREAD, *kept])
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    try:  # BLAS was loaded already if the parent's main module imported NumPy
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)
