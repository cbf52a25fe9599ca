"""Audio files in and out, with output bytes that depend only on the audio.

WAV is written here byte by byte (header included) so nothing else - no timestamp, no library
version, no optional chunk - can reach the file. FLAC and MP3 go through Pedalboard's encoders
(libFLAC, LAME), which were checked to give the same bytes for the same input; their bytes can
change with those libraries' versions, which the lock file records.

Conversion to integers rounds to nearest without dither: dither is random, and at 24 bits its
absence is inaudible. Values beyond full scale are clipped in integer formats (float32 WAV keeps
them).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from lofictl.errors import LofictlError

FORMATS = ("wav", "flac", "mp3")
WAV_SUBTYPES = ("float32", "24bit", "16bit")
MP3_QUALITY = "V2"  # LAME VBR preset: transparent for this material, about 190 kbit/s
MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_CHUNK_FRAMES = 1 << 18  # frames converted at a time, so writing needs little extra memory

_WAVE_FORMAT_PCM, _WAVE_FORMAT_IEEE_FLOAT = 1, 3


class NonFiniteAudio(LofictlError, ValueError):
    """Samples that are NaN or infinite: an effect chain ran away (the build says which one)."""


def _check_audio(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[0] not in (1, 2):
        raise ValueError(f"expected audio shaped (channels, samples) with 1 or 2 channels, got {audio.shape}")
    if not np.isfinite(audio).all():
        raise NonFiniteAudio("audio contains NaN or infinite samples")
    return audio.astype(np.float32, copy=False)


def info_chunk(info: dict[str, str] | None) -> bytes:
    """A RIFF LIST/INFO chunk (INAM title, ISFT software, ICMT comment...), sorted, NUL-terminated."""
    if not info:
        return b""
    body = b"INFO"
    for tag, text in sorted(info.items()):
        if len(tag) != 4:
            raise ValueError(f"INFO tags are four characters, not {tag!r}")
        data = text.encode("utf-8") + b"\0"
        body += tag.encode("ascii") + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")
    return b"LIST" + struct.pack("<I", len(body)) + body


def read_info_chunk(path: str | Path) -> dict[str, str]:
    """The LIST/INFO entries of a WAV file (empty when it has none)."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise LofictlError(f"{path} is not a WAV file")
        info: dict[str, str] = {}
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return info
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"LIST":
                body = handle.read(size)
                if body[:4] == b"INFO":
                    pos = 4
                    while pos + 8 <= len(body):
                        tag, length = (
                            body[pos : pos + 4].decode("ascii", "replace"),
                            struct.unpack("<I", body[pos + 4 : pos + 8])[0],
                        )
                        info[tag] = body[pos + 8 : pos + 8 + length].rstrip(b"\0").decode("utf-8", "replace")
                        pos += 8 + length + (length & 1)
                if size & 1:
                    handle.read(1)
            else:
                handle.seek(size + (size & 1), 1)


