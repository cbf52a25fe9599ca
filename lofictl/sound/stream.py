"""Long tracks in bounded memory: stems, overlays, the master and its encodings, block by block.

A 60-minute stereo stem is 635 MB of float32, and the whole-array path holds every stem at once
while mixing. Here every stage reads and writes files a block at a time, so memory stays
O(block) whatever the length, and time grows linearly with it.

Exactness, stage by stage (the tests check each claim):
- Stems (`render_stem_to_wav`) give the bytes of render.render_track → effects.apply_chain →
  mix.apply_gain_pan → audio_io.write_wav, for any block size. FluidSynth only acts on its own
  64-sample edges and the streaming Pedalboard plugins keep their state across blocks
  (`reset=False`), so cutting the signal anywhere changes nothing. A chain with a WHOLE_ONLY
  plugin (Resample, MP3Compressor, PitchShift, ...) or an external plugin cannot stream exactly
  (Pedalboard only compensates their latency when it sees the whole signal): such a stem falls
  back to the whole-array path, with the memory that costs. Long-track recipes should use
  streaming-safe chains (`chain_streams` says which are).
- Overlays (`render_overlay_to_wav`) give the bytes of build.render_overlay for any block size.
- The master (`mix_to_master_wav`) sums the stems in a fixed order (the same float32 additions as
  the whole path), runs a streaming master chain exactly, measures loudness with a streaming
  BS.1770-4 meter (`LoudnessMeter`, matches pyloudnorm to ~1e-9 LU), and limits true peaks on a
  fixed grid of frames with enough context on each side that every gain value is the one the
  whole-signal formula gives; only the box filter's running sum, restarted per frame, rounds
  differently from mix.limit_true_peak (last float32 bit, near limited peaks). The frame grid
  does not depend on block_size, so the block size never changes a byte of the master either.
- Encodings (`encode_wav_to`) feed the same samples in the same chunks as audio_io.write_audio.

Files are read with plain reads, not np.memmap: mapped pages count towards the process's RSS.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pedalboard
from scipy import ndimage, signal

from lofictl.compose.score import TempoMap, Track
from lofictl.errors import LofictlError
from lofictl.sound import audio_io, effects, levels, mix, render
from lofictl.sound.soundfonts import Preset

DEFAULT_BLOCK_SIZE = 1 << 16  # samples per block (512 KB of stereo float32); any value, same bytes
LIMITER_FRAME = 1 << 17  # the limiter's fixed grid, independent of block_size (so are the bytes)
_ENVELOPE_MARGIN = 64  # samples of context the 4x true-peak FIR needs (it spans about 10 each side)


# --- WAV files a block at a time ----------------------------------------------------------------


class WavWriter:
    """A WAV written block by block: the header (with the known length) first, then the frames.

    The bytes equal audio_io.write_wav's for the same samples. Writing fewer or more frames than
    announced is an error, and a file left unfinished by an error is removed.
    """

    def __init__(
        self,
        path: str | Path,
        sample_rate: int,
        frames: int,
        subtype: str = "float32",
        *,
        channels: int = 2,
        info: dict[str, str] | None = None,
        chunks: bytes = b"",
    ):
        if subtype not in audio_io.WAV_SUBTYPES:
            raise LofictlError(f"WAV subtype {subtype!r} is not one of {', '.join(audio_io.WAV_SUBTYPES)}")
        self.path, self.frames, self.subtype, self.channels = Path(path), int(frames), subtype, channels
        self.written = 0
        header = audio_io._wav_header(channels, int(sample_rate), self.frames, subtype, info, chunks)
        self._handle = open(self.path, "wb")
        self._handle.write(header)

    def write(self, block: np.ndarray) -> None:
        block = audio_io._check_audio(block)  # float32, finite, (channels, n)
        if block.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[0]}")
        if self.written + block.shape[1] > self.frames:
            raise ValueError(f"{self.path}: more than the {self.frames} frames announced")
        self._handle.write(audio_io._wav_frames(block, self.subtype))
        self.written += block.shape[1]

    def close(self) -> None:
        if self._handle.closed:
            return
        try:
            if self.written != self.frames:
                raise ValueError(f"{self.path}: wrote {self.written} frames, announced {self.frames}")
            width = {"float32": 4, "24bit": 3, "16bit": 2}[self.subtype]
            if (self.frames * self.channels * width) & 1:
                self._handle.write(b"\0")  # RIFF chunks have even length
        finally:
            self._handle.close()

    def __enter__(self) -> "WavWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                self.close()
        finally:
            if kind is not None or self.written != self.frames:
                self._handle.close()
                self.path.unlink(missing_ok=True)


class AudioReader:
    """Random-access frames of an audio file as float32 (channels, n).

    Float32 WAV (what every stage writes) is read directly from its data chunk; anything else
    goes through Pedalboard's AudioFile, which decodes the same samples read_audio would.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise LofictlError(f"audio file {self.path} does not exist")
        self._offset = None
        self._file = None
        self._audio_file = None
        parsed = _float_wav_layout(self.path)
        if parsed is not None:
            self.channels, self.sample_rate, self.frames, self._offset = parsed
            self._file = open(self.path, "rb")
        else:
            from pedalboard.io import AudioFile

            try:
                self._audio_file = AudioFile(str(self.path))
            except (ValueError, RuntimeError, OSError):
                raise LofictlError(f"{self.path} is not an audio file that can be read") from None
            self.channels = self._audio_file.num_channels
            self.sample_rate = int(round(self._audio_file.samplerate))
            self.frames = self._audio_file.frames

    def read(self, start: int, count: int) -> np.ndarray:
        """Frames [start, start + count) clipped to the file, shaped (channels, n)."""
        start = max(0, start)
        count = max(0, min(count, self.frames - start))
        if self._file is not None:
            self._file.seek(self._offset + start * self.channels * 4)
            data = np.frombuffer(self._file.read(count * self.channels * 4), dtype="<f4")
            if data.size != count * self.channels:
                raise LofictlError(f"{self.path} is shorter than its header says")
            return np.ascontiguousarray(data.reshape(count, self.channels).T, dtype=np.float32)
        self._audio_file.seek(start)
        return np.asarray(self._audio_file.read(count), dtype=np.float32)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._audio_file is not None:
            self._audio_file.close()

    def __enter__(self) -> "AudioReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _float_wav_layout(path: Path) -> tuple[int, int, int, int] | None:
    """(channels, sample rate, frames, data offset) of a float32 WAV, or None for anything else."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        fmt = None
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"fmt ":
                body = handle.read(size + (size & 1))
                tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
                if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag leads the GUID
                    tag = struct.unpack("<H", body[24:26])[0]
                fmt = (tag, channels, rate, bits)
            elif chunk_id == b"data":
                if fmt is None or fmt[0] != 3 or fmt[3] != 32:
                    return None
                return fmt[1], fmt[2], size // (4 * fmt[1]), handle.tell()
            else:
                handle.seek(size + (size & 1), 1)


# --- stems ---------------------------------------------------------------------------------------


def chain_streams(chain: Sequence | pedalboard.Pedalboard | None, sample_rate: int | None = None) -> bool:
    """True when block processing of the chain gives the same bytes as whole (no WHOLE_ONLY plugin)."""
    if not chain:
        return True
    board = chain if isinstance(chain, pedalboard.Pedalboard) else effects.build_chain(chain, (), sample_rate)
    return all(effects._streams(plugin) for plugin in board)


iter_render_track = render.iter_render_track  # kept here too: the stream API in one place


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Latency plugins such as Resample may change the length slightly; stems must line up."""
    if audio.shape[1] == n_samples:
        return audio
    if audio.shape[1] > n_samples:
        return np.ascontiguousarray(audio[:, :n_samples])
    return np.pad(audio, ((0, 0), (0, n_samples - audio.shape[1])))


def _on_grid(blocks: Iterable[np.ndarray], grid: int) -> Iterator[np.ndarray]:
    """The same samples re-cut so that every cut falls on a multiple of `grid` from the start."""
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        pending.append(block)
        held += block.shape[1]
        if held >= grid:
            joined = np.concatenate(pending, axis=1) if len(pending) > 1 else pending[0]
            cut = held - held % grid
            yield joined[:, :cut]
            pending, held = ([joined[:, cut:]], held - cut) if held > cut else ([], 0)
    if held:
        yield np.concatenate(pending, axis=1) if len(pending) > 1 else pending[0]


def _through_chain(
    blocks: Iterable[np.ndarray], board: pedalboard.Pedalboard | None, sample_rate: int
) -> Iterator[np.ndarray]:
    """Blocks through a streaming chain, its state kept across them, as apply_chain computes it.

    Pedalboard cuts each call into its own 8192-sample buffers, and JUCE's IIR filters flush
    tiny state values to zero at the end of every buffer, so near silence the bytes depend on
    where the cuts fall. apply_chain cuts on multiples of effects.DEFAULT_BLOCK_SIZE; so do we,
    whatever size the blocks come in.
    """
    if board is None or len(board) == 0:
        yield from blocks
        return
    board.reset()  # a fresh plugin state per run, as apply_chain
    for block in _on_grid(blocks, effects.DEFAULT_BLOCK_SIZE):
        yield board.process(np.ascontiguousarray(block), sample_rate, reset=False)


