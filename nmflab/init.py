"""Starting points for a fit: random, NNDSVD and its variants.

All starts are made with NumPy from a ``numpy.random.Generator``, so a seed
gives the same start whichever backend then runs the fit.

References
----------
C. Boutsidis and E. Gallopoulos, "SVD based initialization: A head start for
nonnegative matrix factorization", Pattern Recognition 41 (2008) 1350–1362.
N. Halko, P.-G. Martinsson and J. A. Tropp, "Finding structure with
randomness", SIAM Review 53 (2011) 217–288 (the randomized SVD used for
large matrices).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from .sketch import range_finder

__all__ = ["INITS", "random_start", "nndsvd", "truncated_svd", "is_deterministic"]

#: Names accepted by ``init=``.
INITS = ("random", "nndsvd", "nndsvda", "nndsvdar")


def is_deterministic(init) -> bool:
    """True if ``init`` gives the same start whatever the seed."""
    return not isinstance(init, str) or init in ("nndsvd", "nndsvda")


def random_start(V: np.ndarray, rank: int, rng: np.random.Generator):
    """Random start scaled to the data.

    Entries are ``sqrt(mean(V) / rank) * |N(0, 1)|``, so that ``W H`` has
    the mean of ``V`` on average (the scaling scikit-learn also uses).
    """
    n, p = V.shape
    scale = np.sqrt(V.mean() / rank)
    H = scale * np.abs(rng.standard_normal((rank, p)))
    W = scale * np.abs(rng.standard_normal((n, rank)))
    return W.astype(V.dtype, copy=False), H.astype(V.dtype, copy=False)


#: The largest sparse ``V`` made dense when ARPACK cannot give the rank asked for.
_LARGEST_DENSE_SVD = 2**27


def truncated_svd(V: np.ndarray, rank: int, rng: np.random.Generator):
    """Leading ``rank`` singular triplets ``(U, s, Vt)`` of ``V``.

    Small matrices use LAPACK's full SVD; large ones a randomized range
    finder with power iterations (Halko et al. 2011, Alg. 4.4), whose error is
    far below what an NMF start needs.
    """
    n, p = V.shape
    k = min(n, p)
    if hasattr(V, "tocsr") and rank < k:
        from scipy.sparse.linalg import svds  # ARPACK on the sparse operator, largest first

        U, s, Vt = svds(V, k=rank, random_state=int(rng.integers(2**31)))
        order = np.argsort(s)[::-1]
        return U[:, order], s[order], Vt[order]
    if hasattr(V, "tocsr"):  # a rank ARPACK cannot give (it needs rank < min(n, p)): LAPACK on V made dense
        if n * p > _LARGEST_DENSE_SVD:
            raise ValueError(f"NNDSVD of a sparse {n} x {p} matrix needs rank < min(n_samples, n_features) = {k}, "
                             f"got {rank}; use init='random'")
        V = V.toarray()
    if k <= 1000 or rank > k // 4:
        U, s, Vt = scipy.linalg.svd(V, full_matrices=False, check_finite=False)
        return U[:, :rank], s[:rank], Vt[:rank]
    Q = range_finder(V, min(k, rank + 10), 4, rng)
    Ub, s, Vt = scipy.linalg.svd(Q.T @ V, full_matrices=False, check_finite=False)
    return (Q @ Ub)[:, :rank], s[:rank], Vt[:rank]


def nndsvd(V: np.ndarray, rank: int, variant: str = "nndsvd", rng: np.random.Generator | None = None):
    """Non-negative double SVD start (Boutsidis & Gallopoulos 2008).

    For each singular triplet ``(u_j, s_j, v_j)`` the rank-one matrix
    ``u_j v_j^T`` is split into its positive and negative parts; the part of
    larger norm gives column ``j`` of ``W`` and row ``j`` of ``H``. The
    leading triplet is taken in absolute value (Perron–Frobenius).

    Parameters
    ----------
    V : ndarray, shape (n_samples, n_features)
    rank : int
        At most ``min(n_samples, n_features)``.
    variant : {"nndsvd", "nndsvda", "nndsvdar"}
        ``"nndsvd"`` keeps the exact zeros (sparse start; note that
        multiplicative updates can never move an exact zero);
        ``"nndsvda"`` fills them with ``mean(V)``;
        ``"nndsvdar"`` with ``mean(V) * U(0, 0.01)`` drawn from ``rng``.
    rng : numpy.random.Generator, optional
        Needed for ``"nndsvdar"`` (and the randomized SVD of large inputs).

    Returns
    -------
    W : ndarray, shape (n_samples, rank)
    H : ndarray, shape (rank, n_features)
    """
    n, p = V.shape
    if rank > min(n, p):
        raise ValueError(
            f"init={variant!r} needs rank <= min(n_samples, n_features) = {min(n, p)}, got rank={rank}; "
            "use init='random' for a rank this large"
        )
    rng = np.random.default_rng(0) if rng is None else rng
    U, s, Vt = truncated_svd(V, rank, rng)
    W = np.zeros((n, rank), dtype=V.dtype)
    H = np.zeros((rank, p), dtype=V.dtype)
    W[:, 0] = np.sqrt(s[0]) * np.abs(U[:, 0])
    H[0, :] = np.sqrt(s[0]) * np.abs(Vt[0, :])
    for j in range(1, rank):
        x, y = U[:, j], Vt[j, :]
        xp_, xn_ = np.maximum(x, 0), np.maximum(-x, 0)
        yp_, yn_ = np.maximum(y, 0), np.maximum(-y, 0)
        norms = (np.linalg.norm(xp_), np.linalg.norm(yp_), np.linalg.norm(xn_), np.linalg.norm(yn_))
        positive_mass = norms[0] * norms[1]
        negative_mass = norms[2] * norms[3]
        if positive_mass >= negative_mass:
            u, v, mass, nu, nv = xp_, yp_, positive_mass, norms[0], norms[1]
        else:
            u, v, mass, nu, nv = xn_, yn_, negative_mass, norms[2], norms[3]
        if mass == 0:
            continue  # a zero singular value or a degenerate vector: leave the component at zero
        factor = np.sqrt(s[j] * mass)
        W[:, j] = factor * u / nu
        H[j, :] = factor * v / nv
    # Rounding can leave tiny positive values where the split gave zero.
    tiny = np.finfo(V.dtype).eps * max(float(s[0]), np.finfo(V.dtype).tiny)
    W[W < tiny] = 0
    H[H < tiny] = 0
    if variant == "nndsvda":
        fill = V.mean()
        W[W == 0] = fill
        H[H == 0] = fill
    elif variant == "nndsvdar":
        fill = V.mean()
        W[W == 0] = fill * rng.uniform(0, 0.01, size=int((W == 0).sum()))
        H[H == 0] = fill * rng.uniform(0, 0.01, size=int((H == 0).sum()))
    elif variant != "nndsvd":
        raise ValueError(f"unknown NNDSVD variant {variant!r}")
    return W, H
