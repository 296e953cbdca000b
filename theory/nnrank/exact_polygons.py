"""Nested polygons of an exact rank-3 matrix in rational arithmetic: the restricted rank as a proof.

The picture is that of :mod:`.polygons` (Gillis & Glineur 2012): the
normalized columns of a rank-3 matrix ``M`` span an inner polygon ``P`` in
a plane of col(M), the non-negative points of that plane an outer polygon
``Q``, and a polygon with k vertices nested between them is a factorization
with k terms and rank W = 3. Here both polygons have rational vertices
(plane coordinates are barycentric in three columns of ``M``) and the
search of Aggarwal, Booth, O'Rourke, Suri & Yap (1989, *Finding minimal
convex nested polygons*, Inform. and Comput. 83) runs exactly:

* From a point ``x`` of ∂Q the farthest a nested polygon's next vertex can
  be is ``F(x)``: follow the tangent from ``x`` to ``P`` (``P`` on its left)
  until it leaves ``Q``. A nested k-gon exists iff for some ``x``,
  ``F^k(x)`` is a full turn or more past ``x`` along ∂Q (then ``x, F(x),
  ..., F^{k-1}(x)`` is one).
* Along an edge of ``Q`` (parameter t in [0, 1]) ``F`` is piecewise a
  linear-fractional map ``t -> (a t + b) / (c t + d)`` onto one edge: the
  tangent touches one vertex ``p`` of ``P`` and the line through ``x(t)``
  and ``p`` meets one edge, until ``x`` crosses the line of an edge of ``P``
  or of ``p`` and a vertex of ``Q``, at rational points. Powers of ``F`` are
  composed piece by piece (products of 2 x 2 matrices, pieces split at the
  breakpoints pulled back), and on each piece of ``F^k`` "a full turn or
  more" is a quadratic inequality in t, decided exactly (its extremes are at
  the ends or at a rational vertex); every end of a piece is evaluated by
  following ``F`` itself, so points where ``F`` jumps are decided too.

The smallest k with a nested k-gon is the restricted rank, a proof either
way: its polygon (rational) lifts to a factorization checked exactly, and
"no nested (k - 1)-gon" is exact too, so the geometric bound computed from
it (:func:`.polygons.geometric_lower_bound`) is a proof, and for k = 3
"rank₊ > 3" is one.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ._matrix import Certificate, NonnegMatrix, independent_rows, solve_square, verify_certificate

__all__ = ["ExactPlane", "exact_restricted_rank"]

#: The exact search is used for matrices with at most this many columns and rows (its pieces grow with both).
MAX_EXACT_SIDE = 24


def _cross(a, b):
    return a[0] * b[1] - a[1] * b[0]


def _sub(a, b):
    return (a[0] - b[0], a[1] - b[1])


def _hull(points) -> list:
    """The vertices of the convex hull of rational points, counter-clockwise, without collinear ones."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def half(seq):
        out = []
        for p in seq:
            while len(out) >= 2 and _cross(_sub(out[-1], out[-2]), _sub(p, out[-2])) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(reversed(pts))
    return lower[:-1] + upper[:-1]


