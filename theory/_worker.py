"""Set-up of a survey's worker process: one compute thread, so that N workers share N cores.

This module imports nothing numerical: a worker runs :func:`one_thread` as
its initializer before its first task imports JAX, and XLA reads its flags
only when its CPU client starts.
"""

from __future__ import annotations

import os

__all__ = ["one_thread", "pin_to_next_core", "start_worker", "die_with_parent"]

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


def pin_to_next_core(next_worker, cores: list[int]) -> None:
    """Run this process on one core of ``cores``: the ``i``-th worker to start takes ``cores[i % len(cores)]``.

    ``next_worker`` is a shared counter (``multiprocessing.Value``). Left
    to the scheduler, two single-threaded workers on a 2-core machine
    were seen on the same core, and each move of a worker leaves its data
    in the other core's cache (measured in benchmarks/NOTES.md).
    """
    with next_worker.get_lock():
        index = next_worker.value
        next_worker.value += 1
    try:
        os.sched_setaffinity(0, {cores[index % len(cores)]})
    except (AttributeError, OSError):  # no affinity on this system, or the core is gone: run unpinned
        pass


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when the process ``parent`` ends, however it ends (Linux).

    A survey killed by ``timeout`` or a batch scheduler (SIGTERM, SIGKILL)
    runs no clean-up code; without this its workers (some 340 MB each with
    JAX) would run on as orphans. Elsewhere there is no such request to make.
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)


def start_worker(compilation_cache: str | None, next_worker, cores: list[int] | None, parent: int | None = None
                 ) -> None:
    """A survey pool's initializer: :func:`die_with_parent`, :func:`pin_to_next_core` when given ``cores``,
    then :func:`one_thread`."""
    if parent is not None:
        die_with_parent(parent)
    if cores:
        pin_to_next_core(next_worker, cores)
    one_thread(compilation_cache)
