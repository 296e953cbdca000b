"""Checked proofs of the refined covering bound: nmflab's formula, a DRAT proof from CaDiCaL, drat-trim's verdict.

``refined_rectangle_cover`` proves "rank₊ >= k + 1" when its CNF for k
rectangles (:class:`theory.nnrank._sat.CoverFormula`) is unsatisfiable;
python-sat's CaDiCaL says so but writes no proof. This experiment writes the
same formula (the same refined pairs, the same fooling-set symmetry breaking)
as DIMACS, has the ``cadical`` program prove it unsatisfiable with a DRAT
proof, and has ``drat-trim`` check that proof and translate it to LRAT, which
``lrat-check`` checks again (two independent checkers: drat-trim's backward
checking, lrat-check's replay of every resolution hint).

The cases: the regular 13-gon at k = 7 (its 8, Vandaele, Gillis & Glineur
2017) and the regular 14-gon at k = 7 (its 8, open in the literature as
known here; the exact-NMF search gives the matching upper bound); ``--quick``
runs the 9-gon at k = 6 (its 7). The refined pairs come from the
floating-point slack matrix; the slow test
``test_the_14gon_has_no_refined_cover_of_7_and_its_cross_ratios_hold_exactly`` checks each
pair's cross-ratio inequality in interval arithmetic on the exact entries,
so the formula is the one of the regular polygon.

The programs (none is a Python dependency): ``cadical`` from Debian
(``apt-get install cadical``); ``drat-trim`` and ``lrat-check`` built from
https://github.com/marijnheule/drat-trim (``gcc -O2 -o drat-trim
drat-trim.c``), on ``PATH`` or named by ``DRAT_TRIM`` / ``LRAT_CHECK``. A
missing program is reported as such and the case left unchecked. Proof files
(50-100 MB each) are deleted after checking; ``--keep-proofs`` keeps them.

Run: ``python -m experiments.cover_proof [--quick] [--keep-proofs]``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from nmflab.io import atomic_write_bytes
from theory import gallery
from theory.nnrank._matrix import as_matrix
from theory.nnrank._sat import CoverFormula
from theory.nnrank.refined import refined_cover_formula

from .common import Experiment, parse_args

NAME = "cover_proof"
#: (regular n-gon, k): the formula "a refined cover with k rectangles" to refute.
CASES = [(13, 7), (14, 7)]
QUICK_CASES = [(9, 6)]


def dimacs(formula: CoverFormula, comment: str) -> str:
    """The formula in DIMACS CNF, written by python-sat (every variable occurs in some clause)."""
    import io

    from pysat.formula import CNF

    text = io.StringIO()
    CNF(from_clauses=formula.clauses).to_fp(text, comments=[f"c {comment}"])
    return text.getvalue()


def _program(name: str, variable: str) -> str | None:
    return os.environ.get(variable) or shutil.which(name)


def _run(command, seconds_key: str, record: dict) -> subprocess.CompletedProcess:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    record[seconds_key] = time.perf_counter() - start
    return done


def _status_line(output: str) -> str | None:
    """The verdict line of a SAT solver or checker: ``s ...``, or lrat-check's ``c VERIFIED`` / ``c FAILED``."""
    for line in output.splitlines():
        if line.startswith("s ") or line.strip() in ("c VERIFIED", "c FAILED"):
            return line.strip()
    return None


def prove(n: int, k: int, folder, keep_proofs: bool = False) -> dict:
    """Write the n-gon's formula for k rectangles, prove it unsatisfiable and check the proof; the record."""
    formula = refined_cover_formula(as_matrix(gallery.ngon_slack(n).matrix), k)
    stem = folder / f"ngon{n}_k{k}"
    cnf, drat, lrat = (stem.with_suffix(suffix) for suffix in (".cnf", ".drat", ".lrat"))
    atomic_write_bytes(cnf, dimacs(formula, f"regular {n}-gon slack matrix: a refined cover with {k} "
                                            f"rectangles").encode())
    record = {"n": n, "k": k, "variables": int(formula.c.max()), "clauses": len(formula.clauses), "cnf": cnf.name}
    cadical, drat_trim, lrat_check = (_program("cadical", "CADICAL"), _program("drat-trim", "DRAT_TRIM"),
                                      _program("lrat-check", "LRAT_CHECK"))
    if cadical is None:
        record["solver"] = "not run: cadical not found (apt-get install cadical)"
        return record
    done = _run([cadical, "-q", "--no-binary", str(cnf), str(drat)], "solver_seconds", record)
    record["solver"] = _status_line(done.stdout) or f"failed (exit code {done.returncode}): {done.stderr[-200:]}"
    try:
        if record["solver"] != "s UNSATISFIABLE":
            return record
        record["proof_bytes"] = drat.stat().st_size
        if drat_trim is None:
            record["drat_trim"] = "not run: drat-trim not found (build it from github.com/marijnheule/drat-trim)"
            return record
        done = _run([drat_trim, str(cnf), str(drat), "-t", "100000", "-L", str(lrat)], "drat_trim_seconds", record)
        record["drat_trim"] = _status_line(done.stdout) or f"failed (exit code {done.returncode})"
        if record["drat_trim"] != "s VERIFIED" or lrat_check is None:
            record["lrat_check"] = "not run" + ("" if lrat_check else ": lrat-check not found")
            return record
        done = _run([lrat_check, str(cnf), str(lrat)], "lrat_check_seconds", record)
        record["lrat_check"] = _status_line(done.stdout) or f"failed (exit code {done.returncode})"
        return record
    finally:
        if not keep_proofs:
            for path in (drat, lrat):
                path.unlink(missing_ok=True)


def checked(record: dict) -> bool:
    """Whether the record's refutation was proved and both checkers accepted the proof."""
    return (record.get("solver") == "s UNSATISFIABLE" and record.get("drat_trim") == "s VERIFIED"
            and record.get("lrat_check") == "c VERIFIED")


def run(argv=None):
    def add(parser):
        parser.add_argument("--keep-proofs", action="store_true", help="keep the DRAT and LRAT proof files")

    args = parse_args(NAME, __doc__.splitlines()[0], argv, add_arguments=add)
    exp = Experiment(NAME, args)
    records = [prove(n, k, exp.dir, args.keep_proofs) for n, k in (QUICK_CASES if args.quick else CASES)]
    exp.numbers["cases"] = records
    exp.numbers["n_checked"] = sum(checked(r) for r in records)
    lines = ["| formula | variables | clauses | CaDiCaL | drat-trim | lrat-check |", "|---|---|---|---|---|---|"]
    for r in records:
        seconds = {key: f" ({r[key]:.1f} s)" if key in r else "" for key in
                   ("solver_seconds", "drat_trim_seconds", "lrat_check_seconds")}
        lines.append(f"| {r['n']}-gon, {r['k']} rectangles | {r['variables']} | {r['clauses']} | "
                     f"{r['solver']}{seconds['solver_seconds']} | {r.get('drat_trim', '')}"
                     f"{seconds['drat_trim_seconds']} | {r.get('lrat_check', '')}{seconds['lrat_check_seconds']} |")
    atomic_write_bytes(exp.path("proofs.md"), ("\n".join(lines) + "\n").encode())
    return exp.save()


if __name__ == "__main__":
    print(run())
