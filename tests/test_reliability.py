"""No silent wrong answer from a fit or its diagnostics, at any scale, in any dtype, on any storage."""

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nmflab
from nmflab import Status

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _exact_frobenius(V, WH) -> float:
    """``0.5 sum (V - WH)**2`` in exact rational arithmetic on the floats given (the truth, not a float sum)."""
    total = sum((Fraction(float(v)) - Fraction(float(x))) ** 2 for v, x in zip(V.ravel(), WH.ravel()))
    try:
        return float(total / 2)
    except OverflowError:
        return math.inf


@pytest.mark.parametrize("huge", [1e100, 1e140, 1e160, 1e200, 1e300])
def test_one_huge_entry_gives_finite_factors_and_the_objective_they_have(huge):
    """Among O(1) data, one entry of 1e100..1e300: the default HALS keeps finite factors (it turned them NaN
    at 1e140), and the objective it reports is the exact loss of the factors it returns (it reported 0.0
    at 1e300 where the loss is O(10): the value had underflowed in the internal units)."""
    for seed in range(3):
        V = np.random.default_rng(seed).random((20, 8))
        V[0, 0] = huge
        res = nmflab.nmf(V, 3, seed=seed, max_iter=300)
        assert res.status != Status.NONFINITE and np.isfinite(res.W).all() and np.isfinite(res.H).all()
        truth = _exact_frobenius(V, res.W @ res.H)
        assert res.final_objective == pytest.approx(truth, rel=1e-9), (seed, res.final_objective, truth)
        trace = res.objective[~np.isnan(res.objective)]
        assert (trace[:-1] >= 0).all()  # an entry lost to underflow is NaN (unknown), never a false 0


@SETTINGS
@given(st.sampled_from(["frobenius", "kl"]), st.integers(-996, 996), st.integers(0, 2**32 - 1))
def test_diagnostics_do_not_depend_on_the_scale_of_the_data(loss, exponent, seed):
    """The relative error, the KKT residual and the SVD floor's relative error are invariant under V -> c V:
    from 2**-996 to 2**996 they equal their values at scale 1 (they were 0, NaN or an OverflowError)."""
    rng = np.random.default_rng(seed)
    V = rng.random((12, 7))
    base = nmflab.nmf(V, 3, loss=loss, seed=seed % 100, max_iter=60)
    ref = nmflab.diagnostics.summarize(base, V)
    c = 2.0**exponent
    scaled = nmflab.nmf(V * c, 3, loss=loss, init=(base.W * c, base.H), max_iter=1, stop="max_iter")
    W, H = base.W * c, base.H  # the same factorization, in the scaled units
    assert nmflab.diagnostics.relative_error(V * c, W, H) == pytest.approx(ref.relative_error, rel=1e-12)
    assert nmflab.diagnostics.kkt_residual(V * c, W, H, loss) == pytest.approx(ref.kkt, rel=1e-9, abs=1e-15)
    assert nmflab.diagnostics.svd_floor(V * c, 3)[1] == pytest.approx(ref.svd_relative_error, rel=1e-9)
    text = scaled.summary(V * c)  # runs at every scale (it raised OverflowError above 1e155)
    assert "relative error" in text


def test_summary_takes_sparse_data_and_refuses_the_wrong_shape():
    V = np.random.default_rng(0).random((30, 20))
    V[V < 0.5] = 0.0
    S = scipy.sparse.csr_matrix(V)
    res = nmflab.nmf(S, 3, seed=0, max_iter=100)
    sparse, dense = nmflab.diagnostics.summarize(res, S), nmflab.diagnostics.summarize(res, V)
    assert sparse.relative_error == pytest.approx(dense.relative_error, rel=1e-9)
    assert sparse.svd_relative_error == pytest.approx(dense.svd_relative_error, rel=1e-9)
    assert sparse.kkt == pytest.approx(dense.kkt, rel=1e-9)
    with pytest.raises(ValueError, match=r"needs the data of this fit, of shape \(30, 20\); got V of shape \(20, 30\)"):
        res.summary(V.T)


def test_the_descent_line_says_when_nothing_increased():
    V = np.random.default_rng(0).random((12, 7))
    text = nmflab.nmf(V, 3, seed=0, method="mu", eps=0.0, max_iter=50).summary()
    assert "never increased" in text and "increase -" not in text


@pytest.mark.parametrize("loss,method", [("frobenius", "hals"), ("frobenius", "mu"), ("kl", "mu"), ("kl", "cd"),
                                         (0.5, "mu"), ("kl", "brunet")])
def test_sparse_float32_is_computed_and_returned_in_float32(loss, method):
    V = np.random.default_rng(0).random((30, 20))
    V[V < 0.4] = 0.0
    res = nmflab.nmf(scipy.sparse.csr_matrix(V.astype(np.float32)), 3, loss=loss, method=method, seed=0,
                     max_iter=5)
    assert res.dtype == "float32" and res.W.dtype == res.H.dtype == np.float32


