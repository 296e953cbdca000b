"""Losses against independent formulas; each rule's descent and fixed points."""

import numpy as np
import pytest
import scipy.special

import nmflab
from nmflab import losses
from nmflab.data import as_data
from nmflab.rules import MultiplicativeFrobenius, MultiplicativeKL

from ._problems import random_problem


def test_frobenius_trace_identity_matches_the_residual(rng):
    V, W, H = random_problem(rng, 15, 11, 4)
    rule, data = MultiplicativeFrobenius(), as_data(np, V)
    consts = rule.prepare(np, data)
    state = rule.init(np, data, W, H, consts)
    direct = 0.5 * np.sum((V - W @ H) ** 2)
    assert losses.frobenius(np, V, W, H) == pytest.approx(direct, rel=1e-14)
    identity = losses.frobenius_from_products(np, data.norm_sq, W, state.VHt, state.HHt)
    assert identity == pytest.approx(direct, rel=1e-12)
    assert rule.objective(np, data, W, H, state, consts) == pytest.approx(direct, rel=1e-12)


def test_frobenius_objective_falls_back_to_the_residual_near_an_exact_fit(rng):
    W = rng.uniform(0, 1, (20, 3))
    H = rng.uniform(0, 1, (3, 10))
    V = W @ H
    Hp = H * (1 + 1e-9)
    rule, data = MultiplicativeFrobenius(), as_data(np, V)
    consts = rule.prepare(np, data)
    value = rule.objective(np, data, W, Hp, rule.init(np, data, W, Hp, consts), consts)
    exact = 0.5 * np.sum((V - W @ Hp) ** 2)
    assert value == pytest.approx(exact, rel=1e-6)


def test_kl_matches_scipy_kl_div(rng):
    V, W, H = random_problem(rng, 8, 7, 2)
    V[0, 0] = 0.0  # 0 log 0 = 0
    expected = scipy.special.kl_div(V, W @ H).sum()
    assert losses.kl_divergence(np, V, W @ H) == pytest.approx(expected, rel=1e-13)


def test_kl_is_infinite_where_the_model_is_zero_and_the_data_is_not():
    V = np.array([[1.0, 0.0], [2.0, 3.0]])
    WH = np.array([[0.0, 0.0], [2.0, 3.0]])
    with np.errstate(divide="ignore"):
        assert losses.kl_divergence(np, V, WH) == np.inf


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_objective_invariant_under_diagonal_rescaling(rng, loss):
    V, W, H = random_problem(rng, 10, 8, 3)
    D = np.diag([0.5, 3.0, 7.0])
    fn = {"frobenius": lambda W, H: losses.frobenius(np, V, W, H), "kl": lambda W, H: losses.kl_divergence(np, V, W @ H)}[loss]
    assert fn(W @ D, np.linalg.inv(D) @ H) == pytest.approx(fn(W, H), rel=1e-12)


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("problem", range(5))
def test_monotone_descent_from_a_fixed_start(backend, loss, problem):
    rng = np.random.default_rng(problem)
    n, p, r = rng.integers(3, 25), rng.integers(3, 25), rng.integers(1, 6)
    V, W0, H0 = random_problem(rng, n, p, r, noise=0.3)
    res = nmflab.nmf(V, int(r), loss=loss, method="mu", init=(W0, H0), max_iter=300, stop="max_iter", check_every=1,
                     backend=backend)
    trace = np.concatenate([[res.initial_objective], res.objective])
    increases = np.diff(trace) / trace[:-1]
    assert increases.max() <= 1e-12, f"objective rose by {increases.max():.2e} relative"
    assert trace[-1] < trace[0]


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_exactly_factorizable_matrix_is_recovered(loss):
    # W and H both hold a scaled permutation matrix (pure samples, disjoint
    # parts), which makes the factorization unique up to scaling and order.
    rng = np.random.default_rng(7)
    W = np.vstack([np.diag([1.0, 2.0, 3.0]), rng.uniform(0.5, 1.5, (27, 3))])
    H = np.kron(np.eye(3), np.ones((1, 5)))
    V = W @ H
    res = nmflab.nmf(V, 3, loss=loss, method="mu", init="random", seed=3, max_iter=20000, tol=1e-12, eps=0.0)
    # MU approaches the zeros of H only sublinearly (Lin 2007): 20000
    # iterations bring the relative error to ~2e-4 here, the parts to cosine 1 - 6e-7.
    assert nmflab.diagnostics.relative_error(V, res.W, res.H) < 1e-3
    assert nmflab.diagnostics.recovery_score(res.H, H) > 0.9999


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_exactly_factorizable_positive_matrix_is_fitted(loss):
    rng = np.random.default_rng(8)
    V = rng.uniform(0.5, 1.5, (30, 3)) @ rng.uniform(0.5, 1.5, (3, 15))
    res = nmflab.nmf(V, 3, loss=loss, method="mu", init="random", seed=1, max_iter=20000, tol=0.0, eps=0.0)
    start = nmflab.nmf(V, 3, loss=loss, method="mu", init="random", seed=1, max_iter=1, stop="max_iter", eps=0.0)
    assert start.initial_objective > 1e5 * res.final_objective
    assert nmflab.diagnostics.relative_error(V, res.W, res.H) < 1e-4


