"""A call in a child process that is stopped at a deadline: for solvers that do not keep their own time limit.

Clarabel checks its time limit between interior-point iterations, and an
iteration of τ₊^sos on the 13-gon's slack matrix (a 144 x 144 moment
matrix, about 10⁴ constraints) takes about ten seconds: given 13 s it
returned after 39. A bound that is to keep a schedule's clock runs in a
child process instead, which is killed when its time is up; the parent
loses only that call's work.

Children are forked from multiprocessing's fork server, a clean process
that has imported cvxpy and run nothing: forking the caller itself would
copy thread pools that do not survive a fork (Clarabel's, after a solve in
the caller: the child then waits for ever; JAX's runtime). The function and
its arguments must pickle (module-level functions, arrays). The server
starts with the first call (about two seconds); each call then costs a
fork.
"""

from __future__ import annotations

import functools
import multiprocessing
import traceback

__all__ = ["Timeout", "call_with_deadline"]


class Timeout(Exception):
    """The call did not return within its seconds (the child was killed)."""


def _child(connection, function, args, kwargs):  # pragma: no cover - runs in the child process
    try:
        result = ("value", function(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent
        result = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    try:
        connection.send(result)
    finally:
        connection.close()


@functools.cache
def _context():
    """The fork-server context, its server importing cvxpy (what the children run) before it forks any."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["numpy", "cvxpy", __name__])
    return context


def call_with_deadline(function, args=(), kwargs=None, *, seconds: float):
    """``function(*args, **kwargs)`` in a child process; its value, or :class:`Timeout` after ``seconds``.

    An exception in the child is raised here as a ``RuntimeError`` carrying
    its type, message and traceback.
    """
    context = _context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, function, tuple(args), dict(kwargs or {})), daemon=True)
    process.start()
    send.close()  # the child holds its end: a child that dies without sending leaves the pipe at EOF
    try:
        if not receive.poll(max(float(seconds), 0.0)):
            raise Timeout(f"no result within {seconds:.3g} s")
        try:
            kind, value = receive.recv()
        except EOFError:
            process.join()  # its end of the pipe is closed: it is exiting; reaped, it has an exit code
            raise RuntimeError(f"the child process ended without a result (exit code {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receive.close()
    if kind == "error":
        raise RuntimeError(value)
    return value
