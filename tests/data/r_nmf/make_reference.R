# Reference runs of R's NMF package (Gaujoux & Seoighe 2010) for nmflab's R-compatibility tests.
#
# Usage (from the repository root):  Rscript tests/data/r_nmf/make_reference.R [SEED_DEMO_DIR] [OUT_DIR]
# Produced with R 4.2.2 and NMF 0.25 (Debian packages r-base-core, r-cran-nmf).
#
# Inputs: the seed demonstration's V (60 x 40, rows = samples), W0 and H0 (nmflab orientation).
# R's orientation is columns = samples: V_R = t(V), W_R = t(H0), H_R = t(W0).
# For each method in {brunet, lee} and each iteration count k in ITERS, the run stops after exactly
# k iterations (.stop = k); "conn" is the default run with connectivity stopping. Outputs, in R's
# orientation, written with 17 significant digits: <method>_<k>_W.tsv, <method>_<k>_H.tsv, and
# summary.tsv (method, run, niter, deviance). Also nndsvd_W.tsv / nndsvd_H.tsv: R's NNDSVD seed of V_R,
# and brunet_nndsvd_<k>_*.tsv: brunet started from it (its exact zeros are floored at iteration 10).
# snmf_r_<k>_* and snmf_l_<k>_*: R's sparse NMF (Kim & Park 2007) for exactly k iterations.
suppressMessages(library(NMF))
args <- commandArgs(trailingOnly = TRUE)
src <- if (length(args) >= 1) args[1] else "../shared/data/seed_demo"
out <- if (length(args) >= 2) args[2] else "tests/data/r_nmf"
rd <- function(name) { m <- as.matrix(read.table(file.path(src, name))); dimnames(m) <- NULL; m }
V <- rd("V.tsv"); W0 <- rd("W0.tsv"); H0 <- rd("H0.tsv")
VR <- t(V)
start <- nmfModel(W = t(H0), H = t(W0))
wr <- function(m, name) write.table(formatC(m, digits = 17, format = "g"), file.path(out, name),
                                    sep = "\t", quote = FALSE, row.names = FALSE, col.names = FALSE)
ITERS <- c(1L, 9L, 10L, 11L, 200L)
rows <- list()
for (method in c("brunet", "lee")) {
  for (k in ITERS) {
    fit <- nmf(VR, 3, method = method, seed = start, .stop = k)
    wr(basis(fit), sprintf("%s_%d_W.tsv", method, k)); wr(coef(fit), sprintf("%s_%d_H.tsv", method, k))
    rows[[length(rows) + 1]] <- data.frame(method = method, run = as.character(k), niter = niter(fit),
                                          deviance = formatC(deviance(fit), digits = 17, format = "g"))
  }
  fit <- nmf(VR, 3, method = method, seed = start)
  wr(basis(fit), sprintf("%s_conn_W.tsv", method)); wr(coef(fit), sprintf("%s_conn_H.tsv", method))
  rows[[length(rows) + 1]] <- data.frame(method = method, run = "conn", niter = niter(fit),
                                        deviance = formatC(deviance(fit), digits = 17, format = "g"))
}
write.table(do.call(rbind, rows), file.path(out, "summary.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
s0 <- seed(VR, 3, "nndsvd")
wr(basis(s0), "nndsvd_W.tsv"); wr(coef(s0), "nndsvd_H.tsv")
# brunet from the NNDSVD start, which has exact zeros: the floor at iteration 10 revives them.
rows <- list()
for (k in c(9L, 10L, 200L)) {
  fit <- nmf(VR, 3, method = "brunet", seed = nmfModel(W = basis(s0), H = coef(s0)), .stop = k)
  wr(basis(fit), sprintf("brunet_nndsvd_%d_W.tsv", k)); wr(coef(fit), sprintf("brunet_nndsvd_%d_H.tsv", k))
  rows[[length(rows) + 1]] <- data.frame(method = "brunet", run = sprintf("nndsvd_%d", k), niter = niter(fit),
                                        deviance = formatC(deviance(fit), digits = 17, format = "g"))
}
write.table(do.call(rbind, rows), file.path(out, "summary.tsv"), sep = "\t", quote = FALSE, row.names = FALSE,
            col.names = FALSE, append = TRUE)
# Kim & Park's sparse NMF (snmf/r, snmf/l) with R's defaults (eta = max(V), beta = 0.01), maxIter = k
# iterations (R's own convergence test is checked every 5 iterations and does not fire this early).
rows <- list()
for (method in c("snmf/r", "snmf/l")) {
  for (k in c(1L, 2L, 10L, 40L)) {
    fit <- nmf(VR, 3, method = method, seed = start, maxIter = k)
    tag <- sub("/", "_", method)
    wr(basis(fit), sprintf("%s_%d_W.tsv", tag, k)); wr(coef(fit), sprintf("%s_%d_H.tsv", tag, k))
    rows[[length(rows) + 1]] <- data.frame(method = tag, run = as.character(k), niter = niter(fit),
                                          deviance = formatC(deviance(fit), digits = 17, format = "g"))
  }
}
write.table(do.call(rbind, rows), file.path(out, "summary.tsv"), sep = "\t", quote = FALSE, row.names = FALSE,
            col.names = FALSE, append = TRUE)
