"""Large data: nmflab against its peers on a dense 20000 x 5000 and a sparse 50000 x 20000 matrix.

Run: ``python -m benchmarks.large [--sets synthetic sparse] [--budget 45] [--threads 2]``

* ``synthetic``: the exact product of uniform 20000 x 40 and 40 x 5000 factors
  plus uniform noise of amplitude 0.01 (float64, 800 MB), rank 40, Frobenius
  and KL.
* solvers ``nmflab-sketch-*`` fit on a randomized sketch (``nmf(sketch=True)``:
  ``rank + 20`` columns, 2 power iterations), the sketch made afresh in every
  run and its time counted.
* solvers ``nmflab-online-*`` run :func:`nmflab.online_nmf` over blocks of
  1024 rows, 1, 2, 4, ... passes, scored on the weights of each block's last
  visit (:mod:`benchmarks.online` races them against scikit-learn's
  ``MiniBatchNMF``).
* ``sparse``: Poisson counts, 50000 x 20000 at 0.5 % density (5 million
  stored entries, CSR): the positions uniformly at random, each count
  ``1 + Poisson(mean)`` with ``mean`` from a rank-20 non-negative product;
  rank 20, Frobenius and KL.

Every solver starts from the same NNDSVDa start (computed once, ARPACK on
the sparse matrix) and runs in its own process with the same thread count,
so that its **peak memory** is its own: the high-water mark of the resident
set (``VmHWM``, reset after the data and the start are loaded) less the
resident set at that moment. Objectives are recomputed here from the
returned factors without forming ``n x p`` arrays (row blocks for dense
data, the stored entries for sparse data). Peers without a trace run with
``max_iter`` = 1, 2, 4, ... until the budget is spent, as in
:mod:`benchmarks.race`. The **machine floor** of an iteration
(:func:`benchmarks._common.machine_floor`: ``max(2 k n p r / GEMM rate, 2
reads of V / bandwidth)``, ``k`` = 2 products an iteration for Frobenius, 4
for KL, ``nnz`` in place of ``n p`` for sparse data) is measured before
and after each loss's solvers, the lower kept.

Writes ``out/bench/large.json``; the generated data are cached in
``out/bench/data/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# _common imports no numerical library: the threads are set first
from ._common import data_size, in_worker, lower_floor, machine_floor, worker_arguments

SETS = {"synthetic": {"rank": 40, "losses": ("frobenius", "kl")},
        "sparse": {"rank": 20, "losses": ("frobenius", "kl")}}
SOLVERS = {  # (data kind, loss) -> solvers
    ("dense", "frobenius"): ["nmflab-hals", "nmflab-e-hals", "nmflab-sketch-hals", "nmflab-sketch-e-hals",
                             "nmflab-sketch-e-anls", "nmflab-online-anls",
                             "nmflab-mu", "sklearn-cd", "sklearn-mu", "tensorly-hals", "nimfa-mu",
                             "nmftorch-hals", "nmftorch-mu", "torchnmf-mu"],
    # nmflab's KL coordinate descent makes r passes over n x p per factor: at rank 40 an iteration is minutes
    # here ("auto" takes MU above rank 8); it runs on the sparse set, where its passes touch the stored entries
    ("dense", "kl"): ["nmflab-mu", "nmflab-e-mu", "sklearn-mu", "nimfa-mu", "nmftorch-mu", "torchnmf-mu"],
    # nimfa, TensorLy and the torch packages densify a sparse matrix (8 GB here); scikit-learn's cd is
    # Frobenius only
    ("sparse", "frobenius"): ["nmflab-hals", "nmflab-e-hals", "nmflab-sketch-hals", "nmflab-online-anls", "nmflab-mu",
                              "sklearn-cd",
                              "sklearn-mu"],
    ("sparse", "kl"): ["nmflab-cd", "nmflab-e-cd", "nmflab-mu", "nmflab-e-mu", "sklearn-mu"],
}
_BLOCK = 2000  # rows per block when generating the dense set


def _generate(name: str):
    import numpy as np
    import scipy.sparse

    rng = np.random.default_rng(20261122)
    if name == "synthetic":
        n, p, r = 20000, 5000, 40
        A, B = rng.uniform(0, 1, (n, r)), rng.uniform(0, 1, (r, p))
        V = np.empty((n, p))
        for i in range(0, n, _BLOCK):  # no 800 MB temporaries
            V[i:i + _BLOCK] = A[i:i + _BLOCK] @ B + 0.01 * rng.uniform(0, 1, (min(_BLOCK, n - i), p))
        return V
    n, p, r, density = 50000, 20000, 20, 0.005
    nnz = int(n * p * density)
    flat = np.unique(rng.integers(0, n * p, size=int(nnz * 1.01)))[:nnz]
    rows, cols = np.divmod(flat, p)
    A, B = rng.gamma(0.5, 1.0, (n, r)), rng.gamma(0.5, 1.0, (r, p))
    mean = np.concatenate([np.einsum("ij,ji->i", A[rows[i:i + 10**6]], B[:, cols[i:i + 10**6]])
                           for i in range(0, nnz, 10**6)])
    counts = 1.0 + rng.poisson(mean)
    return scipy.sparse.csr_matrix((counts, (rows, cols)), shape=(n, p))


def _cached(name: str, rank: int, folder: Path) -> Path:
    """The data set and its NNDSVDa start, generated once into ``folder``."""
    import numpy as np
    import scipy.sparse

    import nmflab

    path = folder / f"{name}.npz"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    V = _generate(name)
    W0, H0 = nmflab.init.nndsvd(V, rank, variant="nndsvda", rng=np.random.default_rng(0))
    tmp = path.with_suffix(".tmp.npz")
    if scipy.sparse.issparse(V):
        np.savez(tmp, data=V.data, indices=V.indices, indptr=V.indptr, shape=V.shape, W0=W0, H0=H0)
    else:
        np.savez(tmp, V=V, W0=W0, H0=H0)
    tmp.replace(path)
    return path


def _load(path: Path):
    import numpy as np
    import scipy.sparse

    with np.load(path) as f:
        if "V" in f.files:
            V = f["V"]
        else:
            V = scipy.sparse.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))
        return V, f["W0"], f["H0"]


def score(loss: str, V, W, H) -> float:
    """The objective (``0.5 ||V - WH||^2`` or generalized KL) without an ``n x p`` temporary."""
    from nmflab.diagnostics import loss_value

    return loss_value(V, W, H, loss)


def _memory() -> dict:
    """Resident set now and its high-water mark (Linux ``/proc``), in bytes."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


