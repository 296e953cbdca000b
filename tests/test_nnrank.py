"""Bounds on the non-negative rank against closed forms, brute force and published values."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy.linalg import block_diag

pytest.importorskip("cvxpy")
z3 = pytest.importorskip("z3")

from theory import gallery  # noqa: E402
from theory.nnrank import (  # noqa: E402
    as_matrix,
    exact_nmf_heuristic,
    fooling_set,
    geometric_bound,
    hyperplane_separation,
    low_rank_certificate,
    maximal_rectangles,
    nested_polygons,
    nonneg_nuclear_norm,
    nonneg_rank_bounds,
    rank_one_oracle,
    rectangle_cover,
    refined_rectangle_cover,
    restricted_rank,
    smt_decide,
    tau_plus,
    tau_sos,
    verify_certificate,
)
from theory.nnrank.polygons import cyclic_polytope_faces, geometric_lower_bound  # noqa: E402
from theory.nnrank._matrix import matrix_rank  # noqa: E402
from theory.nnrank.combinatorial import greedy_fooling_set  # noqa: E402
from theory.nnrank.refined import check_refined_cover, refined_pairs  # noqa: E402

THOMAS = gallery.thomas().matrix


def _cover_number(M, solver="auto") -> int:
    return [e for e in rectangle_cover(M, solver=solver) if e.method == "rectangle_cover"][0].bound


#: The covers' two formulations: SAT where python-sat is installed, the MILP everywhere.
COVER_SOLVERS = ["milp", pytest.param("sat", marks=pytest.mark.skipif(
    importlib.util.find_spec("pysat") is None, reason="python-sat is not installed"))]


# ----------------------------------------------------------------- brute force
def _brute_rectangles(S):
    """All maximal all-True rectangles by trying every set of rows."""
    m, n = S.shape
    found = set()
    for k in range(1, m + 1):
        for rows in itertools.combinations(range(m), k):
            cols = tuple(j for j in range(n) if S[list(rows), j].all())
            if not cols:
                continue
            closure = tuple(i for i in range(m) if S[i, list(cols)].all())
            found.add((closure, cols))
    return found


def _brute_boolean_rank(S) -> int:
    rects = sorted(_brute_rectangles(S))
    target = {tuple(e) for e in np.argwhere(S)}
    for k in range(0, len(rects) + 1):
        for choice in itertools.combinations(rects, k):
            covered = {(i, j) for I, J in choice for i in I for j in J}
            if covered >= target:
                return k
    raise AssertionError


def _brute_fooling(S) -> int:
    entries = [tuple(e) for e in np.argwhere(S)]
    best = 0
    for k in range(1, len(entries) + 1):
        ok = False
        for choice in itertools.combinations(entries, k):
            if all(not (S[i, l] and S[k2, j]) for (i, j), (k2, l) in itertools.combinations(choice, 2)):
                ok = True
                break
        if not ok:
            break
        best = k
    return best


@pytest.mark.parametrize("solver", COVER_SOLVERS)
@pytest.mark.parametrize("seed", range(6))
def test_support_bounds_match_brute_force(seed, solver):
    rng = np.random.default_rng(seed)
    S = rng.random((4, 5)) < 0.6
    S[0, 0] = True
    assert set(maximal_rectangles(S)) == _brute_rectangles(S)
    assert _cover_number(S.astype(int), solver) == _brute_boolean_rank(S)
    assert fooling_set(S.astype(int)).bound == _brute_fooling(S)


@pytest.mark.parametrize("seed", range(6))
def test_the_pairwise_fooling_set_model_has_the_brute_force_value(seed, monkeypatch):
    """The model of one constraint per pair sharing a rectangle (taken where the rectangles are too many)."""
    from theory.nnrank import combinatorial

    monkeypatch.setattr(combinatorial, "MAX_CLIQUE_INCIDENCES", 0)
    rng = np.random.default_rng(seed)
    S = rng.random((4, 5)) < 0.6
    S[0, 0] = True
    assert fooling_set(S.astype(int)).bound == _brute_fooling(S)


@pytest.mark.parametrize("solver", COVER_SOLVERS)
@pytest.mark.parametrize("n, expected", [(3, 3), (4, 4), (5, 4), (6, 4), (7, 5), (11, 6)])
def test_boolean_rank_of_complement_of_identity(n, expected, solver):
    # de Caen, Gregory & Pullman (1981): the least k with C(k, floor(k/2)) >= n
    J = np.ones((n, n), dtype=int) - np.eye(n, dtype=int)
    assert _cover_number(J, solver) == expected


def test_sat_cover_does_not_need_the_maximal_rectangles():
    # J - I of order 16 has 2^16 - 2 maximal rectangles, beyond MAX_RECTANGLES: the LP and the MILP decline,
    # the SAT formula (which does not list them) still gives de Caen, Gregory & Pullman's 6
    pytest.importorskip("pysat")
    J = np.ones((16, 16), dtype=int) - np.eye(16, dtype=int)
    lp, cover = rectangle_cover(J, solver="sat")
    assert lp.bound is None and lp.status.startswith("not applicable")
    assert cover.bound == 6 and cover.status == "optimal"
    assert rectangle_cover(J, solver="milp")[0].status.startswith("not applicable")


def test_fooling_set_is_a_fooling_set_and_cover_covers():
    M = gallery.ledm(5).matrix
    e = fooling_set(M)
    S = M > 0
    for (i, j), (k, l) in itertools.combinations(e.data["entries"], 2):
        assert not (S[i, l] and S[k, j])
    cover = [x for x in rectangle_cover(M) if x.method == "rectangle_cover"][0]
    covered = np.zeros_like(S)
    for I, J in cover.data["rectangles"]:
        assert S[np.ix_(I, J)].all()
        covered[np.ix_(I, J)] = True
    assert np.array_equal(covered, S)


# ----------------------------------------------------------- SDP closed forms
@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 1.0])
def test_tau_sos_closed_form_on_two_by_two(alpha):
    value = tau_sos(np.array([[1.0, 1.0], [1.0, alpha]])).value
    assert value == pytest.approx(2 / (1 + alpha), abs=1e-5)


def test_the_sdps_give_the_same_values_in_a_child_process_with_a_time_limit():
    """With a time limit the SDPs are solved in a child process (stopped when the time is up): same values."""
    L5 = gallery.ledm(5).matrix
    for bound in (tau_sos, nonneg_nuclear_norm):
        here, there = bound(L5), bound(L5, time_limit=600.0)
        assert there.value == pytest.approx(here.value, rel=1e-9) and there.bound == here.bound


def test_an_sdp_past_its_time_limit_is_stopped_and_proves_nothing():
    """The 13-gon's τ₊^sos takes minutes (an interior-point iteration about ten seconds): stopped at 0.5 s."""
    e = tau_sos(gallery.ngon_slack(13).matrix, time_limit=0.5)
    assert e.bound is None and e.status.startswith("time_limit")


