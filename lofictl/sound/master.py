"""The send bus and the master, as passes over float32 files: memory O(block + LIMITER_FRAME).

The master (`mix_to_master_wav`) sums the stems in a fixed order (the same float32 additions as
the whole path), runs a streaming master chain exactly, measures loudness with the streaming
BS.1770-4 meter (loudness.LoudnessMeter), and limits true peaks on a fixed grid of frames with
enough context on each side that every gain value is the one the whole-signal formula gives;
only the box filter's running sum, restarted per frame, rounds differently from
reference.limit_true_peak (last float32 bit, near limited peaks). The frame grid does not depend
on block_size, so the block size never changes a byte of the master either; reference.master is
the whole-array form the tests compare it with. It is two steps, so a caller can keep the first:
the pre-master (`sum_to_premaster_wav`: the sum through the chain, and its loudness), which no
loudness target or true-peak ceiling changes, and its mastering (`master_premaster_wav`). The
send bus (`send_bus_to_wav`) sums the stems at their send levels through one shared chain.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from scipy import ndimage

from lofictl.sound import effects, levels, mix, stream
from lofictl.sound.loudness import MeteredWavWriter, SideMeter
from lofictl.sound.stream import DEFAULT_BLOCK_SIZE, AudioReader, WavWriter, chain_streams, fit_length, through_chain

LIMITER_FRAME = 1 << 17  # the limiter's fixed grid, independent of block_size (so are the bytes)
_ENVELOPE_MARGIN = 64  # samples of context the 4x true-peak FIR needs (it spans about 10 each side)


class _Pass:
    """What one pass over a master candidate measured."""

    def __init__(self, sample_rate: int, path: Path):
        self.path = path  # the file the pass wrote
        self.meter = SideMeter(sample_rate)  # measures while the next frame is limited and written
        self.true_peak = 0.0
        self.sample_peak = 0.0
        self.min_gain = 1.0
        # Per limiter frame, the largest true-peak value in it, or a bound over it where the
        # pass left it unmeasured (a trim's frames far under the peak: _trim_pass).
        self.frame_peaks: list[float] = []

    @contextlib.contextmanager
    def metering(self) -> Iterator[None]:
        """While the pass runs; after it, whether it failed or not, every block fed has been
        measured and the meter's thread has ended."""
        try:
            yield
        finally:
            self.meter.stop()


def send_bus_to_wav(
    sends: Sequence[tuple[Path, float]],
    sample_rate: int,
    n: int,
    chain_spec: Sequence,
    dst: Path,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    info: dict[str, str] | None = None,
) -> float | None:
    """A shared effect bus: each stem at its send level, summed in order, through one chain.
    Returns the bus's integrated loudness, measured on the way (as loudness.measure_loudness)."""
    readers = [(AudioReader(path), np.float32(levels.db_to_gain(level_db))) for path, level_db in sends]
    try:
        board = effects.build_chain(chain_spec, (), sample_rate)

        def summed(start: int) -> np.ndarray:
            total = np.zeros((2, min(block_size, n - start)), dtype=np.float32)
            for reader, gain in readers:
                total += gain * reader.read(start, block_size)
            return total

        with MeteredWavWriter(dst, sample_rate, n, info=info) as out:
            if not chain_streams(board):
                whole = effects.apply_chain(
                    np.concatenate([summed(s) for s in range(0, n, block_size)], axis=1), sample_rate, board
                )
                for start in range(0, n, block_size):
                    out.write(fit_length(whole, n)[:, start : start + block_size])
                return out.lufs
            for block in through_chain((summed(s) for s in range(0, n, block_size)), board, sample_rate):
                out.write(block)
        return out.lufs
    finally:
        for reader, _ in readers:
            reader.close()


def _frames(n: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, LIMITER_FRAME):
        yield start, min(start + LIMITER_FRAME, n)


def _sum_and_chain(
    stem_paths: Sequence[Path], sample_rate: int, n: int, chain_spec, dst: Path, block_size: int
) -> float | None:
    """The stems summed in order, through the master chain, into dst; returns its loudness."""
    readers = [AudioReader(path) for path in stem_paths]
    meter = SideMeter(sample_rate)  # measures while the chain makes the next block
    try:
        for reader in readers:
            if reader.channels != 2 or reader.frames != n or reader.sample_rate != sample_rate:
                raise ValueError(
                    f"{reader.path}: expected stereo at {sample_rate} Hz with {n} frames, got "
                    f"{reader.channels} channels at {reader.sample_rate} Hz, {reader.frames} frames"
                )
        board = effects.build_chain(chain_spec, (), sample_rate) if chain_spec else None

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
                for block in through_chain(blocks, board, sample_rate):
                    meter.feed(block)
                    out.write(block)
        return meter.integrated()
    finally:
        meter.stop()
        for reader in readers:
            reader.close()


