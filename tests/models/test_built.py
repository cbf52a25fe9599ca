"""`lofictl eval --recipe/--build`: built tracks measured end to end on a tiny recipe; bad input is one line."""

from __future__ import annotations

import json
import shutil

import pytest

from lofictl.analysis.source import read_build
from lofictl.models import built
from support import REPO, invoke

TINY = """\
lofictl: 1
title: Tiny Song
seed: 3
tempo: 90
time_signature: 4/4
key: C major
sections:
  - {name: intro, bars: 1, tracks: [keys]}
  - {name: A, bars: 4}
  - {name: B, bars: 4}
  - {name: A2, bars: 4, repeat: A}
tracks:
  keys:
    part: chords
    progression: "Dm7 G7 Cmaj7 Am7"
    under_melody: false  # voiced as written, so the chords read back from the MIDI are these
    instrument: {soundfont: FluidR3_GM.sf2, preset: Electric Piano 1}
  lead:
    part: melody
    generate: {model: models/lofi-melody}
    instrument: {soundfont: FluidR3_GM.sf2, preset: Vibraphone}
output: {formats: [wav]}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    project = tmp_path_factory.mktemp("built")
    (project / "recipes").mkdir()
    (project / "models").mkdir()
    shutil.copytree(REPO / "models" / "lofi-melody", project / "models" / "lofi-melody")  # the shipped model
    path = project / "recipes" / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_a_recipe_over_seeds_is_measured_with_its_form_and_harmony(tiny, tmp_path):
    result = invoke("eval", "--recipe", tiny, "--seeds", "2", "--no-models", "--out", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "eval" / "report.json").read_text())
    row = data["rows"][0]
    assert row["name"] == "tiny (2 seeds)" and row["songs"] == 2
    assert row["forms"] == ["i1A4B4A4"]
    m = row["song_measures"]
    assert m["fifth_motion"] == 1.0  # ii-V-I-vi on every 4 bars
    assert 0.4 <= m["restated_similarity"] < 1.0  # A2 restates A with variation: similar, not a copy
    assert 0.0 <= m["own_chord_tones"] <= 1.0 and 0.0 <= m["form_similarity"] <= 1.0
    assert data["reference"]["labelled_forms"] > 0  # the shipped test-split forms were read
    assert 0 < row["comparison"]["mean_overlap"] <= 1
    assert "tiny (2 seeds)" in result.output and (tmp_path / "eval" / "report.md").is_file()


def test_a_midi_only_build_folder_reads_back_parts_sections_and_chords(tiny, tmp_path):
    out = tmp_path / "build"
    assert invoke("build", tiny, "--midi-only", "-q", "--out", out).exit_code == 0
    source = read_build(out)
    assert [s.name for s in source.sections] == ["intro", "A", "B", "A2"]
    assert dict((s.name, s.repeat) for s in source.sections)["A2"] == "A"
    roots = [c.symbol[:2].rstrip("m7aj") for c in source.score.chords[:4]]
    assert roots == ["D", "G", "C", "A"]
    song = built.song_of_source(source)
    assert song.passage.bars == 12  # from the first melody bar (bar 1) to the end
    features = built.measures.passage_features(song.passage)
    row = built.measure_row(built.builds_row([out]), [features, features], [])
    assert row["song_measures"]["fifth_motion"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recipe", "no/such.yaml"], "recipe: no/such.yaml: no such recipe file"),
        (["--build", "no/such/folder"], "build: no/such/folder: no such build folder"),
        (["--recipe", "{tiny}", "--seeds", "0"], "seeds: must be a whole number more than 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny, tmp_path, args, message):
    result = invoke("eval", *[a.format(tiny=tiny) for a in args], "--out", tmp_path / "eval")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "eval").exists()
