"""Seconds per iteration of MU on a dense matrix (Frobenius or KL): nmflab (NumPy, JAX) vs scikit-learn.

Run: ``python -m benchmarks.mu_dense [--loss frobenius|kl] [--n 20000 --p 5000 --rank 40 --iters 20
--threads 2]`` (``make bench``). Every solver gets the same data, the same
start and the same thread count, in one process, one after the other; each
is run once to warm up (JAX compiles then), then timed over ``--iters`` and
over ``2 --iters`` iterations (best of two each) with the objective checked
every 10 iterations, as scikit-learn does; the difference of the two over
``--iters`` is the time of an iteration, without the costs of a call
(validation, start, final objective), which the table reports apart. The
machine's floor per iteration is measured in the same run, before and
after the solvers (the lower kept, as this machine's speed drifts):
``max(2 k n p r / GEMM rate, 2 reads of V / memory bandwidth)`` with ``k``
the products of an iteration (2 for Frobenius, 4 for KL).

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


def machine_floor(V, rank, use_jax=True, products=2):
    """GEMM rate (flop/s), read bandwidth (bytes/s) and the per-iteration floor of an MU iteration.

    ``products``: the ``n x p x r`` products of an iteration, 2 for Frobenius
    (``W^T V``, ``V H^T``), 4 for KL (``WH`` before each factor's update and
    the two with ``V / WH``).

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
    floor = max(2.0 * products * n * p * rank / gemm_rate, 2.0 * V.nbytes / bandwidth)
    return {"gemm_gflops": gemm_rate / 1e9, "read_gbytes_per_s": bandwidth / 1e9, "floor_s_per_iter": floor}


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
        return machine_floor(V, args.rank, use_jax="jax" not in args.skip,
                             products=2 if args.loss == "frobenius" else 4)

    floor = measure_floor()  # measured again after the solvers; the faster of the two is kept (below)
    rows, calls = {}, {}

    def timed(name, run):
        """Seconds per iteration and the fixed cost of a call, from runs of ``iters`` and ``2 iters``."""
        run(args.iters)  # warm-up (JAX compiles here)
        once = _best_of(lambda: run(args.iters), repeats=2)
        twice = _best_of(lambda: run(2 * args.iters), repeats=2)
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
    floor = min(floor, measure_floor(), key=lambda f: f["floor_s_per_iter"])
    print(f"{args.loss} MU, dense {args.n}x{args.p} float64, rank {args.rank}, {args.threads} threads, "
          f"{args.iters} and {2 * args.iters} iterations, objective every 10")
    print(f"machine: GEMM {floor['gemm_gflops']:.1f} GFLOP/s, read {floor['read_gbytes_per_s']:.1f} GB/s, "
          f"floor {floor['floor_s_per_iter'] * 1e3:.1f} ms/iter")
    print(f"{'solver':<14} {'ms/iter':>9} {'x floor':>8} {'vs sklearn':>11} {'s/call':>8}")
    ref = rows.get("sklearn-mu")
    for name, s in rows.items():
        ratio = f"{ref / s:.2f}x" if ref else "-"
        print(f"{name:<14} {s * 1e3:9.1f} {s / floor['floor_s_per_iter']:8.2f} {ratio:>11} {calls[name]:8.2f}")

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
