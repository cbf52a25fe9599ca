"""REAPER and DAWproject exports: what a DAW user opens must hold every stem, part and marker."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lofictl.compose.arrangement import compose
from lofictl.compose.score import Score
from lofictl.errors import LofictlError
from lofictl.export import daw, dawproject, reaper, sidecar
from lofictl.export.midi import assign_channels
from lofictl.recipe.load import parse_recipe_text
from support import data_path

DATA = data_path("dawproject")
SR = 44100
TAIL_S = 2.0

RECIPE = """\
lofictl: 1
title: Test "Tune"
seed: 7
tempo: 90
time_signature: 3/4
key: E minor
sections:
  - {name: intro, bars: 2, tracks: [keys]}
  - {name: A, bars: 2}
tracks:
  keys: {part: chords, progression: "Em9 Am9", gain_db: -4, pan: -0.25}
  bass: {part: bass, gain_db: -2, mute: true}
  drums: {part: drums, pattern: boom-bap}
"""


@pytest.fixture(scope="module")
def score():
    loaded = parse_recipe_text(RECIPE, Path("recipes/test_tune.yaml"))
    return compose(loaded.recipe).score


def _write_wav(path: Path, seconds: float, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.random.default_rng(seed).uniform(-0.1, 0.1, (int(round(seconds * SR)), 2)).astype(np.float32)
    sf.write(path, audio, SR, subtype="FLOAT")


@pytest.fixture()
def export(tmp_path, score):
    """A build folder as build.py lays it out: wet and dry stems, an overlay, the mix."""
    seconds = score.duration_seconds + TAIL_S
    recipe = parse_recipe_text(RECIPE, Path("recipes/test_tune.yaml")).recipe
    stems = []
    for number, track in enumerate(score.tracks, 1):
        spec = recipe.tracks[track.name]
        wet = Path("stems") / daw.stem_file_name("Test Tune", number, track.name, score.key, score.tempo)
        dry = Path("stems/dry") / f"{number:02d}_{track.name}.wav"
        _write_wav(tmp_path / wet, seconds, number)
        _write_wav(tmp_path / dry, seconds, 100 + number)
        stems.append(daw.StemInfo(track.name, wet, "wet", spec.gain_db, spec.pan, spec.mute))
        stems.append(daw.StemInfo(track.name, dry, "dry", spec.gain_db, spec.pan, spec.mute))
    _write_wav(tmp_path / "stems/04_overlay-1-rain.wav", seconds, 50)
    stems.append(daw.StemInfo("overlay-1-rain", Path("stems/04_overlay-1-rain.wav"), "overlay"))
    _write_wav(tmp_path / "test_tune.wav", seconds, 60)
    stems.append(daw.StemInfo("Test Tune", Path("test_tune.wav"), "mix"))
    return tmp_path, daw.DawExport('Test "Tune"', score, tuple(stems), SR)


def _expected_notes(score, track):
    """Score notes as the MIDI encoder writes them: on the tick grid, at least a tick long."""
    channel = assign_channels(score)[track.name]
    notes = []
    for note in track.notes:
        start = round(note.start * 960)
        end = max(start + 1, round(note.end * 960))
        notes.append((start, end - start, note.pitch, note.velocity, channel))
    return sorted(set(notes))


# --- REAPER ---------------------------------------------------------------------------------


def test_rpp_has_tempo_meter_markers_and_every_track(export):
    folder, exp = export
    path = reaper.write_reaper_project(folder / "test_tune.rpp", exp)
    project = reaper.read_reaper_project(path)
    score = exp.score
    assert project["tempo"] == 90 and project["time_signature"] == (3, 4)
    assert project["sample_rate"] == SR
    assert [(m["name"], m["position"]) for m in project["markers"]] == [
        ("intro", 0.0),
        ("A", pytest.approx(2 * 3 * 60 / 90, abs=1e-9)),
    ]
    names = [track["name"] for track in project["tracks"]]
    assert names == [
        "keys",
        "keys (dry)",
        "bass",
        "bass (dry)",
        "drums",
        "drums (dry)",
        "overlay-1-rain",
        "keys (MIDI)",
        "bass (MIDI)",
        "drums (MIDI)",
        "Test Tune (mix reference)",
    ]
    assert all(len(track["items"]) == 1 and track["items"][0]["position"] == 0 for track in project["tracks"])
    assert score.duration_seconds == pytest.approx(4 * 3 * 60 / 90)


def test_rpp_audio_items_point_at_the_stems_and_run_their_full_length(export):
    folder, exp = export
    project = reaper.read_reaper_project(reaper.write_reaper_project(folder / "test_tune.rpp", exp))
    audio_tracks = [t for t in project["tracks"] if t["items"][0]["source"] == "WAVE"]
    assert len(audio_tracks) == len(exp.stems)
    for track, stem in zip(audio_tracks[:-1], [s for s in exp.stems if s.kind != "mix"]):
        item = track["items"][0]
        assert item["file"] == stem.path.as_posix()  # relative to the .rpp, so the folder can move
        assert (folder / item["file"]).is_file()
        assert item["length"] == pytest.approx(sf.info(str(folder / item["file"])).duration, abs=1e-9)


def test_rpp_faders_print_the_recipe_mix_exactly_once(export):
    folder, exp = export
    tracks = {
        t["name"]: t for t in reaper.read_reaper_project(reaper.write_reaper_project(folder / "p.rpp", exp))["tracks"]
    }
    # Wet stems carry gain and pan already: unity, centre, playing (unless muted in the recipe).
    assert (tracks["keys"]["volume"], tracks["keys"]["pan"], tracks["keys"]["muted"]) == (1.0, 0.0, False)
    assert tracks["bass"]["muted"] is True  # `mute: true` in the recipe, so not in the mix either
    assert tracks["overlay-1-rain"]["muted"] is False
    # Dry stems carry the recipe's gain and pan on the fader and start muted.
    dry = tracks["keys (dry)"]
    assert dry["volume"] == pytest.approx(10 ** (-4 / 20), rel=1e-8)
    assert dry["pan"] == -0.25 and dry["muted"] is True
    assert tracks["Test Tune (mix reference)"]["muted"] is True


def test_rpp_midi_tracks_hold_every_note_of_their_part(export):
    folder, exp = export
    tracks = {
        t["name"]: t for t in reaper.read_reaper_project(reaper.write_reaper_project(folder / "p.rpp", exp))["tracks"]
    }
    score = exp.score
    for track in score.tracks:
        rpp_track = tracks[f"{track.name} (MIDI)"]
        item = rpp_track["items"][0]
        assert rpp_track["muted"] is True and item["source"] == "MIDI" and item["ppq"] == 960
        assert item["length"] == pytest.approx(score.duration_seconds)
        assert item["length_beats"] == score.total_beats  # the closing all-notes-off sets the length
        got = sorted({(round(s * 960), round(d * 960), p, v, c) for s, d, p, v, c in item["notes"]})
        assert got == _expected_notes(score, track)
    assert tracks["drums (MIDI)"]["items"][0]["notes"][0][4] == 9  # drums on MIDI channel 10


def test_rpp_midi_lines_follow_reaper_state_chunk_syntax(score):
    lines = reaper.reaper_midi_events(score, "keys")
    assert lines[0] == "E 0 c0 00 00"  # program change first, then notes
    assert all(len(line.split()) == 5 and line.split()[0] == "E" for line in lines)
    assert lines[-1].endswith("b0 7b 00")
    assert sum(int(line.split()[1]) for line in lines) == round(score.total_beats * 960)


def test_rpp_strings_with_quotes_survive(export):
    folder, exp = export
    stem = exp.stems[0]
    odd = daw.StemInfo('say "hi"', stem.path, "wet")
    text = reaper.reaper_project_text(
        daw.DawExport(exp.title, exp.score, (odd,), SR), folder, {odd: daw.probe_media(folder / stem.path)}
    )
    assert "NAME 'say \"hi\"'" in text
    (folder / "q.rpp").write_text(text)
    assert reaper.read_reaper_project(folder / "q.rpp")["tracks"][0]["name"] == 'say "hi"'


def test_rpp_bytes_do_not_depend_on_when_or_where_they_are_written(export):
    folder, exp = export
    first = reaper.write_reaper_project(folder / "a.rpp", exp).read_bytes()
    os.utime(folder / exp.stems[0].path, (0, 0))
    assert reaper.write_reaper_project(folder / "b.rpp", exp).read_bytes() == first


# --- DAWproject -----------------------------------------------------------------------------


def test_dawproject_validates_against_the_published_schemas(export):
    import xmlschema

    folder, exp = export
    path = dawproject.write_dawproject(folder / "test_tune.dawproject", exp)
    xmlschema.XMLSchema(str(DATA / "Project.xsd")).validate(dawproject.dawproject_member(path, "project.xml").decode())
    xmlschema.XMLSchema(str(DATA / "MetaData.xsd")).validate(
        dawproject.dawproject_member(path, "metadata.xml").decode()
    )


def test_dawproject_reads_back_with_tempo_markers_tracks_and_clips(export):
    folder, exp = export
    project = dawproject.read_dawproject(dawproject.write_dawproject(folder / "test_tune.dawproject", exp))
    score = exp.score
    assert project["version"] == "1.0" and project["application"]["name"] == "lofictl"
    assert project["tempo"] == 90 and project["time_signature"] == (3, 4) and project["time_unit"] == "beats"
    assert project["markers"] == [{"name": "intro", "time": 0.0}, {"name": "A", "time": 6.0}]
    assert project["metadata"]["Title"] == 'Test "Tune"'
    tracks = {t["name"]: t for t in project["tracks"]}
    assert tracks["Master"]["role"] == "master" and tracks["Master"]["clips"] == []
    seconds = score.duration_seconds + TAIL_S
    for stem in exp.stems:
        track = tracks[daw.display_name(stem)]
        assert track["content_type"] == ["audio"]
        [clip] = track["clips"]
        assert clip["time"] == 0
        assert clip["duration"] == pytest.approx(seconds * 90 / 60)
        assert clip["audio"]["duration"] == pytest.approx(seconds)
        assert clip["audio"]["sample_rate"] == SR and clip["audio"]["channels"] == 2
        assert clip["warps"] == [(0, 0), (pytest.approx(clip["duration"]), pytest.approx(seconds))]
        gain_db, pan, muted = daw.mixer_settings(stem)
        assert track["muted"] is muted
        assert track["volume"] == pytest.approx(10 ** (gain_db / 20)) and track["pan"] == pytest.approx(pan)
    for part in score.tracks:
        track = tracks[f"{part.name} (MIDI)"]
        assert track["content_type"] == ["notes"] and track["muted"] is True
        [clip] = track["clips"]
        assert clip["duration"] == score.total_beats
        channel = assign_channels(score)[part.name]
        assert clip["notes"] == sorted(
            (n.start, n.duration, n.pitch, pytest.approx(n.velocity / 127), channel) for n in part.notes
        )


def test_dawproject_embeds_each_stem_once_under_audio(export):
    folder, exp = export
    path = dawproject.write_dawproject(folder / "t.dawproject", exp)
    project = dawproject.read_dawproject(path)
    audio_files = [name for name in project["files"] if name.startswith("audio/")]
    assert len(audio_files) == len(exp.stems)
    for stem in exp.stems:  # as 24-bit FLAC: the same samples, to within 24-bit rounding
        inside = dawproject.archive_names(exp.stems)[stem]
        assert inside.endswith(".flac")
        packed, rate = sf.read(io.BytesIO(dawproject.dawproject_member(path, inside)), dtype="float32")
        original, _ = sf.read(folder / stem.path, dtype="float32")
        assert rate == SR and packed.shape == original.shape
        assert np.max(np.abs(packed - original)) <= 2.0**-23
    referenced = sorted(c["audio"]["path"] for t in project["tracks"] for c in t["clips"] if c["audio"])
    assert referenced == sorted(audio_files)


def test_dawproject_zip_is_deterministic(export):
    folder, exp = export
    first = dawproject.write_dawproject(folder / "a.dawproject", exp).read_bytes()
    os.utime(folder / exp.stems[0].path, (0, 0))
    second = dawproject.write_dawproject(folder / "b.dawproject", exp)
    assert second.read_bytes() == first
    with zipfile.ZipFile(second) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {dawproject.ZIP_DATE}


def test_archive_names_share_one_entry_per_file_and_keep_folders():
    a = daw.StemInfo("a", Path("stems/01_a.wav"))
    a_again = daw.StemInfo("a", Path("stems/01_a.wav"), "overlay")
    a_dry = daw.StemInfo("a", Path("stems/dry/01_a.wav"), "dry")
    b = daw.StemInfo("b", Path("/elsewhere/01_a.wav"))
    mix = daw.StemInfo("Mix", Path("tune.flac"), "mix")
    assert dawproject.archive_names([a, a_again, a_dry, b, mix]) == {
        a: "audio/01_a.flac",
        a_again: "audio/01_a.flac",
        a_dry: "audio/dry/01_a.flac",
        b: "audio/01_a-2.flac",
        mix: "audio/tune.flac",
    }
    assert dawproject.archive_names([a], keep_wav={"stems/01_a.wav"}) == {a: "audio/01_a.wav"}


def test_a_stem_past_full_scale_stays_float_wav(tmp_path):
    # FLAC stores integers: a float stem peaking past ±1.0 would clip, so it goes in as WAV.
    loud = np.full((SR // 10, 2), 1.5, dtype=np.float32)
    sf.write(tmp_path / "loud.wav", loud, SR, subtype="FLOAT")
    score = Score(90, 4, 4, "C major", 4.0, ())
    exp = daw.DawExport("Loud", score, (daw.StemInfo("loud", Path("loud.wav")),), SR)
    path = dawproject.write_dawproject(tmp_path / "loud.dawproject", exp)
    packed, _ = sf.read(io.BytesIO(dawproject.dawproject_member(path, "audio/loud.wav")), dtype="float32")
    assert np.array_equal(packed, loud)


# --- stem conventions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "title, number, track, key, bpm, expected",
    [
        ("Rainy Night", 1, "chords", "D minor", 72, "Rainy-Night_01_chords_Dmin_72bpm.wav"),
        ("Café / Noir?", 12, "lead_synth", "F# major", 84.5, "Cafe-Noir_12_lead-synth_Fsharpmaj_84.5bpm.wav"),
        ("   ", 3, "bass", "Bb dorian", 90.0, "untitled_03_bass_Bbdorian_90bpm.wav"),
    ],
)
def test_stem_file_names_are_safe_and_follow_the_delivery_convention(title, number, track, key, bpm, expected):
    name = daw.stem_file_name(title, number, track, key, bpm)
    assert name == expected
    assert name.count("_") == 4


def test_sidecar_lists_tempo_key_meter_rate_sections_and_stems(export):
    folder, exp = export
    data = json.loads(sidecar.sidecar_text(sidecar.stems_sidecar(exp.score, SR, exp.stems, title="Test Tune")))
    assert (data["tempo_bpm"], data["key"], data["time_signature"], data["sample_rate"]) == (90, "E minor", "3/4", SR)
    assert data["sections"][1] == {"name": "A", "start_bar": 3, "bars": 2, "start_beat": 6.0, "start_seconds": 4.0}
    assert data["mix"] == "test_tune.wav"
    assert [s["file"] for s in data["stems"]] == [s.path.as_posix() for s in exp.stems if s.kind != "mix"]
    assert all((folder / s["file"]).is_file() for s in data["stems"])


# --- mistakes -------------------------------------------------------------------------------


def test_a_missing_stem_is_a_clear_error(export):
    folder, exp = export
    (folder / exp.stems[0].path).unlink()
    with pytest.raises(LofictlError, match="cannot read stem"):
        reaper.write_reaper_project(folder / "x.rpp", exp)
    with pytest.raises(LofictlError, match="cannot read stem"):
        dawproject.write_dawproject(folder / "x.dawproject", exp)
    assert not (folder / "x.dawproject").exists()


def test_readers_reject_files_that_are_not_projects(tmp_path):
    (tmp_path / "a.rpp").write_text("<TRACK\n>\n")
    with pytest.raises(LofictlError, match="not a REAPER project"):
        reaper.read_reaper_project(tmp_path / "a.rpp")
    (tmp_path / "b.rpp").write_text("<REAPER_PROJECT 0.1\n  TEMPO 90 4 4\n  <TRACK\n")
    with pytest.raises(LofictlError, match="never closed"):
        reaper.read_reaper_project(tmp_path / "b.rpp")
    (tmp_path / "c.dawproject").write_bytes(b"not a zip")
    with pytest.raises(LofictlError, match="not a readable DAWproject"):
        dawproject.read_dawproject(tmp_path / "c.dawproject")


def test_unknown_stem_kind_is_refused():
    with pytest.raises(LofictlError, match="stem kind"):
        daw.StemInfo("keys", Path("a.wav"), "wetter")
