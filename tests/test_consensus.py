"""Stability measures against R's NMF package, closed forms and brute force."""

import csv
from pathlib import Path

import numpy as np
import pytest

from theory import consensus as cs

DATA = Path(__file__).parent / "data" / "r_nmf"


def _r_values():
    with open(DATA / "measures_r.csv") as f:
        return {row["measure"]: float(row["value"]) for row in csv.DictReader(f)}


def _load(name):
    return np.loadtxt(DATA / f"measures_{name}.csv", delimiter=",")


def test_measures_match_r_nmf_on_the_same_inputs():
    """Values recorded from R's NMF 0.28 / cluster (make_measures.R) on the inputs of make_measures.py."""
    r = _r_values()
    C, W, H = _load("consensus"), _load("W"), _load("H")
    k = W.shape[1]
    assert cs.cophenetic_correlation(C) == pytest.approx(r["cophenetic"], rel=1e-12)
    assert cs.dispersion(C) == pytest.approx(r["dispersion"], rel=1e-12)
    cons_labels = cs.consensus_clusters(C, k)
    assert cs.silhouette_width(cons_labels, 1 - C) == pytest.approx(r["silhouette_consensus"], rel=1e-12)
    assert cs.correlation_silhouette(W, cs.assignments(W)) == pytest.approx(r["silhouette_coef"], rel=1e-12)
    assert cs.correlation_silhouette(H.T, cs.assignments(H.T), chunk=7) == pytest.approx(r["silhouette_basis"],
                                                                                        rel=1e-12)
    assert cs.sparseness(H) == pytest.approx(r["sparseness_basis"], rel=1e-12)
    assert cs.sparseness(W) == pytest.approx(r["sparseness_coef"], rel=1e-12)


def test_consensus_of_identical_runs_is_binary_with_perfect_scores():
    labels = np.array([0, 0, 1, 2, 1, 2, 0])
    acc = cs.ConsensusAccumulator(7).add(np.tile(labels, (5, 1)))
    C = acc.consensus
    assert set(np.unique(C)) == {0.0, 1.0}
    np.testing.assert_array_equal(C, cs.connectivity(labels))
    assert cs.cophenetic_correlation(C) == 1.0
    assert cs.dispersion(C) == 1.0
    # the consensus clusters are the runs' clusters, up to names
    found = cs.consensus_clusters(C, 3)
    np.testing.assert_array_equal(cs.connectivity(found), C)


def test_accumulation_in_any_split_gives_the_same_counts():
    rng = np.random.default_rng(0)
    runs = rng.integers(0, 3, (40, 15))
    whole = cs.ConsensusAccumulator(15).add(runs)
    parts = cs.ConsensusAccumulator(15)
    for chunk in np.array_split(runs[::-1], 7):
        parts.merge(cs.ConsensusAccumulator(15).add(chunk).counts, len(chunk))
    np.testing.assert_array_equal(whole.counts, parts.counts)
    brute = np.mean([cs.connectivity(r) for r in runs], axis=0)
    np.testing.assert_allclose(whole.consensus, brute, rtol=0, atol=1e-15)
    assert whole.runs == parts.runs == 40


def test_dispersion_closed_form():
    # all pairs at 1/2: dispersion 0 off the diagonal, 1 on it
    n = 6
    C = np.full((n, n), 0.5)
    np.fill_diagonal(C, 1.0)
    assert cs.dispersion(C) == pytest.approx(n / n**2)


def tie_cases():
    """Consensus matrices of few runs (entries multiples of 1 / runs: many equal distances), of 12 to 40
    samples in 2 to 5 groups; make_hclust_ties.py hands the same matrices to R."""
    rng = np.random.default_rng(2025)
    cases = []
    for case in range(10):
        n, groups, runs = int(rng.integers(12, 41)), int(rng.integers(2, 6)), int(rng.integers(4, 13))
        truth = rng.integers(0, groups, n)
        labels = np.array([np.where(rng.random(n) < 0.25, rng.integers(0, groups, n), truth) for _ in range(runs)])
        cases.append((f"case{case:02d}", np.mean(labels[:, :, None] == labels[:, None, :], axis=0)))
    return cases


def _r_hclust():
    out = {}
    with open(DATA / "hclust_ties_r.csv") as f:
        for row in csv.DictReader(f):
            out[(row["case"], row["quantity"])] = np.array(row["values"].split(), dtype=float)
    return out


