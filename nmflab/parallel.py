"""The cores this process may use, and the one thread pool that the NumPy backend's blocked loops share."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os

__all__ = ["available_cores", "core_ids", "pool_threads", "thread_pool", "blas_threads"]


def core_ids() -> list[int] | None:
    """The CPU cores this process may run on (its affinity mask), or None where the system has none."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return None


def available_cores() -> int:
    """How many CPU cores this process may run on (its affinity mask where the system has one)."""
    cores = core_ids()
    return len(cores) if cores is not None else (os.cpu_count() or 1)


def pool_threads() -> int:
    """Threads of :func:`thread_pool`: one per core, at most 8."""
    return min(available_cores(), 8)


@functools.cache
def thread_pool() -> concurrent.futures.ThreadPoolExecutor:
    """A thread per core (at most 8), for loops over independent blocks whose work releases the GIL."""
    return concurrent.futures.ThreadPoolExecutor(pool_threads(), thread_name_prefix="nmflab")


@contextlib.contextmanager
def blas_threads(threads: int | None):
    """Within the block, BLAS libraries run at most ``threads`` threads (``None``: as they are).

    For work whose heavy part runs on :func:`thread_pool`: OpenBLAS's worker
    threads keep spinning for a while after each call (its thread timeout),
    and on a machine with as many cores as pool threads they take the cores
    the pool's threads need. Set with threadpoolctl (a dependency of
    scikit-learn; ``pip install threadpoolctl``), and left alone where it is
    not installed or where the pool has a single thread.
    """
    if threads is None or pool_threads() < 2:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield
