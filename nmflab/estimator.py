"""A scikit-learn estimator around :func:`nmflab.nmf`.

The estimator is a thin wrapper: ``__init__`` stores parameters,
:meth:`NMF.fit` calls :func:`nmflab.nmf`, :meth:`NMF.transform` calls
:func:`nmflab.fit_weights` with the learned parts fixed.
"""

from __future__ import annotations

import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "nmflab.NMF needs scikit-learn; install it with `pip install 'nmflab[sklearn]'`"
    ) from exc

from . import validation as val
from .api import fit_weights, nmf
from .data import is_sparse
from .result import Status

__all__ = ["NMF"]


class NMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Non-negative matrix factorization ``X ≈ W @ H`` as a scikit-learn transformer.

    ``X`` is ``(n_samples, n_features)``; :meth:`fit_transform` returns
    ``W`` ``(n_samples, n_components)`` and ``components_`` holds ``H``
    ``(n_components, n_features)``.

    Parameters
    ----------
    n_components : int or None
        Rank; ``None`` uses ``n_features``.
    loss : {"frobenius", "kl", "itakura-saito"}, float or None
        ``None``: the method's own loss (KL for ``"brunet"`` and ``"cd"``,
        else Frobenius); see :func:`nmflab.nmf`.
    method : str
        ``"auto"`` or a method from :func:`nmflab.methods` (a registered
        rule, users' own included).
    init : {"random", "nndsvd", "nndsvda", "nndsvdar"} or None
        ``None`` uses ``"nndsvda"`` when ``n_components <= min(X.shape)``,
        else ``"random"``.
    restarts : int
        Random restarts; the best is kept.
    max_iter, tol, eps, check_every, stop, backend
        As in :func:`nmflab.nmf`; ``None`` is the method's own default
        (``max_iter`` 1000, R's methods 2000).
    missing : {"error", "mask"}
        NaN entries of ``X``: an error, or missing entries that are neither
        fitted nor counted (as in :func:`nmflab.nmf`).
    verbose : int
        ``> 0`` reports the fit's progress on standard error
        (:func:`nmflab.nmf`'s ``progress=True``).
    alpha_W, alpha_H, l1_ratio : float
        scikit-learn's regularization (``alpha_H="same"`` uses ``alpha_W``),
        mapped to nmflab's penalties as in :class:`nmflab.losses.Penalty`:
        ``l1_W = alpha_W * l1_ratio * n_features``,
        ``l2_W = alpha_W * (1 - l1_ratio) * n_features``, and for H with
        ``n_samples``.
    random_state : int, RandomState instance or None
        Seed of the random starts.
    forgetting : float
        :meth:`partial_fit`: the weight the statistics of a block keep per
        later block (:class:`nmflab.online.OnlineNMF`).
    sketch : bool, int, nmflab.Sketch or None
        Learn the parts on a randomized sketch of ``X`` (:func:`nmflab.nmf`'s
        ``sketch=``, Frobenius only); the weights that :meth:`fit_transform`
        and :meth:`transform` return are then solved on ``X`` itself.

    Attributes
    ----------
    components_ : ndarray, shape (n_components, n_features)
        The parts ``H``.
    n_components_ : int
    n_iter_ : int
    reconstruction_err_ : float
        As in scikit-learn: ``||X - WH||_F`` for Frobenius and
        ``sqrt(2 * KL(X | WH))`` for KL.
    result_ : nmflab.Result
        The full result of the fit (trace, status, restarts).
    n_features_in_ : int
    """

    def __init__(
        self,
        n_components=None,
        *,
        loss=None,
        method="auto",
        init=None,
        restarts=1,
        max_iter=None,
        tol=1e-4,
        eps=None,
        check_every=None,
        stop=None,
        alpha_W=0.0,
        alpha_H="same",
        l1_ratio=0.0,
        backend="numpy",
        missing="error",
        verbose=0,
        random_state=None,
        sketch=None,
        forgetting=0.95,
    ):
        self.n_components = n_components
        self.loss = loss
        self.method = method
        self.init = init
        self.restarts = restarts
        self.max_iter = max_iter
        self.tol = tol
        self.eps = eps
        self.check_every = check_every
        self.stop = stop
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.backend = backend
        self.missing = missing
        self.verbose = verbose
        self.random_state = random_state
        self.sketch = sketch
        self.forgetting = forgetting

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = self.missing == "mask"
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _validated(self, X, reset):
        """``X`` checked as scikit-learn checks it (and NaN allowed under ``missing="mask"``); sparse stays sparse."""
        if isinstance(X, np.ma.MaskedArray) and np.ma.getmaskarray(X).any():
            raise TypeError("X is a numpy.ma masked array, whose mask scikit-learn's checks drop: pass "
                            "mask=~numpy.ma.getmaskarray(X) to fit, transform or fit_transform")
        val.check_choice(self.missing, "missing", ("error", "mask"))
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32], accept_sparse=("csr", "csc"),
                          ensure_all_finite="allow-nan" if self.missing == "mask" else True)
        if is_sparse(X):
            return val.check_sparse_matrix(X, "X")
        if self.missing == "mask":
            return X  # nmflab.nmf checks it, NaN entries aside
        return val.check_data_matrix(X, "X")

    def _rank(self, X):
        if self.n_components is None:
            return X.shape[1]
        return val.check_positive_int(self.n_components, "n_components")

    def _solver_options(self):
        """The options fit and transform hand to the solver alike."""
        return {name: getattr(self, name) for name in
                ("loss", "method", "max_iter", "tol", "eps", "check_every", "stop", "backend", "missing")}

    def _penalties(self, X):
        n, p = X.shape
        alpha_w = float(self.alpha_W)
        alpha_h = alpha_w if self.alpha_H == "same" else float(self.alpha_H)
        r = float(self.l1_ratio)
        if not 0.0 <= r <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {self.l1_ratio}")
        return {"l1_W": alpha_w * r * p, "l2_W": alpha_w * (1 - r) * p,
                "l1_H": alpha_h * r * n, "l2_H": alpha_h * (1 - r) * n}

    def _warn_if_not_converged(self, result, what):
        if result.status == Status.MAX_ITER and result.stop_rules:
            warnings.warn(
                f"{what} stopped at max_iter={result.n_iter} before any stopping rule "
                f"({', '.join(result.stop_rules)}) was met; raise max_iter or loosen the tolerances",
                ConvergenceWarning,
                stacklevel=3,
            )

    def fit_transform(self, X, y=None, W=None, H=None, mask=None):
        """Learn the parts from ``X`` and return the weights ``W``.

        The weights are those of :meth:`transform` on ``X`` with the learned
        parts fixed (a convex subproblem, solved from a start that depends
        on each row alone), so ``fit_transform(X)`` equals
        ``fit(X).transform(X)``. The jointly fitted ``W`` stays in
        ``result_.W``: multiplicative updates can leave it short of the
        best weights for the final parts (an entry that heads for zero
        moves ever more slowly).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : ignored
        W, H : array_like, optional
            A custom start (both must be given).
        mask : array_like of bool or of non-negative weights, optional
            Entries of ``X`` to fit (True or a weight) and to leave out
            (False, 0), as in :func:`nmflab.nmf`; dense ``X`` only.

        Returns
        -------
        W : ndarray, shape (n_samples, n_components)
        """
        X = self._validated(X, reset=True)
        rank = self._rank(X)
        if (W is None) != (H is None):
            raise ValueError("a custom start needs both W and H")
        if W is not None:
            init = (W, H)
        elif self.init is None:
            init = "nndsvda" if rank <= min(X.shape) else "random"
        else:
            init = self.init
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        result = nmf(
            X,
            rank,
            init=init,
            restarts=self.restarts,
            seed=seed,
            mask=mask,
            progress=bool(self.verbose),
            sketch=self.sketch,
            **self._solver_options(),
            **self._penalties(X),
        )
        self._warn_if_not_converged(result, "NMF fit")
        if result.status == Status.NONFINITE:
            raise ValueError(f"the fit's factors became non-finite (NaN or Inf) after {result.n_iter} iterations of "
                             f"{result.method!r}; try another method or init, or a positive eps")
        self.result_ = result
        self._online = None  # a later partial_fit starts from these parts' statistics afresh
        self.components_ = result.H
        self.n_components_ = rank
        self.n_iter_ = result.n_iter
        self._n_features_out = rank
        weights = self._weights(X, mask)
        self.reconstruction_err_ = float(np.sqrt(2.0 * max(weights.final_objective, 0.0)))
        return weights.W

    def partial_fit(self, X, y=None):
        """Update the parts with one block of rows ``X`` (online NMF, :mod:`nmflab.online`); returns ``self``.

        The first call starts the parts (random, scaled to the block,
        ``random_state``) and fixes ``n_features_in_``; each call solves the
        block's weights with the parts fixed and steps on the parts from the
        statistics of every block so far, discounted by ``forgetting``. A
        call to :meth:`fit` starts afresh.
        """
        from .online import OnlineNMF

        first = getattr(self, "_online", None) is None
        X = self._validated(X, reset=first)
        if first:
            rank = X.shape[1] if self.n_components is None else self.n_components
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            self._online = OnlineNMF(rank, loss=self.loss, method=self.method, forgetting=self.forgetting,
                                     eps=self.eps, seed=seed, dtype=X.dtype)
        self._online.partial_fit(X)
        self.components_ = self._online.H
        self.n_components_ = self._online.rank
        self._n_features_out = self._online.rank
        self.n_steps_ = self._online.blocks_seen
        return self

    def fit(self, X, y=None, **params):
        """Learn the parts from ``X``; returns ``self``."""
        self.fit_transform(X, y, **params)
        return self

    def transform(self, X, mask=None):
        """Weights of ``X`` on the learned parts (``components_`` fixed), fitted to the entries ``mask`` counts.

        Returns
        -------
        W : ndarray, shape (n_samples, n_components)
        """
        check_is_fitted(self)
        return self._weights(self._validated(X, reset=False), mask).W

    def _weights(self, X, mask=None):
        """Solve for the weights of validated ``X`` with ``components_`` fixed."""
        penalty = self._penalties(X)
        result = fit_weights(
            X,
            self.components_,
            l1_W=penalty["l1_W"],
            l2_W=penalty["l2_W"],
            mask=mask,
            dtype=X.dtype,
            **self._solver_options(),
        )
        self._warn_if_not_converged(result, "NMF transform")
        return result

    def inverse_transform(self, X):
        """Data from weights: ``X @ components_``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_components)
            Weights ``W``.

        Returns
        -------
        ndarray, shape (n_samples, n_features)
        """
        check_is_fitted(self)
        W = np.asarray(X)
        if W.ndim != 2 or W.shape[1] != self.components_.shape[0]:
            raise ValueError(
                f"inverse_transform expects weights of shape (n_samples, {self.components_.shape[0]}), got {W.shape}"
            )
        return W @ self.components_
