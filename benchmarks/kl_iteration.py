"""The cost of one KL multiplicative iteration, nmflab against torchnmf, on the same data in one run.

Run: ``python -m benchmarks.kl_iteration [--data faces] [--rank 49] [--threads 2] [--rounds 3] [--profile]``

``nmflab-mu-whole`` is nmflab's MU with its elementwise passes on whole
arrays (one thread, as before :func:`nmflab.data.rows.elementwise_by_rows`),
``nmflab-e-mu`` the extrapolated MU (one more ``n x p`` pass: its divergence).

Each solver runs ``k`` and ``k + 40`` iterations from the same NNDSVDa start
(float64, no trace: nmflab evaluates no objective during the run), and the
difference over 40 is its time per iteration; the two alternate ``rounds``
times, because this machine's speed drifts. ``--profile`` adds a cProfile
of nmflab's run by function (where the iteration spends its time).
"""

from __future__ import annotations

import argparse
import sys
import time

from ._common import limit_threads


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="faces", choices=("faces", "digits", "all_aml"))
    parser.add_argument("--rank", type=int, default=49)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    limit_threads(args.threads)
    import numpy as np

    import nmflab
    from nmflab import datasets

    V = {"faces": datasets.load_orl_faces, "digits": datasets.load_digits,
         "all_aml": datasets.load_all_aml}[args.data]().data.astype(np.float64)
    r = args.rank
    W0, H0 = nmflab.init.nndsvd(V, r, variant="nndsvda")

    def nmflab_mu(k):
        start = time.perf_counter()
        nmflab.nmf(V, r, loss="kl", method="mu", init=(W0, H0), max_iter=k, stop="max_iter", trace=False)
        return time.perf_counter() - start

    def nmflab_whole(k):
        from nmflab.data import rows

        threaded, rows.THREADED_ENTRIES = rows.THREADED_ENTRIES, 2**62
        try:
            return nmflab_mu(k)
        finally:
            rows.THREADED_ENTRIES = threaded

    def nmflab_e_mu(k):
        start = time.perf_counter()
        nmflab.nmf(V, r, loss="kl", method="e-mu", init=(W0, H0), max_iter=k, stop="max_iter", trace=False)
        return time.perf_counter() - start

    solvers = {"nmflab-mu": nmflab_mu, "nmflab-mu-whole": nmflab_whole, "nmflab-e-mu": nmflab_e_mu}
    try:
        import torch
        from torchnmf.nmf import NMF as TorchNMF

        torch.set_num_threads(args.threads)

        def torchnmf_mu(k):  # torchnmf: V ~ H W^T, its H is our W
            model = TorchNMF(W=torch.tensor(H0.T.copy()), H=torch.tensor(W0.copy()))
            data = torch.from_numpy(V)
            start = time.perf_counter()
            model.fit(data, beta=1, tol=0.0, max_iter=k)
            return time.perf_counter() - start

        solvers["torchnmf-mu"] = torchnmf_mu
    except ImportError:
        print("torchnmf is not installed (pip install torch==2.13.0 && pip install --no-deps torchnmf): "
              "nmflab alone")
    print(f"{args.data} {V.shape}, rank {r}, KL multiplicative updates, float64, {args.threads} threads")
    for round_ in range(args.rounds):
        line = []
        for name, run in solvers.items():
            short, long = run(5), run(45)
            line.append(f"{name} {(long - short) / 40 * 1e3:.1f} ms/it")
        print(f"round {round_ + 1}: " + ", ".join(line))
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(nmflab.nmf, V, r, loss="kl", method="mu", init=(W0, H0), max_iter=40, stop="max_iter",
                        check_every=5)
        pstats.Stats(profile).sort_stats("tottime").print_stats(8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