def test_tau_sos_and_tau_plus_of_ledm5_match_fawzi_parrilo():
    L5 = gallery.ledm(5).matrix
    assert tau_sos(L5).value == pytest.approx(3.594, abs=1e-3)
    e = tau_plus(L5, time_limit=None)  # its rounds bound the work: the same verdict on any machine
    # certified lower value, and the LP (upper) value of the cutting planes
    assert e.value > 4.0 and e.bound == 5
    assert e.value == pytest.approx(4.1857, abs=2e-3)
    assert e.data["lp_value"] == pytest.approx(4.1857, abs=2e-3)


def test_oracle_is_certified_against_dense_sampling():
    rng = np.random.default_rng(3)
    A = rng.random((3, 4))
    A[0, 1] = 0.0
    L = rng.standard_normal((3, 4))
    upper, lower, R = rank_one_oracle(A, L, rtol=1e-6)
    assert np.linalg.matrix_rank(R, tol=1e-12) <= 1 and (R <= A + 1e-12).all() and (R >= 0).all()
    assert float((L * R).sum()) == pytest.approx(lower)
    # brute force: u fixed by v on a grid of v (and v's zero patterns)
    best = 0.0
    grid = np.linspace(0, 1, 11)
    for v in itertools.product(grid, repeat=4):
        v = np.array(v)
        if v.max() == 0:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            cap = np.where(v > 0, A / v, np.inf).min(axis=1)
        Lv = L @ v
        best = max(best, float(np.where(Lv > 0, Lv * cap, 0).sum()))
    assert best <= upper * (1 + 1e-9)
    assert lower >= best - 1e-9 or lower == pytest.approx(best, rel=1e-2)


def test_nuclear_norm_bound_on_identity_and_dominated_by_rank_plus():
    assert nonneg_nuclear_norm(np.eye(4)).value == pytest.approx(4.0, abs=1e-4)
    for g in (gallery.thomas(), gallery.ledm(4), gallery.ngon_slack(5)):
        assert nonneg_nuclear_norm(g.matrix).bound <= g.nonneg_rank[1]


# ------------------------------------------------------------- nested polygons
@pytest.mark.parametrize("a, b", [(0.2, 0.2), (0.4, 0.4), (0.42, 0.42), (0.5, 0.3), (0.5, 0.34), (0.1, 0.8),
                                  (0.3, 0.6)])
def test_nested_rectangles_threshold(a, b):
    k, certificate, data = restricted_rank(gallery.nested_rectangles(a, b).matrix)
    assert (k == 3) == ((1 + a) * (1 + b) <= 2)
    assert certificate.rank == k and certificate.residual < 1e-6
    assert data["lower"] == k  # the bound on the gain rules out every smaller polygon


@pytest.mark.parametrize("g", [gallery.nested_rectangles(Fraction(1, 5), Fraction(1, 5)),
                               gallery.nested_rectangles(Fraction(1, 2), Fraction(1, 3)),  # (1 + a)(1 + b) = 2
                               gallery.nested_hexagons(Fraction(3, 2)), gallery.nested_hexagons(2), gallery.ledm(3)],
                         ids=lambda g: g.name)
def test_rank_three_is_proved_with_a_rational_triangle(g):
    e = nested_polygons(g.matrix)
    certificate = e.data["certificate"]
    assert (e.kind, e.bound, e.exact_arithmetic, certificate.exact) == ("exact", 3, True, True)
    W, H = np.asarray(certificate.W, dtype=object), np.asarray(certificate.H, dtype=object)
    assert (W.dot(H) == np.asarray(g.matrix, dtype=object)).all() and (W >= 0).all() and (H >= 0).all()


@pytest.mark.parametrize("a, expected", [(1.5, 3), (2.0, 3), (2.05, 4), (3.0, 4), (3.05, 5), (50.0, 6)])
def test_nested_hexagons_restricted_rank(a, expected):
    # rank₊ is 3, 4, 5 below/at 2, 3, beyond; the restricted rank reaches 6 (the hexagon itself)
    k, _, data = restricted_rank(gallery.nested_hexagons(a).matrix, arithmetic="float")
    assert k == data["lower"] == expected and not data["exact"]
    assert all(data["gain_bounds"][j] >= data["gains"][j] for j in data["gains"])


@pytest.mark.parametrize("a, expected", [(Fraction(3, 2), 3), (2, 3), (Fraction(1999, 1000), 3),
                                         (Fraction(2001, 1000), 4), (3, 4), (Fraction(3001, 1000), 5),
                                         (Fraction(61, 20), 5), (50, 6)])
