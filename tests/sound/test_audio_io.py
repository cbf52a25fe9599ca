"""Audio files: exact round trips, and the same bytes every time the same audio is written."""

import hashlib
import struct
import subprocess
import sys
import wave

import numpy as np
import pytest

from lofictl.errors import LofictlError
from lofictl.sound.audio_io import read_audio, write_audio

SR = 44100


@pytest.fixture(scope="module")
def audio():
    t = np.arange(SR // 2) / SR
    tone = 0.5 * np.sin(2 * np.pi * 440 * t) * np.linspace(0, 1, t.size)
    return np.stack([tone, -0.5 * tone]).astype(np.float32)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_float_wav_round_trip_is_exact_and_header_is_standard(tmp_path, audio):
    path = write_audio(tmp_path / "a.wav", audio, SR)
    back, sample_rate = read_audio(path)
    assert sample_rate == SR and back.tobytes() == audio.tobytes()
    data = path.read_bytes()
    # RIFF....WAVE, fmt chunk of 18 bytes: format 3 (IEEE float), 2 channels, 44100 Hz, 32 bits.
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt " and struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    assert struct.unpack_from("<IHHIIHHH", data, 16) == (18, 3, 2, SR, SR * 8, 8, 32, 0)
    assert data[38:50] == b"fact" + struct.pack("<II", 4, audio.shape[1])
    assert data[50:54] == b"data" and struct.unpack_from("<I", data, 54)[0] == audio.size * 4


@pytest.mark.parametrize("subtype, width", [("24bit", 3), ("16bit", 2)])
def test_integer_wav_rounds_to_nearest_step(tmp_path, audio, subtype, width):
    path = write_audio(tmp_path / "a.wav", audio, SR, wav_subtype=subtype)
    with wave.open(str(path)) as reader:  # the standard library reads PCM WAV, so the header is standard
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (2, width, SR)
        raw = reader.readframes(reader.getnframes())
    padded = np.frombuffer(raw, np.uint8).reshape(-1, width)
    ints = np.zeros((padded.shape[0], 4), np.uint8)
    ints[:, 4 - width :] = padded  # little-endian sample in the high bytes of an int32
    scale = 2.0 ** (8 * width - 1)
    decoded = (ints.view("<i4")[:, 0] / 2 ** (8 * (4 - width)) / scale).reshape(-1, 2).T
    assert np.abs(decoded - audio).max() <= 0.5 / scale + 1e-12
    back, _ = read_audio(path)  # Pedalboard scales by 1/(2**(bits-1) - 1): within a step
    assert np.abs(back - audio).max() <= 1.0 / scale + 1e-9


def test_24bit_wav_clips_and_packs_little_endian(tmp_path):
    samples = np.array([[1.5, -1.0, 0.5, -(2**-23), 0.0]], dtype=np.float32)
    data = write_audio(tmp_path / "c.wav", samples, SR, wav_subtype="24bit").read_bytes()
    # 44-byte PCM header, then 3 bytes a sample; the odd-length data chunk is padded with a zero byte.
    assert data[40:44] == struct.pack("<I", 15)
    assert data[44:] == bytes.fromhex("ffff7f 000080 000040 ffffff 000000 00")


def test_flac_is_lossless_at_24_bits(tmp_path, audio):
    back, sample_rate = read_audio(write_audio(tmp_path / "a.flac", audio, SR))
    assert sample_rate == SR and back.shape == audio.shape
    assert np.abs(back - audio).max() <= 2**-22  # 24-bit steps, Pedalboard's own int<->float scaling


@pytest.mark.parametrize("name", ["a.wav", "a.flac", "a.mp3"])
def test_the_same_audio_gives_the_same_bytes(tmp_path, audio, name):
    first = digest(write_audio(tmp_path / ("1" + name), audio, SR))
    assert digest(write_audio(tmp_path / ("2" + name), audio, SR)) == first


def test_mp3_bytes_do_not_depend_on_the_process(tmp_path, audio):
    np.save(tmp_path / "audio.npy", audio)
    program = (
        "import numpy as np, sys, hashlib; from lofictl.sound.audio_io import write_audio; "
        "p = write_audio(sys.argv[2], np.load(sys.argv[1]), 44100); "
        "print(hashlib.sha256(open(p, 'rb').read()).hexdigest())"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", program, str(tmp_path / "audio.npy"), str(tmp_path / f"{i}.mp3")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for i in range(2)
    }
    assert runs == {digest(write_audio(tmp_path / "here.mp3", audio, SR))}


def test_mp3_decodes_to_similar_audio(tmp_path, audio):
    back, sample_rate = read_audio(write_audio(tmp_path / "a.mp3", audio, SR))
    assert sample_rate == SR and back.shape[0] == 2 and back.shape[1] >= audio.shape[1]
    assert 0.3 < np.abs(back).max() < 0.7


def test_user_mistakes(tmp_path, audio):
    with pytest.raises(LofictlError, match="unknown audio format"):
        write_audio(tmp_path / "a.ogg", audio, SR)
    with pytest.raises(LofictlError, match="MP3 supports"):
        write_audio(tmp_path / "a.mp3", audio, 96000)
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(LofictlError, match="notes.wav is not an audio file"):
        read_audio(tmp_path / "notes.wav")
    with pytest.raises(LofictlError, match="does not exist"):
        read_audio(tmp_path / "missing.flac")
