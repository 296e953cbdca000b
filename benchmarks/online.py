"""Online NMF: nmflab's ``online_nmf`` against scikit-learn's ``MiniBatchNMF`` on a stream of row blocks.

Run: ``python -m benchmarks.online [--budget 60] [--threads 2] [--block-rows 1024]``

The data are the dense synthetic set of :mod:`benchmarks.large` (20000 x
5000, rank 40, Frobenius), read from a ``.npy`` file memory-mapped, so that
a solver holds in memory only what it loads. Both start from the same
NNDSVDa parts ``H0`` (and scikit-learn from the matching ``W0``), take
blocks of the same rows, and run in their own process with the same
threads; each runs 1, 2, 4, ... passes (``max_iter``, no early stopping)
until the budget is spent. A run's score is the objective
``0.5 ||V - W H||^2`` of the factors it returns (its own ``W``: scikit-learn's
``fit_transform``, nmflab's weights of each block's last visit), computed
afterwards and not timed. **Peak memory** is the high-water mark of the
of the arrays a solver allocates (``tracemalloc``, which NumPy reports to),
and, for reference, that of the resident set, which also counts the pages
of the memory map as they are read (file pages the kernel can drop: every
solver that reads all of ``V`` shows its 800 MB there). ``nmflab-*-stream``
reads the blocks from the file as a generator (no weights kept, so none of
a block's statistics replaced; its score uses the exact weights for its
parts, solved afterwards); the others take the memory-mapped array.

Prints, per solver, the time to within 1 % and 0.1 % of the best objective
any run reached, the time to the best objective scikit-learn reached, the
ratio, and the peak memory against two blocks plus the factors. Writes
``out/bench/online.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path

from ._common import in_worker, worker_arguments

SOLVERS = ("nmflab-anls", "nmflab-hals", "nmflab-anls-stream", "sklearn-minibatch")


def _paths(out: Path):
    """The synthetic set as a ``.npy`` (for the memory map) and its NNDSVDa start, written once."""
    import numpy as np

    from . import large

    folder = out / "data"
    npy, start = folder / "synthetic_V.npy", folder / "synthetic_start.npz"
    if not (npy.exists() and start.exists()):
        V, W0, H0 = large._load(large._cached("synthetic", 40, folder))
        np.save(npy, V)
        np.savez(start, W0=W0, H0=H0)
    return npy, start


def _run(solver: str, V, W0, H0, passes: int, block_rows: int):
    import numpy as np

    if solver.startswith("nmflab-"):
        import nmflab

        method = solver.split("-")[1]
        if solver.endswith("-stream"):  # a generator of blocks read from the file: no weights kept, none replaced
            source = lambda: (np.array(V[lo:lo + block_rows]) for lo in range(0, V.shape[0], block_rows))  # noqa: E731
        else:
            source = V
        res = nmflab.online_nmf(source, H0.shape[0], method=method, block_rows=block_rows, H=H0, max_iter=passes,
                                stop="max_iter")
        return res.W, res.H
    import warnings

    from sklearn.decomposition import MiniBatchNMF

    model = MiniBatchNMF(n_components=H0.shape[0], init="custom", batch_size=block_rows, max_iter=passes, tol=0.0,
                         max_no_improvement=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = model.fit_transform(V, W=np.array(W0), H=np.array(H0))
    return W, model.components_


def worker(spec: dict) -> dict:
    import numpy as np

    from .large import _memory, _reset_peak, score

    V = np.load(spec["npy"], mmap_mode="r")
    with np.load(spec["start"]) as f:
        W0, H0 = f["W0"], f["H0"]
    before = _memory()
    _reset_peak()
    tracemalloc.start()
    runs, spent, passes = [], 0.0, 1
    while spent < spec["budget"]:
        start = time.perf_counter()
        W, H = _run(spec["solver"], V, W0, H0, passes, spec["block_rows"])
        elapsed = time.perf_counter() - start
        spent += elapsed
        runs.append((elapsed, W, H, passes))
        passes *= 2
    allocated = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    resident = _memory()["VmHWM"] - before["VmRSS"]
    points = []
    for t, W, H, k in runs:
        if W is None:  # a stream keeps no weights: the best weights for its parts, solved afterwards
            import nmflab

            W = nmflab.fit_weights(np.asarray(V), H, method="anls", max_iter=1, stop="max_iter").W
        points.append((t, score("frobenius", np.asarray(V), W, H), k))
    return {"points": points, "extra_peak": allocated, "resident_peak": resident}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per solver")
    parser.add_argument("--block-rows", type=int, default=1024)
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS)
    args = worker_arguments(parser, argv, worker)
    if args is None:
        return 0
    out = Path(args.out)
    npy, start = _paths(out)
    results = {}
    for solver in args.solvers:
        spec = {"npy": str(npy), "start": str(start), "solver": solver, "budget": args.budget,
                "block_rows": args.block_rows}
        results[solver] = in_worker("benchmarks.online", args.threads, spec, {"points": [], "extra_peak": 0})
    best = min(f for r in results.values() for _, f, _ in r["points"])
    peer = results.get("sklearn-minibatch", {"points": []})["points"]
    peer_level = min((f for _, f, _ in peer), default=None)
    peer_time = min((t for t, f, _ in peer if f <= peer_level), default=None)
    n_bytes = 8 * args.block_rows * 5000
    bound = 2 * n_bytes + 8 * (20000 * 40 + 40 * 5000)
    peer_line = (f"scikit-learn's best {peer_level:.6g} at {peer_time:.1f} s" if peer_level is not None
                 else "scikit-learn did not run")
    print(f"best objective {best:.6g}; {peer_line}; two blocks + factors = {bound / 2**20:.0f} MB")
    print(f"{'solver':<20}{'to 1%: s':>10}{'to 0.1%: s':>12}{'to sk best: s':>15}{'x sk':>7}{'alloc MB':>9}"
          f"{'RSS MB':>8}")
    for solver, r in results.items():
        pts = r["points"]
        hit = lambda level: next((t for t, f, _ in pts if f <= level), None)  # noqa: E731
        a, b = hit(best * 1.01), hit(best * 1.001)
        c = hit(peer_level) if peer_level is not None else None
        r["summary"] = {"1%": a, "0.1%": b, "at_sklearn_best": c,
                        "speedup_at_sklearn_best": (peer_time / c) if (c and peer_time) else None}
        f = lambda v, fmt: format(v, fmt) if v is not None else "-"  # noqa: E731
        print(f"{solver:<20}{f(a, '.2f'):>10}{f(b, '.2f'):>12}{f(c, '.2f'):>15}"
              f"{f(r['summary']['speedup_at_sklearn_best'], '.1f'):>7}{r['extra_peak'] / 2**20:>9.0f}"
              f"{r.get('resident_peak', 0) / 2**20:>8.0f}"
              + (f"  {r['error']}" if r.get("error") else ""))
    out.mkdir(parents=True, exist_ok=True)
    (out / "online.json").write_text(json.dumps({"budget": args.budget, "threads": args.threads,
                                                 "block_rows": args.block_rows, "best": best,
                                                 "memory_bound": bound, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
