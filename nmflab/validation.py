"""Input checks shared by every entry point.

Every check runs before any numerical work and raises a ``ValueError`` or
``TypeError`` whose message names the argument and the problem (for negative
or non-finite data: the position of the first offending entry). Public, so
that :mod:`theory` and users' own code validate data and options the way
:func:`nmflab.nmf` does.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

from .data.sparse import is_sparse

__all__ = [
    "check_data_matrix",
    "check_factor",
    "check_choice",
    "check_positive_int",
    "check_weights",
    "check_sparse_matrix",
    "is_sparse",
    "check_nonnegative_float",
    "resolve_dtype",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _first_position(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first True entry of ``mask`` in C order."""
    flat = int(np.argmax(mask.ravel()))
    return tuple(int(i) for i in np.unravel_index(flat, mask.shape))


def resolve_dtype(dtype, data_dtype: np.dtype) -> np.dtype:
    """Floating dtype of a fit.

    ``dtype=None`` keeps float32 and float64 input as it is and promotes every
    other numeric input (integers, booleans, float16) to float64.
    """
    if dtype is None:
        return data_dtype if data_dtype in _FLOAT_DTYPES else np.dtype(np.float64)
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if resolved not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {resolved}")
    return resolved


def _nonnegative_and_finite(values) -> bool:
    """Whether every value is finite and >= 0, in two passes without temporaries: min and max propagate NaN
    and expose +-Inf and negatives (an empty array passes)."""
    if values.size == 0:
        return True
    lowest, highest = values.min(), values.max()
    return bool(np.isfinite(lowest) and np.isfinite(highest) and lowest >= 0)


def check_sparse_matrix(X, name: str = "V", dtype=None):
    """Validate a scipy.sparse data matrix; return it as CSR in the resolved dtype (stored zeros dropped)."""
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {X.ndim}-D")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {X.shape}; it needs at least one row and one column")
    if X.dtype == object or X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got a sparse matrix of dtype {X.dtype}")
    target = resolve_dtype(dtype, X.dtype)
    csr = X.tocsr()
    # The fit only reads V: a CSR matrix in the target dtype, canonical and without stored zeros, is used as
    # it is; anything else is converted in a copy (sum_duplicates and eliminate_zeros work in place).
    as_is = csr is X and csr.dtype == target and csr.has_canonical_format and csr.data.all()
    if not as_is:
        csr = csr.astype(target, copy=csr is X)
        csr.sum_duplicates()
    data = csr.data
    if not _nonnegative_and_finite(data):  # the slow search for the first bad entry only when there is one
        finite = np.isfinite(data)
        k = int(np.argmax(~finite)) if not finite.all() else int(np.argmax(data < 0))
        row = int(np.searchsorted(csr.indptr, k, side="right") - 1)
        if not finite[k]:
            raise ValueError(f"{name} contains non-finite stored entries; the first is {float(data[k])!r} at "
                             f"({row}, {int(csr.indices[k])})")
        raise ValueError(f"Negative values in data passed as {name}: NMF needs non-negative data; the first is "
                         f"{float(data[k])!r} at ({row}, {int(csr.indices[k])})")
    if not as_is:
        csr.eliminate_zeros()
    return csr


def as_numeric_array(X, name: str) -> np.ndarray:
    """``X`` as a real-valued NumPy array, or a TypeError naming ``name``."""
    if is_sparse(X):
        raise TypeError(f"{name} is a scipy.sparse matrix, which this option does not take; pass a dense array")
    if isinstance(X, np.ma.MaskedArray) and np.ma.getmaskarray(X).any():
        raise TypeError(f"{name} is a numpy.ma masked array; its mask would be ignored here: pass the data with "
                        "mask=~numpy.ma.getmaskarray(X) to nmflab.nmf, which fits the masked entries as missing")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers, got an array of dtype {arr.dtype}"
        )
    return arr


