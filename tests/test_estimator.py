"""The scikit-learn estimator: the common checks, and agreement with nmf()."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nmflab  # noqa: E402
import nmflab.losses  # noqa: E402
from nmflab import NMF  # noqa: E402


@parametrize_with_checks([NMF(), NMF(loss="kl")])
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def test_every_parameter_reaches_the_function(monkeypatch):
    """The estimator is a thin wrapper: each constructor argument arrives in nmflab.nmf."""
    from nmflab import estimator as est

    seen = {}
    real = est.nmf

    def spy(V, rank, **kwargs):
        seen.update(kwargs, rank=rank)
        return real(V, rank, **kwargs)

    monkeypatch.setattr(est, "nmf", spy)
    params = dict(n_components=2, loss="kl", method="mu", init="nndsvdar", restarts=2, max_iter=33, tol=1e-3,
                  eps=1e-7, check_every=3, stop="max_iter", backend="numpy", random_state=5, alpha_W=0.1,
                  alpha_H=0.2, l1_ratio=0.25, missing="mask", verbose=1)
    X = np.random.default_rng(0).uniform(0, 1, (9, 6))
    NMF(**params).fit(X)
    for name, value in params.items():
        if name == "n_components":
            assert seen["rank"] == value
        elif name == "random_state":
            assert isinstance(seen["seed"], int)
        elif name == "alpha_W":  # X is 9 x 6: W penalties scale with n_features = 6
            assert seen["l1_W"] == pytest.approx(0.1 * 0.25 * 6) and seen["l2_W"] == pytest.approx(0.1 * 0.75 * 6)
        elif name == "alpha_H":  # H penalties scale with n_samples = 9
            assert seen["l1_H"] == pytest.approx(0.2 * 0.25 * 9) and seen["l2_H"] == pytest.approx(0.2 * 0.75 * 9)
        elif name == "l1_ratio":
            continue
        elif name == "verbose":
            assert seen["progress"] is True
        else:
            assert seen[name] == value, name


def test_estimator_agrees_with_the_function():
    X = np.random.default_rng(1).uniform(0, 1, (20, 8))
    model = NMF(3, init="nndsvda", max_iter=400, tol=1e-6).fit(X)
    res = nmflab.nmf(X, 3, init="nndsvda", max_iter=400, tol=1e-6)
    np.testing.assert_allclose(model.components_, res.H, rtol=1e-12)
    assert model.n_iter_ == res.n_iter and model.n_components_ == 3
    W = model.transform(X)
    assert model.reconstruction_err_ == pytest.approx(np.linalg.norm(X - W @ model.components_), rel=1e-6)
    np.testing.assert_allclose(model.inverse_transform(W), W @ res.H, rtol=1e-12)


def test_the_estimator_learns_its_parts_on_a_sketch_and_its_weights_on_x():
    rng = np.random.default_rng(2)
    X = rng.uniform(0, 1, (60, 4)) @ rng.uniform(0, 1, (4, 30)) + 0.01 * rng.uniform(0, 1, (60, 30))
    model = NMF(4, init="nndsvda", sketch=6).fit(X)
    res = nmflab.nmf(X, 4, init="nndsvda", sketch=6, seed=model.result_.seed)
    np.testing.assert_allclose(model.components_, res.H, rtol=1e-12)
    assert model.result_.sketch.size == 6
    W = model.transform(X)  # solved on X itself: no worse than the weights of the sketched fit
    assert np.linalg.norm(X - W @ res.H) <= np.linalg.norm(X - res.W @ res.H) * (1 + 1e-9)


def test_transform_rows_are_independent():
    X = np.random.default_rng(2).uniform(0, 1, (15, 6))
    model = NMF(3, max_iter=500, stop="max_iter", random_state=0).fit(X)
    full = model.transform(X)
    np.testing.assert_allclose(model.transform(X[4:9]), full[4:9], rtol=1e-12)


def test_convergence_warning_at_max_iter():
    from sklearn.exceptions import ConvergenceWarning

    X = np.random.default_rng(3).uniform(0, 1, (10, 5))
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        NMF(2, max_iter=3, random_state=0).fit(X)


def test_reconstruction_err_matches_scikit_learn_definition_for_kl():
    X = np.random.default_rng(4).uniform(0.1, 1, (12, 7))
    model = NMF(3, loss="kl", max_iter=300, random_state=0).fit(X)
    W = model.transform(X)
    kl = nmflab.losses.kl_divergence(np, X, W @ model.components_)
    assert model.reconstruction_err_ == pytest.approx(np.sqrt(2 * kl), rel=1e-6)


def test_loss_and_max_iter_default_to_the_methods_own(monkeypatch):
    """NMF(method="brunet") fits KL with R's defaults (2000 iterations, connectivity stopping), not the
    estimator's own; an explicit value still wins."""
    from nmflab import estimator as est

    seen = {}
    real = est.nmf
    monkeypatch.setattr(est, "nmf", lambda V, rank, **kw: (seen.update(kw), real(V, rank, **kw))[1])
    X = np.random.default_rng(1).uniform(0, 1, (12, 9))
    model = NMF(n_components=2, method="brunet", random_state=0).fit(X)
    assert model.get_params()["loss"] is None and model.get_params()["max_iter"] is None
    assert seen["loss"] is None and seen["max_iter"] is None  # the method's own, not a number of the estimator
    assert model.result_.loss == "kl" and model.result_.stop_rules == ("connectivity",)
    assert model.result_.status == nmflab.Status.CONNECTIVITY and model.result_.n_iter >= 410  # 41 checks of 10
    assert NMF(n_components=2, method="cd", random_state=0).fit(X).result_.loss == "kl"
    assert NMF(n_components=2, method="brunet", max_iter=30, random_state=0).fit(X).n_iter_ == 30
    with pytest.raises(ValueError, match="'brunet' minimizes the 'kl' loss"):
        NMF(n_components=2, method="brunet", loss="frobenius").fit(X)


