"""Solver race: objective against wall time for nmflab's solvers and the peers (reads benchmark results).

This experiment times nothing. It reads the output of
``python -m benchmarks.race`` (objective traces of every solver from the same
start, same data, same threads, one run) and reduces it for the paper: per
data set and loss, the time and iterations each solver needs to come within
1 % and 0.1 % of the best objective any solver reached (the refined figure
where the race timed one, :func:`benchmarks.race.refine`), the ratio to the
fastest peer, and the traces as (seconds, relative gap) curves.

Input, first found: ``--bench FILE``; ``results/bench/race_numpy.json``
(written by ``make paper``, which reruns the benchmark); the recorded run in
``benchmarks/results/race_numpy.json`` (its machine and date are in the file's
provenance).

Run: ``python -m experiments.solver_race [--quick]``; figure:
``python -m paper.figures solver_race``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.race import figure

from .common import Experiment, parse_args

NAME = "solver_race"
CANDIDATES = (Path("results/bench/race_numpy.json"), Path(__file__).resolve().parent.parent / "benchmarks"
              / "results" / "race_numpy.json")


def _bench_file(given: str | None) -> Path:
    if given is not None:
        return Path(given)
    for path in CANDIDATES:
        if path.exists():
            return path
    raise FileNotFoundError("no benchmark results: run `python -m benchmarks.race --out results/bench` first")


def run(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv, add_arguments=lambda parser: parser.add_argument(
        "--bench", default=None, help="the race's JSON (default: the first of results/bench, benchmarks/results)"))
    path = _bench_file(args.bench)
    exp = Experiment(NAME, args)
    bench = json.loads(path.read_text())
    races = []
    for r in bench["results"]:
        key = f"{r['data']}_{r['loss']}"
        best = r["best_objective"]
        for solver, points in r["curves"].items():
            pts = np.array(points, dtype=float)
            exp.arrays[f"{key}__{solver}"] = np.column_stack([pts[:, 0], (pts[:, 1] - best) / best])
        peers = [s for s in r["table"] if not s.startswith("nmflab")]
        ours = [s for s in r["table"] if s.startswith("nmflab")]

        def fastest(names, target):
            times = [(figure(r["table"][s][target])[0], s) for s in names if figure(r["table"][s][target])[0]]
            return min(times) if times else (None, None)

        summary = {}
        for target in ("1%", "0.1%"):
            t_ours, s_ours = fastest(ours, target)
            t_peer, s_peer = fastest(peers, target)
            summary[target] = {"nmflab_best": s_ours, "nmflab_seconds": t_ours, "peer_best": s_peer,
                               "peer_seconds": t_peer,
                               "ratio": (t_peer / t_ours) if (t_ours and t_peer) else None}
        races.append({"key": key, "data": r["data"], "shape": r["shape"], "rank": r["rank"], "loss": r["loss"],
                      "best_objective": best, "table": r["table"], "summary": summary})
    exp.numbers.update({"source": str(path), "threads": bench.get("threads"), "budget_s": bench.get("budget"),
                        "races": races})
    return exp.save()


if __name__ == "__main__":
    print(run())
