"""Reading data matrices from files and writing fits to files.

Input formats, by extension: ``.csv`` (comma), ``.tsv`` / ``.tab``
(tab), ``.txt`` / ``.dat`` (white space), ``.npy``, ``.npz`` (the array
named ``key``, or the only array), ``.mtx`` (Matrix Market: a coordinate
file is read as a scipy.sparse matrix, an array file as a dense one).
Every reader validates what it reads and reports a bad file as one
``ValueError`` naming it: a truncated, empty or malformed file never
crashes the process or prints a traceback.

Outputs are written to a temporary file and renamed into place, so an
interrupted write never leaves a half-written file, and an existing file
is never overwritten unless asked; they get the permissions the umask
gives a new file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["read_matrix", "read_matrix_market", "write_result", "atomic_write_bytes", "atomic_write_npz",
           "output_paths", "check_writable"]

_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None, ".dat": None}
_SUFFIXES = ".csv, .tsv, .txt, .npy, .npz or .mtx"


def read_matrix(path, *, key: str | None = None, skip_header: bool = False, row_names: bool = False,
                memory_map: bool = False):
    """Read a 2-D numeric matrix from ``path``.

    Parameters
    ----------
    path : path-like
    key : str, optional
        Array name inside an ``.npz`` file holding several.
    skip_header : bool
        Skip the first line of a text file.
    row_names : bool
        The first column of a text file holds row names (R's ``write.csv``):
        it is left out.
    memory_map : bool
        Map an ``.npy`` file read-only instead of reading it (its values are
        then checked by whoever reads them, a block at a time: online fits).

    Returns
    -------
    numpy.ndarray, or scipy.sparse.csr_matrix for a coordinate ``.mtx`` file

    Raises
    ------
    FileNotFoundError, ValueError
        With the file name and what is wrong with it.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a data file ({_SUFFIXES})")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in _DELIMITERS:
            return _read_text(path, _DELIMITERS[suffix], skip_header, row_names)
        if suffix == ".npy":
            return _checked_array(np.load(path, allow_pickle=False, mmap_mode="r" if memory_map else None), path)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.keys())
                if key is None:
                    if len(names) != 1:
                        raise ValueError(f"{path} holds arrays {names}; name one with --key")
                    key = names[0]
                if key not in names:
                    raise ValueError(f"{path} has no array {key!r}; it holds {names}")
                return _checked_array(archive[key], path)
        if suffix == ".mtx":
            return read_matrix_market(path)
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"could not read a numeric matrix from {path}: {exc}") from exc
    except (EOFError, zipfile.BadZipFile, KeyError, OSError) as exc:  # empty, truncated or damaged binary files
        raise ValueError(f"could not read {path}: {type(exc).__name__}: {exc or 'the file ends early'}") from exc
    raise ValueError(f"unknown file type {suffix!r} for {path}; use {_SUFFIXES}")


def _read_text(path: Path, delimiter, skip_header: bool, row_names: bool) -> np.ndarray:
    columns = None
    if row_names:
        with open(path) as handle:
            first = handle.readline()
        width = len(first.split(delimiter)) if delimiter else len(first.split())
        columns = range(1, width)
    return np.loadtxt(path, delimiter=delimiter, ndmin=2, skiprows=int(skip_header), usecols=columns)


def _checked_array(arr, path: Path) -> np.ndarray:
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ValueError(f"{path} holds an array of dtype {arr.dtype}, not numbers")
    return arr


