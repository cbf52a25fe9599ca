"""Long tracks in bounded memory: the block engine the streamed stages run on.

A 60-minute stereo stem is 635 MB of float32, and the whole-array path holds every stem at once
while mixing. Here every stage reads and writes files a block at a time, so memory stays
O(block) whatever the length, and time grows linearly with it. This module has what those
stages share: WAV files written (`WavWriter`) and read (`AudioReader`) a block at a time, effect
chains run across blocks with the bytes of the whole signal (`chain_streams`, `through_chain`),
lengths lined up (`fit_length`), and a finished file re-encoded (`encode_wav_to`).

Built on it: sound.stems (stems and overlays), sound.loudness (the streaming BS.1770 meter) and
sound.master (the send bus and the master). Each gives the bytes of the whole-array renders in
sound.reference for any block size, and says how; the tests check each claim. Here, encodings
(`encode_wav_to`) feed the same samples in the same chunks as audio_io.write_audio.

Files are read with plain reads, not np.memmap: mapped pages count towards the process's RSS.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable, Iterable, Iterator, Self, Sequence, TypeVar

import numpy as np
import pedalboard

from lofictl.errors import LofictlError
from lofictl.sound import audio_io, effects

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_BLOCK_SIZE = 1 << 16  # samples per block (512 KB of stereo float32); any value, same bytes


# --- WAV files a block at a time ----------------------------------------------------------------


class WavWriter:
    """A WAV written block by block: the header (with the known length) first, then the frames.

    The bytes equal audio_io.write_wav's for the same samples. Writing fewer or more frames than
    announced is an error, and a file left unfinished by an error is removed. `frames=None`: a
    length known only at the end (an album's sequence); the header, the same size whatever the
    length, is written again with the frames written when the file is closed.
    """

    def __init__(
        self,
        path: str | Path,
        sample_rate: int,
        frames: int | None,
        subtype: str = "float32",
        *,
        channels: int = 2,
        info: dict[str, str] | None = None,
        chunks: bytes = b"",
    ):
        if subtype not in audio_io.WAV_SUBTYPES:
            raise LofictlError(f"WAV subtype {subtype!r} is not one of {', '.join(audio_io.WAV_SUBTYPES)}")
        self.growing = frames is None
        self.path, self.frames, self.subtype, self.channels = Path(path), int(frames or 0), subtype, channels
        self.written = 0
        self._header = (int(sample_rate), info, chunks)
        self._handle = open(self.path, "wb")
        self._handle.write(self._header_bytes())

    def _header_bytes(self) -> bytes:
        sample_rate, info, chunks = self._header
        return audio_io._wav_header(self.channels, sample_rate, self.frames, self.subtype, info, chunks)

    def write(self, block: np.ndarray) -> None:
        self._put(audio_io._check_audio(block))  # float32, finite, (channels, n)

    def _put(self, block: np.ndarray) -> None:
        """A checked block onto the end of the file."""
        if block.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[0]}")
        if self.growing:
            self.frames += block.shape[1]
        elif self.written + block.shape[1] > self.frames:
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
            if self.growing:
                self._handle.seek(0)
                self._handle.write(self._header_bytes())  # the same size, now with the real lengths
        finally:
            self._handle.close()

    def __enter__(self) -> Self:  # a subclass's own type (loudness.MeteredWavWriter)
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
            self._kept: tuple[int, np.ndarray] = (0, np.zeros((self.channels, 0), dtype=np.float32))

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
        return self._decoded(start, count)

    def _decoded(self, start: int, count: int) -> np.ndarray:
        # A seek restarts a lossy decoder cold (an MP3's bit reservoir and overlap are lost), so
        # the first frames after it are not the file's: reading a chunk with context from before
        # it measured an MP3's true peak 7 dB high. So the decoder only moves on: frames already
        # decoded come from the last block, and a seek happens only to go where nothing was read.
        decoder = self._audio_file
        assert decoder is not None  # a file that is not a float32 WAV
        kept_start, kept = self._kept
        taken = np.zeros((self.channels, 0), dtype=np.float32)
        if kept_start <= start < kept_start + kept.shape[1]:
            taken = kept[:, start - kept_start : start - kept_start + count]
        rest = count - taken.shape[1]
        if rest:
            if decoder.tell() != start + taken.shape[1]:
                decoder.seek(start + taken.shape[1])
            taken = np.concatenate([taken, np.asarray(decoder.read(rest), dtype=np.float32)], axis=1)
        self._kept = (start, taken)
        return taken

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


# --- effect chains over blocks -----------------------------------------------------------------


def chain_streams(chain: Sequence | pedalboard.Pedalboard | None, sample_rate: int | None = None) -> bool:
    """True when block processing of the chain gives the same bytes as whole (no WHOLE_ONLY plugin)."""
    if not chain:
        return True
    board = chain if isinstance(chain, pedalboard.Pedalboard) else effects.build_chain(chain, (), sample_rate)
    return all(effects._streams(plugin) for plugin in board)


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


def through_chain(
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


# --- work on both cores, results in order -------------------------------------------------------


def ordered_map(
    work: Callable[[T], R], items: Iterable[T], workers: int = 1, name: str = "lofictl-pass"
) -> Iterator[R]:
    """work(item) for each item, on up to `workers` threads (named `name`), yielded in the items' order.

    For the parts of a pass that release the GIL (the true-peak filter, Pedalboard): what
    follows in order (a meter, a file) gets the same values as a serial loop. At most `workers`
    items are drawn ahead of the result being yielded, so memory stays bounded.
    """
    if workers <= 1:
        yield from map(work, items)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(work, item))
                if len(pending) >= workers:  # `workers` items in flight: memory of that many
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


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
