"""Non-negative rank bounds for the gallery: every method on every matrix, beside the literature.

For each matrix of :func:`theory.gallery.standard_gallery` (identity, all-ones,
Thomas, LEDM(3..16), regular n-gons 3..16, nested rectangles and hexagons,
A(α), a direct sum), :func:`theory.nnrank.nonneg_rank_bounds` runs with
``methods="all"`` (every method, even after the bounds meet) under a time
limit per matrix. The results give, per matrix, the computed lower and upper
bounds, whether they meet, the literature interval, and each method's bound,
value and time; ``table.md`` is the paper's table.

Resumable: each matrix's record is written to ``cases/`` as it finishes and
is reused by a later run with the same settings and the same bound code.

Run: ``python -m experiments.rank_gap [--quick]``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import theory
from nmflab.io import atomic_write_bytes
from theory.gallery import standard_gallery
from theory.nnrank import nonneg_rank_bounds

from .common import Experiment, parse_args

NAME = "rank_gap"


def _code_hash() -> str:
    """SHA-256 of the bound and gallery sources: a finished case is reused only by the same code."""
    root = Path(theory.__file__).parent
    digest = hashlib.sha256()
    for path in sorted([*root.glob("nnrank/*.py"), root / "gallery.py"]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _load_case(path, settings):
    """A finished case computed with the same settings and code, or None (missing or damaged)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("settings") == settings else None


def _compute_case(g, settings) -> dict:
    bounds = nonneg_rank_bounds(g.matrix, methods=settings["methods"], time_limit=settings["time_limit"],
                                seed=settings["seed"])
    return {
        "name": g.name, "settings": settings, "shape": list(bounds.shape), "rank": bounds.rank,
        "literature": list(g.nonneg_rank), "source": g.source,
        "lower": bounds.lower, "upper": bounds.upper, "exact": bounds.exact,
        "certificate": bounds.to_dict()["certificate"],
        "methods": {
            e.method + (f"@{e.data.get('rank')}" if e.method in ("exact_nmf_heuristic", "smt") else ""): {
                "kind": e.kind, "bound": e.bound, "value": e.value, "seconds": e.seconds, "status": e.status}
            for e in bounds.evidence},
    }


def _case_file(exp: Experiment, name: str):
    safe = "".join(c if c.isalnum() or c in "-_.," else "_" for c in name)
    return exp.path(f"cases/{safe}.json")


def run(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    exp = Experiment(NAME, args, seeds=[0])
    # --quick: no clock, each method to its own work budget, so the quick results (and the test that reads
    # them) are the same on every machine; the full run gives each matrix 180 s.
    time_limit = None if args.quick else 180.0
    max_size = 4 if args.quick else 16
    workers = 1 if args.quick else max(1, min(2, os.cpu_count() or 1))
    settings = {"time_limit": time_limit, "methods": "all", "seed": 0, "code": _code_hash()}
    exp.path("cases").mkdir(parents=True, exist_ok=True)
    items = standard_gallery(max_size)
    records = {g.name: _load_case(_case_file(exp, g.name), settings) for g in items}
    todo = [g for g in items if records[g.name] is None]
    if todo:
        # matrices are independent: run them side by side, saving each as it finishes
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(_compute_case, g, settings): g for g in todo}
            for future in concurrent.futures.as_completed(futures):
                record = future.result()
                atomic_write_bytes(_case_file(exp, record["name"]),
                                   (json.dumps(record, indent=1, default=float) + "\n").encode())
                records[record["name"]] = record
    rows = []
    for g in items:
        record = records[g.name]
        lit_low, lit_high = record["literature"]
        record["consistent"] = record["lower"] <= lit_high and record["upper"] >= lit_low
        rows.append(record)
    exp.numbers["cases"] = rows
    exp.numbers["n_cases"] = len(rows)
    exp.numbers["n_exact"] = sum(r["exact"] for r in rows)
    exp.numbers["n_consistent"] = sum(r["consistent"] for r in rows)
    exp.numbers["n_literature_settled"] = sum(r["literature"][0] == r["literature"][1] for r in rows)
    exp.numbers["n_matching_settled"] = sum(
        r["exact"] and r["literature"][0] == r["literature"][1] == r["lower"] for r in rows)
    atomic_write_bytes(exp.path("table.md"), markdown_table(rows).encode())
    return exp.save()


def _fmt_interval(low, high) -> str:
    return str(low) if low == high else f"[{low}, {high}]"


def markdown_table(rows) -> str:
    """One line per matrix: literature, computed bounds, and the best lower bound per method family."""
    columns = ["fooling_set", "rectangle_cover", "refined_rectangle_cover", "hyperplane_separation",
               "nonneg_nuclear_norm", "tau_sos", "tau_plus", "nested_polygons", "geometric"]
    head = ["matrix", "size", "rank", "rank₊ (literature)", "computed", *columns, "time (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["name"], "x".join(map(str, r["shape"])), str(r["rank"]), _fmt_interval(*r["literature"]),
                 _fmt_interval(r["lower"], r["upper"]) + (" ✓" if r["exact"] else "")]
        for c in columns:
            e = r["methods"].get(c)
            if e is None or e["bound"] is None:
                cells.append("–")
            else:
                value = e["value"]
                cells.append(f"{e['bound']}" + (f" ({value:.3f})" if value is not None and value != e["bound"] else ""))
        cells.append(f"{sum(e['seconds'] for e in r['methods'].values()):.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