def test_nested_hexagons_restricted_rank_in_rational_arithmetic(a, expected):
    """Gillis & Glineur's thresholds a = 2 and a = 3 decided exactly, also a thousandth from them; the polygon
    lifts to a factorization checked in fractions."""
    g = gallery.nested_hexagons(a)
    k, certificate, data = restricted_rank(g.matrix, arithmetic="exact")
    assert k == data["lower"] == expected and data["exact"] and certificate.exact and certificate.rank == k
    W, H = np.asarray(certificate.W, dtype=object), np.asarray(certificate.H, dtype=object)
    assert (W.dot(H) == np.asarray(g.matrix, dtype=object)).all() and (W >= 0).all() and (H >= 0).all()


@pytest.mark.parametrize("a, b", [(Fraction(1, 2), Fraction(1, 3)), (Fraction(1, 2), Fraction(1, 3) + Fraction(1, 10**9)),
                                  (Fraction(1, 3), Fraction(1, 2) - Fraction(1, 10**9)), (Fraction(2, 5), Fraction(3, 7)),
                                  (Fraction(1, 10), Fraction(4, 5)), (Fraction(1, 10), Fraction(9, 11))])
def test_nested_rectangles_threshold_in_rational_arithmetic(a, b):
    """rank₊ = 3 exactly when (1 + a)(1 + b) <= 2, decided on the threshold itself and 1e-9 either side of it."""
    k, certificate, data = restricted_rank(gallery.nested_rectangles(a, b).matrix, arithmetic="exact")
    assert (k == 3) == ((1 + a) * (1 + b) <= 2) and k == data["lower"] and certificate.exact


def _random_slack_matrix(rng, facets: int, points: int, ratio: float):
    """M_ij = a_i . z_j + b_i for an outer polygon's facets (tangent to the unit circle) and points on a circle of
    radius ``ratio``: rank 3, its nested polygons those of the two polygons; in fractions of small denominators."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, facets))
    phases = np.sort(rng.uniform(0, 2 * np.pi, points))
    q = lambda x: Fraction(round(x * 1000), 1000)  # noqa: E731
    A = [(q(np.cos(t)), q(np.sin(t))) for t in angles]
    Z = [(q(ratio * np.cos(t)), q(ratio * np.sin(t))) for t in phases]
    return [[a[0] * z[0] + a[1] * z[1] + 1 for z in Z] for a in A]


@pytest.mark.parametrize("seed", range(16))
def test_exact_and_float_nested_polygons_agree_on_random_slack_matrices(seed):
    """Two implementations (angles in floats, edge parameters in fractions) on the same matrices: the same
    restricted rank and the same lower bound, where the float search's margins are clear."""
    rng = np.random.default_rng(seed)
    M = _random_slack_matrix(rng, int(rng.integers(5, 9)), int(rng.integers(5, 9)), float(rng.uniform(0.6, 0.97)))
    if matrix_rank(as_matrix(M)) != 3 or min(min(row) for row in M) < 0:
        pytest.skip("the drawn points leave the outer polygon")
    k, certificate, data = restricted_rank(M, arithmetic="exact")
    k_float, _, data_float = restricted_rank(M, arithmetic="float")
    assert certificate.exact and k == data["lower"]
    assert (k, k) == (k_float, data_float["lower"])


@pytest.mark.parametrize("g, value", [(gallery.nested_hexagons(3), 4), (gallery.nested_rectangles(Fraction(1, 2),
                                      Fraction(1, 2)), 4), (gallery.nested_hexagons(4), 5)], ids=lambda x: str(x))
def test_rank_above_three_is_proved_in_rational_arithmetic(g, value):
    """No nested triangle (or quadrilateral...) decided exactly makes the geometric bound a proof: rank₊ >= 4
    for a = 3 and the rectangles at 1/2, >= 5 for a = 4 (restricted rank 6), the literature's values."""
    e = geometric_bound(g.matrix)
    assert (e.bound, e.exact_arithmetic) == (value, True) and value == g.nonneg_rank[0]
    if value == 4:  # and the nested quadrilateral is an exact certificate: rank₊ = 4 proven both ways
        result = nonneg_rank_bounds(g.matrix, methods=["nested_polygons", "geometric"], time_limit=None)
        assert result.exact and result.lower == 4 and result.certificate.exact


def test_exact_nested_polygons_need_exact_input():
    with pytest.raises(ValueError, match="exact input"):
        restricted_rank(gallery.ngon_slack(5).matrix, arithmetic="exact")
    with pytest.raises(ValueError, match="arithmetic"):
        restricted_rank(gallery.ledm(4).matrix, arithmetic="interval")


@pytest.mark.parametrize("n", [3, 4, 5, 6, 8])
def test_regular_ngon_restricted_rank_is_n(n):
    k, certificate, data = restricted_rank(gallery.ngon_slack(n).matrix)
    assert k == n == data["lower"] and certificate.residual < 1e-9


def _brute_refined_cover(M) -> int:
    """The refined cover number from its definition: the smallest multiset of rectangles inside the support that
    covers it and leaves no pair p = (i, j), q = (k, l) with M_ij M_kl > M_il M_kj to one rectangle alone."""
    M = [[Fraction(int(x)) for x in row] for row in M]
    m, n = len(M), len(M[0])
    S = np.array([[x > 0 for x in row] for row in M])
    lines = lambda k: [c for size in range(1, k + 1) for c in itertools.combinations(range(k), size)]  # noqa: E731
    rects = [(I, J) for I in lines(m) for J in lines(n) if S[np.ix_(I, J)].all()]  # every one, not only maximal
    entries = [(i, j) for i in range(m) for j in range(n) if S[i, j]]
    for size in range(1, 2 * len(rects) + 1):
        for chosen in itertools.combinations_with_replacement(range(len(rects)), size):
            holding = {e: [t for t in chosen if e[0] in rects[t][0] and e[1] in rects[t][1]] for e in entries}
            if any(not h for h in holding.values()):
                continue
            if all(not (len(holding[(i, j)]) == len(holding[(k, l)]) == 1 and holding[(i, j)] == holding[(k, l)])
                   or M[i][j] * M[k][l] <= M[i][l] * M[k][j]
                   for (i, j) in entries for (k, l) in entries if i != k and j != l and S[i, l] and S[k, j]):
                return size
    raise AssertionError("no refined cover")


