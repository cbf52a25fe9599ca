"""Recipe v1: what is accepted, and the one-line message for each mistake."""

from pathlib import Path

import pytest

from lofictl.errors import LofictlError
from lofictl.recipe.load import load_recipe, parse_recipe_text
from lofictl.recipe.schema import json_schema
from support import REPO, SMALL_RECIPE


def error_for(write_recipe, text: str) -> str:
    path = write_recipe(text)
    with pytest.raises(LofictlError) as info:
        load_recipe(path)
    return str(info.value)


def test_small_recipe_loads(write_recipe):
    loaded = load_recipe(write_recipe())
    recipe = loaded.recipe
    assert recipe.total_bars == 4 and recipe.beats_per_bar == 4
    assert recipe.key == "D minor"
    assert list(recipe.tracks) == ["chords", "bass", "drums"]  # file order is kept
    assert loaded.output_dir == loaded.project_root / "build" / "test_loop"


def test_length_as_duration_rounds_up_to_bars(write_recipe):
    loaded = load_recipe(write_recipe(SMALL_RECIPE.replace("length: 4 bars", "length: 2m30s")))
    # 90 BPM in 4/4: a bar lasts 2.667 s; 150 s is 56.25 bars → 57
    assert loaded.recipe.total_bars == 57


@pytest.mark.parametrize(
    "change, line, expected",
    [
        (("tempo: 90", "tempo: 1000"), 4, "tempo: must be from 20 to 300 (got 1000)"),
        (("tempo: 90", "tempo: 0"), 4, "tempo: must be from 20 to 300 (got 0)"),
        (("tempo: 90", "tempo: fast"), 4, "tempo: must be a valid number"),
        (("length: 4 bars", "length: -2 bars"), 7, "length: must be at least 1 bar"),
        (("length: 4 bars", "length: 0"), 7, "length: must be at least 1 bar"),
        (("title: Test Loop", "titel: Test Loop"), 2, "titel: unknown key 'titel'; did you mean 'title'?"),
        (
            ("    progression:", "    progresion:"),
            12,
            "tracks.chords.progresion: unknown key 'progresion'; did you mean 'progression'?",
        ),
        (
            ("humanize: {timing_ms: 8", "humanize: {timing: 8"),
            22,
            "tracks.drums.humanize.timing: unknown key 'timing'; did you mean 'timing_ms'?",
        ),
        (("Dm9 G13", "Dm9 Gfoo"), 12, "tracks.chords.progression: unknown chord quality 'foo'"),
        (("part: bass", "part: bassoon"), 17, "tracks.bass.part: part must be one of chords, melody, bass, drums"),
        (
            ("output: {formats: [wav]}", "output: {formats: [wav], sample_rate: 7}"),
            25,
            "output.sample_rate: must be 44100 or 48000 (got 7)",
        ),
        (("loudness_lufs: -16", "loudness_lufs: 5"), 24, "master.loudness_lufs: must be from -40 to -5 (got 5)"),
        (("swing: 0.55", "swing: 2"), 8, "swing: must be from 0.5 to 0.75"),
        (("key: D minor", "key: D locrian-ish"), 6, "key: unknown mode"),
        (("time_signature: 4/4", "time_signature: 4/5"), 5, "time_signature: '4/5' is not a time signature"),
        (("lofictl: 1", "lofictl: 2"), 1, "lofictl: format version 2 is a newer version"),
    ],
)
def test_mistakes_name_file_line_and_field(write_recipe, change, line, expected):
    message = error_for(write_recipe, SMALL_RECIPE.replace(*change))
    assert message.split(": ", 1)[0].endswith(f"test_loop.yaml:{line}")
    assert expected in message


def test_malformed_yaml(write_recipe):
    message = error_for(write_recipe, SMALL_RECIPE + "  oops: [unclosed\n")
    assert "YAML syntax error" in message and "test_loop.yaml:" in message


def test_tab_indentation(write_recipe):
    message = error_for(write_recipe, SMALL_RECIPE.replace("    part: chords", "\tpart: chords"))
    assert "tab" in message and ":11:" in message


def test_duplicate_key(write_recipe):
    message = error_for(write_recipe, SMALL_RECIPE.replace("tempo: 90", "tempo: 90\ntempo: 91"))
    assert "appears twice" in message


def test_empty_and_not_a_mapping(write_recipe):
    assert "empty" in error_for(write_recipe, "")
    assert "mapping" in error_for(write_recipe, "- just\n- a list\n")


