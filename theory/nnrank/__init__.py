"""Certified bounds on the non-negative rank rank₊(M).

:func:`nonneg_rank_bounds` is the entry point; every method is also callable
on its own and returns an :class:`Evidence` record. See each module for the
mathematics and its sources.
"""

from ._matrix import Certificate, as_matrix, canonical_scaling, verify_certificate
from .bounds import METHODS, NonnegRankBounds, nonneg_rank_bounds
from .combinatorial import fooling_set, hyperplane_separation, maximal_rectangles, rectangle_cover
from .evidence import Evidence
from .exact import exact_nmf_heuristic, smt_decide
from .refined import refined_rectangle_cover
from .polygons import geometric_bound, low_rank_certificate, nested_polygons, restricted_rank
from .sdp import nonneg_nuclear_norm, tau_sos
from .tau import rank_one_oracle, tau_plus

__all__ = [
    "Certificate", "Evidence", "METHODS", "NonnegRankBounds", "as_matrix", "canonical_scaling",
    "exact_nmf_heuristic", "fooling_set", "geometric_bound", "hyperplane_separation", "low_rank_certificate",
    "maximal_rectangles", "nested_polygons", "nonneg_nuclear_norm", "nonneg_rank_bounds", "rank_one_oracle",
    "rectangle_cover", "refined_rectangle_cover", "restricted_rank", "smt_decide", "tau_plus", "tau_sos",
    "verify_certificate",
]
