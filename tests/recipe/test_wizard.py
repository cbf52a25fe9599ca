"""`lofictl new`: answers in, a commented recipe out that validates, builds and opens in a DAW."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from lofictl.cli.new import new_command
from lofictl.errors import EXIT_USER_ERROR, LofictlError
from lofictl.recipe import answers as checks
from lofictl.recipe import moods, template
from lofictl.recipe.load import load_recipe, parse_recipe_text
from support import REPO


def _parse(text: str):
    return parse_recipe_text(text, Path("recipes/x.yaml")).recipe


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("new")(new_command)  # lofictl.cli.new: already wearing user_errors
    app.command("noop")(lambda: None)  # a second command keeps `new` a subcommand, as in lofictl
    return app


# --- the pure part ----------------------------------------------------------------------------


@pytest.mark.parametrize("mood", sorted(moods.MOODS))
@pytest.mark.parametrize("key", [None, "E dorian", "Ab major"])
def test_every_mood_in_any_key_gives_a_valid_recipe(mood, key):
    text = template.recipe_text(moods.WizardAnswers(title="Night Bus", mood=mood, key=key))
    recipe = _parse(text)
    chosen = moods.MOODS[mood]
    assert recipe.title == "Night Bus"
    assert recipe.tempo == chosen.tempo and recipe.swing == chosen.swing
    assert recipe.key == (key and checks.check_key(key) or chosen.key)
    assert recipe.total_bars == 32
    assert recipe.tracks["drums"].pattern == chosen.pattern
    assert [o.ambience for o in recipe.overlays] == list(chosen.overlays)
    assert recipe.tracks["keys"].effects == [chosen.effects]


def test_the_progression_is_built_on_the_key_and_its_third():
    rainy = moods.MOODS["rainy"]
    assert template.progression_for(rainy, "D minor") == "Dm9 G13 Cmaj9 A7b9"
    assert template.progression_for(rainy, "E dorian") == "Em9 A13 Dmaj9 B7b9"  # minor third: minor changes
    assert template.progression_for(rainy, "G major") == "Gmaj9 Em9 Am9 D13"


def test_the_recipe_is_commented_and_the_same_answers_give_the_same_text():
    answers = moods.WizardAnswers(title="Test Tune")
    text = template.recipe_text(answers)
    assert text == template.recipe_text(answers)
    assert text.startswith("# Test Tune — a rainy lo-fi recipe")
    assert "lofictl build recipes/test_tune.yaml" in text
    assert sum(1 for line in text.splitlines() if "#" in line) >= 10
    assert _parse(text).seed == checks.default_seed("Test Tune")
    assert _parse(template.recipe_text(answers.copy(seed=5))).seed == 5


def test_long_pieces_get_sections_that_add_up_and_short_ones_a_length():
    long = _parse(template.recipe_text(moods.WizardAnswers(title="A", length="33 bars")))
    assert [(s.name, s.bars, s.repeat) for s in long.sections] == [
        ("intro", 4, None),
        ("A", 8, None),
        ("B", 8, None),
        ("A2", 8, "A"),
        ("outro", 5, None),
    ]
    assert long.total_bars == 33
    short = _parse(template.recipe_text(moods.WizardAnswers(title="A", length="8")))
    assert short.sections is None and short.total_bars == 8


def test_a_duration_is_rounded_up_to_whole_bars_at_the_tempo():
    text = template.recipe_text(moods.WizardAnswers(title="A", length="20s", tempo=90))
    assert "length: 8 bars" in text and "20s at 90 BPM" in text  # 20 s / (4 × 60/90 s) = 7.5 → 8
    assert checks.length_bars("2m30s", 72) == 45


def test_no_bass_no_drums_no_ambience_no_effects():
    answers = moods.WizardAnswers(title="Sparse", bass="none", drums="none", overlays=(), effects="none")
    recipe = _parse(template.recipe_text(answers))
    assert list(recipe.tracks) == ["keys"]
    assert recipe.overlays == [] and recipe.tracks["keys"].effects == []
    assert all(set(s.tracks or []) <= {"keys"} for s in recipe.sections)


def test_titles_are_quoted_safely_and_make_tidy_file_names():
    title = 'Rain: "Night" #2 — café'
    assert _parse(template.recipe_text(moods.WizardAnswers(title=title))).title == title
    assert checks.slug(title) == "rain_night_2_cafe"
    assert checks.slug("???") == "untitled"


def test_the_effects_presets_offered_exist():
    from lofictl.sound.effects import PRESETS

    assert set(moods.EFFECT_PRESETS) - {"none"} <= set(PRESETS)


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"mood": "rainey"}, "mood", "did you mean 'rainy'"),
        ({"key": "H minor"}, "key", "H"),
        ({"tempo": 500}, "tempo", "from 20 to 300"),
        ({"length": "forever"}, "length", "32 bars"),
        ({"length": "0 bars"}, "length", "from 1 to 10000"),
        ({"drums": "boombap"}, "drums", "did you mean 'boom-bap'"),
        ({"overlays": ("rian",)}, "overlays", "did you mean 'rain'"),
        ({"effects": "tap"}, "effects", "did you mean 'tape'"),
        ({"title": "   "}, "title", "cannot be empty"),
    ],
)
def test_wrong_answers_say_which_and_why(changes, field, message):
    with pytest.raises(LofictlError, match=message) as caught:
        template.recipe_text(moods.WizardAnswers(title="A").copy(**changes))
    assert caught.value.field == field


# --- the command ------------------------------------------------------------------------------


def test_new_yes_writes_a_recipe_that_loads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        _app(),
        [
            "new",
            "--yes",
            "--title",
            "Test Tune",
            "--mood",
            "chill",
            "--length",
            "4 bars",
            "--overlay",
            "hiss",
            "--effects",
            "radio",
        ],
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "recipes" / "test_tune.yaml"
    assert f"wrote {Path('recipes') / 'test_tune.yaml'}" in result.output
    recipe = load_recipe(path).recipe
    assert recipe.title == "Test Tune" and recipe.tempo == 80 and recipe.total_bars == 4
    assert [o.ambience for o in recipe.overlays] == ["hiss"]
    assert recipe.tracks["keys"].effects == ["radio"]
    assert yaml.safe_load(path.read_text())["key"] == "F major"


def test_the_wizard_from_python_asks_nothing_without_a_prompt(tmp_path):
    """A script calls run_wizard without Typer: no prompt means the mood's defaults, as --yes."""
    from lofictl.recipe.wizard import run_wizard, write_recipe

    said: list[str] = []
    quiet = run_wizard(title="Script Tune", mood="chill", recipe_dir=tmp_path / "recipes", echo=said.append)
    assert quiet == run_wizard(title="Script Tune", mood="chill", recipe_dir=tmp_path / "recipes", yes=True)
    assert quiet.tempo == moods.MOODS["chill"].tempo and said == []
    path = write_recipe(quiet, tmp_path / "recipes")
    assert load_recipe(path).recipe.title == "Script Tune"


