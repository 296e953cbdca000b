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
