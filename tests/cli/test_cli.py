"""The command line as a user meets it: help, errors in one line with exit 2, real builds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import SMALL_RECIPE, file_hashes, invoke


def test_version_and_help():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("lofictl ")
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("build", "validate", "schema", "doctor", "instruments", "effects"):
        assert command in result.output
        assert invoke(command, "--help").exit_code == 0


def test_schema_is_json():
    result = invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "lofictl recipe v1"


def test_validate_ok(write_recipe):
    result = invoke("validate", write_recipe())
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


@pytest.mark.parametrize(
    "change, expected",
    [
        (("tempo: 90", "tempo: 0"), "tempo: must be from 20 to 300 (got 0)"),
        (
            ("soundfont: FluidR3_GM.sf2, preset: Electric", "soundfont: Nope.sf2, preset: Electric"),
            "tracks.chords.instrument.soundfont: SoundFont 'Nope.sf2' not found",
        ),
        (
            ("preset: Acoustic Bass", "preset: Acoustic Bas"),
            "tracks.bass.instrument.preset: no preset named 'Acoustic Bas'",
        ),
        (
            ("LowpassFilter: {cutoff_frequency_hz: 3200}", "LowPassFilter: {cutoff_frequency_hz: 3200}"),
            "tracks.chords.effects.0",
        ),
        (("LowpassFilter: {cutoff_frequency_hz: 3200}", "LowpassFilter: {cutoff: 3200}"), "cutoff"),
        (("pattern: boom-bap", "pattern: boombap"), "did you mean"),
    ],
)
def test_validate_mistakes_exit_2_in_one_line(write_recipe, change, expected):
    result = invoke("validate", write_recipe(SMALL_RECIPE.replace(*change)))
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().startswith("error: ")
    assert "test_loop.yaml:" in result.output


def test_validate_reports_every_mistake_in_a_file(write_recipe, project):
    # Schema errors, cross-field errors and missing resources, all in one run, in file order.
    text = (
        SMALL_RECIPE.replace("tempo: 90", "tempo: 1000")
        .replace("length: 4 bars", "sections:\n  - {name: A, bars: 2}\n  - {name: A, bars: 2, repeat: B}")
        .replace('"Dm9 G13 Cmaj9 A7b9"', '"Dm9 Xq7"')
        .replace("preset: Acoustic Bass", "preset: Acoustic Bas")
        .replace("pattern: boom-bap", "pattern: boombap")
        .replace("    part: bass\n", "    part: bass\n    follow: chord\n")
    )
    text += "overlays:\n  - {file: effects/none.wav}\n"
    result = invoke("validate", write_recipe(text), write_recipe(name="fine"))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    expected = [
        "tempo: must be from 20 to 300",
        "sections.1.name: section name 'A' is used twice",
        "sections.1.repeat: repeats 'B'",
        "tracks.chords.progression: unknown chord symbol 'Xq7'",
        "tracks.bass.follow: follows 'chord'",
        "tracks.bass.instrument.preset: no preset named 'Acoustic Bas'",
        "tracks.drums.pattern: unknown drum pattern 'boombap'",
        "overlays.0.file: 'effects/none.wav' not found",
    ]
    assert len(lines) == len(expected)
    for line, words in zip(lines, expected):
        assert words in line and "test_loop.yaml:" in line
    assert "ok" in result.output and "fine.yaml" in result.output  # the next recipe is still checked
    # with the schema passing, the resource problems are listed together too
    text = (
        SMALL_RECIPE.replace("preset: Acoustic Bass", "preset: Acoustic Bas").replace(
            "cutoff_frequency_hz: 3200", "cutoff: 3200"
        )
        + "overlays:\n  - {file: effects/none.wav}\n"
    )
    result = invoke("validate", write_recipe(text))
    assert result.exit_code == 2
    for words in ("tracks.chords.effects.0", "tracks.bass.instrument.preset", "overlays.0.file"):
        assert words in result.output, result.output


def test_overlay_missing_or_not_audio(write_recipe, project):
    text = SMALL_RECIPE + "overlays:\n  - {file: effects/rain.wav, gain_db: -20}\n"
    result = invoke("validate", write_recipe(text))
    assert result.exit_code == 2 and "overlays.0.file" in result.output and "not found" in result.output
    (project / "effects").mkdir()
    (project / "effects" / "rain.wav").write_text("this is not audio")
    result = invoke("validate", write_recipe(text))
    assert result.exit_code == 2 and "overlays.0.file" in result.output, result.output


def test_unwritable_output_dir(write_recipe, project):
    blocker = project / "build"
    blocker.write_text("a file where the build folder should go")
    result = invoke("build", "-q", write_recipe())
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder; choose another folder (nothing was changed)" in result.output


def test_instruments_lists_presets():
    result = invoke("instruments", "FluidR3_GM.sf2")
    assert result.exit_code == 0
    assert "Electric Piano 1" in result.output or "Rhodes" in result.output
    result = invoke("instruments", "--search", "vibra")
    assert result.exit_code == 0 and "Vibraphone" in result.output


def test_effects_lists_plugins():
    result = invoke("effects")
    assert result.exit_code == 0, result.output
    assert "LowpassFilter" in result.output and "cutoff_frequency_hz" in result.output


def build_in_subprocess(recipe: Path, out: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONHASHSEED="random")
    subprocess.run(
        [sys.executable, "-m", "lofictl", "build", "-q", str(recipe), "--out", str(out)],
        check=True,
        env=env,
        cwd=recipe.parent,
        capture_output=True,
    )
    return file_hashes(out)


def test_build_is_byte_identical_across_processes(write_recipe, project):
    recipe = write_recipe(SMALL_RECIPE.replace("length: 4 bars", "length: 2 bars"))
    first = build_in_subprocess(recipe, project / "one")
    second = build_in_subprocess(recipe, project / "two")
    assert first == second
    assert {
        "test_loop.wav",
        "stems/01_chords.wav",
        "stems/02_bass.wav",
        "stems/03_drums.wav",
        "midi/test_loop.mid",
        "midi/chords.mid",
        "pianoroll.png",
    } <= set(first)