class ExactPlane:
    """The inner polygon ``P``, the outer polygon ``Q`` and the lifting of an exact rank-3 matrix.

    Coordinates: three independent columns ``c_1, c_2, c_3`` of ``M``,
    normalized to sum 1; a point ``(α_1, α_2)`` stands for ``α_1 c_1 + α_2
    c_2 + (1 - α_1 - α_2) c_3``, a vector of sum 1 in col(M).
    """

    def __init__(self, M: NonnegMatrix):
        columns = [list(col) for col in zip(*M.exact)]
        self.sums = [sum(col) for col in columns]
        live = [j for j, s in enumerate(self.sums) if s > 0]
        normalized = {j: [x / self.sums[j] for x in columns[j]] for j in live}
        basis = [live[i] for i in independent_rows([normalized[j] for j in live])]
        if len(basis) != 3:
            raise ValueError("the exact nested-polygon picture needs a matrix of rank 3")
        self.basis = [normalized[j] for j in basis]  # three m-vectors of sum 1
        B = [[self.basis[t][i] for t in range(3)] for i in range(len(self.basis[0]))]  # m x 3
        rows = independent_rows(B)
        square = [B[i] for i in rows]
        # the normalized columns in barycentric coordinates (their first two)
        self.points = {j: tuple(solve_square(square, [normalized[j][i] for i in rows])[:2]) for j in live}
        self.inner = _hull(self.points.values())
        # Q: for every row i, α_1 (c_1i - c_3i) + α_2 (c_2i - c_3i) + c_3i >= 0
        lines = [((b[0] - b[2], b[1] - b[2]), b[2]) for b in B if (b[0] - b[2], b[1] - b[2]) != (0, 0)]
        corners = []
        for idx, (a1, h1) in enumerate(lines):
            for a2, h2 in lines[idx + 1:]:
                det = _cross(a1, a2)
                if det == 0:
                    continue
                z = ((-h1 * a2[1] + h2 * a1[1]) / det, (-a1[0] * h2 + a2[0] * h1) / det)
                if all(a[0] * z[0] + a[1] * z[1] + h >= 0 for a, h in lines):
                    corners.append(z)
        self.outer = _hull(corners)

    def lift(self, z) -> list:
        """The m-vector of a plane point (non-negative for points of Q)."""
        a3 = 1 - z[0] - z[1]
        return [z[0] * u + z[1] * v + a3 * w for u, v, w in zip(*self.basis)]


