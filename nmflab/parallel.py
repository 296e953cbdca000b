"""The cores this process may use, and the one thread pool that the NumPy backend's blocked loops share."""

from __future__ import annotations

import concurrent.futures
import functools
import os

__all__ = ["available_cores", "core_ids", "pool_threads", "thread_pool"]


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
