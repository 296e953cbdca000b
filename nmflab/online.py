"""Online (minibatch) NMF: the parts ``H`` learned from a stream of row blocks, the weights solved block by block.

Each block ``V_b`` (rows of ``V``, samples) is met once per pass. Its
weights ``W_b`` are solved with ``H`` fixed by the rule's own iterations
(:func:`nmflab.api.with_fixed`), then ``H`` takes one step on statistics
of all blocks seen so far, older blocks discounted by the ``forgetting``
factor ``rho`` per block:

- **Frobenius** (Mairal, Bach, Ponce & Sapiro 2010): the loss summed over
  the blocks is ``0.5 tr(H^T A H) - tr(H^T B) + const`` with ``A = sum W_b^T
  W_b`` and ``B = sum W_b^T V_b``, so ``A`` (``r x r``) and ``B`` (``r x
  p``) hold all that ``H`` needs; the step is the rule's own block step
  for those products (``solve_h``: HALS sweeps, the exact NNLS of ANLS, a
  multiplicative step).
- **KL and the beta-divergences** (Lefèvre, Bach & Févotte 2011; the form
  of scikit-learn's ``MiniBatchNMF``): the multiplicative step's numerator
  (times ``H``) and denominator are accumulated, ``A <- rho A + H^(1/gamma)
  N_b``, ``B <- rho B + D_b``, and ``H = (A / B)^gamma``; one block with
  ``rho = 0`` is the batch multiplicative step.

Penalties are not taken: their weight against discounted statistics has no
one meaning. Only two blocks' worth of memory is needed beyond the factors (the block
and what its products form), so an array on disk (``numpy.load(...,
mmap_mode="r")``) or a generator of blocks is fitted without loading it.

References
----------
J. Mairal, F. Bach, J. Ponce and G. Sapiro, "Online learning for matrix
factorization and sparse coding", JMLR 11 (2010) 19–60.
A. Lefèvre, F. Bach and C. Févotte, "Online algorithms for nonnegative
matrix factorization with the Itakura-Saito divergence", IEEE WASPAA
(2011) 313–316.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from . import validation as val
from ._xp import divide
from .data import as_data, is_sparse
from .result import Status
from .stopping import relative_change

__all__ = ["OnlineNMF", "OnlineResult", "online_nmf", "row_blocks_of"]

#: The rule ``method="auto"`` takes for an online Frobenius fit. ANLS: on the dense synthetic set (20000 x 5000,
#: rank 40) its exact steps on a block's weights and on the parts reached scikit-learn's best objective 2-4x sooner
#: than HALS's inner sweeps (``python -m benchmarks.online``).
ONLINE_FROBENIUS = "anls"
#: Rows per block of an array fitted online, by default (scikit-learn's ``MiniBatchNMF`` default too).
BLOCK_ROWS = 1024


def row_blocks_of(V, block_rows: int = BLOCK_ROWS):
    """The blocks of ``block_rows`` rows of an array (dense, memory-mapped or sparse), in order, as arrays in memory."""
    for lo in range(0, V.shape[0], block_rows):
        block = V[lo:lo + block_rows]
        yield block if is_sparse(block) else np.asarray(block)


class OnlineNMF:
    """The state of an online fit: the parts ``H`` and the statistics of the blocks seen so far.

    ``partial_fit(block)`` takes a block of rows and returns its weights;
    :func:`online_nmf` runs it over an array or a stream, with stopping
    rules. The estimator's :meth:`nmflab.NMF.partial_fit` holds one.

    Parameters
    ----------
    rank : int
    loss : str or float, optional
        As in :func:`nmflab.nmf` (default Frobenius).
    method : str
        A rule that can hold ``H`` fixed and step on it from statistics:
        ``"auto"`` (ANLS for Frobenius, :data:`ONLINE_FROBENIUS`;
        multiplicative updates otherwise),
        ``"hals"``, ``"anls"``, ``"mu"``.
    forgetting : float
        ``rho`` in ``(0, 1]``: the weight a block's statistics keep per later
        block (1: every block counts alike).
    block_iter : int
        Iterations of the rule on a block's weights at most.
    block_tol : float
        Those iterations stop once one changes ``W_b`` by at most this
        (relative, Frobenius norm).
    eps : float, optional
        The rule's guard (``nmf``'s ``eps``).
    H : array, optional
        The starting parts, ``(rank, p)``; default: from the first block
        (random, scaled to its mean, ``seed``).
    seed : int, optional
    dtype : {None, "float32", "float64"}
    """

    def __init__(self, rank, *, loss=None, method="auto", forgetting: float = 0.95, block_iter: int = 20,
                 block_tol: float = 1e-4, eps=None, H=None, seed=None, dtype=None):
        from .api import make_rule, with_fixed
        from .losses import resolve_loss
        from .rules import family_of

        self.rank = val.check_positive_int(rank, "rank")
        loss = "frobenius" if loss is None else loss
        name, beta = resolve_loss(loss)
        if method == "auto":  # measured (benchmarks/NOTES.md); batch "auto" (HALS, CD) is another choice
            method = ONLINE_FROBENIUS if beta == 2.0 else "mu"
        self.rule = make_rule(loss, method, eps, rank=self.rank)
        family = family_of(self.rule.beta)
        if family == "frobenius" and not hasattr(self.rule, "solve_h"):
            raise ValueError(f"method {self.rule.method!r} has no block step for H (solve_h); online Frobenius fits "
                             "take 'hals', 'anls' or 'mu'")
        if family != "frobenius" and not hasattr(self.rule, "h_terms"):
            raise ValueError(f"method {self.rule.method!r} has no multiplicative step terms (h_terms); online "
                             f"{name} fits take 'mu'")
        self.fixed_h = with_fixed(self.rule, h=True)
        self.loss = name
        self.family = family
        self.forgetting = float(forgetting)
        if not 0.0 < self.forgetting <= 1.0:
            raise ValueError(f"forgetting must be in (0, 1], got {forgetting}")
        self.block_iter = val.check_positive_int(block_iter, "block_iter")
        self.block_tol = val.check_nonnegative_float(block_tol, "block_tol")
        self.dtype = None if dtype is None else val.resolve_dtype(dtype, np.dtype(np.float64))
        self.seed = int(np.random.SeedSequence().entropy % (2**63)) if seed is None else \
            val.check_positive_int(seed, "seed", minimum=0)
        if H is not None:
            given = val.as_numeric_array(H, "H")
            columns = given.shape[1] if given.ndim == 2 else 0
            H = val.check_factor(given, "H", (self.rank, columns), self.dtype or val.resolve_dtype(None, given.dtype))
        self.H = H
        self.A = self.B = None
        self.rows_seen = 0
        self.blocks_seen = 0

    def _checked(self, block):
        if is_sparse(block):
            block = val.check_sparse_matrix(block, "block", dtype=self.dtype)
        else:
            block = val.check_data_matrix(block, "block", dtype=self.dtype)
        if self.family == "beta" and self.rule.beta <= 0 and (is_sparse(block) or (block <= 0).any()):
            raise ValueError(f"the {self.loss} loss (beta <= 0) needs positive data; a block has zeros")
        p = block.shape[1]
        if self.H is not None and self.H.shape != (self.rank, p):
            raise ValueError(f"a block has {p} columns, the parts {self.H.shape[1]}; every block must have the "
                             f"same columns" if self.H.shape[0] == self.rank else
                             f"H must be ({self.rank}, {p}), got {self.H.shape}")
        return block

    def _start_parts(self, block):
        from .init import random_start

        rng = np.random.default_rng(self.seed)
        mean = block.mean()
        self.H = random_start(np.full((1, block.shape[1]), mean, dtype=block.dtype), self.rank, rng)[1]
        self.H = self.H.astype(block.dtype, copy=False)

    def weights(self, block, W=None):
        """The weights of a validated ``block`` for the current parts: the rule's iterations with ``H`` fixed."""
        from .drivers.numpy import flush_subnormal

        data = as_data(np, block)
        H = self.H
        if W is None:
            W = np.full((block.shape[0], self.rank), math.sqrt(max(block.mean(), 0.0) / self.rank) or 1.0,
                        dtype=block.dtype)
        rule = self.fixed_h
        consts = rule.prepare(np, data)
        state = rule.init(np, data, W, H, consts)
        for _ in range(self.block_iter):
            new, _, state = rule.update(np, data, W, H, state, consts)
            new = flush_subnormal(new)
            change = float(relative_change(np, new, W))
            W = new
            if change <= self.block_tol:
                break
        return W, data

    def partial_fit(self, block, W=None, replaces=None):
        """Take one block of rows: solve its weights (from ``W`` if given), fold its statistics in, step on ``H``.

        ``replaces``: the weights the same rows had at their previous visit
        (Frobenius, ``forgetting=1``). Their statistics are taken out as the
        new ones go in, so that ``A`` and ``B`` are those of the current
        weights of every row, the exact batch products (Mairal et al. 2010,
        sec. 3.4.3, for a finite training set): passes over an array then
        converge to a stationary point of the batch problem, where discounted
        statistics keep a bias of the older weights.

        Returns
        -------
        W : ndarray, shape (rows, rank)
            The block's weights for the parts it met.
        loss : float
            The block's loss at those weights and parts (before the step on ``H``).
        """
        block = self._checked(block)  # an empty block is refused there
        if replaces is not None and (self.family != "frobenius" or self.forgetting != 1.0):
            raise ValueError("replacing a block's statistics needs the Frobenius loss and forgetting=1")
        if self.H is None:
            self._start_parts(block)
        with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
            W, data = self.weights(block, W)
            loss = float(self._loss(data, W))
            self.H = self._step(data, W, replaces)
        self.rows_seen += block.shape[0]
        self.blocks_seen += 1
        return W, loss

    def _loss(self, data, W):
        """The block's loss at ``W`` and the current parts; Frobenius from its products (no block-sized temporary)."""
        H = self.H
        if self.family == "frobenius":
            return data.frobenius(W, H, data.right(H), H @ H.T)
        return data.divergence(self.rule.beta, W, H, data.fitted(W, H))

    def _accumulate(self, A_b, B_b):
        if self.A is None:
            self.A, self.B = A_b, B_b
        else:
            self.A = self.forgetting * self.A + A_b
            self.B = self.forgetting * self.B + B_b

    def _step(self, data, W, replaces=None):
        from .drivers.numpy import flush_subnormal

        rule, H = self.rule, self.H
        if self.family == "frobenius":
            if replaces is None:
                self._accumulate(W.T @ W, data.left(W))
            else:  # W^T V is linear in W: the change of B is one product
                self._accumulate(W.T @ W - replaces.T @ replaces, data.left(W - replaces))
            return flush_subnormal(rule.solve_h(np, data, H, self.B, self.A))
        gamma = getattr(rule, "gamma", 1.0)
        numerator, denominator = rule.h_terms(np, data, W, H, data.fitted(W, H))
        self._accumulate((H if gamma == 1.0 else H ** (1.0 / gamma)) * numerator, denominator)
        step = divide(np, self.A, self.B, getattr(rule, "eps", 0.0), 0.0)
        return flush_subnormal(step if gamma == 1.0 else step**gamma)


