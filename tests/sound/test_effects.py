"""Effect chains: checked up front with field paths, run identically whole or in blocks."""

import numpy as np
import pedalboard
import pytest

from lofictl.errors import LofictlError
from lofictl.sound.effects import (
    PRESETS,
    WHOLE_ONLY,
    apply_chain,
    build_chain,
    describe_plugins,
    describe_presets,
    expand,
    plugin_classes,
    validate_chain,
)
from support import white_noise

SR = 44100
FIELD = ("tracks", "chords", "effects")


@pytest.fixture(scope="module")
def noise():
    return white_noise(2 * SR, 0.2, seed=0)


@pytest.mark.parametrize(
    "chain, field, words",
    [
        (
            [{"LowpasFilter": {"cutoff_frequency_hz": 3200}}],
            "tracks.chords.effects.0.LowpasFilter",
            ["unknown effect", "Did you mean LowpassFilter"],
        ),
        (
            [{"Gain": {"gain_db": -3}}, {"LowpassFilter": {"cutoff": 3200}}],
            "tracks.chords.effects.1.LowpassFilter.cutoff",
            ["no parameter 'cutoff'", "cutoff_frequency_hz"],
        ),
        ([{"Bitcrush": {"bit_depth": 40}}], "tracks.chords.effects.0.Bitcrush.bit_depth", ["0 to 32"]),
        ([{"Chorus": {"mix": 1.5}}], "tracks.chords.effects.0.Chorus.mix", ["0 to 1"]),
        ([{"Compressor": {"ratio": 0.5}}], "tracks.chords.effects.0.Compressor.ratio", ["1 to 1000"]),
        ([{"Reverb": {"room_size": "big"}}], "tracks.chords.effects.0.Reverb.room_size", ["must be a number"]),
        ([{"LadderFilter": {"mode": "LPF36"}}], "tracks.chords.effects.0.LadderFilter.mode", ["LPF24"]),
        (
            [{"BrickwallLimiter": {"true_peak": "yes"}}],
            "tracks.chords.effects.0.BrickwallLimiter.true_peak",
            ["true or false"],
        ),
        (
            [{"LowpassFilter": {"cutoff_frequency_hz": 30000}}],
            "tracks.chords.effects.0.LowpassFilter.cutoff_frequency_hz",
            ["half the sample rate"],
        ),
        (["tap"], "tracks.chords.effects.0", ["Did you mean tape"]),
        ([["LowpassFilter"]], "tracks.chords.effects.0", ["PluginName"]),
        ([{"VST3": {"path": "/nonexistent/Thing.vst3"}}], "tracks.chords.effects.0.VST3.path", ["does not exist"]),
        ([{"VST3": {}}], "tracks.chords.effects.0.VST3", ["needs `path:`"]),
    ],
)
def test_mistakes_are_reported_with_the_field_path(chain, field, words):
    with pytest.raises(LofictlError) as err:
        validate_chain(chain, FIELD, sample_rate=SR)
    assert err.value.field == field
    for word in words:
        assert word in err.value.message
    assert "\n" not in str(err.value)


