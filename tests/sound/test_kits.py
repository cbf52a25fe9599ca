"""lofictl's own drum kits: every key sounds, velocity shapes level and timbre, the bytes repeat,
the stem is as long as a FluidSynth stem, and a recipe naming an unknown kit is stopped at its line."""

import hashlib
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import soundfile

from lofictl.compose.score import Note, Track
from lofictl.errors import LofictlError
from lofictl.sound import kits, spectra
from lofictl.sound.soundfonts import resolve_preset
from lofictl.sound.stems import Stem, render_stem_to_wav
from support import SMALL_RECIPE, invoke

SR = 44100
SPB = 0.5  # 120 bpm


def _hit(key: int, velocity: int) -> Track:
    return Track("drums", "drums", (Note(0.0, 0.25, key, velocity),), is_drums=True, channel=9)


def _groove(bars: int = 2) -> Track:
    notes = []
    for step in range(16 * bars):
        beat = step * 0.25
        velocity = 60 + (step * 37) % 60  # varied, as a humanized part is
        if step % 8 == 0 or step % 16 == 10:
            notes.append(Note(beat, 0.125, 36, velocity))
        if step % 8 == 4:
            notes.append(Note(beat, 0.125, 38, velocity))
        if step % 2 == 0:
            notes.append(Note(beat, 0.125, 46 if step % 16 == 14 else 42, velocity))
    return Track("drums", "drums", tuple(notes), is_drums=True, channel=9)