def render_stem_to_wav(
    track: Track,
    timing: float | TempoMap,
    instrument_soundfont: Path,
    preset: Preset,
    sample_rate: int,
    n_samples: int,
    effect_chain: Sequence | None,
    gain_db: float,
    pan: float,
    path: str | Path,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    info: dict[str, str] | None = None,
    duck: tuple | None = None,
) -> None:
    """One stem (FluidSynth → effects → gain/pan) into a float32 WAV, block by block.

    The file's bytes are those of build.render_stem + audio_io.write_wav. Memory is O(block)
    unless the chain has a plugin that cannot stream (see `chain_streams`); then the stem is
    processed as one array, exactly as the whole path does.
    """
    board = effects.build_chain(effect_chain, (), sample_rate) if effect_chain else None
    with WavWriter(path, sample_rate, n_samples, "float32", info=info) as out:
        if board is not None and not chain_streams(board):
            audio = render.render_track(track, timing, instrument_soundfont, preset, sample_rate, n_samples)
            audio = fit_length(effects.apply_chain(audio, sample_rate, board), n_samples)
            audio = mix.apply_gain_pan(audio, gain_db, pan)
            for start in range(0, n_samples, block_size):
                out.write(_ducked(audio[:, start : start + block_size], start, sample_rate, duck))
            return
        blocks = iter_render_track(
            track, timing, instrument_soundfont, preset, sample_rate, n_samples, block_size=block_size
        )
        position = 0
        for block in _through_chain(blocks, board, sample_rate):
            out.write(_ducked(mix.apply_gain_pan(block, gain_db, pan), position, sample_rate, duck))
            position += block.shape[1]


