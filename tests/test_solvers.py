"""HALS, beta-divergence MU, masks and penalties: against peers, closed forms and each other."""

import warnings

import numpy as np
import pytest

import nmflab
from nmflab import Status

from ._problems import random_problem

sk = pytest.importorskip("sklearn.decomposition")


def _sklearn(V, W, H, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sk.non_negative_factorization(V, W=W.copy(), H=H.copy(), n_components=W.shape[1], init="custom",
                                             tol=0.0, **kw)[:2]


def test_methods_are_listed():
    m = nmflab.methods()
    assert m["frobenius"][0] == "auto" and {"hals", "mu", "anls", "lee", "snmf/r", "snmf/l"} <= set(m["frobenius"])
    assert {"mu", "brunet"} <= set(m["kl"]) and m["beta"] == ("auto", "mu")


@pytest.mark.parametrize("penalty", [{}, {"alpha_W": 0.01, "alpha_H": 0.02, "l1_ratio": 0.3}])
def test_plain_hals_iterates_match_scikit_learn_cd(rng, penalty):
    """scikit-learn's cd (shuffle off) updates W, then H, one coordinate at a time; with the
    other rows fixed a column of W is exactly HALS's closed form. Started from (W0, H1) its
    k iterations are our (W_k, H_{k+1}), as for MU."""
    V, W0, H0 = random_problem(rng, 16, 11, 3, noise=0.3)
    n, p = V.shape
    ours_kw = {}
    if penalty:
        a_w, a_h, r = penalty["alpha_W"], penalty["alpha_H"], penalty["l1_ratio"]
        ours_kw = dict(l1_W=a_w * r * p, l2_W=a_w * (1 - r) * p, l1_H=a_h * r * n, l2_H=a_h * (1 - r) * n)
    rule = nmflab.rules.HALS(alpha=0.0, penalty=nmflab.losses.Penalty(**ours_kw))

    def ours(k):
        from nmflab.drivers import numpy as driver
        from nmflab.stopping import StopCriteria

        (rec,) = driver.run(rule, V, [W0], [H0], StopCriteria(k, ()), 1)
        return rec

    H1 = ours(1).H
    k = 15
    W_sk, H_sk = _sklearn(V, W0, H1, solver="cd", shuffle=False, max_iter=k, **penalty)
    np.testing.assert_allclose(W_sk, ours(k).W, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H_sk, ours(k + 1).H, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize("l1, l2", [(0.0, 0.0), (0.3, 0.7)])
def test_hals_sweep_is_coordinate_minimization_and_leaves_a_dead_component(rng, backend, l1, l2):
    """One sweep over H (W fixed, with a zero column) against the one-entry minimizers written out:
    ``H_kj = max(0, (w_k . r_j - l1) / (w_k . w_k + l2))`` with ``r_j`` the residual without component
    k, in order k = 0, 1, 2. A dead component (``w_k = 0``) keeps its row without a penalty (its
    coordinate has no curvature) and goes to ``max(0, -l1 / l2) = 0`` with one."""
    if backend == "jax":
        pytest.importorskip("jax")
    from nmflab.drivers import jax as jax_driver
    from nmflab.drivers import numpy as numpy_driver
    from nmflab.stopping import StopCriteria

    V, W, H = random_problem(rng, 13, 9, 3, noise=0.3)
    W[:, 1] = 0.0
    rule = nmflab.rules.HALS(alpha=0.0, update_w=False, penalty=nmflab.losses.Penalty(l1_H=l1, l2_H=l2))
    driver = numpy_driver if backend == "numpy" else jax_driver
    (rec,) = driver.run(rule, V, [W], [H], StopCriteria(1, ()), 1)

    expected = H.copy()
    for k in range(3):
        w = W[:, k]
        if w @ w + l2 == 0:
            continue
        for j in range(V.shape[1]):
            residual = V[:, j] - W @ expected[:, j] + w * expected[k, j]
            expected[k, j] = max(0.0, (w @ residual - l1) / (w @ w + l2))
    np.testing.assert_array_equal(np.asarray(rec.W), W)
    np.testing.assert_allclose(np.asarray(rec.H), expected, rtol=1e-12, atol=1e-14)
    if l2 == 0:
        np.testing.assert_array_equal(np.asarray(rec.H)[1], H[1])
    else:
        assert not np.asarray(rec.H)[1].any()


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.5, 3.0])
def test_beta_mu_iterates_match_scikit_learn(rng, beta):
    """scikit-learn's MU uses the same MM exponent (Févotte & Idier) and updates W then H."""
    V, W0, H0 = random_problem(rng, 12, 9, 2, noise=0.5)
    V = V + 0.1
    ours = lambda m: nmflab.nmf(V, 2, loss=beta, method="mu", init=(W0, H0), max_iter=m, stop="max_iter", eps=0.0)  # noqa: E731
    H1 = ours(1).H
    W_sk, H_sk = _sklearn(V, W0, H1, solver="mu", beta_loss=beta, max_iter=10)
    np.testing.assert_allclose(W_sk, ours(10).W, rtol=1e-9)
    np.testing.assert_allclose(H_sk, ours(11).H, rtol=1e-9)


