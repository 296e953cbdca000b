"""Exact answers for rank <= 2 and the nested-polygon picture of rank-3 matrices.

Rank <= 2 (Cohen & Rothblum 1993): the normalized non-zero columns of ``M``
lie on a segment of the simplex, so the two extreme ones generate the rest
with non-negative weights and rank₊ = rank. :func:`low_rank_certificate`
builds that factorization (in fractions for exact input).

Rank 3 (Gillis & Glineur 2012, *On the geometric interpretation of the
nonnegative rank*, LAA 437): normalize the columns onto the plane
``{x in col(M): 1ᵀx = 1}``. The columns span an inner polygon ``P_in``; the
non-negative points of the plane form an outer polygon ``P_out``. The
*restricted* non-negative rank (factorizations with rank W = rank M) is the
fewest vertices of a polygon ``P_in ⊆ Q ⊆ P_out`` (Aggarwal, Booth, O'Rourke,
Suri & Yap 1989). Since a factor with three columns has rank 3,
rank₊(M) = 3 exactly when a nested triangle exists; above 3 the restricted
rank is only an upper bound (the regular hexagon: 6 against rank₊ 5).

Search: every edge of a minimal ``Q`` can be slid inward until it touches
``P_in``, so ``Q`` is cut out by supporting lines of ``P_in`` at angles
``θ_1 < ... < θ_k``. The vertex of two consecutive lines is feasible while it
is in ``P_out``, so from a line at θ the farthest next line is at ``G(θ)``
(the tangent to ``P_in`` from the point where line θ leaves ``P_out``), ``G``
is monotone, and a nested k-gon exists iff ``max_θ G^k(θ) - θ >= 2π``. The
maximum is found on a dense grid of θ, the edge normals of ``P_in`` and a
local refinement; the polygon found is lifted back to a factorization and
verified. The search is floating-point; for exact input a triangle with room
on both sides is rounded to a rational factorization checked exactly, which
makes "rank₊ = 3" a proof (a triangle that must touch both polygons, as for
a matrix whose zeros put points of ``P_in`` on the boundary of ``P_out``,
keeps its float certificate).

Geometric lower bound: if rank₊(M) = r, the simplex of the factorization cut
by col(M)'s preimage is a polytope T with at most r facets whose linear image
is a polygon nested between ``P_in`` and ``P_out``, hence with at least
k* = restricted rank vertices. k* enters as a lower bound, from an upper bound
on the gain that holds however narrow its peak (G is monotone), never as the
number of vertices the search happened to find. Goemans (2015)'s face count
gives r >= log2(2k* + 1); Gillis & Glineur's own bound counts the faces of
a polytope with r vertices by the upper bound theorem and is stronger
(:func:`geometric_lower_bound`: 5 for k* = 5, 6 for k* = 9, where Goemans gives 4
and 5).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.optimize import minimize_scalar, nnls
from scipy.spatial import ConvexHull

from ._matrix import (Certificate, NonnegMatrix, as_matrix, independent_rows, matrix_rank, solve_square,
                      verify_certificate, zero_certificate)
from .evidence import Evidence, timed
from .exact_polygons import MAX_EXACT_SIDE, exact_restricted_rank

__all__ = ["low_rank_certificate", "nested_polygons", "restricted_rank", "geometric_bound", "geometric_lower_bound",
           "section_vertices", "cyclic_polytope_faces"]

TWO_PI = 2 * math.pi


def low_rank_certificate(M) -> Certificate | None:
    """Factorization with rank(M) columns when rank(M) <= 2, else None."""
    M = as_matrix(M)
    r = matrix_rank(M)
    if r == 0:
        return zero_certificate(M)
    if r > 2:
        return None
    exact = M.exact is not None
    cols = [list(c) for c in zip(*M.exact)] if exact else [list(c) for c in M.values.T]
    sums = [sum(c) for c in cols]
    live = [j for j, s in enumerate(sums) if s > 0]
    points = {j: [x / sums[j] for x in cols[j]] for j in live}
    if r == 1:
        a = points[live[0]]
        W = [[x] for x in a]
        H = [[sums[j] if j in points else 0 for j in range(len(cols))]]
    else:
        # direction of the segment: the normalized column farthest from the first
        base = points[live[0]]
        far = max(live, key=lambda j: sum(float(x - y) ** 2 for x, y in zip(points[j], base)))
        direction = [x - y for x, y in zip(points[far], base)]
        coord = max(range(len(direction)), key=lambda i: abs(float(direction[i])))

        def t(j):
            return (points[j][coord] - base[coord]) / direction[coord]

        lo, hi = min(live, key=t), max(live, key=t)
        a, b = points[lo], points[hi]
        W = [[x, y] for x, y in zip(a, b)]
        H = [[0, 0] for _ in cols]
        for j in live:
            lam = (points[j][coord] - b[coord]) / (a[coord] - b[coord])
            H[j] = [lam * sums[j], (1 - lam) * sums[j]]
        H = [list(h) for h in zip(*H)]
    if exact:
        W = np.array(W, dtype=object)
        H = np.array([[Fraction(x) for x in row] for row in H], dtype=object)
    else:  # a factorization of the canonical representative, as one of M
        W, H = M.to_units_of_m(np.array(W, dtype=float), np.array(H, dtype=float))
    return verify_certificate(M, W, H, "rank<=2")


class _Geometry:
    """The plane picture of a rank-3 matrix: inner hull, outer constraints, lifting."""

    def __init__(self, M: NonnegMatrix):
        values = M.values
        sums = values.sum(axis=0)
        self.live = sums > 0
        C = values[:, self.live] / sums[self.live]
        U, _, _ = np.linalg.svd(values, full_matrices=False)
        U3 = U[:, :3]
        ones = U3.T @ np.ones(values.shape[0])
        self.y0 = ones / (ones @ ones)  # 1ᵀU3 y0 = 1
        Q, _ = np.linalg.qr(np.column_stack([ones, np.eye(3)]))
        self.B = Q[:, 1:3]  # orthonormal basis of {y : onesᵀ y = 0}
        self.U3 = U3
        Y = U3.T @ C  # coordinates of the normalized columns (1ᵀ U3 y = 1)
        self.z = self.B.T @ (Y - self.y0[:, None])  # 2 x n points
        hull = ConvexHull(self.z.T)
        self.inner = self.z[:, hull.vertices]  # counter-clockwise
        # outer polygon: G z >= -h, one row per non-zero row of M (a zero row constrains nothing, and its
        # rounding-sized row of U3 must not pass for a constraint)
        live_rows = M.support.any(axis=1)
        self.G = (U3 @ self.B)[live_rows]
        self.row_norms = np.linalg.norm(self.G, axis=1)
        self.h = (U3 @ self.y0)[live_rows]
        self.scale = float(np.abs(self.inner).max()) + 1.0

    def lift(self, z: np.ndarray) -> np.ndarray:
        """Points of the plane (2 x k) as non-negative m-vectors (m x k)."""
        return self.U3 @ (self.y0[:, None] + self.B @ z)

    def step(self, theta: np.ndarray) -> np.ndarray:
        """G(θ): the farthest next supporting-line angle (vectorized)."""
        normal = np.stack([np.cos(theta), np.sin(theta)])  # 2 x T
        tangent = np.stack([-np.sin(theta), np.cos(theta)])
        touch = self.inner[:, np.argmax(normal.T @ self.inner, axis=1)]  # 2 x T
        slack = self.G @ touch + self.h[:, None]  # m x T, >= 0
        rate = self.G @ tangent  # m x T
        # a line running along a facet of P_out (rate 0 up to rounding) leaves through another facet: a
        # tolerance of rounding size would let the facet's own noise stop it at its touch point
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(rate < -1e-12 * self.row_norms[:, None], slack / -rate, np.inf)
        s_max = np.clip(s.min(axis=0), 0, None)
        p = touch + tangent * s_max  # exit point of the line from P_out
        dx = p[0][:, None] - self.inner[0][None, :]
        dy = p[1][:, None] - self.inner[1][None, :]
        beta = np.arctan2(dy, dx)
        d = np.mod(beta + math.pi / 2 - theta[:, None], TWO_PI)
        # a vertex at the exit point itself (P_in touching the boundary of
        # P_out) constrains nothing
        at_p = np.hypot(dx, dy) <= 1e-12 * self.scale
        d = np.where((d < 1e-12) | at_p, TWO_PI, d)
        return theta + np.minimum(d.min(axis=1), math.pi)

    def chain(self, theta: np.ndarray, k: int) -> np.ndarray:
        out = [theta]
        for _ in range(k):
            out.append(self.step(out[-1]))
        return np.stack(out)  # (k + 1) x T

    def polygon(self, angles: np.ndarray, offset: float = 0.0) -> np.ndarray:
        """Vertices (2 x k) of the polygon cut by supporting lines at ``angles``, each moved ``offset`` outward."""
        k = len(angles)
        sigma = lambda t: float(np.max(np.array([math.cos(t), math.sin(t)]) @ self.inner)) + offset  # noqa: E731
        vertices = []
        for t in range(k):
            a, b = angles[t], angles[(t + 1) % k]
            N = np.array([[math.cos(a), math.sin(a)], [math.cos(b), math.sin(b)]])
            vertices.append(np.linalg.solve(N, [sigma(a), sigma(b)]))
        return np.array(vertices).T


def _best_start(geo: _Geometry, k: int, grid: int) -> tuple[float, float, float]:
    """max over θ of G^k(θ) - θ - 2π, the θ reaching it, and an upper bound on that maximum.

    The bound rests on the monotonicity of G: on a grid cell ``[θ_i, θ_{i+1}]``,
    ``G^k(θ) - θ <= G^k(θ_{i+1}) - θ_i``, so the largest of these over the uniform
    grid bounds the maximum from above, however narrow its peak (the search itself
    only finds a value below it).
    """
    edges = np.diff(np.column_stack([geo.inner, geo.inner[:, :1]]), axis=1)
    flush = np.arctan2(-edges[0], edges[1])  # outward normals of the inner edges
    uniform = np.linspace(0, TWO_PI, grid, endpoint=False)
    theta = np.concatenate([uniform, flush, flush + 1e-9, flush - 1e-9])
    reached = geo.chain(theta, k)[-1]
    gain = reached - theta - TWO_PI
    ends = np.append(reached[1:grid], reached[0] + TWO_PI)  # G^k at the right end of each uniform cell
    envelope = float(np.max(ends - uniform)) - TWO_PI
    order = np.argsort(gain)[::-1][:8]
    best_gain, best_theta = float(gain[order[0]]), float(theta[order[0]])
    width = TWO_PI / grid
    for t0 in theta[order]:
        res = minimize_scalar(lambda t: -float(geo.chain(np.array([t]), k)[-1, 0] - t - TWO_PI),
                              bounds=(t0 - width, t0 + width), method="bounded", options={"xatol": 1e-12})
        if -res.fun > best_gain:
            best_gain, best_theta = float(-res.fun), float(res.x)
    return best_gain, best_theta, max(envelope, best_gain)


def _certificate_from_polygon(M: NonnegMatrix, geo: _Geometry, vertices: np.ndarray) -> Certificate | None:
    Wcols = np.clip(geo.lift(vertices), 0, None)
    k = vertices.shape[1]
    n = M.shape[1]
    sums = M.values.sum(axis=0)
    H = np.zeros((k, n))
    system = np.vstack([vertices, np.ones((1, k))])
    for point, j in enumerate(np.flatnonzero(geo.live)):
        lam, _ = nnls(system, np.append(geo.z[:, point], 1.0))
        H[:, j] = lam * sums[j]
    Wm, Hm = M.to_units_of_m(Wcols, H)
    if M.exact is not None and k == 3:
        exact = _exact_triangle(M, Wm)
        if exact is not None:
            return exact
    return verify_certificate(M, Wm, Hm, "nested_polygons", rtol=1e-9)


def _roomy_triangle(geo: _Geometry, theta: float, gain: float) -> np.ndarray | None:
    """A triangle nested with room on both sides, from a chain at θ with positive gain.

    The chain's triangle touches both polygons (its lines support ``P_in``, its
    vertices reach the boundary of ``P_out``), so rounding it to fractions
    breaks one side or the other. Here each next line turns a quarter of the
    gain less than it may (its vertex then lies inside ``P_out``) and every
    line moves outward by a small offset (``P_in`` then lies inside): a
    triangle that survives rounding, whenever the gain leaves that room.
    """
    angles = [theta]
    for _ in range(2):
        angles.append(float(geo.step(np.array([angles[-1]]))[0]) - gain / 4)
    try:
        return geo.polygon(np.array(angles), offset=1e-3 * gain * geo.scale)
    except np.linalg.LinAlgError:  # two of the lines parallel: no such triangle from this chain
        return None


def _exact_triangle(M: NonnegMatrix, W: np.ndarray) -> Certificate | None:
    """A rational factorization with 3 terms near a float one of an exact rank-3 ``M`` (units of M), or None.

    The columns of W are written in a basis of col(M) made of three columns
    of M, their coordinates rounded to fractions (denominators up to 10^12),
    and H solved exactly from three independent rows: the product is then M
    exactly whenever the rounded W has rank 3, and non-negativity is checked
    exactly (:func:`verify_certificate`). A triangle nested with room to
    spare always survives a fine enough rounding; one that touches both
    polygons may not, and then the float certificate stands.
    """
    columns = [list(col) for col in zip(*M.exact)]
    basis = independent_rows(columns)
    if len(basis) != 3:
        return None
    B = np.array([columns[j] for j in basis], dtype=object).T  # m x 3, fractions
    coords = np.linalg.lstsq(np.asarray(B, dtype=float), np.asarray(W, dtype=float), rcond=None)[0]  # 3 x 3
    for denominator in (10**3, 10**6, 10**9, 10**12):
        y = np.vectorize(lambda x: Fraction(float(x)).limit_denominator(denominator), otypes=[object])(coords)
        Wq = B.dot(y)
        rows = independent_rows([list(r) for r in Wq])
        if len(rows) != 3:
            continue
        A = [list(Wq[i]) for i in rows]
        Hq = np.array([solve_square(A, [M.exact[i][j] for i in rows]) for j in range(M.shape[1])], dtype=object).T
        certificate = verify_certificate(M, Wq, Hq, "nested_polygons")
        if certificate is not None:
            return certificate
    return None


def restricted_rank(M, *, max_k: int | None = None, grid: int = 4096, tol: float = 1e-9, arithmetic: str = "auto"):
    """Fewest vertices of a polygon nested between ``P_in`` and ``P_out`` (rank-3 M).

    ``arithmetic``: ``"exact"`` decides it in rational arithmetic
    (:mod:`.exact_polygons`; exact input only), ``"float"`` by the
    floating-point search of this module, ``"auto"`` exactly for exact input
    of at most :data:`.exact_polygons.MAX_EXACT_SIDE` rows and columns.

    Returns
    -------
    k : int or None
        The restricted non-negative rank found: the fewest vertices of a
        nested polygon whose factorization verified (None: none did).
    certificate : Certificate or None
        The factorization with k columns built from the polygon (verified).
    data : dict
        The polygon's vertices in the plane, the inner and outer polygons,
        ``lower``: the restricted rank is at least this, and ``exact``:
        whether ``lower`` is proven in rational arithmetic. The float search
        adds the gain ``max_θ G^k(θ) - θ - 2π`` found for each k tried and its
        upper bound (``gain_bounds``, see :func:`_best_start`); its ``lower``
        rests on those bounds (every smaller k has one below ``-tol``) and is
        None when no k up to ``max_k`` shows that. A polygon the search finds
        but whose factorization does not verify lowers ``k``'s claim to
        nothing, so ``lower <= k`` always.
    """
    if arithmetic not in ("auto", "exact", "float"):
        raise ValueError(f"arithmetic must be 'auto', 'exact' or 'float', not {arithmetic!r}")
    M = as_matrix(M)
    if matrix_rank(M) != 3:
        raise ValueError("the nested-polygon picture needs a matrix of rank 3")
    if arithmetic == "exact" and M.exact is None:
        raise ValueError("arithmetic='exact' needs exact input (integers or fractions)")
    if arithmetic == "exact" or (arithmetic == "auto" and M.exact is not None and max(M.shape) <= MAX_EXACT_SIDE):
        k, certificate, data = exact_restricted_rank(M, max_k)
        return k, certificate, dict(data, exact=True)
    geo = _Geometry(M)
    limit = max_k or min(M.shape)
    gains, gain_bounds = {}, {}
    lower = None
    for k in range(3, limit + 1):
        gain, theta, gain_bound = _best_start(geo, k, grid)
        gains[k], gain_bounds[k] = gain, gain_bound
        if lower is None and gain_bound >= -tol:
            lower = k
        if gain >= -tol:
            angles = geo.chain(np.array([theta]), k - 1)[:, 0]
            vertices = geo.polygon(angles)
            certificate = None
            if M.exact is not None and k == 3 and gain > tol:
                roomy = _roomy_triangle(geo, theta, gain)
                certificate = None if roomy is None else _certificate_from_polygon(M, geo, roomy)
            if certificate is None or not certificate.exact:
                certificate = _certificate_from_polygon(M, geo, vertices)
            if certificate is not None:
                return k, certificate, {"polygon": vertices, "inner": geo.inner, "gains": gains,
                                        "gain_bounds": gain_bounds, "lower": lower, "exact": False}
    return None, None, {"inner": geo.inner, "gains": gains, "gain_bounds": gain_bounds, "lower": lower,
                        "exact": False}


def nested_polygons(M, **kwargs) -> Evidence:
    """rank₊ = 3 decided for rank-3 matrices; the restricted rank as an upper bound."""
    M = as_matrix(M)
    with timed() as clock:
        if matrix_rank(M) != 3:
            return Evidence("nested_polygons", "upper", None, None, clock(), "not applicable: rank is not 3")
        k, certificate, data = restricted_rank(M, **kwargs)
    data = dict(data, certificate=certificate, restricted_rank=k, restricted_rank_lower=data["lower"],
                restricted_rank_lower_exact=data["exact"])
    if k is None:
        return Evidence("nested_polygons", "upper", None, None, clock(), "failed: no nested polygon verified", False, data)
    kind = "exact" if k == 3 else "upper"
    # rank₊ = 3 is a proof when the triangle's factorization is rational and checked exactly
    return Evidence("nested_polygons", kind, k, float(k), clock(), "optimal", certificate.exact, data)


def cyclic_polytope_faces(vertices: int, dim: int, k: int) -> int:
    """``f_k`` of the cyclic polytope ``C(vertices, dim)``: the most k-faces a dim-polytope with that many vertices has.

    McMullen's upper bound theorem; the count is the standard sum (Ziegler,
    *Lectures on Polytopes*, 1995, §8.4):
    ``f_k = Σ'_{j=0}^{⌊d/2⌋} (C(d-j, k+1-j) + C(j, k+1-d+j)) C(n-d-1+j, j)``,
    where ``'`` halves the term ``j = d/2`` for even d.
    """
    n, d = vertices, dim
    if not (0 <= k < d < n):
        raise ValueError(f"need 0 <= k < dim < vertices, got k={k}, dim={d}, vertices={n}")

    def choose(a: int, b: int) -> int:
        return math.comb(a, b) if a >= 0 and 0 <= b <= a else 0

    twice = 0
    for j in range(d // 2 + 1):
        term = (choose(d - j, k + 1 - j) + choose(j, k + 1 - d + j)) * choose(n - d - 1 + j, j)
        twice += term if d % 2 == 0 and j == d // 2 else 2 * term
    return twice // 2


def section_vertices(rank: int, p: int) -> int:
    """φ(rank, p): the most vertices a nested polytope can get from a factorization with p terms.

    Gillis & Glineur (2012, §5): a factorization with p terms and ``rank W =
    r_w`` makes the nested polytope of dimension ``rank - 1`` a section of an
    ``(r_w - 1)``-polytope with at most p vertices, so its vertices are at most
    the ``(r_w - rank)``-faces of the cyclic polytope ``C(p, r_w - 1)``; for
    rank 3 the section is a polygon, as many edges as vertices, so the smaller
    of its ``(r_w - 3)``- and ``(r_w - 2)``-face counts bounds both. ``r_w =
    rank`` gives p itself.
    """
    best = p
    for rw in range(rank + 1, p + 1):
        d = rw - 1
        count = cyclic_polytope_faces(p, d, rw - rank)
        if rank == 3:
            count = min(count, cyclic_polytope_faces(p, d, rw - 2))
        best = max(best, count)
    return best


def geometric_lower_bound(rank: int, restricted: int) -> int:
    """The geometric bound: the fewest terms p >= rank with ``section_vertices(rank, p) >= restricted``.

    Gillis & Glineur (2012)'s bound from a lower bound on the restricted rank
    (φ grows with p, so a smaller restricted rank only weakens it). For rank 3
    it is at least Goemans' ``⌈log2(2k + 1)⌉``, and stronger from k = 5 on
    (5 against 4); for the regular n-gons (k = n) it gives 4, 5, 5, 6, 6, 6, 7
    for n = 4..10.
    """
    if rank < 1 or restricted < rank:
        raise ValueError(f"need 1 <= rank <= restricted, got rank={rank}, restricted={restricted}")
    p = rank
    while section_vertices(rank, p) < restricted:
        p += 1
    return p


def geometric_bound(M, restricted: int | None = None, restricted_exact: bool = False, **kwargs) -> Evidence:
    """rank₊ >= :func:`geometric_lower_bound` (3, k) from a lower bound k on the restricted rank (rank-3 M).

    ``restricted`` is such a lower bound (``nested_polygons``'s
    ``restricted_rank_lower``), ``restricted_exact`` whether it is proven in
    rational arithmetic; without it :func:`restricted_rank` is run for its
    ``lower``. The restricted rank *found* is only an upper bound on the
    true one (a search that misses a polygon finds too many vertices), so it
    is never used here. The face counting is exact: the bound is a proof
    when the restricted rank's lower bound is.
    """
    M = as_matrix(M)
    with timed() as clock:
        if matrix_rank(M) != 3:
            return Evidence("geometric", "lower", None, None, clock(), "not applicable: rank is not 3")
        if restricted is None:
            data = restricted_rank(M, **kwargs)[2]
            restricted, restricted_exact = data["lower"], data["exact"]
        if restricted is None:
            return Evidence("geometric", "lower", None, None, clock(), "failed: no lower bound on the restricted rank")
        bound = geometric_lower_bound(3, restricted)
    return Evidence("geometric", "lower", bound, float(bound), clock(), "optimal", restricted_exact,
                    {"restricted_rank_lower": restricted, "goemans": math.ceil(math.log2(2 * restricted + 1) - 1e-12)})
