# R NMF's cophcor, and stats::hclust's average-linkage merges, heights and cuts, on the consensus matrices
# written by make_hclust_ties.py. One line per case and quantity: case,quantity,values separated by spaces.
suppressMessages(library(NMF))
here <- "tests/data/r_nmf"
files <- sort(list.files("/tmp/nmflab-hclust-ties", pattern = "\\.csv$", full.names = TRUE))
rows <- character()
for (f in files) {
  name <- sub("\\.csv$", "", basename(f))
  C <- as.matrix(read.csv(f, header = FALSE))
  dimnames(C) <- NULL
  hc <- hclust(as.dist(1 - C), method = "average")
  put <- function(what, values) rows <<- c(rows, paste(name, what, paste(values, collapse = " "), sep = ","))
  put("cophcor", sprintf("%.17g", cophcor(C)))
  put("height", sprintf("%.17g", hc$height))
  put("merge", t(hc$merge))
  for (k in 2:5) put(sprintf("cutree%d", k), cutree(hc, k = k))
}
writeLines(c("case,quantity,values", rows), file.path(here, "hclust_ties_r.csv"))
cat("wrote", length(files), "cases\n")
