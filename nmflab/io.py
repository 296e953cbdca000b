"""Reading data matrices from files and writing fits to files.

Input formats, by extension: ``.csv`` (comma), ``.tsv`` / ``.tab``
(tab), ``.txt`` / ``.dat`` (white space), ``.npy``, ``.npz`` (the array
named ``key``, or the only array), ``.mtx`` (Matrix Market, densified).
Outputs are written to a temporary file and renamed into place, so an
interrupted write never leaves a half-written file, and an existing file
is never overwritten unless asked.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["read_matrix", "write_result", "atomic_write_bytes", "atomic_write_npz"]

_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None, ".dat": None}


def read_matrix(path, *, key: str | None = None, skip_header: bool = False) -> np.ndarray:
    """Read a 2-D numeric matrix from ``path``.

    Parameters
    ----------
    path : path-like
    key : str, optional
        Array name inside an ``.npz`` file holding several.
    skip_header : bool
        Skip the first line of a text file.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    FileNotFoundError, ValueError
        With the file name and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in _DELIMITERS:
            return np.loadtxt(path, delimiter=_DELIMITERS[suffix], ndmin=2, skiprows=int(skip_header))
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.keys())
                if key is None:
                    if len(names) != 1:
                        raise ValueError(f"{path} holds arrays {names}; name one with --key")
                    key = names[0]
                if key not in names:
                    raise ValueError(f"{path} has no array {key!r}; it holds {names}")
                return archive[key]
        if suffix == ".mtx":
            import scipy.io

            M = scipy.io.mmread(path)
            return M.toarray() if hasattr(M, "toarray") else np.asarray(M)
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"could not read a numeric matrix from {path}: {exc}") from exc
    except OSError as exc:
        raise ValueError(f"could not read {path}: {exc}") from exc
    raise ValueError(
        f"unknown file type {suffix!r} for {path}; use .csv, .tsv, .txt, .npy, .npz or .mtx"
    )


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_npz(path, **arrays) -> None:
    """Write ``arrays`` as an ``.npz`` file, atomically (:func:`atomic_write_bytes`)."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def write_result(result, prefix, *, overwrite: bool = False, extra: dict | None = None) -> tuple[Path, Path]:
    """Write a fit as ``PREFIX.npz`` (W, H, the :class:`~nmflab.result.Trace` arrays) and ``PREFIX.json`` (summary).

    Returns
    -------
    (npz_path, json_path)
    """
    prefix = Path(prefix)
    npz_path = prefix.with_name(prefix.name + ".npz")
    json_path = prefix.with_name(prefix.name + ".json")
    for p in (npz_path, json_path):
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists; choose another --out or pass --overwrite")
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
        "message": result.message,
        "initial_objective": float(result.initial_objective),
        "final_objective": float(result.final_objective),
        "best_restart": int(result.best_restart),
        "restart_objectives": [float(x) for x in result.restart_objectives],
        "wall_time_s": float(result.wall_time),
        **(extra or {}),
    }
    atomic_write_npz(npz_path, **arrays)
    atomic_write_bytes(json_path, (json.dumps(summary, indent=2) + "\n").encode())
    return npz_path, json_path
