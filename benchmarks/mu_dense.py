"""Seconds per iteration of Frobenius MU on a dense matrix: nmflab (NumPy, JAX) vs scikit-learn.

Run: ``python -m benchmarks.mu_dense [--n 20000 --p 5000 --rank 40 --iters 20 --threads 2]``
(``make bench``). Every solver gets the same data, the same start and the
same thread count, in one process, one after the other; each is run once to
warm up (JAX compiles then) and then timed over ``--iters`` iterations with
the objective checked every 10 iterations, as scikit-learn does. The
machine's floor per iteration is measured in the same run:
``max(4 n p r / GEMM rate, 2 reads of V / memory bandwidth)``.

Writes a table to standard output and ``out/bench/mu_dense.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from ._common import limit_threads  # imports no numerical library: threads are set first


def _best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def machine_floor(V, rank, use_jax=True):
    """GEMM rate (flop/s), read bandwidth (bytes/s) and the per-iteration floor of Frobenius MU.

    The GEMM rate is the better of NumPy's BLAS and XLA's on the product an
    MU iteration does twice (``V H^T``, n x p x r), so the floor is what the
    faster library can reach on this machine.
    """
    import numpy as np

    n, p = V.shape
    H = np.random.default_rng(0).uniform(0, 1, (rank, p)).astype(V.dtype)
    gemm_s = _best_of(lambda: V @ H.T)
    if use_jax:
        import jax

        with jax.enable_x64(True):
            Vj, Hj = jax.device_put(V), jax.device_put(H)
            product = jax.jit(lambda a, b: a @ b.T)
            product(Vj, Hj).block_until_ready()
            gemm_s = min(gemm_s, _best_of(lambda: product(Vj, Hj).block_until_ready()))
    gemm_rate = 2.0 * n * p * rank / gemm_s
    read_s = _best_of(lambda: V.sum())
    bandwidth = V.nbytes / read_s
    floor = max(4.0 * n * p * rank / gemm_rate, 2.0 * V.nbytes / bandwidth)
    return {"gemm_gflops": gemm_rate / 1e9, "read_gbytes_per_s": bandwidth / 1e9, "floor_s_per_iter": floor}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--p", type=int, default=5000)
    parser.add_argument("--rank", type=int, default=40)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], help="solvers to leave out: numpy jax sklearn")
    parser.add_argument("--out", default="out/bench/mu_dense.json")
    args = parser.parse_args(argv)
    limit_threads(args.threads)

    import numpy as np

    import nmflab

    rng = np.random.default_rng(0)
    W_true = rng.uniform(0, 1, (args.n, args.rank))
    H_true = rng.uniform(0, 1, (args.rank, args.p))
    V = W_true @ H_true + 0.01 * rng.uniform(0, 1, (args.n, args.p))
    W0 = rng.uniform(0.1, 1, (args.n, args.rank))
    H0 = rng.uniform(0.1, 1, (args.rank, args.p))
    floor = machine_floor(V, args.rank, use_jax="jax" not in args.skip)
    rows = {}

    def run_nmflab(backend, iters):
        return nmflab.nmf(V, args.rank, method="mu", init=(W0, H0), max_iter=iters, stop="max_iter",
                          check_every=10, backend=backend)

    for backend in ("numpy", "jax"):
        if backend in args.skip:
            continue
        run_nmflab(backend, args.iters)  # warm-up (JAX compiles here)
        t = _best_of(lambda: run_nmflab(backend, args.iters), repeats=2)
        rows[f"nmflab-{backend}"] = t / args.iters

    if "sklearn" not in args.skip:
        import warnings

        from sklearn.decomposition import non_negative_factorization

        def run_sklearn():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                non_negative_factorization(V, W=W0.copy(), H=H0.copy(), n_components=args.rank, init="custom",
                                           solver="mu", beta_loss="frobenius", max_iter=args.iters, tol=0.0)

        run_sklearn()
        rows["sklearn-mu"] = _best_of(run_sklearn, repeats=2) / args.iters

    print(f"Frobenius MU, dense {args.n}x{args.p} float64, rank {args.rank}, {args.threads} threads, "
          f"{args.iters} iterations, objective every 10")
    print(f"machine: GEMM {floor['gemm_gflops']:.1f} GFLOP/s, read {floor['read_gbytes_per_s']:.1f} GB/s, "
          f"floor {floor['floor_s_per_iter'] * 1e3:.1f} ms/iter")
    print(f"{'solver':<14} {'ms/iter':>9} {'x floor':>8} {'vs sklearn':>11}")
    ref = rows.get("sklearn-mu")
    for name, s in rows.items():
        ratio = f"{ref / s:.2f}x" if ref else "-"
        print(f"{name:<14} {s * 1e3:9.1f} {s / floor['floor_s_per_iter']:8.2f} {ratio:>11}")

    from experiments.common import package_versions

    record = {
        "config": vars(args),
        "machine": {**floor, "platform": platform.platform(), "python": sys.version.split()[0],
                    "cpu_count": os.cpu_count()},
        "seconds_per_iteration": rows,
        "versions": package_versions(),
    }
    from nmflab.io import atomic_write_bytes

    atomic_write_bytes(args.out, (json.dumps(record, indent=2) + "\n").encode())
    print(f"wrote {args.out}")
    return 0



if __name__ == "__main__":
    sys.exit(main())
