"""What the benchmark scripts share: the thread limit every solver runs under."""

from __future__ import annotations

import os

__all__ = ["limit_threads"]


def limit_threads(threads: int) -> None:
    """Give BLAS (OpenBLAS, MKL, OpenMP) and XLA the same number of threads; call before importing them."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}"
    ).strip()