def read_matrix_market(path):
    """A Matrix Market file (``coordinate`` or ``array``; real, integer or pattern; general or symmetric).

    Written here rather than taken from :func:`scipy.io.mmread`, whose C++
    reader crashed the process (a segmentation fault) on a file cut short
    inside a number. Every count, index and value is checked; a coordinate
    file gives a ``scipy.sparse.csr_matrix`` (duplicates summed), an array
    file a dense array.
    """
    import scipy.sparse

    path = Path(path)
    with open(path, "rb") as handle:
        text = handle.read().decode("ascii", errors="strict")
    lines = text.splitlines()
    if not lines or not lines[0].lower().startswith("%%matrixmarket"):
        raise ValueError(f"{path} is not a Matrix Market file: it does not start with %%MatrixMarket")
    banner = lines[0].split()
    if len(banner) != 5 or banner[1].lower() != "matrix":
        raise ValueError(f"{path}: a malformed Matrix Market banner {lines[0]!r}")
    layout, field, symmetry = (word.lower() for word in banner[2:])
    if layout not in ("coordinate", "array") or field not in ("real", "double", "integer", "pattern") \
            or symmetry not in ("general", "symmetric", "skew-symmetric"):
        raise ValueError(f"{path}: Matrix Market {layout} {field} {symmetry} is not a real matrix nmflab can read")
    body = [line for line in lines[1:] if line.strip() and not line.lstrip().startswith("%")]
    if not body:
        raise ValueError(f"{path} has no size line")
    try:
        size = [int(x) for x in body[0].split()]
    except ValueError:
        raise ValueError(f"{path}: a malformed size line {body[0]!r}") from None
    values = np.loadtxt(io.StringIO("\n".join(body[1:])), ndmin=2) if len(body) > 1 else np.zeros((0, 0))
    if layout == "array":
        if len(size) != 2:
            raise ValueError(f"{path}: an array file needs 'rows cols' on its size line, got {body[0]!r}")
        m, n = size
        if values.size != m * n:
            raise ValueError(f"{path} declares {m} x {n} = {m * n} values and holds {values.size}")
        return values.reshape(-1).reshape((n, m)).T.copy()
    if len(size) != 3:
        raise ValueError(f"{path}: a coordinate file needs 'rows cols entries' on its size line, got {body[0]!r}")
    m, n, count = size
    width = 2 if field == "pattern" else 3
    if values.shape[0] != count or (count and values.shape[1] != width):
        raise ValueError(f"{path} declares {count} entries of {width} numbers; it holds {values.shape[0]} lines "
                         f"of {values.shape[1] if values.size else 0}")
    if count == 0:
        return scipy.sparse.csr_matrix((m, n))
    rows, cols = values[:, 0], values[:, 1]
    if not (np.all(rows == np.round(rows)) and np.all(cols == np.round(cols))):
        raise ValueError(f"{path}: an index that is not an integer")
    rows, cols = rows.astype(np.int64) - 1, cols.astype(np.int64) - 1
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= m or cols.max() >= n:
        raise ValueError(f"{path}: an index outside its declared {m} x {n}")
    data = np.ones(count) if field == "pattern" else values[:, 2]
    if symmetry != "general":
        off = rows != cols
        sign = -1.0 if symmetry == "skew-symmetric" else 1.0
        rows, cols, data = (np.concatenate([rows, cols[off]]), np.concatenate([cols, rows[off]]),
                            np.concatenate([data, sign * data[off]]))
    return scipy.sparse.csr_matrix((data, (rows, cols)), shape=(m, n))


def _new_file_mode() -> int:
    """The permissions the umask gives a new file (``mkstemp`` makes its files 0600 whatever the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def check_writable(path, *, overwrite: bool = True, directory: bool = False) -> Path:
    """Refuse, before any work, an output that could not be written, with one line naming it.

    ``path`` is a file to write (``directory=False``) or a folder to write
    into; its parent folders are created. An existing file is refused unless
    ``overwrite``; a directory where a file is wanted, or a file where a
    folder is, is refused; so is a folder this process cannot write to.
    """
    path = Path(path)
    if directory:
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} is a file; a folder is needed here")
        folder = path
    else:
        if path.is_dir():
            raise ValueError(f"{path} is a directory; give a file name")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; choose another name or pass --overwrite")
        folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write to the folder {folder}: permission denied")
    return path


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename (permissions from the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_npz(path, **arrays) -> None:
    """Write ``arrays`` as an ``.npz`` file, atomically (:func:`atomic_write_bytes`)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def output_paths(prefix, *, overwrite: bool = False) -> tuple[Path, Path]:
    """``(PREFIX.npz, PREFIX.json)`` of a fit, checked before the fit (:func:`check_writable`).

    A prefix that already ends in ``.npz`` or ``.json`` is taken without it
    (``--out res/fit.npz`` writes ``res/fit.npz``, not ``res/fit.npz.npz``).
    """
    prefix = Path(prefix)
    if prefix.suffix.lower() in (".npz", ".json"):
        prefix = prefix.with_suffix("")
    paths = prefix.with_name(prefix.name + ".npz"), prefix.with_name(prefix.name + ".json")
    for path in paths:
        check_writable(path, overwrite=overwrite)
    return paths


