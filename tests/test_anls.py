"""ANLS by block principal pivoting: each subproblem against scipy's NNLS (Lawson–Hanson), fits against KKT.

The registry's contract tests (tests/test_rule_contract.py) cover what every
rule must do (descent, NumPy = JAX, batches, sparse = dense, masks, float32,
penalties, bad input); here are the checks of its own math.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import nnls as scipy_nnls

import nmflab
from nmflab.losses import Penalty, kkt_residual
from nmflab.rules.anls import nnls, weighted_grams


def _lawson_hanson(C, B):
    """Column by column ``argmin_{x >= 0} ||C x - b||`` (scipy's active-set solver, an independent method)."""
    return np.column_stack([scipy_nnls(C, B[:, j], maxiter=50 * C.shape[1])[0] for j in range(B.shape[1])])


def _problem(rng, rows, rank, cols, collinear=False, dead=False):
    C = rng.random((rows, rank)) * (rng.random((rows, rank)) < 0.7)
    if collinear and rank > 1:
        C[:, -1] = C[:, 0] * 0.5
    if dead:
        C[:, rank // 2] = 0.0
    B = rng.random((rows, cols)) - 0.3  # some right-hand sides pull entries below 0
    return C, B


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rank=st.integers(1, 9), cols=st.integers(1, 12),
       warm=st.booleans(), dead=st.booleans())
def test_pivoting_finds_the_nnls_minimizer_of_every_column(seed, rank, cols, warm, dead):
    rng = np.random.default_rng(seed)
    C, B = _problem(rng, rank + 6, rank, cols, dead=dead)
    X0 = rng.random((rank, cols)) * (rng.random((rank, cols)) < 0.5) if warm else np.zeros((rank, cols))
    X = nnls(np, C.T @ C, C.T @ B, X0)
    expected = _lawson_hanson(C, B)
    assert np.all(X >= 0)
    # the minimizer is unique on the live components; the objective values agree to rounding
    live = np.any(C != 0, axis=0)
    np.testing.assert_allclose(X[live], expected[live], rtol=1e-8, atol=1e-10)
    if dead:  # a zero column of C: any value is a minimizer; the start's value is kept
        np.testing.assert_array_equal(X[~live], X0[~live])


@pytest.mark.parametrize("per_column", [False, True])
def test_solving_in_chunks_of_columns_gives_the_same_digits(monkeypatch, per_column):
    """NumPy forms the masked systems a chunk of columns at a time (bounded memory): the same minimizer, bit for
    bit, as one batch, and that of Lawson–Hanson."""
    import nmflab.rules.anls as anls

    masked_systems = anls._masked_systems
    rng = np.random.default_rng(11)
    C, B = _problem(rng, 30, 10, 300)  # rank 10: mostly distinct passive sets, so no grouped solve
    G = weighted_grams(np, np.ones((30, 300)), C) if per_column else C.T @ C
    X0 = np.zeros((10, 300))
    whole = nnls(np, G, C.T @ B, X0)
    chunks = []
    monkeypatch.setattr(anls, "SOLVE_ENTRIES", 7 * 100)  # chunks of 7 columns
    monkeypatch.setattr(anls, "_masked_systems", lambda *args: chunks.append(1) or masked_systems(*args))
    chunked = nnls(np, G, C.T @ B, X0)
    assert len(chunks) > 300 // 7  # the chunked path ran
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_allclose(whole, _lawson_hanson(C, B), rtol=1e-8, atol=1e-10)


def test_a_negative_right_hand_side_sends_a_dead_component_to_zero():
    """With an L1 penalty a dead component's objective is l1 * x: its only minimizer is 0."""
    rng = np.random.default_rng(1)
    C, B = _problem(rng, 8, 3, 4, dead=True)
    X = nnls(np, C.T @ C, C.T @ B - 0.1, np.ones((3, 4)))
    assert np.all(X[1] == 0)


def test_collinear_columns_still_give_a_minimizer():
    """A singular Gram matrix: the minimizer is not unique, its objective value is."""
    rng = np.random.default_rng(2)
    C, B = _problem(rng, 10, 4, 6, collinear=True)
    X = nnls(np, C.T @ C, C.T @ B, np.zeros((4, 6)))
    expected = _lawson_hanson(C, B)
    assert np.all(np.isfinite(X)) and np.all(X >= 0)
    np.testing.assert_allclose(np.sum((C @ X - B) ** 2, axis=0), np.sum((C @ expected - B) ** 2, axis=0),
                               rtol=1e-9, atol=1e-12)


def test_per_column_grams_solve_the_weighted_problems():
    """Row-wise weighted NNLS: column j minimizes ||diag(sqrt(m_j)) (C x - b_j)||."""
    rng = np.random.default_rng(3)
    C, B = _problem(rng, 12, 4, 7)
    M = (rng.random(B.shape) < 0.7).astype(float)
    X = nnls(np, weighted_grams(np, M, C), C.T @ (M * B), np.zeros((4, 7)))
    for j in range(B.shape[1]):
        s = np.sqrt(M[:, j])
        np.testing.assert_allclose(X[:, j], scipy_nnls(s[:, None] * C, s * B[:, j])[0], rtol=1e-8, atol=1e-10)


def test_a_pivoting_budget_never_makes_a_column_worse():
    """Cut off before it finishes, a column keeps its start unless the clipped pivot is at least as good."""
    rng = np.random.default_rng(4)
    C, B = _problem(rng, 30, 8, 40)
    G, A = C.T @ C, C.T @ B
    X0 = rng.random((8, 40))

    def value(X):
        return np.sum(X * (0.5 * G @ X - A), axis=0)

    X = nnls(np, G, A, X0, max_pivots=0)
    assert np.all(X >= 0) and np.all(value(X) <= value(X0) + 1e-12)
    assert np.any(value(X) < value(X0))


@pytest.mark.parametrize("penalty", [Penalty(l1_H=0.3), Penalty(l2_H=2.0), Penalty(l1_H=0.2, l2_H=0.5)])
def test_one_step_solves_the_penalized_block_exactly(rng, penalty):
    """H after one step is scipy's NNLS of the augmented system: [W; sqrt(l2) I] h = [v - l1 W^+ ...]."""
    V = rng.random((25, 15))
    W0, H0 = rng.random((25, 4)), rng.random((4, 15))
    res = nmflab.nmf(V, 4, method="anls", init=(W0, H0), max_iter=1, stop="max_iter", **vars(penalty))
    # 0.5 h^T (W^T W + l2 I) h - (W^T v - l1)^T h is, up to a constant, 0.5 ||C h - d||^2 with C^T C = W^T W + l2 I
    # and C^T d = W^T v - l1: C = [W; sqrt(l2) I], d solved by least squares from C^T d = W^T V - l1
    C = np.vstack([W0, np.sqrt(penalty.l2_H) * np.eye(4)])
    D = np.linalg.lstsq(C.T, W0.T @ V - penalty.l1_H, rcond=None)[0]
    np.testing.assert_allclose(res.H, _lawson_hanson(C, D), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("penalty", [Penalty(), Penalty(l1_W=0.5, l1_H=0.5), Penalty(l2_W=1.0, l2_H=1.0)])
def test_a_converged_fit_is_stationary(rng, penalty):
    """Exact block minimization ends at a KKT point (Grippo & Sciandrone 2000)."""
    V = rng.random((40, 25))
    res = nmflab.nmf(V, 5, method="anls", seed=0, stop="kkt", kkt_tol=1e-8, max_iter=5000, **vars(penalty))
    assert res.status == nmflab.Status.KKT
    assert kkt_residual(np, 2.0, V, res.W, res.H, penalty=penalty) < 1e-8


def test_masked_fit_is_stationary_on_the_counted_entries(rng):
    V = rng.random((30, 20))
    mask = rng.random(V.shape) < 0.8
    res = nmflab.nmf(V, 4, method="anls", seed=1, stop="kkt", kkt_tol=1e-8, max_iter=5000, mask=mask)
    assert res.status == nmflab.Status.KKT
    assert kkt_residual(np, 2.0, V, res.W, res.H, weights=mask.astype(float)) < 1e-8


def test_a_configured_rule_sets_its_own_fields(rng):
    """method= a rule instance: its fields (here R's beta, the sparsity weight) reach the fit."""
    V = rng.random((30, 20))
    start = (rng.random((30, 3)), rng.random((3, 20)))
    kw = dict(init=start, max_iter=20, stop="max_iter")
    default = nmflab.nmf(V, 3, method="snmf/r", **kw)
    same = nmflab.nmf(V, 3, method=nmflab.rules.SparseNMFRight(), **kw)
    sparser = nmflab.nmf(V, 3, method=nmflab.rules.SparseNMFRight(sparsity=5.0), **kw)
    np.testing.assert_array_equal(default.W, same.W)
    # a heavier squared-L1 weight on the rows of W shrinks their sums
    assert sparser.W.sum(axis=1).mean() < default.W.sum(axis=1).mean()
    penalized = nmflab.nmf(V, 3, method=nmflab.rules.ANLS(max_pivots=50), l1_H=0.5, **kw)
    assert penalized.method == "anls"
    np.testing.assert_allclose(penalized.W, nmflab.nmf(V, 3, method="anls", l1_H=0.5, **kw).W, rtol=1e-12)
