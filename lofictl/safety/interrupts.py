"""Ctrl-C and SIGTERM during a build: stop at the next checkpoint, keep outputs, stay quiet.

A KeyboardInterrupt raised by Python's default handler can land anywhere, including inside a
garbage-collector callback that JAX registers, where Python prints "Exception ignored" and
carries on: the build then ran to the end and replaced the outputs. So `guard()` installs a
handler that remembers the signal as well as raising, and `checkpoint()` (called by the
progress display at every step and by the commit just before it swaps folders) raises again
while a signal is pending. A build that was interrupted never commits.

Worker processes ignore SIGINT (the terminal sends it to the whole process group): the parent
decides, and `worker_pool` terminates its workers when it stops, so no child prints a
traceback or keeps writing into a staging folder that is being deleted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Iterator

_pending: list[int] = []
_depth: list[int] = [0]  # guards inside guards (the CLI's around a command, the build's inside it)


def pending() -> int | None:
    """The signal number that asked the build to stop, if any."""
    return _pending[0] if _pending else None


def _handler(signum, frame) -> None:  # noqa: ARG001 - the signal module's signature
    _pending.append(signum)
    raise KeyboardInterrupt


def checkpoint() -> None:
    """Raise KeyboardInterrupt if a stop was asked for (even if an earlier raise was swallowed)."""
    if _pending:
        raise KeyboardInterrupt


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as above while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # A worker that ignores Ctrl-C (see ignore_in_worker) keeps ignoring it: its parent decides.
    previous = {
        sig: signal.getsignal(sig)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    hook = sys.unraisablehook
    if _depth[0] == 0:
        _pending.clear()  # a new command or build starts with no stop pending
    _depth[0] += 1
    for sig in previous:
        signal.signal(sig, _handler)
    sys.unraisablehook = _quiet_unraisable(hook)
    try:
        yield
        checkpoint()  # a stop asked for at the very end still counts
    finally:
        _depth[0] -= 1
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = hook


def _quiet_unraisable(hook):
    """Drop the "Exception ignored in <gc callback>: KeyboardInterrupt" report: the stop was
    remembered and `checkpoint` raises it again where it can propagate."""

    def report(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and _pending:
            return
        hook(unraisable)

    return report


def exit_code() -> int:
    """130 for Ctrl-C, 143 for SIGTERM (128 + the signal), as shells report them."""
    return 128 + (pending() or signal.SIGINT)


def quiet_startup() -> None:
    """For the `lofictl` program, before its imports: a signal while Python is still importing
    (seconds on a busy machine) leaves at once and quietly; nothing has been written yet."""

    def leave(signum, frame) -> None:  # noqa: ARG001
        quiet_exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, leave)


def ignore_in_worker() -> None:
    """Initializer of worker processes: the parent handles interrupts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A spawn-context process pool whose workers ignore Ctrl-C and are ended when it stops early.

    spawn, not fork: forking a process that runs JAX/FluidSynth threads can deadlock the child.
    """
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=ignore_in_worker)
    try:
        yield pool
    except BaseException:
        processes = list(getattr(pool, "_processes", {}).values())  # no public handle on the workers
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(5)
        raise
    else:
        pool.shutdown(wait=True)


def quiet_exit(code: int) -> None:
    """Leave at once after an interrupt: no interpreter teardown, where JAX's threads can crash it."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