def _run_solver(solver: str, loss: str, V, W0, H0, budget: float) -> list:
    """(seconds, objective or factors, iterations) points of one solver within the budget.

    nmflab's points carry its own objective trace; a peer's carry its
    factors, scored by :func:`score` after its peak memory has been read.
    """
    from . import race

    if solver.startswith("nmflab-sketch-"):
        import nmflab

        # The trace of a sketched fit is the sketched problem's: runs of 1, 2, 4, ... iterations, each making its
        # sketch, are scored on V, as the peers without a trace are.
        method = solver.split("-", 2)[2]

        def sketched(k):
            return _factors(nmflab.nmf(V, W0.shape[1], method=method, init=(W0, H0), max_iter=k, stop="max_iter",
                                       sketch=True, seed=0))

        sketched(1)  # warm-up, untimed (as for the plain fits below)
        return race.doubling(sketched, budget, lambda W, H: (W, H))
    if solver.startswith("nmflab-online-"):
        import nmflab

        # Passes 1, 2, 4, ... over blocks of 1024 rows (scored on the weights of each block's last visit).
        method = solver.split("-", 2)[2]

        def online(k):
            return _factors(nmflab.online_nmf(V, W0.shape[1], loss=loss, method=method, H=H0, max_iter=k,
                                              stop="max_iter"))

        online(1)  # warm-up, untimed (as for the plain fits below)
        return race.doubling(online, budget, lambda W, H: (W, H))
    if solver.startswith("nmflab-"):
        import nmflab

        method = solver.split("-", 1)[1]
        # Frobenius objectives come from the products the update holds (free): every iteration is traced;
        # a KL objective costs half an update on dense data, so it is traced every 5th (race.py's resolution).
        kw = dict(loss=loss, method=method, init=(W0, H0), tol=0.0, max_iter=10**6,
                  check_every=1 if loss == "frobenius" else 5, backend="numpy")
        # Warm-up, untimed, as race.py does: stopped at its first check, it loads what a process loads once
        # (numba's compiled kernels, about 0.5 s), as the peers' imports are made before their clocks start.
        nmflab.nmf(V, W0.shape[1], time_limit=1e-9, **kw)
        start = time.perf_counter()
        res = nmflab.nmf(V, W0.shape[1], time_limit=budget, **kw)
        overhead = (time.perf_counter() - start) - res.wall_time
        return [(float(t) + overhead, float(f), int(i)) for t, f, i in zip(res.times, res.objective, res.iterations)]
    return race.doubling(race.peers(loss, V, W0, H0, W0.shape[1])[solver], budget, lambda W, H: (W, H))


def _factors(result):
    return result.W, result.H


def worker(spec: dict) -> dict:
    """One solver on one data set, in this process (called through ``--worker``)."""
    import numpy as np

    V, W0, H0 = _load(Path(spec["path"]))
    before = _memory()
    _reset_peak()
    try:
        points = _run_solver(spec["solver"], spec["loss"], V, W0, H0, spec["budget"])
        error = None
    except Exception as exc:  # noqa: BLE001 - a peer that fails is reported, not fatal
        points, error = [], f"{type(exc).__name__}: {exc}"[:300]
    after = _memory()
    points = [(t, f if isinstance(f, float) else score(spec["loss"], V, *map(np.asarray, f)), i) for t, f, i in points]
    return {"points": points, "error": error, "rss_before": before["VmRSS"], "peak": after["VmHWM"],
            "extra_peak": after["VmHWM"] - before["VmRSS"]}


