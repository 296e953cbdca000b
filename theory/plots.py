"""Figures of rank surveys and cross-validation (matplotlib, imported only here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["consensus_map", "cv_curve", "factor_heatmaps", "save_survey_figures", "survey_curves"]

_LABEL_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def consensus_map(C, labels=None, title: str = "", ax_size: float = 4.5):
    """Heatmap of a consensus matrix ordered by its average-linkage dendrogram, drawn above it.

    ``labels`` (one per sample, e.g. the known classes) are drawn as a
    coloured bar beside the map with a legend.
    """
    from scipy.cluster.hierarchy import dendrogram

    from .consensus import average_linkage

    plt = _pyplot()
    C = np.asarray(C, dtype=float)
    Z = average_linkage(C)
    fig = plt.figure(figsize=(ax_size + 1.6, ax_size + 1.2))
    grid = fig.add_gridspec(2, 3, width_ratios=[0.25, ax_size, 0.2], height_ratios=[1.0, ax_size],
                            wspace=0.03, hspace=0.03)
    top = fig.add_subplot(grid[0, 1])
    tree = dendrogram(Z, ax=top, no_labels=True, color_threshold=0, above_threshold_color="0.3")
    top.set_axis_off()
    order = np.asarray(tree["leaves"])
    heat = fig.add_subplot(grid[1, 1])
    image = heat.imshow(C[np.ix_(order, order)], cmap="viridis", vmin=0, vmax=1, interpolation="nearest",
                        aspect="auto")
    heat.set_xticks([])
    heat.set_yticks([])
    heat.set_xlabel(f"samples ({C.shape[0]}), dendrogram order")
    bar = fig.add_subplot(grid[1, 0])
    bar.set_xticks([])
    bar.set_yticks([])
    if labels is not None:
        labels = np.asarray(labels)
        names = list(dict.fromkeys(labels.tolist()))
        codes = np.array([names.index(v) for v in labels])[order]
        from matplotlib.colors import ListedColormap

        bar.imshow(codes[:, None], cmap=ListedColormap(_LABEL_COLOURS[: max(len(names), 1)]), aspect="auto",
                   interpolation="nearest", vmin=-0.5, vmax=len(names) - 0.5)
        handles = [plt.Rectangle((0, 0), 1, 1, color=_LABEL_COLOURS[i % len(_LABEL_COLOURS)])
                   for i in range(len(names))]
        fig.legend(handles, names, loc="upper left", fontsize=8, frameon=False, title="label")
    else:
        bar.set_axis_off()
    colour = fig.add_subplot(grid[1, 2])
    fig.colorbar(image, cax=colour, label="consensus (fraction of runs together)")
    if title:
        fig.suptitle(title)
    return fig


def survey_curves(survey, measures=("cophenetic", "dispersion", "silhouette_consensus", "evar", "rss",
                                    "sparseness_basis")):
    """Every measure against the rank, the shuffled null dashed beside it."""
    plt = _pyplot()
    cols = 3
    rows = -(-len(measures) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    ranks = np.asarray(survey.ranks)
    for ax, name in zip(axes.ravel(), measures):
        ax.plot(ranks, survey.column(name), "o-", color="C0", label="data")
        if survey.null_table:
            ax.plot(ranks, survey.column(name, null=True), "s--", color="0.5", label="shuffled null")
        if name == "rss":
            ax.plot(ranks, survey.column("svd_rss"), ":", color="C3", label="SVD floor")
            ax.set_yscale("log")
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("rank")
        ax.set_xticks(ranks)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(measures):]:
        ax.set_axis_off()
    axes.ravel()[0].legend(fontsize=8)
    fig.suptitle(f"rank survey: {survey.table[0]['restarts']} restarts per rank")
    fig.tight_layout()
    return fig


def factor_heatmaps(W, H, title: str = ""):
    """The weights ``W`` (samples x rank) and the parts ``H`` (rank x features), rows of H scaled to max 1."""
    plt = _pyplot()
    W, H = np.asarray(W, dtype=float), np.asarray(H, dtype=float)
    scale = H.max(axis=1, keepdims=True)
    scale[scale == 0] = 1
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 3]})
    im = left.imshow(W * scale.T, aspect="auto", cmap="magma", interpolation="nearest")
    left.set(title="coefficients W (x part max)", xlabel="component", ylabel="sample")
    fig.colorbar(im, ax=left)
    im = right.imshow(H / scale, aspect="auto", cmap="magma", interpolation="nearest")
    right.set(title="basis H (each part scaled to max 1)", xlabel="feature", ylabel="component")
    fig.colorbar(im, ax=right)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def cv_curve(cv):
    """Held-out and training error per entry against the rank (mean and range over folds)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    ranks = np.asarray(cv.ranks)
    for values, name, style in ((cv.test_error, "held-out", "o-"), (cv.train_error, "training", "s--")):
        mean = values.mean(axis=1)
        ax.plot(ranks, mean, style, label=name)
        ax.fill_between(ranks, values.min(axis=1), values.max(axis=1), alpha=0.2)
    ax.axvline(cv.best_rank, color="0.4", lw=0.8, ls=":", label=f"least held-out error: r = {cv.best_rank}")
    ax.set(xlabel="rank", ylabel=f"{cv.loss} loss per entry", yscale="log",
           title=f"{cv.folds}-fold held-out entries")
    ax.set_xticks(ranks)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_survey_figures(survey, directory, labels=None) -> list[Path]:
    """Write the survey curves and a consensus map per rank as PNG into ``directory``."""
    plt = _pyplot()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    fig = survey_curves(survey)
    paths.append(directory / "survey_curves.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    for r, C in survey.consensus.items():
        fig = consensus_map(C, labels=labels, title=f"consensus, rank {r}")
        paths.append(directory / f"consensus_rank{r}.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths
