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

    def submit(self, fn: Callable, *args: Any, key: str | None = None) -> Future:
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


class DaskRunner:
    """Tasks on a dask.distributed Client (its own LocalCluster, or a scheduler's workers)."""

    def __init__(self, client, cluster=None, name: str = "dask"):
        self.client = client
        self.cluster = cluster
        self.name = name

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info(n_workers=-1).get("workers", {})))

    def submit(self, fn: Callable, *args: Any, key: str | None = None):
        # pure=False: a key names one task of this build; Dask must not merge it with another
        # submission that merely looks the same. Worker loss is retried by the scheduler itself.
        return self.client.submit(fn, *args, key=key, pure=False)

    def as_completed(self, futures: Iterable) -> Iterator:
        from distributed import as_completed

        yield from as_completed(list(futures))

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def local_cluster(workers: int):
    """A LocalCluster of `workers` single-threaded processes, quiet, on the loopback only.

    Its HTTP server takes a free port (":0"): even without a dashboard it binds one, and the
    default 8787 would clash with a second build running beside this one.
    """
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )


@contextlib.contextmanager
def open_runner(*, jobs: int = 1, scheduler: str | None = None, client=None, timeout: str = "10s"):
    """The runner for these options; closes what it started (never a scheduler it was given)."""
    if client is not None:
        yield DaskRunner(client, name="dask client")
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
        runner = DaskRunner(connected, name=f"scheduler {scheduler}")
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
    runner = DaskRunner(Client(cluster), cluster, name=f"LocalCluster, {jobs} workers")
    try:
        yield runner
    finally:
        runner.close()
