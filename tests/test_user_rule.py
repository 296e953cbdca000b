"""A rule from a user's own module: the README's worked example, everywhere a built-in method goes."""

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import nmflab
from nmflab.rules import Rule, register, unregister

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "projected_gradient.py"
sys.path.insert(0, str(EXAMPLE.parent))
import projected_gradient  # noqa: E402


def _V(seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((30, 3)) @ rng.random((3, 12)) + 0.05 * rng.random((30, 12))


def test_the_readme_shows_the_example_verbatim():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Writing a rule", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert block == EXAMPLE.read_text()


def test_the_example_fits_like_a_built_in_method():
    V = _V()
    res = nmflab.nmf(V, 3, method="pgd", init="nndsvda", max_iter=500)
    assert res.method == "pgd" and res.loss == "frobenius"
    assert res.final_objective < 0.05 * res.initial_objective
    # each step descends: the descent lemma for a step 1/L with L at least the gradient's Lipschitz constant
    trace = np.concatenate([[res.initial_objective], res.objective])
    assert np.all(np.diff(trace) <= 1e-12 * trace[:-1])


def test_the_example_in_the_estimator():
    pytest.importorskip("sklearn")
    from nmflab import NMF

    V = _V(1)
    model = NMF(n_components=3, method="pgd", max_iter=3000, random_state=0)
    W = model.fit_transform(V)
    assert W.shape == (30, 3) and model.components_.shape == (3, 12)
    assert model.result_.method == "pgd"
    np.testing.assert_allclose(model.transform(V), W, rtol=1e-10)


def test_the_example_in_a_survey_with_worker_processes(tmp_path):
    """Worker processes import the rule's module when they unpickle its class, which registers it there."""
    from theory.survey import rank_survey

    V = _V(2)
    kw = dict(method="pgd", backend="numpy", seed=1, chunk=2, max_iter=200, progress=False)
    parallel = rank_survey(V, [2, 3], 4, workers=2, store=tmp_path / "store", **kw)
    alone = rank_survey(V, [2, 3], 4, **kw)
    for r in (2, 3):
        np.testing.assert_allclose(parallel.objectives[r], alone.objectives[r], rtol=1e-12)
        np.testing.assert_array_equal(parallel.consensus[r], alone.consensus[r])
    assert json.loads((tmp_path / "store" / "survey.json").read_text())["fit"]["method"] == "pgd"


def test_the_example_on_the_command_line(tmp_path, capsys, monkeypatch):
    from nmflab.cli import main

    monkeypatch.syspath_prepend(str(EXAMPLE.parent))
    data = tmp_path / "v.csv"
    np.savetxt(data, _V(3), delimiter=",")
    assert main(["--import", "projected_gradient", "fit", str(data), "--rank", "3", "--method", "pgd",
                 "--out", str(tmp_path / "fit")]) == 0
    assert json.loads((tmp_path / "fit.json").read_text())["method"] == "pgd"
    with pytest.raises(SystemExit):
        main(["--import", "projected_gradient", "fit", "--help"])
    assert "pgd" in capsys.readouterr().out
    assert main(["--import", "no_such_module_here", "fit", str(data), "--rank", "3"]) == 2
    assert "No module named 'no_such_module_here'" in capsys.readouterr().err


def _rule_class(**attributes):
    """A minimal rule class (not registered), with the given class attributes."""
    namespace = {"__annotations__": {"method": ClassVar[str], "loss": ClassVar[str], "beta": ClassVar[float]},
                 "method": "trial", "loss": "frobenius", "beta": 2.0,
                 "init": lambda self, xp, data, W, H, consts: None,
                 "update": lambda self, xp, data, W, H, state, consts: (W, H, state),
                 "objective": lambda self, xp, data, W, H, state, consts: data.divergence(2.0, W, H, None)}
    namespace.update(attributes)
    return dataclasses.dataclass(frozen=True)(type("Trial", (Rule,), namespace))


def test_register_refuses_what_cannot_serve_as_a_rule():
    with pytest.raises(TypeError, match="frozen dataclass"):
        register(type("Loose", (Rule,), {"method": "x", "loss": "kl", "beta": 1.0}))
    with pytest.raises(TypeError, match="must subclass nmflab.rules.Rule"):
        register(dataclasses.dataclass(frozen=True)(type("Alone", (), {})))
    with pytest.raises(TypeError, match="loss must be one of"):
        register(_rule_class(loss="hinge"))
    with pytest.raises(TypeError, match="beta must be 1.0 for the kl loss"):
        register(_rule_class(loss="kl"))
    with pytest.raises(TypeError, match="other than 'auto'"):
        register(_rule_class(method="auto"))
    with pytest.raises(TypeError, match="no 'penalty' field"):
        register(_rule_class(supports_penalty=True))
    with pytest.raises(TypeError, match="guard names 'eps'"):
        register(_rule_class(guard="eps"))
    with pytest.raises(ValueError, match="registered already by projected_gradient.ProjectedGradient"):
        register(_rule_class(method="pgd"))
    assert nmflab.rules.registered()[("frobenius", "pgd")] is projected_gradient.ProjectedGradient


def test_a_registered_rule_can_be_unregistered_and_names_its_limits():
    cls = register(_rule_class(method="trial-only-numpy", backends=("numpy",)))
    try:
        V = _V(4)
        assert "trial-only-numpy" in nmflab.methods()["frobenius"]
        res = nmflab.nmf(V, 2, method="trial-only-numpy", max_iter=3, seed=0)
        assert res.method == "trial-only-numpy" and res.n_iter == 3
        with pytest.raises(ValueError, match="runs on backend 'numpy', not 'jax'"):
            nmflab.nmf(V, 2, method="trial-only-numpy", backend="jax")
        with pytest.raises(ValueError, match="does not take sparse input"):
            import scipy.sparse

            nmflab.nmf(scipy.sparse.csr_matrix(V), 2, method="trial-only-numpy")
        with pytest.raises(ValueError, match="has no denominator guard"):
            nmflab.nmf(V, 2, method="trial-only-numpy", eps=1e-9)
        assert nmflab.nmf(V, 2, method=cls, max_iter=2, seed=0).method == "trial-only-numpy"  # the class itself
    finally:
        unregister("frobenius", "trial-only-numpy")
    assert "trial-only-numpy" not in nmflab.methods()["frobenius"]
    with pytest.raises(ValueError, match="unknown method 'trial-only-numpy'"):
        nmflab.nmf(_V(), 2, method="trial-only-numpy")


@pytest.mark.parametrize("takes_backend", [False, True])
def test_auto_asks_a_rule_about_the_backend_only_if_its_auto_score_takes_it(takes_backend):
    """A user's ``auto_score`` written without ``backend`` keeps working; one with it is told the backend."""
    seen = []
    if takes_backend:
        def auto_score(cls, *, rank, sparse, backend):
            seen.append(backend)
            return 99
    else:
        def auto_score(cls, *, rank, sparse):
            seen.append(None)
            return 99
    cls = register(_rule_class(method="eager", auto_score=classmethod(auto_score)))
    try:
        assert nmflab.rules.auto_choice("frobenius", rank=3, sparse=False, backend="jax") is cls
        assert seen == (["jax"] if takes_backend else [None])
    finally:
        unregister("frobenius", "eager")
