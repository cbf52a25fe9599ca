"""Small things users tripped over (issue 26), each pinned by what the user sees."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import pytest

from lofictl.compose.score import Note, Score, Track
from lofictl.errors import LofictlError
from lofictl.export import midi
from support import REPO, SMALL_RECIPE, invoke, run_lofictl


def test_no_cache_says_no_cache(write_recipe):
    recipe = write_recipe()
    assert invoke("build", recipe, "--midi-only").exit_code == 0
    again = invoke("build", recipe, "--midi-only", "--no-cache", "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    reasons = [r for r in report["reasons"] if "compose" in r]
    assert reasons and all("--no-cache" in r for r in reasons), report["reasons"]
    assert not any("cleared, or lofictl's code was edited" in r for r in report["reasons"])


def _build_folder(folder: Path, pitches: list[int]) -> Path:
    notes = tuple(Note(float(i) / 4, 0.2, p, 80) for i, p in enumerate(pitches))
    score = Score(90.0, 4, 4, "C major", len(pitches) / 4 + 4, (Track("lead", "melody", notes),))
    (folder / "midi").mkdir(parents=True)
    midi.write_midi(midi.track_to_midi(score, "lead"), folder / "midi" / "lead.mid")
    return folder


def test_diff_counts_every_note_not_the_first_fifty(tmp_path):
    # 141 and 152 notes with nothing in common: every one is "only in" its side
    a = _build_folder(tmp_path / "a", [60 + i % 12 for i in range(141)])
    b = _build_folder(tmp_path / "b", [40 + i % 12 for i in range(152)])
    result = invoke("diff", a, b)
    assert result.exit_code == 0, result.output
    assert "0 notes the same, 141 only in A, 152 only in B" in result.stdout
    assert mido.MidiFile(a / "midi" / "lead.mid").type == 1


def test_piped_tables_are_not_cut_to_80_columns():
    # a table wider than 80 columns, read through a pipe as `| cat` or a file would
    done = run_lofictl("radio", "tracks", REPO / "recipes" / "station.yaml", "-n", "10", cwd=REPO)
    assert done.returncode == 0, done.stderr
    widest = max(len(line) for line in done.stdout.splitlines())
    assert widest > 80 and "…" not in done.stdout


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ("tempo=fast", "tempo"),
        ("tempoo=80", "tempoo"),
        ("tracks.drums.pattern=boombap", "tracks.drums.pattern"),
        ("tracks.chords.instrument.preset=Rhodez", "tracks.chords.instrument.preset"),
    ],
)
def test_errors_from_set_name_the_set_not_a_recipe_line(write_recipe, given, field):
    recipe = write_recipe()
    result = invoke("build", recipe, "--midi-only", "--set", given)
    assert result.exit_code == 2
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert f"{recipe}: {field}: " in line  # no ":LINE" after the file: the value is not in the file
    assert line.endswith(f"(from --set {given})")


def test_provenance_names_the_overrides(write_recipe, project):
    recipe = write_recipe()
    out = project / "build" / "with-set"
    result = invoke("build", recipe, "--out", out, "--set", "tracks.drums.seed=11", "--set", "tempo=84")
    assert result.exit_code == 0, result.output
    wanted = "--set tracks.drums.seed=11 --set tempo=84"
    for file in (out / "test_loop.wav", out / "stems" / "03_drums.wav", out / "midi" / "test_loop.mid"):
        shown = invoke("inspect", file)
        assert shown.exit_code == 0, shown.output
        assert f"overrides: {wanted}" in shown.stdout, (file, shown.stdout)
    assert json.loads((out / "build.json").read_text())["recipe"]["overrides"] == [
        "tracks.drums.seed=11",
        "tempo=84",
    ]
    # the plain recipe's files say nothing of overrides
    plain = project / "build" / "plain"
    assert invoke("build", recipe, "--out", plain).exit_code == 0
    assert "overrides" not in invoke("inspect", plain / "test_loop.wav").stdout


def _commands(group, path=()):
    import click

    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_help_shows_flags_without_a_type_and_cuts_no_word():
    import typer

    from lofictl.cli import app

    seen = 0
    for path in _commands(typer.main.get_command(app)):
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, path
        assert "…" not in result.output, (path, result.output)
        seen += 1
    assert seen > 15
    verify = " ".join(invoke("verify", "--help").output.replace("│", " ").split())
    assert "(default: the CPU count)" in verify  # as build's --jobs


def test_eval_midi_says_plainly_where_the_key_came_from(tmp_path):
    notes = tuple(Note(float(i), 0.9, p, 80) for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62] * 2))
    score = Score(90.0, 4, 4, "C major", 16.0, (Track("melody", "melody", notes),))
    path = tmp_path / "tune.mid"
    raw = midi.score_to_midi(score)
    raw.tracks[0] = mido.MidiTrack([m for m in raw.tracks[0] if m.type != "key_signature"])
    raw.save(str(path))
    result = invoke("eval-midi", path)
    assert result.exit_code == 0, result.output
    assert "(estimated: the file has no key signature)" in result.output
    assert "(estimated (" not in result.output


def test_instruments_show_both_names_and_a_printed_slot_is_a_preset(write_recipe, gm):
    listed = invoke("instruments", gm, "--search", "electric piano 1")
    assert listed.exit_code == 0, listed.output
    assert "0:4" in listed.stdout and "Rhodes EP" in listed.stdout and "General MIDI: Electric Piano 1" in listed.stdout

    from lofictl.sound.soundfonts import resolve_preset

    assert (resolve_preset(gm, "0:4").bank, resolve_preset(gm, "0:4").program) == (0, 4)
    assert resolve_preset(gm, "0:4") == resolve_preset(gm, "Electric Piano 1") == resolve_preset(gm, "rhodes ep")
    assert resolve_preset(gm, "128:0").is_drums

    quoted = write_recipe(
        SMALL_RECIPE.replace("preset: Electric Piano 1", "preset: '0:4'").replace(
            "pattern: boom-bap", "pattern: boom-bap\n    instrument: {preset: '128:0'}"
        )
    )
    assert invoke("build", quoted, "--midi-only").exit_code == 0
    bare = write_recipe(SMALL_RECIPE.replace("pattern: boom-bap", "pattern: boom-bap\n    instrument: {preset: 128:0}"))
    result = invoke("validate", bare)
    assert result.exit_code == 2
    assert "tracks.drums.instrument.preset: write a bank:program in quotes" in result.output


def test_the_cache_has_a_default_cap_shown_by_info(write_recipe, project, monkeypatch):
    from lofictl.cli.cache import auto_prune, cache_cap

    monkeypatch.delenv("LOFICTL_CACHE_MAX", raising=False)
    assert cache_cap() == 4 * 10**9
    monkeypatch.setenv("LOFICTL_CACHE_MAX", "off")
    assert cache_cap() is None
    monkeypatch.setenv("LOFICTL_CACHE_MAX", "lots")
    with pytest.raises(LofictlError, match="LOFICTL_CACHE_MAX"):
        cache_cap()
    monkeypatch.delenv("LOFICTL_CACHE_MAX")
    assert invoke("build", write_recipe(), "--midi-only").exit_code == 0
    shown = invoke("cache", "info", "--project", project)
    assert "pruned to 4.0 GB after every build (the default)" in shown.stdout
    # the cap prunes, least recently used first: a tiny cap leaves no stage behind
    monkeypatch.setenv("LOFICTL_CACHE_MAX", "1")
    auto_prune(project / ".lofictl-cache")
    assert "0 stage entries" in invoke("cache", "info", "--project", project).stdout


def test_the_master_wav_is_24_bit_unless_float_is_asked(write_recipe, project):
    import soundfile as sf

    recipe = write_recipe()
    assert invoke("build", recipe, "--out", project / "a").exit_code == 0
    assert sf.info(str(project / "a" / "test_loop.wav")).subtype == "PCM_24"
    floated = write_recipe(
        SMALL_RECIPE.replace("output: {formats: [wav]}", "output: {formats: [wav], wav_format: float32}")
    )
    assert invoke("build", floated, "--out", project / "b").exit_code == 0
    assert sf.info(str(project / "b" / "test_loop.wav")).subtype == "FLOAT"


def _in_a_terminal(args, cwd) -> tuple[int, str]:
    """Run `python -m lofictl ARGS` with a pseudo-terminal as its stdout and stderr."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lofictl", *map(str, args)], stdout=follower, stderr=follower, cwd=cwd, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return process.wait(timeout=240), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.live  # three full builds, two of them in a pseudo-terminal