@dataclass(frozen=True)
class OnlineResult:
    """What :func:`online_nmf` found.

    Attributes
    ----------
    H : ndarray, shape (rank, p)
        The parts.
    W : ndarray or None
        The weights of every row of an array, each solved at the parts of its
        block's last visit; None for a stream (use :func:`nmflab.fit_weights`).
    objective : ndarray
        At each check, the mean loss per row of the blocks since the previous
        check, each at its weights and the parts it met (an online estimate of
        the loss per row; :func:`nmflab.diagnostics.loss_value` gives the
        exact loss of ``(W, H)``).
    rows : ndarray of int
        Rows taken so far at each check.
    times : ndarray
        Seconds since the start at each check.
    passes : int
        Passes made over the data (an array; 1 for a stream).
    status : Status
    loss, method, rule : str
    forgetting : float
    block_rows : int or None
    seed : int
    wall_time : float
    """

    H: np.ndarray
    W: np.ndarray | None
    objective: np.ndarray
    rows: np.ndarray
    times: np.ndarray
    passes: int
    status: Status
    loss: str
    method: str
    rule: str
    forgetting: float
    block_rows: int | None
    seed: int
    wall_time: float

    @property
    def final_objective(self) -> float:
        """The last check's loss per row (NaN if none was made)."""
        return float(self.objective[-1]) if len(self.objective) else math.nan


