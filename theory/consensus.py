"""Stability measures of an ensemble of NMF runs at one rank.

Orientation follows :func:`nmflab.nmf`: rows of ``V`` are samples, ``W``
(``n_samples x rank``) holds each sample's weights and ``H``
(``rank x n_features``) the parts. A run assigns each sample to its
dominant component (the largest entry of its row of ``W``; R: the largest
entry of the sample's column of the coefficient matrix).

Definitions follow R's NMF package (Gaujoux & Seoighe 2010), so that the
numbers can be compared with it, and the papers that introduced them:

* connectivity and consensus matrices, cophenetic correlation: Brunet,
  Tamayo, Golub & Mesirov, PNAS 101 (2004) 4164-4169;
* dispersion: Kim & Park, Bioinformatics 23 (2007) 1495-1502;
* silhouette width: Rousseeuw, J. Comput. Appl. Math. 20 (1987) 53-65;
* sparseness: Hoyer, JMLR 5 (2004) 1457-1469.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ConsensusAccumulator",
    "assignments",
    "average_linkage",
    "connectivity",
    "consensus_clusters",
    "cophenetic_correlation",
    "hoyer_sparseness",
    "correlation_silhouette",
    "dispersion",
    "explained_variance",
    "rss",
    "silhouette_width",
    "sparseness",
]


def assignments(W) -> np.ndarray:
    """Dominant component of each sample: ``argmax`` of each row of ``W``.

    Accepts one ``(n_samples, rank)`` matrix or a stack ``(runs, n_samples,
    rank)``; ties go to the first component, as R's ``which.max``.
    """
    W = np.asarray(W)
    if W.ndim not in (2, 3):
        raise ValueError(f"W must be (n_samples, rank) or (runs, n_samples, rank), got shape {W.shape}")
    return np.argmax(W, axis=-1)


def connectivity(labels) -> np.ndarray:
    """Connectivity matrix of one run: ``C[i, j] = 1`` if samples ``i`` and ``j`` share a cluster."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one label per sample, got shape {labels.shape}")
    return (labels[:, None] == labels[None, :]).astype(np.float64)


class ConsensusAccumulator:
    """The consensus matrix of runs that arrive one batch at a time.

    Holds the integer count of runs in which each pair of samples shared a
    cluster (``O(n_samples**2)`` memory, whatever the number of runs), so
    that accumulating in any order or in any split gives the same matrix,
    to the last bit.

    Parameters
    ----------
    n_samples : int
    """

    def __init__(self, n_samples: int):
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        self.counts = np.zeros((n_samples, n_samples), dtype=np.int64)
        self.runs = 0

    def add(self, labels) -> ConsensusAccumulator:
        """Add runs: one label vector ``(n_samples,)`` or a stack ``(runs, n_samples)``."""
        labels = np.atleast_2d(np.asarray(labels))
        if labels.shape[1] != self.counts.shape[0]:
            raise ValueError(f"labels must have {self.counts.shape[0]} samples per run, got {labels.shape[1]}")
        for run in labels:
            self.counts += run[:, None] == run[None, :]
        self.runs += labels.shape[0]
        return self

    def merge(self, counts, runs: int) -> ConsensusAccumulator:
        """Add the counts of another accumulator (or of a stored chunk)."""
        counts = np.asarray(counts)
        if counts.shape != self.counts.shape:
            raise ValueError(f"counts must have shape {self.counts.shape}, got {counts.shape}")
        self.counts += counts.astype(np.int64)
        self.runs += int(runs)
        return self

    @property
    def consensus(self) -> np.ndarray:
        """Mean connectivity matrix: the fraction of runs that put ``i`` and ``j`` together."""
        if self.runs == 0:
            raise ValueError("no runs were added")
        return self.counts / self.runs


def _check_consensus(C) -> np.ndarray:
    C = np.asarray(C, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] == 0:
        raise ValueError(f"a consensus matrix must be square and non-empty, got shape {C.shape}")
    if not np.all(np.isfinite(C)) or C.min() < 0 or C.max() > 1:
        raise ValueError("a consensus matrix has entries in [0, 1]")
    return C


