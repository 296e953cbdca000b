"""Inputs for R's measures (make_measures.R): a consensus matrix and a fit, written as CSV.

Run from the repository root: python tests/data/r_nmf/make_measures.py && Rscript tests/data/r_nmf/make_measures.R
"""

from pathlib import Path

import numpy as np

here = Path(__file__).parent
rng = np.random.default_rng(2004)
n, p, r, runs = 24, 40, 3, 30
truth = np.repeat(np.arange(r), n // r)
labels = np.array([np.where(rng.random(n) < 0.2, rng.integers(0, r, n), truth) for _ in range(runs)])
C = np.mean(labels[:, :, None] == labels[:, None, :], axis=0)
W = rng.gamma(0.6, size=(n, r)) + np.eye(r)[truth] * 2
H = rng.gamma(0.4, size=(r, p))
np.savetxt(here / "measures_consensus.csv", C, delimiter=",", fmt="%.17g")
np.savetxt(here / "measures_W.csv", W, delimiter=",", fmt="%.17g")
np.savetxt(here / "measures_H.csv", H, delimiter=",", fmt="%.17g")