REFINED_SOLVERS = COVER_SOLVERS


@pytest.mark.parametrize("solver", REFINED_SOLVERS)
@pytest.mark.parametrize("seed", range(16))  # 7 of them above the plain cover number
def test_refined_cover_matches_its_definition_by_brute_force(seed, solver):
    rng = np.random.default_rng(seed)
    M = rng.integers(1, 4, (3, 3)) * (rng.random((3, 3)) < 0.8)
    M[0, 0] = 1
    e = refined_rectangle_cover(M, solver=solver)
    assert (e.bound, e.status) == (_brute_refined_cover(M), "optimal")
    check_refined_cover(M, e.data["rectangles"])


@pytest.mark.parametrize("solver, sizes", [("milp", range(3, 10)),
                                           pytest.param("sat", range(3, 13), marks=REFINED_SOLVERS[1].marks)])
def test_refined_cover_gives_the_extension_complexity_of_the_small_ngons(solver, sizes):
    # Vandaele, Gillis & Glineur (2017): 3, 4, 5, 5, 6, 6, 7, 7, 7, 7 for n = 3..12; the plain cover gives 6 at
    # n = 9 (Oelze, Vandaele & Weltge 2014 introduced the refinement that reaches 7 there)
    for n in sizes:
        G = gallery.ngon_slack(n)
        e = refined_rectangle_cover(G.matrix, solver=solver)
        assert (e.bound, e.status) == (G.nonneg_rank[0], "optimal"), n
        check_refined_cover(G.matrix, e.data["rectangles"])
    if solver == "milp":
        assert [c for c in rectangle_cover(gallery.ngon_slack(9).matrix) if c.method == "rectangle_cover"][0].bound == 6


@pytest.mark.skipif(importlib.util.find_spec("pysat") is None, reason="python-sat is not installed")
def test_sat_refined_cover_of_a_disguised_ngon_is_the_ngons():
    rng = np.random.default_rng(3)
    S = gallery.ngon_slack(11).matrix
    D = (10.0 ** rng.uniform(-3, 3, (11, 1))) * S[rng.permutation(11)][:, rng.permutation(11)].T * 10.0 ** rng.uniform(
        -3, 3, 11)
    assert refined_rectangle_cover(D, solver="sat").bound == refined_rectangle_cover(S, solver="sat").bound == 7


def test_a_time_limited_fooling_set_keeps_the_greedy_one():
    # the 13-gon's largest fooling set has 4 entries (the MILP needs ~15 s for it here); the greedy passes find
    # 4 at once, and a stopped MILP reports them (whichever finishes, the bound is 4)
    S = gallery.ngon_slack(13).matrix
    e = fooling_set(S, time_limit=0.1)
    assert e.bound == 4 and e.status in ("optimal", "time_limit")
    greedy = greedy_fooling_set(S > 0, [tuple(x) for x in np.argwhere(S > 0)])
    assert len(greedy) == 4


@pytest.mark.parametrize("seed", range(6))
def test_the_greedy_fooling_set_is_a_fooling_set_no_larger_than_the_largest(seed):
    rng = np.random.default_rng(seed)
    S = rng.random((5, 6)) < 0.6
    S[0, 0] = True
    entries = [tuple(x) for x in np.argwhere(S)]
    chosen = [entries[k] for k in greedy_fooling_set(S, entries)]
    assert all(not (S[i, l] and S[k, j]) for (i, j), (k, l) in itertools.combinations(chosen, 2))
    assert 1 <= len(chosen) <= _brute_fooling(S)
    assert len(greedy_fooling_set(np.eye(7, dtype=bool), [(i, i) for i in range(7)])) == 7


@pytest.mark.skipif(importlib.util.find_spec("pysat") is None, reason="python-sat is not installed")
def test_a_sat_refined_cover_out_of_time_reports_the_fooling_set():
    e = refined_rectangle_cover(gallery.ngon_slack(12).matrix, solver="sat", time_limit=0)
    assert (e.status, e.bound, e.data["unsatisfiable"]) == ("time_limit", len(e.data["fooling_set"]), [])


@pytest.mark.skipif(importlib.util.find_spec("pysat") is None, reason="python-sat is not installed")
def test_a_sat_refined_cover_above_a_known_bound_skips_the_sizes_below():
    S = gallery.ngon_slack(9).matrix  # refined covering number 7, greedy fooling set 4
    e = refined_rectangle_cover(S, solver="sat", above=6)
    assert (e.bound, e.status, e.data["unsatisfiable"]) == (7, "optimal", [6])
    e = refined_rectangle_cover(S, solver="sat", above=8)
    assert (e.bound, e.data["unsatisfiable"]) == (4, []) and e.status.startswith("not above 8")
    check_refined_cover(S, e.data["rectangles"])


def test_the_refined_cover_check_rejects_a_plain_cover():
    # the 9-gon's minimum plain cover has 6 rectangles, below its refined covering number 7
    S = gallery.ngon_slack(9).matrix
    cover = [c for c in rectangle_cover(S) if c.method == "rectangle_cover"][0].data["rectangles"]
    assert len(cover) == 6
    with pytest.raises(AssertionError, match="single rectangle"):
        check_refined_cover(S, cover)
    with pytest.raises(AssertionError, match="do not cover"):
        check_refined_cover(S, cover[1:] + cover[1:2] * 2)


