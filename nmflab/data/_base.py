"""The protocol every storage of ``V`` follows: what a rule may ask of the data."""

from __future__ import annotations

from typing import ClassVar

__all__ = ["Data"]


class Data:
    """``V`` (and its entry weights) as the rules see it, whatever its storage.

    A rule never asks how ``V`` is stored: it asks its data object for the
    products and losses it needs, and each storage forms them its own way
    (a dense array of any library, blocks of rows, the stored entries of a
    sparse matrix; later chunks on a cluster). ``W`` is ``(n, r)`` and ``H``
    ``(r, p)``, with an optional leading batch axis on dense storage.

    ``WH`` below is "the product as this storage carries it", what
    :meth:`fitted` returns: the ``n x p`` array, its values at the stored
    entries, or ``None`` where the storage forms it where it is needed (a
    block of rows at a time, or fused into its consumer by XLA) instead of
    keeping it. Every method that takes ``WH`` accepts ``None``.

    Class attribute ``kind`` names the storage (``"dense"``, ``"blocked"``,
    ``"sparse"``); a rule that truly needs its storage (KL coordinate
    descent's sparse sweep) reads it in one place.
    """

    kind: ClassVar[str] = ""
    #: BLAS threads that suit a NumPy fit on this storage (:func:`nmflab.parallel.blas_threads`); None leaves
    #: them as they are. A storage whose heavy products run on nmflab's own thread pool sets 1.
    blas_threads: ClassVar[int | None] = None

    # What the data are.
    @property
    def shape(self) -> tuple[int, int]:
        """``(n, p)``."""
        raise NotImplementedError

    @property
    def dtype(self):
        """The floating dtype of the fit."""
        raise NotImplementedError

    @property
    def entries(self) -> int:
        """Stored entries: the cost, in multiply-adds per component, of one product with ``V``."""
        raise NotImplementedError

    @property
    def weighted(self) -> bool:
        """Whether entry weights (a mask) apply; :attr:`weights` holds them (the shape of ``V``)."""
        return self.weights is not None

    weights = None

    def largest(self):
        """The largest entry of ``V`` (0 for an empty or all-zero sparse ``V``)."""
        raise NotImplementedError

    # The products every rule needs.
    def left(self, W):
        """``W^T (M V)``, shape ``(r, p)`` (``M`` the weights, 1 without)."""
        raise NotImplementedError

    def right(self, H):
        """``(M V) H^T``, shape ``(n, r)``."""
        raise NotImplementedError

    def fitted(self, W, H):
        """``W H`` as this storage carries it from one step to the next (see the class docstring)."""
        raise NotImplementedError

    def products(self, W, H, WH, side: str, stored=(), everywhere=()) -> tuple:
        """``W^T F`` (``side="H"``) or ``F H^T`` (``side="W"``) for each ``F`` of a function of ``WH``.

        ``F = M f(V, WH)`` for each ``f`` in ``stored``: functions that are 0
        wherever ``V`` is (``V / WH``, ``V WH^(beta - 2)``), which a sparse
        storage evaluates at its stored entries only; and ``F = M h(WH)`` for
        each ``h`` in ``everywhere`` (``WH^(beta - 1)``), evaluated at every
        entry. The functions are elementwise and written over the rule's
        array namespace.
        """
        raise NotImplementedError

    def weight_sums(self, X, side: str):
        """The products with the weights alone: ``W^T M`` (``side="H"``, ``X = W``) or ``M H^T`` (``side="W"``).

        Without weights, the sums of ``W``'s columns (``(r, 1)``) or of
        ``H``'s rows (``(1, r)``), which broadcast as ``W^T 1`` and ``1 H^T``.
        """
        xp = self.xp
        if self.weights is not None:
            return xp.matrix_transpose(X) @ self.weights if side == "H" else self.weights @ xp.matrix_transpose(X)
        if side == "H":
            return xp.sum(X, axis=-2)[..., :, None]
        return xp.sum(X, axis=-1)[..., None, :]

    # The losses.
    def divergence(self, beta: float, W, H, WH):
        """The (weighted) beta-divergence of ``W H`` from ``V``: 2 Frobenius (half the squares), 1 KL."""
        raise NotImplementedError

    def frobenius(self, W, H, VHt, HHt):
        """``0.5 ||V - W H||^2`` (unweighted) from ``V H^T`` and ``H H^T``, which a Frobenius update holds.

        The trace identity costs ``O((n + r) r^2)``; each storage guards its
        cancellation the way it can (see the subclasses).
        """
        raise NotImplementedError

    def residual(self, W, H):
        """``V - W H`` as an ``n x p`` array (storages that hold ``V`` densely)."""
        raise ValueError(f"the residual V - WH needs dense data; this V is stored as {self.kind}")

    def kkt_residual(self, beta: float, W, H, penalty=None):
        """The relative KKT residual of ``(W, H)`` (:func:`nmflab.losses.kkt_residual`)."""
        raise ValueError("the kkt stopping rule needs dense gradients; use it with dense input")