@pytest.mark.parametrize("beta", [0.5, 0.25, 1.5, 3.0])
def test_the_kkt_residual_is_a_number_where_the_model_is_zero(beta):
    """For beta < 1 the slope of d(0 | x) is infinite at x = 0: written as x**(beta - 2) (x - v) it gave
    inf * 0 = NaN at every check of stop="kkt" on data with zeros. At an exact factorization with zeros in
    W H (a stationary point) the residual is 0. With the data made positive where W H is 0, the slope there
    is x**(beta - 2) (x - v): -inf for beta < 2, so the point is far from stationary; for beta > 2 it is 0
    (the divergence is flat at x = 0) and the point stays stationary."""
    W = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    H = np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]])
    V = W @ H
    assert nmflab.losses.kkt_residual(np, beta, V, W, H) < 1e-14
    moved = nmflab.losses.kkt_residual(np, beta, V + 0.5 * (V == 0), W, H)
    assert np.isfinite(moved) and (moved > 1e-3 if beta < 2 else moved < 1e-14)
    rng = np.random.default_rng(1)
    data = rng.random((15, 9)) * (rng.random((15, 9)) > 0.3)
    res = nmflab.nmf(data + (beta <= 0), 3, loss=beta, init="nndsvd", stop="kkt", kkt_tol=1e-12, max_iter=40)
    assert np.isfinite(res.kkt).all()


def test_the_summary_of_a_penalized_fit_is_that_of_the_penalized_problem():
    """The summary gave the unpenalized residual of a penalized fit: large at the fit's own optimum."""
    V = np.random.default_rng(2).random((20, 12))
    res = nmflab.nmf(V, 3, seed=0, l1_W=0.5, l2_H=0.1, stop="kkt", kkt_tol=1e-10, max_iter=20000)
    assert res.converged and res.penalty == nmflab.losses.Penalty(l1_W=0.5, l2_H=0.1)
    summary = nmflab.diagnostics.summarize(res, V)
    assert summary.kkt < 1e-8
    assert nmflab.diagnostics.kkt_residual(V, res.W, res.H) > 1e-3  # the same point, as an unpenalized fit
    assert nmflab.nmf(V, 3, seed=0, max_iter=5).penalty is None


def test_the_summary_of_a_masked_fit_counts_what_the_fit_counted():
    rng = np.random.default_rng(3)
    V = rng.random((18, 11))
    mask = rng.random(V.shape) > 0.25
    res = nmflab.nmf(V, 3, seed=0, mask=mask, max_iter=200)
    with pytest.raises(ValueError, match=r"pass the mask too, summary\(V, mask\)"):
        res.summary(V)
    summary = nmflab.diagnostics.summarize(res, V, mask)
    R = (V - res.W @ res.H) * mask
    assert summary.relative_error == pytest.approx(np.linalg.norm(R) / np.linalg.norm(V * mask), rel=1e-12)
    assert summary.kkt == pytest.approx(nmflab.losses.kkt_residual(np, 2.0, V, res.W, res.H, mask.astype(float)),
                                        rel=1e-12)
    assert summary.svd_objective is None and "no SVD floor under a mask" in summary.format()
    gappy = np.where(mask, V, np.nan)
    missing = nmflab.nmf(gappy, 3, seed=0, missing="mask", max_iter=200)
    np.testing.assert_array_equal(missing.W, res.W)
    assert nmflab.diagnostics.summarize(missing, gappy) == summary


@pytest.mark.parametrize("method,scale,warns", [("lee", 1.0, False), ("lee", 1e-3, True), ("lee", 1e3, False),
                                                ("brunet", 1e-6, False), ("brunet", 1e-30, True)])
def test_r_presets_warn_where_their_absolute_floor_changes_the_fit(method, scale, warns):
    """R's brunet floor and lee eps are absolute: the fit of V * c is not c times the fit of V. The warning
    comes exactly where the measured change exceeds the documented level (1e-4)."""
    import warnings

    V = np.random.default_rng(0).random((30, 20))
    kw = dict(method=method, seed=0, max_iter=200, stop="max_iter")
    base = nmflab.nmf(V, 3, **kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scaled = nmflab.nmf(V * scale, 3, **kw)
    raised = [w for w in caught if issubclass(w.category, nmflab.ScaleWarning)]
    change = np.abs(scaled.W @ scaled.H / scale - base.W @ base.H).max() / np.abs(base.W @ base.H).max()
    assert bool(raised) == warns and (change > nmflab.api.SCALE_WARNING_LEVEL) == warns, change
    if warns:
        assert "divide V by its largest entry" in str(raised[0].message)
