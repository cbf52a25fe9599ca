"""The running station's own bookkeeping (lofictl/radio/run.py), without starting it: stop() once
whoever calls it, and what the pacer reports on air reaching the database through the writer,
with a listener's skip never lost between the HTTP thread and the pacer."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from lofictl.radio.db import Ratings, Writer
from lofictl.radio.mixer import Entry
from lofictl.radio.run import RadioStation
from lofictl.radio.station import load_station
from support import SMALL_RECIPE
from support.radio import RATE, ready_track

STATION = """\
station: 1
title: Run FM
seed: 5
recipes:
  - {file: loop.yaml}
crossfade: 1
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    project = tmp_path_factory.mktemp("radio-run")
    (project / "recipes").mkdir()
    (project / "recipes" / "loop.yaml").write_text(SMALL_RECIPE)
    (project / "recipes" / "station.yaml").write_text(STATION)
    return load_station(project / "recipes" / "station.yaml")


def test_stop_runs_once_whoever_calls_it_and_every_caller_returns(loaded):
    logs: list[str] = []
    radio = RadioStation(loaded, serve_http=False, log=logs.append)
    callers = [threading.Thread(target=radio.stop) for _ in range(4)]
    for caller in callers:
        caller.start()
    radio.stop()
    for caller in callers:
        caller.join(10)
    assert not any(caller.is_alive() for caller in callers)
    assert radio.stopping and radio.wait(0) and radio.ring.closed
    assert radio.failure is None and logs == []  # never started: nothing to say


def test_plays_reach_the_database_in_order_and_a_skip_asked_meanwhile_is_kept(loaded, tmp_path):
    radio = RadioStation(loaded, serve_http=False, log=lambda line: None)
    radio.db = Ratings(tmp_path / "r.db", "run")
    radio.writer = Writer(radio.db, radio._fail)
    tracks = [ready_track(tmp_path, n) for n in range(3)]
    entries = [Entry("track", track, n * RATE, n * RATE + 100) for n, track in enumerate(tracks)]
    radio._on_air(entries[0], None)
    # A listener skips track 1 as soon as the air says it is on: the HTTP thread records the skip
    # before the pacer has finished reporting the change from track 0 to track 1.
    with radio._lock:
        radio._skipped = 1
    radio._on_air(entries[1], entries[0])
    radio._on_air(entries[2], entries[1])
    radio._air_frame = entries[2].air + RATE // 2
    radio.stop()  # the play on air ends "stop"; every queued write is in before stop() returns
    assert radio.failure is None
    with sqlite3.connect(tmp_path / "r.db") as db:
        plays = db.execute("SELECT number, kind, seconds, ended_by FROM plays ORDER BY id").fetchall()
    assert plays == [(0, "track", 1.0, "next"), (1, "track", 1.0, "skip"), (2, "track", 0.5, "stop")]
    assert [(h["number"], h["ended_by"], h["likes"]) for h in radio.history] == [(1, "skip", 0), (0, "next", 0)]