def test_missing_file(tmp_path):
    with pytest.raises(LofictlError, match="no such file"):
        load_recipe(tmp_path / "nope.yaml")


SECTIONS = SMALL_RECIPE.replace(
    "length: 4 bars\n",
    """\
sections:
  - {name: intro, bars: 2, tracks: [chords]}
  - {name: A, bars: 4}
  - {name: A2, bars: 4, repeat: A}
""",
)


def test_sections_decide_the_length(write_recipe):
    assert load_recipe(write_recipe(SECTIONS)).recipe.total_bars == 10


@pytest.mark.parametrize(
    "change, expected",
    [
        (("repeat: A}", "repeat: B}"), "sections.2.repeat: repeats 'B', which is not an earlier section"),
        (("{name: A2, bars: 4, repeat: A}", "{name: A2, bars: 4, repeat: A2}"), "cannot repeat itself"),
        (("{name: A, bars: 4}", "{name: A, bars: 0}"), "sections.1.bars: must be from 1 to 10000 (got 0)"),
        (
            ("tracks: [chords]", "tracks: [chrods]"),
            "sections.0.tracks.0: no track named 'chrods'; did you mean 'chords'?",
        ),
        (("{name: A2, bars: 4, repeat: A}", "{name: A2, bars: 3, repeat: A}"), "which has 4 bars"),
    ],
)
def test_section_mistakes(write_recipe, change, expected):
    assert expected in error_for(write_recipe, SECTIONS.replace(*change))


def test_length_with_sections_fills_out_but_never_cuts(write_recipe):
    message = error_for(write_recipe, SECTIONS.replace("swing: 0.55", "swing: 0.55\nlength: 8 bars"))
    assert "length 8 bars is shorter than the sections (10 bars)" in message
    filled = load_recipe(write_recipe(SECTIONS.replace("swing: 0.55", "swing: 0.55\nlength: 12 bars"))).recipe
    assert filled.total_bars == 14  # intro, A, A2, then A again: the first section boundary past 12


def test_paths_may_not_leave_the_project(write_recipe):
    loaded = load_recipe(write_recipe())
    with pytest.raises(LofictlError, match="leads outside the project"):
        loaded.resolve_path("../../etc/passwd", ("overlays", 0, "file"))
    with pytest.raises(LofictlError, match="absolute path"):
        loaded.resolve_path("/etc/passwd", ("overlays", 0, "file"))


def test_overrides_are_validated_like_the_recipe(write_recipe):
    path = write_recipe()
    assert load_recipe(path, ["tempo=80", "tracks.drums.pattern=lazy"]).recipe.tempo == 80
    with pytest.raises(LofictlError, match="tempo: must be from 20 to 300"):
        load_recipe(path, ["tempo=5000"])
    with pytest.raises(LofictlError, match="unknown key 'tempoo'"):
        load_recipe(path, ["tempoo=80"])


def test_every_example_recipe_validates():
    from lofictl.radio.station import is_station_file, load_station

    recipes = sorted((REPO / "recipes").glob("*.yaml"))
    assert len(recipes) >= 3
    for path in recipes:
        if is_station_file(path):  # recipes/station.yaml: a radio station drawing from the others
            load_station(path)
        else:
            load_recipe(path)


def test_json_schema_describes_tracks():
    schema = json_schema()
    assert schema["title"] == "lofictl recipe v1"
    assert "tracks" in schema["properties"] and "ChordsTrack" in schema["$defs"]
    assert schema["$defs"]["ChordsTrack"]["additionalProperties"] is False


def test_parse_from_text_has_lines():
    loaded = parse_recipe_text(SMALL_RECIPE, Path("x.yaml"))
    assert loaded.positions.line_of(("tracks", "drums", "pattern")) == 21


def test_the_readme_recipe_is_valid():
    from lofictl.pipeline.runner import prepare

    readme = (REPO / "README.md").read_text()
    block = readme.split("## A recipe", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    loaded = parse_recipe_text(block, REPO / "recipes" / "readme_example.yaml")
    plan = prepare(loaded)
    assert set(plan.instruments) == {"chords", "melody", "bass", "drums"}


def test_set_into_a_plain_value_names_the_path():
    """`--set title.x.y=1`: title is text, so the error names `title.x` (one line, no traceback)."""
    from lofictl.recipe.load import apply_overrides

    with pytest.raises(LofictlError, match=r"^--set title\.x\.y: title\.x is not a mapping or list$"):
        apply_overrides({"title": "Rainy Night"}, ["title.x.y=1"], Path("song.yaml"))
