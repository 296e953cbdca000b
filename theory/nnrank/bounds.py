"""``nonneg_rank_bounds``: every applicable method, cheap ones first, until the bounds meet."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field


from ._matrix import Certificate, as_matrix, matrix_rank, trivial_certificate
from .combinatorial import fooling_set, hyperplane_separation, rectangle_cover
from .evidence import Evidence, timed
from .exact import exact_nmf_heuristic, smt_decide
from .polygons import geometric_bound, low_rank_certificate, nested_polygons
from .refined import refined_rectangle_cover
from .sdp import nonneg_nuclear_norm, tau_sos
from .tau import tau_plus

__all__ = ["NonnegRankBounds", "nonneg_rank_bounds", "METHODS"]

#: Every method, in the order ``methods="auto"`` runs them: cheap first, then the search for a factorization
#: at the bound reached so far (often the answer: the combinatorial and geometric bounds are tight on much of
#: the gallery), then the lower bounds that cost most.
METHODS = (
    "rank",
    "fooling_set",
    "rectangle_cover",
    "nested_polygons",
    "geometric",
    "hyperplane_separation",
    "refined_rectangle_cover",
    "exact_nmf_heuristic",
    "nonneg_nuclear_norm",
    "tau_sos",
    "tau_plus",
    "smt",
)


#: Seconds the exact-NMF heuristic may spend on one target rank (at least).
HEURISTIC_SECONDS = 90.0
#: Share of the time left that the heuristic may spend at the lower bound (a success there settles rank₊).
HEURISTIC_AT_LOWER_SHARE = 0.6
#: Share of the remaining time given to τ₊ when later methods are still to run.
TAU_PLUS_SHARE = 0.5
#: Share of the remaining time given to the refined cover (the search for a factorization follows it): the
#: 14-gon's "not 7" takes about 40 s of the 180 s or so that the methods before it leave.
REFINED_COVER_SHARE = 0.35
#: Share of the remaining time given to the fooling-set and the rectangle-cover MILPs (each).
SUPPORT_MILP_SHARE = 0.15
#: Share of the remaining time given to the hyperplane-separation cutting planes when later methods are still
#: to run: on LEDM(15) they took 255 of the 300 s for a bound of 2, and the search never ran.
HYPERPLANE_SHARE = 0.15


@dataclass
class NonnegRankBounds:
    """Bounds on rank₊(M) with their evidence.

    Attributes
    ----------
    lower, upper : int
        The best proven bounds: ``lower <= rank₊(M) <= upper``.
    certificate : Certificate
        Non-negative factors with ``upper`` columns, re-verified (residual and
        whether the check was exact are on the certificate).
    evidence : list of Evidence
        One record per method run, in the order run.
    rank : int
        The ordinary rank (exact for exact input).
    """

    shape: tuple[int, int]
    rank: int
    lower: int
    upper: int
    certificate: Certificate
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """True when the bounds meet: rank₊ is known."""
        return self.lower == self.upper

    @property
    def value(self) -> int | None:
        return self.lower if self.exact else None

    def table(self) -> str:
        """The evidence as a fixed-width table, with the conclusion."""
        lines = [f"{'method':<22} {'kind':<6} {'bound':>5} {'value':>12} {'time':>10}  status"]
        lines += [e.summary() for e in self.evidence]
        verdict = f"rank₊ = {self.lower}" if self.exact else f"{self.lower} <= rank₊ <= {self.upper}"
        cert = self.certificate
        lines.append(f"shape {self.shape[0]}x{self.shape[1]}, rank {self.rank}: {verdict} "
                     f"(certificate: {cert.source}, {'exact' if cert.exact else f'residual {cert.residual:.1e}'})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready summary (evidence data reduced to scalars and small lists)."""
        return {
            "shape": list(self.shape), "rank": self.rank, "lower": self.lower, "upper": self.upper,
            "exact": self.exact,
            "certificate": {"source": self.certificate.source, "rank": self.certificate.rank,
                            "exact": self.certificate.exact, "residual": self.certificate.residual},
            "evidence": [
                {"method": e.method, "kind": e.kind, "bound": e.bound, "value": e.value, "seconds": e.seconds,
                 "status": e.status, "exact_arithmetic": e.exact_arithmetic,
                 "data": {k: v for k, v in e.data.items() if _jsonable(v)}}
                for e in self.evidence
            ],
        }


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _select(methods) -> tuple[list[str], bool]:
    if methods in ("auto", None):
        return list(METHODS), True
    if methods == "all":
        return list(METHODS), False
    names = [methods] if isinstance(methods, str) else list(methods)
    unknown = sorted(set(names) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}, 'auto' or 'all'")
    return ["rank"] + [m for m in METHODS if m in names and m != "rank"], False


