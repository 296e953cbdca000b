"""Seconds per iteration of MU on a dense matrix (Frobenius or KL): nmflab (NumPy, JAX) vs scikit-learn.

Run: ``python -m benchmarks.mu_dense [--loss frobenius|kl] [--n 20000 --p 5000 --rank 40 --iters 20
--threads 2]`` (``make bench``). Every solver gets the same data, the same
start and the same thread count, in one process, one after the other; each
is run once to warm up (JAX compiles then), then timed over ``--iters`` and
over ``2 --iters`` iterations (best of two each) with the objective checked
every 10 iterations, as scikit-learn does; the difference of the two over
``--iters`` is the time of an iteration, without the costs of a call
(validation, start, final objective), which the table reports apart. The
machine's floor per iteration (:func:`benchmarks._common.machine_floor`:
square-GEMM rate and read bandwidth, ``k`` = 2 products of ``n x p x r``
an iteration for Frobenius, 4 for KL) is measured in the same run, before
and after the solvers, the lower kept, as this machine's speed drifts; the
rate of ``V H^T`` itself is printed beside it.

Writes a table to standard output and ``out/bench/mu_dense.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

# _common imports no numerical library: the threads are set first
from ._common import best_seconds, data_size, limit_threads, lower_floor, machine_floor


def product_rate(V, rank) -> float:
    """Flop/s of ``V H^T`` (the thin product an MU iteration makes) on NumPy's BLAS, for context beside the floor."""
    import numpy as np

    H = np.random.default_rng(0).uniform(0, 1, (rank, V.shape[1])).astype(V.dtype)
    return 2.0 * V.shape[0] * V.shape[1] * rank / best_seconds(lambda: V @ H.T)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", default="frobenius", choices=("frobenius", "kl"))
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--p", type=int, default=5000)
    parser.add_argument("--rank", type=int, default=40)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], help="solvers to leave out: numpy jax sklearn")
    parser.add_argument("--out", default=None, help="default out/bench/mu_dense[_kl].json")
    args = parser.parse_args(argv)
    args.out = args.out or f"out/bench/mu_dense{'' if args.loss == 'frobenius' else '_kl'}.json"
    limit_threads(args.threads)

    import numpy as np

    import nmflab

    rng = np.random.default_rng(0)
    W_true = rng.uniform(0, 1, (args.n, args.rank))
    H_true = rng.uniform(0, 1, (args.rank, args.p))
    V = W_true @ H_true + 0.01 * rng.uniform(0, 1, (args.n, args.p))
    W0 = rng.uniform(0.1, 1, (args.n, args.rank))
    H0 = rng.uniform(0.1, 1, (args.rank, args.p))
    def measure_floor():
        return {**machine_floor(data_size(V), args.rank, products=2 if args.loss == "frobenius" else 4),
                "product_flops": product_rate(V, args.rank)}

    floor = measure_floor()  # measured again after the solvers; the lower floor is kept (below)
    rows, calls = {}, {}

    def timed(name, run):
        """Seconds per iteration and the fixed cost of a call, from runs of ``iters`` and ``2 iters``."""
        run(args.iters)  # warm-up (JAX compiles here)
        once = best_seconds(lambda: run(args.iters), repeats=2)
        twice = best_seconds(lambda: run(2 * args.iters), repeats=2)
        rows[name] = (twice - once) / args.iters
        calls[name] = once - args.iters * rows[name]

    for backend in ("numpy", "jax"):
        if backend not in args.skip:
            timed(f"nmflab-{backend}", lambda iters, backend=backend: nmflab.nmf(
                V, args.rank, loss=args.loss, method="mu", init=(W0, H0), max_iter=iters, stop="max_iter",
                check_every=10, backend=backend))

    if "sklearn" not in args.skip:
        import warnings

        from sklearn.decomposition import non_negative_factorization

        def run_sklearn(iters):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                non_negative_factorization(V, W=W0.copy(), H=H0.copy(), n_components=args.rank, init="custom",
                                           solver="mu", beta_loss="frobenius" if args.loss == "frobenius"
                                           else "kullback-leibler", max_iter=iters, tol=0.0)

        timed("sklearn-mu", run_sklearn)

    # This machine's speed drifts within minutes: the floor is the best it did before or after the solvers ran.
    floor = lower_floor(floor, measure_floor())
    print(f"{args.loss} MU, dense {args.n}x{args.p} float64, rank {args.rank}, {args.threads} threads, "
          f"{args.iters} and {2 * args.iters} iterations, objective every 10")
    print(f"machine: GEMM {floor['gemm_flops'] / 1e9:.1f} GFLOP/s (V H^T alone: {floor['product_flops'] / 1e9:.1f}), "
          f"read {floor['bandwidth'] / 1e9:.1f} GB/s, floor {floor['floor_seconds'] * 1e3:.1f} ms/iter")
    print(f"{'solver':<14} {'ms/iter':>9} {'x floor':>8} {'vs sklearn':>11} {'s/call':>8}")
    ref = rows.get("sklearn-mu")
    for name, s in rows.items():
        ratio = f"{ref / s:.2f}x" if ref else "-"
        print(f"{name:<14} {s * 1e3:9.1f} {s / floor['floor_seconds']:8.2f} {ratio:>11} {calls[name]:8.2f}")

    from experiments.common import package_versions

    record = {
        "config": vars(args),
        "machine": {**floor, "platform": platform.platform(), "python": sys.version.split()[0],
                    "cpu_count": os.cpu_count()},
        "seconds_per_iteration": rows,
        "seconds_per_call": calls,
        "versions": package_versions(),
    }
    from nmflab.io import atomic_write_bytes

    atomic_write_bytes(args.out, (json.dumps(record, indent=2) + "\n").encode())
    print(f"wrote {args.out}")
    return 0



if __name__ == "__main__":
    sys.exit(main())
