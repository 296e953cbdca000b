"""The ``nmflab`` command line.

``nmflab demo [--reference]``
    The seed demonstration (see :mod:`nmflab.demo`).
``nmflab fit FILE --rank R [options]``
    Fit a matrix read from a file; write ``W``, ``H`` and the trace to
    ``OUT.npz`` and a summary to ``OUT.json``.
``nmflab survey FILE --ranks A:B [options]``
    Rank survey: stability measures per rank, resumable (:mod:`theory.survey`).
``nmflab bounds FILE [options]``
    Bounds on the non-negative rank with their evidence (:mod:`theory.nnrank`).

Errors in the input (a bad file, negative data, an impossible rank) print
one line on standard error and exit with status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "build_parser"]


def _method_names() -> list[str]:
    """Every registered method name, ``"auto"`` first."""
    from .api import methods

    return ["auto"] + sorted({m for names in methods().values() for m in names if m != "auto"})


def _methods_help(default: str) -> str:
    """The methods of each loss, from the registry, for ``--method``'s help."""
    from .api import methods

    listing = "; ".join(f"{loss}: {', '.join(names)}" for loss, names in methods().items())
    return f"default {default}. By loss: {listing} (beta: any other --loss)"


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .api import LOSSES
    from .init import INITS
    from .stopping import RULES

    parser = argparse.ArgumentParser(prog="nmflab", description="Non-negative matrix factorization V ≈ W H.")
    parser.add_argument("--version", action="version", version=f"nmflab {__version__}")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import this Python module first (repeatable): a module that registers rules of its "
                             "own makes their methods available to fit and survey")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the seed demonstration: planted parts, monotone descent, figures")
    demo.add_argument("--reference", action="store_true", help="replay the R reference run from shared/data/seed_demo")
    demo.add_argument("--data", default=None, help="folder of the R reference data (default: found beside the checkout)")
    demo.add_argument("--out", default="out/demo", help="folder for the figures (default: out/demo)")
    demo.add_argument("--backend", default="numpy", choices=("numpy", "jax"))
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--no-figures", action="store_true", help="print the numbers only")

    fit = sub.add_parser("fit", help="factorize a matrix read from a file")
    fit.add_argument("file", help="data: .csv .tsv .txt .npy .npz .mtx; rows are samples")
    fit.add_argument("--rank", "-r", type=int, required=True)
    fit.add_argument("--loss", default=None, type=_loss, metavar="LOSS",
                     help=f"{', '.join(LOSSES)} or a real beta (e.g. 1.5); default: the method's loss, else frobenius")
    fit.add_argument("--method", default="auto", choices=_method_names(), metavar="METHOD",
                     help=_methods_help("auto"))
    fit.add_argument("--init", default="random", choices=INITS)
    fit.add_argument("--restarts", type=int, default=1)
    fit.add_argument("--max-iter", type=int, default=None, help="default: the method's own (1000; 2000 for R's)")
    fit.add_argument("--tol", type=float, default=1e-4, help="threshold of the objective rule")
    fit.add_argument("--eps", type=float, default=None)
    fit.add_argument("--check-every", type=int, default=None,
                     help="iterations between checks (default: the method's own, 10)")
    fit.add_argument("--stop", nargs="+", default=None, choices=RULES + ("max_iter",),
                     help="stopping rules, one or several (default: the method's own: objective; connectivity for "
                          "R's methods)")
    fit.add_argument("--iterate-tol", type=float, default=1e-5)
    fit.add_argument("--kkt-tol", type=float, default=1e-4)
    fit.add_argument("--patience", type=int, default=40, help="connectivity rule: unchanged checks before stopping")
    fit.add_argument("--time-limit", type=float, default=None, help="wall-time budget in seconds")
    fit.add_argument("--backend", default="numpy", choices=("numpy", "jax"))
    fit.add_argument("--seed", type=int, default=None)
    fit.add_argument("--dtype", default=None, choices=("float32", "float64"))
    fit.add_argument("--mask", default=None, metavar="FILE",
                     help="weights or a 0/1 mask of the shape of the data (same formats): 0 = not fitted, not counted")
    fit.add_argument("--missing", default="error", choices=("error", "mask"),
                     help="what a NaN in the data means: an error (default) or a missing entry, masked")
    for name in ("l1-W", "l2-W", "l1-H", "l2-H"):
        fit.add_argument(f"--{name}", type=float, default=0.0, help=f"penalty {name.replace('-', '_')} (default 0)")
    fit.add_argument("--sketch", nargs="?", type=int, const=0, default=None, metavar="SIZE",
                     help="fit on a randomized sketch of SIZE columns (default: rank + 20); Frobenius only")
    fit.add_argument("--sketch-power", type=int, default=2, metavar="Q",
                     help="power iterations of the sketch (default 2)")
    fit.add_argument("--online", action="store_true",
                     help="fit online, a block of rows at a time (an .npy file is memory-mapped, never loaded)")
    fit.add_argument("--block-rows", type=int, default=1024, help="--online: rows per block (default 1024)")
    fit.add_argument("--forgetting", type=float, default=None,
                     help="--online: weight a block's statistics keep per later block (default: see online_nmf)")
    fit.add_argument("--key", default=None, help="array name inside an .npz file")
    fit.add_argument("--skip-header", action="store_true", help="skip the first line of a text file")
    fit.add_argument("--row-names", action="store_true",
                     help="the first column of a text file holds row names (R's write.csv: with --skip-header)")
    fit.add_argument("--transpose", action="store_true", help="the file has samples in columns (R's orientation)")
    fit.add_argument("--out", "-o", default=None, help="output prefix (default: FILE without extension + '.nmf')")
    fit.add_argument("--overwrite", action="store_true", help="replace existing output files")
    fit.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="report the fit's progress on standard error (default: when it is a terminal)")

    survey = sub.add_parser("survey", help="rank survey: consensus, cophenetic and other stability measures per rank")
    survey.add_argument("file", help="data as for fit; rows are the samples that are clustered")
    survey.add_argument("--ranks", default="2:6", type=_ranks, help="inclusive range A:B or a list A,B,C (default 2:6)")
    survey.add_argument("--restarts", type=int, default=50, help="restarts per rank (default 50)")
    survey.add_argument("--method", default="brunet", choices=_method_names(), metavar="METHOD",
                        help=_methods_help("brunet (R's KL updates, connectivity stopping)"))
    survey.add_argument("--loss", default=None, type=_loss, metavar="LOSS", help=f"{', '.join(LOSSES)} or a real beta")
    survey.add_argument("--backend", default=None, choices=("numpy", "jax"), help="default jax when installed")
    survey.add_argument("--dtype", default=None, choices=("float32", "float64"))
    survey.add_argument("--seed", type=int, default=0)
    survey.add_argument("--chunk", type=int, default=10, help="restarts per task, the unit that is saved (default 10)")
    survey.add_argument("--null", action="store_true", help="also survey the data with each feature shuffled")
    survey.add_argument("--workers", type=int, default=None,
                        help="run tasks in this many processes, one thread each (default: one per core)")
    survey.add_argument("--store", default=None,
                        help="folder of the resumable results (default: FILE without extension + '.survey')")
    survey.add_argument("--no-progress", action="store_true")
    survey.add_argument("--no-figures", action="store_true")
    survey.add_argument("--labels", default=None,
                        help="text file with one label per sample (line), drawn beside the consensus maps")
    survey.add_argument("--key", default=None, help="array name inside an .npz file")
    survey.add_argument("--skip-header", action="store_true")
    survey.add_argument("--row-names", action="store_true", help="the first column of a text file holds row names")
    survey.add_argument("--transpose", action="store_true", help="the file has samples in columns (R's orientation)")

    bounds = sub.add_parser("bounds", help="certified lower and upper bounds on the non-negative rank of a matrix")
    bounds.add_argument("file", help="matrix as for fit (integer entries are treated exactly)")
    bounds.add_argument("--methods", default="auto",
                        help="auto (cheap first, stop when the bounds meet), all, or a comma-separated list")
    bounds.add_argument("--time-limit", type=_seconds_or_none, default=120.0,
                        help="seconds for the whole computation, or 'none': each method to its own budget of work "
                             "(the same result on every machine)")
    bounds.add_argument("--seed", type=int, default=0, help="seed of the exact-NMF heuristic")
    bounds.add_argument("--json", default=None, help="also write the bounds and evidence to this JSON file")
    bounds.add_argument("--certificate", default=None,
                        help="write the factors W and H of the upper bound to this .npz file")
    bounds.add_argument("--overwrite", action="store_true", help="replace existing --json and --certificate files")
    bounds.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="report each method as it runs on standard error (default: when it is a terminal)")
    bounds.add_argument("--key", default=None, help="array name inside an .npz file")
    bounds.add_argument("--skip-header", action="store_true")
    bounds.add_argument("--row-names", action="store_true", help="the first column of a text file holds row names")
    return parser