def test_new_refuses_to_overwrite_without_force(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["new", "--yes", "--title", "Twice", "--length", "4"]
    assert CliRunner().invoke(_app(), args).exit_code == 0
    path = tmp_path / "recipes" / "twice.yaml"
    path.write_text(path.read_text() + "# my edit\n")
    again = CliRunner().invoke(_app(), args)
    assert again.exit_code == EXIT_USER_ERROR
    assert "already exists" in again.output and "--force" in again.output
    assert path.read_text().endswith("# my edit\n")
    assert CliRunner().invoke(_app(), args + ["--force"]).exit_code == 0
    assert not path.read_text().endswith("# my edit\n")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--title", "X", "--chords", "Electric Pianoo 1"], "no preset named"),
        (["--title", "X", "--soundfont", "Nope.sf2"], "not found"),
        (["--title", "X", "--melody", "Vibraphone"], "needs the melody model"),
    ],
)
def test_new_yes_with_a_bad_flag_exits_2_with_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(_app(), ["new", "--yes", *args])
    assert result.exit_code == EXIT_USER_ERROR
    assert message in result.output
    assert not (tmp_path / "recipes" / "x.yaml").exists()


def test_new_yes_without_a_title_takes_a_default_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for expected in ("untitled.yaml", "untitled_2.yaml", "untitled_3.yaml"):
        result = CliRunner().invoke(_app(), ["new", "--yes", "--length", "4"])
        assert result.exit_code == 0, result.output
        assert f"wrote {Path('recipes') / expected}" in result.output
    titles = [load_recipe(tmp_path / "recipes" / name).recipe for name in ("untitled.yaml", "untitled_2.yaml")]
    assert [r.title for r in titles] == ["Untitled", "Untitled 2"]
    assert titles[0].seed != titles[1].seed  # the seed follows the title: another variation