class _Greedy:
    """The map F on the boundary of Q, its pieces and their powers (see the module docstring)."""

    def __init__(self, plane: ExactPlane):
        self.P, self.Q = plane.inner, plane.outer
        self.m = len(self.Q)
        self.u = [_sub(self.Q[(e + 1) % self.m], self.Q[e]) for e in range(self.m)]
        self._steps: dict = {}
        self.pieces = [self._pieces_on(e) for e in range(self.m)]

    def point(self, e: int, t) -> tuple:
        q, u = self.Q[e % self.m], self.u[e % self.m]
        return (q[0] + t * u[0], q[1] + t * u[1])

    def tangent(self, x) -> tuple:
        """The vertex p of P with all of P on the left of (or on) the line from x through p; the farthest of ties."""
        best, n = None, len(self.P)
        for i, p in enumerate(self.P):
            if p == x:
                continue
            d = _sub(p, x)
            # both neighbours on the left first (cheap, and rarely true), then all of P
            if (_cross(d, _sub(self.P[i - 1], x)) >= 0 and _cross(d, _sub(self.P[(i + 1) % n], x)) >= 0
                    and all(_cross(d, _sub(p2, x)) >= 0 for p2 in self.P)):
                if best is None or d[0] ** 2 + d[1] ** 2 > (best[0] - x[0]) ** 2 + (best[1] - x[1]) ** 2:
                    best = p
        assert best is not None, "no tangent from a boundary point of Q to P"
        return best

    def step(self, e: int, t) -> tuple[int, Fraction]:
        """F at the point t of edge e: ``(edge, parameter)`` of the exit point, parameter in [0, 1)."""
        key = (e, t)
        if key not in self._steps:  # the ends of the pieces of F^k meet the same points again and again
            self._steps[key] = self._step(e, t)
        return self._steps[key]

    def _step(self, e: int, t) -> tuple[int, Fraction]:
        x = self.point(e, t)
        d = _sub(self.tangent(x), x)
        exit_edge, reach = None, None
        for f in range(self.m):
            rate = _cross(self.u[f], d)
            if rate < 0:
                room = _cross(self.u[f], _sub(x, self.Q[f])) / -rate
                if reach is None or room < reach:
                    exit_edge, reach = f, room
        assert reach is not None and reach > 0, "the tangent does not enter Q"
        y = (x[0] + reach * d[0], x[1] + reach * d[1])
        u = self.u[exit_edge]
        s = (_sub(y, self.Q[exit_edge])[0] * u[0] + _sub(y, self.Q[exit_edge])[1] * u[1]) / (u[0] ** 2 + u[1] ** 2)
        return (exit_edge + 1) % self.m if s == 1 else exit_edge, Fraction(0) if s == 1 else s

    def advance(self, e: int, t, k: int) -> tuple[int, Fraction, list]:
        """F^k from (e, t): the lifted edge (e plus the edges passed, one turn = m), the parameter, the points."""
        lifted, points = e, [self.point(e, t)]
        for _ in range(k):
            e2, t2 = self.step(lifted % self.m, t)
            assert e2 != lifted % self.m, "F stays on its edge"
            lifted += (e2 - lifted) % self.m  # F moves forward to another edge
            t = t2
            points.append(self.point(lifted, t))
        return lifted, t, points

    def _breaks(self, e: int, lines, t0, t1) -> list:
        """The parameters in (t0, t1) where edge e crosses the lines ``(point, direction)``, sorted, with the ends."""
        q, u = self.Q[e], self.u[e]
        out = {t0, t1}
        for p, w in lines:
            den = _cross(w, u)
            if den != 0:
                t = -_cross(w, _sub(q, p)) / den
                if t0 < t < t1:
                    out.add(t)
        return sorted(out)

    def _pieces_on(self, e: int) -> list:
        """F on edge e as ``(t0, t1, offset, matrix)``: on (t0, t1) F(t) = edge e + offset at parameter
        ``(a t + b) / (c t + d)``, ``matrix = (a, b, c, d)``."""
        n = len(self.P)
        edge_lines = [(self.P[i], _sub(self.P[(i + 1) % n], self.P[i])) for i in range(n)]
        out = []
        stage = self._breaks(e, edge_lines, Fraction(0), Fraction(1))
        for s0, s1 in zip(stage, stage[1:]):
            p = self.tangent(self.point(e, (s0 + s1) / 2))
            cuts = self._breaks(e, [(p, _sub(q, p)) for q in self.Q if q != p], s0, s1)
            for t0, t1 in zip(cuts, cuts[1:]):
                mid = (t0 + t1) / 2
                p = self.tangent(self.point(e, mid))
                f, s = self.step(e, mid)
                assert f != e, "F stays on its edge"
                offset = (f - e) % self.m
                # the line through x(t) and p meets edge f at the parameter t' with
                # cross(x(t) - p, q_f + t' u_f - p) = 0; singular (a constant) when p lies on either line, as
                # when the tangent runs along edge e to its end
                a0, a1 = _sub(self.Q[e], p), self.u[e]
                b0, b1 = _sub(self.Q[f], p), self.u[f]
                matrix = _normalized((-_cross(a1, b0), -_cross(a0, b0), _cross(a1, b1), _cross(a0, b1)), mid)
                assert _apply(matrix, mid) == s, "a piece's map disagrees with F"
                out.append((t0, t1, offset, matrix))
        return out

    def power_pieces(self, k: int) -> list:
        """F^k as ``(e, t0, t1, lifted offset, matrix)`` pieces over all edges."""
        current = [(e, t0, t1, off, mat) for e in range(self.m) for t0, t1, off, mat in self.pieces[e]]
        for _ in range(k - 1):
            current = [piece for old in current for piece in self._compose(old)]
        return current

    def _compose(self, piece) -> list:
        e, t0, t1, off, mat = piece
        g = (e + off) % self.m
        u0, u1 = _apply(mat, t0), _apply(mat, t1)
        assert u0 <= u1, "F decreasing on a piece"
        if u0 == u1:  # constant on the piece: F applied to that one point
            lifted, s, _ = self.advance(g, u0, 1)
            return [(e, t0, t1, off + lifted - g, (0, s, 0, 1))]
        out = []
        for v0, v1, off2, mat2 in self.pieces[g]:
            lo, hi = max(u0, v0), min(u1, v1)
            if lo >= hi:
                continue
            s0 = t0 if lo == u0 else _apply(_inverse(mat), lo)
            s1 = t1 if hi == u1 else _apply(_inverse(mat), hi)
            out.append((e, s0, s1, off + off2, _normalized(_compose(mat2, mat), (s0 + s1) / 2)))
        return out

    def closing_point(self, k: int):
        """``(e, t)`` from which k steps of F make a full turn or more, or None: exact."""
        for e, t0, t1, off, (a, b, c, d) in self.power_pieces(k):
            # every end by F itself (F may jump there); inside, (a t + b) / (c t + d) - t >= m - off
            for t in (t0, t1):
                lifted, s, _ = self.advance(e, t, k)
                if lifted + s >= e + t + self.m:
                    return e, t
            need = self.m - off
            sign = 1 if c * (t0 + t1) / 2 + d > 0 else -1
            # sign * ((a t + b) - (t + need)(c t + d)) >= 0
            A, B, C = -sign * c, sign * (a - need * c - d), sign * (b - need * d)
            candidates = [(t0 + t1) / 2]
            if A < 0:
                vertex = -B / (2 * A)
                if t0 < vertex < t1:
                    candidates.append(vertex)
            for tail in (t0, t1):  # positive at an end (as a limit): positive just inside it
                if A * tail * tail + B * tail + C > 0:
                    t = (t0 + t1) / 2
                    while A * t * t + B * t + C < 0:
                        t = (t + tail) / 2
                    candidates.append(t)
            for t in candidates:
                if A * t * t + B * t + C >= 0:
                    lifted, s, _ = self.advance(e, t, k)
                    assert lifted + s >= e + t + self.m, "a piece's composed map disagrees with F^k"
                    return e, t
        return None