def test_beta_rule_equals_the_dedicated_rules_at_2_and_1(rng):
    V, W0, H0 = random_problem(rng)
    for beta, loss in ((2.0, "frobenius"), (1.0, "kl")):
        rule = nmflab.rules.MultiplicativeBeta(beta=beta, eps=0.0)
        from nmflab.drivers import numpy as driver
        from nmflab.stopping import StopCriteria

        (rec,) = driver.run(rule, V, [W0], [H0], StopCriteria(30, ()), 5)
        ref = nmflab.nmf(V, 3, loss=loss, method="mu", init=(W0, H0), max_iter=30, stop="max_iter", eps=0.0,
                         check_every=5)
        np.testing.assert_allclose(rec.W, ref.W, rtol=1e-11)
        np.testing.assert_allclose(rec.trace.objective, ref.objective, rtol=1e-11)


def test_itakura_saito_divergence_closed_form():
    V = np.array([[1.0, 2.0]])
    WH = np.array([[2.0, 2.0]])
    # d_IS(1|2) = 1/2 - log(1/2) - 1, d_IS(2|2) = 0
    assert nmflab.losses.beta_divergence(np, V, WH, 0.0) == pytest.approx(0.5 + np.log(2) - 1)
    # beta = 3: (v^3 + 2 x^3 - 3 v x^2) / 6 = (1 + 16 - 12) / 6
    assert nmflab.losses.beta_divergence(np, V, WH, 3.0) == pytest.approx(5 / 6)