def test_new_adds_a_melody_from_the_shipped_model(tmp_path, monkeypatch):
    import shutil

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(_app(), ["new", "--yes", "--title", "No Model", "--length", "4"])
    assert "melody" not in load_recipe(tmp_path / "recipes" / "no_model.yaml").recipe.tracks
    shutil.copytree(REPO / "models" / "lofi-melody", tmp_path / "models" / "lofi-melody")
    result = CliRunner().invoke(_app(), ["new", "--yes", "--title", "With Melody", "--mood", "night", "--length", "4"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "recipes" / "with_melody.yaml"
    melody = load_recipe(path).recipe.tracks["melody"]
    assert melody.generate.model == "models/lofi-melody" and melody.instrument.preset == "Muted Trumpet"
    from lofictl.pipeline.runner import prepare

    prepare(load_recipe(path), deep=True)  # the model loads: the recipe builds as written
    result = CliRunner().invoke(_app(), ["new", "--yes", "--title", "Plain", "--melody", "none", "--length", "4"])
    assert "melody" not in load_recipe(tmp_path / "recipes" / "plain.yaml").recipe.tracks


def test_new_asks_each_question_and_asks_again_after_a_wrong_answer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    answers = [
        "Slow Walk",  # title
        "nite",
        "night",  # a typo, asked again
        "",  # tempo: the mood's
        "C# minor",  # key
        "16 bars",  # length
        "",  # SoundFont: the one found
        "Vibes Piano",
        "Vibraphone",  # not a preset, asked again
        "none",  # no bass
        "",  # the mood's drum pattern
        "rain vinyl",  # two ambiences
        "vinyl",
    ]  # effects
    result = CliRunner().invoke(_app(), ["new"], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "unknown mood 'nite'" in result.output and "no preset named 'Vibes Piano'" in result.output
    recipe = load_recipe(tmp_path / "recipes" / "slow_walk.yaml").recipe
    assert (recipe.tempo, recipe.key, recipe.total_bars) == (70, "C# minor", 16)
    assert list(recipe.tracks) == ["keys", "drums"] and recipe.tracks["drums"].pattern == "dilla"
    assert recipe.tracks["keys"].instrument.preset == "Vibraphone"
    assert [o.ambience for o in recipe.overlays] == ["rain", "vinyl"]


# --- new, then build, then open in a DAW --------------------------------------------------------


def test_new_then_build_then_export_to_both_daws(tmp_path, monkeypatch):
    from lofictl.export import daw, dawproject, reaper
    from lofictl.pipeline.plan import prepare
    from lofictl.pipeline.runner import build_recipe
    from lofictl.pipeline.stages import compose_score

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        _app(), ["new", "--yes", "--title", "Built Tune", "--length", "2 bars", "--overlay", "none"]
    )
    assert result.exit_code == 0, result.output
    loaded = load_recipe(tmp_path / "recipes" / "built_tune.yaml")
    out = tmp_path / "build"
    build = build_recipe(loaded, out_dir=out, quiet=True)
    stem_files = sorted((out / "stems").glob("*.wav"))
    assert [p.name for p in stem_files] == ["01_keys.wav", "02_bass.wav", "03_drums.wav"]

    score = compose_score(prepare(loaded)).score
    recipe = loaded.recipe
    stems = tuple(
        daw.StemInfo(name, path.relative_to(out), "wet", recipe.tracks[name].gain_db, recipe.tracks[name].pan)
        for name, path in zip(recipe.tracks, stem_files)
    )
    stems += (daw.StemInfo(recipe.title, Path("built_tune.wav"), "mix"),)
    export = daw.DawExport(recipe.title, score, stems, recipe.output.sample_rate)
    rpp = reaper.read_reaper_project(reaper.write_reaper_project(out / "built_tune.rpp", export))
    dawproject = dawproject.read_dawproject(dawproject.write_dawproject(out / "built_tune.dawproject", export))
    assert rpp["tempo"] == dawproject["tempo"] == recipe.tempo
    for project_tracks in (rpp["tracks"], dawproject["tracks"]):
        names = [t["name"] for t in project_tracks]
        assert names[:3] == ["keys", "bass", "drums"] and "keys (MIDI)" in names
    assert all((out / t["items"][0]["file"]).is_file() for t in rpp["tracks"] if t["items"][0]["file"])
    assert build.out_dir == out
    import soundfile

    lengths = {soundfile.info(str(path)).frames for path in stem_files}
    assert len(lengths) == 1 and lengths.pop() >= score.duration_seconds * recipe.output.sample_rate


@pytest.mark.parametrize("bars", [16, 20, 24, 30, 32, 40, 64])
def test_new_writes_phrase_length_sections(bars):
    # every phrase between the intro and the outro holds whole turns of a 4-bar loop (issue 26:
    # 2+14+14+2 cut the loop mid-cycle), the bars add up, and a phrase that comes back repeats it
    sections = template.arrangement(bars, has_bass=True)
    assert sum(length for _, length, _, _ in sections) == bars
    names = [name for name, _, _, _ in sections]
    assert names[0] == "intro" and names[-1] == "outro"
    assert all(length % 4 == 0 for _, length, _, _ in sections[1:-1])
    assert all(repeated in names[: names.index(name)] for name, _, _, repeated in sections if repeated)


def test_new_takes_a_decimal_tempo_and_asks_again_after_a_word(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    answers = ["Half Step", "night", "fast", "72.5", "", "32 bars", "", "", "", "", "", ""]
    result = CliRunner().invoke(_app(), ["new"], input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "tempo must be a number of BPM" in result.output
    recipe = load_recipe(tmp_path / "recipes" / "half_step.yaml").recipe
    assert recipe.tempo == 72.5
    assert [s.bars for s in recipe.sections] == [4, 8, 8, 8, 4]