@pytest.mark.skipif(importlib.util.find_spec("pysat") is None, reason="python-sat is not installed")
def test_a_sat_refined_cover_stopped_by_its_budget_keeps_a_valid_bound(monkeypatch):
    import theory.nnrank._sat as sat

    monkeypatch.setattr(sat, "SAT_CONFLICT_LIMIT", 50)  # the 12-gon's "not 6" takes thousands
    e = refined_rectangle_cover(gallery.ngon_slack(12).matrix, solver="sat")
    assert e.status == "conflict_limit"
    assert e.bound == 1 + max(e.data["unsatisfiable"], default=len(e.data["fooling_set"]) - 1) <= 7
    assert "rectangles" not in e.data


def test_the_sat_refined_cover_without_python_sat_names_the_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pysat.solvers", None)
    with pytest.raises(ImportError, match=r"pip install 'nmflab\[theory\]'"):
        refined_rectangle_cover(np.eye(3), solver="sat")
    assert refined_rectangle_cover(np.eye(3)).data["solver"] == "milp"  # auto falls back
    with pytest.raises(ImportError, match=r"pip install 'nmflab\[theory\]'"):
        rectangle_cover(np.eye(3), solver="sat")
    assert _cover_number(np.eye(3)) == 3 and "solver" not in rectangle_cover(np.eye(3))[1].data
    with pytest.raises(ValueError, match="solver must be"):
        refined_rectangle_cover(np.eye(3), solver="cp")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("pysat") is None, reason="python-sat is not installed")
def test_sat_refined_cover_of_the_13gon_is_8():
    # Vandaele, Gillis & Glineur (2017): extension complexity 8; the MILP formulation declines here
    e = refined_rectangle_cover(gallery.ngon_slack(13).matrix, solver="sat")
    assert (e.bound, e.status, e.data["unsatisfiable"][-1]) == (8, "optimal", 7)
    check_refined_cover(gallery.ngon_slack(13).matrix, e.data["rectangles"])


def test_cyclic_polytope_face_counts_match_convex_hulls():
    """The upper-bound-theorem counts against the faces of hulls of points on the moment curve (simplicial, so
    every k-face is a (k+1)-subset of a facet)."""
    from scipy.spatial import ConvexHull

    for d in range(2, 6):
        for n in range(d + 1, d + 5):
            t = np.linspace(0.5, 2.5, n)
            hull = ConvexHull(np.stack([t ** e for e in range(1, d + 1)], axis=1))
            facets = {tuple(sorted(f)) for f in hull.simplices}
            for k in range(d):
                faces = {c for f in facets for c in itertools.combinations(f, k + 1)}
                assert cyclic_polytope_faces(n, d, k) == len(faces), (n, d, k)


def test_geometric_bound_in_its_general_form():
    # at least Goemans' ceil(log2(2k + 1)) and stronger from k = 5; the regular n-gons (restricted rank n) get
    # their extension complexity (Vandaele, Gillis & Glineur 2017) for n = 4..8 and 10..12
    for k in range(3, 40):
        assert geometric_lower_bound(3, k) >= math.ceil(math.log2(2 * k + 1))
    assert (geometric_lower_bound(3, 5), math.ceil(math.log2(11))) == (5, 4)
    for n in [4, 5, 6, 7, 8, 10, 11, 12]:
        assert geometric_lower_bound(3, n) == gallery.ngon_slack(n).nonneg_rank[0]
    assert geometric_lower_bound(3, 9) == 6 and geometric_lower_bound(3, 13) == 7  # below 7 and 8: not these
    # LEDM(7) and LEDM(8): restricted rank 7 and 8, geometric bound 6 (Gillis & Glineur 2012)
    for n in (7, 8):
        e = geometric_bound(gallery.ledm(n).matrix)
        assert (e.bound, e.data["restricted_rank_lower"]) == (6, n)
    with pytest.raises(ValueError, match="restricted"):
        geometric_lower_bound(3, 2)


def test_geometric_bound_is_valid_on_the_gallery():
    for g in (gallery.ngon_slack(6), gallery.nested_hexagons(Fraction(5, 2)), gallery.ledm(5), gallery.thomas()):
        e = geometric_bound(g.matrix)
        assert 3 <= e.bound <= g.nonneg_rank[0]


def test_low_rank_certificates_are_exact():
    rng = np.random.default_rng(0)
    for r in (1, 2):
        M = rng.integers(0, 5, (5, r)) @ rng.integers(0, 5, (r, 6))
        cert = low_rank_certificate(M)
        assert cert.exact and cert.rank == np.linalg.matrix_rank(M)
        assert (cert.W.dot(cert.H) == M).all()


# ------------------------------------------------------- exact and upper bounds
def test_smt_proves_thomas_and_reports_unknown():
    unsat = smt_decide(THOMAS, 3, time_limit=None)  # z3's default resource budget, not seconds
    assert unsat.status == "unsat" and unsat.kind == "lower" and unsat.bound == 4
    sat = smt_decide(THOMAS, 4, time_limit=None)
    assert sat.status == "sat" and sat.bound == 4
    cert = sat.data["certificate"]
    assert cert.exact and (np.array(cert.W).dot(np.array(cert.H)) == THOMAS).all()
    unknown = smt_decide(gallery.ledm(5).matrix, 4, time_limit=None, rlimit=200_000)  # a budget of z3's steps
    assert unknown.status == "unknown" and unknown.bound is None
    assert smt_decide(gallery.ngon_slack(5).matrix, 4).status.startswith("not applicable")