def test_progress_in_a_terminal_and_quiet_elsewhere(write_recipe, project):
    recipe = write_recipe()
    code, seen = _in_a_terminal(["build", recipe, "--out", project / "t"], project)
    assert code == 0, seen
    assert "writing audio files (" in seen  # each file of the export counted as it is written
    piped = run_lofictl("build", recipe, "--out", project / "p", "--no-cache", cwd=project)
    assert piped.returncode == 0, piped.stderr
    assert "writing audio files" not in piped.stderr and "s] " not in piped.stderr
    assert "built in" in piped.stdout  # the summary still comes
    code, seen = _in_a_terminal(["build", recipe, "--out", project / "q", "--no-cache", "-q"], project)
    assert code == 0 and "writing audio files" not in seen


def test_midi_only_and_a_full_build_agree_on_the_length_of_the_music(write_recipe, project):
    recipe = write_recipe()
    sketch = invoke("build", recipe, "--midi-only", "--out", project / "m", "--json")
    full = invoke("build", recipe, "--out", project / "f", "--json")
    sketch_data, full_data = json.loads(sketch.stdout), json.loads(full.stdout)
    assert sketch_data["music_s"] == full_data["music_s"] == round(4 * 4 * 60 / 90, 3)  # 4 bars at 90 BPM
    assert full_data["duration_s"] == round(full_data["music_s"] + 2.0, 3)  # the audio adds the release tail
    shown = invoke("build", recipe, "--out", project / "f").stdout
    assert "10.7 s of music (audio 12.7 s with the 2 s release tail)" in shown