def _limit_pass(src: Path, dst: Path, sample_rate: int, gain_db: float, ceiling_db: float, workers: int = 1) -> _Pass:
    """src at gain_db through the look-ahead limiter of reference.limit_true_peak, frame by frame, into dst.

    For each fixed frame the input is read with enough context (the limiter's reach, plus the
    true-peak filter's margin twice: once for the input's peaks, once for the output's), so the
    gain curve is the whole-signal one; the output's true peak, sample peak and loudness are
    measured on the way. Frames are limited on `workers` threads and measured and written in order.
    """
    ceiling = levels.db_to_gain(ceiling_db)
    ahead = max(1, round(mix.LIMITER_LOOKAHEAD_S * sample_rate))
    back = max(1, round(mix.LIMITER_RELEASE_S * sample_rate))
    reach = back + ahead  # gain[n] depends on the needed gain over [n - reach, n + reach]
    margin = _ENVELOPE_MARGIN
    result = _Pass(sample_rate, dst)

    def limit(item: tuple[int, int, int, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
        start, stop, lo, read = item
        x = mix.apply_gain_pan(read, gain_db, 0.0)
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
        return limited, out_envelope, float(gain[core].min())

    with result.metering(), AudioReader(src) as reader, WavWriter(dst, sample_rate, reader.frames) as out:
        n = reader.frames

        def frames() -> Iterator[tuple[int, int, int, np.ndarray]]:
            for start, stop in _frames(n):
                lo, hi = max(0, start - reach - 2 * margin), min(n, stop + reach + 2 * margin)
                yield start, stop, lo, reader.read(lo, hi - lo)

        for limited, out_envelope, min_gain in stream.ordered_map(limit, frames(), workers):
            result.min_gain = min(result.min_gain, min_gain)
            _measure(result, limited, float(out_envelope.max(initial=0.0)))
            out.write(limited)
    return result


# A trim scales every sample by one factor, so each frame's true peak becomes the factor times its
# old one, give or take the scaled samples' float32 rounding as the 4x filter spreads it (under
# 1e-7 of the track's peak). A frame whose old peak is under the track's by more than
# _TRIM_SKIP cannot hold the new peak and is not filtered again; a bound of _TRIM_SLACK over its
# scaled old peak stands for it. The true peak found is the one filtering every frame finds.
_TRIM_SKIP = 1e-4
_TRIM_SLACK = 1e-6


def _trim_pass(
    src: Path, dst: Path, sample_rate: int, factor: np.float32, workers: int = 1, frame_peaks: Sequence[float] = ()
) -> _Pass:
    """src scaled by a static factor (the limiter's final trim), measured, into dst. With the
    pass before's `frame_peaks`, only the frames that may hold the new true peak are filtered
    for it (about one in six of a mastered track's)."""
    margin = _ENVELOPE_MARGIN
    result = _Pass(sample_rate, dst)
    scale = float(factor)
    top = max(frame_peaks, default=0.0)

    def trim(item: tuple[int, int, int, np.ndarray, float | None]) -> tuple[np.ndarray, float]:
        start, stop, lo, read, before = item
        scaled = (read * factor).astype(np.float32)
        core = slice(start - lo, stop - lo)
        if before is not None and before < top * (1 - _TRIM_SKIP):
            return scaled[:, core], scale * before + _TRIM_SLACK * scale * top  # a bound, not filtered
        return scaled[:, core], float(mix.true_peak_envelope(scaled)[core].max(initial=0.0))

    with result.metering(), AudioReader(src) as reader, WavWriter(dst, sample_rate, reader.frames) as out:
        n = reader.frames

        def frames() -> Iterator[tuple[int, int, int, np.ndarray, float | None]]:
            for index, (start, stop) in enumerate(_frames(n)):
                lo, hi = max(0, start - margin), min(n, stop + margin)
                before = frame_peaks[index] if index < len(frame_peaks) else None
                yield start, stop, lo, reader.read(lo, hi - lo), before

        for scaled, peak in stream.ordered_map(trim, frames(), workers):
            _measure(result, scaled, peak)
            out.write(scaled)
    return result


def _measure(result: _Pass, audio: np.ndarray, peak: float) -> None:
    """A frame of the pass's output and its true peak (or a bound over it, never the largest)."""
    result.meter.feed(audio)
    result.frame_peaks.append(peak)
    if audio.size:
        result.true_peak = max(result.true_peak, peak)
        result.sample_peak = max(result.sample_peak, float(np.abs(audio).max()))


def sum_to_premaster_wav(
    stem_paths: Sequence[str | Path],
    sample_rate: int,
    master_chain_spec: Sequence | None,
    dst: str | Path,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    n_samples: int | None = None,
) -> float | None:
    """The pre-master: the stems summed in order through the master chain, as a float32 WAV at
    dst; returns its integrated loudness. It depends on neither the loudness target nor the
    true-peak ceiling, so a caller that keeps it (the build's cache) can master it again for
    another target (`master_premaster_wav`). `n_samples` is needed only when there are no stems."""
    stem_paths = [Path(path) for path in stem_paths]
    if block_size < 1:
        raise ValueError("block_size must be at least 1")
    if n_samples is None:
        if not stem_paths:
            raise ValueError("n_samples is needed when there are no stems")
        with AudioReader(stem_paths[0]) as first:
            n_samples = first.frames
    return _sum_and_chain(stem_paths, sample_rate, n_samples, master_chain_spec, Path(dst), block_size)


def master_premaster_wav(
    premaster: str | Path,
    premaster_lufs: float | None,
    sample_rate: int,
    loudness_lufs: float | None,
    true_peak_db: float,
    out_path: str | Path,
    *,
    workers: int = 1,
) -> dict:
    """The master of a pre-master (`sum_to_premaster_wav`, whose loudness is `premaster_lufs`)
    as a float32 WAV, and reference.master's stats: gain to the loudness target, the true-peak
    limiter with its static trim, and up to four rounds of raising the gain when the limiter
    took loudness away. Each step is a pass over a float32 file in a temporary folder beside
    out_path (about one master's size of disk per intermediate); the pre-master is only read.
    `workers`: threads for the limiter's frames (the bytes do not depend on it)."""
    out_path = Path(out_path)
    work = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", dir=out_path.parent))
    try:
        gain_db = 0.0
        if loudness_lufs is not None and premaster_lufs is not None:
            gain_db = loudness_lufs - premaster_lufs
        ceiling = levels.db_to_gain(true_peak_db)
        names = iter(f"candidate-{i}.wav" for i in range(64))
        current, reduction = None, 0.0
        for _ in range(4):
            if current is not None:
                current.path.unlink()
            candidate = work / next(names)
            current = _limit_pass(Path(premaster), candidate, sample_rate, gain_db, true_peak_db, workers)
            reduction = 0.0 if current.min_gain >= 1.0 else float(-20.0 * np.log10(current.min_gain))
            for _trim in range(3):  # limit_true_peak's static trim for peaks between samples
                if current.true_peak <= ceiling:
                    break
                factor = np.float32(ceiling / current.true_peak * (1 - 1e-6))
                trimmed = _trim_pass(
                    current.path, work / next(names), sample_rate, factor, workers, current.frame_peaks
                )
                previous, current = current, trimmed
                previous.path.unlink()
            reached = current.meter.integrated()
            if loudness_lufs is None or reached is None or reduction == 0.0 or abs(reached - loudness_lufs) <= 0.1:
                break
            gain_db += loudness_lufs - reached
        os.replace(current.path, out_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "input_lufs": mix._round(premaster_lufs),
        "integrated_lufs": mix._round(current.meter.integrated()),
        "target_lufs": loudness_lufs,
        "gain_db": mix._round(gain_db),
        "true_peak_dbtp": mix._round(levels.gain_to_db(current.true_peak)),
        "true_peak_ceiling_db": true_peak_db,
        "sample_peak_dbfs": mix._round(levels.gain_to_db(current.sample_peak)),
        "limiter_reduction_db": mix._round(reduction),
    }


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
    workers: int = 1,
) -> dict:
    """The master of the summed stems as a float32 WAV, and reference.master's stats.

    The same steps as summing the stems and calling reference.master: `sum_to_premaster_wav`
    (the chain), then `master_premaster_wav` (loudness, true-peak limiter, trim), with the
    pre-master in a temporary folder beside out_path. Memory stays O(block + LIMITER_FRAME) per
    worker. `n_samples` is needed only when there are no stems (all muted); `workers`: threads
    for the limiter's frames (the bytes do not depend on it).
    """
    out_path = Path(out_path)
    work = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", dir=out_path.parent))
    try:
        premaster = work / "premaster.wav"
        lufs = sum_to_premaster_wav(
            stem_paths, sample_rate, master_chain_spec, premaster, block_size=block_size, n_samples=n_samples
        )
        return master_premaster_wav(
            premaster, lufs, sample_rate, loudness_lufs, true_peak_db, out_path, workers=workers
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
