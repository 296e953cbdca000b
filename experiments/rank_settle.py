"""How ``nonneg_rank_bounds`` settles the gallery: each settled matrix as given and disguised, with its time.

For every matrix of :func:`theory.gallery.standard_gallery` whose rank₊ the
literature has settled, :func:`theory.nnrank.nonneg_rank_bounds` runs in its
default mode (``methods="auto"``: cheap bounds first, stop when the bounds
meet) with a time limit of 300 s, on the matrix and on a disguised copy: rows
and columns permuted, each scaled by ``10**U(-3, 3)``, transposed, as
floats (so an integer matrix loses its exactness). Reported per case: the
bounds, whether they settle at the literature's value, which methods gave
them and the seconds taken (``settle.md``). The issue's target: every case
settled, each within 5 minutes on the 2-core machine.

The gallery's *open* matrices (the literature gives an interval: LEDM(9),
LEDM(13), LEDM(14), the 14-gon) run the same way after them and are listed
apart (``open.md``): a case whose bounds meet inside the literature's
interval is settled beyond it.

Resumable: each case is written to ``cases/`` as it finishes and reused by a
later run with the same settings and the same bound code. Cases run one at
a time, so the seconds are those of one case on the machine.

Run: ``python -m experiments.rank_settle [--quick]``.
"""

from __future__ import annotations

import json
import time
import zlib

import numpy as np

from nmflab.io import atomic_write_bytes
from theory.gallery import GalleryMatrix, standard_gallery
from theory.nnrank import nonneg_rank_bounds

from .common import Experiment, parse_args
from .rank_gap import _case_file, _code_hash, _load_case

NAME = "rank_settle"
#: Seconds per case (the issue's bound on settling a gallery matrix).
TIME_LIMIT = 300.0


def disguise(g: GalleryMatrix) -> np.ndarray:
    """``g.matrix`` with rows and columns permuted and positively scaled, transposed, in floats (seeded by the name)."""
    M = np.asarray(g.matrix, dtype=float)
    rng = np.random.default_rng(zlib.crc32(g.name.encode()))
    rows, cols = rng.permutation(M.shape[0]), rng.permutation(M.shape[1])
    r, c = 10.0 ** rng.uniform(-3, 3, M.shape[0]), 10.0 ** rng.uniform(-3, 3, M.shape[1])
    return (r[:, None] * M * c[None, :])[rows][:, cols].T


def _compute_case(name: str, M, literature, settings) -> dict:
    start = time.perf_counter()
    bounds = nonneg_rank_bounds(M, time_limit=settings["time_limit"], seed=settings["seed"])
    seconds = time.perf_counter() - start
    deciding = sorted({e.method for e in bounds.evidence
                       if e.bound is not None and ((e.kind in ("lower", "exact") and e.bound == bounds.lower)
                                                   or (e.kind in ("upper", "exact") and e.bound == bounds.upper))})
    return {"name": name, "settings": settings, "literature": list(literature), "lower": bounds.lower,
            "upper": bounds.upper, "settled": bounds.lower == bounds.upper == literature[0] == literature[1],
            "settled_beyond_literature": literature[0] < literature[1] and
            literature[0] <= bounds.lower == bounds.upper <= literature[1],
            "certificate_exact": bounds.certificate.exact, "deciding_methods": deciding, "seconds": seconds,
            "evidence": [{"method": e.method, "kind": e.kind, "bound": e.bound, "seconds": e.seconds,
                          "status": e.status} for e in bounds.evidence]}


def run(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    exp = Experiment(NAME, args, seeds=[0])
    # --quick: the small matrices without a clock (work budgets only), the same on every machine
    time_limit = None if args.quick else TIME_LIMIT
    settings = {"time_limit": time_limit, "seed": 0, "code": _code_hash()}
    exp.path("cases").mkdir(parents=True, exist_ok=True)
    # smallest first, so that an interrupted run has settled the most cases; the open matrices last
    gallery = sorted(standard_gallery(4 if args.quick else 16), key=lambda g: max(np.shape(g.matrix)))
    items = [g for g in gallery if g.settled] + ([] if args.quick else [g for g in gallery if not g.settled])
    rows = []
    for g in items:
        for label, M in (("as given", g.matrix), ("disguised", disguise(g))):
            name = f"{g.name} {label}"
            path = _case_file(exp, name)
            record = _load_case(path, settings)
            if record is None:
                record = _compute_case(name, M, g.nonneg_rank, settings)
                atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
            rows.append(record)
    open_rows = [r for r in rows if r["literature"][0] < r["literature"][1]]
    rows = [r for r in rows if r not in open_rows]
    exp.numbers["open_cases"] = open_rows
    exp.numbers["n_settled_beyond_literature"] = sum(r["settled_beyond_literature"] for r in open_rows)
    atomic_write_bytes(exp.path("open.md"), markdown_table(open_rows).encode())
    exp.numbers["cases"] = rows
    exp.numbers["n_cases"] = len(rows)
    exp.numbers["n_settled"] = sum(r["settled"] for r in rows)
    exp.numbers["max_seconds"] = max(r["seconds"] for r in rows + open_rows)
    atomic_write_bytes(exp.path("settle.md"), markdown_table(rows).encode())
    return exp.save()


def markdown_table(rows) -> str:
    """One line per case: literature, bounds, whether settled, the deciding methods, seconds."""
    lines = ["| case | rank₊ (literature) | computed | settled | deciding methods | time (s) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        low, high = r["literature"]
        literature = str(low) if low == high else f"[{low}, {high}]"
        computed = str(r["lower"]) if r["lower"] == r["upper"] else f"[{r['lower']}, {r['upper']}]"
        settled = "✓" if r["settled"] else "✓ (beyond the literature)" if r.get("settled_beyond_literature") else "✗"
        lines.append(f"| {r['name']} | {literature} | {computed} | {settled} | "
                     f"{', '.join(r['deciding_methods'])} | {r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
