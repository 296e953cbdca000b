"""Shared fixtures.

JAX's x64 mode is deliberately *not* switched on here: the JAX driver turns
it on for the duration of a float64 fit by itself, and the tests check that
it does. ``--runslow`` runs the tests marked ``slow``.
"""

import importlib.util

import numpy as np
import pytest

HAVE_JAX = importlib.util.find_spec("jax") is not None
BACKENDS = ["numpy", pytest.param("jax", marks=pytest.mark.skipif(not HAVE_JAX, reason="jax not installed"))]


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (make test-slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each test using it runs once per installed backend."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)