def average_linkage(C) -> np.ndarray:
    """Average-linkage (UPGMA) dendrogram of the distances ``1 - C``, merged in the order R's ``hclust`` merges.

    Returns a SciPy linkage matrix ``Z`` (rows ``[a, b, height, size]``,
    clusters ``n..2n-2`` created in row order), so SciPy's tree functions
    apply. Where several pairs are equally close, which is the rule for
    consensus matrices (entries are multiples of ``1 / runs``), average
    linkage can build different trees, and the trees have different
    cophenetic distances: SciPy's nearest-neighbour chain (``linkage``) then
    disagreed with R's ``cophcor`` in the sixth digit. This follows the
    procedure of R's ``stats::hclust`` (F. Murtagh's nearest-neighbour
    list, Ihaka/Leisch/Maechler's changes for R) step for step: each
    cluster keeps its nearest neighbour among the clusters of higher index
    (the first one on a tie), the pair merged is that of the first cluster
    with the least such distance, the merged cluster takes the lower index,
    its distances are ``(m_a d_a + m_b d_b) / (m_a + m_b)`` (the same floating
    operations), and the neighbours are refreshed only where R refreshes
    them. ``O(n**2)`` memory and ``O(n**2)`` vectorized work.
    """
    D = np.array(1.0 - _check_consensus(C), dtype=np.float64)
    n = D.shape[0]
    far = 1e300  # R's INF
    active = np.ones(n, dtype=bool)
    size = np.ones(n)
    ids = np.arange(n)
    nearest = np.zeros(n, dtype=np.intp)
    nearest_d = np.full(n, far)
    last = 0  # R's JJ: the last neighbour found, kept where a search finds none

    def first_min(i, candidates):
        nonlocal last
        if candidates.size:
            j = int(np.argmin(D[i, candidates]))
            if D[i, candidates[j]] < far:
                last = int(candidates[j])
                return D[i, candidates[j]]
        return far

    for i in range(n - 1):
        nearest_d[i] = first_min(i, np.arange(i + 1, n))
        nearest[i] = last
    Z = np.empty((n - 1, 4))
    for step in range(n - 1):
        scan = np.where(active[: n - 1], nearest_d[: n - 1], np.inf)
        im = int(np.argmin(scan))  # the first cluster with the least distance to its neighbour
        a, b = sorted((im, int(nearest[im])))
        Z[step] = (ids[a], ids[b], nearest_d[im], size[a] + size[b])
        active[b] = False
        others = np.flatnonzero(active)
        others = others[others != a]
        merged = (size[a] * D[a, others] + size[b] * D[b, others]) / (size[a] + size[b])
        D[a, others] = merged
        D[others, a] = merged
        below = others < a
        closer = merged[below] < nearest_d[others[below]]  # clusters below a may now have a as neighbour
        nearest_d[others[below][closer]] = merged[below][closer]
        nearest[others[below][closer]] = a
        size[a] += size[b]
        nearest_d[a] = first_min(a, others[~below])
        nearest[a] = last
        for i in np.flatnonzero(active[: n - 1] & np.isin(nearest[: n - 1], (a, b))):
            nearest_d[i] = first_min(i, np.flatnonzero(active[i + 1:]) + i + 1)
            nearest[i] = last
        ids[a] = n + step
    return Z


def _cut(Z, k: int) -> np.ndarray:
    """Cluster index of each leaf after the first ``n - k`` merges of ``Z``: exactly ``k`` clusters, as R's
    ``cutree(hc, k)`` (a height threshold, SciPy's ``maxclust``, gives fewer where merge heights tie)."""
    n = Z.shape[0] + 1
    parent = np.arange(2 * n - 1)
    for step in range(n - k):
        parent[Z[step, :2].astype(int)] = n + step
    root = np.arange(n)
    for _ in range(n):  # follow the parent links (at most n - 1 of them) to each leaf's cluster
        up = parent[root]
        if np.array_equal(up, root):
            break
        root = up
    return root


