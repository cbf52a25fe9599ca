"""Integrated loudness (ITU-R BS.1770-4) of audio fed a block at a time.

`LoudnessMeter` matches pyloudnorm (mix.integrated_loudness, the whole-array form) to ~1e-9 LU
at any block size; the master's passes measure with it on the way, `MeteredWavWriter` measures a
stem, overlay or bus while it is written (its loudness then travels with the stage's cache entry
to the export), and `measure_loudness` reads a finished file.
"""

from __future__ import annotations

import math
import queue
import threading
from pathlib import Path

import numpy as np

from lofictl.sound.stream import DEFAULT_BLOCK_SIZE, AudioReader, WavWriter


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
        # SciPy (0.7 s to import) is imported by the first block, not with this module: a side
        # meter's thread takes it while the stems' synths already render (they release the GIL).
        from scipy import signal

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


class SideMeter:
    """A LoudnessMeter fed on a thread of its own, so that measuring overlaps making the audio
    (K-weighting is a third of a stem's or overlay's work, and its filters release the GIL).
    The same blocks reach the same meter in the same order: the same figure, to the last bit.
    At most `depth` blocks wait, so memory stays bounded when the meter falls behind.
    """

    def __init__(self, sample_rate: int, channels: int = 2, depth: int = 4):
        self._meter = LoudnessMeter(sample_rate, channels)  # raises here, on the caller's thread
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lofictl-meter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._meter.feed(block)
                except BaseException as exc:  # handed to the caller at its next feed or at the end
                    self._error = exc

    def feed(self, block: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        if not self._thread.is_alive():
            raise RuntimeError("the meter was stopped")
        self._queue.put(np.array(block, dtype=np.float64))  # a copy: the caller may reuse its array

    def stop(self) -> None:
        """End the thread once what waits is measured (at once after an error upstream too)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def finished(self) -> LoudnessMeter:
        """The meter, once every block fed has reached it."""
        self.stop()
        if self._error is not None:
            raise self._error
        return self._meter

    def integrated(self) -> float | None:
        return self.finished().integrated()


def _rounded(meter: LoudnessMeter) -> float | None:
    value = meter.integrated()
    return None if value is None else round(value, 3)


class MeteredWavWriter(WavWriter):
    """A WavWriter that measures what it writes: `lufs` is measure_loudness of the finished file
    (the same float32 samples through the same meter), without reading the file again."""

    def __init__(self, path: str | Path, sample_rate: int, frames: int, **kwargs):
        super().__init__(path, sample_rate, frames, **kwargs)
        self.meter = SideMeter(int(sample_rate), self.channels)  # measures while the next block is made

    def _put(self, block: np.ndarray) -> None:
        super()._put(block)
        self.meter.feed(block)

    def __exit__(self, kind, value, traceback) -> None:
        try:
            super().__exit__(kind, value, traceback)
        finally:
            self.meter.stop()  # its thread ends with the file, whatever happened

    @property
    def lufs(self) -> float | None:
        """Integrated loudness (BS.1770, rounded to 0.001 LU) of everything written; None for silence."""
        return _rounded(self.meter.finished())


def measure_loudness(path: str | Path, *, block_size: int = DEFAULT_BLOCK_SIZE) -> float | None:
    """Integrated loudness (BS.1770) of a WAV file, read block by block; None for silence."""
    with AudioReader(path) as reader:
        meter = LoudnessMeter(reader.sample_rate, reader.channels)
        for start in range(0, reader.frames, block_size):
            meter.feed(reader.read(start, block_size))
    return _rounded(meter)