def test_heuristic_finds_planted_factorization_and_never_an_impossible_one():
    rng = np.random.default_rng(1)
    M = rng.random((8, 3)) @ rng.random((3, 9))
    found = exact_nmf_heuristic(M, 3, restarts=50, time_limit=None)
    assert found.bound == 3 and found.data["certificate"].residual < 1e-9
    impossible = exact_nmf_heuristic(THOMAS, 3, restarts=20, time_limit=None)  # rank₊ = 4
    assert impossible.bound is None and impossible.value > 1e-3


def test_polish_finds_the_zeros_a_near_miss_only_approaches():
    """A factorization with zeros, blurred as HALS leaves it (1e-10 where it is 0, 1e-9 relative elsewhere):
    polishing returns an exact one (to rounding), with the zeros found."""
    from theory.nnrank.exact import _polish

    rng = np.random.default_rng(5)
    W0 = rng.random((10, 5)) * (rng.random((10, 5)) < 0.5)
    H0 = rng.random((5, 10)) * (rng.random((5, 10)) < 0.5)
    V = W0 @ H0
    blur = lambda X: np.where(X > 0, X * (1 + 1e-9 * rng.standard_normal(X.shape)), 1e-10)  # noqa: E731
    W, H = _polish(V / V.max(), blur(W0), blur(H0) / V.max())
    assert np.abs(V / V.max() - W @ H).max() < 1e-14
    assert ((W @ H)[V == 0] == 0).all()


def test_verify_certificate_rejects_wrong_factors():
    M = as_matrix(THOMAS)
    W = np.eye(4, dtype=int)
    assert verify_certificate(M, W, THOMAS.astype(float), "t") is not None
    bad = THOMAS.astype(float).copy()
    bad[0, 0] = 0.9
    assert verify_certificate(M, W, bad, "t") is None
    assert verify_certificate(M, -W, -THOMAS.astype(float), "t") is None


def test_float_certificates_meet_zeros_exactly_and_small_entries_to_their_own_digits():
    """An exact factorization with zeros in its factors, blurred by 1e-13 where it is 0, verifies with every
    zero of M exactly 0; an error of 1e-9 relative to the largest entry, on an entry 1e6 times smaller, does not."""
    rng = np.random.default_rng(3)
    W0 = rng.random((6, 3)) * (rng.random((6, 3)) > 0.4)
    H0 = rng.random((3, 7)) * (rng.random((3, 7)) > 0.4)
    M0 = W0 @ H0
    assert (M0 == 0).any()
    blurred = verify_certificate(as_matrix(M0), W0 + 1e-13 * (W0 == 0), H0 + 1e-13 * (H0 == 0), "t")
    product = blurred.W @ blurred.H
    assert (product[M0 == 0] == 0).all()
    assert np.allclose(product[M0 > 0], M0[M0 > 0], rtol=1e-9, atol=0)
    small = np.array([[1.0, 1e-6], [1.0, 2.0]])  # rank 2: M = I M
    off = small.copy()
    off[0, 1] += 1e-9 * small.max()  # within 1e-7 of the largest entry, 1e-3 of its own
    assert verify_certificate(as_matrix(small), np.eye(2), off, "t") is None
    assert verify_certificate(as_matrix(small), np.eye(2), small * (1 + 1e-9), "t") is not None


# ------------------------------------------------------------------ invariances
def _transforms(M, rng):
    m, n = M.shape
    P, Q = rng.permutation(m), rng.permutation(n)
    d1, d2 = rng.uniform(0.3, 3, m), rng.uniform(0.3, 3, n)
    M = np.asarray(M, dtype=float)
    return {"permuted": M[P][:, Q], "scaled": d1[:, None] * M * d2[None, :], "transposed": M.T}


@pytest.mark.parametrize("name", ["thomas", "ledm4", "hexagons", "ngon5"])
def test_bounds_invariant_under_permutation_scaling_transposition(name):
    M = {"thomas": THOMAS, "ledm4": gallery.ledm(4).matrix, "hexagons": gallery.nested_hexagons(2.5).matrix,
         "ngon5": gallery.ngon_slack(5).matrix}[name]
    M = np.asarray(M, dtype=float)
    rng = np.random.default_rng(0)
    methods = {
        "fooling": lambda X: fooling_set(X).bound,
        "cover": _cover_number,
        "hyperplane": lambda X: hyperplane_separation(X).bound,
        "nuclear": lambda X: nonneg_nuclear_norm(X).bound,
        "tau_sos": lambda X: round(tau_sos(X).value, 4),
        "polygon": lambda X: nested_polygons(X).bound,
    }
    base = {k: f(M) for k, f in methods.items()}
    for label, X in _transforms(M, rng).items():
        for k, f in methods.items():
            assert f(X) == base[k], (label, k)


def test_tau_plus_invariant_and_additive():
    rng = np.random.default_rng(2)
    T = THOMAS.astype(float)
    A = np.array([[1.0, 1.0], [1.0, 0.5]])
    tau = lambda X: tau_plus(X, time_limit=None).value  # noqa: E731  bounded by its rounds, not by seconds
    t_T, t_A = tau(T), tau(A)
    assert t_T == pytest.approx(4.0, abs=1e-3) and t_A == pytest.approx(1.5, abs=1e-3)
    assert tau(_transforms(T, rng)["scaled"]) == pytest.approx(t_T, abs=2e-3)
    assert tau(block_diag(T, A)) == pytest.approx(t_T + t_A, abs=3e-3)


def test_additivity_on_direct_sums():
    T, L3 = THOMAS, gallery.ledm(3).matrix
    S = block_diag(T, L3)
    assert _cover_number(S) == _cover_number(T) + _cover_number(L3)
    assert fooling_set(S).bound == fooling_set(T).bound + fooling_set(L3).bound
    assert tau_sos(S).value == pytest.approx(tau_sos(T).value + tau_sos(L3).value, abs=1e-4)
    result = nonneg_rank_bounds(S, time_limit=None)
    assert result.exact and result.lower == 7