def test_validate_reports_every_mistake_of_an_album_and_a_station_in_one_run(project):
    import shutil

    shutil.copy(REPO / "recipes" / "rainy_night.yaml", project / "recipes" / "rainy_night.yaml")
    (project / "albums").mkdir()
    album = project / "albums" / "bad.yaml"
    album.write_text(
        "lofictl_album: 1\ntitle: Bad\nartist: me\nyear: 2026\nseed: 1\nloudness_lufs: -100\n"
        "tracks:\n  - recipe: recipes/nope.yaml\n  - {recipe: recipes/rainy_night.yaml, set: {tempo: 1000}}\n"
        "output: {formats: [flac, mp4]}\n"
    )
    first = invoke("validate", album)
    assert first.exit_code == 2
    assert "bad.yaml:6: loudness_lufs" in first.output and "bad.yaml:10: output.formats.1" in first.output
    album.write_text(album.read_text().replace("-100", "-14").replace("flac, mp4", "flac"))
    second = invoke("validate", album)  # what `lofictl album` checks: its recipes and their set:
    assert second.exit_code == 2
    assert "bad.yaml:8: tracks.0.recipe: 'recipes/nope.yaml' not found" in second.output
    assert "bad.yaml:9: tracks.1.set.tempo: must be from 20 to 300 (got 1000)" in second.output
    station = project / "recipes" / "station.yaml"
    station.write_text(
        "station: 1\ntitle: S\nseed: 1\nrecipes:\n  - {file: nope.yaml}\n  - {file: nada.yaml}\n"
        "crossfade: 99\nvary: {tempo: {min: 66, max: 88, step: 50}}\n"
    )
    third = invoke("validate", station)
    assert (
        third.exit_code == 2 and "station.yaml:7: crossfade" in third.output and "station.yaml:8: vary" in third.output
    )
    station.write_text(station.read_text().replace("crossfade: 99\n", "").replace("step: 50", "step: 3"))
    fourth = invoke("validate", station)
    assert fourth.exit_code == 2 and "recipes.0.file" in fourth.output and "recipes.1.file" in fourth.output


@pytest.mark.live  # an album built twice through the CLI, once in a pseudo-terminal
def test_album_progress_on_a_terminal_only(tmp_path):
    from support import write_album

    album = write_album(tmp_path)
    code, seen = _in_a_terminal(["album", album], tmp_path)
    assert code == 0, seen
    # each long step on a line of its own, the continuous mix and its video apart
    for step in ("3 tracks rendered", "continuous mix: ", "the video: "):
        assert step in seen, (step, seen)
    piped = run_lofictl("album", album, "--no-cache", cwd=tmp_path)  # every step runs again, piped
    assert piped.returncode == 0, piped.stderr
    assert not any(step in piped.stderr for step in ("tracks rendered", "continuous mix: ", "drawing the cover"))


def test_a_cross_field_error_from_set_names_it_once(write_recipe):
    given = "sections=[{name: A, bars: 2}, {name: A, bars: 2}]"
    result = invoke("build", write_recipe(), "--midi-only", "--set", given)
    assert result.exit_code == 2
    assert result.output.count(f"(from --set {given})") == 1, result.output


def test_an_instrument_set_reaches_the_provenance_of_its_stem(write_recipe, project):
    out = project / "build" / "fretless"
    given = "tracks.bass.instrument.preset=Fretless Bass"
    assert invoke("build", write_recipe(), "--out", out, "--set", given).exit_code == 0
    shown = invoke("inspect", out / "stems" / "02_bass.wav")
    assert f"overrides: --set {given}" in shown.stdout, shown.stdout


def test_the_readme_gives_a_long_track_the_length_the_build_prints():
    from lofictl.cli.build import music_words
    from lofictl.recipe.load import load_recipe

    recipe = load_recipe(REPO / "recipes" / "rainy_night.yaml", ["length=10m0s"]).recipe
    assert not any(s.tempo for s in recipe.sections)  # so bars × seconds per bar is the music's length
    seconds = recipe.total_bars * recipe.seconds_per_bar
    assert seconds >= 600  # the first section boundary at or past the length
    words = music_words(seconds)
    assert "(10m13.3s)" in words
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"{recipe.total_bars} bars, {words} of music" in readme


def test_build_takes_a_cache_folder_like_album(write_recipe, tmp_path):
    recipe = write_recipe()
    shared = tmp_path / "shared-cache"

    def build(*extra):
        result = invoke("build", recipe, "--midi-only", "--json", "-o", tmp_path / "out", *extra)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    first = build("--cache", shared)
    assert "compose" in first["stages_ran"] and shared.is_dir() and any(shared.iterdir())
    again = build("--cache", shared)
    assert "compose" in again["stages_restored"] and not again["stages_ran"]
    # the project's own cache was not the one written: without --cache the score is made afresh
    assert "compose" in build()["stages_ran"]
    for command in (["build"], ["album"], ["cache", "info"], ["cache", "prune"], ["cache", "clear"]):
        assert "--cache" in invoke(*command, "--help").output, command
    info = invoke("cache", "info", "--cache", shared)
    assert info.exit_code == 0 and str(shared.name) in info.output and " 0 stage entries" not in info.output
