"""Tempo changes per section, and ramps: one tempo map for MIDI, audio, drums, DAWs and sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from lofictl.compose.arrangement import compose
from lofictl.compose.score import Note, TempoMap, Track
from lofictl.errors import LofictlError
from lofictl.export import dawproject, midi, reaper
from lofictl.pipeline.runner import build_recipe
from lofictl.recipe.load import load_recipe, parse_recipe_text
from support import SMALL_RECIPE, data_path

DATA = data_path("dawproject")
TEMPOS = SMALL_RECIPE.replace(
    "length: 4 bars\n",
    """\
sections:
  - {name: intro, bars: 1, tempo: 60}
  - {name: A, bars: 2, tempo: 120, ramp: true}
  - {name: B, bars: 1}
""",
).replace("output: {formats: [wav]}", "output: {formats: [wav], daw: [reaper, dawproject]}")


def _recipe(text: str = TEMPOS):
    return parse_recipe_text(text, Path("recipes/tempo.yaml")).recipe


def test_sections_set_tempos_and_ramps_step_a_beat():
    score = compose(_recipe()).score
    assert score.tempo == 60  # the first section's tempo replaces the recipe's 90 at bar 1
    # A: 8 beats from 60 to 120, each beat at the tempo it arrives at; then B holds 120
    assert score.tempo_changes == tuple((4.0 + k, 60 + 60 * (k + 1) / 8) for k in range(8))
    seconds = 4 * 1.0 + sum(60 / bpm for _, bpm in score.tempo_changes) + 4 * 0.5
    assert score.duration_seconds == pytest.approx(seconds)
    assert score.tempo_range == (60, 120)


def test_a_tempo_holds_until_a_section_changes_it_and_repeats_play_notes_not_tempo():
    recipe = _recipe(
        SMALL_RECIPE.replace(
            "length: 4 bars\n",
            """\
sections:
  - {name: A, bars: 1}
  - {name: B, bars: 1, tempo: 70}
  - {name: A2, bars: 1, repeat: A}
""",
        )
    )
    score = compose(recipe).score
    assert score.tempo == 90 and score.tempo_changes == ((4.0, 70.0),)  # A2 stays at 70


def test_ramp_needs_a_tempo():
    with pytest.raises(LofictlError, match="ramp: true needs a tempo"):
        _recipe(SMALL_RECIPE.replace("length: 4 bars\n", "sections:\n  - {name: A, bars: 1, ramp: true}\n"))


def test_tempo_map_arithmetic():
    timing = TempoMap(((0.0, 1.0), (4.0, 0.5)))  # 60 BPM, then 120 from beat 4
    assert timing.seconds(2) == 2 and timing.seconds(4) == 4 and timing.seconds(8) == 6
    assert timing.beat_at(6.0) == 8 and timing.beat_at(1.5) == 1.5
    assert timing.samples(8, 100) == 600 and timing.bpm_at(3.9) == 60 and timing.bpm_at(4) == 120
    constant = TempoMap.constant(60 / 72)
    assert all(constant.samples(b, 44100) == b * (60 / 72 * 44100) for b in (0.0, 1.25, 77.5))  # same bytes as before


def test_midi_carries_the_tempo_map_and_reads_it_back():
    score = compose(_recipe()).score
    data = midi.midi_bytes(midi.score_to_midi(score))
    conductor = mido.MidiFile(file=__import__("io").BytesIO(data)).tracks[0]
    tick, tempos = 0, []
    for message in conductor:
        tick += message.time
        if message.type == "set_tempo":
            tempos.append((tick / 480, round(mido.tempo2bpm(message.tempo), 3)))
    assert tempos == [(0.0, 60.0), *score.tempo_changes]
    again = midi.midi_to_score(data)
    assert again.tempo == 60 and again.tempo_changes == score.tempo_changes


def test_audio_follows_the_tempo_map():
    # One rim click on beat 8: at 60 BPM for 4 beats, then 120, it sounds at 6 s (not 8 s or 4 s).
    from lofictl.sound import render, soundfonts

    font = soundfonts.find_soundfont("FluidR3_GM.sf2", Path("."))
    preset = soundfonts.resolve_preset(font, bank=soundfonts.DRUM_BANK, program=0)
    track = Track("drums", "drums", (Note(8.0, 0.1, 37, 120),), is_drums=True, channel=9)
    audio = render.render_track(track, TempoMap(((0.0, 1.0), (4.0, 0.5))), font, preset, 8000, 8000 * 7)
    onset = int(np.argmax(np.abs(audio[0]) > 1e-3))
    assert abs(onset / 8000 - 6.0) < 0.01


def test_drum_humanize_is_in_milliseconds_at_each_sections_tempo():
    # the same 12 ms spread is twice as many beats at 120 BPM as at 60
    text = (
        SMALL_RECIPE.replace(
            "length: 4 bars\n",
            """\