# ------------------------------------------------------- entry point, gallery, CLI
@pytest.mark.parametrize("g", [gallery.identity(4), gallery.all_ones(3, 5), gallery.thomas(), gallery.ledm(4),
                               gallery.ngon_slack(5), gallery.ngon_slack(6), gallery.nested_rectangles(0.5, 0.3),
                               gallery.nested_hexagons(Fraction(5, 2)), gallery.two_by_two(Fraction(1, 2))],
                         ids=lambda g: g.name)
def test_bounds_meet_the_literature(g):
    result = nonneg_rank_bounds(g.matrix, time_limit=None)  # work budgets, not seconds: any machine agrees
    low, high = g.nonneg_rank
    assert result.lower <= high and result.upper >= low
    assert result.rank == g.rank
    assert result.exact and result.lower == low == high
    cert = result.certificate
    assert cert.rank == result.upper
    assert verify_certificate(as_matrix(g.matrix), cert.W, cert.H, "recheck") is not None


def test_every_gallery_entry_has_its_rank_and_a_sound_interval():
    from theory.nnrank._matrix import matrix_rank

    for g in gallery.standard_gallery():
        M = as_matrix(g.matrix)
        assert matrix_rank(M) == g.rank, g.name
        assert g.rank <= g.nonneg_rank[0] <= g.nonneg_rank[1] <= min(M.shape), g.name


def test_ngon_values_follow_the_upper_bound_formula():
    # the upper ends are the Vandaele-Gillis-Glineur construction's size for n = 3..16 (and beyond)
    for n in range(3, 25):
        assert gallery.ngon_slack(n).nonneg_rank[1] == gallery._ngon_upper(n)


def test_gallery_lower_ends_are_no_stronger_than_the_bounds_behind_them():
    """LEDM(7..16) and the n-gons above 13: each low end is the geometric bound with restricted rank n."""
    for n in range(7, 17):
        assert gallery.ledm(n).nonneg_rank[0] == geometric_lower_bound(3, n), n
    for n in range(14, 25):
        assert gallery.ngon_slack(n).nonneg_rank[0] == geometric_lower_bound(3, n), n


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="negative"):
        nonneg_rank_bounds([[1, -1], [0, 1]])
    with pytest.raises(ValueError, match="non-finite"):
        nonneg_rank_bounds([[1, np.nan]])
    with pytest.raises(ValueError, match="2-D"):
        nonneg_rank_bounds([1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        nonneg_rank_bounds(np.zeros((0, 3)))
    with pytest.raises(TypeError):
        nonneg_rank_bounds([["a", "b"]])
    with pytest.raises(ValueError, match="unknown methods"):
        nonneg_rank_bounds(THOMAS, methods=["magic"])


def test_exact_input_detection():
    assert as_matrix(THOMAS).exact is not None
    assert as_matrix(THOMAS.astype(float)).exact is not None
    assert as_matrix(np.array([[Fraction(1, 3), 1]], dtype=object)).exact[0][0] == Fraction(1, 3)
    assert as_matrix(gallery.ngon_slack(5).matrix).exact is None


def test_cli_bounds(tmp_path, capsys):
    from nmflab.cli import main

    path = tmp_path / "thomas.csv"
    np.savetxt(path, THOMAS, delimiter=",", fmt="%d")
    out = tmp_path / "b.json"
    cert = tmp_path / "c.npz"
    assert main(["bounds", str(path), "--json", str(out), "--certificate", str(cert), "--time-limit", "none"]) == 0
    assert "rank₊ = 4" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["lower"] == data["upper"] == 4 and data["exact"]
    with np.load(cert) as f:
        assert np.allclose(f["W"] @ f["H"], THOMAS)
    bad = tmp_path / "neg.csv"
    bad.write_text("1,-1\n0,1\n")
    assert main(["bounds", str(bad)]) == 2
    assert "negative" in capsys.readouterr().err


@pytest.mark.slow
def test_smt_proves_ledm4():
    assert smt_decide(gallery.ledm(4).matrix, 3, time_limit=None, rlimit=5_000_000_000).status == "unsat"


@pytest.mark.slow
@pytest.mark.parametrize("g, rank", [(gallery.ngon_slack(12), 7), (gallery.ledm(8), 6), (gallery.ngon_slack(16), 8)],
                         ids=lambda x: getattr(x, "name", str(x)))
def test_the_search_finds_what_the_literature_constructs(g, rank):
    """The 12-gon's 7 terms and the 16-gon's 8 (Vandaele, Gillis & Glineur 2017), LEDM(8)'s 6 (Hrubeš 2012),
    from the matrices alone, under the default work budget (no clock: the same verdict on any machine)."""
    e = exact_nmf_heuristic(g.matrix, rank, time_limit=None)
    assert e.bound == rank
    assert verify_certificate(as_matrix(g.matrix), e.data["certificate"].W, e.data["certificate"].H, "re") is not None


@pytest.mark.slow
@pytest.mark.parametrize("n", [7, 8, 9, 10, 11, 12])
def test_ngon_bounds_contain_the_literature(n):
    g = gallery.ngon_slack(n)
    result = nonneg_rank_bounds(g.matrix, time_limit=None)
    assert result.lower <= g.nonneg_rank[1] and result.upper >= g.nonneg_rank[0]


def test_a_data_sized_matrix_gets_bounds_and_declines_what_cannot_scale():
    rng = np.random.default_rng(0)
    V = rng.random((40, 3)) @ rng.random((3, 300))
    result = nonneg_rank_bounds(V, time_limit=None)
    assert result.lower == result.upper == 3  # rank 3 and a nested triangle
    result = nonneg_rank_bounds(V, methods="all", time_limit=None)
    status = {e.method: e.status for e in result.evidence}
    for method in ("hyperplane_separation", "nonneg_nuclear_norm", "tau_plus"):
        assert status[method].startswith("not applicable"), (method, status[method])
    assert status["smt"].startswith("not run")  # the nested triangle settled it
    assert smt_decide(V, 3).status.startswith("not applicable")  # floats are not exact input
    assert result.lower == result.upper == 3


def test_bounds_report_each_method_with_the_bounds_so_far():
    """bounds was silent for up to 120 s; a callable or standard error now hears each method."""
    lines = []
    M = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 1]])
    result = nonneg_rank_bounds(M, time_limit=None, progress=lines.append)
    assert lines[0] == "rank 3; 3 <= rank+ <= 4 to start with"
    assert lines[1:] == ["fooling_set ...", "fooling_set: lower 4 in "
                         f"{[e for e in result.evidence if e.method == 'fooling_set'][0].seconds:.1f} s; "
                         "now 4 <= rank+ <= 4"]
    with pytest.raises(TypeError, match="progress must be"):
        nonneg_rank_bounds(M, progress="loud")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("pysat") is None, reason="python-sat is not installed")
