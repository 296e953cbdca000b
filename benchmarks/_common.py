"""What the benchmark scripts share: the thread limit every solver runs under, workers in their own process,
and the machine floor."""

from __future__ import annotations

import json
import os
import subprocess
import sys

__all__ = ["limit_threads", "worker_arguments", "in_worker", "best_seconds", "data_size", "machine_floor", "lower_floor"]


def worker_arguments(parser, argv, worker):
    """Parse ``argv`` with the options every race shares added (``--threads``, ``--out``, the hidden
    ``--worker``) and set the threads; in a worker process run ``worker(spec)``, print its ``RESULT`` line and
    return None; else return the parsed arguments."""
    import argparse

    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="out/bench")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    limit_threads(args.threads)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))))
        return None
    return args


def in_worker(module: str, threads: int, spec: dict, failed: dict) -> dict:
    """Run ``python -m module --threads T --worker SPEC`` (one solver in a process of its own, so that its
    peak memory is its own) and return the dict its ``RESULT`` line carries, or ``failed`` with the error."""
    proc = subprocess.run([sys.executable, "-m", module, "--threads", str(threads), "--worker", json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        return {**failed, "error": f"exit {proc.returncode}: {proc.stderr[-300:]}"}
    return json.loads(line[len("RESULT "):])


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
    from nmflab.parallel import core_ids

    cores = core_ids()
    if cores is not None and threads < len(cores):
        os.sched_setaffinity(0, cores[:threads])


def best_seconds(fn, repeats: int = 3) -> float:
    """The shortest of ``repeats`` timed calls of ``fn()``, in seconds."""
    import time

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def data_size(V) -> dict:
    """What :func:`machine_floor` needs of ``V`` (dense or scipy.sparse), so that ``V`` itself may be let go."""
    import scipy.sparse

    if scipy.sparse.issparse(V):
        csr = V.tocsr()
        return {"dtype": V.dtype.str, "entries": int(V.nnz),
                "nbytes": int(csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes)}
    return {"dtype": V.dtype.str, "entries": int(V.size), "nbytes": int(V.nbytes)}


def machine_floor(size: dict, rank: int, products: int = 2) -> dict:
    """This machine's GEMM rate and read bandwidth, measured now, and the floor of one iteration.

    The floor is ``max(2 k n p r / GEMM rate, 2 reads of V / bandwidth)``
    with ``k`` the ``n x p x r`` products of an iteration (2 for Frobenius:
    ``W^T V`` and ``V H^T``; 4 for KL MU, which also forms ``WH`` twice):
    for ``k = 2`` the issue's ``4 n p r / GEMM rate``. ``size`` is
    :func:`data_size` of ``V``: for a sparse ``V`` the products cost ``2 nnz
    r`` flops each and a read is its three CSR arrays.

    The GEMM rate is that of a square 2048 x 2048 product in ``V``'s dtype
    (the rate this BLAS reaches on this machine; thin products such as
    ``V H^T`` at rank 40 run at about half of it here), the bandwidth that
    of a summation over 1 GiB (beyond every cache). Both are the best of
    five: this machine's speed drifts by up to 2x within minutes, so callers
    measure before and after their solvers and keep the lower floor
    (:func:`lower_floor`).
    """
    import numpy as np

    dtype = np.dtype(size["dtype"])
    a = np.random.default_rng(0).random((2048, 2048)).astype(dtype)
    a @ a  # warm the BLAS threads
    gemm = 2 * 2048**3 / best_seconds(lambda: a @ a, 5)
    big = np.ones(2**30 // dtype.itemsize, dtype=dtype)
    big.sum()
    bandwidth = big.nbytes / best_seconds(big.sum, 5)
    del a, big
    compute, memory = 2 * products * size["entries"] * rank / gemm, 2 * size["nbytes"] / bandwidth
    return {"gemm_flops": gemm, "bandwidth": bandwidth, "products": products, "compute_seconds": compute,
            "memory_seconds": memory, "floor_seconds": max(compute, memory)}


def lower_floor(*floors: dict) -> dict:
    """The lowest of several :func:`machine_floor` measurements (the machine at its fastest)."""
    return min(floors, key=lambda f: f["floor_seconds"])
