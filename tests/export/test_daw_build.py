"""Into the DAW and back, through the real build: project files, MIDI clips, the `new` wizard."""

import mido
import pytest
from typer.testing import CliRunner

from lofictl.cli import app
from lofictl.export import dawproject, reaper
from lofictl.pipeline.runner import build_recipe
from lofictl.recipe.load import load_recipe
from support import REPO, SMALL_RECIPE, write_clip

runner = CliRunner()

CLIP_TRACK = """\
  keys:
    part: midi
    file: clips/riff.mid
    gain_db: -6
    pan: 0.3
"""


def write_riff(project):
    """clips/riff.mid: four eighth notes at 96 ticks a beat."""
    write_clip(project / "clips" / "riff.mid", (62, 65, 69, 72), ticks_per_beat=96, beats=0.5)


def daw_recipe(extra_output="daw: [reaper, dawproject]"):
    text = SMALL_RECIPE.replace("length: 4 bars", "length: 2 bars")
    text = text.replace("master:", CLIP_TRACK + "master:", 1)
    return text.replace("output: {formats: [wav]}", f"output: {{formats: [wav], {extra_output}}}")


def test_reaper_and_dawproject_read_back(write_recipe, project):
    write_riff(project)
    result = build_recipe(load_recipe(write_recipe(daw_recipe())), quiet=True)
    out = result.out_dir
    rpp = reaper.read_reaper_project(out / "test_loop.rpp")
    assert rpp["tempo"] == 90 and rpp["time_signature"] == [4, 4] or tuple(rpp["time_signature"]) == (4, 4)
    names = [t["name"] for t in rpp["tracks"]]
    for track in ("chords", "bass", "drums", "keys"):
        assert track in names and f"{track} (dry)" in names and f"{track} (MIDI)" in names
    for track in rpp["tracks"]:
        for item in track.get("items", []):
            assert item["position"] == 0
            if item.get("file"):
                assert (out / item["file"]).exists()
    project_xml = dawproject.read_dawproject(out / "test_loop.dawproject")
    assert project_xml["tempo"] == 90
    assert len(project_xml["tracks"]) == len(rpp["tracks"]) + 1 or len(project_xml["tracks"]) >= len(rpp["tracks"])
    sidecar = (out / "test_loop.stems.json").read_text()
    assert '"tempo_bpm": 90' in sidecar and "stems/04_keys.wav" in sidecar


def test_midi_clip_loops_in_recipe_tempo(write_recipe, project):
    write_riff(project)
    result = build_recipe(load_recipe(write_recipe(daw_recipe("daw: []"))), quiet=True, midi_only=True)
    from lofictl.export.midi import midi_to_score

    score = midi_to_score(result.out_dir / "midi" / "test_loop.mid")
    keys = score.track("keys")
    # a half-bar clip rounds up to one bar and loops: two bars hold it twice
    assert [n.pitch for n in keys.notes] == [62, 65, 69, 72] * 2
    assert keys.notes[4].start == pytest.approx(4.0)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"not a midi file", "tracks.keys.file"),
        (None, "no tracks"),
        ("empty-track", "no notes"),
    ],
)
def test_broken_or_empty_clip_exit_2(write_recipe, project, content, expected):
    (project / "clips").mkdir()
    if content is None:
        mido.MidiFile().save(project / "clips" / "riff.mid")
    elif content == "empty-track":
        midi = mido.MidiFile()
        midi.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name="silence")]))
        midi.save(project / "clips" / "riff.mid")
    else:
        (project / "clips" / "riff.mid").write_bytes(content)
    outcome = runner.invoke(app, ["validate", str(write_recipe(daw_recipe()))])
    assert outcome.exit_code == 2, outcome.output
    assert expected in outcome.output and "Traceback" not in outcome.output


def test_new_wizard_then_build(project, monkeypatch):
    monkeypatch.chdir(project)
    outcome = runner.invoke(app, ["new", "--yes", "--title", "Test Tune", "--mood", "rainy", "--length", "2 bars"])
    assert outcome.exit_code == 0, outcome.output
    recipe = project / "recipes" / "test_tune.yaml"
    assert recipe.exists() and recipe.read_text().startswith("#")
    outcome = runner.invoke(app, ["build", "-q", str(recipe)])
    assert outcome.exit_code == 0, outcome.output
    assert (project / "build" / "test_tune" / "test_tune.wav").exists()
    again = runner.invoke(app, ["new", "--yes", "--title", "Test Tune"])
    assert again.exit_code == 2 and "--force" in again.output


def test_example_midi_reads_back_in_music21(tmp_path):
    """A second MIDI reader (music21) finds every note of every track of an example build."""
    import shutil

    import music21

    from lofictl.export.midi import midi_to_score

    project = tmp_path / "p"
    for folder in ("recipes", "models", "effects"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("*.lock.json"))
    result = build_recipe(load_recipe(project / "recipes" / "sunday_morning.yaml"), quiet=True, midi_only=True)
    path = result.out_dir / "midi" / "sunday_morning.mid"
    ours = midi_to_score(path)
    parsed = music21.converter.parse(str(path), quantizePost=False)  # no re-quantising: every note as written
    pitched, hits = [], 0
    for element in parsed.recurse().notes:
        if isinstance(element, (music21.percussion.PercussionChord, music21.note.Unpitched)):
            # music21 reads channel 10 as unpitched percussion, tied across barlines too
            notes = element.notes if isinstance(element, music21.percussion.PercussionChord) else [element]
            hits += sum(1 for n in notes if n.tie is None or n.tie.type == "start")
        else:  # a note music21 split at a barline comes back tied: count it once
            notes = element.notes if isinstance(element, music21.chord.Chord) else [element]
            pitched.extend(n.pitch.midi for n in notes if n.tie is None or n.tie.type == "start")
    assert sorted(pitched) == sorted(n.pitch for t in ours.tracks if not t.is_drums for n in t.notes)
    assert hits == len(ours.track("drums").notes)
    assert [t.name for t in ours.tracks] == ["keys", "lead", "bass", "drums"]
    assert abs(parsed.metronomeMarkBoundaries()[0][2].number - 84) < 1e-6