def test_the_14gon_has_no_refined_cover_of_7_and_its_cross_ratios_hold_exactly():
    """rank₊ of the regular 14-gon's slack matrix is at least 8 (the literature's lower bound is 7, its upper 8).

    The bound rests on the support (exact zeros) and on the signs of ``S_ij S_kl - S_il S_kj`` for the pairs
    the formula constrains; those are checked here in interval arithmetic on the exact entries
    ``cos(π/14) - cos(2π(d - 1/2)/14)``, so the float matrix's pairs are the regular 14-gon's.
    """
    mpmath = pytest.importorskip("mpmath")
    iv = mpmath.iv
    iv.prec = 200
    n = 14
    S = gallery.ngon_slack(n).matrix
    e = refined_rectangle_cover(S, solver="sat")
    assert (e.bound, e.status, e.data["unsatisfiable"][-1]) == (8, "optimal", 7)
    check_refined_cover(S, e.data["rectangles"])
    exact = [iv.cos(iv.pi / n) - iv.cos(2 * iv.pi * (iv.mpf(d) - iv.mpf(1) / 2) / n) for d in range(n)]
    entry = lambda i, j: exact[(j - i) % n]  # noqa: E731
    entries = as_matrix(S).entries
    assert all(entry(i, j).a > 0 for i, j in entries)
    assert {(j - i) % n for i, j in np.argwhere(S == 0)} == {0, 1}  # cos(π/n) - cos(∓π/n): zero exactly
    pairs = refined_pairs(S)
    assert len(pairs) == e.data["refined_pairs"] > 4000
    for p, q in pairs:
        (i, j), (k, l) = entries[p], entries[q]
        assert (entry(i, j) * entry(k, l) - entry(i, l) * entry(k, j)).a > 0


def test_the_pattern_solve_jacobian_matches_finite_differences(monkeypatch):
    import scipy.optimize
    from scipy.optimize._numdiff import approx_derivative

    from theory.nnrank.exact import _solve_on_pattern

    rng = np.random.default_rng(0)
    V, W, H = rng.random((5, 6)), rng.random((5, 3)) * (rng.random((5, 3)) > 0.3), rng.random((3, 6)) * (
        rng.random((3, 6)) > 0.3)
    seen = {}
    solve = scipy.optimize.least_squares

    def spy(fun, x0, jac=None, **kwargs):
        seen["analytic"], seen["numeric"] = jac(x0), approx_derivative(fun, x0)
        return solve(fun, x0, jac=jac, **kwargs)

    monkeypatch.setattr(scipy.optimize, "least_squares", spy)
    _solve_on_pattern(V, W, H)
    assert seen["analytic"].shape == (30, (W > 0).sum() + (H > 0).sum())
    assert np.abs(seen["analytic"] - seen["numeric"]).max() < 1e-7


def test_the_pattern_solve_stops_when_its_clock_runs_out():
    """A clock read at every iteration (here a count of readings, the same on any machine): stopped after one
    Gauss-Newton step the solve returns the best point it evaluated, better than the start and not yet at the
    exact factorization the unstopped solve reaches; stopped before any step it returns the start."""
    from theory.nnrank.exact import _polish, _solve_on_pattern

    rng = np.random.default_rng(3)
    W0 = rng.random((6, 3)) * (rng.random((6, 3)) < 0.7) + np.eye(6, 3)
    H0 = rng.random((3, 5)) * (rng.random((3, 5)) < 0.7) + np.eye(3, 5)
    V = W0 @ H0
    W, H = W0 * (1 + 1e-4 * rng.standard_normal(W0.shape)), H0 * (1 + 1e-4 * rng.standard_normal(H0.shape))

    def error(factors):
        return np.abs(V - factors[0] @ factors[1]).max()

    readings = iter(range(100))
    start, full = error((W, H)), error(_solve_on_pattern(V, W, H))
    one_step = error(_solve_on_pattern(V, W, H, lambda: next(readings) >= 1))
    assert full < 1e-13 < one_step < start
    assert all(np.array_equal(a, b) for a, b in zip(_solve_on_pattern(V, W, H, lambda: True), (W, H)))
    # the polish reads the same clock: out of time at once, it only zeroes the tiny entries
    Wp, Hp = _polish(V, np.where(W0 > 0, W, 1e-9), H, out_of_time=lambda: True)
    assert np.array_equal(Wp, np.where(W0 > 0, W, 0.0)) and np.array_equal(Hp, H)