@pytest.mark.parametrize("key", kits.kit_keys("dusty"))
def test_every_key_the_kit_claims_sounds_and_stays_under_full_scale(key):
    audio = kits.render_kit(_hit(key, 100), SPB, "dusty", SR, SR)
    assert audio.shape == (2, SR) and audio.dtype == np.float32
    peak = float(np.abs(audio).max())
    assert 10 ** (-45 / 20) < peak < 1.0
    assert np.abs(audio[:, : SR // 100]).max() > 0.1 * peak  # it starts on the note, not later


def test_keys_outside_the_kit_are_silent():
    assert 58 not in kits.kit_keys("dusty")
    assert not kits.render_kit(_hit(58, 100), SPB, "dusty", SR, SR).any()


@pytest.mark.parametrize("key", [36, 38, 42, 46, 37, 70])
def test_a_harder_hit_is_louder_and_brighter(key):
    soft, hard = (spectra.hit_measures(kits.render_kit(_hit(key, v), SPB, "dusty", SR, SR), SR) for v in (45, 120))
    assert hard.peak_db > soft.peak_db + 6
    assert hard.centroid_hz > soft.centroid_hz * 1.02  # the timbre changes, not only the level


def test_repeated_hits_vary_but_never_repeat_the_same_one_shot_in_a_row():
    track = Track("drums", "drums", tuple(Note(i * 0.5, 0.25, 42, 90) for i in range(16)), is_drums=True)
    played = kits.hits(track, SPB, "dusty", SR, 10 * SR)
    variants = [hit.variant for hit in played]
    assert all(a != b for a, b in zip(variants, variants[1:]))
    assert len(set(variants)) > 1


def test_a_hat_chokes_the_ringing_open_hat():
    open_only = Track("d", "drums", (Note(0.0, 0.25, 46, 110),), is_drums=True)
    choked = Track("d", "drums", (Note(0.0, 0.25, 46, 110), Note(0.5, 0.25, 44, 1)), is_drums=True)
    a = kits.render_kit(open_only, SPB, "dusty", SR, SR)
    b = kits.render_kit(choked, SPB, "dusty", SR, SR)
    pedal = kits.one_shot("dusty", 44, 1, 0, SR).shape[1]
    after = round(0.25 * SR) + pedal  # the pedal hat has rung out; the open hat was cut when it came
    assert np.abs(a[:, after:]).max() > 0.01 and not b[:, after:].any()
    start, fade = round(0.25 * SR), round(kits.CHOKE_FADE_S * SR)
    assert np.abs(b[:, start + fade : start + fade + 200]).max() < 0.2 * np.abs(a[:, start : start + fade]).max()


def test_the_bytes_do_not_depend_on_the_block_size():
    track = _groove()
    whole = kits.render_kit(track, SPB, "dusty", SR, 5 * SR, block_size=1 << 20)
    for block_size in (64, 1000, 4099):
        assert np.array_equal(kits.render_kit(track, SPB, "dusty", SR, 5 * SR, block_size=block_size), whole)


_SCRIPT = """
import hashlib
from lofictl.compose.score import Note, Track
from lofictl.sound.kits import render_kit
notes = tuple(Note(i * 0.25, 0.125, (36, 42, 38, 42, 46, 37, 70, 49)[i % 8], 40 + 11 * i % 87) for i in range(32))
audio = render_kit(Track("drums", "drums", notes, is_drums=True), 0.5, "dusty", 48000, 5 * 48000)
print(hashlib.sha256(audio.tobytes()).hexdigest())
"""


def test_the_same_score_gives_the_same_bytes_in_two_processes():
    digests = {
        subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(digests) == 1 and len(digests.pop().strip()) == 64


def test_the_kit_stem_is_as_long_as_a_fluidsynth_stem_of_the_same_score(gm, tmp_path):
    track, n = _groove(), 5 * SR + 123
    kit = resolve_preset(gm, "Drums")
    stem = Stem(track=track, timing=SPB, soundfont=gm, preset=kit, sample_rate=SR, n_samples=n)
    stem = replace(stem, effects=["sampler"], gain_db=-4.0)
    render_stem_to_wav(stem, tmp_path / "sf.wav")
    render_stem_to_wav(replace(stem, soundfont=None, kit="dusty"), tmp_path / "kit.wav")
    sf_audio, sf_rate = soundfile.read(tmp_path / "sf.wav", always_2d=True)
    kit_audio, kit_rate = soundfile.read(tmp_path / "kit.wav", always_2d=True)
    assert sf_audio.shape == kit_audio.shape == (n, 2) and sf_rate == kit_rate == SR
    # the kit's hits start where FluidSynth's do (within its 64-sample block edges)
    onsets = [np.argmax(np.abs(a[:, 0]) > 1e-3) for a in (sf_audio, kit_audio)]
    assert abs(onsets[0] - onsets[1]) <= 64


def test_the_stem_plays_at_the_recipes_sample_rate():
    at_48k = kits.render_kit(_hit(38, 100), SPB, "dusty", 48000, 48000)
    assert at_48k.shape == (2, 48000)
    assert spectra.hit_measures(at_48k, 48000).centroid_hz == pytest.approx(
        spectra.hit_measures(kits.render_kit(_hit(38, 100), SPB, "dusty", SR, SR), SR).centroid_hz, rel=0.1
    )


def test_an_unknown_kit_is_a_clear_error():
    with pytest.raises(LofictlError, match=r"unknown kit 'dustyy'; did you mean 'dusty'\?"):
        kits.render_kit(_hit(36, 100), SPB, "dustyy", SR, SR)


def test_validate_stops_an_unknown_kit_at_its_line(write_recipe):
    text = SMALL_RECIPE.replace("    pattern: boom-bap\n", "    pattern: boom-bap\n    instrument: {kit: dustie}\n")
    result = invoke("validate", write_recipe(text))
    assert result.exit_code == 2, result.output
    line = text.splitlines().index("    instrument: {kit: dustie}") + 1
    assert (
        f"test_loop.yaml:{line}: tracks.drums.instrument.kit: unknown kit 'dustie'; did you mean 'dusty'?"
        in result.output
    )
    assert "Traceback" not in result.output


def test_a_kit_is_named_alone_and_only_for_drum_notes(write_recipe):
    both = SMALL_RECIPE.replace(
        "    pattern: boom-bap\n", "    pattern: boom-bap\n    instrument: {kit: dusty, preset: Drums}\n"
    )
    result = invoke("validate", write_recipe(both))
    assert result.exit_code == 2 and "give kit alone" in result.output
    chords = SMALL_RECIPE.replace("{soundfont: FluidR3_GM.sf2, preset: Electric Piano 1}", "{kit: dusty}")
    result = invoke("validate", write_recipe(chords))
    assert result.exit_code == 2 and "tracks.chords.instrument.kit: kit 'dusty' plays drum notes" in result.output
    ok = SMALL_RECIPE.replace("    pattern: boom-bap\n", "    pattern: boom-bap\n    instrument: {kit: dusty}\n")
    assert invoke("validate", write_recipe(ok)).exit_code == 0


def test_a_kit_instrument_reads_back_from_its_dump():  # as the lock's resolved recipe holds it
    from lofictl.recipe.schema import Instrument

    dumped = Instrument(kit="dusty").model_dump(mode="json")
    assert Instrument.model_validate(dumped).kit == "dusty"
    with pytest.raises(ValueError, match="give kit alone"):
        Instrument.model_validate({**dumped, "soundfont": "Black_Pearl_4_LV2.sf2"})


def test_the_stem_key_names_the_kit_and_its_version():
    from lofictl.pipeline.inputs import instrument_inputs
    from lofictl.pipeline.plan import ResolvedInstrument
    from lofictl.sound.soundfonts import Preset

    inputs = instrument_inputs(ResolvedInstrument(None, Preset(128, 0, "dusty"), "dusty"), cache=None)
    assert inputs == {"kit": f"dusty v{kits.KIT_VERSION}"}
    digest = kits.kit_digest("dusty")
    assert digest == kits.kit_digest("dusty") and len(digest) == 64
    assert hashlib.sha256(b"").hexdigest() != digest


@pytest.mark.parametrize("chain", [["sampler"], ["dusty"]])  # streams; has Resample, so runs whole
def test_the_streamed_kit_stem_has_the_whole_paths_bytes(tmp_path, chain):
    from lofictl.sound import audio_io, reference

    track, n = _groove(), 4 * SR + 77
    stem = Stem(track=track, timing=SPB, kit="dusty", sample_rate=SR, n_samples=n, effects=chain, gain_db=-3.0, pan=0.2)
    audio_io.write_wav(tmp_path / "whole.wav", reference.render_stem(stem), SR)
    render_stem_to_wav(stem, tmp_path / "s.wav", block_size=3000)
    assert (tmp_path / "s.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes()


def test_the_lock_records_the_kit_its_version_and_its_sound(gm):
    from lofictl.pipeline.cache import Cache
    from lofictl.pipeline.inputs import instrument_record
    from lofictl.pipeline.plan import ResolvedInstrument

    kit = ResolvedInstrument(None, resolve_preset(gm, "Drums"), "dusty")
    record = instrument_record(kit, Cache(None))
    assert record == {"kit": "dusty", "version": kits.KIT_VERSION, "sha256": kits.kit_digest("dusty")}
    font = instrument_record(ResolvedInstrument(gm, resolve_preset(gm, "Drums")), Cache(None))
    assert font["soundfont"] == gm.name and font["preset"].startswith("128:000")