def test_beta_below_zero_needs_positive_data():
    V = np.array([[0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="positive data"):
        nmflab.nmf(V, 1, loss="itakura-saito")
    res = nmflab.nmf(V, 1, loss="itakura-saito", mask=V > 0, max_iter=50)  # masking the zero is fine
    assert np.isfinite(res.final_objective)


@pytest.mark.parametrize("method", ["hals", "mu"])
def test_hals_and_mu_stop_at_the_same_iteration_on_both_backends(method):
    pytest.importorskip("jax")
    rng = np.random.default_rng(7)
    V, W0, H0 = random_problem(rng, 30, 20, 4, noise=0.2)
    a = nmflab.nmf(V, 4, method=method, init=(W0, H0), tol=1e-7, max_iter=5000, backend="numpy")
    b = nmflab.nmf(V, 4, method=method, init=(W0, H0), tol=1e-7, max_iter=5000, backend="jax")
    assert a.status == b.status == Status.CONVERGED and a.n_iter == b.n_iter
    np.testing.assert_allclose(a.W, b.W, atol=1e-10)
    np.testing.assert_allclose(a.H, b.H, atol=1e-10)


def test_hals_batched_restarts_equal_separate_runs():
    pytest.importorskip("jax")
    rng = np.random.default_rng(9)
    V, _, _ = random_problem(rng, 25, 15, 3, noise=0.3)
    kw = dict(method="hals", restarts=4, seed=2, tol=1e-6, max_iter=3000)
    a = nmflab.nmf(V, 3, backend="jax", **kw)
    b = nmflab.nmf(V, 3, backend="numpy", **kw)
    np.testing.assert_array_equal(a.restart_n_iter, b.restart_n_iter)
    np.testing.assert_allclose(a.restart_objectives, b.restart_objectives, rtol=1e-10)


def test_hals_needs_far_fewer_iterations_than_mu():
    rng = np.random.default_rng(3)
    V, W0, H0 = random_problem(rng, 60, 40, 5, noise=0.05)
    target = nmflab.nmf(V, 5, method="hals", init=(W0, H0), tol=0, max_iter=3000).final_objective * 1.01
    hals = nmflab.nmf(V, 5, method="hals", init=(W0, H0), tol=0, max_iter=3000, check_every=1)
    mu = nmflab.nmf(V, 5, method="mu", init=(W0, H0), tol=0, max_iter=3000, check_every=1)
    first = lambda r: int(r.iterations[np.argmax(r.objective <= target)]) if (r.objective <= target).any() else 10**9  # noqa: E731
    assert 5 * first(hals) < first(mu)


# ---- masks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method,loss", [("hals", "frobenius"), ("mu", "frobenius"), ("mu", "kl"), ("mu", 0.5)])
def test_masked_entries_are_neither_fitted_nor_counted(rng, method, loss):
    V, W0, H0 = random_problem(rng, 14, 10, 3, noise=0.2)
    mask = rng.uniform(size=V.shape) > 0.3
    kw = dict(loss=loss, method=method, init=(W0, H0), max_iter=200, stop="max_iter", mask=mask)
    a = nmflab.nmf(V, 3, **kw)
    garbage = np.where(mask, V, 1e3 * rng.uniform(size=V.shape))
    b = nmflab.nmf(garbage, 3, **kw)
    np.testing.assert_allclose(a.W, b.W, rtol=1e-12)  # the hidden values play no part
    np.testing.assert_allclose(a.H, b.H, rtol=1e-12)
    _, beta = nmflab.losses.resolve_loss(loss)
    expected = nmflab.losses.beta_divergence(np, V, a.W @ a.H, beta, weights=mask.astype(float))
    assert a.final_objective == pytest.approx(expected, rel=1e-9)
    trace = np.concatenate([[a.initial_objective], a.objective])
    assert np.all(np.diff(trace) <= 1e-9 * trace[:-1])


@pytest.mark.parametrize("rule", [nmflab.rules.HALS(alpha=0.0), nmflab.rules.MultiplicativeFrobenius(),
                                  nmflab.rules.MultiplicativeKL(), nmflab.rules.MultiplicativeBeta(beta=0.5)])
def test_all_true_mask_is_the_unmasked_fit(rng, rule):
    """Weighted code paths equal the unweighted ones when every weight is 1 (plain HALS:
    the weighted path makes one sweep per factor, as HALS with alpha = 0 does)."""
    from nmflab.drivers import numpy as driver
    from nmflab.stopping import StopCriteria

    V, W0, H0 = random_problem(rng)
    (a,) = driver.run(rule, V, [W0], [H0], StopCriteria(100, ()), 10)
    (b,) = driver.run(rule, V, [W0], [H0], StopCriteria(100, ()), 10, np.ones(V.shape))
    np.testing.assert_allclose(a.W, b.W, rtol=1e-10)
    np.testing.assert_allclose(a.trace.objective, b.trace.objective, rtol=1e-10)


def test_nan_is_an_error_unless_asked_to_mask(rng):
    V, W0, H0 = random_problem(rng)
    V[2, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        nmflab.nmf(V, 3)
    a = nmflab.nmf(V, 3, missing="mask", init=(W0, H0), max_iter=50, stop="max_iter")
    b = nmflab.nmf(np.nan_to_num(V), 3, mask=~np.isnan(V), init=(W0, H0), max_iter=50, stop="max_iter")
    np.testing.assert_array_equal(a.W, b.W)
    assert a.weighted


def test_a_numpy_masked_array_is_fitted_as_missing_entries_not_unmasked(rng):
    """Its mask was silently dropped: the hidden entries (here NaN and 1e9) were fitted as data."""
    V, W0, H0 = random_problem(rng, 8, 6, 3)
    hidden = np.zeros(V.shape, bool)
    hidden[1, 2] = hidden[4, 0] = True
    data = V.copy()
    data[1, 2], data[4, 0] = np.nan, 1e9
    a = nmflab.nmf(np.ma.masked_array(data, mask=hidden), 3, init=(W0, H0), max_iter=50, stop="max_iter")
    b = nmflab.nmf(V, 3, mask=~hidden, init=(W0, H0), max_iter=50, stop="max_iter")
    np.testing.assert_array_equal(a.W, b.W)
    assert a.weighted and np.isfinite(a.W).all()
    c = nmflab.fit_weights(np.ma.masked_array(data, mask=hidden), b.H, max_iter=20)
    np.testing.assert_array_equal(c.W, nmflab.fit_weights(V, b.H, mask=~hidden, max_iter=20).W)
    unmasked = nmflab.nmf(np.ma.masked_array(V), 3, init=(W0, H0), max_iter=50, stop="max_iter")
    assert not unmasked.weighted and np.array_equal(unmasked.W, nmflab.nmf(V, 3, init=(W0, H0), max_iter=50,
                                                                           stop="max_iter").W)


def test_integer_weights_count_entries_that_many_times(rng):
    """Weight 2 on a row is the same objective as that row written twice."""
    V, W0, H0 = random_problem(rng, 6, 5, 2)
    weights = np.ones(V.shape)
    weights[0] = 2.0
    res = nmflab.nmf(V, 2, mask=weights, init=(W0, H0), max_iter=30, stop="max_iter", method="mu")
    doubled = np.vstack([V, V[:1]])
    W2 = np.vstack([res.W, res.W[:1]])
    assert res.final_objective == pytest.approx(0.5 * np.sum((doubled - W2 @ res.H) ** 2), rel=1e-10)


@pytest.mark.parametrize(
    "mask,match",
    [(np.ones((3, 3)), "shape of V"), (-np.ones((4, 3)), "non-negative"), (np.zeros((4, 3)), "hides every entry")],
)
def test_bad_masks(mask, match):
    with pytest.raises(ValueError, match=match):
        nmflab.nmf(np.ones((4, 3)), 1, mask=mask)


def test_presets_refuse_masks_and_penalties():
    V = np.ones((4, 3))
    with pytest.raises(ValueError, match="does not take a mask"):
        nmflab.nmf(V, 1, method="brunet", mask=V > 0)
    with pytest.raises(ValueError, match="no penalty"):
        nmflab.nmf(V, 1, method="lee", l1_H=1.0)


# ---- penalties -------------------------------------------------------------------------------


def test_mu_penalties_match_scikit_learn(rng):
    V, W0, H0 = random_problem(rng, 12, 8, 3, noise=0.3)
    n, p = V.shape
    a_w, a_h, r = 0.05, 0.02, 0.4
    kw = dict(l1_W=a_w * r * p, l2_W=a_w * (1 - r) * p, l1_H=a_h * r * n, l2_H=a_h * (1 - r) * n)
    ours = lambda m: nmflab.nmf(V, 3, method="mu", init=(W0, H0), max_iter=m, stop="max_iter", eps=0.0, **kw)  # noqa: E731
    W_sk, H_sk = _sklearn(V, W0, ours(1).H, solver="mu", max_iter=12, alpha_W=a_w, alpha_H=a_h, l1_ratio=r)
    np.testing.assert_allclose(W_sk, ours(12).W, rtol=1e-9)
    np.testing.assert_allclose(H_sk, ours(13).H, rtol=1e-9)


def test_l1_penalty_sparsifies_and_the_objective_includes_it(rng):
    V, _, _ = random_problem(rng, 40, 30, 4, noise=0.3)
    plain = nmflab.nmf(V, 4, seed=0, tol=1e-8, max_iter=3000)
    sparse = nmflab.nmf(V, 4, seed=0, tol=1e-8, max_iter=3000, l1_H=2.0)
    assert (sparse.H == 0).sum() > (plain.H == 0).sum()
    expected = 0.5 * np.sum((V - sparse.W @ sparse.H) ** 2) + 2.0 * sparse.H.sum()
    assert sparse.final_objective == pytest.approx(expected, rel=1e-9)
    # The penalized problem is solved: its KKT residual is small at convergence.
    kkt = nmflab.losses.kkt_residual(np, 2.0, V, sparse.W, sparse.H, None, nmflab.losses.Penalty(l1_H=2.0))
    assert kkt < 1e-2 * np.sqrt(V.size)


def test_penalties_are_scale_consistent(rng):
    """The penalty is stated in the units of V: fitting 2^k V with the penalties of the problem scaled
    accordingly gives 2^k W and the same H (the internal rescaling keeps the problem equivalent)."""
    V, W0, H0 = random_problem(rng, 10, 8, 2)
    base = nmflab.nmf(V, 2, init=(W0, H0), max_iter=100, stop="max_iter", method="mu", l1_W=0.3, l2_H=0.2)
    s = 2.0**40
    # 0.5||sV - sW H||^2 = s^2 f; s^2 (l1 sum(W)) = (s l1) sum(sW); s^2 (l2/2 ||H||^2) = (s^2 l2)/2 ||H||^2
    scaled = nmflab.nmf(s * V, 2, init=(s * W0, H0), max_iter=100, stop="max_iter", method="mu",
                        l1_W=0.3 * s, l2_H=0.2 * s**2)
    np.testing.assert_allclose(scaled.W, s * base.W, rtol=1e-9)
    np.testing.assert_allclose(scaled.H, base.H, rtol=1e-9)


# ---- KL coordinate descent -------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_kl_cd_descends_and_beats_mu_per_iteration(seed):
    rng = np.random.default_rng(seed)
    V, W0, H0 = random_problem(rng, 30, 25, 4, noise=0.5)
    cd = nmflab.nmf(V, 4, loss="kl", method="cd", init=(W0, H0), max_iter=60, stop="max_iter", check_every=1)
    mu = nmflab.nmf(V, 4, loss="kl", method="mu", init=(W0, H0), max_iter=60, stop="max_iter", check_every=1,
                    eps=0.0)
    trace = np.concatenate([[cd.initial_objective], cd.objective])
    noise = nmflab.diagnostics.objective_noise(V, "kl", trace)
    assert nmflab.diagnostics.monotone_descent(trace, noise=noise).monotone
    assert cd.final_objective < mu.final_objective


def test_kl_cd_reaches_a_kkt_point_and_mus_optimum(rng):
    V, W0, H0 = random_problem(rng, 25, 20, 3, noise=0.3)
    cd = nmflab.nmf(V, 3, loss="kl", method="cd", init=(W0, H0), tol=1e-12, max_iter=3000)
    mu = nmflab.nmf(V, 3, loss="kl", method="mu", init=(W0, H0), tol=1e-12, max_iter=30000, eps=0.0)
    assert nmflab.diagnostics.kkt_residual(V, cd.W, cd.H, "kl") < 1e-6
    assert cd.n_iter < mu.n_iter / 5
    assert cd.final_objective <= mu.final_objective * (1 + 1e-9)


def test_kl_cd_with_mask_and_penalty_descends(rng):
    V, W0, H0 = random_problem(rng, 20, 15, 3, noise=0.3)
    mask = rng.uniform(size=V.shape) > 0.2
    res = nmflab.nmf(V, 3, loss="kl", method="cd", init=(W0, H0), mask=mask, l1_H=0.1, l2_W=0.2, max_iter=100,
                     stop="max_iter", check_every=1)
    trace = np.concatenate([[res.initial_objective], res.objective])
    assert np.all(np.diff(trace) <= 1e-10 * trace[:-1])
    pen = nmflab.losses.Penalty(l2_W=0.2, l1_H=0.1)
    expected = nmflab.losses.kl_divergence(np, V, res.W @ res.H, mask.astype(float)) + pen.value(np, res.W, res.H)
    assert res.final_objective == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("side", ["W", "H"])
@pytest.mark.parametrize("shape", [(40, 30), (60, 5), (5, 60)])
def test_kl_cd_sweep_in_cache_blocks_equals_the_whole_sweep(rng, monkeypatch, side, shape):
    """Blocks of 100 entries: (40, 30) cuts W into 3 x 30 blocks and H into 40 x 2 (run transposed: rows
    shorter than columns), (60, 5) both sides into blocks run transposed, (5, 60) neither."""
    from nmflab.rules import kl_cd

    V, W, H = random_problem(rng, *shape, 3, noise=0.3)
    V[rng.uniform(size=V.shape) < 0.2] = 0.0  # zeros: the step bound runs over V > 0 only
    M = (rng.uniform(size=V.shape) > 0.1).astype(float)
    X, G = (W, H) if side == "W" else (H, W)
    args = (np, V, X, G, W @ H, M, 0.1, 0.2, 2, side)
    assert len(kl_cd._cache_blocks(V.shape, side)) == 1
    whole_X, whole_WH = kl_cd._sweep(*args)
    monkeypatch.setattr(kl_cd, "_BLOCK_ENTRIES", 100)
    assert len(kl_cd._cache_blocks(V.shape, side)) >= 3
    X_blocks, WH_blocks = kl_cd._sweep(*args)
    np.testing.assert_allclose(X_blocks, whole_X, rtol=1e-12)
    np.testing.assert_allclose(WH_blocks, whole_WH, rtol=1e-12)
    assert not np.allclose(whole_X, X)  # the sweep moved the factor


def test_kl_cd_same_on_both_backends():
    pytest.importorskip("jax")
    rng = np.random.default_rng(4)
    V, W0, H0 = random_problem(rng, 20, 15, 3, noise=0.3)
    a = nmflab.nmf(V, 3, loss="kl", method="cd", init=(W0, H0), tol=1e-8, max_iter=2000, backend="numpy")
    b = nmflab.nmf(V, 3, loss="kl", method="cd", init=(W0, H0), tol=1e-8, max_iter=2000, backend="jax")
    assert a.n_iter == b.n_iter and a.status == b.status
    np.testing.assert_allclose(a.W, b.W, atol=1e-10)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("l1", [0.5, 3.0, 10.0])
def test_hals_with_l1_ends_at_a_kkt_point_of_the_penalized_problem(l1, masked):
    """Once a component's H row is 0, its W column only pays the L1 penalty: its minimizer is 0. A HALS that
    left it as it was stopped at a non-stationary point and said CONVERGED (V 20 x 8, l1 = 10: 165-194 against
    MU's 29.8)."""
    from nmflab.losses import Penalty, kkt_residual

    for seed in range(3):
        rng = np.random.default_rng(seed)
        V = rng.random((20, 8))
        mask = rng.random(V.shape) > 0.2 if masked else None
        res = nmflab.nmf(V, 4, method="hals", l1_W=l1, l1_H=l1, seed=seed, max_iter=5000, tol=1e-12, mask=mask)
        weights = None if mask is None else mask.astype(float)
        residual = float(kkt_residual(np, 2.0, V, res.W, res.H, weights, Penalty(l1, 0.0, l1, 0.0)))
        assert residual < 1e-6, (seed, residual, res.final_objective)
        assert res.converged
