"""The shape of the code: no import cycles, a light import, a leaf of control flow, public seams only."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "nmflab"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, modules) -> set[str]:
    """Every nmflab module that ``name`` imports, at the top or inside a function (deferred imports count)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # "nmflab.data.sparse.at_nonzeros" -> its module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def test_no_import_cycles_anywhere_in_nmflab():
    """A cycle that works only because one of its edges is a deferred import is still a cycle.

    A package's ``__init__`` importing its own submodules is not an edge back (Python imports the
    package before any submodule): those edges are left out.
    """
    modules = _modules()
    graph = {name: {t for t in _imports(name, path, modules) if not name.startswith(t + ".")}
             for name, path in modules.items()}
    on_path, done, cycles = [], set(), []

    def visit(node):
        if node in on_path:
            cycles.append(on_path[on_path.index(node):] + [node])
            return
        if node in done:
            return
        on_path.append(node)
        for target in sorted(graph[node]):
            visit(target)
        on_path.pop()
        done.add(node)

    for name in sorted(graph):
        visit(name)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_planted_cycle(tmp_path, monkeypatch):
    """The check above can fail: two modules importing each other (one deferred) are reported."""
    pkg = tmp_path / "nmflab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    with pytest.raises(AssertionError, match="nmflab.a -> nmflab.b -> nmflab.a"):
        test_no_import_cycles_anywhere_in_nmflab()


def test_xp_is_a_leaf():
    modules = _modules()
    assert _imports("nmflab._xp", modules["nmflab._xp"], modules) == set()


def test_importing_nmflab_loads_only_numpy_and_scipy():
    """The installed distributions whose modules ``import nmflab`` loads (in a fresh interpreter).

    numpy and scipy are imported first: what they load themselves (scipy's
    test utilities import Cython where it is installed) is theirs.
    """
    import importlib.metadata

    code = ("import numpy, scipy, sys; before = set(sys.modules); import nmflab, nmflab.rules, nmflab.data; "
            "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=REPO).stdout.split())
    owners = importlib.metadata.packages_distributions()
    distributions = {d.lower() for m in loaded if m not in sys.stdlib_module_names for d in owners.get(m, ())}
    assert distributions <= {"nmflab", "numpy", "scipy"}, distributions
    assert {"numpy", "scipy"} <= distributions  # the check sees what it should


def test_theory_benchmarks_experiments_and_paper_use_only_public_nmflab_names():
    private = []
    for folder in ("theory", "benchmarks", "experiments", "paper"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "nmflab":
                    names = node.module.split(".")[1:] + [alias.name for alias in node.names]
                elif isinstance(node, ast.Import):
                    names = [part for alias in node.names if alias.name.split(".")[0] == "nmflab"
                             for part in alias.name.split(".")[1:]]
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "nmflab":
                    names = [node.attr]
                if any(n.startswith("_") and not n.startswith("__") for n in names):
                    private.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not private, private
