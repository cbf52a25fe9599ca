"""Stems and overlays into float32 WAV files, block by block, ducked under the kick if asked.

Exactness (the tests check each claim):
- Stems (`render_stem_to_wav`) give the bytes of render.render_track → effects.apply_chain →
  mix.apply_gain_pan → audio_io.write_wav (reference.render_stem), for any block size.
  FluidSynth only acts on its own 64-sample edges and the streaming Pedalboard plugins keep their
  state across blocks (`reset=False`), so cutting the signal anywhere changes nothing. A chain
  with a WHOLE_ONLY plugin (Resample, MP3Compressor, PitchShift, ...) or an external plugin
  cannot stream exactly (Pedalboard only compensates their latency when it sees the whole
  signal): such a stem falls back to the whole-array path, with the memory that costs.
  Long-track recipes should use streaming-safe chains (`stream.chain_streams` says which are).
- Overlays (`render_overlay_to_wav`) give the bytes of reference.render_overlay for any block size.

The renderers take plain values (a `Stem`, an `Overlay`, a `Ducking`), not the build's plan: pipeline.inputs makes them from the recipe. A stem
played by one of lofictl's own kits (sound.kits) goes through the same chain, gain, pan and ducking.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from lofictl.compose.score import TempoMap, Track
from lofictl.errors import LofictlError
from lofictl.sound import effects, kits, mix, render
from lofictl.sound.loudness import MeteredWavWriter
from lofictl.sound.soundfonts import Preset
from lofictl.sound.stream import DEFAULT_BLOCK_SIZE, chain_streams, fit_length, through_chain


@dataclass(frozen=True)
class Ducking:
    """A layer dipped under the kick: the kick onsets (sample positions), how deep, how fast back."""

    kicks: tuple[int, ...]
    depth_db: float
    release_ms: float


@dataclass(frozen=True)
class Overlay:
    """One overlay layer in plain values: its source, where it sits, and what it goes through.

    The source is a sound `file` (resolved, read whole) or an `ambience` generator with its `seed`.
    `effects` is the resolved chain, or None for none.
    """

    file: Path | None
    ambience: str | None
    seed: int | None
    loop: bool
    start_s: float
    fade_in_s: float
    fade_out_s: float
    gain_db: float
    pan: float
    effects: Sequence | None = None

    def __post_init__(self) -> None:
        if (self.file is None) == (self.ambience is None) or (self.ambience is not None and self.seed is None):
            raise ValueError("an overlay plays a file, or an ambience generator with its seed")

    def generator(self) -> tuple[str, int]:
        """(ambience, seed) of an overlay that plays a generator."""
        if self.ambience is None or self.seed is None:
            raise ValueError("this overlay plays a file, not a generator")
        return self.ambience, self.seed


# --- stems ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Stem:
    """One stem in plain values: a track's notes (with the timing they play to) through its
    instrument, a SoundFont and preset or one of lofictl's kits (`kit`), then its effect chain
    (resolved; None or empty for none), gain and pan, dipped under the kick with `duck`.

    pipeline.inputs.stem_sound makes it from the recipe: a track field the schema marks for the stem
    stage reaches the field of the same name here as it is. A new plain field of a stem's sound
    is then the schema's field (and its mark), a field here and its use in render_stem_to_wav,
    and the same in reference.render_stem (the oracle)."""

    track: Track
    timing: float | TempoMap  # seconds per beat, or the tempo map
    soundfont: Path | None = None
    preset: Preset | None = None
    kit: str | None = None
    sample_rate: int
    n_samples: int
    effects: Sequence | None = None
    gain_db: float = 0.0
    pan: float = 0.0
    duck: Ducking | None = None

    def dry(self) -> "Stem":
        """The instrument alone: no effects, gain, pan or ducking (the DAWs' dry stem)."""
        return replace(self, effects=None, gain_db=0.0, pan=0.0, duck=None)


def render_stem_to_wav(
    stem: Stem,
    path: str | Path,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    info: dict[str, str] | None = None,
) -> float | None:
    """One stem (FluidSynth, or the kit when given → effects → gain/pan → ducking) into a
    float32 WAV, block by block; returns its integrated loudness (loudness.measure_loudness of
    the file, measured on the way).

    The file's bytes are those of reference.render_stem + audio_io.write_wav. Memory is O(block)
    unless the chain has a plugin that cannot stream (see `chain_streams`); then the stem is
    processed as one array, exactly as the whole path does.
    """
    rate, n_samples, duck = stem.sample_rate, stem.n_samples, stem.duck
    board = effects.build_chain(stem.effects, (), rate) if stem.effects else None
    with MeteredWavWriter(path, rate, n_samples, subtype="float32", info=info) as out:
        if board is not None and not chain_streams(board):
            audio = source_audio(stem.track, stem.timing, stem.soundfont, stem.preset, rate, n_samples, kit=stem.kit)
            audio = fit_length(effects.apply_chain(audio, rate, board), n_samples)
            audio = mix.apply_gain_pan(audio, stem.gain_db, stem.pan)
            for start in range(0, n_samples, block_size):
                out.write(_ducked(audio[:, start : start + block_size], start, rate, duck))
            return out.lufs
        blocks = source_blocks(
            stem.track, stem.timing, stem.soundfont, stem.preset, rate, n_samples, block_size=block_size, kit=stem.kit
        )
        position = 0
        for block in through_chain(blocks, board, rate):
            out.write(_ducked(mix.apply_gain_pan(block, stem.gain_db, stem.pan), position, rate, duck))
            position += block.shape[1]
    return out.lufs


def source_audio(
    track: Track,
    timing: float | TempoMap,
    soundfont: Path | None,
    preset: Preset | None,
    sample_rate: int,
    n_samples: int,
    *,
    kit: str | None = None,
) -> np.ndarray:
    """The dry instrument as one float32 (2, n_samples) array: the kit when named, else FluidSynth
    (the same bytes as source_blocks' blocks joined)."""
    if kit is not None:
        return kits.render_kit(track, timing, kit, sample_rate, n_samples)
    if soundfont is None or preset is None:
        raise ValueError("a stem needs a SoundFont and preset, or a kit")
    return render.render_track(track, timing, soundfont, preset, sample_rate, n_samples)


def source_blocks(
    track: Track,
    timing: float | TempoMap,
    soundfont: Path | None,
    preset: Preset | None,
    sample_rate: int,
    n_samples: int,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    kit: str | None = None,
) -> Iterator[np.ndarray]:
    """The dry instrument in float32 (2, block_size) blocks: the kit when named, else FluidSynth."""
    if kit is not None:
        return kits.iter_render_kit(track, timing, kit, sample_rate, n_samples, block_size=block_size)
    if soundfont is None or preset is None:
        raise ValueError("a stem needs a SoundFont and preset, or a kit")
    return render.iter_render_track(track, timing, soundfont, preset, sample_rate, n_samples, block_size=block_size)


def _ducked(block: np.ndarray, start: int, sample_rate: int, duck: Ducking | None) -> np.ndarray:
    """The block (its first sample at `start`) dipped under the kick, or as it is without `duck`."""
    if duck is None:
        return block
    return block * mix.kick_duck_gain(
        np.asarray(duck.kicks, dtype=np.int64), start, block.shape[1], sample_rate, duck.depth_db, duck.release_ms
    )


# --- overlays ------------------------------------------------------------------------------------


class _GeneratedSource:
    """An ambience generator read front to back, with ambience.generate's chunking (same bytes)."""

    def __init__(self, kind: str, sample_rate: int, seed: int):
        from lofictl.sound import ambience

        if kind not in ambience._GENERATORS:
            raise LofictlError(f"unknown ambience {kind!r}; choose one of {', '.join(ambience.KINDS)}")
        self._chunk = ambience._GENERATORS[kind](int(sample_rate), int(seed))
        self._size = ambience.CHUNK
        self._start = 0
        self._current = np.zeros((2, 0), dtype=np.float32)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop); calls must move forward (start never before the last start)."""
        out = np.empty((2, stop - start), dtype=np.float32)
        done = start
        while done < stop:
            while done >= self._start + self._current.shape[1]:
                self._start += self._current.shape[1]
                self._current = self._chunk(self._size).astype(np.float32)
            local = done - self._start
            take = min(stop - done, self._current.shape[1] - local)
            out[:, done - start : done - start + take] = self._current[:, local : local + take]
            done += take
        return out


def _fade_values(indices: np.ndarray, length: int) -> np.ndarray:
    """ambience._fade(length)[indices] without making the whole (possibly hour-long) fade."""
    return (0.5 - 0.5 * np.cos(np.pi * (indices + 0.5) / length)).astype(np.float32)


def render_overlay_to_wav(
    overlay: Overlay,
    sample_rate: int,
    n_samples: int,
    path: str | Path,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    info: dict[str, str] | None = None,
    duck: Ducking | None = None,
) -> float | None:
    """reference.render_overlay(overlay, sample_rate, n_samples) written as float32 WAV, block by
    block; returns its integrated loudness, measured on the way (as loudness.measure_loudness).

    A looped source (an overlay file, or 20 s of a generator) is held in memory, as the loop is
    built from it; an unlooped generator streams. Bytes equal the whole path's.
    """
    from lofictl.sound import ambience

    stream = None
    if overlay.file is not None:
        source = ambience.load_overlay(overlay.file, sample_rate)
        size = source.shape[1]
    else:
        kind, seed = overlay.generator()
        if overlay.loop:
            source = ambience.generate(kind, min(n_samples, 20 * sample_rate), sample_rate, seed)
            size = source.shape[1]
        else:
            source, size = None, n_samples
            stream = _GeneratedSource(kind, sample_rate, seed)
    start = min(max(0, round(overlay.start_s * sample_rate)), n_samples)
    room = n_samples - start
    length = 0 if size == 0 else (room if overlay.loop else min(size, room))
    crossfade = period = 0
    template = source
    if overlay.loop and room > size and size:
        # The looped body is periodic after its first `crossfade` samples; a template of
        # size + period samples from ambience.loop_to_length holds every value it takes.
        crossfade = max(0, min(round(1.0 * sample_rate), size // 2))  # place_overlay's crossfade_s
        period = size - crossfade
        template = ambience.loop_to_length(source, size + period, crossfade)
    fade_in = min(round(overlay.fade_in_s * sample_rate), length)
    fade_out = min(round(overlay.fade_out_s * sample_rate), length)

    def body(a: int, b: int) -> np.ndarray:
        if stream is not None:
            return stream.read(a, b)
        if not period:
            return template[:, a:b].copy()
        k = np.arange(a, b)
        return template[:, np.where(k < crossfade, k, crossfade + (k - crossfade) % period)]

    def placed() -> Iterator[np.ndarray]:
        for begin in range(0, n_samples, block_size):
            end = min(begin + block_size, n_samples)
            block = np.zeros((2, end - begin), dtype=np.float32)
            a, b = max(begin, start) - start, min(end, start + length) - start
            if a < b:
                piece = body(a, b)
                k = np.arange(a, b)
                if fade_in and a < fade_in:
                    piece[:, : fade_in - a] *= _fade_values(k[: fade_in - a], fade_in)
                if fade_out and b > length - fade_out:
                    first = max(a, length - fade_out)
                    piece[:, first - a :] *= _fade_values(length - 1 - k[first - a :], fade_out)
                block[:, start + a - begin : start + b - begin] = mix.apply_gain_pan(piece, overlay.gain_db, 0.0)
            yield block

    blocks: Iterable[np.ndarray] = placed()
    if overlay.effects:
        board = effects.build_chain(overlay.effects, (), sample_rate)
        if chain_streams(board):
            blocks = through_chain(blocks, board, sample_rate)
        else:  # a plugin with latency sees the whole overlay, as in reference.render_overlay
            whole = fit_length(effects.apply_chain(np.concatenate(list(blocks), axis=1), sample_rate, board), n_samples)
            blocks = (whole[:, i : i + block_size] for i in range(0, n_samples, block_size))
    with MeteredWavWriter(path, sample_rate, n_samples, subtype="float32", info=info) as out:
        position = 0
        for block in blocks:
            out.write(_ducked(mix.apply_gain_pan(block, 0.0, overlay.pan), position, sample_rate, duck))
            position += block.shape[1]
    return out.lufs


__all__ = ["Ducking", "Overlay", "Stem", "render_overlay_to_wav", "render_stem_to_wav", "source_blocks"]