def _apply(matrix, t):
    a, b, c, d = matrix
    return Fraction(a * t + b) / (c * t + d)


def _normalized(matrix, inside):
    """A singular matrix is a constant map (its value, 0/0 where the line it comes from degenerates): as
    ``(0, value, 0, 1)``, the value taken at a point ``inside`` the piece."""
    a, b, c, d = matrix
    return (0, _apply(matrix, inside), 0, 1) if a * d - b * c == 0 else matrix


def _inverse(matrix):
    a, b, c, d = matrix
    return (d, -b, -c, a)


def _compose(outer, inner):
    """The matrix of ``outer(inner(t))``."""
    a, b, c, d = outer
    e, f, g, h = inner
    return (a * e + b * g, a * f + b * h, c * e + d * g, c * f + d * h)


def _certificate(M: NonnegMatrix, plane: ExactPlane, vertices) -> Certificate | None:
    """The factorization of a nested polygon: W its lifted vertices, H the columns' weights in a fan of triangles."""
    W = np.array([plane.lift(v) for v in vertices], dtype=object).T
    k = len(vertices)
    H = np.zeros((k, M.shape[1]), dtype=object)
    H[:, :] = Fraction(0)
    for j, z in plane.points.items():
        for i in range(1, k - 1):
            a, b, c = vertices[0], vertices[i], vertices[i + 1]
            area = _cross(_sub(b, a), _sub(c, a))
            if area == 0:
                continue
            lb = _cross(_sub(z, a), _sub(c, a)) / area
            lc = _cross(_sub(b, a), _sub(z, a)) / area
            if lb >= 0 and lc >= 0 and lb + lc <= 1:
                H[0, j], H[i, j], H[i + 1, j] = (1 - lb - lc) * plane.sums[j], lb * plane.sums[j], lc * plane.sums[j]
                break
        else:
            return None
    return verify_certificate(M, W, H, "nested_polygons")


def exact_restricted_rank(M: NonnegMatrix, max_k: int | None = None):
    """The restricted rank of an exact rank-3 matrix, decided in rational arithmetic.

    Returns ``(k, certificate, data)``: the fewest vertices k of a nested
    polygon (every smaller k proven impossible), its factorization checked
    exactly, and ``data`` with the polygon and the two polygons; ``(None,
    None, data)`` when no polygon of at most ``max_k`` vertices exists
    (``data["lower"]`` is then ``max_k + 1``).
    """
    plane = ExactPlane(M)
    greedy = _Greedy(plane)
    limit = max_k or min(M.shape)
    data = {"inner": plane.inner, "outer": plane.outer}
    for k in range(3, limit + 1):
        start = greedy.closing_point(k)
        if start is None:
            continue
        vertices = greedy.advance(*start, k - 1)[2]
        certificate = _certificate(M, plane, vertices)
        assert certificate is not None and certificate.exact, "a nested polygon whose factorization does not verify"
        return k, certificate, dict(data, polygon=vertices, lower=k)
    return None, None, dict(data, lower=limit + 1)
