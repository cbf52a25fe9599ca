"""Procedural ambience and overlay files: seeded, shaped like the thing, looped without clicks."""

import numpy as np
import pytest
from pedalboard.io import AudioFile

from lofictl.errors import LofictlError
from lofictl.sound.ambience import KINDS, generate, load_overlay, loop_to_length, main, place_overlay
from lofictl.sound.audio_io import write_audio
from support import REPO, white_noise

SR = 44100
EFFECTS = REPO / "effects"


def band_share(audio, low, high):
    """Fraction of the left channel's energy between low and high Hz."""
    power = np.abs(np.fft.rfft(audio[0].astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(audio.shape[1], 1 / SR)
    return power[(freqs >= low) & (freqs < high)].sum() / power.sum()


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_bytes_other_seed_other_sound(kind):
    first = generate(kind, SR, SR, 7)
    assert first.shape == (2, SR) and first.dtype == np.float32 and np.isfinite(first).all()
    assert generate(kind, SR, SR, 7).tobytes() == first.tobytes()
    assert generate(kind, SR, SR, 8).tobytes() != first.tobytes()
    assert 0 < np.abs(first).max() < 1.0
    # A longer render begins with the shorter one (chunks never depend on the total length).
    assert np.array_equal(generate(kind, 3 * SR // 2 + 11, SR, 7)[:, :SR], first)


def test_rain_is_a_bright_bed_with_droplet_transients():
    rain = generate("rain", 4 * SR, SR, 1).astype(np.float64)
    rms = np.sqrt((rain**2).mean())
    assert -23 < 20 * np.log10(rms) < -17
    assert band_share(rain, 1000, 10000) > 0.7 and band_share(rain, 0, 200) < 0.02
    assert np.abs(rain).max() / rms > 4  # droplets stick out of the noise
    assert abs(np.corrcoef(rain[0], rain[1])[0, 1]) < 0.5  # wide, not mono


def test_vinyl_is_sparse_clicks_over_a_low_rumble():
    vinyl = generate("vinyl", 4 * SR, SR, 1).astype(np.float64)
    level = np.abs(vinyl).max(axis=0)
    assert level.max() > 0.3  # loud clicks...
    assert np.mean(level > 0.1 * level.max()) < 0.01  # ...that are rare
    assert band_share(vinyl, 0, 60) > 0.05  # rumble
    assert np.corrcoef(vinyl[0], vinyl[1])[0, 1] > 0.5  # a record is nearly mono


def test_hiss_rises_with_frequency():
    hiss = generate("hiss", 2 * SR, SR, 1)
    assert band_share(hiss, 4000, 16000) > 5 * band_share(hiss, 100, 1000)
    assert -23 < 20 * np.log10(np.sqrt((hiss.astype(np.float64) ** 2).mean())) < -17


def test_unknown_kind():
    with pytest.raises(LofictlError, match="rain, vinyl, hiss"):
        generate("thunder", 10, SR, 1)


def test_shipped_files_are_remade_by_the_generator(tmp_path):
    main(["rain", str(tmp_path / "rain.flac"), "--seconds", "10", "--seed", "1"])
    assert (tmp_path / "rain.flac").read_bytes() == (EFFECTS / "rain.flac").read_bytes()


def test_load_overlay_resamples_and_makes_mono_stereo(tmp_path):
    tone = np.sin(2 * np.pi * 441 * np.arange(22050) / 22050).astype(np.float32)[None, :] * 0.5
    write_audio(tmp_path / "mono.wav", tone, 22050)
    audio = load_overlay(tmp_path / "mono.wav", SR)
    assert audio.shape[0] == 2 and abs(audio.shape[1] - SR) <= 2 and audio.dtype == np.float32
    assert np.array_equal(audio[0], audio[1])
    assert load_overlay(EFFECTS / "vinyl.flac", SR).shape == (2, 10 * SR)


def test_overlay_files_that_cannot_be_used(tmp_path):
    six = tmp_path / "six.wav"
    with AudioFile(str(six), "w", SR, 6) as handle:
        handle.write(np.zeros((6, 1000), np.float32))
    with pytest.raises(LofictlError, match="six.wav has 6 channels"):
        load_overlay(six, SR)
    (tmp_path / "rain.wav").write_text("this is not audio")
    with pytest.raises(LofictlError, match="rain.wav is not an audio file"):
        load_overlay(tmp_path / "rain.wav", SR)
    with pytest.raises(LofictlError, match="does not exist"):
        load_overlay(tmp_path / "missing.flac", SR)


def test_loop_structure_and_seams():
    source = white_noise(1000, 1.0, seed=0)
    looped = loop_to_length(source, 3500, 200)
    period = 800
    assert looped.shape == (2, 3500)
    assert np.array_equal(looped[:, :period], source[:, :period])  # first pass untouched
    # Each seam: the source's tail crossfades into its head; after the fade the head runs on.
    assert np.array_equal(looped[:, period + 200 : 2 * period], source[:, 200:period])
    assert np.array_equal(looped[:, 2 * period : 3 * period], looped[:, period : 2 * period])
    seam = looped[:, period : period + 200]
    assert np.allclose(seam[:, 0], source[:, 800], atol=0.02 * np.abs(source).max())  # continues the tail
    assert np.allclose(seam[:, -1], source[:, 199], atol=0.02 * np.abs(source).max())  # arrives at the head
    assert np.array_equal(loop_to_length(source, 600, 200), source[:, :600])


def test_place_overlay_start_gain_and_fades():
    source = np.ones((2, SR), np.float32)
    n = 5 * SR
    placed = place_overlay(
        source, n, SR, loop=True, crossfade_s=0.0, fade_in_s=1.0, fade_out_s=0.5, start_s=0.5, gain_db=-6.0
    )
    gain = 10 ** (-6 / 20)
    assert placed.shape == (2, n)
    assert not placed[:, : SR // 2].any()  # silent before start
    fade_in = placed[0, SR // 2 : SR // 2 + SR]
    assert np.all(np.diff(fade_in) >= 0) and fade_in[0] < 0.01 and fade_in[-1] == pytest.approx(gain, rel=1e-3)
    assert placed[0, 3 * SR] == pytest.approx(gain, rel=1e-6)  # looped past the source's 1 s
    fade_out = placed[0, n - SR // 2 :]
    assert np.all(np.diff(fade_out) <= 0) and fade_out[-1] < 0.01


def test_place_overlay_once_stops_and_pans():
    source = np.ones((2, SR), np.float32)
    once = place_overlay(source, 3 * SR, SR, loop=False, pan=-1.0)
    assert once[0, :SR].min() == pytest.approx(np.sqrt(2)) and not once[1].any()
    assert not once[:, SR:].any()
