"""Rank surveys: an ensemble of restarts per rank, its stability measures, resumable and parallel.

:func:`rank_survey` runs ``restarts`` fits at every rank (Brunet et al.
2004's protocol: R's ``brunet`` KL updates stopped when the sample
clusters stop changing), accumulates the consensus matrix of each rank and
reports the measures of :mod:`theory.consensus` per rank, optionally beside
the same survey on a randomized null (each feature's values shuffled across
samples).

Work is split into tasks of one rank and one chunk of restarts. Restart
``k`` at rank ``r`` always starts from the same point (the seed is derived
from ``(seed, r)`` and the restart index, see :func:`nmflab.nmf`'s
``first_restart``), so the result does not depend on the chunk size, the
order of completion or the executor. With a ``store`` directory every
finished task is written there at once (atomically); a survey started
again loads the finished tasks and runs only the rest: with the same
arguments it resumes, with more restarts or more ranks it extends the
survey, computing only the new restarts (what identifies a store is the
data, the seed, the null and the fit options; :func:`rank_survey`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import nmflab
from nmflab import validation as val
from nmflab.data import is_sparse
from nmflab.parallel import available_cores, core_ids
from nmflab.diagnostics import svd_floor
from nmflab.io import atomic_write_bytes, atomic_write_npz
from nmflab.result import CONVERGED_STATUSES

from . import consensus as cs

__all__ = ["Survey", "available_cores", "local_executor", "rank_survey", "shuffled_null", "survey_seed"]

_KINDS = ("data", "null")
_DEFAULT_FIT = {"method": "brunet", "trace": False}
MEASURES = (
    "cophenetic",
    "dispersion",
    "silhouette_consensus",
    "silhouette_coef",
    "silhouette_basis",
    "sparseness_basis",
    "sparseness_coef",
    "rss",
    "evar",
    "svd_rss",
    "best_objective",
    "median_objective",
    "median_iterations",
    "converged",
    "seconds",
)


def survey_seed(seed: int, rank: int, kind: str = "data") -> int:
    """The seed of the restarts at ``rank``: a child of ``seed`` keyed by the rank and the kind of data."""
    key = (_KINDS.index(kind), int(rank))
    return int(np.random.SeedSequence(int(seed), spawn_key=key).generate_state(1, np.uint64)[0] >> np.uint64(1))


def shuffled_null(V, seed: int):
    """``V`` with the values of each feature (column) permuted across samples, independently per feature.

    A scipy.sparse ``V`` stays sparse: each column's stored entries move to
    rows drawn without replacement, which is the same distribution as
    permuting the whole column (zeros included), drawn another way.
    """
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(len(_KINDS),)))
    if is_sparse(V):
        import scipy.sparse

        V = scipy.sparse.csc_matrix(V)
        rows = np.concatenate([rng.choice(V.shape[0], size=V.indptr[j + 1] - V.indptr[j], replace=False)
                               for j in range(V.shape[1])] or [np.zeros(0, dtype=int)])
        # its own arrays: sort_indices reorders them in place, and V's may be the caller's (a CSC V is not copied)
        shuffled = scipy.sparse.csc_matrix((V.data.copy(), rows, V.indptr.copy()), shape=V.shape)
        shuffled.sort_indices()
        return shuffled.tocsr()
    V = np.asarray(V)
    order = np.argsort(rng.random(V.shape), axis=0)
    return np.take_along_axis(V, order, axis=0)


@dataclass
class Survey:
    """What :func:`rank_survey` found.

    Attributes
    ----------
    ranks : list of int
    table, null_table : list of dict
        One row per rank: ``rank``, ``restarts`` and every name in
        ``MEASURES``; ``null_table`` is empty without a null.
    consensus, null_consensus : dict of int -> ndarray
        Consensus matrix per rank (``n_samples x n_samples``).
    labels : dict of int -> ndarray
        Dominant component of each sample in each restart, ``(restarts, n_samples)``.
    best : dict of int -> (W, H)
        Factors of the restart with the lowest objective at each rank.
    objectives : dict of int -> ndarray
        Final objective of every restart, in restart order.
    options : dict
        The arguments that define the survey (recorded in the store).
    """

    ranks: list
    table: list
    null_table: list
    consensus: dict
    null_consensus: dict
    labels: dict
    best: dict
    objectives: dict
    options: dict
    store: Path | None = None
    seconds: float = 0.0
    computed_tasks: int = 0
    loaded_tasks: int = 0
    extra: dict = field(default_factory=dict)

    def column(self, name: str, null: bool = False) -> np.ndarray:
        """One measure across ranks, as an array (NaN where undefined)."""
        rows = self.null_table if null else self.table
        if not rows:
            raise ValueError("this survey has no null" if null else "empty survey")
        return np.array([row[name] for row in rows], dtype=float)

    def format(self, measures=("cophenetic", "dispersion", "silhouette_consensus", "evar", "best_objective",
                               "median_iterations")) -> str:
        """A text table of the chosen measures per rank (null values in brackets)."""
        head = ["rank", "restarts", *measures]
        lines = ["  ".join(f"{h:>14}" for h in head)]
        for i, row in enumerate(self.table):
            cells = [f"{row['rank']:>14d}", f"{row['restarts']:>14d}"]
            for m in measures:
                text = f"{row[m]:.4g}"
                if self.null_table:
                    text += f" [{self.null_table[i][m]:.3g}]"
                cells.append(f"{text:>14}")
            lines.append("  ".join(cells))
        return "\n".join(lines)

    def to_csv(self, path) -> Path:
        """Write both tables (column ``kind``: data or null) as CSV, atomically."""
        columns = ["kind", "rank", "restarts", *MEASURES]
        lines = [",".join(columns)]
        for kind, rows in (("data", self.table), ("null", self.null_table)):
            for row in rows:
                lines.append(",".join([kind] + [repr(row[c]) if isinstance(row[c], float) else str(row[c])
                                                 for c in columns[1:]]))
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
        return Path(path)


_CACHE_PREFIX = "nmflab-xla-cache-"


def _remove_stale_caches() -> None:
    """Remove the compilation caches of pools whose process no longer runs (a survey killed with SIGKILL)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_CACHE_PREFIX}*-*"):
        owner = folder.name[len(_CACHE_PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not _running(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process
        return True
    return True


class _LocalPool(concurrent.futures.ProcessPoolExecutor):
    """A ``spawn`` pool of one-thread workers sharing a compilation cache, removed at shutdown.

    The workers die with this process, however it ends (:func:`theory._worker.die_with_parent`);
    leaving the pool on an exception (an interrupt, a SIGTERM made one by the command line) stops
    them at once instead of waiting for their tasks. The cache folder carries this process's id,
    so that one left by a SIGKILL is removed by the next pool.
    """

    def __init__(self, workers: int):
        from ._worker import start_worker

        _remove_stale_caches()
        self._cache = tempfile.mkdtemp(prefix=f"{_CACHE_PREFIX}{os.getpid()}-")
        context = multiprocessing.get_context("spawn")
        cores = core_ids()
        # One worker per core, each pinned to its own, when there are no more workers than cores.
        pinned = cores if cores and workers <= len(cores) else None
        super().__init__(workers, mp_context=context, initializer=start_worker,
                         initargs=(self._cache, context.Value("i", 0), pinned, os.getpid()))

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is not None:
            for process in list((self._processes or {}).values()):
                process.terminate()
            self.shutdown(wait=False, cancel_futures=True)
            return False
        return super().__exit__(exc_type, exc, traceback)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        shutil.rmtree(self._cache, ignore_errors=True)


def local_executor(workers: int | None = None) -> concurrent.futures.ProcessPoolExecutor:
    """A pool of ``workers`` local processes with one compute thread each (default: one per core).

    On a CPU a fit of ALL/AML's size keeps one core busy however many
    threads XLA is given (its products are too small to split), so a survey
    gets its speed from running tasks side by side, each worker pinned to a
    core of its own when there are no more workers than cores (faster than
    unpinned: benchmarks/NOTES.md). The workers share a temporary JAX compilation cache, so each
    rank is compiled once. The processes are started with ``spawn`` (a
    fork of a process in which JAX is running is unsafe), so a script that
    uses the pool must guard its entry point with
    ``if __name__ == "__main__":``, as for any ``spawn`` pool.
    """
    workers = available_cores() if workers is None else val.check_positive_int(workers, "workers")
    return _LocalPool(workers)


def _fit_chunk(V, rank: int, seed: int, first: int, count: int, fit: dict) -> dict:
    """One task: ``count`` restarts from restart ``first``; what the survey keeps of them."""
    start = time.perf_counter()
    res = nmflab.nmf(V, rank, restarts=count, seed=seed, first_restart=first, keep_restarts=True, **fit)
    labels = cs.assignments(res.restart_W)
    counts = cs.ConsensusAccumulator(V.shape[0]).add(labels).counts
    return {
        "counts": counts.astype(np.int32),
        "labels": labels.astype(np.int16),
        "objectives": np.asarray(res.restart_objectives, dtype=np.float64),
        "n_iter": np.asarray(res.restart_n_iter, dtype=np.int64),
        "status": np.asarray(res.restart_status, dtype=np.int8),
        "W": res.W,
        "H": res.H,
        "best": np.int64(first + res.best_restart),
        "seconds": np.float64(time.perf_counter() - start),
        "method": np.str_(res.method),
    }


def _task_options(fit: dict) -> dict:
    """The fit options as the tasks get them, checked against the registry before anything is stored.

    A method registered by a user's own module is handed to the tasks as its
    rule class: a worker process that unpickles it imports that module,
    which registers the rule there too.
    """
    method = fit.get("method", "auto")
    cls, _, _ = nmflab.api.rule_class(fit.get("loss"), method, backend=fit["backend"])
    if isinstance(method, str) and method != "auto" and not cls.__module__.startswith("nmflab."):
        return {**fit, "method": cls}
    return fit


def _task_name(kind: str, rank: int, first: int, count: int) -> str:
    return f"{kind}-rank{rank:03d}-restarts{first:05d}-{first + count - 1:05d}.npz"


_TASK_FILE = re.compile(r"(data|null)-rank(\d{3})-restarts(\d{5})-(\d{5})\.npz")


def _stored_tasks(store: Path | None) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """``(first, count)`` of the task files in ``store`` for each ``(kind, rank)``, by first restart."""
    found: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for path in store.iterdir() if store is not None else ():
        match = _TASK_FILE.fullmatch(path.name)
        if match and int(match[4]) >= int(match[3]):
            found.setdefault((match[1], int(match[2])), []).append((int(match[3]), int(match[4]) - int(match[3]) + 1))
    return {key: sorted(ranges) for key, ranges in found.items()}


def _plan(kind: str, rank: int, restarts: int, chunk: int, stored: list[tuple[int, int]]) -> list[tuple]:
    """The tasks that cover restarts ``0..restarts-1`` of one rank: stored ones where they fit, new ones between.

    A stored task is reused if it lies wholly below ``restarts`` (the longest
    one where several start at the same restart); the gaps are cut into new
    tasks of at most ``chunk`` restarts, each ending where a stored task
    begins. Restart ``k`` is the same fit in any task, so the cover changes
    no result.
    """
    longest = {}
    for first, count in stored:
        if first + count <= restarts:
            longest[first] = max(longest.get(first, 0), count)
    tasks, position = [], 0
    while position < restarts:
        if position in longest:
            tasks.append((kind, rank, position, longest[position]))
            position += longest[position]
            continue
        following = min((f for f in longest if f > position), default=restarts)
        count = min(chunk, following - position)
        tasks.append((kind, rank, position, count))
        position += count
    return tasks


def _fingerprint(V) -> str:
    digest = hashlib.sha256()
    digest.update(str((V.shape, V.dtype.str, "sparse" if is_sparse(V) else "dense")).encode())
    arrays = (V.data, V.indices, V.indptr) if is_sparse(V) else (V,)
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


#: The manifest entries that identify a store's survey; ranks, restarts and chunk may change from run to run.
_IDENTITY = ("data_sha256", "shape", "seed", "null", "fit")


def _open_store(store, manifest: dict) -> Path:
    """The store directory, its manifest written on first use; a store of another survey is refused.

    Only :data:`_IDENTITY` must agree: a run with other ranks, restarts or
    chunk extends the survey (manifests written before this rule also held
    those, which are ignored).
    """
    store = Path(store)
    path = store / "survey.json"
    identity = {k: manifest[k] for k in _IDENTITY}
    if path.exists():
        try:
            recorded = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not a survey manifest ({exc}); use another store directory") from exc
        if not isinstance(recorded, dict) or {k: recorded.get(k) for k in _IDENTITY} != identity:
            recorded = recorded if isinstance(recorded, dict) else {}
            differs = [k for k in _IDENTITY if recorded.get(k) != identity[k]]
            raise ValueError(
                f"the store {store} holds a survey of other data or options (differs in: {', '.join(differs)}); "
                "resume or extend it with the same data, seed, null and fit options, or choose another directory"
            )
    else:
        atomic_write_bytes(path, json.dumps(identity, indent=2, sort_keys=True).encode())
    return store


#: What a task file holds, each array's shape from (restarts in the task, samples, features, rank).
_TASK_SHAPES = {"counts": lambda c, n, p, r: (n, n), "labels": lambda c, n, p, r: (c, n),
                "objectives": lambda c, n, p, r: (c,), "n_iter": lambda c, n, p, r: (c,),
                "status": lambda c, n, p, r: (c,), "W": lambda c, n, p, r: (n, r), "H": lambda c, n, p, r: (r, p),
                "best": lambda c, n, p, r: (), "seconds": lambda c, n, p, r: (), "method": lambda c, n, p, r: ()}


def _load_task(path: Path, count: int, shape: tuple[int, int], rank: int, method: str) -> dict | None:
    """A finished task's arrays, or None where the file is missing, damaged, incomplete or foreign (recomputed).

    Every array must be there with the shape the task gives it: a
    truncated or overwritten file, or one with an array missing, is never
    trusted (reading it raised BadZipFile or KeyError before). Its fits must
    be of ``method``, the rule the options name for this rank now: a store
    made under ``method="auto"`` by a version whose choice differed is
    recomputed, not mixed.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception:  # noqa: BLE001 - whatever a damaged file raises (BadZipFile, EOFError, OSError, ...)
        return None
    for name, shape_of in _TASK_SHAPES.items():
        if name not in arrays or arrays[name].shape != shape_of(count, *shape, rank):
            return None
    if str(arrays["method"]) != method:  # present: _TASK_SHAPES asks for it
        return None
    return arrays


class _TaskLines(contextlib.AbstractContextManager):
    """Progress as one plain line per finished task, for standard error that is a log file, not a terminal."""

    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, time.perf_counter()

    def update(self, count: int) -> None:
        if count:
            self.done += count
            print(f"rank survey: {self.done}/{self.total} tasks done, {time.perf_counter() - self.started:.1f} s",
                  file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        return False


def _progress_bar(total: int, progress):
    """A tqdm bar on a terminal (or where ``progress=True``); elsewhere, by default, a line per task."""
    from tqdm.auto import tqdm

    if progress is None and not sys.stderr.isatty():
        return _TaskLines(total)
    return tqdm(total=total, desc="rank survey", unit="chunk", disable=not (progress is None or progress),
                leave=False)


def _measures(V, rank: int, chunks: list[dict], n_restarts: int) -> tuple[dict, dict]:
    acc = cs.ConsensusAccumulator(V.shape[0])
    for chunk in chunks:
        acc.merge(chunk["counts"], len(chunk["objectives"]))
    C = acc.consensus
    objectives = np.concatenate([c["objectives"] for c in chunks])
    n_iter = np.concatenate([c["n_iter"] for c in chunks])
    status = np.concatenate([c["status"] for c in chunks])
    finite = np.where(np.isfinite(objectives), objectives, np.inf)
    # the chunk holding the best restart (the first one on ties) holds its factors
    ends = np.cumsum([len(c["objectives"]) for c in chunks])
    winner = chunks[int(np.searchsorted(ends, np.argmin(finite), side="right"))]
    W, H = winner["W"], winner["H"]
    converged = np.isin(status, [int(s) for s in CONVERGED_STATUSES])
    row = {
        "rank": rank,
        "restarts": int(acc.runs),
        "cophenetic": cs.cophenetic_correlation(C),
        "dispersion": cs.dispersion(C),
        "silhouette_consensus": cs.silhouette_width(cs.consensus_clusters(C, rank), 1 - C),
        "silhouette_coef": cs.correlation_silhouette(W, cs.assignments(W)),
        "silhouette_basis": cs.correlation_silhouette(H.T, cs.assignments(H.T)),
        "sparseness_basis": cs.sparseness(H),
        "sparseness_coef": cs.sparseness(W),
        "rss": cs.rss(V, W, H),
        "evar": cs.explained_variance(V, W, H),
        "svd_rss": 2.0 * svd_floor(V, rank)[0],
        "best_objective": float(np.min(finite)),
        "median_objective": float(np.median(objectives)),
        "median_iterations": float(np.median(n_iter)),
        "converged": float(np.mean(converged)),
        "seconds": float(sum(float(c["seconds"]) for c in chunks)),
    }
    assert acc.runs == n_restarts
    details = {
        "consensus": C,
        "labels": np.concatenate([c["labels"] for c in chunks]),
        "best": (W, H),
        "objectives": objectives,
    }
    return row, details


def rank_survey(
    V,
    ranks,
    restarts: int = 50,
    *,
    seed: int = 0,
    chunk: int = 10,
    null: bool = False,
    store=None,
    executor: concurrent.futures.Executor | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    **fit,
) -> Survey:
    """Stability measures of ``restarts`` NMF fits at each rank (Brunet et al. 2004).

    Parameters
    ----------
    V : array_like or scipy.sparse matrix, shape (n_samples, n_features)
        Non-negative data; rows are the samples that are clustered. A
        sparse ``V`` is fitted as it is stored (on the NumPy backend).
    ranks : iterable of int
        Ranks to survey, each between 2 and ``min(V.shape)``.
    restarts : int
        Random restarts per rank.
    seed : int
        Root of every restart's seed (:func:`survey_seed`).
    chunk : int
        Restarts per task: the unit of work handed to the executor and of
        what a killed survey can lose.
    null : bool
        Also survey :func:`shuffled_null` of ``V`` (the same ranks, restarts
        and options).
    store : path, optional
        Directory where each finished task is written; a survey started
        again with the same arguments and data resumes from it. A store
        holding a different survey is refused, never overwritten. The same
        store takes a later run with more (or fewer) restarts or other
        ranks: the tasks it holds are reused wherever they fit and only the
        new restarts are computed, with the result of a survey run whole.
    executor : concurrent.futures.Executor, optional
        Runs the tasks (a ``ProcessPoolExecutor``, or a Dask client's
        ``get_executor()`` for a cluster). Default: in this process, one
        task after the other, unless ``workers`` is given.
    workers : int, optional
        Run the tasks in a :func:`local_executor` of this many processes
        (one compute thread each), the fast way on a multi-core CPU; the
        pool is closed when the survey returns. ``1``: in this process.
        Not together with ``executor``.
    progress : bool, optional
        Show a progress bar. Default: a bar when standard error is a
        terminal, else a line per finished task (a batch job's log).
    **fit
        Options of :func:`nmflab.nmf` for every fit. Default
        ``method="brunet"`` (KL, R's algorithm and defaults, connectivity
        stopping) and ``backend="jax"`` when JAX is installed and ``V`` is
        dense.

    Returns
    -------
    Survey
    """
    sparse = is_sparse(V)
    V = val.check_sparse_matrix(V, dtype=fit.get("dtype")) if sparse else val.check_data_matrix(V, dtype=fit.get("dtype"))
    n, p = V.shape
    try:
        ranks = sorted({int(r) for r in ranks})
    except (TypeError, ValueError):
        raise TypeError(f"ranks must be integers, got {ranks!r}") from None
    if not ranks or ranks[0] < 2 or ranks[-1] > min(n, p):
        given = f"{ranks[0]}..{ranks[-1]}" if len(ranks) > 6 else str(ranks)
        raise ValueError(f"ranks must lie between 2 and min(n_samples, n_features) = {min(n, p)}, got {given}")
    restarts = val.check_positive_int(restarts, "restarts")
    chunk = val.check_positive_int(chunk, "chunk")
    if workers is not None:
        workers = val.check_positive_int(workers, "workers")
        if executor is not None:
            raise TypeError("give either executor or workers, not both")
    seed = val.check_positive_int(seed, "seed", minimum=0)
    for reserved in ("restarts", "seed", "first_restart", "keep_restarts"):
        if reserved in fit:
            raise TypeError(f"{reserved!r} is set by rank_survey itself")
    fit = {**_DEFAULT_FIT, **fit}
    if "backend" not in fit:
        import importlib.util

        fit["backend"] = "jax" if importlib.util.find_spec("jax") and not sparse else "numpy"
    # before anything is stored
    nmflab.api.check_options(ranks[0], sparse=sparse, restarts=min(chunk, restarts), **fit)
    task_fit = _task_options(fit)
    kinds = _KINDS if null else _KINDS[:1]
    data = {"data": V}
    if null:
        data["null"] = shuffled_null(V, seed)
    options = {"ranks": ranks, "restarts": restarts, "seed": seed, "chunk": chunk, "null": bool(null),
               "fit": {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                       for k, v in sorted(fit.items())}}
    if store is not None:
        store = _open_store(store, {**options, "data_sha256": _fingerprint(V), "shape": [n, p]})
    # Highest ranks first: they take the longest, so a pool finishes them
    # while the short tasks fill in (the result does not depend on the order).
    stored = _stored_tasks(store)
    started = time.perf_counter()
    done: dict[tuple, dict] = {}
    tasks = []
    for r in reversed(ranks):
        method = nmflab.api.check_options(r, sparse=sparse, restarts=min(chunk, restarts), **fit).method
        for kind in kinds:
            usable = {}  # the stored tasks of this rank below `restarts` that load and validate completely
            for first, count in stored.get((kind, r), []):
                if first + count <= restarts:
                    loaded = _load_task(store / _task_name(kind, r, first, count), count, (n, p), r, method)
                    if loaded is not None:
                        usable[(kind, r, first, count)] = loaded
            plan = _plan(kind, r, restarts, chunk, [task[2:] for task in usable])
            done.update({task: usable[task] for task in plan if task in usable})
            tasks += plan
    loaded_tasks = len(done)
    pending = [t for t in tasks if t not in done]

    def finish(task, result):
        if store is not None:
            atomic_write_npz(store / _task_name(*task), **result)
        done[task] = result

    pool = local_executor(workers) if workers is not None and workers > 1 and pending else None
    # One task of each rank first: the first tasks a pool's workers take are of different ranks, so
    # that no two compile the same programs at once (a later one loads them from a shared cache).
    heads, seen = [], set()
    for task in pending:
        if task[1] not in seen:
            seen.add(task[1])
            heads.append(task)
    pending = heads + [task for task in pending if task not in heads]
    executor = executor or pool
    with _progress_bar(len(tasks), progress) as bar, pool or contextlib.nullcontext():
        bar.update(loaded_tasks)
        if executor is None:
            for task in pending:
                kind, r, first, count = task
                finish(task, _fit_chunk(data[kind], r, survey_seed(seed, r, kind), first, count, task_fit))
                bar.update(1)
        else:
            futures = {executor.submit(_fit_chunk, data[kind], r, survey_seed(seed, r, kind), first, count, task_fit):
                       (kind, r, first, count) for kind, r, first, count in pending}
            try:
                for future in concurrent.futures.as_completed(futures):
                    finish(futures[future], future.result())
                    bar.update(1)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    tables = {kind: [] for kind in kinds}
    per_rank = {kind: {} for kind in kinds}
    for kind in kinds:
        for r in ranks:
            chunks = [done[t] for t in tasks if t[0] == kind and t[1] == r]
            row, details = _measures(data[kind], r, chunks, restarts)
            tables[kind].append(row)
            per_rank[kind][r] = details
    return Survey(
        ranks=ranks,
        table=tables["data"],
        null_table=tables.get("null", []),
        consensus={r: d["consensus"] for r, d in per_rank["data"].items()},
        null_consensus={r: d["consensus"] for r, d in per_rank.get("null", {}).items()},
        labels={r: d["labels"] for r, d in per_rank["data"].items()},
        best={r: d["best"] for r, d in per_rank["data"].items()},
        objectives={r: d["objectives"] for r, d in per_rank["data"].items()},
        options=options,
        store=store,
        seconds=time.perf_counter() - started,
        computed_tasks=len(pending),
        loaded_tasks=loaded_tasks,
    )
