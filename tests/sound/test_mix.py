"""Gain, pan, mute/solo, ducking, and a master that meets its loudness target under the ceiling."""

import math

import numpy as np
import pytest
from scipy import ndimage, signal

from lofictl.compose.score import Note, Track
from lofictl.sound.mix import _shift_filter, apply_gain_pan, audible, integrated_loudness, pan_gains
from lofictl.sound.reference import limit_true_peak, master, true_peak
from lofictl.sound.render import render_track
from lofictl.sound.soundfonts import find_soundfont, resolve_preset
from support import white_noise

SR = 44100


@pytest.mark.parametrize("pan", [-1.0, -0.5, -0.1, 0.0, 0.3, 1.0])
def test_pan_law_keeps_power_constant(pan):
    left, right = pan_gains(pan)
    assert left**2 + right**2 == pytest.approx(2.0)
    assert left >= 0 and right >= 0


def test_pan_positions():
    assert pan_gains(0.0) == pytest.approx((1.0, 1.0))
    assert pan_gains(-1.0) == pytest.approx((math.sqrt(2), 0.0))
    assert pan_gains(1.0) == pytest.approx((0.0, math.sqrt(2)))
    left, right = pan_gains(0.5)
    assert left < right
    with pytest.raises(ValueError):
        pan_gains(1.5)


def test_gain_and_pan_applied():
    ones = np.ones((2, 4), np.float32)
    assert np.array_equal(apply_gain_pan(ones, 0.0, 0.0), ones)
    out = apply_gain_pan(ones, -6.0, 1.0)
    assert out.dtype == np.float32 and not out[0].any()
    assert out[1, 0] == pytest.approx(10 ** (-6 / 20) * math.sqrt(2), rel=1e-6)


def test_mute_and_solo():
    names = ["chords", "bass", "drums"]
    assert audible(names) == names
    assert audible(names, mute=["bass"]) == ["chords", "drums"]
    assert audible(names, solo=["drums", "bass"]) == ["bass", "drums"]
    assert audible(names, mute=["drums"], solo=["drums"]) == []
    with pytest.raises(ValueError):
        audible(names, mute=["keys"])


def test_windowed_filters_cover_the_intended_samples():
    impulse = np.zeros(20)
    impulse[10] = 1.0
    assert list(np.flatnonzero(_shift_filter(ndimage.maximum_filter1d, impulse, 2, 5, 0.0))) == list(range(5, 13))


def test_true_peak_finds_peaks_between_samples():
    # A sine at a quarter of the sample rate, sampled 45 degrees off its crests.
    n = np.arange(SR)
    tone = np.sin(2 * np.pi * n / 4 + np.pi / 4).astype(np.float32)[None].repeat(2, axis=0)
    assert np.abs(tone).max() == pytest.approx(math.sqrt(0.5), rel=1e-4)
    # The oversampling filter's ripple errs on the safe side, by under 0.2 dB.
    assert 1.0 <= true_peak(tone) < 10 ** (0.2 / 20)


def test_limiter_never_exceeds_ceiling_and_leaves_quiet_audio_alone():
    audio = white_noise(SR, 0.1, seed=0)
    audio[:, 20000] = 1.8  # a big spike
    limited, reduction = limit_true_peak(audio, SR, -1.0)
    assert true_peak(limited) <= 10 ** (-1 / 20)
    assert reduction > 5
    assert np.array_equal(limited[:, :10000], audio[:, :10000])  # far from the spike: untouched
    quiet = audio * 0.1
    assert limit_true_peak(quiet, SR, -1.0)[0] is quiet


@pytest.fixture(scope="module")
def rendered_mix():
    """Eight seconds of real FluidSynth chords, bass and drums."""
    gm = find_soundfont("FluidR3_GM.sf2", None)
    spb, n = 0.75, 8 * SR
    chords = Track(
        "chords",
        "chords",
        tuple(
            Note(bar * 4.0, 3.8, pitch, 90)
            for bar, chord in enumerate([[50, 53, 57, 60], [55, 59, 62, 65]] * 2)
            for pitch in chord
        ),
    )
    bass = Track("bass", "bass", tuple(Note(beat * 2.0, 1.8, 38 if beat % 4 < 2 else 43, 100) for beat in range(8)))
    drums = Track(
        "drums",
        "drums",
        tuple(Note(beat * 1.0, 0.25, 36 if beat % 2 == 0 else 38, 110) for beat in range(16)),
        is_drums=True,
    )
    stems = {
        "chords": apply_gain_pan(
            render_track(chords, spb, gm, resolve_preset(gm, "Electric Piano 1"), SR, n), -3, -0.2
        ),
        "bass": apply_gain_pan(render_track(bass, spb, gm, resolve_preset(gm, "Acoustic Bass"), SR, n), 0, 0),
        "drums": apply_gain_pan(render_track(drums, spb, gm, resolve_preset(gm, "Drums"), SR, n), -2, 0.1),
    }
    return stems["chords"] + stems["bass"] + stems["drums"]


@pytest.mark.parametrize("target, ceiling", [(-14.0, -1.0), (-9.0, -1.0), (-20.0, -2.0)])
def test_master_reaches_loudness_under_true_peak_ceiling(rendered_mix, target, ceiling):
    chain = [{"Compressor": {"threshold_db": -18, "ratio": 2.5}}, {"LowpassFilter": {"cutoff_frequency_hz": 12000}}]
    out, stats = master(rendered_mix, SR, chain, target, ceiling)
    assert out.shape == rendered_mix.shape and out.dtype == np.float32
    measured = integrated_loudness(out, SR)  # independent of the stats
    assert abs(measured - target) <= 0.5
    assert abs(stats["integrated_lufs"] - measured) < 1e-3
    oversampled = signal.resample_poly(out.astype(np.float64), 4, 1, axis=1)
    assert 20 * np.log10(np.abs(oversampled).max()) <= ceiling + 1e-6
    assert stats["true_peak_dbtp"] <= ceiling and np.abs(out).max() < 1.0


def test_master_without_target_only_limits(rendered_mix):
    out, stats = master(rendered_mix, SR, None, None, -1.0)
    assert stats["gain_db"] == 0.0 and stats["true_peak_dbtp"] <= -1.0


def test_master_of_silence():
    out, stats = master(np.zeros((2, SR), np.float32), SR, [], -14.0)
    assert not out.any() and stats["integrated_lufs"] is None and stats["true_peak_dbtp"] is None