def _seconds_or_none(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'none', got {text!r}") from None


def _ranks(text: str) -> list[int]:
    try:
        if ":" in text:
            low, high = (int(part) for part in text.split(":"))
            return list(range(low, high + 1))
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"ranks must be A:B or A,B,...; got {text!r}") from None


def _loss(text: str):
    """A loss name, or a real beta given as a number."""
    try:
        return float(text)
    except ValueError:
        return text


def _read_data(args, *, dense: bool = True, path=None):
    """The matrix named on the command line (rows as samples after ``--transpose``, where offered).

    A coordinate ``.mtx`` file is sparse; ``dense=True`` makes it dense for
    the commands and backends that need it.
    """
    from .data import is_sparse
    from .io import read_matrix

    V = read_matrix(args.file if path is None else path, key=args.key, skip_header=args.skip_header,
                    row_names=getattr(args, "row_names", False))
    if dense and is_sparse(V):
        V = V.toarray()
    return V.T if getattr(args, "transpose", False) else V


#: What ``fit --online`` refuses, with what it offers instead.
_NOT_ONLINE = {"mask": "a mask", "restarts": "restarts", "sketch": "--sketch", "l1_W": "penalties",
               "l2_W": "penalties", "l1_H": "penalties", "l2_H": "penalties"}


