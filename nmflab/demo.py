"""The seed demonstration: planted parts, monotone descent, recovered parts.

``nmflab demo`` builds the chapter's planted-parts matrix (60 × 40, three
overlapping block parts plus uniform noise in [0, 0.05]), fits rank 3 with
Lee–Seung multiplicative updates, prints the descent check, the initial and
final objective and the relative error, and draws two figures.
``nmflab demo --reference`` replays the chapter's own R run from the shared
reference data and prints its numbers beside the R trace.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import diagnostics
from .api import nmf
from .datasets import planted_parts, seed_reference

__all__ = ["fit_demo", "replay_reference", "run_demo", "run_reference"]


def _report(lines):
    for line in lines:
        print(line)


def replay_reference(directory=None, *, backend: str = "numpy") -> tuple[dict, dict]:
    """The R reference run replayed: 200 MU iterations from the recorded start, eps = 1e-9.

    Returns
    -------
    numbers : dict
        The chapter's numbers (``initial``, ``final``, ``relative_error``,
        ``max_increase``), ``max_trace_deviation`` (the largest relative
        difference from R's trace) and ``n_iter``.
    arrays : dict
        ``objective`` (nmflab's trace) and ``r_objective`` (R's).
    """
    ref = seed_reference(directory)
    res = nmf(
        ref["V"],
        3,
        method="mu",
        init=(ref["W0"], ref["H0"]),
        max_iter=200,
        stop="max_iter",
        check_every=1,
        eps=1e-9,
        backend=backend,
    )
    descent = diagnostics.monotone_descent(res.objective)
    deviation = float(np.max(np.abs(res.objective - ref["cost"]) / np.abs(ref["cost"])))
    numbers = {
        "initial": float(res.objective[0]),
        "final": float(res.objective[-1]),
        "relative_error": diagnostics.relative_error(ref["V"], res.W, res.H),
        "max_increase": descent.max_increase,
        "max_trace_deviation": deviation,
        "n_iter": res.n_iter,
    }
    return numbers, {"objective": res.objective, "r_objective": np.asarray(ref["cost"], dtype=float)}


def _descent_line(max_increase: float) -> str:
    """The largest change of the cost from one iteration to the next, said as what it is."""
    if max_increase > 0:
        return f"largest iteration-to-iteration increase in cost {max_increase:.3e}"
    return f"the cost fell at every iteration, by at least {-max_increase:.3e}"


def run_reference(directory=None, *, backend: str = "numpy") -> dict:
    """Replay the R reference run (:func:`replay_reference`) and print the chapter's numbers."""
    numbers, _ = replay_reference(directory, backend=backend)
    _report(
        [
            "Seed demonstration, R reference data (200 Lee–Seung iterations, eps = 1e-9)",
            f"  {_descent_line(numbers['max_increase'])}",
            f"  Initial cost: {numbers['initial']:.3f}, final cost: {numbers['final']:.3f}",
            f"  Relative reconstruction error ||V - WH||_F / ||V||_F: {numbers['relative_error']:.4f}",
            f"  Largest relative deviation from R's trace over 200 iterations: {numbers['max_trace_deviation']:.2e}",
        ]
    )
    return numbers


def run_demo(out_dir="out/demo", *, seed: int = 42, backend: str = "numpy", figures: bool = True) -> dict:
    """Fit the planted-parts matrix and write the two figures.

    Parameters
    ----------
    out_dir : path
        Folder for ``objective.png`` and ``parts.png``.
    seed : int
        Seed of the random start.
    backend : {"numpy", "jax"}
    figures : bool
        Draw the figures (needs matplotlib).

    Returns
    -------
    dict
        The printed numbers and the figure paths.
    """
    numbers, arrays, res = fit_demo(seed=seed, backend=backend)
    descent_text = "yes" if numbers["monotone"] else "NO"
    _report(
        [
            f"Seed demonstration: planted parts, V {arrays['V'].shape[0]}x{arrays['V'].shape[1]}, rank 3, "
            f"Lee–Seung multiplicative updates ({res.backend}, seed {seed})",
            f"  Iterations: {res.n_iter} ({res.message})",
            f"  Monotone descent: {descent_text} ({_descent_line(numbers['max_increase'])})",
            f"  Initial cost: {res.initial_objective:.3f}, final cost: {res.final_objective:.4f}",
            f"  Relative reconstruction error ||V - WH||_F / ||V||_F: {numbers['relative_error']:.4f}",
            f"  Recovered parts vs planted (mean matched cosine): {numbers['recovery']:.4f}",
        ]
    )
    if figures:
        numbers.update(_draw(Path(out_dir), res, arrays["H"], arrays["H_planted"]))
    return numbers


def fit_demo(*, seed: int = 42, backend: str = "numpy"):
    """The demonstration's fit: planted parts, rank 3, Lee–Seung MU to a relative change of 1e-6.

    Returns
    -------
    numbers : dict
        ``initial``, ``final``, ``n_iter``, ``status``, ``relative_error``,
        ``max_increase``, ``monotone``, ``recovery`` (mean matched cosine of
        the recovered parts to the planted ones).
    arrays : dict
        ``V``, the objective trace and its iterations, the recovered parts
        ``H`` (rows normalized to unit sum, ordered by centre of mass) and
        the planted ones ``H_planted``.
    result : Result
    """
    V, W_true, H_true = planted_parts()
    res = nmf(V, 3, loss="frobenius", method="mu", init="random", seed=seed, max_iter=2000, tol=1e-6,
              check_every=1, backend=backend)
    descent = diagnostics.monotone_descent(res.objective, initial=res.initial_objective)
    W, H = diagnostics.normalize(res.W, res.H, "sum")
    order = diagnostics.center_of_mass_order(H)
    W, H = W[:, order], H[order]
    H_planted = diagnostics.normalize(W_true, H_true, "sum")[1]
    recovery = diagnostics.recovery_score(H, H_planted)
    numbers = {
        "initial": res.initial_objective,
        "final": res.final_objective,
        "n_iter": res.n_iter,
        "status": res.status.name,
        "relative_error": diagnostics.relative_error(V, res.W, res.H),
        "max_increase": descent.max_increase,
        "monotone": descent.monotone,
        "recovery": recovery,
    }
    arrays = {"V": V, "objective": res.objective, "iterations": res.iterations, "H": H, "H_planted": H_planted}
    return numbers, arrays, res


def _draw(out: Path, res, H, H_planted) -> dict:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("the demo figures need matplotlib; install it with `pip install 'nmflab[plot]'`") from None
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    its = np.concatenate([[0], res.iterations])
    obj = np.concatenate([[res.initial_objective], res.objective])
    ax.semilogy(its, obj, color="C0", lw=1.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"objective $\frac{1}{2}\|V - WH\|_F^2$")
    ax.set_title("Multiplicative updates: the objective never increases")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    objective_path = out / "objective.png"
    fig.savefig(objective_path, dpi=150)
    plt.close(fig)

    rank = H.shape[0]
    fig, axes = plt.subplots(rank, 1, figsize=(7, 1.8 * rank), sharex=True)
    features = np.arange(1, H.shape[1] + 1)
    for k, ax in enumerate(np.atleast_1d(axes)):
        ax.bar(features, H_planted[k], color="0.8", width=0.9, label="planted")
        ax.plot(features, H[k], "o-", color=f"C{k}", ms=3, lw=1.2, label="recovered")
        ax.set_ylabel(f"part {k + 1}")
        ax.legend(loc="best", fontsize=8, frameon=True, framealpha=0.9)
    axes[-1].set_xlabel("feature")
    fig.suptitle("Rows of H normalized to unit sum, ordered by centre of mass")
    fig.tight_layout()
    parts_path = out / "parts.png"
    fig.savefig(parts_path, dpi=150)
    plt.close(fig)
    print(f"  Figures: {objective_path}, {parts_path}")
    return {"figures": [str(objective_path), str(parts_path)]}