def test_a_file_that_is_not_a_plugin(tmp_path, monkeypatch):
    fake = tmp_path / "Fake.vst3"
    fake.write_text("not a plugin")
    loads = []
    monkeypatch.setattr(pedalboard, "load_plugin", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    validate_chain([{"load_plugin": {"path": str(fake)}}], FIELD)  # validating loads no native code
    assert loads == []
    with pytest.raises(LofictlError, match="cannot load plugin"):  # rendering does
        build_chain([{"load_plugin": {"path": str(fake)}}], FIELD)
    assert len(loads) == 1


real_load = pedalboard.load_plugin


def test_mp3_compressor_needs_an_mp3_sample_rate():
    validate_chain([{"MP3Compressor": {"vbr_quality": 4}}], FIELD, sample_rate=44100)
    with pytest.raises(LofictlError, match="MP3Compressor works only at"):
        validate_chain([{"MP3Compressor": {}}], FIELD, sample_rate=96000)


def test_valid_chains_build_with_the_given_values():
    board = build_chain(
        [
            {"LowpassFilter": {"cutoff_frequency_hz": 3200}},
            {"Chorus": {"rate_hz": 0.6, "depth": 0.2, "mix": 0.3}},
            {"LadderFilter": {"mode": "lpf24", "cutoff_hz": 900}},
            {"Resample": {"target_sample_rate": 11025, "quality": "Linear"}},
            {"Compressor": None},
        ]
    )
    assert [type(p).__name__ for p in board] == ["LowpassFilter", "Chorus", "LadderFilter", "Resample", "Compressor"]
    assert board[0].cutoff_frequency_hz == 3200 and board[1].mix == pytest.approx(0.3)
    assert board[2].mode == pedalboard.LadderFilter.Mode.LPF24
    assert board[3].quality == pedalboard.Resample.Quality.Linear


def test_presets_expand_to_checked_plugins_with_their_own_field():
    steps = expand(["tape", {"Gain": {"gain_db": -2}}, {"radio": None}], FIELD)
    assert steps[0].field == FIELD + (0, "tape")
    assert steps[len(PRESETS["tape"])].name == "Gain"
    assert steps[-1].field == FIELD + (2, "radio")
    for name in PRESETS:
        validate_chain([name], FIELD, sample_rate=SR)
    assert set(describe_presets()) >= {"tape", "vinyl", "radio"}


@pytest.mark.parametrize("name", [n for n in plugin_classes() if n != "Convolution"])
def test_every_plugin_gives_the_same_bytes_in_blocks_as_whole(noise, name):
    whole = apply_chain(noise, SR, [{name: {}}])
    assert whole.shape == noise.shape and np.isfinite(whole).all()
    assert apply_chain(noise, SR, [{name: {}}], block_size=1000).tobytes() == whole.tobytes()
    assert apply_chain(noise, SR, [{name: {}}]).tobytes() == whole.tobytes()  # state is reset
    assert build_chain([{name: {}}])(noise, SR).tobytes() == whole.tobytes()  # = Pedalboard in one call


def test_mixed_chain_blocks_equal_whole(noise):
    chain = [
        "tape",
        {"PitchShift": {"semitones": -1}},
        {"Reverb": {}},
        "dusty",
        {"Delay": {"delay_seconds": 0.25, "feedback": 0.3}},
        {"MP3Compressor": {}},
        {"Gain": {"gain_db": -1}},
    ]
    whole = apply_chain(noise, SR, chain)
    for block_size in (512, 4096, 3 * SR):
        assert apply_chain(noise, SR, chain, block_size=block_size).tobytes() == whole.tobytes()


def test_apply_chain_accepts_a_board_and_resets_it(noise):
    board = build_chain([{"Delay": {"delay_seconds": 0.1, "feedback": 0.5}}])
    first = apply_chain(noise, SR, board)
    assert apply_chain(noise, SR, board).tobytes() == first.tobytes()
    assert apply_chain(noise, SR, []).tobytes() == noise.tobytes()


def test_radio_preset_keeps_only_the_middle_band(noise):
    radio = apply_chain(noise, SR, ["radio"])
    spectrum_in, spectrum_out = np.abs(np.fft.rfft(noise[0])), np.abs(np.fft.rfft(radio[0]))
    bins_per_hz = noise.shape[1] / SR

    def band(spectrum, low, high):
        return spectrum[int(low * bins_per_hz) : int(high * bins_per_hz)].mean()

    assert band(spectrum_out, 10000, 20000) < 0.05 * band(spectrum_in, 10000, 20000)
    assert band(spectrum_out, 50, 150) < 0.2 * band(spectrum_in, 50, 150)


def test_describe_plugins_lists_params_defaults_and_ranges():
    infos = {info.name: info for info in describe_plugins()}
    assert {
        "LowpassFilter",
        "Chorus",
        "Compressor",
        "Reverb",
        "Bitcrush",
        "Resample",
        "MP3Compressor",
        "LadderFilter",
        "GSMFullRateCompressor",
    } <= set(infos)
    chorus = {p.name: p for p in infos["Chorus"].params}
    assert chorus["rate_hz"].default == 1.0 and chorus["mix"].range == "0 to 1"
    assert "LPF24" in {p.name: p for p in infos["LadderFilter"].params}["mode"].choices
    assert not infos["Resample"].streams and infos["Reverb"].streams
    assert WHOLE_ONLY <= set(infos)


def _boom_bap_bars(bars: int = 2):
    """Kick, backbeat snare and 8th-note hats (GM pitches), accented on the beat."""
    from lofictl.compose.score import Note

    notes = []
    for bar in range(bars):
        b = 4.0 * bar
        notes += [Note(b, 0.25, 36, 100), Note(b + 2.5, 0.25, 36, 90), Note(b + 1, 0.25, 38, 100)]
        notes += [Note(b + 3, 0.25, 38, 100)]
        notes += [Note(b + i / 2, 0.125, 42, 80 if i % 2 == 0 else 55) for i in range(8)]
    return tuple(sorted(notes))


def test_sampler_preset_has_one_gentle_low_pass():
    cutoffs = [step["LowpassFilter"]["cutoff_frequency_hz"] for step in PRESETS["sampler"] if "LowpassFilter" in step]
    assert len(cutoffs) == 1 and cutoffs[0] >= 10000  # not stacked 7 kHz cuts that hid the hats


@pytest.mark.parametrize("kit_file", ["FluidR3_GM.sf2", "Black_Pearl_4_LV2.sf2"])
def test_a_kit_through_the_sampler_keeps_its_crack_and_hats(kit_file):
    """A rendered boom-bap loop through `sampler`: at least 10% of its power in 1-8 kHz (the
    snare's crack, the hats), where the kit alone has 5-8%, and the crest factor not raised."""
    from lofictl.compose.score import DRUM_CHANNEL, Track
    from lofictl.sound.render import render_track
    from lofictl.sound.soundfonts import default_kit, find_soundfont
    from lofictl.sound.spectra import measure

    path = find_soundfont(kit_file, None)
    kit = default_kit(path)
    track = Track("drums", "drums", _boom_bap_bars(), kit.program, kit.bank, is_drums=True, channel=DRUM_CHANNEL)
    dry = render_track(track, 0.75, path, kit, SR, 7 * SR)
    before, after = measure(dry, SR), measure(apply_chain(dry, SR, ["sampler"]), SR)

    def one_to_eight(m):
        return m.bands["mid"] + m.bands["presence"]

    assert one_to_eight(before) < 0.10 <= one_to_eight(after)
    assert after.crest_db <= before.crest_db


def test_lead_preset_clears_the_low_mids_and_lifts_the_presence(noise):
    lead = apply_chain(noise, SR, ["lead"])
    spectrum_in, spectrum_out = np.abs(np.fft.rfft(noise[0])) ** 2, np.abs(np.fft.rfft(lead[0])) ** 2
    bins_per_hz = noise.shape[1] / SR

    def gain_db(low, high):
        part = slice(int(low * bins_per_hz), int(high * bins_per_hz))
        return 10 * np.log10(spectrum_out[part].sum() / spectrum_in[part].sum())

    assert gain_db(50, 120) < gain_db(800, 1200) - 6  # under the high-pass: left to keys and bass
    assert gain_db(2400, 3200) > gain_db(800, 1200) + 2  # the presence lift
