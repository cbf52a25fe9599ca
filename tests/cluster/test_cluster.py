"""Builds as tasks on a real Dask LocalCluster: the bytes do not depend on the runner, the worker
count or a worker dying mid-task."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from lofictl.pipeline.runner import lock_text
from support import SMALL_RECIPE, write_album


def _cluster(workers: int):
    from lofictl.cluster import local_cluster

    return local_cluster(workers)


def _kill_first_worker_running(client, prefix: str, done: threading.Event, killed: list) -> None:
    """Wait until a task whose key starts with prefix is processing, then SIGKILL its worker."""
    deadline = time.monotonic() + 120
    while not done.is_set() and time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(str(key).startswith(prefix) for key in keys):
                pids = client.run(os.getpid, workers=[address])
                os.kill(pids[address], signal.SIGKILL)
                killed.append(str(keys[0]))
                return
        time.sleep(0.05)


@pytest.mark.live  # Dask clusters
def test_album_lock_is_the_same_serial_one_worker_two_workers_and_after_a_worker_dies(tmp_path):
    from distributed import Client

    from lofictl.album.run import build_album

    path = write_album(tmp_path, name="dask")
    serial = build_album(path, out_dir=tmp_path / "serial", use_cache=False, quiet=True)
    assert serial.runner == "serial"

    with _cluster(1) as cluster, Client(cluster) as client:
        one = build_album(path, client=client, out_dir=tmp_path / "one", cache_dir=tmp_path / "cache-one", quiet=True)
    assert lock_text(one.lock) == lock_text(serial.lock)

    with _cluster(2) as cluster, Client(cluster) as client:
        done, killed = threading.Event(), []
        killer = threading.Thread(
            target=_kill_first_worker_running, args=(client, "lofictl-track", done, killed), daemon=True
        )
        killer.start()
        try:
            two = build_album(
                path, client=client, out_dir=tmp_path / "two", cache_dir=tmp_path / "cache-two", quiet=True
            )
        finally:
            done.set()
            killer.join(10)
        assert killed, "no worker was killed: the test did not test what it says"
    assert lock_text(two.lock) == lock_text(serial.lock)
    for rel, info in serial.lock["outputs"].items():
        assert (tmp_path / "two" / rel).stat().st_size == info["bytes"]


@pytest.mark.live  # a Dask cluster
def test_batch_build_on_a_local_cluster_equals_serial(write_recipe, project):

    from lofictl.pipeline.batch import build_many

    first = write_recipe(SMALL_RECIPE, "first")
    second = write_recipe(SMALL_RECIPE.replace("seed: 7", "seed: 8"), "second")
    parallel = build_many(
        [first, second], overrides=[], out_dir=None, midi_only=True, jobs=2, use_cache=False, quiet=True
    )
    locks = [Path(r.lock_path).read_text() for r in parallel]
    serial = build_many(
        [first, second], overrides=[], out_dir=None, midi_only=True, jobs=1, use_cache=False, quiet=True
    )
    assert [Path(r.lock_path).read_text() for r in serial] == locks
    assert [r.title for r in parallel] == ["Test Loop", "Test Loop"]


def test_unreachable_scheduler_is_one_clear_error():
    from lofictl.cluster import open_runner
    from lofictl.errors import LofictlError

    with pytest.raises(LofictlError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        with open_runner(scheduler="tcp://127.0.0.1:9", timeout="1s"):
            pass


def test_workers_keep_glibcs_adaptive_allocator():
    """Dask's MALLOC_TRIM_THRESHOLD_ made every audio block a fresh mmap in a worker (a build
    task took 1.8x the CPU there); the workers start without it, with Dask's other settings."""
    import dask
    from distributed import Client

    from lofictl.cluster import worker_environ

    defaults = dask.config.get("distributed.nanny.pre-spawn-environ")
    assert "MALLOC_TRIM_THRESHOLD_" in defaults  # what Dask would set
    assert worker_environ() == {k: v for k, v in defaults.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    cluster = _cluster(1)
    try:
        with Client(cluster) as client:
            seen = client.run(lambda: {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")})
    finally:
        cluster.close()
    assert list(seen.values()) == [{"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}]
    assert dask.config.get("distributed.nanny.pre-spawn-environ") == defaults  # set only while starting
