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


def _save(fig, out: Path, filename: str, *, tight: bool = True) -> Path:
    """Lay out ``fig`` (unless it placed its axes itself), write it to ``out/filename`` and close it."""
    import matplotlib.pyplot as plt

    if tight:
        fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    fig.savefig(path)
    plt.close(fig)
    return path


def _panels(plt, count: int, cols: int, width: float, row_height: float):
    """A figure with ``count`` panels in rows of ``cols`` (spare cells hidden) and the panels' axes."""
    rows = int(np.ceil(count / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width, row_height * rows), squeeze=False)
    for ax in axes.ravel()[count:]:
        ax.axis("off")
    return fig, axes.ravel()[:count]


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
    return _save(fig, out, "zero_locking.png")


@figure
def rank_selection(results: Path, out: Path) -> Path:
    """Planted rank 5: held-out error, training error, cophenetic/dispersion and the SVD floor against rank."""
    plt = _pyplot()
    numbers, arrays = _load(results, "rank_selection")
    ranks, planted = arrays["ranks"], numbers["planted_rank"]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.1))
    test = arrays["test_error"]
    median = np.median(test, axis=1)  # infinite where most folds are (a positive held-out count predicted as 0)
    finite = np.isfinite(median)
    axes[0].plot(ranks[finite], median[finite], "o-", label=f"held-out ({numbers['folds']} folds, median)")
    if (~finite).any():
        top = np.max(median[finite]) * 1.3
        axes[0].plot(ranks[~finite], np.full((~finite).sum(), top), "^", color="C0", mfc="none",
                     label="held-out median infinite")
    axes[0].plot(ranks, arrays["train_error"].mean(axis=1), "s--", label="training (mean)")
    axes[0].set(xlabel="rank", ylabel="KL divergence per entry", yscale="log", title="held-out entries")
    axes[1].plot(ranks, arrays["cophenetic"], "o-", label="cophenetic")
    axes[1].plot(ranks, arrays["dispersion"], "s--", label="dispersion")
    axes[1].set(xlabel="rank", ylabel="score", title=f"consensus of {numbers['restarts']} restarts")
    axes[2].plot(ranks, arrays["rss"], "o-", label="best NMF")
    axes[2].plot(ranks, arrays["svd_rss"], ":", label="SVD floor (Eckart–Young)")
    axes[2].set(xlabel="rank", ylabel="squared error", yscale="log", title="fit error")
    for ax, where in zip(axes, ("lower left", "lower right", "upper right")):
        ax.axvline(planted, color="0.5", lw=0.8, ls=":")
        ax.set_xticks(ranks)
        ax.legend(fontsize=7, frameon=False, loc=where)
    choices = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in numbers["choices"].items())
    fig.suptitle(f"planted rank {planted} ({numbers['shape'][0]}x{numbers['shape'][1]} Poisson counts); "
                 f"chosen — {choices}", fontsize=8)
    return _save(fig, out, "rank_selection.png")


@figure
def brunet(results: Path, out: Path) -> Path:
    """Cophenetic curves of ALL/AML and medulloblastoma beside their shuffled nulls."""
    plt = _pyplot()
    numbers, _ = _load(results, "brunet")
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.1), sharey=True)
    titles = {"all_aml": "ALL/AML (38 x 5000)", "medulloblastoma": "medulloblastoma (34 x 5893)"}
    for ax, (name, title) in zip(axes, titles.items()):
        info = numbers[name]
        ranks = [row["rank"] for row in info["table"]]
        ax.plot(ranks, [row["cophenetic"] for row in info["table"]], "o-", label="data")
        ax.plot(ranks, [row["cophenetic"] for row in info["null_table"]], "s--", color="0.5",
                label="features shuffled across samples")
        ax.set(xlabel="rank", title=f"{title}, {info['restarts']} restarts per rank")
        ax.set_xticks(ranks)
    axes[0].set_ylabel("cophenetic correlation")
    axes[0].legend(fontsize=7, frameon=False)
    path = _save(fig, out, "brunet_cophenetic.png")
    # the rank-3 ALL/AML consensus map, ordered by its dendrogram, with the known classes beside it
    from theory.plots import consensus_map

    _, arrays = _load(results, "brunet")
    fig = consensus_map(arrays["all_aml_consensus_rank3"], labels=arrays["all_aml_labels"],
                        title=f"ALL/AML consensus at rank 3 ({numbers['all_aml']['restarts']} restarts)")
    _save(fig, out, "brunet_consensus.png", tight=False)
    return path


