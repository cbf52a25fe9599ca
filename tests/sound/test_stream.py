"""Streaming stems, overlays, master and encodings: the whole-array path's bytes, any block size."""

import shutil
from dataclasses import replace

import numpy as np
import pyloudnorm
import pytest

from lofictl.compose.score import Note, Track
from lofictl.pipeline.inputs import overlay_layer
from lofictl.pipeline.runner import prepare
from lofictl.recipe.load import load_recipe
from lofictl.sound import audio_io, effects, loudness, mix, render, stream
from lofictl.sound import master as mastering
from lofictl.sound import reference as oracles
from lofictl.sound import stems as sound_stems
from lofictl.sound.soundfonts import resolve_preset
from support import REPO

SR = 44100
SPB = 0.5  # 120 bpm
N = 9 * SR + 123  # not a multiple of any block size used below
CHORDS = Track(
    "chords",
    "chords",
    tuple(
        Note(bar * 4.0, 3.0, pitch, 100)  # a beat of silence each bar: IIR state decays to denormals
        for bar, chord in enumerate([[50, 53, 57, 60], [55, 59, 62, 65], [48, 52, 55, 59], [57, 60, 64, 67]])
        for pitch in chord
    ),
)
DRUMS = Track(
    "drums",
    "drums",
    tuple(
        Note(beat * 0.5, 0.25, pitch, 110)
        for beat in range(32)
        for pitch in ([36] if beat % 4 == 0 else [38] if beat % 4 == 2 else []) + [42]
    ),
    is_drums=True,
    channel=9,
)
CHORD_CHAIN = [
    {"LowpassFilter": {"cutoff_frequency_hz": 3200}},
    {"Chorus": {"rate_hz": 0.6, "depth": 0.2, "mix": 0.3}},
    {"Compressor": {"threshold_db": -18, "ratio": 2.5}},
]
DRUM_CHAIN = [{"HighpassFilter": {"cutoff_frequency_hz": 40}}, {"Bitcrush": {"bit_depth": 10}}]
MASTER_CHAIN = [
    {"LowShelfFilter": {"cutoff_frequency_hz": 120, "gain_db": 1.5, "q": 0.7}},
    {"Compressor": {"threshold_db": -18, "ratio": 2.5}},
]
INFO = {"INAM": "Stream Test", "ICMT": "{}"}


@pytest.fixture(scope="module")
def stems(gm, tmp_path_factory):
    """Both stems by the whole-array path (arrays and WAV files) and by streaming."""
    folder = tmp_path_factory.mktemp("stems")
    keys, kit = resolve_preset(gm, "Electric Piano 1"), resolve_preset(gm, bank=128, program=0)
    out = {}
    for name, track, preset, chain, gain_db, pan in (
        ("chords", CHORDS, keys, CHORD_CHAIN, -3.0, -0.2),
        ("drums", DRUMS, kit, DRUM_CHAIN, 2.0, 0.1),
    ):
        audio = effects.apply_chain(render.render_track(track, SPB, gm, preset, SR, N), SR, chain)
        audio = mix.apply_gain_pan(audio, gain_db, pan)
        audio_io.write_wav(folder / f"{name}-whole.wav", audio, SR, info=INFO)
        stem = sound_stems.Stem(
            track=track, timing=SPB, soundfont=gm, preset=preset, sample_rate=SR, n_samples=N, effects=chain
        )
        stem = replace(stem, gain_db=gain_db, pan=pan)
        sound_stems.render_stem_to_wav(stem, folder / f"{name}.wav", info=INFO)
        out[name] = (audio, folder / f"{name}.wav", stem)
    return folder, out


def test_rendered_blocks_are_render_track(gm):
    keys = resolve_preset(gm, "Electric Piano 1")
    whole = render.render_track(CHORDS, SPB, gm, keys, SR, N)
    for block_size in (777, 8192, 100_000):
        blocks = list(render.iter_render_track(CHORDS, SPB, gm, keys, SR, N, block_size=block_size))
        assert {b.shape[1] for b in blocks[:-1]} <= {block_size}
        assert np.concatenate(blocks, axis=1).tobytes() == whole.tobytes()


