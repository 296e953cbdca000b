"""Iterates of every method from fixed starts, saved or compared against a saved run: a refactoring check.

Run: ``python -m benchmarks.iterate_parity --save FILE`` on one revision, then
``python -m benchmarks.iterate_parity --compare FILE`` on another (or point
``PYTHONPATH`` at a worktree of the old revision for the first). Only the
public :func:`nmflab.nmf` and :func:`nmflab.fit_weights` are called, so the
script runs unchanged on revisions with different internals.

Each case is one fit: a method and loss, dense or sparse input, with or
without a mask and a penalty, float64 or float32, NumPy or JAX, one start
or a batch of restarts, a fixed number of iterations (``stop="max_iter"``)
or the method's own stopping rule. The comparison reports, per case, the
normwise relative difference ``||a - b|| / ||a||`` of ``W``, ``H`` and the
objective trace (and, in brackets, the largest entrywise one, which tiny
entries inflate), and whether the iteration counts and statuses agree. It
exits 1 if a case stops elsewhere or differs normwise by more than
``--rtol`` (default 1e-12) times the ratio of its dtype's machine epsilon to
float64's (float32 cases: about 5e-4).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

import numpy as np

__all__ = ["cases", "run_cases", "compare"]


def _data(seed: int, n: int, p: int, rank: int, positive: bool = False):
    rng = np.random.default_rng(seed)
    V = rng.random((n, rank)) @ rng.random((rank, p)) + 0.05 * rng.random((n, p))
    if not positive:
        V[rng.random((n, p)) < 0.3] = 0.0  # exact zeros: the KL and beta branches at V = 0
    W0 = rng.random((n, rank)) + 0.1
    H0 = rng.random((rank, p)) + 0.1
    mask = rng.random((n, p)) > 0.2
    return V, W0, H0, mask


def cases(large: bool = False, jax: bool = True) -> list[tuple[str, dict]]:
    """``(name, options)`` for every case; the data are made from the options' ``data`` entry."""
    out = []
    methods = [("frobenius", "hals"), ("frobenius", "mu"), ("frobenius", "lee"), ("kl", "cd"), ("kl", "mu"),
               ("kl", "brunet"), (0.5, "mu"), (1.5, "mu"), (3.0, "mu"), ("itakura-saito", "mu")]
    supports = {"lee": dict(weights=False, penalty=False), "brunet": dict(weights=False, penalty=False)}
    backends = ["numpy"] + (["jax"] if jax else [])
    for loss, method in methods:
        ok = supports.get(method, dict(weights=True, penalty=True))
        positive = loss == "itakura-saito"
        base = dict(loss=loss, method=method, data=(0, 30, 20, 3, positive), max_iter=40, stop="max_iter")
        for backend in backends:
            tag = f"{method}-{loss}-{backend}"
            out.append((f"{tag}-dense", dict(base, backend=backend)))
            out.append((f"{tag}-float32", dict(base, backend=backend, dtype="float32")))
            out.append((f"{tag}-own-stop", dict(base, backend=backend, max_iter=None, stop=None, tol=1e-6)))
            if ok["weights"]:
                out.append((f"{tag}-mask", dict(base, backend=backend, mask=True)))
            if ok["penalty"]:
                out.append((f"{tag}-penalty", dict(base, backend=backend, l1_W=0.05, l2_H=0.1, l1_H=0.02)))
            out.append((f"{tag}-restarts", dict(base, backend=backend, init="random", restarts=3, seed=4)))
            if method in ("mu", "lee", "brunet"):
                out.append((f"{tag}-eps0", dict(base, backend=backend, eps=0.0)))
            out.append((f"{tag}-fit-weights", dict(base, backend=backend, fit_weights=True)))
        if not positive:
            out.append((f"{method}-{loss}-numpy-sparse", dict(base, backend="numpy", sparse=True)))
            out.append((f"{method}-{loss}-numpy-sparse-own-stop",
                        dict(base, backend="numpy", sparse=True, max_iter=None, stop=None, tol=1e-6)))
        if large and method == "mu" and not positive:
            # 4096 x 4100 > 2**24 entries: KL and beta MU form W H a block of rows at a time.
            out.append((f"{method}-{loss}-numpy-large", dict(base, backend="numpy", data=(1, 4096, 4100, 5, False),
                                                              max_iter=6)))
    return out


