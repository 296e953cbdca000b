"""The scikit-learn estimator: the common checks, and agreement with nmf()."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nmflab  # noqa: E402
from nmflab import NMF  # noqa: E402


@parametrize_with_checks([NMF(), NMF(loss="kl")])
def test_sklearn_common_checks(estimator, check):
    check(estimator)