def _wav_header(
    channels: int, sample_rate: int, frames: int, subtype: str, info: dict[str, str] | None = None, chunks: bytes = b""
) -> bytes:
    """RIFF/WAVE header up to the data chunk's size; `chunks`: whole extra chunks (e.g. bext)."""
    bits = {"float32": 32, "24bit": 24, "16bit": 16}[subtype]
    block_align = channels * bits // 8
    data_size = frames * block_align
    if subtype == "float32":
        # Non-PCM WAV: an 18-byte fmt chunk (cbSize = 0) and a fact chunk with the frame count.
        fmt = struct.pack(
            "<HHIIHHH", _WAVE_FORMAT_IEEE_FLOAT, channels, sample_rate, sample_rate * block_align, block_align, bits, 0
        )
        extra = b"fact" + struct.pack("<II", 4, frames)
    else:
        fmt = struct.pack(
            "<HHIIHH", _WAVE_FORMAT_PCM, channels, sample_rate, sample_rate * block_align, block_align, bits
        )
        extra = b""
    listing = info_chunk(info) + chunks  # provenance, before the data so readers find it without seeking far
    if len(chunks) & 1:
        raise ValueError("extra WAV chunks must have even length")
    body_size = 4 + (8 + len(fmt)) + len(extra) + len(listing) + 8 + data_size + (data_size & 1)
    if body_size > 0xFFFFFFFF:
        raise LofictlError("the audio is too long for a WAV file (over 4 GB); use flac")
    return (
        b"RIFF"
        + struct.pack("<I", body_size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + extra
        + listing
        + b"data"
        + struct.pack("<I", data_size)
    )


def _wav_frames(block: np.ndarray, subtype: str) -> bytes:
    """Interleaved little-endian sample bytes for a (channels, frames) block."""
    interleaved = np.ascontiguousarray(block.T)
    if subtype == "float32":
        return interleaved.astype("<f4").tobytes()
    if subtype == "16bit":
        return np.clip(np.rint(interleaved * 32768.0), -32768, 32767).astype("<i2").tobytes()
    ints = np.clip(np.rint(interleaved.astype(np.float64) * 8388608.0), -8388608, 8388607).astype("<i4")
    return ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()  # low three bytes of each int32


def write_wav(
    path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "float32", *, info: dict[str, str] | None = None
) -> None:
    audio = _check_audio(audio)
    if subtype not in WAV_SUBTYPES:
        raise LofictlError(f"WAV subtype {subtype!r} is not one of {', '.join(WAV_SUBTYPES)}")
    channels, frames = audio.shape
    with open(path, "wb") as handle:
        handle.write(_wav_header(channels, int(sample_rate), frames, subtype, info))
        for start in range(0, frames, _CHUNK_FRAMES):
            handle.write(_wav_frames(audio[:, start : start + _CHUNK_FRAMES], subtype))
        if (frames * channels * {"float32": 4, "24bit": 3, "16bit": 2}[subtype]) & 1:
            handle.write(b"\0")  # RIFF chunks have even length


def write_audio(
    path: str | Path,
    audio: np.ndarray,
    sample_rate: int,
    fmt: str | None = None,
    *,
    wav_subtype: str = "float32",
    flac_bits: int = 24,
    mp3_quality: str = MP3_QUALITY,
    info: dict[str, str] | None = None,
) -> Path:
    """Write (channels, samples) float audio as wav, flac or mp3 (default: from the suffix)."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise LofictlError(f"unknown audio format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "wav":
        write_wav(path, audio, sample_rate, wav_subtype, info=info)
        return path
    audio = _check_audio(audio)
    if fmt == "mp3" and int(sample_rate) not in MP3_SAMPLE_RATES:
        raise LofictlError(
            f"MP3 supports sample rates {', '.join(map(str, MP3_SAMPLE_RATES))}, not {sample_rate}",
            field=("output", "sample_rate"),
        )
    from pedalboard.io import AudioFile

    options = {"bit_depth": flac_bits} if fmt == "flac" else {"quality": mp3_quality}
    with AudioFile(str(path), "w", float(sample_rate), audio.shape[0], **options) as handle:
        for start in range(0, audio.shape[1], _CHUNK_FRAMES):
            handle.write(np.ascontiguousarray(audio[:, start : start + _CHUNK_FRAMES]))
    return path


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """(float32 audio shaped (channels, samples) as stored, sample rate) of a WAV/FLAC/MP3/... file."""
    from pedalboard.io import AudioFile

    path = Path(path)
    if not path.is_file():
        raise LofictlError(f"audio file {path} does not exist")
    try:
        with AudioFile(str(path)) as handle:
            audio = handle.read(handle.frames)
            sample_rate = handle.samplerate
    except (ValueError, RuntimeError, OSError):
        raise LofictlError(f"{path} is not an audio file that can be read (WAV, FLAC, MP3, OGG and AIFF can)") from None
    return np.asarray(audio, dtype=np.float32), int(round(sample_rate))