def _fit(options: dict):
    import scipy.sparse

    import nmflab

    opts = dict(options)
    V, W0, H0, mask = _data(*opts.pop("data"))
    if opts.pop("mask", False):
        opts["mask"] = mask
    if opts.pop("sparse", False):
        V = scipy.sparse.csr_matrix(V)
    dtype = opts.get("dtype")
    if opts.pop("fit_weights", False):
        for name in ("l1_H", "l2_H", "init", "restarts", "seed"):
            opts.pop(name, None)
        return nmflab.fit_weights(V, H0, **opts)
    if "init" not in opts:
        opts["init"] = (W0, H0) if dtype is None else (W0.astype(dtype), H0.astype(dtype))
    return nmflab.nmf(V, W0.shape[1], **opts)


def run_cases(selected) -> dict:
    """``{name: arrays}`` of every case in ``selected``; a case that raises is recorded with its message."""
    out = {}
    for name, options in selected:
        try:
            res = _fit(options)
        except Exception as exc:  # recorded, so that a refused case is compared too
            out[name] = {"error": np.array(f"{type(exc).__name__}: {exc}")}
            continue
        out[name] = {"W": np.asarray(res.W, dtype=np.float64), "H": np.asarray(res.H, dtype=np.float64),
                     "objective": np.asarray(res.objective, dtype=np.float64), "n_iter": np.array(res.n_iter),
                     "status": np.array(int(res.status)),
                     "restart_objectives": np.asarray(res.restart_objectives, dtype=np.float64)}
    return out


def _normwise(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    finite = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return float("inf")
    scale = np.linalg.norm(a[finite])
    diff = np.linalg.norm(a[finite] - b[finite])
    return float(diff / scale) if scale > 0 else float(diff)


def _relative(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    both_nan = np.isnan(a) & np.isnan(b)
    scale = np.maximum(np.abs(a), np.abs(b))
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), diff)
    return float(rel.max()) if rel.size else 0.0


def compare(old: dict, new: dict, rtol: float) -> list[str]:
    """One line per case; lines for cases that differ by more than ``rtol`` start with ``DIFF``."""
    lines = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a is None or b is None:
            lines.append(f"DIFF {name}: only in the {'new' if a is None else 'old'} run")
            continue
        if "error" in a or "error" in b:
            same = "error" in a and "error" in b
            lines.append(f"{'same' if same else 'DIFF'} {name}: old {a.get('error', 'ran')!s} | "
                         f"new {b.get('error', 'ran')!s}")
            continue
        keys = ("W", "H", "objective", "restart_objectives")
        normwise = {key: _normwise(a[key], b[key]) for key in keys}
        entrywise = {key: _relative(a[key], b[key]) for key in keys}
        stops = int(a["n_iter"]) == int(b["n_iter"]) and int(a["status"]) == int(b["status"])
        exact = all(np.array_equal(a[k], b[k], equal_nan=True) for k in ("W", "H", "objective"))
        scale = np.finfo(np.float32).eps / np.finfo(np.float64).eps if "float32" in name else 1.0
        bad = not stops or max(normwise.values()) > rtol * scale
        verdict = "DIFF" if bad else ("bit-for-bit" if exact else "within")
        lines.append(f"{verdict} {name}: n_iter {int(a['n_iter'])}/{int(b['n_iter'])}, "
                     + ", ".join(f"{k} {normwise[k]:.1e} [{entrywise[k]:.1e}]" for k in keys))
    return lines


def _save(path, results: dict) -> None:
    flat = {f"{name}/{key}": value for name, arrays in results.items() for key, value in arrays.items()}
    np.savez(path, **flat)


def _load(path) -> dict:
    out: dict = {}
    with np.load(path) as archive:
        for key in archive.files:
            name, field = key.rsplit("/", 1)
            out.setdefault(name, {})[field] = archive[key]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", help="run every case and save the results to this .npz file")
    group.add_argument("--compare", help="run every case and compare with the results saved in this .npz file")
    parser.add_argument("--rtol", type=float, default=1e-12)
    parser.add_argument("--large", action="store_true", help="also the row-blocked cases (4096 x 4100, ~1 min)")
    args = parser.parse_args(argv)
    selected = cases(large=args.large, jax=importlib.util.find_spec("jax") is not None)
    results = run_cases(selected)
    if args.save:
        _save(args.save, results)
        print(f"saved {len(results)} cases to {args.save}")
        return 0
    lines = compare(_load(args.compare), results, args.rtol)
    print("\n".join(lines))
    counts = {v: sum(line.startswith(v) for line in lines) for v in ("bit-for-bit", "within", "same", "DIFF")}
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 1 if counts["DIFF"] else 0


if __name__ == "__main__":
    sys.exit(main())
