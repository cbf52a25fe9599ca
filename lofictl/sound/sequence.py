"""Tracks joined one after another by bar-aligned, equal-power crossfades, block by block.

Shared by the radio (an endless sequence whose next track is chosen at the last moment) and
anything that sequences finished tracks (an album's continuous mix). Each track is a `Clip`: a
float32 stereo WAV and its bar grid. The next clip starts on a bar line of the outgoing one,
`crossfade_bars` bars before the end of its music, and fades in over exactly those bars while
the outgoing one fades out (cos/sin gains: constant power for uncorrelated signals, so the
loudness holds through the seam). Outside the fades a clip's samples pass through untouched,
so what plays between them is the track's master, sample for sample.

Memory is O(block): clips are read from their files as the sequence advances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np


@dataclass(frozen=True)
class Clip:
    path: Path  # float32 stereo WAV at the sequence's sample rate
    frames: int  # length of the file in frames (music plus release tail)
    bar_frames: float  # frames per bar at the clip's tempo and meter
    bars: int  # bars of music; the frames after them are the release tail
    label: Any = None  # the caller's (the radio's track, an album's song): handed back in events

    def bar_line(self, bar: float) -> int:
        return int(round(bar * self.bar_frames))


def equal_power(offset: int, count: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Gains (outgoing, incoming) for frames [offset, offset + count) of a fade `length` long.

    Frame 0 has the outgoing at exactly 1 and the incoming at 0; after the last frame the
    incoming plays at exactly 1, so the seam has no step in level.
    """
    t = (offset + np.arange(count, dtype=np.float64)) / max(1, length) * (math.pi / 2)
    return np.cos(t).astype(np.float32), np.sin(t).astype(np.float32)


class _Playing:
    """A clip being read: position, where its fade-out starts and how long it lasts."""

    def __init__(self, clip: Clip, crossfade_bars: int, faded_in: int):
        from lofictl.sound.stream import AudioReader

        self.clip = clip
        self.reader = AudioReader(clip.path)
        if self.reader.channels != 2:
            self.reader.close()
            raise ValueError(f"{clip.path}: a sequence takes stereo clips (got {self.reader.channels} channels)")
        self.pos = 0
        self.fade_len = clip.bar_line(crossfade_bars)
        # The fade-out starts `crossfade_bars` before the music ends, never before the fade-in is over.
        self.fade_at = max(clip.bar_line(clip.bars - crossfade_bars), faded_in)

    def take(self, count: int) -> np.ndarray:
        block = self.reader.read(self.pos, count)
        self.pos += count
        if block.shape[1] < count:  # past the end of the file: silence
            block = np.pad(block, ((0, 0), (0, count - block.shape[1])))
        return block

    def close(self) -> None:
        self.reader.close()


class Sequencer:
    """An endless (or finite) sequence of clips, read a block at a time.

    `supply()` is asked for the next clip when the current one reaches its fade-out (and for
    the first one at the start); it returns a Clip, or None when there is no next one: the
    current clip then plays out to its end and the sequence finishes. `on_start(clip, start,
    air)` is told, for every clip, the frame of the sequence where it starts and where it
    becomes the louder of the two (the middle of its fade-in).
    """

    def __init__(
        self,
        supply: Callable[[], Clip | None],
        crossfade_bars: int = 2,
        on_start: Callable[[Clip, int, int], None] | None = None,
    ):
        if crossfade_bars < 1:
            raise ValueError("crossfade_bars must be at least 1")
        self.supply = supply
        self.crossfade_bars = crossfade_bars
        self.on_start = on_start or (lambda clip, start, air: None)
        self.frame = 0  # frames read so far
        self.finished = False
        self._current: _Playing | None = None
        self._next: _Playing | None = None
        self._last = False  # supply said there is nothing after the current clip

    @property
    def current(self) -> Clip | None:
        return self._current.clip if self._current else None

    @property
    def position(self) -> int:
        """Frames into the current clip."""
        return self._current.pos if self._current else 0

    @property
    def fading(self) -> bool:
        return self._current is not None and self._current.pos >= self._current.fade_at

    def fade_now(self, bars: int = 1) -> bool:
        """Move the current clip's fade-out to its next bar line, `bars` long (a skip).

        Returns False when it is already fading or would fade sooner anyway.
        """
        current = self._current
        if current is None or self.fading:
            return False
        bar_frames = current.clip.bar_frames
        at = int(round(math.ceil((current.pos + 1) / bar_frames) * bar_frames))
        length = current.clip.bar_line(min(bars, self.crossfade_bars))
        if at >= current.fade_at:
            return False
        current.fade_at, current.fade_len = at, length
        return True

    def read(self, count: int) -> np.ndarray:
        """The next `count` frames of the sequence; fewer (down to none) once it has finished."""
        out = np.zeros((2, count), dtype=np.float32)
        filled = 0
        while filled < count and not self.finished:
            if self._current is None:
                clip = self.supply()
                if clip is None:
                    self.finished = True
                    break
                self._current = _Playing(clip, self.crossfade_bars, 0)
                self.on_start(clip, self.frame + filled, self.frame + filled)
            current = self._current
            if current.pos < current.fade_at:  # alone: the clip's own samples
                m = min(count - filled, current.fade_at - current.pos)
                out[:, filled : filled + m] = current.take(m)
                filled += m
                continue
            if self._next is None and not self._last:
                clip = self.supply()
                if clip is None:
                    self._last = True
                else:
                    self._next = _Playing(clip, self.crossfade_bars, current.fade_len)
                    start = self.frame + filled - (current.pos - current.fade_at)
                    self.on_start(clip, start, start + current.fade_len // 2)
            if self._next is None:  # the last clip: play it out, tail and all
                m = min(count - filled, current.clip.frames - current.pos)
                if m <= 0:
                    current.close()
                    self._current = None
                    self.finished = True
                    break
                out[:, filled : filled + m] = current.take(m)
                filled += m
                continue
            done = current.pos - current.fade_at
            m = min(count - filled, current.fade_len - done)
            fade_out, fade_in = equal_power(done, m, current.fade_len)
            out[:, filled : filled + m] = current.take(m) * fade_out + self._next.take(m) * fade_in
            filled += m
            if done + m >= current.fade_len:
                current.close()
                self._current, self._next = self._next, None
        self.frame += filled
        return out if filled == count else out[:, :filled]

    def close(self) -> None:
        for playing in (self._current, self._next):
            if playing is not None:
                playing.close()
        self._current = self._next = None


def iter_sequence(
    clips: Iterable[Clip],
    crossfade_bars: int = 2,
    block_size: int = 1 << 15,
    on_start: Callable[[Clip, int, int], None] | None = None,
) -> Iterator[np.ndarray]:
    """A finite sequence as blocks, to the end of the last clip's tail (an album's continuous mix)."""
    remaining = iter(clips)
    sequencer = Sequencer(lambda: next(remaining, None), crossfade_bars, on_start)
    try:
        while not sequencer.finished:
            block = sequencer.read(block_size)
            if block.shape[1]:
                yield block
    finally:
        sequencer.close()