def write_online_result(result, prefix, *, overwrite: bool = False, extra: dict | None = None) -> tuple[Path, Path]:
    """Write an online fit (:class:`nmflab.online.OnlineResult`) as ``PREFIX.npz`` (H, W where kept, the checks)
    and ``PREFIX.json`` (summary)."""
    npz_path, json_path = output_paths(prefix, overwrite=overwrite)
    arrays = dict(H=result.H, objective=result.objective, rows=result.rows, times=result.times)
    if result.W is not None:
        arrays["W"] = result.W
    summary = {
        "rank": int(result.H.shape[0]),
        "features": int(result.H.shape[1]),
        "loss": result.loss,
        "method": result.method,
        "rule": result.rule,
        "online": True,
        "passes": int(result.passes),
        "rows_taken": int(result.rows[-1]) if len(result.rows) else 0,
        "block_rows": result.block_rows,
        "forgetting": float(result.forgetting),
        "seed": int(result.seed),
        "status": result.status.name,
        "message": result.status.message,
        "final_objective_per_row": float(result.final_objective),
        "wall_time_s": float(result.wall_time),
        **(extra or {}),
    }
    atomic_write_npz(npz_path, **arrays)
    atomic_write_bytes(json_path, (json.dumps(summary, indent=2) + "\n").encode())
    return npz_path, json_path


def write_result(result, prefix, *, overwrite: bool = False, extra: dict | None = None) -> tuple[Path, Path]:
    """Write a fit as ``PREFIX.npz`` (W, H, the :class:`~nmflab.result.Trace` arrays) and ``PREFIX.json`` (summary).

    Returns
    -------
    (npz_path, json_path)
    """
    npz_path, json_path = output_paths(prefix, overwrite=overwrite)
    traces = {name: values for name, values in result.trace._asdict().items() if values is not None}
    arrays = dict(W=result.W, H=result.H, **traces, restart_objectives=result.restart_objectives)
    summary = {
        "rank": int(result.W.shape[1]),
        "shape": [int(result.W.shape[0]), int(result.H.shape[1])],
        "loss": result.loss,
        "method": result.method,
        "rule": result.rule,
        "backend": result.backend,
        "dtype": result.dtype,
        "seed": int(result.seed),
        "init": result.init,
        "n_iter": int(result.n_iter),
        "status": result.status.name,
        "stop_rules": list(result.stop_rules),
        "weighted": bool(result.weighted),
        "penalty": None if result.penalty is None else {k: float(v) for k, v in vars(result.penalty).items()},
        "message": result.message,
        "initial_objective": float(result.initial_objective),
        "final_objective": float(result.final_objective),
        "best_restart": int(result.best_restart),
        "restart_objectives": [float(x) for x in result.restart_objectives],
        "wall_time_s": float(result.wall_time),
        "sketch": None if result.sketch is None else dict(vars(result.sketch)),
        **(extra or {}),
    }
    atomic_write_npz(npz_path, **arrays)
    atomic_write_bytes(json_path, (json.dumps(summary, indent=2) + "\n").encode())
    return npz_path, json_path
