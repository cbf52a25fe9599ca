"""Where builds run: in this process, on a Dask LocalCluster, or on an existing Dask scheduler.

Every task lofictl submits is a pure function of plain, picklable values (a recipe path and
its sha256, a seed, overrides, the cache's location), and it writes nothing but content-
addressed cache objects; its outputs come back through the cache. So the bytes are the same
whichever runner, worker count or completion order, and a worker that dies mid-task is simply
run again by Dask (the scheduler reschedules the tasks of a lost worker) with nothing to undo.

    with open_runner(jobs=2) as runner:            # LocalCluster, 2 worker processes
    with open_runner(scheduler="tcp://host:8786"):  # `dask scheduler` + `dask worker` elsewhere
    with open_runner():                             # serial, in this process
        future = runner.submit(fn, arg, key="track-01")
        for future in runner.as_completed([future]): future.result()
"""

from __future__ import annotations

import contextlib
import logging
import os
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator

from lofictl.errors import LofictlError


def cpu_threads(limit: int = 4) -> int:
    """Threads worth running side by side here: the CPUs this process may use, at most `limit`."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        count = os.cpu_count() or 1
    return max(1, min(limit, count))


class SerialRunner:
    """Runs each task when it is submitted, in this process (no cluster to start)."""

    name = "serial"
    workers = 1

    def preload(self, modules: tuple[str, ...]) -> None:
        pass  # this process imports what it needs as it goes

    def submit(self, fn: Callable, *args: Any, key: str | None = None, priority: int = 0) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # delivered by .result(), as a Dask future would
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future

    def as_completed(self, futures: Iterable) -> Iterator:
        yield from futures

    def close(self) -> None:
        pass


WORKER_WAIT_S = 120.0  # how long a build waits with no Dask worker before it gives up
POLL_S = 1.0
REPORT_EVERY_S = 10.0


def worker_wait_s() -> float:
    """$LOFICTL_DASK_WAIT (seconds), else WORKER_WAIT_S."""
    text = os.environ.get("LOFICTL_DASK_WAIT", "").strip()
    if not text:
        return WORKER_WAIT_S
    try:
        value = float(text)
    except ValueError:
        raise LofictlError(f"LOFICTL_DASK_WAIT={text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise LofictlError(f"LOFICTL_DASK_WAIT={text!r} must be from 0 to 86400 seconds")
    return value


class DaskRunner:
    """Tasks on a dask.distributed Client (its own LocalCluster, or a scheduler's workers).

    A scheduler with no worker would hold the tasks forever: while none is there the runner
    says so every REPORT_EVERY_S seconds, and gives up after `wait_s` (exit 2, a clear line)."""

    def __init__(self, client, cluster=None, name: str = "dask", *, wait_s: float | None = None, log=None):
        self.client = client
        self.cluster = cluster
        self.name = name
        self.wait_s = worker_wait_s() if wait_s is None else wait_s
        self.log = log or (lambda text: None)

    def _count_workers(self) -> int:
        try:
            return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        except TypeError:  # an older distributed without n_workers
            return len(self.client.scheduler_info().get("workers", {}))

    @property
    def workers(self) -> int:
        return max(1, self._count_workers())

    def _no_workers(self, since: float) -> None:
        """Called while there is no worker: report, and give up once `wait_s` has passed."""
        import time

        waited = time.monotonic() - since
        if waited >= self.wait_s:
            raise LofictlError(
                f"no Dask worker joined {self.name} in {waited:.0f} s; start one with `dask worker "
                "ADDRESS` (or build without --scheduler); LOFICTL_DASK_WAIT sets how long to wait"
            )
        if int(waited // REPORT_EVERY_S) != int((waited - POLL_S) // REPORT_EVERY_S) or waited < POLL_S:
            self.log(f"waiting for a Dask worker on {self.name} ({waited:.0f} s of {self.wait_s:.0f} s)")

    def preload(self, modules: tuple[str, ...]) -> None:
        """Every worker imports these now and keeps them (cluster.preload), and so does each
        worker that joins later."""
        from lofictl.cluster.preload import Preload

        self.client.register_plugin(Preload(modules))

    def submit(self, fn: Callable, *args: Any, key: str | None = None, priority: int = 0):
        # pure=False: a key names one task of this build; Dask must not merge it with another
        # submission that merely looks the same. Worker loss is retried by the scheduler itself.
        # A higher priority runs before tasks submitted earlier (the start of a long chain).
        return self.client.submit(fn, *args, key=key, pure=False, priority=priority)

    def as_completed(self, futures: Iterable) -> Iterator:
        """Each future as it finishes; waits for workers as the class says."""
        import time

        from distributed import wait

        remaining = list(futures)
        idle_since: float | None = None
        while remaining:
            try:
                done = wait(remaining, timeout=POLL_S, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            finished = [f for f in remaining if f in done]
            remaining = [f for f in remaining if f not in done]
            yield from finished
            if finished or self._count_workers() > 0:
                idle_since = None
                continue
            idle_since = time.monotonic() if idle_since is None else idle_since
            self._no_workers(idle_since)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def local_cluster(workers: int):
    """A LocalCluster of `workers` single-threaded processes, quiet, on the loopback only.

    Its HTTP server takes a free port (":0"): even without a dashboard it binds one, and the
    default 8787 would clash with a second build running beside this one.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ()}):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )


