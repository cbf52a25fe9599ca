"""The air (lofictl/radio/mixer.py) on its own: ready tracks joined at bar lines, the bed before
the first one, a replay when none is ready, skips, lost audio, and what `on_air` is told.

Tracks are real WAV files of a constant level each (support.radio.ready_track: 4 bars of 0.1 s),
so a block's samples say which track it is; no build, no encoder, no server.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from lofictl.radio.mixer import Air, Entry
from lofictl.radio.producer import ReadyTrack, WorkFolder
from lofictl.sound.audio_io import write_wav
from lofictl.sound.sequence import Clip
from support.radio import RATE, ready_track

BAR = 4410
BED_LEVEL = np.float32(0.01)


class Station:
    """An air with a queue of ready tracks the test fills, and what it was told."""

    def __init__(self, folder: Path, keep_played: int = 2):
        self.work = WorkFolder(folder / "work", keep_played)
        self.work.open()
        bed_path = folder / "bed.wav"
        write_wav(bed_path, np.full((2, 8 * BAR), BED_LEVEL, dtype=np.float32), RATE)
        self.bed = Clip(bed_path, 8 * BAR, float(BAR), 8, ("bed", None))
        self.queue: deque[ReadyTrack] = deque()
        self.on_air: list[tuple[Entry, Entry | None]] = []
        self.missing: list[int] = []
        self.air = Air(
            lambda: self.queue.popleft() if self.queue else None,
            lambda: bool(self.queue),
            self.work,
            self.bed,
            1,
            RATE,
            lambda entry, previous: self.on_air.append((entry, previous)),
            on_missing=lambda track: self.missing.append(track.number),
        )
        self.frames: list[np.ndarray] = []

    def track(self, number: int) -> ReadyTrack:
        return ready_track(self.work.tracks, number, bar_frames=BAR)

    def read(self, frames: int, block: int = 1000) -> np.ndarray:
        for _ in range(0, frames, block):
            self.frames.append(self.air.read(block))
        return np.concatenate(self.frames, axis=1)

    def kinds(self) -> list[tuple[str, int | None]]:
        return [(e.kind, e.track.number if e.track else None) for e in self.air.timeline()]


@pytest.fixture
def station(tmp_path):
    made = Station(tmp_path)
    yield made
    made.air.close()
    made.work.close()


def level(track: int) -> np.float32:
    return np.float32(0.1 * (track + 1))


def test_the_bed_plays_until_a_track_is_ready_then_the_track_enters_at_the_beds_next_bar(station):
    audio = station.read(3000)
    assert np.all(audio == BED_LEVEL) and station.kinds() == [("bed", None)]
    station.queue.append(station.track(0))
    audio = station.read(3 * BAR)
    bed, track = station.air.timeline()
    assert (track.kind, track.track.number) == ("track", 0)
    assert track.start == BAR  # the bed's next bar line after frame 3000
    assert track.air == BAR + BAR // 2  # heard from the middle of its one-bar fade-in
    assert np.all(audio[:, :BAR] == BED_LEVEL)
    assert np.all(audio[:, 2 * BAR : 4 * BAR] == level(0))  # after the fade: the master, sample for sample
    fade = audio[0, BAR : 2 * BAR]  # equal-power: from the bed's level to the track's
    assert fade[0] == BED_LEVEL and abs(fade[-1] - level(0)) < 1e-3 and np.all(fade > BED_LEVEL * 0.99)


def test_on_air_follows_the_air_clock_not_the_mixer(station):
    station.queue.append(station.track(0))
    station.read(3 * BAR)  # the mixer is ahead; nothing is told until the clock gets there
    assert station.on_air == []
    station.air.advance_clock(0)
    assert [(e.kind, p) for e, p in station.on_air] == [("track", None)]
    station.air.advance_clock(BAR)  # the same entry: told once
    assert len(station.on_air) == 1
    assert station.air.aired.track.number == 0
    assert station.air.now(BAR // 2)["position_s"] == pytest.approx(BAR / 2 / RATE, abs=0.01)
    assert station.air.now(BAR // 2)["number"] == 0


def test_with_nothing_new_ready_the_newest_track_is_replayed_and_left_at_a_bar_line(station):
    station.queue.append(station.track(0))
    station.read(4 * BAR)  # track 0 fades out from bar 3: nothing is ready then
    assert station.kinds() == [("track", 0), ("replay", 0)]
    assert station.air.replays == 1
    station.queue.append(station.track(1))  # ready 4770 frames into the replay
    station.read(2 * BAR)
    assert station.kinds() == [("track", 0), ("replay", 0), ("track", 1)]
    replay, track = station.air.timeline()[1:]
    assert track.start - replay.start == 2 * BAR  # the filler is left at its next bar line, not played out


def test_a_skip_moves_to_the_next_track_at_the_next_bar_and_only_for_the_track_on_air(station):
    station.queue.append(station.track(0))
    station.read(BAR + 500)
    assert not station.air.request_skip(0)  # nothing ready to go to
    station.queue.append(station.track(1))
    assert not station.air.request_skip(7)  # not the track on air
    assert station.air.request_skip(0)
    station.read(2 * BAR)
    first, second = station.air.timeline()
    assert (second.kind, second.track.number) == ("track", 1)
    assert second.start == 2 * BAR  # track 0's next bar line, not its natural fade-out at bar 3
    assert np.all(np.concatenate(station.frames, axis=1)[:, : 2 * BAR] == level(0))


def test_a_skip_asked_from_another_thread_while_blocks_are_read_is_not_lost(station):
    station.queue.append(station.track(0))
    station.read(1000)
    station.queue.append(station.track(1))
    asked = threading.Event()

    def skip():
        asked.set()
        assert station.air.request_skip(0)

    thread = threading.Thread(target=skip)
    thread.start()
    asked.wait(5)
    thread.join(5)
    station.read(2 * BAR, block=100)  # the pacer's blocks: the skip is taken at the next one
    assert station.air.timeline()[1].start <= 2 * BAR


def test_a_track_whose_audio_is_gone_is_skipped_and_reported(station):
    lost, kept = station.track(0), station.track(1)
    Path(lost.master).unlink()
    station.queue.extend([lost, kept])
    station.read(2000)
    assert station.missing == [0] and station.kinds() == [("track", 1)]


def test_played_tracks_make_way_for_newer_ones_and_leave_their_piano_roll(tmp_path):
    station = Station(tmp_path, keep_played=1)
    tracks = [station.track(n) for n in range(3)]
    station.queue.extend(tracks)
    station.read(8 * BAR)  # one clip every 3 bars (4 bars, the last one faded): 0 and 1 played out, 2 on air
    try:
        assert station.kinds() == [("track", 0), ("track", 1), ("track", 2)]
        assert not Path(tracks[0].folder).exists()  # pushed out by 1, the one played track kept
        assert (station.work.history / "0.png").is_file()
        assert [t.number for t in station.work.recent()] == [1]
    finally:
        station.air.close()
        station.work.close()
