"""Station files, track plans (Camelot walk, tempo steps, derived seeds), track recipes, keep."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from lofictl.compose import theory
from lofictl.errors import LofictlError
from lofictl.radio.keep import keep_track
from lofictl.radio.schedule import (
    Schedule,
    arrangement,
    camelot,
    is_neighbour,
    load_track_recipe,
    tonic_of,
    track_recipe_text,
)
from lofictl.radio.station import load_station
from lofictl.recipe.load import load_recipe
from support import REPO, SMALL_RECIPE, run_lofictl

STATION = """\
station: 1
title: Test FM
seed: 5
recipes:
  - {file: test_loop.yaml, weight: 2}
  - {file: other.yaml}
crossfade: 1
vary:
  tempo: {min: 80, max: 100, step: 3}
  drums: [boom-bap, lazy]
  presets: {chords: [Electric Piano 1, Electric Piano 2]}
"""

OTHER = (
    SMALL_RECIPE.replace("title: Test Loop", "title: Other")
    .replace("key: D minor", "key: F major")
    .replace('"Dm9 G13 Cmaj9 A7b9"', '"Fmaj9 Em7 Am7 | Dm9 Gm9:2 C13:2"')
)


@pytest.fixture
def station_file(project, write_recipe):
    write_recipe()
    write_recipe(OTHER, "other")

    def write(text: str = STATION) -> Path:
        path = project / "recipes" / "station.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return write


def test_example_station_loads_and_validates():
    loaded = load_station(REPO / "recipes" / "station.yaml")
    assert [r.path.name for r in loaded.recipes] == ["rainy_night.yaml", "sunday_morning.yaml", "night_drive.yaml"]
    run = run_lofictl("validate", "recipes/station.yaml", cwd=REPO)
    assert run.returncode == 0 and "station 'Lofi Radio'" in run.stdout


@pytest.mark.parametrize(
    "change, message",
    [
        (
            ("crossfade: 1", "crosfade: 1"),
            "station.yaml:7: crosfade: unknown key 'crosfade'; did you mean 'crossfade'?",
        ),
        (("step: 3", "step: 50"), "station.yaml:9: vary.tempo.step: must be from 0 to 24 (got 50)"),
        (("min: 80", "min: 120"), "station.yaml:9: vary.tempo: min (120) must not be above max (100)"),
        (
            ("[boom-bap, lazy]", "[boom-bap, lazzy]"),
            "station.yaml:10: vary.drums.1: unknown drum pattern 'lazzy'; did you mean 'lazy'?",
        ),
        (("Electric Piano 2]", "Electric Pianno 9]"), "station.yaml:11: vary.presets.chords.1: "),
        (("other.yaml", "missing.yaml"), "station.yaml:6: recipes.1.file: 'missing.yaml' not found"),
        (
            ("crossfade: 1", "crossfade: 3"),
            "station.yaml:7: crossfade: test_loop.yaml makes tracks of 4 bars, too short for a crossfade of 3 bars",
        ),
        (("seed: 5", "seed: -5"), "station.yaml:3: seed: must be from 0 to"),
        (("vary:", "vary:\n  key: nearby"), "station.yaml:9: vary.key: must be 'neighbours', 'recipe' or 'any'"),
    ],
)
def test_station_mistakes_are_one_line_with_file_line_and_field(station_file, change, message):
    path = station_file(STATION.replace(*change))
    with pytest.raises(LofictlError) as caught:
        load_station(path)
    assert message in str(caught.value)
    run = run_lofictl("radio", "tracks", path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().startswith("error:") and message in " ".join(run.stderr.split())
    assert len(run.stderr.strip().splitlines()) <= 2  # one message (rich may wrap a long line)


def test_a_station_is_not_a_recipe_and_back(station_file, project):
    path = station_file()
    with pytest.raises(LofictlError, match="radio station file, not a recipe"):
        load_recipe(path)
    with pytest.raises(LofictlError, match="this is a recipe, not a station file"):
        load_station(project / "recipes" / "test_loop.yaml")


def test_camelot_wheel():
    codes = {
        name: camelot(theory.parse_key(name))
        for name in ("C major", "A minor", "G major", "E minor", "F major", "D minor", "D dorian")
    }
    assert codes == {
        "C major": (8, "B"),
        "A minor": (8, "A"),
        "G major": (9, "B"),
        "E minor": (9, "A"),
        "F major": (7, "B"),
        "D minor": (7, "A"),
        "D dorian": (7, "A"),
    }
    for tonic in range(12):
        for mode in ("major", "minor"):
            assert tonic_of(*camelot(theory.Key(tonic, mode))) == tonic
    assert is_neighbour((12, "A"), (1, "A")) and is_neighbour((8, "A"), (8, "B"))
    assert not is_neighbour((8, "A"), (10, "A")) and not is_neighbour((8, "A"), (9, "B"))


def test_track_plans_walk_the_wheel_in_small_tempo_steps(station_file):
    loaded = load_station(station_file())
    plans = [Schedule(loaded).plan(n) for n in range(200)]
    for before, after in zip(plans, plans[1:]):
        a, b = (int(before.camelot[:-1]), before.camelot[-1]), (int(after.camelot[:-1]), after.camelot[-1])
        assert is_neighbour(a, b), (before, after)
        assert abs(after.tempo - before.tempo) <= 3 + 0.25 and 80 <= after.tempo <= 100
    assert len({p.camelot for p in plans}) > 3 and len({p.tempo for p in plans}) > 5  # it does move
    assert {p.recipe_name for p in plans} == {"test_loop", "other"}
    assert sum(p.recipe_name == "test_loop" for p in plans) > sum(p.recipe_name == "other" for p in plans)
    assert {p.patterns["drums"] for p in plans} == {"boom-bap", "lazy"}
    assert len({p.seed for p in plans}) == 200


def test_track_n_is_the_same_whatever_was_asked_before_and_in_another_process(station_file):
    path = station_file()
    fresh = Schedule(load_station(path))
    walked = Schedule(load_station(path))
    walked.plan(600)  # checkpoints on the way
    assert [walked.plan(n) for n in (599, 3, 257)] == [fresh.plan(n) for n in (599, 3, 257)]
    run = run_lofictl("radio", "tracks", path, "--from", "255", "-n", "3", "--json", check=True)
    assert json.loads(run.stdout) == [fresh.plan(n).summary() for n in (255, 256, 257)]


def test_track_recipe_derives_every_seed_and_transposes(station_file, project):
    loaded = load_station(station_file())
    schedule = Schedule(loaded)
    plan = next(p for p in map(schedule.plan, range(100)) if p.recipe_name == "other" and p.transpose)
    recipe = load_track_recipe(loaded, plan)
    assert recipe.path == project / "recipes" / f"other-{plan.number}.yaml"
    r = recipe.recipe
    assert (r.seed, r.tempo, r.key, r.master.loudness_lufs) == (plan.seed, plan.tempo, plan.key, -14.0)
    assert r.tracks["drums"].pattern == plan.patterns["drums"]
    assert r.tracks["chords"].instrument.preset == plan.presets["chords"]
    expected = theory.transpose_progression("Fmaj9 Em7 Am7 | Dm9 Gm9:2 C13:2", plan.transpose)
    assert r.tracks["chords"].progression == expected
    assert all(t.seed is None for t in r.tracks.values())
    assert r.output.formats == ["wav"] and r.output.sample_rate == 44100
    assert track_recipe_text(loaded, plan) == track_recipe_text(load_station(loaded.path), plan)


def test_transpose_progression():
    assert theory.transpose_progression("Fmaj9 Em7 Am7|Dm9 Gm9:2 C13:2", 2) == "Gmaj9 F#m7 Bm7 | Em9 Am9:2 D13:2"
    assert theory.transpose_progression("Dm9 F/A A7b9", -3) == "Bm9 D/F# F#7b9"
    with pytest.raises(theory.TheoryError):
        theory.transpose_progression("Dm9 Hmaj7", 1)


def test_station_length_cycles_the_middle_sections():
    sections = [
        {"name": "intro", "bars": 4},
        {"name": "A", "bars": 8},
        {"name": "B", "bars": 8, "seed": 2},
        {"name": "A2", "bars": 8, "repeat": "A"},
        {"name": "outro", "bars": 4},
    ]
    long = arrangement(sections, 60)
    assert [s["name"] for s in long] == ["intro", "A", "B", "A2", "A~2", "B~2", "A2~2", "A~3", "outro"]
    assert sum(s["bars"] for s in long) == 64  # the first section boundary at or past 60
    assert long[4].get("seed") is not None and long[4]["seed"] != long[5]["seed"]
    short = arrangement(sections, 16)
    assert [s["name"] for s in short] == ["intro", "A", "outro"]
    with_repeat = arrangement(sections, 100)
    assert {"name": "A2~2", "bars": 8, "repeat": "A~2"} in with_repeat


def test_example_station_tracks_are_valid_recipes_of_about_the_asked_length():
    loaded = load_station(REPO / "recipes" / "station.yaml")
    schedule = Schedule(loaded)
    for number in range(6):
        recipe = load_track_recipe(loaded, schedule.plan(number)).recipe
        seconds = recipe.total_bars * recipe.seconds_per_bar
        # 2m30s asked: whole sections, stopping at the first boundary at or past it (as a build's length)
        assert 150 <= seconds < 150 + 8 * recipe.seconds_per_bar, (number, seconds)


def test_keep_writes_the_track_recipe_once(station_file, project):
    loaded = load_station(station_file())
    path = keep_track(loaded, 7)
    plan = Schedule(loaded).plan(7)
    assert path == project / "recipes" / f"{plan.name}.yaml"
    assert path.read_text() == track_recipe_text(loaded, plan)
    assert load_recipe(path).recipe.seed == plan.seed
    assert keep_track(loaded, 7) == path  # the same again: nothing to do
    path.write_text(path.read_text() + "# my edit\n")
    with pytest.raises(LofictlError, match="exists and holds something else"):
        keep_track(loaded, 7)
    assert keep_track(loaded, 7, force=True).read_text() == track_recipe_text(loaded, plan)


def test_the_readme_station_is_the_example_station():
    import yaml

    from lofictl.radio.station import Station

    readme = (REPO / "README.md").read_text()
    block = readme.split("## Radio", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    assert Station.model_validate(yaml.safe_load(block)) == load_station(REPO / "recipes" / "station.yaml").station


def test_a_busy_port_is_one_line_before_any_work(station_file, project):
    import socket

    path = station_file()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = run_lofictl("radio", path, "--port", port, cwd=project, timeout=120)
    assert run.returncode == 2
    assert (
        run.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use; stop what "
        "uses it or pass --port"
    )
    assert not list((project / "build" / "radio" / "station" / "tracks").iterdir())  # nothing was built