def cophenetic_correlation(C) -> float:
    """Cophenetic correlation coefficient of a consensus matrix (Brunet et al. 2004).

    Pearson correlation between the distances ``1 - C`` and the cophenetic
    distances of their average-linkage dendrogram; 1 when the consensus is
    a perfect block structure. As in R's ``cophcor``, a consensus whose
    samples never co-cluster (zero off the diagonal) scores 1. Where the
    distances are all equal (one cluster in every run) the correlation is
    undefined; the dendrogram then reproduces the distances exactly, and
    the score is 1.
    """
    C = _check_consensus(C)
    n = C.shape[0]
    if n < 3:
        return 1.0
    off = C[np.triu_indices(n, 1)]
    if np.all(off == 0) and np.all(np.diag(C) == C[0, 0]):
        return 1.0
    from scipy.cluster.hierarchy import cophenet
    from scipy.spatial.distance import squareform

    distances = squareform(1.0 - C, checks=False)
    cophenetic = cophenet(average_linkage(C))
    if np.ptp(distances) == 0 or np.ptp(cophenetic) == 0:
        return 1.0 if np.allclose(distances, cophenetic, rtol=0, atol=1e-12) else float("nan")
    return float(np.corrcoef(distances, cophenetic)[0, 1])


def dispersion(C) -> float:
    """Dispersion of a consensus matrix (Kim & Park 2007): ``mean(4 (C - 1/2)**2)``, 1 for a 0/1 consensus."""
    C = _check_consensus(C)
    return float(np.mean(4.0 * (C - 0.5) ** 2))


def consensus_clusters(C, k: int) -> np.ndarray:
    """Cluster labels ``0..k-1`` from the average-linkage dendrogram of ``1 - C`` cut into ``k`` clusters.

    The dendrogram is :func:`average_linkage` (R's merge order) and the cut
    undoes its last ``k - 1`` merges, as R's ``cutree``. Clusters are numbered
    in the order in which they first appear along the dendrogram's leaves,
    so the labels are reproducible.
    """
    from scipy.cluster.hierarchy import leaves_list

    C = _check_consensus(C)
    n = C.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of samples ({n}), got {k}")
    if n == 1:
        return np.zeros(1, dtype=int)
    Z = average_linkage(C)
    raw = _cut(Z, k)
    order = leaves_list(Z)
    first_seen = {}
    for leaf in order:
        first_seen.setdefault(raw[leaf], len(first_seen))
    return np.array([first_seen[c] for c in raw])