sections:
  - {name: slow, bars: 8, tempo: 60}
  - {name: fast, bars: 8, tempo: 120}
""",
        )
        .replace("humanize: {timing_ms: 8, velocity: 8}", "humanize: {timing_ms: 12, velocity: 0}")
        .replace("swing: 0.55", "swing: 0.5")
    )
    score = compose(_recipe(text)).score
    drums = score.track("drums").notes
    offsets = np.array([n.start - round(n.start * 4) / 4 for n in drums])
    slow = offsets[[n.start < 32 for n in drums]].std()
    fast = offsets[[n.start >= 32 for n in drums]].std()
    assert 1.5 < fast / slow < 2.7
    assert slow * 1000 == pytest.approx(12, rel=0.35)  # 1 beat = 1 s at 60 BPM


def test_build_daws_and_sidecar_share_the_tempo_map(write_recipe, project):
    import xmlschema

    path = write_recipe(TEMPOS, name="tempo")
    result = build_recipe(load_recipe(path), quiet=True)
    out = result.out_dir
    score = midi.midi_to_score(out / "midi" / "tempo.mid")
    expected = [(0.0, 60.0), *score.tempo_changes]
    seconds = [score.beat_to_seconds(beat) for beat, _ in expected]
    assert result.tempo_range == (60, 120) and result.duration_s == pytest.approx(score.duration_seconds + 2.0)
    info = sf.info(str(out / "stems" / "01_chords.wav"))
    assert info.frames == round((score.duration_seconds + 2.0) * 44100)
    sidecar = json.loads((out / "tempo.stems.json").read_text())
    assert [(p["beat"], p["bpm"]) for p in sidecar["tempo_map"]] == expected
    assert [p["seconds"] for p in sidecar["tempo_map"]] == [round(s, 6) for s in seconds]
    assert [s["start_seconds"] for s in sidecar["sections"]] == [0.0, 4.0, round(score.beat_to_seconds(12), 6)]
    rpp = reaper.read_reaper_project(out / "tempo.rpp")
    assert rpp["tempo_points"] == [(pytest.approx(s, abs=1e-6), bpm) for s, (_, bpm) in zip(seconds, expected)]
    assert [m["position"] for m in rpp["markers"]] == pytest.approx([0.0, 4.0, score.beat_to_seconds(12)])
    project = dawproject.read_dawproject(out / "tempo.dawproject")
    assert project["tempo_points"] == expected
    xmlschema.XMLSchema(str(DATA / "Project.xsd")).validate(
        dawproject.dawproject_member(out / "tempo.dawproject", "project.xml").decode()
    )
    chords = next(t for t in project["tracks"] if t["name"] == "chords")
    [clip] = chords["clips"]
    # the audio is not stretched: every warp maps a beat to the second the tempo map gives it
    assert all(content == pytest.approx(score.beat_to_seconds(beat), abs=1e-6) for beat, content in clip["warps"][:-1])
    assert clip["warps"][-1][1] == pytest.approx(info.frames / 44100)
