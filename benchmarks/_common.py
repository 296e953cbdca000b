"""What the benchmark scripts share: the thread limit every solver runs under."""

from __future__ import annotations

import os

__all__ = ["limit_threads"]


def limit_threads(threads: int) -> None:
    """Give BLAS (OpenBLAS, MKL, OpenMP) and XLA the same number of threads; call before importing them.

    XLA:CPU has no thread-count flag: its pool spans the cores the process
    may use, so with fewer threads than cores the process is pinned to the
    first ``threads`` cores (which binds every library alike).
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    flag = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
    os.environ["XLA_FLAGS"] = " ".join([flag, os.environ.get("XLA_FLAGS", "")]).strip()

    # nmflab imports NumPy: only now that its threads are set
    from nmflab._parallel import core_ids

    cores = core_ids()
    if cores is not None and threads < len(cores):
        os.sched_setaffinity(0, cores[:threads])
