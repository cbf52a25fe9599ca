"""The producer (lofictl/radio/producer.py) on its own: the queue it keeps, the order it builds in,
failures, stop. Its builder here writes each track's files straight away (support.radio.ready_track)
instead of running a build in a worker process, so what is tested is the producer's own logic;
the real builds are the live tests' (tests/radio/test_live.py)."""

from __future__ import annotations

import threading
from dataclasses import asdict

import pytest

from lofictl.radio.producer import Producer, ReadyTrack, WorkFolder
from support.radio import ready_track, wait_for


class QuickBuilder:
    """Answers like BuildWorker: ("ok", track fields), ("error", message) for the numbers in
    `fail`, ("stopped", "") once the producer stops while `hold` is set."""

    def __init__(self, work: WorkFolder, fail: tuple[int, ...] = ()):
        self.work = work
        self.fail = set(fail)
        self.asked: list[int] = []
        self.stopped = False
        self.hold = threading.Event()

    def build(self, number: int, stop: threading.Event) -> tuple[str, dict | str]:
        self.asked.append(number)
        if self.hold.is_set():
            stop.wait(30)
            return "stopped", ""
        if number in self.fail:
            return "error", f"track {number} broke"
        return "ok", asdict(ready_track(self.work.tracks, number))

    def stop(self, timeout: float = 10.0) -> None:
        self.stopped = True


class Made:
    def __init__(self, folder, start: int = 0, queue: int = 2, fail: tuple[int, ...] = ()):
        self.work = WorkFolder(folder / "work", keep_played=2)
        self.work.open()
        self.builder = QuickBuilder(self.work, fail)
        self.built: list[int] = []
        self.failed: list[tuple[int, str]] = []
        self.logs: list[str] = []
        self.producer = Producer(
            folder / "station.yaml",
            self.work,
            start,
            queue,
            1,
            self.logs.append,
            on_built=lambda track: self.built.append(track.number),
            on_failed=lambda number, message: self.failed.append((number, message)),
            worker=self.builder,
        )

    def ready(self) -> list[int]:
        return [t.number for t in self.producer.queued()]

    def close(self) -> None:
        self.producer.stop()
        self.work.close()


@pytest.fixture
def made(tmp_path):
    made = Made(tmp_path, start=5)
    yield made
    made.close()


def test_it_keeps_the_queue_full_in_order_and_builds_the_next_when_one_is_taken(made):
    made.producer.start()
    wait_for(lambda: made.ready() == [5, 6], 5, "two tracks ready", every=0.01)
    threading.Event().wait(0.2)  # room for a third build, if the producer were wrong to start it
    assert made.builder.asked == [5, 6] and made.built == [5, 6]
    track = made.producer.take()
    assert isinstance(track, ReadyTrack) and track.number == 5
    wait_for(lambda: made.ready() == [6, 7], 5, "the next track", every=0.01)
    assert made.builder.asked == [5, 6, 7]
    status = made.producer.status()
    assert status["ready"] == [6, 7] and status["built"] == 3 and status["failed"] == 0 and status["rtf"] > 0
    assert any("built track 7: Track 7" in line for line in made.logs)


def test_take_never_waits_and_says_none_when_nothing_is_ready(made):
    assert made.producer.take() is None and not made.producer.has_ready()


def test_a_failed_track_is_reported_and_the_next_number_built(tmp_path):
    made = Made(tmp_path, start=0, queue=2, fail=(1,))
    try:
        made.producer.start()
        wait_for(lambda: made.ready() == [0, 2], 5, "tracks 0 and 2", every=0.01)
        assert made.failed == [(1, "track 1 broke")]
        assert made.producer.status()["failed"] == 1
        assert any("track 1 failed and is skipped: track 1 broke" in line for line in made.logs)
    finally:
        made.close()


def test_stop_ends_a_build_in_progress_and_clears_what_it_left(made):
    made.builder.hold.set()  # the next build runs until the producer stops it
    staging = made.work.tracks / ".0000005.tmp-123"
    (staging / "stems").mkdir(parents=True)
    made.producer.start()
    wait_for(lambda: made.builder.asked == [5], 5, "a build in progress", every=0.01)
    assert made.producer.status()["building"] == 5
    made.producer.stop()
    assert made.builder.stopped and not staging.exists()
    assert made.ready() == [] and made.built == []
    made.producer.stop()  # again: nothing left to do, no error