def _per_iteration(points) -> float | None:
    """Seconds per iteration: the last point's time over its iterations (less the first point's, for traces)."""
    if len(points) < 2:
        return None
    (t0, _, i0), (t1, _, i1) = points[0], points[-1]
    return (t1 - t0) / (i1 - i0) if i1 > i0 else None


def summarize(results: list) -> dict:
    from .race import targets

    best, table = targets({r["solver"]: r["points"] for r in results})
    for r in results:
        r.update(table[r["solver"]])
        r["seconds_per_iteration"] = _per_iteration(r["points"])
    # Within a short budget nobody may come near the best: compare at the best level any peer reached,
    # the time the first peer reached it against the time each solver did.
    peers = [r for r in results if not r["solver"].startswith("nmflab") and r["points"]]
    level = min((f for r in peers for _, f, _ in r["points"]), default=None)
    peer_time = min((t for r in peers for t, f, _ in r["points"] if f <= level), default=None)
    for r in results:
        hit = [t for t, f, _ in r["points"] if level is not None and f <= level]
        r["at_best_peer_level"] = {"seconds": hit[0] if hit else None,
                                   "speedup": peer_time / hit[0] if (hit and peer_time) else None}
    return {"best_objective": best, "best_peer_objective": level, "best_peer_seconds": peer_time}


def _print(name, loss, floor, summary, results):
    print(f"\n{name}, {loss}: best objective {summary['best_objective']:.8g}; floor {floor['floor_seconds']:.3f} s/it "
          f"(GEMM {floor['gemm_flops'] / 1e9:.0f} GFLOP/s, {floor['bandwidth'] / 1e9:.1f} GB/s)")
    print(f"best peer objective {summary['best_peer_objective']:.8g} (first reached at {summary['best_peer_seconds']:.1f} s)"
          if summary["best_peer_objective"] is not None else "no peer ran")
    print(f"{'solver':<15}{'to 1%: s':>9}{'x peer':>7}{'to 0.1%: s':>11}{'it':>6}{'x peer':>7}{'s/it':>8}"
          f"{'x floor':>8}{'peak MB':>9}{'x at peer best':>15}")
    for r in results:
        a, b, spi = r["1%"], r["0.1%"], r["seconds_per_iteration"]
        f = lambda v, fmt: format(v, fmt) if v is not None else "-"  # noqa: E731
        print(f"{r['solver']:<15}{f(a['seconds'], '.2f'):>9}{f(a['speedup_vs_fastest_peer'], '.1f'):>7}"
              f"{f(b['seconds'], '.2f'):>11}{f(b['iterations'], 'd'):>6}{f(b['speedup_vs_fastest_peer'], '.1f'):>7}"
              f"{f(spi, '.3f'):>8}{f(spi and spi / floor['floor_seconds'], '.2f'):>8}{r['extra_peak'] / 2**20:>9.0f}"
              f"{f(r['at_best_peer_level']['speedup'], '.1f'):>15}"
              + (f"  {r['error']}" if r["error"] else ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--losses", nargs="+", default=["frobenius", "kl"], choices=["frobenius", "kl"])
    parser.add_argument("--solvers", nargs="+", default=None, help="only these (default: all installed)")
    parser.add_argument("--budget", type=float, default=45.0, help="seconds per solver, loss and data set")
    args = worker_arguments(parser, argv, worker)
    if args is None:
        return 0
    out = Path(args.out)
    report = {"threads": args.threads, "budget": args.budget, "sets": {}}
    for name in args.sets:
        rank = SETS[name]["rank"]
        path = _cached(name, rank, out / "data")
        V, _, _ = _load(path)
        kind = "sparse" if hasattr(V, "tocsr") else "dense"
        shape, size = list(V.shape), data_size(V)
        del V
        report["sets"][name] = {"shape": shape, "nnz": size["entries"], "rank": rank, "losses": {}}
        for loss in (x for x in args.losses if x in SETS[name]["losses"]):
            products = 2 if loss == "frobenius" else 4
            floor_before = machine_floor(size, rank, products)
            results = []
            for solver in SOLVERS[(kind, loss)]:
                if args.solvers and solver not in args.solvers:
                    continue
                spec = {"path": str(path), "solver": solver, "loss": loss, "budget": args.budget}
                result = in_worker("benchmarks.large", args.threads, spec,
                                   {"points": [], "extra_peak": 0, "peak": 0, "rss_before": 0})
                results.append({"solver": solver, **result})
            floor = lower_floor(floor_before, machine_floor(size, rank, products))
            summary = summarize(results)
            _print(name, loss, floor, summary, results)
            report["sets"][name]["losses"][loss] = {**summary, "floor": floor, "solvers": results}
    from nmflab.io import atomic_write_bytes

    atomic_write_bytes(out / "large.json", (json.dumps(report, indent=1) + "\n").encode())
    print(f"\nwrote {out / 'large.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
