"""Rank survey on ALL/AML (Brunet et al. 2004): nmflab against R's NMF package and a scikit-learn loop.

The job: ranks 2..6, ``--restarts`` random restarts per rank, KL
multiplicative updates (R's ``brunet``) stopped when the sample clusters
have not changed for 40 checks of 10 iterations (R's defaults), the
consensus matrix and cophenetic correlation per rank.

* nmflab: :func:`theory.survey.rank_survey` on JAX (float32 and float64),
  with one worker process per thread (``--threads``) and, for float32, also
  in this process alone.
* R: ``nmf(V_R, 2:6, "brunet", nrun=N, .opt="p2")`` (2 cores), when
  ``Rscript`` and the NMF package are installed; its seconds per restart are
  scaled to ``--restarts`` when ``--r-restarts`` is smaller.
* scikit-learn: ``NMF(beta_loss="kullback-leibler", solver="mu")`` has no
  connectivity rule; ``--sk-restarts`` fits per rank with ``max_iter`` set to
  nmflab's median iteration count at that rank, timed and scaled to
  ``--restarts``, plus a consensus computed by us.

Run: ``python -m benchmarks.survey [--restarts 50] [--r-restarts 10] [--sk-restarts 2]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ._common import limit_threads

RANKS = list(range(2, 7))


def _nmflab(V, restarts, dtype, workers):
    from theory.survey import rank_survey

    start = time.perf_counter()
    survey = rank_survey(V, RANKS, restarts, seed=1, backend="jax", dtype=dtype, workers=workers, progress=False)
    return time.perf_counter() - start, survey


_R_SCRIPT = """
suppressMessages(library(NMF))
V <- as.matrix(read.csv("{csv}", header = FALSE))
t0 <- proc.time()[["elapsed"]]
res <- nmf(V, {ranks}, "brunet", nrun = {nrun}, seed = 123456, .opt = "p2")
el <- proc.time()[["elapsed"]] - t0
s <- summary(res)
cat(sprintf("R_SECONDS %.3f\\n", el))
for (i in seq_len(nrow(s))) cat(sprintf("R_COPH %d %.6f\\n", s$rank[i], s$cophenetic[i]))
"""


def _r(V, nrun):
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "v.csv"
        np.savetxt(csv, V.T, delimiter=",")  # R: genes x samples
        script = _R_SCRIPT.format(csv=csv, ranks=f"{RANKS[0]}:{RANKS[-1]}", nrun=nrun)
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print("R failed:", out.stderr[-500:])
        return None
    seconds = float(next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("R_SECONDS")))
    coph = {int(p[1]): float(p[2]) for p in (line.split() for line in out.stdout.splitlines())
            if p and p[0] == "R_COPH"}
    return seconds, coph


def _sklearn(V, fits, iterations):
    import warnings

    from sklearn.decomposition import NMF

    seconds = 0.0
    for r in RANKS:
        for k in range(fits):
            model = NMF(r, beta_loss="kullback-leibler", solver="mu", init="random", random_state=k,
                        max_iter=int(iterations[r]), tol=0)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit_transform(V)
            seconds += time.perf_counter() - start
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=50)
    parser.add_argument("--r-restarts", type=int, default=10, help="0 to skip R")
    parser.add_argument("--sk-restarts", type=int, default=2, help="0 to skip scikit-learn")
    parser.add_argument("--threads", type=int, default=2, help="threads of every solver; nmflab's worker processes")
    parser.add_argument("--out", default="out/bench/survey.json")
    args = parser.parse_args(argv)
    limit_threads(args.threads)
    from nmflab.datasets import load_all_aml

    V = load_all_aml().data
    report = {"restarts": args.restarts, "ranks": RANKS}
    for dtype, workers, key in (("float32", args.threads, "float32"), ("float32", 1, "float32_one_process"),
                                ("float64", args.threads, "float64")):
        seconds, survey = _nmflab(V, args.restarts, dtype, workers)
        report[f"nmflab_{key}_s"] = seconds
        report[f"nmflab_{key}_cophenetic"] = dict(zip(RANKS, survey.column("cophenetic").tolist()))
        report[f"nmflab_{key}_median_iterations"] = dict(zip(RANKS, survey.column("median_iterations").tolist()))
        print(f"nmflab jax {dtype}, {workers} process(es): {seconds:.1f} s; "
              f"cophenetic {np.round(survey.column('cophenetic'), 4)}")
    if args.r_restarts:
        r = _r(V, args.r_restarts)
        if r is not None:
            seconds, coph = r
            scaled = seconds * args.restarts / args.r_restarts
            report.update(r_seconds=seconds, r_restarts=args.r_restarts, r_scaled_s=scaled, r_cophenetic=coph)
            print(f"R NMF brunet, {args.r_restarts} restarts/rank: {seconds:.1f} s "
                  f"(x{args.restarts / args.r_restarts:g} = {scaled:.0f} s); cophenetic {coph}")
    if args.sk_restarts:
        iterations = report["nmflab_float64_median_iterations"]
        seconds = _sklearn(V, args.sk_restarts, iterations)
        scaled = seconds * args.restarts / args.sk_restarts
        report.update(sklearn_seconds=seconds, sklearn_restarts=args.sk_restarts, sklearn_scaled_s=scaled)
        print(f"scikit-learn mu KL, {args.sk_restarts} fits/rank at nmflab's median iterations: {seconds:.1f} s "
              f"(x{args.restarts / args.sk_restarts:g} = {scaled:.0f} s)")
    for key in ("r_scaled_s", "sklearn_scaled_s"):
        if key in report:
            report[key.replace("_s", "_ratio_to_nmflab_float32")] = report[key] / report["nmflab_float32_s"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