def worker_environ() -> dict:
    """What Dask sets in a worker's environment before it starts, less MALLOC_TRIM_THRESHOLD_.

    Setting it freezes glibc's mmap threshold at 128 KiB, so every block of audio a task
    allocates (a stem's 65536 frames are 512 KiB) is a fresh mmap, zeroed page by page and
    unmapped when freed: a build task took 1.8x the CPU in a worker that it takes here (a numpy
    copy of such a block 0.185 s against 0.105 s). Without it glibc adapts, as in any process.
    """
    import dask

    environ = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    return {name: value for name, value in environ.items() if name != "MALLOC_TRIM_THRESHOLD_"}


@contextlib.contextmanager
def open_runner(*, jobs: int = 1, scheduler: str | None = None, client=None, timeout: str = "10s", log=None):
    """The runner for these options; closes what it started (never a scheduler it was given).
    `log` hears about waits for a Dask worker."""
    if client is not None:
        yield DaskRunner(client, name="dask client", log=log)
        return
    if scheduler is not None:
        from distributed import Client

        try:
            connected = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise LofictlError(
                f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                "`dask scheduler` and workers with `dask worker ADDRESS`"
            ) from None
        runner = DaskRunner(connected, name=f"the scheduler at {scheduler}", log=log)
        try:
            yield runner
        finally:
            connected.close()
        return
    if jobs <= 1:
        yield SerialRunner()
        return
    from distributed import Client

    cluster = local_cluster(jobs)
    runner = DaskRunner(Client(cluster), cluster, name=f"LocalCluster, {jobs} workers", log=log)
    try:
        yield runner
    finally:
        runner.close()


@contextlib.contextmanager
def open_runner_soon(*, preload: Callable[[], tuple[str, ...]] | None = None, **options) -> Iterator[Callable[[], Any]]:
    """open_runner, started in a thread while the caller gets on with something else (an album
    checks its tracks while the LocalCluster's workers start and import what `preload()` names).
    Yields a function that waits for the runner; closes it at the end, started or not."""
    from concurrent.futures import ThreadPoolExecutor

    stack = contextlib.ExitStack()

    def start():
        runner = stack.enter_context(open_runner(**options))
        if preload is not None and isinstance(runner, DaskRunner):
            runner.preload(preload())
        return runner

    pool = ThreadPoolExecutor(1, thread_name_prefix="lofictl-runner")
    future = pool.submit(start)
    pool.shutdown(wait=False)
    try:
        yield future.result
    finally:
        try:
            future.result()  # a runner still starting is waited for, so that it is closed
        except Exception:
            pass  # reported by the caller's wait, if it waited
        finally:
            stack.close()
