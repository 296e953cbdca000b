"""Rank selection on data with a planted rank: held-out error, the elbow and the cophenetic choice.

Planted data: ``V ~ Poisson(W H)`` with ``W`` (samples in ``rank`` groups,
each group mostly made of its own part) and sparse parts ``H``, planted
rank 5. For ranks 2..9:

* held-out cross-validation (:func:`theory.crossval.cross_validate`, KL loss,
  5 folds balanced over rows and columns): the rank with the least held-out
  error;
* the elbow (:func:`theory.crossval.elbow`) of the training error curve;
* a rank survey (R's ``brunet`` updates, connectivity stopping): the rank
  with the highest cophenetic correlation (Brunet et al. 2004) and with the
  highest dispersion (Kim & Park 2007);
* the rank-r SVD floor of the squared error, beside the best NMF's.

Run: ``python -m experiments.rank_selection [--quick]``.
"""

from __future__ import annotations

import numpy as np

from theory.crossval import cross_validate, elbow
from theory.survey import rank_survey

from .common import Experiment, parse_args

NAME = "rank_selection"
SEED = 11
PLANTED = 5


def planted_counts(seed: int, n: int = 60, p: int = 80, rank: int = PLANTED, depth: float = 30.0):
    """Counts ``V ~ Poisson(depth * W H)`` with ``rank`` sample groups; returns ``(V, groups)``."""
    rng = np.random.default_rng(seed)
    groups = np.arange(n) % rank
    W = 0.15 * rng.random((n, rank)) + np.eye(rank)[groups] * rng.uniform(0.8, 1.2, (n, 1))
    H = rng.gamma(0.5, size=(rank, p)) * (rng.random((rank, p)) < 0.4)
    return rng.poisson(depth * W @ H).astype(np.float64), groups


def run(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    exp = Experiment(NAME, args, seeds=[SEED])
    V, groups = planted_counts(SEED)
    ranks = list(range(2, 10))
    folds, restarts = (3, 3) if args.quick else (5, 30)
    fit = {"max_iter": 150} if args.quick else {"max_iter": 3000, "tol": 1e-6}
    cv = cross_validate(V, ranks, folds=folds, seed=SEED, loss="kl", backend=args.backend, **fit)
    survey = rank_survey(V, ranks, restarts, seed=SEED, chunk=restarts, backend=args.backend, progress=False,
                         **({"max_iter": 150} if args.quick else {}))
    train = cv.train_error.mean(axis=1)
    cophenetic = survey.column("cophenetic")
    choices = {
        "held_out": cv.best_rank,
        "elbow_training_error": ranks[elbow(ranks, train)],
        "cophenetic_max": ranks[int(np.argmax(cophenetic))],
        "dispersion_max": ranks[int(np.argmax(survey.column("dispersion")))],
    }
    exp.numbers = {
        "planted_rank": PLANTED,
        "shape": list(V.shape),
        "ranks": ranks,
        "folds": folds,
        "restarts": restarts,
        "choices": choices,
        "test_error_mean": cv.test_error.mean(axis=1).tolist(),
        "train_error_mean": train.tolist(),
        "cophenetic": cophenetic.tolist(),
        "dispersion": survey.column("dispersion").tolist(),
        "rss": survey.column("rss").tolist(),
        "svd_rss": survey.column("svd_rss").tolist(),
    }
    exp.arrays = {"ranks": np.array(ranks), "test_error": cv.test_error, "train_error": cv.train_error,
                  "cophenetic": cophenetic, "dispersion": survey.column("dispersion"),
                  "rss": survey.column("rss"), "svd_rss": survey.column("svd_rss")}
    print(f"planted rank {PLANTED}; chosen: {choices}")
    return exp.save()


if __name__ == "__main__":
    run()
