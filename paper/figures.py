"""Figures of the paper, drawn from ``results/`` only (nothing here fits a model).

``python -m paper.figures NAME [NAME ...] [--results results] [--out paper/figures]``
draws the named figures (``all`` for every one whose results exist).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

FIGURES = {}


def figure(fn):
    FIGURES[fn.__name__] = fn
    return fn


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 150, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _load(results: Path, name: str):
    folder = results / name
    numbers = json.loads((folder / "numbers.json").read_text())
    with np.load(folder / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    return numbers, arrays


@figure
def zero_locking(results: Path, out: Path) -> Path:
    """KL updates from NNDSVD on ALL/AML: plain MU stalls, the floored variant does not."""
    plt = _pyplot()
    numbers, arrays = _load(results, "zero_locking")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.4))
    styles = {"plain": ("C3", "plain MU (zeros locked)"), "floored": ("C0", "floored every 10 it. (R's brunet)")}
    for label, (color, text) in styles.items():
        its = arrays[f"{label}_iterations"]
        n = numbers[label]
        zeros = n["zeros_W"] + n["zeros_H"]
        ax1.plot(its, arrays[f"{label}_objective"], color=color, lw=1.5, label=f"{text}: {zeros} exact zeros at the end")
        ax2.semilogy(its, arrays[f"{label}_kkt"], color=color, lw=1.5, label=text)
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("generalized KL divergence")
    ax1.set_title(f"ALL/AML, rank {numbers['data']['rank']}, NNDSVD start "
                  f"({numbers['start_zeros']['total']} exact zeros)", fontsize=9)
    ax1.legend(fontsize=7, frameon=False)
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("relative KKT residual")
    ax2.set_title("stationarity", fontsize=9)
    ax2.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "zero_locking.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paper.figures", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help=f"figures: {', '.join(FIGURES)} or all")
    parser.add_argument("--results", default="results")
    parser.add_argument("--out", default="paper/figures")
    args = parser.parse_args(argv)
    names = [n for n in FIGURES if (Path(args.results) / n).is_dir()] if args.names == ["all"] else args.names
    for name in names:
        if name not in FIGURES:
            parser.error(f"unknown figure {name!r}; choose from {', '.join(FIGURES)}")
        print(FIGURES[name](Path(args.results), Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