def _ducked(block: np.ndarray, start: int, sample_rate: int, duck: tuple | None) -> np.ndarray:
    """`duck` = (kick sample positions, depth_db, release_ms), or None for no ducking."""
    if duck is None:
        return block
    kicks, depth_db, release_ms = duck
    return block * mix.kick_duck_gain(
        np.asarray(kicks, dtype=np.int64), start, block.shape[1], sample_rate, depth_db, release_ms
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
    plan,
    index: int,
    n_samples: int,
    path: str | Path,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    info: dict[str, str] | None = None,
    duck: tuple | None = None,
) -> None:
    """build.render_overlay(plan, index, n_samples) written as float32 WAV, block by block.

    A looped source (an overlay file, or 20 s of a generator) is held in memory, as the loop is
    built from it; an unlooped generator streams. Bytes equal the whole path's.
    """
    from lofictl.seeds import derive_seed
    from lofictl.sound import ambience

    recipe = plan.recipe
    overlay = recipe.overlays[index]
    sample_rate = recipe.output.sample_rate
    stream = None
    if overlay.file is not None:
        source = ambience.load_overlay(plan.overlay_files[index], sample_rate)
        size = source.shape[1]
    else:
        seed = derive_seed(recipe.seed, "overlay", index, overlay.ambience)
        if overlay.loop:
            source = ambience.generate(overlay.ambience, min(n_samples, 20 * sample_rate), sample_rate, seed)
            size = source.shape[1]
        else:
            source, size = None, n_samples
            stream = _GeneratedSource(overlay.ambience, sample_rate, seed)
    start = min(max(0, round(overlay.start * sample_rate)), n_samples)
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
    fade_in = min(round(overlay.fade_in * sample_rate), length)
    fade_out = min(round(overlay.fade_out * sample_rate), length)

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
        board = effects.build_chain(plan.chains[f"overlays.{index}"], (), sample_rate)
        if chain_streams(board):
            blocks = _through_chain(blocks, board, sample_rate)
        else:  # a plugin with latency sees the whole overlay, as in build.render_overlay
            whole = fit_length(effects.apply_chain(np.concatenate(list(blocks), axis=1), sample_rate, board), n_samples)
            blocks = (whole[:, i : i + block_size] for i in range(0, n_samples, block_size))
    with WavWriter(path, sample_rate, n_samples, "float32", info=info) as out:
        position = 0
        for block in blocks:
            out.write(_ducked(mix.apply_gain_pan(block, 0.0, overlay.pan), position, sample_rate, duck))
            position += block.shape[1]


# --- loudness ------------------------------------------------------------------------------------


