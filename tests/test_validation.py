"""Bad input is refused before any work, with a message that names the problem."""

import importlib.util

import numpy as np
import pytest

import nmflab

V_OK = np.random.default_rng(0).uniform(0, 1, (6, 5))


@pytest.mark.parametrize(
    "V,exc,match",
    [
        (np.array([[1.0, 2.0], [3.0, -0.5]]), ValueError, r"Negative values .* -0\.5 at \(1, 1\)"),
        (np.array([[1.0, np.nan], [3.0, 1.0]]), ValueError, r"non-finite .* at \(0, 1\)\. .* pass missing=\"mask\""),
        (np.array([[1.0, 2.0], [np.inf, 1.0]]), ValueError, r"non-finite .*inf at \(1, 0\)"),
        (np.ones(5), ValueError, r"2-D .* got 1-D"),
        (np.ones((2, 3, 4)), ValueError, r"2-D .* got 3-D"),
        (np.ones((0, 4)), ValueError, r"empty"),
        (np.ones((3, 0)), ValueError, r"empty"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, r"real numbers"),
        (np.array([[1, None]], dtype=object), TypeError, r"real numbers"),
        ([[1.0, 2.0], [3.0]], TypeError, r"numeric array"),
    ],
)
def test_bad_data(V, exc, match):
    with pytest.raises(exc, match=match):
        nmflab.nmf(V, 1)


@pytest.mark.parametrize(
    "rank,exc,match",
    [(0, ValueError, "at least 1"), (-2, ValueError, "at least 1"), (2.5, TypeError, "integer"),
     ("3", TypeError, "integer"), (True, TypeError, "integer"), (None, TypeError, "integer")],
)
def test_bad_rank(rank, exc, match):
    with pytest.raises(exc, match=match):
        nmflab.nmf(V_OK, rank)


def test_integer_like_ranks_are_accepted():
    assert nmflab.nmf(V_OK, np.int64(2), max_iter=2, seed=0).W.shape == (6, 2)


def test_nndsvd_rank_above_min_dimension():
    with pytest.raises(ValueError, match=r"rank <= min\(n_samples, n_features\) = 5"):
        nmflab.nmf(V_OK, 6, init="nndsvd")
    assert nmflab.nmf(V_OK, 6, init="random", max_iter=3, seed=0).H.shape == (6, 5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"loss": "itakura"}, r"unknown loss 'itakura'"),
        ({"method": "newton"}, r"unknown method 'newton'"),
        ({"init": "svd"}, r"unknown init 'svd'"),
        ({"backend": "torch"}, r"unknown backend 'torch'"),
        ({"stop": "never"}, r"unknown stop rule 'never'"),
        ({"stop": ("objective", "max_iter")}, r"cannot be combined"),
        ({"stop": ()}, r"at least one rule"),
        ({"loss": "frobenius", "method": "brunet"}, r"'brunet' minimizes the 'kl' loss"),
        ({"time_limit": 0}, r"time_limit must be finite and > 0"),
        ({"patience": -1}, r"patience must be at least 0"),
        ({"max_iter": 0}, r"max_iter must be at least 1"),
        ({"check_every": 0}, r"check_every must be at least 1"),
        ({"restarts": 0}, r"restarts must be at least 1"),
        ({"tol": -1.0}, r"tol must be finite and >= 0"),
        ({"eps": float("nan")}, r"eps must be finite"),
        ({"seed": -1}, r"seed must be at least 0"),
        ({"restarts": 3, "init": "nndsvd"}, r"deterministic start"),
        ({"dtype": "int32"}, r"float32 or float64"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nmflab.nmf(V_OK, 2, **kwargs)


@pytest.mark.parametrize(
    "W0,H0,match",
    [
        (np.ones((6, 3)), np.ones((2, 5)), r"W0 must have shape \(6, 2\)"),
        (np.ones((6, 2)), np.ones((2, 4)), r"H0 must have shape \(2, 5\)"),
        (-np.ones((6, 2)), np.ones((2, 5)), r"W0 must be non-negative"),
        (np.ones((6, 2)), np.full((2, 5), np.nan), r"H0 contains a non-finite"),
    ],
)
def test_bad_custom_start(W0, H0, match):
    with pytest.raises(ValueError, match=match):
        nmflab.nmf(V_OK, 2, init=(W0, H0))


def test_init_that_is_neither_a_name_nor_a_pair():
    with pytest.raises(TypeError, match=r"pair \(W0, H0\)"):
        nmflab.nmf(V_OK, 2, init=(np.ones((6, 2)),))


def test_validation_happens_before_any_work(monkeypatch):
    """A bad option is reported even when the data is also bad: no driver is reached."""
    from nmflab import api

    monkeypatch.setattr(api, "_driver", lambda backend: pytest.fail("a driver was reached"))
    with pytest.raises(ValueError, match="unknown loss"):
        nmflab.nmf(np.array([[-1.0]]), 1, loss="nope")
    with pytest.raises(ValueError, match="Negative"):
        nmflab.nmf(np.array([[-1.0]]), 1)


def test_input_is_not_modified():
    V = V_OK.copy()
    W0, H0 = np.ones((6, 2)), np.ones((2, 5))
    nmflab.nmf(V, 2, init=(W0, H0), max_iter=5)
    np.testing.assert_array_equal(V, V_OK)
    np.testing.assert_array_equal(W0, 1.0)
    np.testing.assert_array_equal(H0, 1.0)


def test_missing_jax_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'nmflab\[jax\]'"):
        nmflab.nmf(V_OK, 2, backend="jax")


def test_import_is_light():
    """Importing nmflab loads neither jax, cvxpy, matplotlib nor scikit-learn."""
    import subprocess
    import sys

    code = (
        "import sys, nmflab, nmflab.diagnostics, nmflab.datasets\n"
        "heavy = [m for m in ('jax', 'cvxpy', 'matplotlib', 'sklearn') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_list_of_starts_runs_one_restart_from_each():
    """Each restart of a list of starts is the fit from that start alone (same iterates), the best one wins."""
    rng = np.random.default_rng(4)
    starts = [(rng.random((6, 2)), rng.random((2, 5))) for _ in range(3)]
    many = nmflab.nmf(V_OK, 2, init=starts, method="hals", max_iter=50, tol=0, keep_restarts=True, trace=False)
    alone = [nmflab.nmf(V_OK, 2, init=s, method="hals", max_iter=50, tol=0, trace=False) for s in starts]
    for W, H, one in zip(many.restart_W, many.restart_H, alone):
        np.testing.assert_array_equal(W, one.W)
        np.testing.assert_array_equal(H, one.H)
    assert many.final_objective == min(one.final_objective for one in alone)
    with pytest.raises(ValueError, match="restarts=2 with 3 custom starts"):
        nmflab.nmf(V_OK, 2, init=starts, restarts=2)
    with pytest.raises(ValueError, match=r"W0 of start 1 must be non-negative"):
        nmflab.nmf(V_OK, 2, init=[starts[0], (-starts[1][0], starts[1][1])])
