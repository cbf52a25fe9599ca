"""Finished tracks one after another, with equal-power crossfades or gaps, streamed to one WAV.

Shared by the album's continuous mix and the radio: `plan_sequence` decides where each track
starts (pure arithmetic on lengths), `sequence_to_wav` sums the tracks block by block, so an
hour of audio needs memory for one block per overlapping track, never the hour.

Seeds for "track N of this" are `seeds.derive_seed(master, name, index)`: by name and index,
never by the order anything was computed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lofictl.errors import LofictlError

DEFAULT_BLOCK = 1 << 16


@dataclass(frozen=True)
class Placement:
    """Where one track sits in the sequence, in samples."""

    start: int  # first sample of the track in the sequence
    length: int  # samples of the track
    fade_in: int  # samples at its start that fade in (overlapping the previous track)
    fade_out: int  # samples at its end that fade out (overlapping the next track)

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def heard_from(self) -> int:
        """Where the track takes over: the middle of its fade-in (its start when it has none)."""
        return self.start + self.fade_in // 2


def plan_sequence(lengths: Sequence[int], *, crossfade: int = 0, gap: int = 0) -> list[Placement]:
    """Start of every track: each next one begins `crossfade` samples before the previous ends,
    or `gap` samples after it. A crossfade longer than half the shortest track is refused, so a
    track never overlaps two others at once."""
    if crossfade and gap:
        raise LofictlError("a sequence has either a crossfade or a gap, not both")
    if crossfade < 0 or gap < 0:
        raise LofictlError("crossfade and gap cannot be negative")
    if lengths and crossfade * 2 > min(lengths):
        raise LofictlError(f"a crossfade of {crossfade} samples is longer than half the shortest track "
                           f"({min(lengths)} samples)")
    placements: list[Placement] = []
    position = 0
    for index, length in enumerate(lengths):
        fade_in = crossfade if index > 0 else 0
        fade_out = crossfade if index < len(lengths) - 1 else 0
        placements.append(Placement(position, int(length), fade_in, fade_out))
        position += int(length) - crossfade + gap
    return placements


def total_length(placements: Sequence[Placement]) -> int:
    return max((p.end for p in placements), default=0)


def fade_curve(length: int, *, rising: bool) -> np.ndarray:
    """Equal-power fade (sin/cos): two uncorrelated tracks keep their summed loudness."""
    t = (np.arange(length, dtype=np.float64) + 0.5) / max(length, 1)
    curve = np.sin(0.5 * np.pi * t) if rising else np.cos(0.5 * np.pi * t)
    return curve.astype(np.float32)


def _envelope(placement: Placement, start: int, count: int) -> np.ndarray | None:
    """Gain of samples [start, start + count) of the track (relative to the track); None for 1."""
    if placement.fade_in == 0 and placement.fade_out == 0:
        return None
    index = np.arange(start, start + count)
    gain = np.ones(count, dtype=np.float32)
    if placement.fade_in:
        rising = index < placement.fade_in
        if rising.any():
            gain[rising] = fade_curve(placement.fade_in, rising=True)[index[rising]]
    if placement.fade_out:
        falling_from = placement.length - placement.fade_out
        falling = index >= falling_from
        if falling.any():
            gain[falling] = fade_curve(placement.fade_out, rising=False)[index[falling] - falling_from]
    return None if (gain == 1.0).all() else gain


def sequence_to_wav(paths: Sequence[str | Path], placements: Sequence[Placement], sample_rate: int,
                    out_path: str | Path, *, block_size: int = DEFAULT_BLOCK) -> int:
    """The tracks summed at their placements into a float32 WAV; returns its length in samples.

    Every track must be stereo at `sample_rate` and as long as its placement says.
    """
    from lofictl.stream import AudioReader, WavWriter

    if len(paths) != len(placements):
        raise ValueError("one placement per track")
    readers = [AudioReader(path) for path in paths]
    try:
        for reader, placement in zip(readers, placements):
            if reader.channels != 2 or reader.sample_rate != sample_rate or reader.frames != placement.length:
                raise LofictlError(f"{reader.path}: expected stereo at {sample_rate} Hz with {placement.length} "
                                   f"frames, got {reader.channels} channels at {reader.sample_rate} Hz, "
                                   f"{reader.frames} frames")
        n = total_length(placements)
        with WavWriter(out_path, sample_rate, n) as out:
            for start in range(0, n, block_size):
                stop = min(n, start + block_size)
                block = np.zeros((2, stop - start), dtype=np.float32)
                for reader, placement in zip(readers, placements):  # a fixed order of float sums
                    lo, hi = max(start, placement.start), min(stop, placement.end)
                    if lo >= hi:
                        continue
                    part = reader.read(lo - placement.start, hi - lo)
                    gain = _envelope(placement, lo - placement.start, hi - lo)
                    if gain is not None:
                        part = part * gain
                    block[:, lo - start:hi - start] += part
                out.write(block)
        return n
    finally:
        for reader in readers:
            reader.close()
