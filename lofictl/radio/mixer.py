"""The air: ready tracks joined by bar-aligned crossfades, and what fills in when none is ready.

`Air.read` is called by the pacer a block at a time and never waits. At each track's fade-out
it takes the next ready track from the producer; when there is none the stream does not stop:
it replays the most recent track still on disk (or, before the first track is built, a bed of
the project's own procedural vinyl and rain), and fades out of that filler at its next bar as
soon as a real track is ready.

A track whose audio has gone from disk (the work folder deleted under the station) is skipped
and reported through `on_missing`; a lost bed is written again. The stream goes on.

What is on air is decided by the air clock (`advance_clock`), the real-time position listeners
hear, not by how far ahead the mixer has read.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from lofictl.errors import LofictlError
from lofictl.radio.producer import ReadyTrack, WorkFolder
from lofictl.sound.sequence import Clip, Sequencer

BED_SECONDS = 24.0
BED_BAR_SECONDS = 3.0  # the bed has no tempo; a "bar" is where it may fade out


@dataclass(frozen=True)
class Entry:
    """One clip on the air timeline."""

    kind: str  # track | replay | bed
    track: ReadyTrack | None
    start: int  # stream frame where it starts fading in
    air: int  # stream frame from which it is the one heard (middle of its fade-in)

    def public(self, frame: int, sample_rate: int) -> dict:
        info = self.track.public() if self.track else {"title": "Warming up", "number": None}
        return {**info, "kind": self.kind, "position_s": round(max(0, frame - self.start) / sample_rate, 2)}


def make_bed(path: Path, sample_rate: int, seed: int) -> Clip:
    """A quiet bed of vinyl crackle and rain, for the seconds before the first track is ready."""
    from lofictl.sound import ambience
    from lofictl.sound.audio_io import write_wav
    from lofictl.sound.mix import apply_gain_pan

    frames = int(BED_SECONDS * sample_rate)
    bed = apply_gain_pan(ambience.generate("vinyl", frames, sample_rate, seed), -20.0, 0.0) + apply_gain_pan(
        ambience.generate("rain", frames, sample_rate, seed + 1), -22.0, 0.0
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, bed.astype(np.float32), sample_rate)
    bar_frames = BED_BAR_SECONDS * sample_rate
    return Clip(path, frames, bar_frames, int(frames // bar_frames), ("bed", None))


def track_clip(track: ReadyTrack, kind: str = "track") -> Clip:
    """A track as a clip of the sequence; its label says (kind, track) for the timeline."""
    return Clip(Path(track.master), track.frames, track.bar_frames, track.bars, (kind, track))


class Air:
    def __init__(
        self,
        take: Callable[[], ReadyTrack | None],
        has_ready: Callable[[], bool],
        work: WorkFolder,
        bed: Clip,
        crossfade_bars: int,
        sample_rate: int,
        on_air: Callable[[Entry, Entry | None], None] | None = None,
        on_missing: Callable[[ReadyTrack], None] | None = None,
        remake_bed: Callable[[], Clip] | None = None,
    ):
        self.take = take
        self.has_ready = has_ready
        self.work = work
        self.bed = bed
        self.sample_rate = sample_rate
        self.on_air = on_air or (lambda entry, previous: None)
        self.on_missing = on_missing or (lambda track: None)
        self.remake_bed = remake_bed
        # Shared between the pacer and the HTTP threads, under _lock: the timeline, the entry on
        # air and a listener's skip. Everything else is the pacer's alone.
        self._lock = threading.Lock()
        self._timeline: deque[Entry] = deque(maxlen=64)  # entries by start, newest last
        self._aired: Entry | None = None  # the entry heard at the air clock
        self._skip: int | None = None  # number of the track a listener asked to skip
        self._playing: Clip | None = None
        self.sequencer = Sequencer(self._supply, crossfade_bars, self._started)
        self.replays = 0

    # --- the mixer side (the pacer's thread) ---------------------------------------------------

    def _supply(self) -> Clip:
        while (track := self.take()) is not None:
            if Path(track.master).is_file():
                return track_clip(track)
            self.on_missing(track)
        recent = self.work.recent()
        if self._playing is not None and self._playing.label[1] is not None:
            fading = self._playing.label[1]  # the track fading out now is the newest played one
            recent = [t for t in recent if t.number != fading.number] + [fading]
        recent = [t for t in recent if Path(t.master).is_file()]
        if recent:
            self.replays += 1
            return track_clip(recent[-1], "replay")
        if not self.bed.path.is_file() and self.remake_bed is not None:
            self.bed = self.remake_bed()
        return self.bed

    def _started(self, clip: Clip, start: int, air: int) -> None:
        kind, track = clip.label
        with self._lock:
            self._timeline.append(Entry(kind, track, start, air))

    def read(self, count: int) -> np.ndarray:
        current = self.sequencer.current
        with self._lock:  # taken and reset at once: a skip asked meanwhile waits for the next block
            skip, self._skip = self._skip, None
        if current is not None and not self.sequencer.fading and self.has_ready():
            kind, track = current.label
            if kind != "track":  # leave the filler at its next bar line, with the usual crossfade
                self.sequencer.fade_now(bars=self.sequencer.crossfade_bars)
            elif skip is not None and track is not None and track.number == skip:
                self.sequencer.fade_now(bars=1)  # a skip: out within a bar, on the beat
        try:
            block = self.sequencer.read(count)
        except LofictlError:
            # A file went between the check in _supply and its opening: the sequencer has not
            # taken that clip, so a second read asks for the next one (the bed at worst).
            block = self.sequencer.read(count)
        now = self.sequencer.current
        if now is not self._playing:
            finished, self._playing = self._playing, now
            if finished is not None and finished.label[1] is not None:
                self.work.played(finished.label[1])
        return block

    def request_skip(self, number: int) -> bool:
        """Ask for the next track at track `number`'s next bar line; False when none is ready yet
        (or that track is already on its way out)."""
        current = self.sequencer.current
        if not self.has_ready() or current is None or current.label[1] is None or self.sequencer.fading:
            return False
        if current.label[1].number != number:
            return False
        with self._lock:
            self._skip = number
        return True

    # --- the clock side ------------------------------------------------------------------------

    def advance_clock(self, frame: int) -> None:
        """The air clock reached `frame`: tell `on_air` when what is heard changes."""
        with self._lock:
            heard = None
            for entry in self._timeline:
                if entry.air <= frame:
                    heard = entry
            if heard is None or heard is self._aired:
                return
            previous, self._aired = self._aired, heard
        self.on_air(heard, previous)

    def now(self, frame: int) -> dict | None:
        with self._lock:
            entry = self._aired
        return entry.public(frame, self.sample_rate) if entry else None

    @property
    def aired(self) -> Entry | None:
        with self._lock:
            return self._aired

    def timeline(self) -> list[Entry]:
        with self._lock:
            return list(self._timeline)

    def close(self) -> None:
        self.sequencer.close()
