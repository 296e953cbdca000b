"""The seed chapter's R run, reproduced iteration for iteration."""

import numpy as np
import pytest

import nmflab
from nmflab import diagnostics
from nmflab.datasets import seed_reference

try:
    REF = seed_reference()
except FileNotFoundError:  # pragma: no cover - the shared data travels with every checkout
    REF = None

pytestmark = pytest.mark.skipif(REF is None, reason="shared/data/seed_demo not found")


def test_reference_trace_to_1e9_relative_at_every_iteration(backend):
    res = nmflab.nmf(
        REF["V"], 3, method="mu", init=(REF["W0"], REF["H0"]), max_iter=200, stop="max_iter", check_every=1, eps=1e-9, backend=backend
    )
    assert res.n_iter == 200
    assert len(res.objective) == 200
    np.testing.assert_array_equal(res.iterations, np.arange(1, 201))
    np.testing.assert_allclose(res.objective, REF["cost"], rtol=1e-9, atol=0)


def test_chapter_numbers():
    res = nmflab.nmf(REF["V"], 3, method="mu", init=(REF["W0"], REF["H0"]), max_iter=200, stop="max_iter", check_every=1, eps=1e-9)
    descent = diagnostics.monotone_descent(res.objective)
    # The chapter prints: max increase -4.211e-04, initial 66.042, final 0.269, relative error 0.0235.
    assert f"{descent.max_increase:.3e}" == "-4.211e-04"
    assert f"{res.objective[0]:.3f}" == "66.042"
    assert f"{res.objective[-1]:.3f}" == "0.269"
    assert f"{diagnostics.relative_error(REF['V'], res.W, res.H):.4f}" == "0.0235"
    assert descent.monotone


def test_reference_with_sparser_checks_matches_the_same_iterations():
    every = nmflab.nmf(REF["V"], 3, method="mu", init=(REF["W0"], REF["H0"]), max_iter=200, stop="max_iter", check_every=7, eps=1e-9)
    expected_its = np.r_[np.arange(7, 200, 7), 200]
    np.testing.assert_array_equal(every.iterations, expected_its)
    np.testing.assert_allclose(every.objective, REF["cost"][expected_its - 1], rtol=1e-9)