def _fit_online(args, prefix) -> int:
    """``fit --online``: :func:`nmflab.online.online_nmf` over the file's blocks of rows."""
    from .io import read_matrix, write_online_result
    from .online import online_nmf

    defaults = {"mask": None, "restarts": 1, "sketch": None, "l1_W": 0.0, "l2_W": 0.0, "l1_H": 0.0, "l2_H": 0.0}
    for name, what in _NOT_ONLINE.items():
        if getattr(args, name) != defaults[name]:
            raise ValueError(f"--online takes no {what}; fit without --online for that")
    if args.backend != "numpy" or args.transpose:
        raise ValueError("--online runs on the NumPy backend over rows of the file as stored (no --transpose)")
    V = read_matrix(args.file, key=args.key, skip_header=args.skip_header, row_names=args.row_names,
                    memory_map=True)
    stop = args.stop if args.stop else "objective"
    result = online_nmf(V, args.rank, loss=args.loss, method=args.method, block_rows=args.block_rows,
                        forgetting=args.forgetting, max_iter=args.max_iter or 100, tol=args.tol, stop=stop,
                        iterate_tol=args.iterate_tol, time_limit=args.time_limit, eps=args.eps, seed=args.seed,
                        dtype=args.dtype)
    npz_path, json_path = write_online_result(result, prefix, overwrite=args.overwrite,
                                              extra={"input": str(args.file)})
    print(f"online {result.method} ({result.loss}), rank {args.rank}: {result.passes} passes over {V.shape[0]} rows, "
          f"loss per row {result.final_objective:.6g}; {result.status.message}")
    print(f"wrote {npz_path} and {json_path}")
    return 0


def _theory(module: str):
    """``theory.<module>``, imported only by the sub-command that needs it."""
    import importlib

    try:
        return importlib.import_module(f"theory.{module}")
    except ImportError as exc:  # pragma: no cover - theory ships with nmflab
        raise ImportError(f"this command needs theory.{module} of nmflab: {exc}") from exc


def _fit(args) -> int:
    from pathlib import Path

    from .api import nmf
    from .io import output_paths, write_result
    from .sketch import Sketch

    prefix = args.out or str(Path(args.file).with_suffix("")) + ".nmf"
    output_paths(prefix, overwrite=args.overwrite)  # before the fit: a refused output must not cost a fit
    if args.online:
        return _fit_online(args, prefix)
    V = _read_data(args, dense=args.backend != "numpy")  # the NumPy backend fits a sparse V as it is
    mask = None if args.mask is None else _read_data(args, path=args.mask)
    result = nmf(
        V,
        args.rank,
        loss=args.loss,
        method=args.method,
        init=args.init,
        restarts=args.restarts,
        max_iter=args.max_iter,
        tol=args.tol,
        eps=args.eps,
        check_every=args.check_every,
        stop=args.stop,
        iterate_tol=args.iterate_tol,
        kkt_tol=args.kkt_tol,
        patience=args.patience,
        time_limit=args.time_limit,
        backend=args.backend,
        seed=args.seed,
        dtype=args.dtype,
        mask=mask,
        missing=args.missing,
        l1_W=args.l1_W,
        l2_W=args.l2_W,
        l1_H=args.l1_H,
        l2_H=args.l2_H,
        progress=sys.stderr.isatty() if args.progress is None else args.progress,
        sketch=None if args.sketch is None else Sketch(size=args.sketch or None, power_iterations=args.sketch_power),
    )
    npz_path, json_path = write_result(
        result, prefix, overwrite=args.overwrite, extra={"input": str(args.file), "transposed": bool(args.transpose)}
    )
    print(repr(result))
    if result.sketch is not None:
        print(f"sketch: {result.sketch.size} columns, {result.sketch.power_iterations} power iterations, "
              f"missing {result.sketch.residual:.3g} of ||V||; objective {result.sketch.compressed_objective:.6g} on "
              f"the sketch, {result.final_objective:.6g} on V")
    print(result.summary(V, mask))
    print(f"wrote {npz_path} and {json_path}")
    return 0


