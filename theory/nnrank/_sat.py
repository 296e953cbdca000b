"""Rectangle covers of a support decided by SAT: the plain cover (Boolean rank) and the refined one.

"Is there a cover of the support of ``M`` by k rectangles?" is a CNF:

* ``a[t, i]``, ``b[t, j]``: row i, column j belongs to rectangle t; for every
  zero of ``M`` and every t, not both;
* ``c[t, e]``: rectangle t holds support entry ``e = (i, j)`` (it implies
  ``a[t, i]`` and ``b[t, j]``); every entry is held: ``c[1, e] ∨ ... ∨ c[k, e]``;
* refined on a pair ``(p, q)`` of entries (:mod:`.refined`): for every t, if
  t holds p and q (``a[t, i] ∧ b[t, j] ∧ a[t, k] ∧ b[t, l]``), some
  ``c[s, p]`` or ``c[s, q]`` with ``s != t`` is true;
* the rectangles are interchangeable, so the entries of a fooling set (no two
  in a common rectangle) are put in rectangles 1, 2, ... in turn.

CaDiCaL (through python-sat, the ``theory`` extra) decides it. A satisfying
assignment is a cover (re-checked by the caller's definition);
"unsatisfiable" for k proves the bound ``k + 1``.

References: Ignatiev, Morgado & Marques-Silva (2018), *PySAT*, SAT 2018;
Biere et al. (2024), *CaDiCaL 2.0*, CAV 2024 (the solver; python-sat ships
its version 1.9.5).
"""

from __future__ import annotations

import time

import numpy as np

from .evidence import Evidence

__all__ = ["CoverFormula", "have_sat", "require_sat", "smallest_cover", "solve"]

#: The SAT solver (python-sat's name for CaDiCaL 1.9.5).
SAT_SOLVER = "cadical195"
#: Conflicts per satisfiability question (a budget of work, the same on any machine; a time limit may stop it
#: sooner). The 13-gon's "no refined cover of 7" takes about 400 000.
SAT_CONFLICT_LIMIT = 5_000_000
#: Conflicts between two readings of the clock (about a second on the 13-gon's formula).
SAT_CONFLICT_SLICE = 20_000
#: The formula is declined beyond this many literals in its refinement clauses (memory: python-sat holds them
#: as Python lists while it builds the formula).
MAX_SAT_LITERALS = 20_000_000


def have_sat() -> bool:
    """Whether python-sat can be imported."""
    try:
        import pysat.solvers  # noqa: F401
    except ImportError:
        return False
    return True


def require_sat(what: str) -> None:
    """Raise ImportError naming the install command unless python-sat is installed."""
    if not have_sat():
        raise ImportError(f"{what} needs python-sat: pip install 'nmflab[theory]'")


class CoverFormula:
    """The CNF "a cover of the support with ``k`` rectangles exists, refined on ``pairs``" (variables from 1)."""

    def __init__(self, support: np.ndarray, entries, pairs, fooling, k: int):
        m, n = support.shape
        N = len(entries)
        self.k = k
        t = np.arange(k)[:, None]
        self.a = 1 + t * m + np.arange(m)  # k x m
        self.b = 1 + k * m + t * n + np.arange(n)  # k x n
        self.c = 1 + k * (m + n) + t * N + np.arange(N)  # k x N
        rows = np.array([e[0] for e in entries], dtype=int)
        cols = np.array([e[1] for e in entries], dtype=int)
        zi, zj = np.nonzero(~support)
        clauses = []
        for s in range(k):
            clauses += np.stack([-self.a[s, zi], -self.b[s, zj]], axis=1).tolist()  # no zero in a rectangle
            clauses += np.stack([-self.c[s], self.a[s, rows]], axis=1).tolist()  # holding an entry: its row
            clauses += np.stack([-self.c[s], self.b[s, cols]], axis=1).tolist()  # ... and its column
        clauses += self.c.T.tolist()  # every entry is held
        for p, q in pairs:
            (i, j), (i2, j2) = entries[p], entries[q]
            held_elsewhere = np.concatenate([self.c[:, p], self.c[:, q]])
            for s in range(k):
                others = held_elsewhere[(np.arange(2 * k) % k) != s].tolist()
                clauses.append([int(-self.a[s, i]), int(-self.b[s, j]), int(-self.a[s, i2]), int(-self.b[s, j2]),
                                *others])
        clauses += [[int(self.c[s, e])] for s, e in enumerate(fooling[:k])]  # rectangles are interchangeable
        self.clauses = clauses

    def rectangles(self, model) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """The non-empty rectangles of a satisfying assignment."""
        true = np.zeros(int(self.c.max()) + 1, dtype=bool)
        positive = np.array([v for v in model if v > 0], dtype=int)
        true[positive] = True
        out = []
        for s in range(self.k):
            I = tuple(int(i) for i in np.flatnonzero(true[self.a[s]]))
            J = tuple(int(j) for j in np.flatnonzero(true[self.b[s]]))
            if I and J:
                out.append((I, J))
        return out


