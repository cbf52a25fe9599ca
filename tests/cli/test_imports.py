"""Commands that run nothing heavy import nothing heavy: a rebuild that restores every stage,
`validate`, `diff`, `inspect` and `--help` leave JAX, Flax, matplotlib and SciPy unimported
(each would cost a second or more of a command that should take a fraction of one).

Each command runs in a fresh interpreter, which then lists the modules it imported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from support import REPO, invoke

HEAVY = ("jax", "flax", "matplotlib", "scipy")

# The shipped models with the originality gate (which reads model.json and the n-gram index),
# the procedural kit (whose digest the lock records), an effect chain and two formats.
RECIPE = """\
lofictl: 1
title: Light
seed: 3
tempo: 100
key: D minor
length: 2 bars
tracks:
  chords:
    part: chords
    generate: {model: models/lofi-chords, temperature: 0.9}
    instrument: {soundfont: FluidR3_GM.sf2, preset: Electric Piano 1}
    effects: [{LowpassFilter: {cutoff_frequency_hz: 3200}}]
  melody:
    part: melody
    generate: {model: models/lofi-melody, max_overlap_15: 0.05}
  drums:
    part: drums
    pattern: boom-bap
    instrument: {kit: dusty}
output: {formats: [wav, mp3]}
"""

# Runs one command the way `python -m lofictl` does, then writes {"exit": code, "modules": [...]}
# to the file named first (stdout is the command's).
RUN = textwrap.dedent(
    """\
    import json, sys
    from lofictl.cli import app
    out, args = sys.argv[1], sys.argv[2:]
    try:
        code = app(args, prog_name="lofictl", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    with open(out, "w") as f:
        json.dump({"exit": code or 0, "modules": sorted(sys.modules)}, f)
    """
)


def _imported(project, *args) -> tuple[dict, str, str]:
    """(the command's exit code and modules, its stdout, its stderr), from a fresh interpreter in the project."""
    report = project / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(report), *map(str, args)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(report.read_text()), done.stdout, done.stderr


def _heavy(modules: list[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A project built once (so a second build restores every stage from the cache)."""
    project = tmp_path_factory.mktemp("light")
    (project / "recipes").mkdir()
    for model in ("lofi-chords", "lofi-melody"):
        shutil.copytree(REPO / "models" / model, project / "models" / model)
    recipe = project / "recipes" / "light.yaml"
    recipe.write_text(RECIPE)
    result = invoke("build", "-q", recipe)
    assert result.exit_code == 0, result.output
    return project


def test_a_rebuild_that_restores_everything_imports_nothing_heavy(built):
    done, stdout, _ = _imported(built, "build", "--json", "recipes/light.yaml")
    summary = json.loads(stdout)
    assert done["exit"] == 0 and summary["stages_ran"] == [] and "compose" in summary["stages_restored"]
    assert _heavy(done["modules"]) == []


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "recipes/light.yaml"],
        ["diff", "recipes/light.yaml"],
        ["inspect", "build/light/light.wav"],
        ["inspect", "build/light/light.mp3"],
        ["inspect", "build/light/midi/light.mid"],
        ["--help"],
        ["build", "--help"],
    ],
    ids=lambda args: " ".join(args),
)
def test_commands_that_compose_nothing_import_nothing_heavy(built, args):
    done, stdout, _ = _imported(built, *args)
    assert done["exit"] == 0, stdout
    if args[0] == "inspect":
        assert "title: Light" in stdout  # the file's provenance was read
    if args[0] in ("validate", "diff"):
        assert "ok" in stdout or "nothing changed" in stdout, stdout
    assert _heavy(done["modules"]) == []


def test_a_build_that_composes_does_import_jax(built):
    """The other side of the line: when compose runs, the sampler (JAX) is loaded, so the
    checks above pass because nothing was composed, not because the modules list is wrong."""
    done, stdout, _ = _imported(
        built, "build", "--json", "recipes/light.yaml", "--midi-only", "--set", "seed=4", "-o", "other"
    )
    assert done["exit"] == 0 and "compose" in json.loads(stdout)["stages_ran"]
    assert {"jax", "flax"} <= set(_heavy(done["modules"]))
    # no audio follows --midi-only: no stage that makes audio is loaded (no warm-up either; SciPy
    # itself may come: JAX loads its LAPACK to run a kept sampler program, models/nn/exported)
    assert not {"lofictl.sound.stems", "lofictl.sound.loudness", "lofictl.sound.master"} & set(done["modules"])


def test_validate_still_checks_what_sampling_reads_from_model_json(built, tmp_path):
    """validate no longer loads the weights with JAX; a model.json whose melody vocabulary and
    config disagree is still one clear line at the recipe's model field, exit 2."""
    project = tmp_path / "project"
    shutil.copytree(built / "models", project / "models")
    (project / "recipes").mkdir()
    (project / "recipes" / "light.yaml").write_text(RECIPE)
    meta_path = project / "models" / "lofi-melody" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["heads"] = [h + 1 for h in meta["config"]["heads"]]
    meta_path.write_text(json.dumps(meta))
    done, _, stderr = _imported(project, "validate", "recipes/light.yaml")
    assert done["exit"] == 2 and _heavy(done["modules"]) == []
    said = " ".join(stderr.split())
    assert "light.yaml:" in said and "tracks.melody.generate.model" in said, stderr
    assert "vocabulary and config disagree on the heads" in said and "Traceback" not in said


def test_a_build_with_two_jobs_draws_the_piano_roll_in_a_child_process(built):
    """matplotlib holds the GIL, so a build with a core to spare draws the piano roll in a
    process of its own (export.pianoroll_process): the build's own process never imports it, and
    the pages are the bytes a build with one job draws in its own process."""
    two, stdout, _ = _imported(
        built, "build", "--json", "--jobs", "2", "recipes/light.yaml", "--set", "seed=5", "-o", "two"
    )
    assert two["exit"] == 0 and "midi" in json.loads(stdout)["stages_ran"]
    assert "matplotlib" not in _heavy(two["modules"])
    one, _, _ = _imported(
        built, "build", "--no-cache", "--jobs", "1", "recipes/light.yaml", "--set", "seed=5", "-o", "one"
    )
    assert one["exit"] == 0 and "matplotlib" in _heavy(one["modules"])
    assert (built / "two" / "pianoroll.png").read_bytes() == (built / "one" / "pianoroll.png").read_bytes()
    assert not list((built / "two").glob("*score.json")) and not list((built / "one").glob("*score.json"))


def test_only_a_processes_first_piano_roll_goes_to_a_child(built):
    """A process that builds again (a station, an album's worker, a batch) imports matplotlib once
    and draws in place, rather than paying its import in a child for every track."""
    script = textwrap.dedent(
        """\
        import json, sys
        import lofictl
        lofictl.build("recipes/light.yaml", set={"seed": 6}, out="first", jobs=2)
        first = "matplotlib" in sys.modules
        lofictl.build("recipes/light.yaml", set={"seed": 7}, out="second", jobs=2)
        print(json.dumps([first, "matplotlib" in sys.modules]))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=built, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [False, True]
    for folder in ("first", "second"):
        assert (built / folder / "pianoroll.png").read_bytes().startswith(b"\x89PNG")