def test_stem_bytes_equal_the_whole_path(stems):
    folder, made = stems
    for name in made:
        assert (folder / f"{name}.wav").read_bytes() == (folder / f"{name}-whole.wav").read_bytes()


def test_stems_measure_their_loudness_while_written(gm, stems, tmp_path):
    # The value the export puts in the lock (measure_loudness of the finished file), without reading it.
    folder, made = stems
    for name, (_, path, stem) in made.items():
        for block_size in (1000, 65_536):
            lufs = sound_stems.render_stem_to_wav(stem, tmp_path / "s.wav", block_size=block_size)
            assert lufs is not None and lufs == loudness.measure_loudness(path), (name, block_size)
    silent = replace(
        made["chords"][2], track=Track("rest", "melody", ()), n_samples=SR, effects=None, gain_db=0.0, pan=0.0
    )
    assert sound_stems.render_stem_to_wav(silent, tmp_path / "q.wav") is None


def test_stem_bytes_do_not_depend_on_block_size(gm, stems, tmp_path):
    # The chords fall silent each bar, where JUCE's filters flush denormal state at buffer ends:
    # cuts off Pedalboard's 8192 grid would change bytes there, so blocks are re-cut onto it.
    folder, made = stems
    stem = made["chords"][2]
    for block_size in (1000, 12_345):
        path = tmp_path / f"chords-{block_size}.wav"
        sound_stems.render_stem_to_wav(stem, path, block_size=block_size, info=INFO)
        assert path.read_bytes() == (folder / "chords.wav").read_bytes()