def check_data_matrix(X, name: str = "V", dtype=None) -> np.ndarray:
    """Validate a data matrix and return it as a C-contiguous float array.

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
        Non-negative, finite, two-dimensional, with at least one entry.
    name : str
        Name used in error messages.
    dtype : None, float32 or float64
        Target dtype; see :func:`resolve_dtype`.

    Returns
    -------
    numpy.ndarray
        A validated copy or view of ``X`` in the resolved dtype.
    """
    arr = as_numeric_array(X, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_samples, n_features), got {arr.ndim}-D "
            f"with shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}; it needs at least one row and one column")
    target = resolve_dtype(dtype, arr.dtype)
    arr = np.ascontiguousarray(arr, dtype=target)
    if _nonnegative_and_finite(arr):  # the slow search for the first bad entry only when there is one
        return arr
    finite = np.isfinite(arr)
    if not finite.all():
        pos = _first_position(~finite)
        raise ValueError(
            f"{name} contains {int((~finite).sum())} non-finite entries (NaN or Inf); "
            f"the first is {float(arr[pos])!r} at {pos}. To fit the NaN entries as missing ones pass "
            "missing=\"mask\" (nmflab fit --missing mask), or mask them with mask=; Inf entries must be removed"
        )
    negative = arr < 0
    pos = _first_position(negative)
    raise ValueError(
        f"Negative values in data passed as {name}: NMF needs non-negative data; "
        f"{int(negative.sum())} entries are negative, the first is {float(arr[pos])!r} at {pos}"
    )


def hidden_as_weights(V, nan_is_missing: bool):
    """``(V, weights)``: the entries hidden by a ``numpy.ma`` mask, and NaN ones if ``nan_is_missing``, set to 0
    and given weight 0 (``weights`` None when nothing is hidden)."""
    hidden = None
    if isinstance(V, np.ma.MaskedArray):
        hidden = np.ma.getmaskarray(V)
        V = np.ma.getdata(V)
    if nan_is_missing:
        raw = as_numeric_array(V, "V")
        if raw.dtype.kind == "f" and np.isnan(raw).any():
            hidden = np.isnan(raw) if hidden is None else hidden | np.isnan(raw)
    if hidden is None or not hidden.any():
        return V, None
    return np.where(hidden, 0, as_numeric_array(V, "V")), (~hidden).astype(float)


def check_factor(X, name: str, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """Validate a user-supplied starting factor (``W0`` or ``H0``)."""
    arr = as_numeric_array(X, name)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {arr.shape}")
    arr = np.array(arr, dtype=dtype, copy=True)
    finite = np.isfinite(arr)
    if not finite.all():
        pos = _first_position(~finite)
        raise ValueError(f"{name} contains a non-finite entry {float(arr[pos])!r} at {pos}")
    if (arr < 0).any():
        pos = _first_position(arr < 0)
        raise ValueError(f"{name} must be non-negative; first negative entry {float(arr[pos])!r} at {pos}")
    return arr


def check_weights(mask, shape: tuple[int, int], dtype) -> np.ndarray:
    """A mask (bool: True = counted) or non-negative finite weights of ``shape``, as a float array."""
    arr = as_numeric_array(mask, "mask")
    if arr.shape != tuple(shape):
        raise ValueError(f"mask must have the shape of V {tuple(shape)}, got {arr.shape}")
    arr = np.asarray(arr, dtype=dtype)
    finite = np.isfinite(arr)
    if not finite.all():
        pos = _first_position(~finite)
        raise ValueError(f"mask contains a non-finite weight {float(arr[pos])!r} at {pos}")
    if (arr < 0).any():
        pos = _first_position(arr < 0)
        raise ValueError(f"mask weights must be non-negative; first negative {float(arr[pos])!r} at {pos}")
    return arr


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_nonnegative_float(value, name: str, *, strictly: bool = False) -> float:
    """Return ``value`` as a float if it is a finite real >= 0 (> 0 if ``strictly``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (strictly and value == 0):
        bound = "> 0" if strictly else ">= 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def check_choice(value, name: str, options: Iterable[str]) -> str:
    """Check that ``value`` is one of ``options`` (strings)."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, options))}")
    return value