def _reporter(progress):
    """``report(line)`` for ``nonneg_rank_bounds(progress=...)``: stderr lines, a user's callable, or nothing."""
    import sys

    if callable(progress) and not isinstance(progress, bool):
        return progress
    if progress is None:
        progress = sys.stderr.isatty()
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False, None or a callable taking a line, got {progress!r}")
    if not progress:
        return lambda line: None
    return lambda line: print(f"bounds: {line}", file=sys.stderr, flush=True)


def nonneg_rank_bounds(M, *, methods="auto", time_limit: float | None = 120.0, seed: int = 0,
                       max_sos_entries: int | None = None, progress=None) -> NonnegRankBounds:
    """Lower and upper bounds on the non-negative rank, each with its evidence.

    Parameters
    ----------
    M : array_like
        Non-negative matrix; integer or fraction entries are treated exactly.
    methods : "auto", "all", str or list of str
        ``"auto"`` runs the methods of :data:`METHODS` in order and stops as
        soon as lower == upper; ``"all"`` runs every method; a list runs those
        (plus the rank, which every bound starts from).
    time_limit : float or None
        Seconds for the whole call; each method gets what is left (methods
        that cannot be interrupted may overrun by their own last step).
        ``None``: no clock at all. Each method then runs to its own budget
        of work (the MILPs to optimality, the cutting planes to their
        rounds, the heuristic to its restarts, z3 to
        :data:`~theory.nnrank.exact.SMT_RLIMIT`), so the result is the same
        on a fast and on a slow machine.
    seed : int
        Seed of the exact-NMF heuristic.
    progress : bool or callable, optional
        Report each method as it starts and what it found, with the bounds so
        far: a line on standard error (default: when it is a terminal), or
        ``progress(line)`` for a callable.

    Returns
    -------
    NonnegRankBounds
    """
    report = _reporter(progress)
    M = as_matrix(M)
    names, stop_when_met = _select(methods)
    start = time.perf_counter()

    def left():
        """Seconds left for the next method (None without a clock)."""
        return None if time_limit is None else max(0.5, time_limit - (time.perf_counter() - start))

    def share_of_left(share: float, *, before=None):
        """``share`` of the seconds left (None without a clock); with ``before``, the whole of them unless one of
        those methods is still to run."""
        if time_limit is None:
            return None
        return left() * (share if before is None or any(n in names for n in before) else 1.0)

    def time_is_left() -> bool:
        return time_limit is None or left() > 0.5

    with timed() as clock:
        r = matrix_rank(M)
    evidence = [Evidence("rank", "lower", r, float(r), clock(), "optimal", M.exact is not None)]
    lower = r
    certificate = trivial_certificate(M)
    upper = certificate.rank
    if r <= 2:
        low = low_rank_certificate(M)
        if low is not None:
            certificate, upper = low, low.rank
            evidence.append(Evidence("rank<=2", "exact", low.rank, float(low.rank), 0.0, "optimal",
                                     low.exact, {"certificate": low}))

    certificates = [certificate]

    def absorb(e: Evidence):
        """Take a method's evidence; the upper bound is the best certificate no proven lower bound contradicts.

        A floating-point certificate is a factorization to a tolerance, not a
        proof: one below a proven lower bound says only that ``M`` lies that
        close to a matrix of smaller rank₊, and is set aside (and recorded as
        such), so the bounds never contradict each other. An exact
        certificate below a lower bound would be a bug in a method.
        """
        nonlocal lower, upper, certificate
        evidence.append(e)
        if e.bound is None:
            report(f"{e.method}: {e.status}")
            return
        if e.kind in ("lower", "exact"):
            lower = max(lower, e.bound)
        found = e.data.get("certificate") if e.kind in ("upper", "exact") else None
        if found is not None:
            certificates.append(found)
        for c in [c for c in certificates if c.rank < lower]:
            if c.exact:
                raise RuntimeError(f"inconsistent bounds: an exact certificate of rank {c.rank} ({c.source}) against "
                                   f"a lower bound of {lower} ({e.method}); please report this matrix")
            certificates.remove(c)
            evidence.append(Evidence(c.source, "upper", None, float(c.rank), 0.0,
                                     f"set aside: a factorization of rank {c.rank} to residual {c.residual:.1e}, "
                                     f"below the proven lower bound {lower}"))
        certificate = min(certificates, key=lambda c: c.rank)
        upper = certificate.rank
        report(f"{e.method}: {e.kind} {e.bound} in {e.seconds:.1f} s; now {lower} <= rank+ <= {upper}")

    report(f"rank {r}; {lower} <= rank+ <= {upper} to start with")
    restricted, restricted_exact = None, False
    for name in names[1:]:
        if stop_when_met and lower == upper:
            break
        report(f"{name} ...")
        if name == "fooling_set":
            absorb(fooling_set(M, time_limit=share_of_left(SUPPORT_MILP_SHARE)))
        elif name == "rectangle_cover":
            # small supports finish in moments; a large one (LEDM: all but the diagonal) would take it all
            for e in rectangle_cover(M, time_limit=share_of_left(SUPPORT_MILP_SHARE)):
                absorb(e)
        elif name == "nested_polygons":
            e = nested_polygons(M) if r == 3 else Evidence(name, "upper", None, status="not applicable: rank is not 3")
            restricted = e.data.get("restricted_rank_lower")
            restricted_exact = bool(e.data.get("restricted_rank_lower_exact"))
            absorb(e)
        elif name == "geometric":
            absorb(geometric_bound(M, restricted, restricted_exact) if r == 3 else
                   Evidence(name, "lower", None, status="not applicable: rank is not 3"))
        elif name == "hyperplane_separation":
            absorb(hyperplane_separation(M, time_limit=share_of_left(
                HYPERPLANE_SHARE, before=("refined_rectangle_cover", "exact_nmf_heuristic", "tau_plus", "smt"))))
        elif name == "refined_rectangle_cover":
            # "auto" asks only whether it beats the bound so far; a chosen list wants its value
            absorb(refined_rectangle_cover(M, above=lower if stop_when_met else 0, time_limit=share_of_left(
                REFINED_COVER_SHARE, before=("exact_nmf_heuristic", "tau_plus", "smt"))))
        elif name == "nonneg_nuclear_norm":
            absorb(nonneg_nuclear_norm(M, time_limit=left()))
        elif name == "tau_sos":
            kwargs = {} if max_sos_entries is None else {"max_entries": max_sos_entries}
            absorb(tau_sos(M, time_limit=left(), **kwargs))
        elif name == "exact_nmf_heuristic":

            def attempt(k: int, seconds: float) -> bool:
                e = exact_nmf_heuristic(M, k, seed=seed, time_limit=None if time_limit is None else
                                        min(left(), seconds))
                absorb(e)
                return e.bound is not None

            # the lower bound first, with most of the time left (success there settles rank₊, and the
            # bounds before are often tight), then down from the upper bound until a rank fails (or
            # reaches the lower bound already tried)
            tried = None
            if lower < upper - 1 and time_is_left():
                tried = lower
                attempt(lower, HEURISTIC_SECONDS if time_limit is None else
                        max(HEURISTIC_SECONDS, HEURISTIC_AT_LOWER_SHARE * left()))
            while lower < upper and time_is_left() and upper - 1 != tried:
                if not attempt(upper - 1, HEURISTIC_SECONDS):
                    break
        elif name == "tau_plus":
            # the strongest lower bound gets most of what is left; the rest is for the later methods
            absorb(tau_plus(M, time_limit=share_of_left(TAU_PLUS_SHARE, before=("smt",))))
        elif name == "smt":
            if lower == upper:
                absorb(Evidence("smt", "exact", None, status="not run: the bounds already meet"))
            # each unsat raises the lower bound by one; sat settles it; unknown or not applicable stops
            while lower < upper and time_is_left():
                e = smt_decide(M, lower, time_limit=left())
                absorb(e)
                if e.status != "unsat":
                    break
    return NonnegRankBounds(M.shape, r, lower, upper, certificate, evidence)