def test_average_linkage_merges_ties_as_r_does():
    """SciPy's linkage builds another tree where distances tie, and its cophenetic correlation differed from
    R's cophcor in the sixth digit (0.991488 against 0.991493 on an ALL/AML rank-4 consensus). R's values,
    recorded by make_hclust_ties.R: the same merges, heights to the last bits, cophcor and cutree partitions."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    r = _r_hclust()
    differs_from_scipy = 0
    for name, C in tie_cases():
        Z = cs.average_linkage(C)
        np.testing.assert_allclose(Z[:, 2], r[(name, "height")], rtol=1e-15, atol=0)
        n = C.shape[0]
        members = {}
        for step, (a, b) in enumerate(r[(name, "merge")].reshape(-1, 2).astype(int)):  # R: -leaf, or a step
            members[n + step] = {int(x) for x in (
                (-a - 1,) if a < 0 else tuple(members[n + a - 1]))} | {int(x) for x in (
                (-b - 1,) if b < 0 else tuple(members[n + b - 1]))}
        ours = {}
        for step, (a, b) in enumerate(Z[:, :2].astype(int)):
            ours[n + step] = (ours.get(a, {a}) if a >= n else {a}) | (ours.get(b, {b}) if b >= n else {b})
        assert [ours[n + s] for s in range(n - 1)] == [members[n + s] for s in range(n - 1)], name
        assert cs.cophenetic_correlation(C) == pytest.approx(r[(name, "cophcor")][0], rel=1e-13, abs=0)
        for k in range(2, 6):
            expected = r[(name, f"cutree{k}")].astype(int)
            got = cs.consensus_clusters(C, k)
            assert len(set(got)) == k
            np.testing.assert_array_equal(got[:, None] == got[None, :], expected[:, None] == expected[None, :])
        scipy_heights = linkage(squareform(1 - C, checks=False), method="average")[:, 2]
        differs_from_scipy += not np.array_equal(np.sort(scipy_heights), np.sort(Z[:, 2]))
    assert differs_from_scipy > 0  # the cases do exercise the ties on which the two trees part


def test_cophenetic_correlation_brute_force_on_a_small_case():
    """Average linkage by hand on 4 points: merge the closest pair, average the distances, repeat."""
    C = np.array([[1.0, 0.9, 0.2, 0.1], [0.9, 1.0, 0.3, 0.2], [0.2, 0.3, 1.0, 0.6], [0.1, 0.2, 0.6, 1.0]])
    D = 1 - C
    # merges: {0,1} at 0.1; {2,3} at 0.4; then the two clusters at mean(0.8,0.9,0.7,0.8) = 0.8
    coph = {(0, 1): 0.1, (2, 3): 0.4}
    for i in (0, 1):
        for j in (2, 3):
            coph[(i, j)] = np.mean([D[0, 2], D[0, 3], D[1, 2], D[1, 3]])
    pairs = sorted(coph)
    expected = np.corrcoef([D[p] for p in pairs], [coph[p] for p in pairs])[0, 1]
    assert cs.cophenetic_correlation(C) == pytest.approx(expected, rel=1e-12)


def test_silhouette_brute_force_and_singletons():
    rng = np.random.default_rng(3)
    X = rng.random((9, 2))
    D = np.linalg.norm(X[:, None] - X[None], axis=-1)
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2])
    widths = []
    for i in range(9):
        own = [j for j in range(9) if labels[j] == labels[i] and j != i]
        a = np.mean(D[i, own])
        b = min(np.mean(D[i, labels == c]) for c in set(labels) - {labels[i]})
        widths.append((b - a) / max(a, b))
    assert cs.silhouette_width(labels, D) == pytest.approx(np.mean(widths), rel=1e-12)
    singleton = labels.copy()
    singleton[8] = 3
    s = cs.silhouette_width(singleton, D)
    assert np.isfinite(s)
    assert np.isnan(cs.silhouette_width(np.zeros(9), D))


def test_correlation_silhouette_equals_the_full_matrix_version():
    rng = np.random.default_rng(4)
    X = rng.random((50, 4))
    labels = cs.assignments(X)
    D = 1 - np.corrcoef(X)
    assert cs.correlation_silhouette(X, labels, chunk=8) == pytest.approx(cs.silhouette_width(labels, D), rel=1e-12)


def test_sparseness_extremes():
    assert cs.sparseness(np.array([[0.0, 0.0, 3.0, 0.0]])) == pytest.approx(1.0)
    assert cs.sparseness(np.array([[2.0, 2.0, 2.0, 2.0]])) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least 2"):
        cs.sparseness(np.ones((3, 1)))


def test_rss_and_explained_variance():
    rng = np.random.default_rng(5)
    W, H = rng.random((6, 2)), rng.random((2, 5))
    V = W @ H
    assert cs.rss(V, W, H) == pytest.approx(0.0, abs=1e-25)
    assert cs.explained_variance(V, W, H) == pytest.approx(1.0)
    assert cs.explained_variance(V, W, 0 * H) == pytest.approx(0.0)


@pytest.mark.parametrize("bad", [np.ones((2, 3)), np.array([[1.0, 2.0], [2.0, 1.0]]), np.zeros((0, 0))])
def test_consensus_input_is_checked(bad):
    with pytest.raises(ValueError):
        cs.dispersion(bad)
