"""R peers of the race: R's NMF package (``lee``, ``brunet``) and RcppML, run through ``Rscript``.

Each solver runs in one R process that reads the data and the shared start
from binary files, makes one untimed warm-up fit (R loads packages and
compiles lazily on first use), then fits with ``max_iter`` = 1, 2, 4, ...
until the budget is spent, as :func:`benchmarks.race.doubling` does for the
Python peers: each fit is timed inside R (``Sys.time``, around the call
alone) and its factors are written back for the race to score.

* ``r-nmf-lee`` / ``r-nmf-brunet``: ``NMF::nmf(V, r, method, seed =
  nmfModel(W = W0, H = H0), .stop = k, maxIter = k)``, the shared start and
  exactly ``k`` iterations (Gaujoux & Seoighe 2010). They run on the BLAS
  that R is linked to (Debian: the reference BLAS, one thread).
* ``rcppml``: ``RcppML::nmf(V, r, tol = 1e-12, maxit = k, seed = 1)``,
  alternating least squares with a scaling diagonal (DeBruine et al. 2021;
  ``W diag(d)`` is scored as W), on ``setRcppMLthreads(threads)``.
  RcppML 0.3 takes no custom start: it starts from its own random ``W``
  (seed 1), which the race reports.

Debian packages: ``r-cran-nmf``, ``r-cran-rcppml``.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["OWN_START", "SOLVERS", "doubling", "installed"]

#: R solvers per loss: name -> (R package, how the fit is called).
SOLVERS = {
    "frobenius": {"r-nmf-lee": "NMF", "rcppml": "RcppML"},
    "kl": {"r-nmf-brunet": "NMF"},
}
#: Solvers that cannot take the shared start.
OWN_START = ("rcppml",)

_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; solver <- args[2]
n <- as.integer(args[3]); p <- as.integer(args[4]); r <- as.integer(args[5])
budget <- as.numeric(args[6]); threads <- as.integer(args[7])
read <- function(name, rows, cols) matrix(readBin(file.path(dir, name), "double", rows * cols), rows, cols)
V <- read("V.bin", n, p); W0 <- read("W0.bin", n, r); H0 <- read("H0.bin", r, p)
if (solver == "rcppml") {
  suppressMessages(library(RcppML)); setRcppMLthreads(threads)
  fit <- function(k) {
    m <- RcppML::nmf(V, r, tol = 1e-12, maxit = k, verbose = FALSE, seed = 1)
    list(m$w %*% diag(m$d, r), m$h)
  }
} else {
  suppressMessages(library(NMF))
  method <- sub("r-nmf-", "", solver, fixed = TRUE)
  fit <- function(k) {
    f <- NMF::nmf(V, r, method, seed = NMF::nmfModel(W = W0, H = H0), .stop = k, maxIter = k)
    list(NMF::basis(f), NMF::coef(f))
  }
}
# untimed warm-up: lazy loading and byte compilation made the first timed fits 4-6x slower after one
for (i in 1:3) invisible(fit(1))
spent <- 0; k <- 1
while (spent < budget && k <= 16384) {
  t0 <- as.numeric(Sys.time()); f <- fit(k); el <- as.numeric(Sys.time()) - t0
  writeBin(as.vector(f[[1]]), file.path(dir, sprintf("W_%d.bin", k)))
  writeBin(as.vector(f[[2]]), file.path(dir, sprintf("H_%d.bin", k)))
  cat(sprintf("POINT %d %.6f\n", k, el)); flush(stdout())
  spent <- spent + el; k <- k * 2
}
"""


@functools.cache
def _has_package(package: str) -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", f"cat(requireNamespace('{package}', quietly = TRUE))"],
                           capture_output=True, text=True, check=False)
    return probe.stdout.strip().endswith("TRUE")


def installed(loss: str) -> list[str]:
    """The R solvers for ``loss`` whose package this machine has (none without ``Rscript``)."""
    return [name for name, package in SOLVERS.get(loss, {}).items() if _has_package(package)]


def doubling(solver: str, V, W0, H0, budget: float, threads: int, samples_are_columns: bool, keep) -> list:
    """(seconds, keep(W, H), iterations) of ``solver``'s fits with 1, 2, 4, ... iterations, within ``budget``.

    R's convention has samples as columns: ``V`` goes to R as it is if
    ``samples_are_columns``, else transposed (and the start with it).

    Raises ``RuntimeError`` with R's last words if the R process fails
    before its first timed fit.
    """
    import numpy as np

    if not samples_are_columns:  # V^T ~ H^T W^T: R's W is our H^T and R's H our W^T
        return doubling(solver, V.T, H0.T, W0.T, budget, threads, True, lambda W, H: keep(H.T, W.T))
    n, p = V.shape
    r = W0.shape[1]
    with tempfile.TemporaryDirectory(prefix="nmflab-r-") as tmp:
        folder = Path(tmp)
        # The R rules are not symmetric under transposition (brunet updates H first; lee rescales W), so each
        # runs on the matrix an R user would pass. Written column-major, as R stores a matrix.
        for name, array in (("V", V), ("W0", W0), ("H0", H0)):
            np.asarray(array, dtype=np.float64).ravel(order="F").tofile(folder / f"{name}.bin")
        script = folder / "race.R"
        script.write_text(_SCRIPT)
        run = subprocess.run(["Rscript", str(script), tmp, solver, str(n), str(p), str(r), repr(float(budget)),
                              str(threads)], capture_output=True, text=True, check=False)
        points = []
        for line in run.stdout.splitlines():
            if not line.startswith("POINT "):
                continue
            _, k, seconds = line.split()
            W = np.fromfile(folder / f"W_{k}.bin").reshape((r, n)).T  # column-major n x r
            H = np.fromfile(folder / f"H_{k}.bin").reshape((p, r)).T  # column-major r x p
            points.append((float(seconds), keep(W, H), int(k)))
    if not points:
        raise RuntimeError(f"{solver}: R exited with {run.returncode}: {run.stderr.strip()[-300:]}")
    return points