def test_sparse_input_is_fitted_sparse_as_scikit_learn_accepts_it(monkeypatch):
    import scipy.sparse

    from nmflab import estimator as est

    X = np.random.default_rng(4).random((25, 12))
    X[X < 0.6] = 0.0
    S = scipy.sparse.csr_matrix(X)
    seen = []
    real = est.nmf
    monkeypatch.setattr(est, "nmf", lambda V, *a, **k: seen.append(V) or real(V, *a, **k))
    for init in ("random", "nndsvda"):  # MU: the same arithmetic on either storage (HALS sizes its inner loop by nnz)
        sparse = NMF(3, method="mu", init=init, random_state=0, max_iter=60, stop="max_iter")
        dense = NMF(3, method="mu", init=init, random_state=0, max_iter=60, stop="max_iter")
        W_sparse, W_dense = sparse.fit_transform(S), dense.fit_transform(X)
        np.testing.assert_allclose(sparse.components_, dense.components_, rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(W_sparse, W_dense, rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(sparse.transform(S.tocsc()), W_sparse, rtol=1e-12)
    assert [scipy.sparse.issparse(V) for V in seen] == [True, False, True, False]
    full = NMF(12, init="nndsvda", random_state=0, max_iter=5, stop="max_iter").fit(S)  # rank = min(n, p)
    assert full.components_.shape == (12, 12)


def test_a_mask_or_missing_entries_reach_fit_and_transform():
    rng = np.random.default_rng(5)
    X = rng.random((20, 9))
    keep = rng.random(X.shape) > 0.2
    model = NMF(3, random_state=0, max_iter=200).fit(X, mask=keep)
    gappy = np.where(keep, X, np.nan)
    missing = NMF(3, random_state=0, max_iter=200, missing="mask").fit(gappy)
    np.testing.assert_array_equal(model.components_, missing.components_)
    expected = nmflab.fit_weights(X, model.components_, mask=keep, max_iter=200).W
    np.testing.assert_allclose(model.transform(X, mask=keep), expected, rtol=1e-12)
    np.testing.assert_allclose(missing.transform(gappy), expected, rtol=1e-12)
    assert not np.allclose(model.transform(X), expected)  # the mask changed the weights
    with pytest.raises(ValueError, match="NaN"):
        NMF(3).fit(gappy)
    with pytest.raises(TypeError, match="mask=~numpy.ma.getmaskarray"):
        NMF(3).fit(np.ma.masked_array(X, mask=~keep))


def test_a_fit_that_became_non_finite_is_named_as_such(monkeypatch):
    """It was reported as "H contains a non-finite entry", though the user gave no H."""
    import dataclasses

    from nmflab import estimator as est

    real = est.nmf
    monkeypatch.setattr(est, "nmf", lambda *a, **k: dataclasses.replace(
        real(*a, **k), status=nmflab.Status.NONFINITE, H=np.full((2, 6), np.nan)))
    with pytest.raises(ValueError, match=r"the fit's factors became non-finite .* iterations of 'hals'"):
        NMF(2).fit(np.random.default_rng(0).random((8, 6)))