def _mean_silhouette(sums, index) -> float:
    """Mean silhouette width from ``sums[i, c]``, the summed distance of item ``i`` to the members of cluster ``c``.

    ``s(i) = (b_i - a_i) / max(a_i, b_i)`` with ``a_i`` the mean distance to
    the rest of its own cluster and ``b_i`` the least mean distance to
    another cluster; a singleton's width is 0 (Rousseeuw 1987).
    """
    n, k = sums.shape
    rows = np.arange(n)
    sizes = np.bincount(index, minlength=k)
    own_size = sizes[index]
    a = np.where(own_size > 1, sums[rows, index] / np.maximum(own_size - 1, 1), 0.0)
    means = sums / sizes
    means[rows, index] = np.inf
    b = np.min(means, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (b - a) / np.maximum(a, b)
    s = np.where(np.maximum(a, b) > 0, s, 0.0)
    return float(np.mean(np.where(own_size > 1, s, 0.0)))


def silhouette_width(labels, distances) -> float:
    """Average silhouette width of a clustering for a full distance matrix.

    ``s(i) = (b_i - a_i) / max(a_i, b_i)`` with ``a_i`` the mean distance of
    ``i`` to the rest of its cluster and ``b_i`` the least mean distance to
    another cluster; 0 for a singleton. NaN when there are fewer than two
    clusters (undefined; R returns NA).
    """
    labels = np.asarray(labels)
    D = np.asarray(distances, dtype=np.float64)
    if D.shape != (labels.size, labels.size):
        raise ValueError(f"distances must be {labels.size} x {labels.size}, got {D.shape}")
    clusters, index = np.unique(labels, return_inverse=True)
    if clusters.size < 2:
        return float("nan")
    return _mean_silhouette(D @ np.eye(clusters.size)[index], index)


def correlation_silhouette(X, labels, chunk: int = 2048) -> float:
    """Average silhouette width with the distance ``1 - corr(x_i, x_j)`` between rows of ``X``.

    This is R NMF's silhouette of the coefficients (rows: samples, ``X = W``)
    and of the basis (rows: features, ``X = H.T``). Distances are formed
    ``chunk`` rows at a time, so the memory is ``O(chunk * n)`` rather than
    ``O(n**2)``. A row with zero variance has undefined correlations; as in
    R, such distances are NaN and make the result NaN.
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    if X.ndim != 2 or X.shape[0] != labels.size:
        raise ValueError(f"X must have one row per label ({labels.size}), got shape {X.shape}")
    clusters, index = np.unique(labels, return_inverse=True)
    if clusters.size < 2:
        return float("nan")
    centred = X - X.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        Z = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    onehot = np.eye(clusters.size)[index]
    n = labels.size
    sums = np.empty((n, clusters.size))
    for start in range(0, n, chunk):
        block = 1.0 - Z[start:start + chunk] @ Z.T
        block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = 0.0
        sums[start:start + chunk] = block @ onehot
    return _mean_silhouette(sums, index)


def hoyer_sparseness(X, axis: int = 1) -> np.ndarray:
    """Hoyer (2004) sparseness of each vector of ``X`` along ``axis``.

    For a vector ``x`` of length ``m``:
    ``(sqrt(m) - ||x||_1 / ||x||_2) / (sqrt(m) - 1)``: 1 for a single
    nonzero, 0 for equal entries (signed vectors count by magnitude).
    """
    X = np.asarray(X, dtype=np.float64)
    m = X.shape[axis]
    if m < 2:
        raise ValueError("sparseness needs vectors of at least 2 entries")
    l1 = np.sum(np.abs(X), axis=axis)
    l2 = np.sqrt(np.sum(X**2, axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.sqrt(m) - l1 / l2) / (np.sqrt(m) - 1)


def sparseness(X, axis: int = 1) -> float:
    """Mean Hoyer sparseness of the vectors of ``X`` along ``axis``.

    ``sparseness(H)`` (rows of ``H``, the parts) is R's basis sparseness;
    ``sparseness(W)`` (rows of ``W``, a sample's weights) its coefficient
    sparseness. See :func:`hoyer_sparseness`.
    """
    return float(np.mean(hoyer_sparseness(X, axis)))


def rss(V, W, H) -> float:
    """Residual sum of squares ``||V - WH||_F**2`` (a scipy.sparse ``V`` from its stored entries, never dense)."""
    from nmflab.data import is_sparse

    if is_sparse(V):
        from nmflab.diagnostics import loss_value

        return 2.0 * loss_value(V.astype(np.float64), np.asarray(W, dtype=np.float64), np.asarray(H, dtype=np.float64))
    R = np.asarray(V, dtype=np.float64) - np.asarray(W, dtype=np.float64) @ np.asarray(H, dtype=np.float64)
    return float(np.sum(R * R))


def explained_variance(V, W, H) -> float:
    """``1 - rss / ||V||_F**2`` (R NMF's ``evar``)."""
    from nmflab.data import is_sparse

    total = float(V.astype(np.float64).power(2).sum()) if is_sparse(V) else float(np.sum(np.square(
        np.asarray(V, dtype=np.float64))))
    return 1.0 - rss(V, W, H) / total
