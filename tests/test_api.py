"""The Python API (lofictl/api.py): `import lofictl` stays light, `lofictl.build` returns a frozen
value that agrees with the files and the lock, `validate` lists problems, the CLI says the same."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys

import pytest

import lofictl
from lofictl.errors import LofictlError
from support import SMALL_RECIPE, run_lofictl

TINY = SMALL_RECIPE.replace("length: 4 bars", "length: 1 bar")


def test_import_lofictl_loads_no_heavy_library():
    code = (
        "import sys, lofictl\n"
        "lofictl.build, lofictl.load_recipe, lofictl.validate, lofictl.Build\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'jax', 'scipy', 'matplotlib', 'numpy', "
        "'pedalboard', 'flax', 'dask', 'typer', 'pydantic'})\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_lofictl_offers_the_whole_api_even_after_the_pipeline_is_imported():
    from lofictl import api
    from lofictl.pipeline import runner  # noqa: F401  (a subpackage of lofictl, as the build runner's home)

    assert lofictl.build is api.build
    assert set(lofictl.__all__) - {"__version__"} == set(api.__all__)  # the package offers the whole API
    assert all(getattr(lofictl, name) is getattr(api, name) for name in api.__all__)
    with pytest.raises(AttributeError):
        lofictl.nothing_of_the_kind  # noqa: B018


def test_set_becomes_the_clis_overrides():
    from lofictl.api import override_strings

    assert override_strings({"tempo": 72, "title": "Night: 2", "tracks.0.mute": True, "key": None}) == [
        "tempo=72",
        'title="Night: 2"',
        "tracks.0.mute=true",
        "key=null",
    ]
    assert override_strings(["tempo=80"]) == ["tempo=80"]
    with pytest.raises(LofictlError, match="mapping"):
        override_strings("tempo=80")
    with pytest.raises(LofictlError, match="plain value"):
        override_strings({"tempo": object()})


def test_load_recipe_applies_set(write_recipe):
    path = write_recipe(TINY)
    loaded = lofictl.load_recipe(path, set={"tempo": 61.5, "title": "Night: 2"})
    assert loaded.recipe.tempo == 61.5 and loaded.recipe.title == "Night: 2"
    assert loaded.overrides == ("tempo=61.5", 'title="Night: 2"')
    with pytest.raises(LofictlError, match="from --set tempo=9999"):
        lofictl.load_recipe(path, set={"tempo": 9999})


def test_validate_lists_every_problem_and_none_for_a_good_recipe(write_recipe):
    good = write_recipe(TINY)
    assert lofictl.validate(good) == []
    checked = lofictl.check(good)
    assert checked.ok and checked.kind == "recipe" and "'Test Loop', 1 bars" in checked.description
    bad = write_recipe(TINY.replace("tempo: 90", "tempo: 9999").replace("seed: 7", "seed: many"), name="bad")
    problems = lofictl.validate(bad)
    assert {p.field for p in problems} >= {"tempo", "seed"}
    assert all(isinstance(p, LofictlError) and p.file == str(bad) and p.line for p in problems)
    assert [p.line for p in problems] == sorted(p.line for p in problems)


def test_build_returns_a_frozen_value_that_matches_the_files_and_the_lock(write_recipe, project):
    path = write_recipe(TINY)
    result = lofictl.build(path, set={"tempo": 80}, out=project / "out")
    assert isinstance(result, lofictl.Build)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.title = "x"  # type: ignore[misc]
    assert result.out_dir == (project / "out").resolve() and result.lock_path is None  # out=: the lock is left alone
    assert not path.with_name("test_loop.lock.json").exists()
    lock = result.lock
    assert lock["recipe"]["overrides"] == ["tempo=80"] and lock["recipe"]["resolved"]["tempo"] == 80
    assert {item.name for item in result.outputs} == set(lock["outputs"])
    for item in result.outputs:
        assert item.path == result.out_dir / item.name
        data = item.path.read_bytes()
        assert len(data) == item.bytes and hashlib.sha256(data).hexdigest() == item.sha256
    result.lock["outputs"].clear()  # a copy: the value does not change
    assert result.lock == lock
    assert result.tempo == 80 and result.bars == 1 and result.music_s == pytest.approx(4 * 60 / 80)
    assert result.loudness is not None and result.loudness.as_dict() == lock["loudness"]
    assert set(result.ran) == set(lock["stages"]) and not result.restored and not result.up_to_date
    master = result.output(next(item.name for item in result.outputs if item.name.endswith(".wav")))
    assert master.bytes > 0
    with pytest.raises(LofictlError, match="no output"):
        result.output("nothing.wav")

    again = lofictl.build(path, set={"tempo": 80}, out=project / "out")  # from the cache
    assert again.outputs == result.outputs and set(again.restored) == set(result.ran) and not again.ran
    assert json.loads(again.lock_json)["outputs"] == lock["outputs"]


def test_the_cli_prints_what_the_api_returns(write_recipe, project):
    path = write_recipe(TINY)
    result = lofictl.build(path, midi_only=True)
    assert result.lock_path == path.with_name("test_loop.lock.json") and result.lock_path.exists()
    done = run_lofictl("build", "--midi-only", "--json", path, cwd=project)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    expected = result.summary()
    for volatile in ("elapsed_s", "stages_ran", "stages_restored", "reasons", "up_to_date"):
        summary.pop(volatile), expected.pop(volatile)
    assert summary == expected
    changes = lofictl.diff(path, set={"tempo": 100})
    compose = next(stage for stage in changes.stages if stage.stage == "compose")
    assert compose.rerun and any("tempo" in why for why in compose.changed) and "compose" in changes.rerun
    done = run_lofictl("diff", "--json", "--set", "tempo=100", path, cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == changes.report()
    bad = write_recipe(TINY.replace("tempo: 90", "tempo: 9999"), name="bad")
    done = run_lofictl("validate", path, bad, cwd=project)
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {problem}" for problem in lofictl.validate(bad)
    ]


def test_the_readme_example_uses_the_api_as_it_is():
    """The README's example compiles, and every `lofictl.X` and result attribute it names exists
    (running it is a full build: the benchmarks and the lead's checks do that)."""
    import ast
    import re

    from lofictl import api
    from support import REPO

    text = (REPO / "README.md").read_text()
    section = text[text.index("## Python API") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    tree = ast.parse(code.group(1))
    named = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "lofictl"
    }
    assert named == {"build", "load_recipe", "validate", "verify"}
    assert all(callable(getattr(lofictl, name)) for name in named)
    build_fields = {f.name for f in dataclasses.fields(api.Build)} | {"lock"}
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "result"
    }
    assert used and used <= build_fields
