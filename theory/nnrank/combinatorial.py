"""Lower bounds on rank₊ from the support of the matrix, and hyperplane separation.

A *rectangle* is a set ``I × J`` of rows and columns on which ``M`` has no zero.
In any non-negative factorization ``M = Σ_k w_k h_kᵀ`` every term is a
rectangle's worth of positive entries inside the support, so

* the **rectangle covering number** (the Boolean rank of the support) is a
  lower bound on rank₊, and so is its LP relaxation, the fractional cover;
* a **fooling set** (support entries of which no two lie in a common
  rectangle) can have at most one entry per term, so its size is a lower
  bound too (it is the dual of the cover);
* the **hyperplane separation bound** (Rothvoss; Fiorini, Kaibel, Pashkovich
  & Theis 2013) gives, for any weight matrix ``W``,
  ``rank₊(M) >= <W, M> / (max M · max_R <W, R>)`` with ``R`` over the 0/1
  rectangles inside the support; it is maximized over ``W`` by an LP with
  cutting planes and an exhaustive rectangle oracle.

References: Gillis, *Nonnegative Matrix Factorization* (SIAM 2020), §3.4;
Fiorini et al. (2013) Discrete Optimization 10, 8-19.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csr_matrix

from ._matrix import as_matrix, canonical_scaling, on_support
from ._sat import have_sat, require_sat, smallest_cover
from .evidence import Evidence, ceil_bound, timed, zero_matrix

__all__ = [
    "TooManyRectangles",
    "maximal_rectangles",
    "fooling_set",
    "greedy_fooling_set",
    "rectangle_cover",
    "hyperplane_separation",
]


#: Enumeration of maximal rectangles stops (and the support methods decline) beyond this many.
MAX_RECTANGLES = 50_000
#: The support MILPs have one variable or constraint per non-zero entry: at most this many.
MAX_SUPPORT_ENTRIES = 2500
#: The fooling-set MILP takes one constraint per maximal rectangle while their incidences number at most
#: this, else one per conflicting pair of entries: HiGHS's presolve ignored a 10 s time limit for more than
#: 10 minutes on LEDM(15)'s 32766 rectangles (1.7 million incidences), the pairs are 21945 of two entries.
MAX_CLIQUE_INCIDENCES = 200_000
#: The exhaustive rectangle oracle tries 2^k subsets of a rectangle's shorter side: k at most this.
MAX_ORACLE_SIDE = 20


class TooManyRectangles(ValueError):
    """The support has more maximal rectangles (or entries) than the enumeration allows."""


def _rectangles_or_decline(support: np.ndarray, method: str, clock, exact: bool = True, **empty):
    """``(maximal rectangles, None)``, or ``(None, the record to return)``.

    The record is "not applicable" for a support too large to enumerate, or
    the bound 0 when the support holds no entry (with ``empty`` as its data).
    """
    try:
        if support.sum() > MAX_SUPPORT_ENTRIES:
            raise TooManyRectangles(f"the support has {int(support.sum())} entries > {MAX_SUPPORT_ENTRIES}")
        rectangles = maximal_rectangles(support)
    except TooManyRectangles as exc:
        return None, Evidence(method, "lower", None, None, clock(), f"not applicable: {exc}")
    if not rectangles:
        return None, Evidence(method, "lower", 0, 0.0, clock(), "optimal", exact, empty)
    return rectangles, None


def _dual_bound(method: str, res, clock, status: str) -> Evidence:
    """The record of a MILP stopped before optimality: HiGHS's dual bound, rounded up, is still a lower bound."""
    dual = getattr(res, "mip_dual_bound", None)
    bound = None if dual is None or not np.isfinite(dual) else ceil_bound(float(dual))
    return Evidence(method, "lower", bound, dual, clock(), status, True, {})