def solve(clauses, deadline):
    """``(verdict, model, conflicts)``; the verdict is None when the clock or the conflict budget ran out.

    The solver runs in slices of :data:`SAT_CONFLICT_SLICE` conflicts (python-sat cannot interrupt
    CaDiCaL), keeping what it learnt between them; the clock is read between slices.
    """
    from pysat.solvers import Solver

    with Solver(name=SAT_SOLVER, bootstrap_with=clauses) as solver:
        verdict, spent = None, 0
        while verdict is None and spent < SAT_CONFLICT_LIMIT and (deadline is None or time.monotonic() < deadline):
            solver.conf_budget(min(SAT_CONFLICT_SLICE, SAT_CONFLICT_LIMIT - spent))
            verdict = solver.solve_limited()
            spent = solver.accum_stats()["conflicts"]
        return verdict, solver.get_model() if verdict else None, spent


def smallest_cover(method: str, M, pairs, fooling, time_limit, above: int, check, clock) -> Evidence:
    """The fewest rectangles of a cover of ``M``'s support refined on ``pairs``, by SAT for k rising.

    ``fooling`` is a fooling set (indices into ``M.entries``). k starts at
    the larger of its size (a proven bound) and
    ``above`` (the sizes below it are skipped); every unsatisfiable k proves
    k + 1. ``check(cover)`` re-checks a satisfying cover against its
    definition. The record's bound is what was proven, its status
    ``"optimal"`` when the last size tried was satisfiable and the one below
    it was proven too small.
    """
    support, entries = M.support, M.entries
    deadline = None if time_limit is None else time.monotonic() + time_limit
    proven = max(len(fooling), 1)  # a fooling set's entries need as many rectangles
    k = max(proven, above)
    formula = None
    data = {"solver": SAT_SOLVER, "fooling_set": [entries[e] for e in fooling],
            "unsatisfiable": [], "conflicts": []}
    while True:
        literals = len(pairs) * k * (2 * k + 2)  # the refinement clauses: the bulk of the formula
        if literals > MAX_SAT_LITERALS:
            status = f"declined at k = {k}: {literals} literals > {MAX_SAT_LITERALS}"
            break
        formula = CoverFormula(support, entries, pairs, fooling, k)
        verdict, model, conflicts = solve(formula.clauses, deadline)
        data["conflicts"].append(conflicts)
        if verdict is None:
            status = "conflict_limit" if conflicts >= SAT_CONFLICT_LIMIT else "time_limit"
            break
        if verdict:
            cover = formula.rectangles(model)
            check(cover)
            data["rectangles"] = cover
            if k == proven:  # k - 1 rectangles do not suffice: the refined covering number is k
                assert len(cover) == k, "a smaller cover than an unsatisfiable size"
                status = "optimal"
            else:  # the sizes below `above` were not tried
                status = f"not above {above}: a cover of {len(cover)} rectangles exists"
            break
        data["unsatisfiable"].append(k)  # no cover of k rectangles: the bound is k + 1
        # the supports of the trivial factorization (one term per row, or per column) are a refined cover
        assert k < min(support.shape), f"no cover of {k} rectangles, beyond the trivial factorization"
        k += 1
        proven = k
    if formula is not None:
        data["variables"], data["clauses"] = int(formula.c.max()), len(formula.clauses)
    return Evidence(method, "lower", proven, float(proven), clock(), status, True, data)
