"""Encodings that keep the master's promise: an MP3's true peak stays under the ceiling.

A lossy encoder rebuilds the waveform from bands, so its peaks land above the source's: LAME at
V2 put this project's masters, limited to -1.0 dBTP, up to 0.36 dB over it, and its peaks do not
follow the gain smoothly (its quantisation reshuffles with every change: ±0.2 dB). So the gain is
chosen once from the master's measured true peak, leaving `_HEADROOM_DB` for LAME's overshoot,
and the MP3 is encoded once. The decoded file is still measured, the only honest check: when
its peak is over after all, the master is encoded again, scaled down by the excess plus a margin
that doubles per retry (the gain only ever goes down, so the loop ends). With 0.5 dB every
master and 30-second excerpt of the examples landed in one encode (worst -0.29 dB under).
FLAC and WAV are exact and need no such loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lofictl.errors import LofictlError
from lofictl.sound import levels

_HEADROOM_DB = 0.5  # LAME's overshoot over the master's true peak, left free before the one encode
_MARGIN_DB = 0.05  # below the ceiling on a retry, doubled on each further one
_TRIES = 7
_CHUNK = 1 << 18
_CONTEXT = 64  # samples each side: the 4x true-peak filter reaches about 10


def true_peak_of_file(path: str | Path, *, workers: int = 1) -> float:
    """The true peak (linear, 4x oversampled, BS.1770-4) of any audio file, read in chunks (their
    filtering on `workers` threads: the largest value is the same whatever the order)."""
    from lofictl.sound import mix
    from lofictl.sound.stream import AudioReader, ordered_map

    def chunks(reader: AudioReader):
        for start in range(0, reader.frames, _CHUNK):
            lo = max(0, start - _CONTEXT)
            block = reader.read(lo, min(reader.frames, start + _CHUNK + _CONTEXT) - lo)
            yield block, start - lo, min(_CHUNK, reader.frames - start)

    def chunk_peak(item) -> float:
        block, offset, count = item
        if block.shape[0] == 1:
            block = np.vstack([block, block])
        core = mix.true_peak_envelope(block)[offset : offset + count]
        return float(core.max()) if core.size else 0.0

    peak = 0.0
    with AudioReader(path) as reader:
        for value in ordered_map(chunk_peak, chunks(reader), workers):
            peak = max(peak, value)
    return peak


def first_mp3_gain(source_peak: float, ceiling: float) -> float:
    """The gain for the one MP3 encode: none when the master's true peak (linear) plus LAME's
    overshoot stays under the ceiling, else just enough to make room for the overshoot."""
    if source_peak <= 0.0:  # silence
        return 1.0
    return min(1.0, ceiling / (source_peak * levels.db_to_gain(_HEADROOM_DB)))


def encode_master(
    src_wav: Path,
    dst: Path,
    fmt: str,
    sample_rate: int,
    *,
    ceiling_db: float,
    wav_subtype: str = "float32",
    info: dict[str, str] | None = None,
    chunks: bytes = b"",
    workers: int = 1,
    source_peak_dbtp: float | None = None,
) -> dict:
    """src (a float32 master at or under the ceiling) as wav, flac or mp3.

    Returns {"true_peak_dbtp": measured on the decoded file (mp3), "gain_db": applied before
    encoding (0 unless the MP3 needed pulling down), "encodings": how many it took}. Same master,
    same encoder, same bytes. `source_peak_dbtp`: the master's true peak as its stage measured
    it (measured here when None); `workers`: threads for measuring true peaks.
    """
    from lofictl.sound import stream

    if fmt != "mp3":
        stream.encode_wav_to(src_wav, dst, fmt, sample_rate, wav_subtype=wav_subtype, info=info, chunks=chunks)
        return {"gain_db": 0.0}
    ceiling = levels.db_to_gain(ceiling_db)
    gain = first_mp3_gain(
        true_peak_of_file(src_wav, workers=workers)
        if source_peak_dbtp is None
        else levels.db_to_gain(source_peak_dbtp),
        ceiling,
    )
    for attempt in range(_TRIES):
        stream.encode_wav_to(src_wav, dst, "mp3", sample_rate, gain=gain)
        peak = true_peak_of_file(dst, workers=workers)
        if peak <= ceiling:
            return {
                "true_peak_dbtp": None if (peak_db := levels.gain_to_db(peak)) is None else round(peak_db, 3),
                "gain_db": round(20 * float(np.log10(gain)), 3),
                "encodings": attempt + 1,
            }
        gain *= min(1.0, ceiling / peak) * levels.db_to_gain(-_MARGIN_DB * 2**attempt)  # rare: see above
    dst.unlink(missing_ok=True)
    raise LofictlError(
        f"the MP3 of {src_wav.name} stays above the {ceiling_db} dBTP ceiling after "
        f"{_TRIES} tries (peak {levels.gain_to_db(peak):.2f} dBTP)"
    )
