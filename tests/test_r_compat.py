"""R NMF compatibility: the brunet, lee, snmf/r and snmf/l presets against R's NMF 0.25, iterate for iterate.

Recorded runs (tests/data/r_nmf, made by make_reference.R with R 4.2.2 and NMF
0.25) are always checked; where R and its NMF package are installed the
reference is regenerated live and must agree with the recorded one.
R's orientation is columns = samples, V_R = W_R H_R; nmflab's V is V_R.T, so
nmflab's W is H_R.T and its H is W_R.T.
"""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import nmflab
from nmflab.datasets import seed_reference

DATA = Path(__file__).parent / "data" / "r_nmf"
SEED = seed_reference()


def _r(name):
    return np.loadtxt(DATA / name, ndmin=2)


def _summary():
    rows = [line.split("\t") for line in (DATA / "summary.tsv").read_text().splitlines()[1:] if line]
    return {(m, run): (int(n), float(d)) for m, run, n, d in rows}


def _fit(method, max_iter=None, stop=None, init=None):
    init = (SEED["W0"], SEED["H0"]) if init is None else init
    kw = {} if max_iter is None else {"max_iter": max_iter, "stop": "max_iter"}
    return nmflab.nmf(SEED["V"], 3, method=method, init=init, **kw)


@pytest.mark.parametrize("method", ["brunet", "lee"])
@pytest.mark.parametrize("k", [1, 9, 10, 11, 200])
def test_iterates_match_r(method, k):
    res = _fit(method, max_iter=k)
    np.testing.assert_allclose(res.W, _r(f"{method}_{k}_H.tsv").T, rtol=1e-12)
    np.testing.assert_allclose(res.H, _r(f"{method}_{k}_W.tsv").T, rtol=1e-12)
    n, deviance = _summary()[(method, str(k))]
    assert res.n_iter == n
    assert res.final_objective == pytest.approx(deviance, rel=1e-12)


@pytest.mark.parametrize("method", ["snmf/r", "snmf/l"])
@pytest.mark.parametrize("k", [1, 2, 10, 40])
def test_sparse_nmf_iterates_match_r(method, k, backend):
    """Kim & Park's sparse NMF: R solves each block with fcnnls, nmflab by block principal pivoting; both
    are exact NNLS, so the iterates agree to rounding."""
    res = nmflab.nmf(SEED["V"], 3, method=method, init=(SEED["W0"], SEED["H0"]), max_iter=k, stop="max_iter",
                     backend=backend)
    tag = method.replace("/", "_")
    W, H = _r(f"{tag}_{k}_H.tsv").T, _r(f"{tag}_{k}_W.tsv").T
    np.testing.assert_allclose(res.W, W, rtol=1e-10, atol=1e-12 * W.max())
    np.testing.assert_allclose(res.H, H, rtol=1e-10, atol=1e-12 * H.max())
    n, deviance = _summary()[(tag, str(k))]
    assert res.n_iter == n == k
    # R's deviance is its .snmf.objective, which weighs the dense factor's squares by eta, not eta**2
    eta = SEED["V"].max()
    sparse, dense = (W.T, H) if method == "snmf/r" else (H, W)
    r_objective = 0.5 * (np.sum((SEED["V"] - W @ H) ** 2) + eta * np.sum(dense**2) + 0.01 * np.sum(sparse.sum(0) ** 2))
    assert r_objective == pytest.approx(deviance, rel=1e-10)
    assert res.final_objective == pytest.approx(r_objective + 0.5 * (eta**2 - eta) * np.sum(dense**2), rel=1e-10)


@pytest.mark.parametrize("method", ["brunet", "lee"])
def test_connectivity_stopping_matches_r(method, backend):
    res = nmflab.nmf(SEED["V"], 3, method=method, init=(SEED["W0"], SEED["H0"]), backend=backend)
    n, deviance = _summary()[(method, "conn")]
    assert res.status == nmflab.Status.CONNECTIVITY
    assert res.n_iter == n  # 570 (brunet) and 740 (lee) iterations, as in R
    np.testing.assert_allclose(res.W, _r(f"{method}_conn_H.tsv").T, rtol=1e-10)
    assert res.final_objective == pytest.approx(deviance, rel=1e-10)


@pytest.mark.parametrize("k", [9, 10, 200])
def test_brunet_floor_revives_zeros_as_r_does(k):
    """From R's NNDSVD start (exact zeros), R's floor at iteration 10 lifts them to machine epsilon."""
    start = (_r("nndsvd_H.tsv").T, _r("nndsvd_W.tsv").T)
    assert (start[0] == 0).sum() > 0
    res = _fit("brunet", max_iter=k, init=start)
    np.testing.assert_allclose(res.W, _r(f"brunet_nndsvd_{k}_H.tsv").T, rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.H, _r(f"brunet_nndsvd_{k}_W.tsv").T, rtol=1e-12, atol=0)
    assert ((res.W == 0).sum() > 0) == (k < 10)


def test_nndsvd_matches_r():
    W, H = nmflab.init.nndsvd(SEED["V"], 3)
    np.testing.assert_allclose(W, _r("nndsvd_H.tsv").T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(H, _r("nndsvd_W.tsv").T, rtol=1e-12, atol=1e-14)


def _have_r_nmf():
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "suppressMessages(library(NMF))"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _have_r_nmf(), reason="R with its NMF package is not installed (Debian: r-base-core r-cran-nmf)")
def test_live_r_reproduces_the_recorded_reference(tmp_path):
    seed_dir = Path(nmflab.datasets._seed_dir(None))
    subprocess.run(["Rscript", str(DATA / "make_reference.R"), str(seed_dir), str(tmp_path)], check=True,
                   capture_output=True)
    for path in sorted(DATA.glob("*.tsv")):
        if path.name == "summary.tsv":
            assert (tmp_path / path.name).read_text() == path.read_text()
        else:
            np.testing.assert_allclose(np.loadtxt(tmp_path / path.name), np.loadtxt(path), rtol=1e-13)


def test_presets_bring_rs_defaults():
    res = _fit("brunet")
    assert res.loss == "kl" and res.stop_rules == ("connectivity",)
    assert res.iterations[0] == 10 and np.all(np.diff(res.iterations) == 10)
    assert nmflab.nmf(SEED["V"], 3, method="lee", init=(SEED["W0"], SEED["H0"]), max_iter=30).n_iter == 30
