"""Stem measures (lofictl.sound.spectra) on signals whose answers are known."""

import numpy as np
import pytest

from lofictl.sound.spectra import bed_against_music, hit_measures, measure, plot_spectra

SR = 22050


def tone(freq: float, seconds: float = 2.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return np.stack([level * np.sin(2 * np.pi * freq * t)] * 2).astype(np.float32)


def test_a_sine_has_its_frequency_as_centroid_3_db_crest_and_one_band():
    m = measure(tone(1500), SR)
    assert m.centroid_hz == pytest.approx(1500, rel=0.02)
    assert m.crest_db == pytest.approx(3.01, abs=0.05)
    assert m.peak_db == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert m.bands["mid"] > 0.99
    low = measure(tone(100), SR)
    assert low.bands["low"] > 0.99 and low.centroid_hz < 120


def test_crest_ignores_the_bars_a_stem_sits_out():
    played = tone(200)
    with_rests = np.concatenate([np.zeros_like(played), played, np.zeros_like(played)], axis=1)
    assert measure(with_rests, SR).crest_db == pytest.approx(measure(played, SR).crest_db, abs=0.1)


def test_bed_against_music_reports_the_loudness_gap_and_band_gaps():
    rng = np.random.default_rng(1)
    music = (tone(220) + tone(880, level=0.2)).astype(np.float32)
    bed = (rng.standard_normal(music.shape) * 0.05 * 10 ** (-12 / 20)).astype(np.float32)
    report = bed_against_music(bed, music, SR)
    assert report["below_lu"] == pytest.approx(report["music_lufs"] - report["bed_lufs"])
    assert report["below_lu"] > 20
    assert report["band_gap_db"]["low"] > 20  # the music's 220 Hz towers over thin noise there
    assert report["band_gap_db"]["air"] < report["band_gap_db"]["low"]  # noise is all the air has


def test_a_hit_decays_and_a_plot_is_written(tmp_path):
    t = np.arange(SR) / SR
    hit = np.stack([np.sin(2 * np.pi * 60 * t) * np.exp(-t / 0.05)] * 2).astype(np.float32)
    shape = hit_measures(hit, SR)
    assert shape.low_share > 0.95 and 80 < shape.decay_ms < 150  # -20 dB after 0.05 s * ln(10)
    path = plot_spectra({"drums": {"a": hit, "b": tone(3000)}}, SR, tmp_path / "s.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_build_report_has_each_overlay_under_the_music_and_the_master(tmp_path):
    from lofictl.sound.audio_io import write_wav
    from lofictl.sound.spectra import build_report, format_table

    rng = np.random.default_rng(2)
    music = tone(220)
    crackle = (rng.standard_normal(music.shape) * 0.5 * 10 ** (-25 / 20)).astype(np.float32)
    rain = (rng.standard_normal(music.shape) * 0.5 * 10 ** (-15 / 20)).astype(np.float32)
    (tmp_path / "stems").mkdir()
    write_wav(tmp_path / "stems" / "01_keys.wav", music, SR)
    write_wav(tmp_path / "stems" / "02_overlay-1-vinyl.wav", crackle, SR)
    write_wav(tmp_path / "stems" / "03_overlay-2-rain.wav", rain, SR)
    write_wav(tmp_path / "song.wav", music + crackle + rain, SR)
    report = build_report(tmp_path)
    below = report["overlays_below_lu"]
    assert below["overlay-1-vinyl"] == pytest.approx(below["overlay-2-rain"] + 10, abs=0.5)
    assert report["master"].bands["air"] > report["stems"]["keys"].bands["air"]  # the noise is there
    table = format_table(report)
    assert "master" in table and "overlay-1-vinyl" in table.splitlines()[-1]