def _demo(args) -> int:
    from .demo import run_demo, run_reference

    if args.reference:
        run_reference(args.data, backend=args.backend)
    else:
        run_demo(args.out, seed=args.seed, backend=args.backend, figures=not args.no_figures)
    return 0


def _survey(args) -> int:
    """Rank survey; the stability studies live in ``theory``, imported only here."""
    from pathlib import Path

    from .io import check_writable

    store = check_writable(args.store or str(Path(args.file).with_suffix("")) + ".survey", directory=True)
    rank_survey = _theory("survey").rank_survey
    V = _read_data(args, dense=args.backend == "jax")  # a sparse .mtx is surveyed sparse on NumPy
    labels = None
    if args.labels is not None:
        labels = [line.strip() for line in Path(args.labels).read_text().splitlines() if line.strip()]
        if len(labels) != V.shape[0]:
            raise ValueError(f"{args.labels} has {len(labels)} labels for {V.shape[0]} samples (one per line)")
    fit = {"method": args.method}
    for name in ("loss", "backend", "dtype"):
        if getattr(args, name) is not None:
            fit[name] = getattr(args, name)
    workers = _theory("survey").available_cores() if args.workers is None else args.workers
    result = rank_survey(V, args.ranks, args.restarts, seed=args.seed, chunk=args.chunk, null=args.null,
                         store=store, workers=workers, progress=False if args.no_progress else None, **fit)
    table = result.to_csv(store / "measures.csv")
    print(result.format())
    print(f"{result.computed_tasks} tasks computed, {result.loaded_tasks} loaded from {store}; "
          f"{result.seconds:.1f} s; table in {table}")
    if not args.no_figures:
        for path in _theory("plots").save_survey_figures(result, store, labels=labels):
            print(f"wrote {path}")
    return 0


def _bounds(args) -> int:
    """Non-negative rank bounds; ``theory.nnrank`` (cvxpy, z3) is imported only here."""
    import json

    from .io import atomic_write_bytes, atomic_write_npz, check_writable

    for output in (args.json, args.certificate):  # before the computation, which may take minutes
        if output:
            check_writable(output, overwrite=args.overwrite)
    nonneg_rank_bounds = _theory("nnrank").nonneg_rank_bounds
    M = _read_data(args)
    methods = args.methods if args.methods in ("auto", "all") else [m.strip() for m in args.methods.split(",")]
    result = nonneg_rank_bounds(M, methods=methods, time_limit=args.time_limit, seed=args.seed, progress=args.progress)
    print(result.table())
    if args.json:
        atomic_write_bytes(args.json, (json.dumps(result.to_dict(), indent=2, default=float) + "\n").encode())
        print(f"wrote {args.json}")
    if args.certificate:
        cert = result.certificate
        atomic_write_npz(args.certificate, W=cert.W.astype(float), H=cert.H.astype(float))
        print(f"wrote {args.certificate}")
    return 0


def _import_rule_modules(argv) -> None:
    """Import the modules named by ``--import`` before the parser is built, so their methods are choices."""
    import importlib

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--import", dest="imports", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    for module in known.imports:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ImportError(f"--import {module}: {exc}") from None


def main(argv=None) -> int:
    """Entry point of the ``nmflab`` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        _import_rule_modules(argv)
    except ImportError as exc:
        print(f"nmflab: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"fit": _fit, "demo": _demo, "survey": _survey, "bounds": _bounds}
    previous = _interrupt_on_sigterm()
    try:
        return handlers[args.command](args)
    except (ValueError, TypeError, ImportError, OSError) as exc:  # OSError: FileNotFound, FileExists, Permission...
        message = exc
        if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, (FileNotFoundError, FileExistsError)):
            message = exc.strerror + (f": {exc.filename}" if exc.filename else "")
        print(f"nmflab {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nmflab {args.command}: interrupted{_saved_work(args)}", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)


def _interrupt_on_sigterm():
    """Treat SIGTERM (what ``timeout`` and batch schedulers send) as an interrupt: the same clean exit as Ctrl-C.

    Returns the handler it replaced (None off the main thread, where signals cannot be handled).
    """
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, interrupt)


def _saved_work(args) -> str:
    """What an interrupted command kept: the tasks of a survey's store (it resumes from them)."""
    if args.command != "survey":
        return ""
    from pathlib import Path

    store = Path(args.store or str(Path(args.file).with_suffix("")) + ".survey")
    saved = len(list(store.glob("*-rank*.npz"))) if store.is_dir() else 0
    return f"; {saved} tasks saved in {store}: run the same command again to resume"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
