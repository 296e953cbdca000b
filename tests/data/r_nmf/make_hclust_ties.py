"""Inputs for R's average linkage on consensus matrices full of ties (make_hclust_ties.R).

The matrices come from ``tie_cases`` in tests/test_consensus.py, which the test regenerates bit for bit; only
R's answers are stored. Run from the repository root:
python tests/data/r_nmf/make_hclust_ties.py && Rscript tests/data/r_nmf/make_hclust_ties.R
"""

import sys
from pathlib import Path

import numpy as np

root = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(root))
from tests.test_consensus import tie_cases  # noqa: E402

out = Path("/tmp/nmflab-hclust-ties")
out.mkdir(exist_ok=True)
for name, C in tie_cases():
    np.savetxt(out / f"{name}.csv", C, delimiter=",", fmt="%.17g")
print(f"wrote {len(list(out.glob('*.csv')))} matrices to {out}")
