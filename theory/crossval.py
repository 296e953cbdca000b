"""Rank selection by held-out entries, and the elbow of a fit-error curve.

An NMF of rank high enough fits noise; the error on entries it never saw
stops improving (and rises) past the rank the data supports. The entries
of ``V`` are split into ``folds`` disjoint held-out sets; each fit sees
all entries but one set (a mask, :func:`nmflab.nmf`'s ``mask``) and is
scored on that set. See Gillis, *Nonnegative Matrix Factorization* (SIAM
2020), sec. 1.3 on choosing the rank, and Owen & Perry, Ann. Appl. Stat. 3
(2009) 564-594 on held-out validation for matrix factorizations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import nmflab
from nmflab import validation as val
from nmflab.losses import beta_divergence, resolve_loss

__all__ = ["CrossValidation", "cross_validate", "elbow", "holdout_folds"]


def holdout_folds(shape, folds: int, seed: int = 0) -> np.ndarray:
    """A fold number in ``0..folds-1`` for every entry, balanced within every row and every column.

    Entry ``(i, j)`` goes to fold ``(a_i + b_j) mod folds`` with ``a`` a random
    arrangement of the rows' offsets (each offset used ``n/folds`` times,
    up to one) and ``b`` a random permutation of ``0..p-1``. Each row then
    holds each fold ``p/folds`` times and each column ``n/folds`` times (up to
    one), so no row or column is ever entirely held out when both
    dimensions are at least ``folds``.
    """
    n, p = shape
    folds = val.check_positive_int(folds, "folds", minimum=2)
    if n < folds or p < folds:
        raise ValueError(f"{folds} folds need at least {folds} rows and columns, got shape {shape}")
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(7,)))
    row_offset = rng.permutation(np.arange(n) % folds)
    col_offset = rng.permutation(p)
    return (row_offset[:, None] + col_offset[None, :]) % folds


def elbow(x, y) -> int:
    """Index of the elbow of a decreasing curve: the point farthest below the chord from first to last.

    Both axes are scaled to ``[0, 1]`` first (the "kneedle" construction of
    Satopää et al. 2011), so the answer does not depend on units.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size != y.size or x.size < 3:
        raise ValueError("an elbow needs at least 3 points with one y per x")
    xs = (x - x[0]) / (x[-1] - x[0])
    span = y[0] - y[-1]
    ys = (y - y[-1]) / span if span != 0 else np.zeros_like(y)
    chord = 1.0 - xs  # the line from (0, 1) to (1, 0)
    return int(np.argmax(chord - ys))


@dataclass
class CrossValidation:
    """Held-out error per rank and fold.

    Attributes
    ----------
    ranks : list of int
    train_error, test_error : ndarray, shape (len(ranks), folds)
        Mean loss per counted entry on the fitted and on the held-out entries.
    loss : str
    best_rank : int
        The rank with the least mean held-out error.
    """

    ranks: list
    train_error: np.ndarray
    test_error: np.ndarray
    loss: str
    folds: int

    @property
    def best_rank(self) -> int:
        return int(self.ranks[int(np.argmin(self.test_error.mean(axis=1)))])


def cross_validate(V, ranks, *, folds: int = 5, restarts: int = 1, seed: int = 0, loss="frobenius",
                   **fit) -> CrossValidation:
    """Held-out error of rank-``r`` NMF for each ``r`` in ``ranks``.

    Parameters
    ----------
    V : array_like, shape (n_samples, n_features)
    ranks : iterable of int
    folds : int
        Disjoint held-out sets (:func:`holdout_folds`); each is held out once.
    restarts : int
        Restarts per fit; the one with the least training objective is scored.
    seed : int
    loss : str or float
        The loss fitted and scored (per entry: the mean divergence). For KL
        (and beta < 1) the held-out error is infinite where a fit predicts
        exactly 0 for a positive held-out entry: the model rules out what
        was observed, and the rank is scored accordingly.
    **fit
        Other options of :func:`nmflab.nmf` (``method`` must support masks,
        which every nmflab method but R's presets does). The default method
        is ``"mu"`` for ``beta < 2``: from a positive start a multiplicative
        update never sets an entry of ``W H`` to exactly 0, where coordinate
        descent (``"auto"``'s choice for KL) may at an entry the fit does not
        count, a held-out one; ``"auto"`` otherwise. (A fit must not keep
        ``W H`` positive there by looking at the held-out values: their
        pattern is test data.)
    """
    V = val.check_data_matrix(V, dtype=fit.get("dtype"))
    ranks = sorted({int(r) for r in ranks})
    if not ranks or ranks[0] < 1 or ranks[-1] > min(V.shape):
        raise ValueError(f"ranks must lie between 1 and min(V.shape) = {min(V.shape)}, got {ranks}")
    loss_name, beta = resolve_loss(loss)
    fit.setdefault("method", "mu" if beta < 2 else "auto")
    fold_of = holdout_folds(V.shape, folds, seed)
    train = np.empty((len(ranks), folds))
    test = np.empty((len(ranks), folds))
    for i, r in enumerate(ranks):
        for k in range(folds):
            held = fold_of == k
            res = nmflab.nmf(V, r, loss=loss, mask=~held, restarts=restarts,
                             seed=int(np.random.SeedSequence(seed, spawn_key=(r, k)).generate_state(1)[0]), **fit)
            WH = res.W @ res.H
            with np.errstate(divide="ignore", invalid="ignore"):
                train[i, k] = beta_divergence(np, V, WH, beta, (~held).astype(V.dtype)) / np.count_nonzero(~held)
                test[i, k] = beta_divergence(np, V, WH, beta, held.astype(V.dtype)) / np.count_nonzero(held)
    return CrossValidation(ranks=ranks, train_error=train, test_error=test, loss=loss_name, folds=folds)