@figure
def rank_gap(results: Path, out: Path) -> Path:
    """Each gallery matrix: literature rank₊, the computed interval, and every lower bound's raw value."""
    plt = _pyplot()
    numbers, _ = _load(results, "rank_gap")
    cases = numbers["cases"]
    markers = {"fooling_set": ("o", "fooling set"), "rectangle_cover": ("s", "rectangle cover"),
               "hyperplane_separation": ("^", "hyperplane separation"),
               "nonneg_nuclear_norm": ("v", "non-negative nuclear norm"), "tau_sos": ("D", "τ₊ SOS relaxation"),
               "tau_plus": ("*", "τ₊"), "geometric": ("P", "geometric (rank 3)")}
    fig, ax = plt.subplots(figsize=(9.0, 0.24 * len(cases) + 1.4))
    for y, case in enumerate(cases):
        low, high = case["literature"]
        ax.plot([low - 0.3, high + 0.3], [y, y], color="0.8", lw=7, solid_capstyle="butt",
                label="literature" if y == 0 else None)
        ax.plot([case["lower"], case["upper"]], [y, y], color="C3" if not case["exact"] else "C2", lw=2.5,
                marker="|", ms=10, label=None)
        for k, (method, (marker, label)) in enumerate(markers.items()):
            e = case["methods"].get(method)
            if e and e["value"] is not None:
                ax.plot(e["value"], y + 0.22, marker, color=f"C{k % 10}", ms=4, alpha=0.8,
                        label=label if not any(label == t.get_label() for t in ax.lines) else None)
    ax.plot([], [], color="C2", lw=2.5, label="computed: bounds meet")
    ax.plot([], [], color="C3", lw=2.5, label="computed: gap left")
    ax.set_yticks(range(len(cases)))
    ax.set_yticklabels([f"{c['name']} ({c['shape'][0]}x{c['shape'][1]})" for c in cases], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("non-negative rank (markers: each lower bound's value before rounding up)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, out, "rank_gap.png")


@figure
def faces_parts(results: Path, out: Path) -> Path:
    """ORL faces: NMF parts, PCA eigenfaces and k-means centroids; error against rank; sparseness."""
    plt = _pyplot()
    numbers, arrays = _load(results, "faces_parts")
    shape = tuple(numbers["image_shape"])
    rank = numbers["rank"]
    side = int(np.ceil(np.sqrt(rank)))
    panels = [("nmf_parts", "NMF parts (sum to the face)", "gray_r", False),
              ("pca_eigenfaces", "PCA eigenfaces (signed; red > 0, blue < 0)", "RdBu_r", True),
              ("kmeans_centroids", "k-means centroids (one per face)", "gray", False)]
    fig = plt.figure(figsize=(11.5, 4.6))
    grid = fig.add_gridspec(1, 3, wspace=0.08)
    for g, (key, title, cmap, signed) in enumerate(panels):
        images = arrays[key]
        mosaic = np.full((side * (shape[0] + 2), side * (shape[1] + 2)), np.nan)
        for k, image in enumerate(images[: side * side]):
            image = image.reshape(shape)
            scale = np.abs(image).max() or 1.0
            r, c = divmod(k, side)
            mosaic[r * (shape[0] + 2):r * (shape[0] + 2) + shape[0],
                   c * (shape[1] + 2):c * (shape[1] + 2) + shape[1]] = image / scale
        ax = fig.add_subplot(grid[0, g])
        ax.imshow(mosaic, cmap=plt.get_cmap(cmap).with_extremes(bad="white"), vmin=-1 if signed else 0, vmax=1, interpolation="nearest")
        ax.set_title(f"{title}\nmedian Hoyer sparseness {numbers['median_sparseness'][key.split('_')[0]]:.2f}",
                     fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.suptitle(f"ORL faces ({numbers['n_images']} images of {shape[0]}x{shape[1]} pixels), rank {rank}; "
                 "each image scaled to its own largest magnitude", fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.86)
    _save(fig, out, "faces_parts_basis.png", tight=False)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.1))
    ranks = numbers["ranks"]
    styles = {"nmf": ("o-", "NMF (HALS)"), "pca": ("s-", "PCA (mean + r components)"),
              "kmeans": ("^-", "k-means (r centroids)"), "svd": ("k--", "truncated SVD (floor at rank r)")}
    for key, (style, label) in styles.items():
        ax1.plot(ranks, numbers["errors"][key], style, label=label, ms=4)
    ax1.set(xlabel="rank r (number of basis images)", ylabel="relative error ||V - V̂||_F / ||V||_F")
    ax1.legend(fontsize=7, frameon=False)
    data = [arrays[f"sparseness_{k}"] for k in ("nmf", "pca", "kmeans")]
    ax2.boxplot(data, tick_labels=["NMF parts", "eigenfaces", "centroids"])
    ax2.set(ylabel="Hoyer sparseness of each basis image", title=f"rank {rank}")
    return _save(fig, out, "faces_parts_error.png")


@figure
def text_topics(results: Path, out: Path) -> Path:
    """Top terms of each KL-NMF topic of the Lee news corpus, with their weights."""
    plt = _pyplot()
    numbers, _ = _load(results, "text_topics")
    topics = numbers["topics"]
    fig, axes = _panels(plt, len(topics), 5, 11, 2.3)
    for t, (ax, topic) in enumerate(zip(axes, topics)):
        k = 8
        ax.barh(range(k)[::-1], topic["weights"][:k], color=f"C{t % 10}")
        ax.set_yticks(range(k)[::-1])
        ax.set_yticklabels(topic["terms"][:k], fontsize=7)
        ax.tick_params(axis="x", labelsize=6)
        ax.xaxis.set_major_locator(plt.MaxNLocator(3))
        ax.set_title(f"topic {t + 1}: {topic['dominant_documents']} docs, "
                     f"match {topic['median_match_cosine']:.2f}", fontsize=7)
        ax.grid(axis="y", visible=False)
    fig.suptitle(f"Lee news corpus ({numbers['n_documents']} documents, {numbers['n_terms']} terms), "
                 f"KL NMF rank {numbers['rank']}: term probability within each topic; "
                 f"'match' = median cosine to the closest topic of the other {numbers['restarts'] - 1} restarts",
                 fontsize=8)
    return _save(fig, out, "text_topics.png")


@figure
def solver_race(results: Path, out: Path) -> Path:
    """Relative objective gap against wall time for every solver, per data set and loss."""
    plt = _pyplot()
    numbers, arrays = _load(results, "solver_race")
    races = numbers["races"]
    fig, axes = _panels(plt, len(races), 2, 9, 3.2)
    solvers = sorted({s for race in races for s in race["table"]})
    colors = {s: f"C{k % 10}" for k, s in enumerate(solvers)}  # one colour per solver in every panel
    for ax, race in zip(axes, races):
        for solver in race["table"]:
            curve = arrays.get(f"{race['key']}__{solver}")
            if curve is None:
                continue
            ours = solver.startswith("nmflab")
            ax.loglog(curve[:, 0], np.maximum(curve[:, 1], 1e-10), "-" if ours else "--o", ms=3,
                      lw=1.8 if ours else 1.0, color=colors[solver], label=solver)
        for level in (1e-2, 1e-3):
            ax.axhline(level, color="0.6", lw=0.6, ls=":")
        ax.set(xlabel="wall time (s)", ylabel="(objective - best) / best",
               title=f"{race['data']} {race['shape'][0]}x{race['shape'][1]}, rank {race['rank']}, {race['loss']}")
        ax.legend(fontsize=6.5, frameon=False)
    fig.suptitle(f"same NNDSVDa start, {numbers['threads']} threads; dotted lines: 1 % and 0.1 % of the best "
                 "objective any solver reached", fontsize=8)
    return _save(fig, out, "solver_race.png")


@figure
def seed_demo(results: Path, out: Path) -> Path:
    """Objective traces (the fit; nmflab beside R on the reference run) and recovered against planted parts."""
    plt = _pyplot()
    numbers, arrays = _load(results, "seed_demo")
    has_reference = "reference_objective" in arrays
    fig, axes = plt.subplots(1, 3 if has_reference else 2, figsize=(11 if has_reference else 7.5, 3.1))
    fit = numbers["fit"]
    axes[0].semilogy(arrays["fit_iterations"], arrays["fit_objective"], color="C0")
    axes[0].set(xlabel="iteration", ylabel="½‖V − WH‖²", title=f"planted parts, Lee–Seung MU\n{fit['n_iter']} iterations, "
                f"{'monotone' if fit['monotone'] else 'NOT monotone'}")
    H, planted = arrays["fit_H"], arrays["fit_H_planted"]
    for k in range(H.shape[0]):
        axes[1].plot(planted[k], color=f"C{k}", lw=3, alpha=0.3)
        axes[1].plot(H[k], color=f"C{k}", lw=1.2, label=f"part {k + 1}")
    axes[1].set(xlabel="feature", ylabel="weight (rows sum to 1)",
                title=f"recovered (lines) vs planted (bands)\nmean matched cosine {fit['recovery']:.4f}")
    axes[1].legend(fontsize=7, frameon=False)
    if has_reference:
        ref = numbers["reference"]
        its = range(1, len(arrays["reference_objective"]) + 1)
        axes[2].semilogy(its, arrays["reference_r_objective"], color="0.6", lw=4, label="R (chapter)")
        axes[2].semilogy(its, arrays["reference_objective"], color="C3", lw=1, label="nmflab")
        axes[2].set(xlabel="iteration", ylabel="½‖V − WH‖²",
                    title=f"R reference run replayed\nmax relative deviation {ref['max_trace_deviation']:.1e}")
        axes[2].legend(fontsize=7, frameon=False)
    return _save(fig, out, "seed_demo.png")


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