def k_weighting(sample_rate: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """BS.1770's two K-weighting biquads (high shelf +4 dB at 1.5 kHz, high pass at 38 Hz).

    Designed with the RBJ cookbook formulas at the given rate, as pyloudnorm's "K-weighting".
    """
    stages = []
    for kind, gain_db, q, fc in (("high_shelf", 4.0, 1 / math.sqrt(2), 1500.0), ("high_pass", 0.0, 0.5, 38.0)):
        big_a = 10 ** (gain_db / 40.0)
        w0 = 2.0 * math.pi * (fc / sample_rate)
        alpha = math.sin(w0) / (2.0 * q)
        cos, root = math.cos(w0), 2 * math.sqrt(big_a) * alpha
        if kind == "high_shelf":
            b = [
                big_a * ((big_a + 1) + (big_a - 1) * cos + root),
                -2 * big_a * ((big_a - 1) + (big_a + 1) * cos),
                big_a * ((big_a + 1) + (big_a - 1) * cos - root),
            ]
            a = [
                (big_a + 1) - (big_a - 1) * cos + root,
                2 * ((big_a - 1) - (big_a + 1) * cos),
                (big_a + 1) - (big_a - 1) * cos - root,
            ]
        else:
            b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
            a = [1 + alpha, -2 * cos, 1 - alpha]
        stages.append((np.array(b) / a[0], np.array(a) / a[0]))
    return stages


class LoudnessMeter:
    """Integrated loudness (ITU-R BS.1770-4) of audio fed in blocks of any size.

    K-weighting runs with its filter state carried across blocks; mean squares are taken over
    400 ms gating blocks every 100 ms (the sample bounds pyloudnorm uses), keeping only the
    samples the next gating blocks still need; at the end the absolute (-70 LUFS) and relative
    (-10 LU) gates are applied to the per-block values, a few numbers per second of audio.
    """

    BLOCK_S, STEP = 0.4, 0.25  # gating block length, and its hop as a fraction of it (75 % overlap)
    WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs

    def __init__(self, sample_rate: int, channels: int = 2):
        if not 1 <= channels <= 5:
            raise ValueError("the meter takes 1 to 5 channels")
        self.rate, self.channels = sample_rate, channels
        self._filters = k_weighting(sample_rate)
        self._state = [np.zeros((channels, 2)) for _ in self._filters]
        self._squares = np.zeros((channels, 0))  # K-weighted squares from sample self._held_from on
        self._held_from = 0
        self._blocks: list[np.ndarray] = []  # mean square per channel of each gating block
        self.samples = 0

    def _bounds(self, j: int) -> tuple[int, int]:
        return int(self.BLOCK_S * (j * self.STEP) * self.rate), int(self.BLOCK_S * (j * self.STEP + 1) * self.rate)

    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ValueError(f"expected ({self.channels}, n) audio, got {x.shape}")
        for stage, (b, a) in enumerate(self._filters):
            x, self._state[stage] = signal.lfilter(b, a, x, axis=1, zi=self._state[stage])
        self._squares = np.concatenate([self._squares, np.square(x)], axis=1)
        self.samples += x.shape[1]
        self._take_blocks(self.samples)

    def _take_blocks(self, limit: int, count: int | None = None) -> None:
        """Mean squares of every gating block ending by `limit` (or the first `count`, cut at the end)."""
        while count is None or len(self._blocks) < count:
            low, high = self._bounds(len(self._blocks))
            if count is None and high > limit:
                break
            part = self._squares[:, low - self._held_from : high - self._held_from]
            self._blocks.append((1.0 / (self.BLOCK_S * self.rate)) * part.sum(axis=1))
        keep_from = min(self._bounds(len(self._blocks))[0], self.samples)
        self._squares = self._squares[:, keep_from - self._held_from :].copy()
        self._held_from = keep_from

    def integrated(self) -> float | None:
        """LUFS of everything fed so far, or None for silence or under 0.4 s (as mix.integrated_loudness)."""
        if self.samples < int(self.BLOCK_S * self.rate) + 1:
            return None
        duration = self.samples / self.rate
        count = int(np.round((duration - self.BLOCK_S) / (self.BLOCK_S * self.STEP))) + 1
        self._take_blocks(self.samples, count)
        z = np.array(self._blocks[:count])  # (blocks, channels)
        weights = np.array(self.WEIGHTS[: self.channels])
        with np.errstate(divide="ignore", invalid="ignore"):
            block_lufs = -0.691 + 10.0 * np.log10(z @ weights)
            above = block_lufs >= -70.0
            if not above.any():
                return None
            relative = -0.691 + 10.0 * np.log10(z[above].mean(axis=0) @ weights) - 10.0
            gated = (block_lufs > relative) & (block_lufs > -70.0)
            if not gated.any():
                return None
            value = -0.691 + 10.0 * np.log10(z[gated].mean(axis=0) @ weights)
        return float(value) if np.isfinite(value) else None


# --- the master ----------------------------------------------------------------------------------


class _Pass:
    """What one pass over a master candidate measured."""

    def __init__(self, sample_rate: int, path: Path):
        self.path = path  # the file the pass wrote
        self.meter = LoudnessMeter(sample_rate)
        self.true_peak = 0.0
        self.sample_peak = 0.0
        self.min_gain = 1.0


def send_bus_to_wav(
    sends: Sequence[tuple[Path, float]],
    sample_rate: int,
    n: int,
    chain_spec: Sequence,
    dst: Path,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    info: dict[str, str] | None = None,
) -> None:
    """A shared effect bus: each stem at its send level, summed in order, through one chain."""
    readers = [(AudioReader(path), np.float32(levels.db_to_gain(level_db))) for path, level_db in sends]
    try:
        board = effects.build_chain(chain_spec, (), sample_rate)

        def summed(start: int) -> np.ndarray:
            total = np.zeros((2, min(block_size, n - start)), dtype=np.float32)
            for reader, gain in readers:
                total += gain * reader.read(start, block_size)
            return total

        with WavWriter(dst, sample_rate, n, info=info) as out:
            if not chain_streams(board):
                whole = effects.apply_chain(
                    np.concatenate([summed(s) for s in range(0, n, block_size)], axis=1), sample_rate, board
                )
                for start in range(0, n, block_size):
                    out.write(fit_length(whole, n)[:, start : start + block_size])
                return
            for block in _through_chain((summed(s) for s in range(0, n, block_size)), board, sample_rate):
                out.write(block)
    finally:
        for reader, _ in readers:
            reader.close()


def measure_loudness(path: str | Path, *, block_size: int = DEFAULT_BLOCK_SIZE) -> float | None:
    """Integrated loudness (BS.1770) of a WAV file, read block by block; None for silence."""
    with AudioReader(path) as reader:
        meter = LoudnessMeter(reader.sample_rate, reader.channels)
        for start in range(0, reader.frames, block_size):
            meter.feed(reader.read(start, block_size))
    value = meter.integrated()
    return None if value is None else round(value, 3)


def _frames(n: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, LIMITER_FRAME):
        yield start, min(start + LIMITER_FRAME, n)


def _sum_and_chain(
    stem_paths: Sequence[Path], sample_rate: int, n: int, chain_spec, dst: Path, block_size: int
) -> float | None:
    """The stems summed in order, through the master chain, into dst; returns its loudness."""
    readers = [AudioReader(path) for path in stem_paths]
    try:
        for reader in readers:
            if reader.channels != 2 or reader.frames != n or reader.sample_rate != sample_rate:
                raise ValueError(
                    f"{reader.path}: expected stereo at {sample_rate} Hz with {n} frames, got "
                    f"{reader.channels} channels at {reader.sample_rate} Hz, {reader.frames} frames"
                )
        board = effects.build_chain(chain_spec, (), sample_rate) if chain_spec else None
        meter = LoudnessMeter(sample_rate)

        def mixed(start: int, count: int) -> np.ndarray:
            if not readers:
                return np.zeros((2, min(count, n - start)), dtype=np.float32)
            total = readers[0].read(start, count)
            for reader in readers[1:]:
                total += reader.read(start, count)  # a fixed order of float32 sums, as the whole path
            return total

        with WavWriter(dst, sample_rate, n) as out:
            if board is not None and not chain_streams(board):
                # A latency plugin on the master: it must see the whole mix (documented limit).
                processed = effects.apply_chain(mixed(0, n), sample_rate, board)
                for start in range(0, n, block_size):
                    meter.feed(processed[:, start : start + block_size])
                    out.write(processed[:, start : start + block_size])
                del processed
            else:
                blocks = (mixed(start, block_size) for start in range(0, n, block_size))
                for block in _through_chain(blocks, board, sample_rate):
                    meter.feed(block)
                    out.write(block)
        return meter.integrated()
    finally:
        for reader in readers:
            reader.close()


def _limit_pass(src: Path, dst: Path, sample_rate: int, gain_db: float, ceiling_db: float) -> _Pass:
    """src at gain_db through mix.limit_true_peak's look-ahead limiter, frame by frame, into dst.

    For each fixed frame the input is read with enough context (the limiter's reach, plus the
    true-peak filter's margin twice: once for the input's peaks, once for the output's), so the
    gain curve is the whole-signal one; the output's true peak, sample peak and loudness are
    measured on the way.
    """
    ceiling = levels.db_to_gain(ceiling_db)
    ahead = max(1, round(mix.LIMITER_LOOKAHEAD_S * sample_rate))
    back = max(1, round(mix.LIMITER_RELEASE_S * sample_rate))
    reach = back + ahead  # gain[n] depends on the needed gain over [n - reach, n + reach]
    margin = _ENVELOPE_MARGIN
    result = _Pass(sample_rate, dst)
    with AudioReader(src) as reader, WavWriter(dst, sample_rate, reader.frames) as out:
        n = reader.frames
        for start, stop in _frames(n):
            lo, hi = max(0, start - reach - 2 * margin), min(n, stop + reach + 2 * margin)
            x = mix.apply_gain_pan(reader.read(lo, hi - lo), gain_db, 0.0)
            envelope = mix.true_peak_envelope(x)
            needed = np.minimum(1.0, ceiling / np.maximum(envelope, 1e-12))
            held = mix._shift_filter(ndimage.minimum_filter1d, needed.astype(np.float64), back, ahead, 1.0)
            gain = mix._shift_filter(ndimage.uniform_filter1d, held, ahead, back, 1.0)
            gain = np.minimum(gain, needed)
            core = slice(start - lo, stop - lo)
            # Output with the true-peak filter's margin around the frame, where the gain is exact.
            wide = slice(max(0, start - margin) - lo, min(n, stop + margin) - lo)
            if gain[wide].min() >= 1.0:  # untouched here: the output's peaks are the input's
                limited, out_envelope = x[:, core], envelope[core]
            else:
                limited_wide = (x[:, wide] * gain[wide].astype(np.float32)).astype(np.float32)
                shift = core.start - wide.start
                limited = limited_wide[:, shift : shift + stop - start]
                out_envelope = mix.true_peak_envelope(limited_wide)[shift : shift + stop - start]
            result.min_gain = min(result.min_gain, float(gain[core].min()))
            _measure(result, limited, out_envelope)
            out.write(limited)
    return result


def _trim_pass(src: Path, dst: Path, sample_rate: int, factor: np.float32) -> _Pass:
    """src scaled by a static factor (the limiter's final trim), measured, into dst."""
    margin = _ENVELOPE_MARGIN
    result = _Pass(sample_rate, dst)
    with AudioReader(src) as reader, WavWriter(dst, sample_rate, reader.frames) as out:
        n = reader.frames
        for start, stop in _frames(n):
            lo, hi = max(0, start - margin), min(n, stop + margin)
            scaled = (reader.read(lo, hi - lo) * factor).astype(np.float32)
            core = slice(start - lo, stop - lo)
            _measure(result, scaled[:, core], mix.true_peak_envelope(scaled)[core])
            out.write(scaled[:, core])
    return result


def _measure(result: _Pass, audio: np.ndarray, envelope: np.ndarray) -> None:
    result.meter.feed(audio)
    if audio.size:
        result.true_peak = max(result.true_peak, float(envelope.max()))
        result.sample_peak = max(result.sample_peak, float(np.abs(audio).max()))


def mix_to_master_wav(
    stem_paths: Sequence[str | Path],
    sample_rate: int,
    master_chain_spec: Sequence | None,
    loudness_lufs: float | None,
    true_peak_db: float,
    out_path: str | Path,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    n_samples: int | None = None,
) -> dict:
    """The master of the summed stems as a float32 WAV, and mix.master's stats.

    The same steps as summing the stems and calling mix.master: the chain, gain to the loudness
    target, the true-peak limiter with its static trim, and up to four rounds of raising the gain
    when the limiter took loudness away. Each step is a pass over a float32 file in a temporary
    folder beside out_path (about one master's size of disk per intermediate), so memory stays
    O(block + LIMITER_FRAME). `n_samples` is needed only when there are no stems (all muted).
    """
    out_path = Path(out_path)
    stem_paths = [Path(path) for path in stem_paths]
    if block_size < 1:
        raise ValueError("block_size must be at least 1")
    if n_samples is None:
        if not stem_paths:
            raise ValueError("n_samples is needed when there are no stems")
        with AudioReader(stem_paths[0]) as first:
            n_samples = first.frames
    work = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", dir=out_path.parent))
    try:
        processed = work / "processed.wav"
        measured = _sum_and_chain(stem_paths, sample_rate, n_samples, master_chain_spec, processed, block_size)
        gain_db = 0.0
        if loudness_lufs is not None and measured is not None:
            gain_db = loudness_lufs - measured
        ceiling = levels.db_to_gain(true_peak_db)
        names = iter(f"candidate-{i}.wav" for i in range(64))
        current, reduction = None, 0.0
        for _ in range(4):
            if current is not None:
                current.path.unlink()
            candidate = work / next(names)
            current = _limit_pass(processed, candidate, sample_rate, gain_db, true_peak_db)
            reduction = 0.0 if current.min_gain >= 1.0 else float(-20.0 * np.log10(current.min_gain))
            for _trim in range(3):  # limit_true_peak's static trim for peaks between samples
                if current.true_peak <= ceiling:
                    break
                factor = np.float32(ceiling / current.true_peak * (1 - 1e-6))
                previous, current = current, _trim_pass(current.path, work / next(names), sample_rate, factor)
                previous.path.unlink()
            reached = current.meter.integrated()
            if loudness_lufs is None or reached is None or reduction == 0.0 or abs(reached - loudness_lufs) <= 0.1:
                break
            gain_db += loudness_lufs - reached
        os.replace(current.path, out_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "input_lufs": mix._round(measured),
        "integrated_lufs": mix._round(current.meter.integrated()),
        "target_lufs": loudness_lufs,
        "gain_db": mix._round(gain_db),
        "true_peak_dbtp": mix._round(levels.gain_to_db(current.true_peak)),
        "true_peak_ceiling_db": true_peak_db,
        "sample_peak_dbfs": mix._round(levels.gain_to_db(current.sample_peak)),
        "limiter_reduction_db": mix._round(reduction),
    }


# --- encodings -----------------------------------------------------------------------------------


def encode_wav_to(
    src_wav: str | Path,
    dst_path: str | Path,
    fmt: str | None,
    sample_rate: int,
    *,
    wav_subtype: str = "float32",
    flac_bits: int = 24,
    mp3_quality: str = audio_io.MP3_QUALITY,
    info: dict[str, str] | None = None,
    chunks: bytes = b"",
    gain: float = 1.0,
) -> Path:
    """An audio file re-encoded as wav (any subtype), flac or mp3, a chunk at a time.

    `chunks` are extra WAV chunks (bext); `gain` scales every sample first (1.0 leaves the bytes
    exactly as they were; the MP3 ceiling uses it to pull an encoding under the true-peak limit).

    The bytes equal audio_io.write_audio's for the file's samples: the same conversions, and the
    encoders are fed the same chunks.
    """
    dst_path = Path(dst_path)
    fmt = (fmt or dst_path.suffix.lstrip(".")).lower()
    if fmt not in audio_io.FORMATS:
        raise LofictlError(f"unknown audio format {fmt!r}; use one of {', '.join(audio_io.FORMATS)}")
    chunk = audio_io._CHUNK_FRAMES
    with AudioReader(src_wav) as reader:
        if fmt == "wav":
            with WavWriter(
                dst_path, sample_rate, reader.frames, wav_subtype, channels=reader.channels, info=info, chunks=chunks
            ) as out:
                for start in range(0, reader.frames, chunk):
                    out.write(_scaled(reader.read(start, chunk), gain))
            return dst_path
        if fmt == "mp3" and int(sample_rate) not in audio_io.MP3_SAMPLE_RATES:
            raise LofictlError(
                f"MP3 supports sample rates {', '.join(map(str, audio_io.MP3_SAMPLE_RATES))}, not {sample_rate}",
                field=("output", "sample_rate"),
            )
        from pedalboard.io import AudioFile

        options = {"bit_depth": flac_bits} if fmt == "flac" else {"quality": mp3_quality}
        try:
            with AudioFile(str(dst_path), "w", float(sample_rate), reader.channels, **options) as handle:
                for start in range(0, reader.frames, chunk):
                    handle.write(audio_io._check_audio(_scaled(reader.read(start, chunk), gain)))
        except BaseException:
            dst_path.unlink(missing_ok=True)
            raise
    return dst_path


def _scaled(block: np.ndarray, gain: float) -> np.ndarray:
    return block if gain == 1.0 else (block * np.float32(gain)).astype(np.float32)