def online_nmf(source, rank, *, loss=None, method="auto", block_rows: int = BLOCK_ROWS, forgetting=None,
               max_iter: int = 100, tol: float = 1e-4, stop="objective", iterate_tol: float = 1e-5,
               check_every: int | None = None, time_limit: float | None = None, block_iter: int = 20,
               block_tol: float = 1e-4, eps=None, H=None, seed=None, dtype=None, keep_weights: bool = True,
               progress=None) -> OnlineResult:
    """Fit ``V ≈ W H`` online: ``H`` learned from blocks of rows, one block in memory at a time (:class:`OnlineNMF`).

    Parameters
    ----------
    source : array, iterable of arrays, or callable
        An array (NumPy, memory-mapped, scipy.sparse): passes over its blocks
        of ``block_rows`` rows until a stopping rule is met. An iterable of
        row blocks (a generator): one pass. A callable returning a fresh
        iterable of blocks: as many passes as an array.
    rank : int
    loss, method, eps, block_iter, block_tol, H, seed, dtype
        As in :class:`OnlineNMF`.
    block_rows : int
        Rows per block of an array.
    forgetting : float, optional
        The weight a block's statistics keep per later block. Default: for a
        Frobenius fit of an array, none: each revisited block's statistics
        replace those of its previous visit (:meth:`OnlineNMF.partial_fit`,
        the exact batch products), which needs its weights kept
        (``keep_weights``); for another loss on an array, ``0.7 **
        (block_rows / n)`` (the past pass keeps 0.7, the default of
        scikit-learn's ``MiniBatchNMF``); for a stream, 0.95.
    max_iter : int
        Passes at most.
    tol, iterate_tol : float
        The ``"objective"`` rule (the loss per row changes by at most ``tol``
        relative between two checks) and the ``"iterate"`` rule (``H`` changes
        by at most ``iterate_tol``).
    stop : str or sequence of str
        ``"objective"``, ``"iterate"`` or ``"max_iter"`` (passes only).
    check_every : int, optional
        Blocks between two checks: default one pass of an array, 10 blocks of
        a stream.
    time_limit : float, optional
        Seconds; the fit stops at the first check past it.
    keep_weights : bool
        Keep the weights of an array's rows (``n x rank``).
    progress : callable, optional
        Called with ``(rows, objective)`` after every check.

    Returns
    -------
    OnlineResult
    """
    rules = (stop,) if isinstance(stop, str) else tuple(stop)
    for name in rules:
        val.check_choice(name, "stop", ("objective", "iterate", "max_iter"))
    if "max_iter" in rules and len(rules) > 1:
        raise ValueError("stop='max_iter' switches the other rules off; name it alone")
    max_iter = val.check_positive_int(max_iter, "max_iter")
    tol = val.check_nonnegative_float(tol, "tol")
    iterate_tol = val.check_nonnegative_float(iterate_tol, "iterate_tol")
    if time_limit is not None:
        time_limit = val.check_nonnegative_float(time_limit, "time_limit", strictly=True)
    block_rows = val.check_positive_int(block_rows, "block_rows")
    is_array = hasattr(source, "shape") and hasattr(source, "__getitem__")
    if is_array:
        if len(source.shape) != 2 or 0 in source.shape:
            raise ValueError(f"V must be a non-empty 2-D array, got shape {tuple(source.shape)}")
        n = source.shape[0]
        passes_of = lambda: row_blocks_of(source, block_rows)  # noqa: E731
        default_forgetting = 0.7 ** (min(block_rows, n) / n)
        default_check = -(-n // block_rows)
    elif callable(source):
        passes_of, default_forgetting, default_check = source, 0.95, 10
    elif isinstance(source, Iterable):
        once = iter(source)
        passes_of, default_forgetting, default_check, max_iter = (lambda: once), 0.95, 10, 1
    else:
        raise TypeError(f"source must be an array, an iterable of row blocks or a callable returning one, "
                        f"got {type(source).__name__}")
    check_every = default_check if check_every is None else val.check_positive_int(check_every, "check_every")
    from .losses import resolve_loss

    replacing = forgetting is None and is_array and keep_weights and resolve_loss(
        "frobenius" if loss is None else loss)[1] == 2.0
    if replacing:
        default_forgetting = 1.0
    state = OnlineNMF(rank, loss=loss, method=method, forgetting=default_forgetting if forgetting is None else forgetting,
                      block_iter=block_iter, block_tol=block_tol, eps=eps, H=H, seed=seed, dtype=dtype)
    W_all = None
    start = time.perf_counter()
    objectives, rows, times = [], [], []
    since_check = [0.0, 0]  # loss and rows since the last check
    passes, previous_H = 0, None

    def check() -> Status | None:
        nonlocal previous_H
        value = since_check[0] / max(since_check[1], 1)
        since_check[:] = [0.0, 0]
        now = time.perf_counter() - start
        last = objectives[-1] if objectives else None
        objectives.append(value)
        rows.append(state.rows_seen)
        times.append(now)
        if progress is not None:
            progress(state.rows_seen, value)
        h_change = math.inf if previous_H is None else float(relative_change(np, state.H, previous_H))
        previous_H = state.H
        if not math.isfinite(value):
            return Status.NONFINITE
        if "objective" in rules and last is not None and abs(last - value) <= tol * abs(last):
            return Status.CONVERGED
        if "iterate" in rules and h_change <= iterate_tol:
            return Status.ITERATES_STALLED
        if time_limit is not None and now > time_limit:
            return Status.TIME_LIMIT
        return None

    stopped = None
    while stopped is None and passes < max_iter:
        lo = 0
        for block in passes_of():
            previous = W_all[lo:lo + block.shape[0]] if passes and W_all is not None else None
            W, block_loss = state.partial_fit(block, previous, previous if replacing else None)
            if is_array and keep_weights:
                if W_all is None:
                    W_all = np.empty((source.shape[0], rank), dtype=W.dtype)
                W_all[lo:lo + W.shape[0]] = W
            lo += W.shape[0]
            since_check[0] += block_loss
            since_check[1] += W.shape[0]
            del block, W, previous  # before the source makes the next block: one block in memory at a time
            if state.blocks_seen % check_every == 0:
                stopped = check()
                if stopped is not None:
                    break
        passes += 1
        if state.blocks_seen == 0:
            raise ValueError("the source gave no blocks: nothing to fit")
    if stopped is None and since_check[1]:
        stopped = check()
    status = stopped if stopped is not None else Status.MAX_ITER
    return OnlineResult(H=state.H, W=W_all, objective=np.asarray(objectives), rows=np.asarray(rows),
                        times=np.asarray(times), passes=passes, status=status, loss=state.loss,
                        method=state.rule.method, rule=repr(state.rule), forgetting=state.forgetting,
                        block_rows=block_rows if is_array else None, seed=state.seed,
                        wall_time=time.perf_counter() - start)