def maximal_rectangles(support, max_count: int = MAX_RECTANGLES) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every maximal all-True submatrix ``(rows, cols)`` of a Boolean pattern.

    A maximal rectangle's columns are the common support of its rows and its
    rows are all rows containing those columns, so the column sets are exactly
    the intersections of row supports; they are enumerated as the closure of
    the row supports under intersection (bit masks), which is exhaustive.
    """
    S = np.asarray(support, dtype=bool)
    masks = [sum(1 << j for j in np.flatnonzero(row)) for row in S]
    closed: set[int] = set()
    for row_mask in masks:
        if row_mask == 0:
            continue
        closed |= {row_mask} | {c & row_mask for c in closed if c & row_mask}
        if len(closed) > max_count:
            raise TooManyRectangles(f"the support has more than {max_count} maximal rectangles")
    rectangles = []
    for cols in sorted(closed):
        rows = tuple(i for i, rm in enumerate(masks) if rm & cols == cols)
        rectangles.append((rows, tuple(j for j in range(S.shape[1]) if cols >> j & 1)))
    return rectangles


def _incidence(entries, rectangles) -> csr_matrix:
    """The (rectangles × support entries) incidence matrix."""
    index = {e: k for k, e in enumerate(entries)}
    rows, cols = [], []
    for r, (I, J) in enumerate(rectangles):
        for i in I:
            for j in J:
                rows.append(r)
                cols.append(index[(i, j)])
    return csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(rectangles), len(entries)))


def _milp_options(time_limit):
    return {} if time_limit is None else {"time_limit": float(max(time_limit, 0.1))}


#: Random orders tried by the greedy fooling set (seeded: the same set on every run).
FOOLING_ORDERS = 200


def greedy_fooling_set(support: np.ndarray, entries) -> list[int]:
    """Support entries of which no two share a rectangle (indices into ``entries``), the largest of greedy passes.

    The first pass takes the entries in order, the others in seeded random
    orders; each takes an entry when it shares no rectangle with those taken.
    The set only breaks the rectangles' symmetry, so any one is valid; a
    larger one fixes more of it.
    """
    rows = np.array([e[0] for e in entries], dtype=int)
    cols = np.array([e[1] for e in entries], dtype=int)
    conflict = support[rows[:, None], cols[None, :]] & support[rows[None, :], cols[:, None]]  # share a rectangle
    rng = np.random.default_rng(0)
    best: list[int] = []
    for attempt in range(FOOLING_ORDERS):
        order = np.arange(len(entries)) if attempt == 0 else rng.permutation(len(entries))
        free = np.ones(len(entries), dtype=bool)
        chosen = []
        for e in order:
            if free[e]:
                chosen.append(int(e))
                free &= ~conflict[e]
        if len(chosen) > len(best):
            best = chosen
    return best


def fooling_set(M, *, time_limit: float | None = None) -> Evidence:
    """Largest fooling set of the support, by a set-packing MILP (HiGHS).

    Two support entries ``(i, j)``, ``(k, l)`` can share a term of a
    factorization only if they lie in a common rectangle (``M_il`` and
    ``M_kj`` non-zero), and then in a common *maximal* rectangle, so the
    constraints are "at most one chosen entry per maximal rectangle" (the
    tighter form, a clique per rectangle), or, where the rectangles'
    incidences exceed :data:`MAX_CLIQUE_INCIDENCES`, "not both" for each
    pair of entries sharing a rectangle (the same packings, a model of
    linear size in the pairs). A time limit still leaves the best packing
    found, a valid (smaller) bound; where :func:`greedy_fooling_set` found
    a larger one (HiGHS takes no starting point here), that one is reported.
    """
    M = as_matrix(M)
    if M.is_zero:
        return zero_matrix("fooling_set")
    with timed() as clock:
        support = M.support
        rectangles, declined = _rectangles_or_decline(support, "fooling_set", clock, entries=[])
        if declined is not None:
            return declined
        entries = M.entries
        incidences = sum(len(I) * len(J) for I, J in rectangles)
        A = _incidence(entries, rectangles) if incidences <= MAX_CLIQUE_INCIDENCES else _conflicts(support, entries)
        res = milp(
            c=-np.ones(len(entries)),
            constraints=LinearConstraint(A, -np.inf, 1),
            integrality=np.ones(len(entries)),
            bounds=Bounds(0, 1),
            options=_milp_options(time_limit),
        )
        chosen = [] if res.x is None else [entries[k] for k in np.flatnonzero(res.x > 0.5)]
        status = {0: "optimal", 1: "time_limit"}.get(res.status, f"failed: {res.message}")
        if status != "optimal":
            greedy = [entries[k] for k in greedy_fooling_set(support, entries)]
            chosen = max(chosen, greedy, key=len)
        _check_fooling(support, chosen)
    return Evidence("fooling_set", "lower", len(chosen), float(len(chosen)), clock(), status, True,
                    {"entries": chosen})


def _conflicts(support: np.ndarray, entries) -> csr_matrix:
    """One row per pair of entries ``(i, j)``, ``(k, l)`` that share a rectangle (``S_il`` and ``S_kj``): ``x + y``."""
    rows_of, cols_of = np.array([e[0] for e in entries]), np.array([e[1] for e in entries])
    first, second = np.triu_indices(len(entries), k=1)
    share = support[rows_of[first], cols_of[second]] & support[rows_of[second], cols_of[first]]
    first, second = first[share], second[share]
    pairs = np.arange(len(first))
    return csr_matrix((np.ones(2 * len(first)), (np.concatenate([pairs, pairs]), np.concatenate([first, second]))),
                      shape=(len(first), len(entries)))


def _check_fooling(support: np.ndarray, entries) -> None:
    for (i, j), (k, l) in itertools.combinations(entries, 2):
        if support[i, l] and support[k, j]:
            raise AssertionError(f"not a fooling set: {(i, j)} and {(k, l)} share a rectangle")


def rectangle_cover(M, *, time_limit: float | None = None, solver: str = "auto") -> list[Evidence]:
    """Boolean rank of the support (the fewest rectangles covering it) and its LP relaxation.

    Returns two records: ``rectangle_cover_lp`` (the fractional cover number
    over the maximal rectangles, rounded up) and ``rectangle_cover``. The
    cover is decided by SAT (``solver="sat"``, :mod:`._sat`; the 16-gon's 7
    in 0.2 s) or by a set-cover MILP over the maximal rectangles
    (``"milp"``, HiGHS; the 14-gon's 7 was still at 6 after 38 s);
    ``"auto"``: SAT where python-sat is installed. Stopped by a time limit
    (or SAT's conflict budget) the cover record carries what was proven,
    still a valid lower bound.
    """
    if solver not in ("auto", "sat", "milp"):
        raise ValueError(f"solver must be 'auto', 'sat' or 'milp', not {solver!r}")
    if solver == "sat":
        require_sat("the SAT rectangle cover")
    elif solver == "auto":
        solver = "sat" if have_sat() else "milp"
    M = as_matrix(M)
    if M.is_zero:
        return [zero_matrix("rectangle_cover")]
    out = []
    with timed() as clock:
        support = M.support
        rectangles, declined = _rectangles_or_decline(support, "rectangle_cover", clock, rectangles=[])
        # too many maximal rectangles for the LP and the MILP, which list them; the SAT formula does not
        sat_goes_on = solver == "sat" and declined is not None and support.sum() <= MAX_SUPPORT_ENTRIES
        if declined is not None and not sat_goes_on:
            return [declined]
        entries = M.entries
        if sat_goes_on:
            out.append(Evidence("rectangle_cover_lp", "lower", None, None, clock(), declined.status))
        else:
            At = _incidence(entries, rectangles).T.tocsr()
            lp = linprog(np.ones(len(rectangles)), A_ub=-At, b_ub=-np.ones(len(entries)), bounds=(0, None),
                         method="highs")
            fractional = float(lp.fun) if lp.status == 0 else None
            out.append(Evidence(
                "rectangle_cover_lp", "lower", None if fractional is None else ceil_bound(fractional), fractional,
                clock(), "optimal" if lp.status == 0 else f"failed: {lp.message}", False,
                {"n_maximal_rectangles": len(rectangles)},
            ))
    with timed() as clock:
        if solver == "sat":
            e = smallest_cover("rectangle_cover", M, [], greedy_fooling_set(support, entries), time_limit, 0,
                               lambda cover: _check_cover(support, cover), clock)
        else:
            e = _minimum_cover("rectangle_cover", support, rectangles, At, [], time_limit, clock)
        out.append(e)
    return out


def _check_cover(support, cover) -> None:
    """Raise AssertionError unless the rectangles lie inside the support and cover it."""
    covered = np.zeros_like(support)
    for I, J in cover:
        assert support[np.ix_(I, J)].all(), f"rectangle {I} x {J} leaves the support"
        covered[np.ix_(I, J)] = True
    assert np.array_equal(covered, support), "the rectangles do not cover the support"


def _minimum_cover(method: str, support, rectangles, At, constraints, time_limit, clock) -> Evidence:
    """The fewest maximal rectangles covering the support under extra ``constraints`` (MILP, HiGHS).

    Solved to optimality, the cover found is checked to cover the support;
    under a time limit the record carries HiGHS's dual bound, still a valid
    lower bound.
    """
    res = milp(
        c=np.ones(len(rectangles)),
        constraints=[LinearConstraint(At, 1, np.inf)] + constraints,
        integrality=np.ones(len(rectangles)),
        bounds=Bounds(0, 1),
        options=_milp_options(time_limit),
    )
    if res.status == 0:
        cover = [rectangles[r] for r in np.flatnonzero(res.x > 0.5)]
        _check_cover(support, cover)
        return Evidence(method, "lower", len(cover), float(len(cover)), clock(), "optimal", True,
                        {"rectangles": cover})
    return _dual_bound(method, res, clock, "time_limit")


def _best_subrectangles(W: np.ndarray, rectangles, count: int = 1) -> list[tuple[float, tuple, tuple]]:
    """The ``count`` largest ``<W, R>`` over 0/1 rectangles R inside the support, exhaustively.

    The best rectangle lies inside some maximal rectangle ``I0 × J0``; there,
    every subset of the shorter side is tried and the other side takes the
    lines with a positive sum. The first item is the exact maximum.
    """
    found = []
    for I0, J0 in rectangles:
        sub = W[np.ix_(I0, J0)]
        transpose = len(I0) > len(J0)
        if transpose:
            sub = sub.T
        k = sub.shape[0]
        subsets = ((np.arange(1, 2**k)[:, None] >> np.arange(k)) & 1).astype(bool)
        sums = subsets.astype(float) @ sub
        values = np.clip(sums, 0, None).sum(axis=1)
        short_all = np.asarray(J0 if transpose else I0)
        long_all = np.asarray(I0 if transpose else J0)
        for t in np.argsort(values)[::-1][:count]:
            short = tuple(int(x) for x in short_all[subsets[t]])
            long = tuple(int(x) for x in long_all[sums[t] > 0])
            I, J = (long, short) if transpose else (short, long)
            found.append((float(values[t]), I, J))
    found.sort(key=lambda item: -item[0])
    unique, seen = [], set()
    for item in found:
        if (item[1], item[2]) not in seen and item[1] and item[2]:
            seen.add((item[1], item[2]))
            unique.append(item)
        if len(unique) == count:
            break
    return unique or [(0.0, (), ())]


#: Violated rectangles added to the LP per round of cutting planes.
CUTS_PER_ROUND = 25


def hyperplane_separation(M, *, time_limit: float | None = None, max_rounds: int = 500) -> Evidence:
    """Hyperplane separation bound, maximized over ``W`` by LP with cutting planes.

    The LP ``max <W, A> s.t. <W, R> <= 1`` for the rectangles ``R`` found so
    far (``A`` = the canonically scaled matrix divided by its largest entry)
    starts from the maximal rectangles and single entries; each round the
    exhaustive oracle finds the rectangle most violated by the current ``W``
    and adds it. Whatever the stopping point, the reported value
    ``<W, A> / max_R <W, R>`` is a valid bound for the ``W`` it names.
    """
    M = as_matrix(M)
    if M.is_zero:
        return zero_matrix("hyperplane_separation")
    with timed() as clock:
        support = M.support
        rectangles, declined = _rectangles_or_decline(support, "hyperplane_separation", clock, exact=False)
        if declined is not None:
            return declined
        side = max(min(len(I), len(J)) for I, J in rectangles)
        if side > MAX_ORACLE_SIDE:
            return Evidence("hyperplane_separation", "lower", None, None, clock(),
                            f"not applicable: a rectangle's shorter side has {side} > {MAX_ORACLE_SIDE} lines "
                            "for the exhaustive oracle")
        A = canonical_scaling(M.values)
        A = A / A.max()
        entries = M.entries
        index = {e: k for k, e in enumerate(entries)}
        a = np.array([A[e] for e in entries])
        cuts = [[index[(i, j)] for i in I for j in J] for I, J in rectangles]
        cuts += [[k] for k in range(len(entries))]
        best_value, best_W, status = 0.0, None, "max_rounds"
        lower_var = -float(min(M.shape)) * 10
        for _ in range(max_rounds):
            rows = np.repeat(np.arange(len(cuts)), [len(c) for c in cuts])
            A_ub = csr_matrix((np.ones(len(rows)), (rows, np.concatenate(cuts))), shape=(len(cuts), len(entries)))
            lp = linprog(-a, A_ub=A_ub, b_ub=np.ones(len(cuts)), bounds=(lower_var, None), method="highs")
            if lp.status != 0:
                status = f"failed: {lp.message}"
                break
            Wmat = on_support(M.shape, entries, lp.x)
            violated = _best_subrectangles(Wmat, rectangles, count=CUTS_PER_ROUND)
            alpha = violated[0][0]
            value = float(a @ lp.x) / alpha
            if value > best_value:
                best_value, best_W = value, Wmat
            if alpha <= 1 + 1e-9:
                status = "optimal"
                break
            if time_limit is not None and clock() > time_limit:
                status = "time_limit"
                break
            cuts += [[index[(i, j)] for i in I for j in J] for v, I, J in violated if v > 1 + 1e-9]
    return Evidence("hyperplane_separation", "lower", ceil_bound(best_value) if best_W is not None else None,
                    best_value, clock(), status, False, {"W": best_W, "cuts": len(cuts)})
