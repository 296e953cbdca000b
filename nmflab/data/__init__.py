"""``V`` as the rules see it: one small class per storage, all with the methods of :class:`Data`.

``as_data(xp, V, weights)`` is built once per fit by the driver:

- :class:`Dense` (``"dense"``): one array of any array library; on JAX a
  pytree that passes through ``jax.jit`` and ``vmap``;
- :class:`Blocked` (``"blocked"``): a dense NumPy ``V`` of at least
  :data:`~nmflab.data.blocked.MIN_ENTRIES` entries, whose products with a
  function of ``WH`` are formed a block of rows at a time;
- :class:`Sparse` (``"sparse"``): a scipy.sparse ``V`` (CSR), with ``WH``
  formed at the stored entries only;
- :class:`Compressed` (``"compressed"``): the sketch ``Q B`` of a ``V``
  (:class:`QB`, made by :func:`nmflab.sketch.sketch`), for sketched
  Frobenius fits on either backend.

A rule asks its data object for ``W^T V``, ``V H^T``, the products with a
function of ``WH`` that KL and the beta-divergences need, the divergence
itself and the weights, and never how ``V`` is stored. A new storage (a
chunked Dask array, a sparse array on an accelerator) is one more class
with these methods, chosen here.
"""

from __future__ import annotations

from .. import _xp
from . import blocked
from ._base import Data
from .blocked import Blocked
from .compressed import QB, Compressed
from .dense import Dense
from .sparse import Sparse, is_sparse

__all__ = ["Data", "Dense", "Blocked", "Sparse", "Compressed", "QB", "as_data", "is_sparse", "storage_kind"]


def storage_kind(xp, V) -> str:
    """The ``kind`` of the storage :func:`as_data` picks for ``V`` on the namespace ``xp``."""
    if isinstance(V, QB):
        return Compressed.kind
    if is_sparse(V):
        return Sparse.kind
    if _xp.is_numpy(xp) and V.shape[-2] * V.shape[-1] >= blocked.MIN_ENTRIES:
        return Blocked.kind
    return Dense.kind


def as_data(xp, V, weights=None) -> Data:
    """The data object of a fit of ``V`` (validated, in the fit's dtype) with entry ``weights`` or None."""
    storage = {cls.kind: cls for cls in (Dense, Blocked, Sparse, Compressed)}[storage_kind(xp, V)]
    return storage.build(xp, V, weights)