def test_rules_accept_a_leading_batch_axis(rng):
    V, W0, H0 = random_problem(rng, 9, 6, 2)
    Ws = np.stack([W0, 2 * W0])
    Hs = np.stack([H0, 0.5 * H0 + 0.1])
    data = as_data(np, V)
    for rule in (MultiplicativeFrobenius(), MultiplicativeKL()):
        consts = rule.prepare(np, data)
        state = rule.init(np, data, Ws, Hs, consts)
        Wb, Hb, state_b = rule.update(np, data, Ws, Hs, state, consts)
        objective_b = rule.objective(np, data, Wb, Hb, state_b, consts)
        for b in range(2):
            s1 = rule.init(np, data, Ws[b], Hs[b], consts)
            W1, H1, s1 = rule.update(np, data, Ws[b], Hs[b], s1, consts)
            np.testing.assert_allclose(Wb[b], W1, rtol=1e-14)
            np.testing.assert_allclose(Hb[b], H1, rtol=1e-14)
            assert objective_b[b] == pytest.approx(rule.objective(np, data, W1, H1, s1, consts), rel=1e-12)


def _sklearn_mu(V, W, H, beta, iterations):
    from sklearn.decomposition import non_negative_factorization
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return non_negative_factorization(
            V, W=W.copy(), H=H.copy(), n_components=W.shape[1], init="custom", solver="mu",
            beta_loss=beta, max_iter=iterations, tol=0.0, alpha_W=0.0, alpha_H=0.0,
        )[:2]


@pytest.mark.parametrize("loss,beta", [("frobenius", "frobenius"), ("kl", "kullback-leibler")])
def test_iterates_match_scikit_learn_mu(rng, loss, beta):
    """scikit-learn's MU updates W, then H; ours H, then W. Started from
    (W0, H1), its k iterations give our (W_k, H_{k+1})."""
    pytest.importorskip("sklearn")
    V, W0, H0 = random_problem(rng, 14, 10, 3, noise=0.2)
    k = 25
    ours = lambda m: nmflab.nmf(V, 3, loss=loss, method="mu", init=(W0, H0), max_iter=m, stop="max_iter", eps=0.0)
    H1 = ours(1).H
    W_sk, H_sk = _sklearn_mu(V, W0, H1, beta, k)
    np.testing.assert_allclose(W_sk, ours(k).W, rtol=1e-10)
    np.testing.assert_allclose(H_sk, ours(k + 1).H, rtol=1e-10)
