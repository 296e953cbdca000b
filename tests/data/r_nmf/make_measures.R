# R NMF's stability measures on the inputs of make_measures.py (nmflab orientation: V = W H,
# rows of W are samples; R's basis is t(H) and its coefficients t(W)).
suppressMessages({library(NMF); library(cluster)})
here <- "tests/data/r_nmf"
C <- as.matrix(read.csv(file.path(here, "measures_consensus.csv"), header = FALSE))
W <- as.matrix(read.csv(file.path(here, "measures_W.csv"), header = FALSE))
H <- as.matrix(read.csv(file.path(here, "measures_H.csv"), header = FALSE))
dimnames(C) <- NULL; dimnames(W) <- NULL; dimnames(H) <- NULL
k <- ncol(W)
model <- nmfModel(W = t(H), H = t(W))
hc <- hclust(as.dist(1 - C), method = "average")
si_cons <- silhouette(cutree(hc, k = k), dmatrix = 1 - C)
out <- c(
  cophenetic = cophcor(C),
  dispersion = dispersion(C),
  silhouette_consensus = summary(si_cons)$avg.width,
  silhouette_coef = summary(silhouette(model, what = "samples"))$avg.width,
  silhouette_basis = summary(silhouette(model, what = "features"))$avg.width,
  sparseness_basis = unname(sparseness(model)["basis"]),
  sparseness_coef = unname(sparseness(model)["coef"])
)
write.csv(data.frame(measure = names(out), value = sprintf("%.17g", out)), file.path(here, "measures_r.csv"),
          row.names = FALSE, quote = FALSE)
print(out)
