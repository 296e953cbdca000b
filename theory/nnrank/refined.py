"""The refined rectangle covering bound (Oelze, Vandaele & Weltge 2014), decided by SAT.

In a factorization ``M = Σ_t a_t b_tᵀ`` let ``R_t`` be the support of term t:
a rectangle inside the support of ``M``, and together they cover it. Take
support entries ``p = (i, j)`` and ``q = (k, l)`` with
``M_ij M_kl > M_il M_kj``. If one term t held both and no other term held p
or q, then ``M_ij M_kl = a_ti b_tj a_tk b_tl <= M_il M_kj`` (the other two
corners hold at least t's share), which is false. So every factorization's
supports form a *refined cover*: a multiset of rectangles covering the
support in which every such pair held by a rectangle is held by a second
rectangle at p or at q (several terms may share a support). The fewest
rectangles of a refined cover, the refined covering number, is a lower bound
on rank₊ and at least the rectangle covering number: it gives the 9-gon its
7 and the 13-gon its 8, where the plain cover gives 6 and 7.

"Is there a refined cover with k rectangles?" is a Boolean formula decided by
a SAT solver (:mod:`._sat`: the plain cover's formula with one clause per
constrained pair and rectangle), for k rising from a fooling set's size until
it is satisfiable or the budget is spent; the bound reached is valid at every
step. The formula for the 14-gon at k = 7 has about 1400 variables and
32 000 clauses.

Where python-sat is not installed, the same bound is computed by a MILP over
the maximal rectangles (HiGHS), slower by orders of magnitude from the
10-gon on.

References: Oelze, Vandaele & Weltge (2014), *Computing the extension
complexities of all 4-dimensional 0/1-polytopes*, arXiv:1406.4895;
Vandaele, Gillis & Glineur (2017), LAA 521 (the regular n-gons); Ignatiev,
Morgado & Marques-Silva (2018), *PySAT*, SAT 2018.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix, hstack, identity

from ._matrix import as_matrix
from ._sat import CoverFormula, have_sat, require_sat, smallest_cover
from .combinatorial import (_check_cover, _dual_bound, _incidence, _milp_options, _rectangles_or_decline,
                            greedy_fooling_set)
from .evidence import Evidence, timed, zero_matrix

__all__ = ["refined_rectangle_cover", "refined_pairs", "refined_cover_formula"]

#: Margin on the logarithm of a cross ratio before it counts as > 1 (float input; far above rounding).
CROSS_RATIO_MARGIN = 1e-9
#: The MILP fallback declines beyond this many candidate pairs (entries p, q of a rectangle R, counted per R
#: before the enumeration; about half become constraints). The 11-gon has 43692, the 12-gon 118152; the MILP
#: of the 10-gon (15300) already takes minutes.
MAX_REFINED_PAIRS = 100_000
#: Branch-and-bound nodes of the MILP fallback without a clock (its dual bound stays valid).
REFINED_NODE_LIMIT = 5000


def _cross_ratio_test(M):
    """``exceeds(i, j, k, l)``: ``M_ij M_kl > M_il M_kj`` (all four non-zero).

    Exact input is compared in fractions. Float input is compared on the
    logarithms of its entries with a margin far above their rounding (at most
    about 1e-13 over the whole float range), so a True holds for the matrix as
    given; a cross ratio within the margin of 1 counts as not exceeding, which
    only weakens the bound.
    """
    if M.exact is not None:
        E = M.exact
        return lambda i, j, k, l: E[i][j] * E[k][l] > E[i][l] * E[k][j]
    L = np.log(np.where(M.support, M.original, 1.0))
    return lambda i, j, k, l: L[i, j] + L[k, l] - L[i, l] - L[k, j] > CROSS_RATIO_MARGIN


def refined_pairs(M) -> list[tuple[int, int]]:
    """The pairs ``(p, q)`` of support entries (indices into ``M.entries``) the refinement constrains.

    ``p = (i, j)`` and ``q = (k, l)`` lie in a common rectangle (``M_il`` and
    ``M_kj`` are non-zero, ``i != k``, ``j != l``) and ``M_ij M_kl > M_il M_kj``.
    """
    M = as_matrix(M)
    S = M.support
    entries = np.array(M.entries).reshape(-1, 2)
    first, second = np.triu_indices(len(entries), k=1)
    (i, j), (k, l) = entries[first].T, entries[second].T
    share = (i != k) & (j != l) & S[i, l] & S[k, j]
    exceeds = _cross_ratio_test(M)
    return [(int(p), int(q)) for p, q in zip(first[share], second[share])
            if exceeds(*entries[p], *entries[q])]


def check_refined_cover(M, rectangles, pairs=None) -> None:
    """Raise AssertionError unless ``rectangles`` (a multiset) is a refined cover of ``M``.

    Each rectangle lies inside the support, together they cover it, and every
    pair of :func:`refined_pairs` held by one rectangle is held at p or at q
    by another (p or q is held at least twice).
    """
    M = as_matrix(M)
    _check_cover(M.support, rectangles)
    times = np.zeros(M.support.shape, dtype=int)
    for I, J in rectangles:
        times[np.ix_(I, J)] += 1
    entries = M.entries
    for p, q in refined_pairs(M) if pairs is None else pairs:
        (i, j), (k, l) = entries[p], entries[q]
        together = any(i in I and k in I and j in J and l in J for I, J in rectangles)
        assert not together or times[i, j] >= 2 or times[k, l] >= 2, \
            f"entries {entries[p]} and {entries[q]} are left to a single rectangle"


def _formula_inputs(M):
    """The refined pairs and the fooling set (its symmetry breaking) of the SAT formulation."""
    return refined_pairs(M), greedy_fooling_set(M.support, M.entries)


def refined_cover_formula(M, k: int) -> CoverFormula:
    """The CNF "a refined cover of ``M`` with ``k`` rectangles exists", the one :func:`refined_rectangle_cover`
    decides (``M`` as from :func:`as_matrix`): for a proof checked outside python-sat."""
    return CoverFormula(M.support, M.entries, *_formula_inputs(M), k)


def _sat_refined_cover(M, time_limit, above, clock) -> Evidence:
    pairs, fooling = _formula_inputs(M)
    e = smallest_cover("refined_rectangle_cover", M, pairs, fooling, time_limit, above,
                       lambda cover: check_refined_cover(M, cover, pairs), clock)
    e.data["refined_pairs"] = len(pairs)
    return e


def refined_rectangle_cover(M, *, time_limit: float | None = None, solver: str = "auto", above: int = 0) -> Evidence:
    """The refined rectangle covering bound (Oelze, Vandaele & Weltge 2014).

    Parameters
    ----------
    M : array_like
        Non-negative matrix.
    time_limit : float, optional
        Seconds. The work is bounded too, the same on any machine
        (:data:`SAT_CONFLICT_LIMIT` conflicts per size; the MILP without a
        time limit: :data:`REFINED_NODE_LIMIT` nodes).
    solver : {"auto", "sat", "milp"}
        ``"sat"``: the formula of this module (needs python-sat); ``"milp"``:
        a MILP over first and second copies of the maximal rectangles;
        ``"auto"``: SAT where python-sat is installed.
    above : int
        Decide only whether the refined covering number exceeds ``above``
        (SAT: the sizes below it are not tried; pass a lower bound on rank₊
        already proven, the work below it is wasted). Where it does not, the
        record's bound is the fooling set's size and its status says that a
        refined cover of at most ``above`` rectangles exists.

    Returns
    -------
    Evidence
        ``bound`` is the refined covering number when ``status`` is
        ``"optimal"`` (with the cover in ``data["rectangles"]``); stopped
        earlier (or not above ``above``), it is what was proven: one more
        than the largest size found unsatisfiable, at least the fooling
        set's size.

    On the regular n-gons it gives 5, 5, 6, 6, 7, 7, 7, 7, 8 for n = 5..13,
    the extension complexities of Vandaele, Gillis & Glineur (2017).
    """
    if solver not in ("auto", "sat", "milp"):
        raise ValueError(f"solver must be 'auto', 'sat' or 'milp', not {solver!r}")
    M = as_matrix(M)
    if M.is_zero:
        return zero_matrix("refined_rectangle_cover")
    if solver == "auto":
        solver = "sat" if have_sat() else "milp"
    elif solver == "sat":
        require_sat("the SAT refined cover")
    with timed() as clock:
        if solver == "sat":
            return _sat_refined_cover(M, time_limit, above, clock)
        return _milp_refined_cover(M, time_limit, clock)


def _milp_refined_cover(M, time_limit, clock) -> Evidence:
    """The refined cover MILP over first copies ``x`` and second copies ``z`` of the maximal rectangles.

    Enlarging a rectangle to a maximal one keeps the refinement (the entries
    it gains are covered twice), so maximal rectangles suffice, each at most
    twice (a second copy already holds all its entries twice): ``min Σ x_R +
    z_R`` with ``z_R <= x_R`` over covers with ``x_R <= z_R + Σ_{R' ∋ p, R' !=
    R} (x_R' + z_R') + Σ_{R' ∋ q, R' != R} (x_R' + z_R')`` for every pair
    (p, q) and rectangle R holding both.
    """
    support = M.support
    rectangles, declined = _rectangles_or_decline(support, "refined_rectangle_cover", clock, rectangles=[])
    if declined is not None:
        return declined
    entries = M.entries
    index = {e: k for k, e in enumerate(entries)}
    At = _incidence(entries, rectangles).T.tocsr()  # entries x rectangles
    candidates = sum(len(I) * (len(I) - 1) // 2 * len(J) * (len(J) - 1) for I, J in rectangles)
    if candidates > MAX_REFINED_PAIRS:  # decline before the enumeration, which alone would take minutes
        return Evidence("refined_rectangle_cover", "lower", None, None, clock(),
                        f"not applicable: {candidates} pairs of entries in rectangles to examine > "
                        f"{MAX_REFINED_PAIRS} (install python-sat for the SAT formulation)")
    exceeds = _cross_ratio_test(M)
    rows, cols, vals = [], [], []
    count = 0
    for r, (I, J) in enumerate(rectangles):
        for i, k in itertools.combinations(I, 2):
            for j, l in itertools.permutations(J, 2):
                if not exceeds(i, j, k, l):
                    continue
                others = At[index[(i, j)]] + At[index[(k, l)]]
                others[0, r] = 0
                others.eliminate_zeros()
                cols += [*others.indices.tolist(), r]
                vals += [*others.data.tolist(), -1.0]
                rows += [count] * (others.nnz + 1)  # Σ others' first copies - x_R (second copies: below)
                count += 1
    first = csr_matrix((vals, (rows, cols)), shape=(count, len(rectangles)))
    n = len(rectangles)
    second = abs(first)  # Σ_{others} z + z_R: the same rectangles, each with coefficient 1
    res = milp(
        c=np.ones(2 * n),
        constraints=[LinearConstraint(hstack([At, csr_matrix(At.shape)]), 1, np.inf),
                     LinearConstraint(hstack([first, second]), 0, np.inf),
                     LinearConstraint(hstack([-identity(n), identity(n)]), -np.inf, 0)],  # z <= x
        integrality=np.ones(2 * n),
        bounds=Bounds(0, 1),
        options=_milp_options(time_limit) if time_limit is not None else {"node_limit": REFINED_NODE_LIMIT},
    )
    if res.status == 0:
        x = np.round(res.x).astype(int)
        cover = [rectangles[r] for r in np.flatnonzero(x[:n])] + [rectangles[r] for r in np.flatnonzero(x[n:])]
        check_refined_cover(M, cover)
        e = Evidence("refined_rectangle_cover", "lower", len(cover), float(len(cover)), clock(), "optimal", True,
                     {"rectangles": cover})
    else:
        e = _dual_bound("refined_rectangle_cover", res, clock, "time_limit" if time_limit is not None else
                        "node_limit")
    e.data.update(solver="milp", refinement_constraints=count)
    return e