def test_whole_only_chain_falls_back_to_the_whole_path(gm, tmp_path):
    keys = resolve_preset(gm, "Electric Piano 1")
    chain = ["dusty"]  # has Resample, which needs the whole signal
    n = 3 * SR + 5
    assert not stream.chain_streams(chain, SR) and stream.chain_streams(CHORD_CHAIN, SR)
    audio = stream.fit_length(effects.apply_chain(render.render_track(CHORDS, SPB, gm, keys, SR, n), SR, chain), n)
    audio_io.write_wav(tmp_path / "whole.wav", mix.apply_gain_pan(audio, -1.0, 0.3), SR)
    stem = sound_stems.Stem(
        track=CHORDS, timing=SPB, soundfont=gm, preset=keys, sample_rate=SR, n_samples=n, effects=chain, gain_db=-1.0
    )
    sound_stems.render_stem_to_wav(replace(stem, pan=0.3), tmp_path / "s.wav", block_size=5000)
    assert (tmp_path / "s.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes()


def _whole_master(made, chain, lufs, ceiling):
    mixed = made["chords"][0].copy()
    mixed += made["drums"][0]
    return oracles.master(mixed, SR, chain, lufs, ceiling)


@pytest.mark.parametrize("lufs", [-14.0, -9.0])  # -9 makes the limiter work hard
def test_master_equals_mix_master(stems, tmp_path, lufs):
    folder, made = stems
    reference, expected = _whole_master(made, MASTER_CHAIN, lufs, -1.0)
    paths = [made["chords"][1], made["drums"][1]]
    stats = mastering.mix_to_master_wav(paths, SR, MASTER_CHAIN, lufs, -1.0, tmp_path / "master.wav")
    assert stats == expected
    got = audio_io.read_audio(tmp_path / "master.wav")[0]
    # The limiter's frames carry enough context that its gain is the whole-signal one; only the
    # box filter's running sum could round differently, and on this material it does not.
    assert got.tobytes() == reference.tobytes()
    if lufs == -9.0:
        assert stats["limiter_reduction_db"] > 3
    assert abs(stats["integrated_lufs"] - lufs) <= 0.5
    assert oracles.true_peak(got) <= mix.db_to_gain(-1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.wav"]  # work files cleaned up


def test_master_bytes_do_not_depend_on_block_size(stems, tmp_path):
    folder, made = stems
    paths = [made["chords"][1], made["drums"][1]]
    results = []
    for block_size, workers in ((4000, 1), (65_536, 1), (65_536, 2)):  # the limiter's frames on 2 threads
        path = tmp_path / f"master-{block_size}-{workers}.wav"
        results.append(
            mastering.mix_to_master_wav(
                paths, SR, MASTER_CHAIN, -10.0, -1.5, path, block_size=block_size, workers=workers
            )
        )
    assert results[0] == results[1] == results[2] and results[0]["limiter_reduction_db"] > 0
    master_bytes = (tmp_path / "master-4000-1.wav").read_bytes()
    assert master_bytes == (tmp_path / "master-65536-1.wav").read_bytes()
    assert master_bytes == (tmp_path / "master-65536-2.wav").read_bytes()
    (tmp_path / "master-4000.wav").write_bytes(master_bytes)
    master = audio_io.read_audio(tmp_path / "master-4000.wav")[0]
    assert oracles.true_peak(master) <= mix.db_to_gain(-1.5)
    assert abs(results[0]["integrated_lufs"] + 10.0) <= 0.5


def test_true_peak_of_a_file_on_threads_is_the_whole_signals(stems):
    from lofictl.export import encode

    folder, made = stems
    audio, path, _ = made["chords"]  # 9 s: two of the measure's chunks
    expected = float(oracles.true_peak(audio))
    assert encode.true_peak_of_file(path) == encode.true_peak_of_file(path, workers=2) == pytest.approx(expected)
    assert list(stream.ordered_map(lambda x: x * x, range(10), workers=3)) == [x * x for x in range(10)]


def _master(paths, path):
    """Stems mastered loud, so the limiter holds the true peak at -1.0 dBTP."""
    stats = mastering.mix_to_master_wav(paths, SR, MASTER_CHAIN, -8.0, -1.0, path)
    assert stats["limiter_reduction_db"] > 0 and stats["true_peak_dbtp"] == pytest.approx(-1.0, abs=0.02)
    return path


@pytest.fixture(scope="module")
def masters(stems, tmp_path_factory):
    """The electric piano alone, and with the 10-bit drums (highs up to Nyquist, which LAME cuts)."""
    folder, made = stems
    out = tmp_path_factory.mktemp("masters")
    return {
        "keys": _master([made["chords"][1]], out / "keys.wav"),
        "bitcrushed": _master([made["chords"][1], made["drums"][1]], out / "bitcrushed.wav"),
    }


def test_an_mp3_of_a_master_at_the_ceiling_takes_one_encode(masters, tmp_path):
    from lofictl.export import encode

    path = masters["keys"]
    told = encode.encode_master(path, tmp_path / "told.mp3", "mp3", SR, ceiling_db=-1.0, source_peak_dbtp=-1.0)
    measured = encode.encode_master(path, tmp_path / "measured.mp3", "mp3", SR, ceiling_db=-1.0, workers=2)
    for result, mp3 in ((told, tmp_path / "told.mp3"), (measured, tmp_path / "measured.mp3")):
        assert result["encodings"] == 1  # room left for LAME's overshoot: no second encode
        assert result["gain_db"] == pytest.approx(-0.5, abs=0.02)
        assert result["true_peak_dbtp"] <= -1.0 and encode.true_peak_of_file(mp3) <= 10 ** (-1 / 20)
    # without the room, LAME's peaks land over the master's: the room is needed
    unpulled = stream.encode_wav_to(path, tmp_path / "unpulled.mp3", "mp3", SR)
    assert encode.true_peak_of_file(unpulled) > 10 ** (-1 / 20)


def test_an_mp3_over_the_ceiling_after_all_is_encoded_again_under_it(masters, tmp_path):
    from lofictl.export import encode

    # LAME puts the 10-bit drums' peaks 0.6-1.2 dB over the master's, more than the room left
    crushed = encode.encode_master(masters["bitcrushed"], tmp_path / "c.mp3", "mp3", SR, ceiling_db=-1.0)
    # a master said to be 3 dB quieter than it is gets no gain, and lands over
    misled = encode.encode_master(
        masters["keys"], tmp_path / "m.mp3", "mp3", SR, ceiling_db=-1.0, source_peak_dbtp=-4.0
    )
    for result, mp3 in ((crushed, tmp_path / "c.mp3"), (misled, tmp_path / "m.mp3")):
        assert result["encodings"] >= 2 and result["gain_db"] < 0
        assert result["true_peak_dbtp"] <= -1.0 and encode.true_peak_of_file(mp3) <= 10 ** (-1 / 20)


def test_an_mp3_read_in_overlapping_chunks_is_one_decode(masters, tmp_path):
    """Seeking back restarts LAME's decoder cold: the chunks' context must come from what was read."""
    from pedalboard.io import AudioFile

    from lofictl.export import encode

    mp3 = stream.encode_wav_to(masters["keys"], tmp_path / "k.mp3", "mp3", SR, gain=10 ** (-0.5 / 20))
    with AudioFile(str(mp3)) as handle:
        whole = handle.read(handle.frames)
    with stream.AudioReader(mp3) as reader:
        parts = [
            reader.read(max(0, start - 64), 1000 + min(start, 64))[:, min(start, 64) :]
            for start in range(0, reader.frames, 1000)
        ]
        assert reader.read(5000, 10).tobytes() == whole[:, 5000:5010].tobytes()  # a seek to a new place
    assert np.concatenate(parts, axis=1).tobytes() == whole.tobytes()
    expected = float(oracles.true_peak(whole))
    assert encode.true_peak_of_file(mp3) == encode.true_peak_of_file(mp3, workers=2) == pytest.approx(expected)


def test_the_first_mp3_gain_leaves_room_only_when_needed():
    from lofictl.export.encode import first_mp3_gain

    ceiling = 10 ** (-1 / 20)
    assert 20 * np.log10(first_mp3_gain(ceiling, ceiling)) == pytest.approx(-0.5)
    assert 20 * np.log10(first_mp3_gain(10 ** (-1.2 / 20), ceiling)) == pytest.approx(-0.3)
    assert first_mp3_gain(10 ** (-4 / 20), ceiling) == 1.0  # a quiet master is encoded as it is
    assert first_mp3_gain(0.0, ceiling) == 1.0  # silence


def test_master_of_no_stems_is_silence(tmp_path):
    stats = mastering.mix_to_master_wav([], SR, None, -14.0, -1.0, tmp_path / "m.wav", n_samples=SR)
    assert stats["integrated_lufs"] is None and stats["gain_db"] == 0.0
    assert not audio_io.read_audio(tmp_path / "m.wav")[0].any()


def test_streaming_loudness_matches_pyloudnorm(stems):
    folder, made = stems
    music = made["chords"][0] + made["drums"][0]
    rng = np.random.default_rng(3)
    noise = (rng.standard_normal((2, 5 * SR)) * 0.05).astype(np.float32)
    gated = noise.copy()
    gated[:, SR : 3 * SR] *= 0.01  # quiet middle: the relative gate drops it
    for audio in (music, noise, gated, music[:, : int(0.4 * SR) + 1]):
        expected = pyloudnorm.Meter(SR).integrated_loudness(audio.T.astype(np.float64))
        for block_size in (1, 999, 44_100) if audio.shape[1] < SR else (999, 44_100):
            meter = loudness.LoudnessMeter(SR)
            for start in range(0, audio.shape[1], block_size):
                meter.feed(audio[:, start : start + block_size])
            assert meter.integrated() == pytest.approx(expected, abs=1e-6)
    short = loudness.LoudnessMeter(SR)
    short.feed(music[:, : int(0.4 * SR)])
    silent = loudness.LoudnessMeter(SR)
    silent.feed(np.zeros((2, SR), np.float32))
    assert short.integrated() is None and silent.integrated() is None


def test_a_side_meter_gives_the_meters_figure_and_hands_on_its_errors(stems, tmp_path):
    import threading

    folder, made = stems
    music = made["chords"][0] + made["drums"][0]
    meter, side = loudness.LoudnessMeter(SR), loudness.SideMeter(SR, depth=2)
    block = np.empty((2, 999), np.float32)
    for start in range(0, music.shape[1], 999):
        part = music[:, start : start + 999]
        meter.feed(part)
        block[:, : part.shape[1]] = part
        side.feed(block[:, : part.shape[1]])  # the caller reuses its array: the side meter copied it
    assert side.integrated() == meter.integrated() and side.integrated() is not None
    threads = threading.active_count()
    broken = loudness.SideMeter(SR)
    broken.feed(np.zeros((3, 10), np.float32))  # three channels to a stereo meter: fails on its thread
    with pytest.raises(ValueError, match="expected"):
        broken.finished()
    # a writer whose making fails: the file goes, and so does its meter's thread
    with pytest.raises(RuntimeError, match="boom"):
        with loudness.MeteredWavWriter(tmp_path / "x.wav", SR, 2 * SR) as out:
            out.write(music[:, :SR])
            raise RuntimeError("boom")
    assert not (tmp_path / "x.wav").exists() and threading.active_count() == threads


def test_wav_blocks_read_back_as_written(stems):
    folder, made = stems
    audio, path, _ = made["drums"]
    with stream.AudioReader(path) as reader:
        assert (reader.channels, reader.sample_rate, reader.frames) == (2, SR, N)
        assert np.array_equal(reader.read(N - 10, 100), audio[:, N - 10 :])
        parts = [reader.read(start, 30_000) for start in range(0, N, 30_000)]
    assert np.array_equal(np.concatenate(parts, axis=1), audio)


def test_writer_checks_length_and_removes_unfinished_files(tmp_path):
    with pytest.raises(ValueError):
        with stream.WavWriter(tmp_path / "a.wav", SR, 10) as out:
            out.write(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError):
        with stream.WavWriter(tmp_path / "b.wav", SR, 10) as out:
            out.write(np.full((2, 4), np.nan, np.float32))
    assert not list(tmp_path.iterdir())


def test_a_writer_of_unknown_length_gives_write_wavs_bytes(tmp_path):
    audio = np.random.default_rng(3).standard_normal((2, 1001)).astype(np.float32) * 0.1
    audio_io.write_wav(tmp_path / "whole.wav", audio, SR)
    with stream.WavWriter(tmp_path / "grown.wav", SR, None) as out:
        for start in range(0, 1001, 300):
            out.write(audio[:, start : start + 300])
    assert out.frames == 1001
    assert (tmp_path / "grown.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes()


@pytest.mark.parametrize("fmt, subtype", [("wav", "24bit"), ("wav", "16bit"), ("flac", "float32"), ("mp3", "float32")])
def test_encodings_equal_write_audio(stems, tmp_path, fmt, subtype):
    folder, made = stems
    audio, path, _ = made["chords"]
    audio_io.write_audio(tmp_path / f"whole.{fmt}", audio, SR, fmt, wav_subtype=subtype, info=INFO)
    stream.encode_wav_to(path, tmp_path / f"stream.{fmt}", fmt, SR, wav_subtype=subtype, info=INFO)
    assert (tmp_path / f"stream.{fmt}").read_bytes() == (tmp_path / f"whole.{fmt}").read_bytes()


OVERLAY_RECIPE = """\
lofictl: 1
title: Overlays
seed: 11
tempo: 120
key: C major
length: 2 bars
tracks:
  chords: {part: chords, progression: "C Am", instrument: {soundfont: FluidR3_GM.sf2, preset: Electric Piano 1}}
overlays:
  - {file: effects/rain.flac, gain_db: -12, loop: true, fade_in: 1s, fade_out: 2.5s, start: 0.3s, pan: -0.4}
  - {ambience: vinyl, gain_db: -20, loop: false, fade_in: 0.5s, fade_out: 1s, pan: 1.0}
  - {ambience: hiss, gain_db: -30, loop: true, start: 1s}
  - {file: effects/rain.flac, gain_db: -6, loop: false, start: 25s, fade_out: 30s}
output: {formats: [wav]}
"""


def test_overlays_equal_render_overlay(write_recipe, project, tmp_path):
    (project / "effects").mkdir()
    shutil.copy(REPO / "effects" / "rain.flac", project / "effects")
    plan = prepare(load_recipe(write_recipe(OVERLAY_RECIPE)))
    n = 30 * SR + 7  # longer than the rain file and than a looped generator's 20 s
    for index in range(len(plan.recipe.overlays)):
        layer = overlay_layer(plan, index)
        audio_io.write_wav(tmp_path / "whole.wav", oracles.render_overlay(layer, SR, n), SR)
        for block_size in (10_000, 65_536):
            lufs = sound_stems.render_overlay_to_wav(layer, SR, n, tmp_path / "s.wav", block_size=block_size)
            assert (tmp_path / "s.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes(), (index, block_size)
            assert lufs is not None and lufs == loudness.measure_loudness(tmp_path / "whole.wav")


def test_overlay_effects_stream_or_run_whole_with_the_same_bytes(write_recipe, project, tmp_path):
    text = (
        OVERLAY_RECIPE.split("overlays:")[0]
        + """overlays:
  - {ambience: rain, gain_db: -18, effects: [{HighpassFilter: {cutoff_frequency_hz: 300}}, {LowpassFilter: {cutoff_frequency_hz: 4000}}]}
  - {ambience: hiss, gain_db: -24, fade_in: 1s, effects: [{Resample: {target_sample_rate: 22050}}]}
output: {formats: [wav]}
"""
    )
    n = 3 * SR + 7
    unfiltered = text.replace(
        "effects: [{HighpassFilter: {cutoff_frequency_hz: 300}}, {LowpassFilter: {cutoff_frequency_hz: 4000}}]",
        "effects: []",
    )
    plain = oracles.render_overlay(overlay_layer(prepare(load_recipe(write_recipe(unfiltered))), 0), SR, n)
    plan = prepare(load_recipe(write_recipe(text)))
    for index in range(2):
        layer = overlay_layer(plan, index)
        whole = oracles.render_overlay(layer, SR, n)
        audio_io.write_wav(tmp_path / "whole.wav", whole, SR)
        for block_size in (10_000, 65_536):
            lufs = sound_stems.render_overlay_to_wav(layer, SR, n, tmp_path / "s.wav", block_size=block_size)
            assert (tmp_path / "s.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes(), (index, block_size)
            assert lufs is not None and lufs == loudness.measure_loudness(tmp_path / "whole.wav")
        if index == 0:  # the band-pass took the rain's top and bottom away
            from lofictl.sound.spectra import band_shares, power_spectrum

            before, after = band_shares(*power_spectrum(plain, SR)), band_shares(*power_spectrum(whole, SR))
            assert after["air"] < before["air"] / 3 and after["low"] < before["low"]


def test_master_chain_that_cannot_stream_runs_whole(stems, tmp_path):
    folder, made = stems
    chain = [{"Compressor": {"threshold_db": -18, "ratio": 2.5}}, {"Resample": {"target_sample_rate": 22050}}]
    reference, expected = _whole_master(made, chain, -14.0, -1.0)
    stats = mastering.mix_to_master_wav(
        [made["chords"][1], made["drums"][1]], SR, chain, -14.0, -1.0, tmp_path / "master.wav", block_size=5000
    )
    assert stats == expected
    assert audio_io.read_audio(tmp_path / "master.wav")[0].tobytes() == reference.tobytes()


def test_stems_of_different_lengths_are_refused(stems, tmp_path):
    folder, made = stems
    audio_io.write_wav(tmp_path / "short.wav", made["drums"][0][:, :SR], SR)
    with pytest.raises(ValueError, match="frames"):
        mastering.mix_to_master_wav(
            [made["chords"][1], tmp_path / "short.wav"], SR, None, -14.0, -1.0, tmp_path / "master.wav"
        )
    assert not (tmp_path / "master.wav").exists()


def test_send_bus_returns_only_the_wet_signal(tmp_path):
    from lofictl.recipe.schema import DEFAULT_BUS

    click = np.zeros((2, SR), np.float32)
    click[:, 100] = 1.0
    source = tmp_path / "click.wav"
    with stream.WavWriter(source, SR, SR) as out:
        out.write(click)
    lufs = mastering.send_bus_to_wav([(source, -6.0), (source, -20.0)], SR, SR, DEFAULT_BUS, tmp_path / "bus.wav")
    assert lufs is not None and lufs == loudness.measure_loudness(tmp_path / "bus.wav")
    with stream.AudioReader(tmp_path / "bus.wav") as reader:
        wet = reader.read(0, SR)
    assert wet.shape == click.shape
    assert np.abs(wet[:, SR // 2 :]).max() > 1e-4  # a tail long after the click
    assert np.abs(wet[:, 100]).max() < 0.5  # no dry click


def test_a_trim_filters_only_the_frames_that_may_hold_the_peak_and_finds_the_same_one(tmp_path):
    """The limiter's trim scales every sample by one factor: a frame far under the peak cannot
    hold the new one, so with the pass before's frame peaks only the loud frames are filtered for
    it. The file, the true peak, the sample peak and the loudness are those of filtering them all,
    and every frame's figure is at least its true peak (a bound where it was not filtered)."""
    frame = mastering.LIMITER_FRAME
    gen = np.random.default_rng(7)
    audio = (0.05 * gen.standard_normal((2, 5 * frame + 1000))).astype(np.float32)
    burst = np.arange(2000)
    audio[:, 3 * frame + 500 : 3 * frame + 2500] = 0.98 * np.sin(
        np.pi * 0.97 * burst
    )  # near Nyquist: peaks between samples
    src = tmp_path / "limited.wav"
    audio_io.write_wav(src, audio, SR)
    exact = [
        float(mix.true_peak_envelope(audio[:, max(0, s - 64) : s + frame + 64])[s - max(0, s - 64) :][:frame].max())
        for s in range(0, audio.shape[1], frame)
    ]
    factor = np.float32(0.891 / max(exact))
    every = mastering._trim_pass(src, tmp_path / "every.wav", SR, factor)
    some = mastering._trim_pass(src, tmp_path / "some.wav", SR, factor, frame_peaks=exact)
    assert (tmp_path / "every.wav").read_bytes() == (tmp_path / "some.wav").read_bytes()
    assert some.true_peak == every.true_peak and some.sample_peak == every.sample_peak
    assert some.meter.integrated() == every.meter.integrated()
    assert all(bound >= peak for bound, peak in zip(some.frame_peaks, every.frame_peaks))
    assert sum(bound == peak for bound, peak in zip(some.frame_peaks, every.frame_peaks)) == 1  # the burst's frame
    again = mastering._trim_pass(
        tmp_path / "some.wav", tmp_path / "again.wav", SR, factor, frame_peaks=some.frame_peaks
    )
    assert again.true_peak == mastering._trim_pass(tmp_path / "every.wav", tmp_path / "x.wav", SR, factor).true_peak
