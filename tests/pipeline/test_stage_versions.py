"""Stage code versions: a stage whose output changes must bump its number, and a bump (or an
edited input file) re-runs exactly that stage and what depends on what it made.

The golden file holds, per stage of tests/support/stage.py's build, the sha256 of its outputs
with the version and library versions they were made with. When a stage's output changes while
its `version` in its row of lofictl/pipeline/stages.py did not, the test fails naming the constant. After a
bump, refresh the file:  .venv/bin/python tests/pipeline/test_stage_versions.py --update
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

if (
    __name__ == "__main__"
):  # run as a script (--update): pytest's `pythonpath` puts tests/ on the path only under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lofictl import stage_names  # noqa: E402
from lofictl.pipeline import runner as b  # noqa: E402
from lofictl.pipeline import stages as stages_module  # noqa: E402
from lofictl.pipeline.stages import STAGES  # noqa: E402
from lofictl.pipeline.verify import diff_recipe, verify_recipe  # noqa: E402
from lofictl.recipe.load import load_recipe  # noqa: E402
from lofictl.safety import fingerprints  # noqa: E402
from support import DATA, write_clip  # noqa: E402
from support.stage import STAGE_TYPES, make_project, write_impulse_response  # noqa: E402

GOLDEN = DATA / "stage_golden.json"
# What depends on what, from the stage table: a stage re-runs only if it, or one of these
# upstream stages, changed.
UPSTREAM = {stage.name: set(stage.upstream) for stage in STAGES}


def _kind(name: str) -> str:
    return name.split(":")[0]


def golden_record(lock: dict) -> dict:
    record = {}
    for name, stage in sorted(lock["stages"].items()):
        libraries = {k: v for k, v in stage["inputs"].items() if k.startswith("library.")}
        record[name] = {"version": stage["inputs"]["code.version"], "libraries": libraries, "outputs": stage["outputs"]}
    return record


def fresh_build(root: Path) -> dict:
    path = make_project(root)
    return b.build_recipe(load_recipe(path), quiet=True, use_cache=False).lock


def test_fixture_runs_every_stage_kind(tmp_path):
    assert set(STAGE_TYPES) == set(UPSTREAM) == set(stage_names.ALL)
    assert set(fingerprints.ALBUM_STAGE_VERSIONS) == set(fingerprints.ALBUM_STAGE_MODULES)
    for stage in [*stage_names.ALL, *fingerprints.ALBUM_STAGE_MODULES]:
        modules = fingerprints.modules_of(stage)
        assert modules and all(fingerprints.module_file(m) for m in modules), f"{stage}: a module listed there is gone"


@pytest.fixture(scope="module")
def fixture_lock(tmp_path_factory) -> dict:
    return fresh_build(tmp_path_factory.mktemp("stage-fixture"))


def test_the_stage_table_declares_what_each_stage_reads(fixture_lock):
    """Every other stage's output hash found in a stage's recorded inputs comes from a stage the
    table names upstream of it, so the table cannot leave out a dependency the code has."""
    made_by: dict[str, set[str]] = {}
    for name, stage in fixture_lock["stages"].items():
        for digest in stage["outputs"].values():
            made_by.setdefault(digest, set()).add(_kind(name))
    read = set()
    for name, stage in fixture_lock["stages"].items():
        text = json.dumps(stage["inputs"])
        for digest, kinds in made_by.items():
            if digest in text and _kind(name) not in kinds:
                assert kinds & UPSTREAM[_kind(name)], f"{name} reads an output of {kinds}, not upstream of it"
                read |= {(_kind(name), kind) for kind in kinds & UPSTREAM[_kind(name)]}
    assert ("mix", "stem") in read and ("midi", "compose") in read and ("export", "mix") in read


def test_a_changed_output_needs_a_version_bump(fixture_lock):
    golden = json.loads(GOLDEN.read_text())
    lock = fixture_lock
    current = golden_record(lock)
    assert {_kind(n) for n in current} == set(STAGE_TYPES), "the fixture must run every kind of stage"
    compared, problems = 0, []
    changed = {
        _kind(name) for name, now in current.items() if name in golden and golden[name]["outputs"] != now["outputs"]
    }
    for name, now in current.items():
        then = golden.get(name)
        constant = f"the version of the {_kind(name)!r} row of STAGES in lofictl/pipeline/stages.py"
        if then is None or then["version"] != now["version"]:
            problems.append(
                f"{name}: {constant} is {now['version']}, the golden file has "
                f"{then and then['version']}: refresh it with `python {Path(__file__).name} --update`"
            )
            continue
        if then["libraries"] != now["libraries"]:
            continue  # made by other library versions: bytes may differ for reasons of theirs
        compared += 1
        if UPSTREAM[_kind(name)] & changed:
            continue  # what it was given changed, so its output may: its own code is not the cause
        if then["outputs"] != now["outputs"]:
            problems.append(
                f"{name}: its output changed but {constant} is still {now['version']}: bump it "
                f"(then refresh the golden file with `python {Path(__file__).name} --update`)"
            )
    assert not problems, "\n".join(problems)
    print(f"{compared} of {len(current)} stages compared with the golden file")


def _build(path: Path, **kwargs):
    return b.build_recipe(load_recipe(path), quiet=True, **kwargs)


def _allowed_reruns(first: set[str]) -> set[str]:
    """Stage kinds that may re-run when `first` kinds changed: them and everything downstream."""
    allowed = set(first)
    while True:
        more = {kind for kind, ups in UPSTREAM.items() if ups & allowed} - allowed
        if not more:
            return allowed
        allowed |= more


def _check_reruns(result, changed_kinds: set[str], before: dict) -> None:
    ran = {_kind(name) for name in result.ran}
    assert changed_kinds <= ran, f"{changed_kinds} should have re-run; ran {result.ran}"
    assert ran <= _allowed_reruns(changed_kinds), f"only {changed_kinds} and what follows may re-run: {result.ran}"
    for name in result.ran:  # downstream stages re-ran because an upstream output really changed
        if _kind(name) not in changed_kinds:
            assert before["stages"][name]["inputs"] != result.lock["stages"][name]["inputs"], name
    for name in result.restored:
        assert before["stages"][name]["key"] == result.lock["stages"][name]["key"], name


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("versions")
    path = make_project(root, melody=False)
    first = _build(path)
    return path, first.lock


def _bump(monkeypatch, kind: str) -> None:
    """The build as if the row of `kind` had its version bumped."""
    bumped = tuple(replace(s, version=s.version + 1) if s.name == kind else s for s in stages_module.STAGES)
    monkeypatch.setattr(stages_module, "STAGES", bumped)
    monkeypatch.setattr(fingerprints, "_DECLARED", {s.name: (s.version, s.modules) for s in bumped})


@pytest.mark.parametrize("kind", STAGE_TYPES)
def test_a_version_bump_reruns_that_stage_and_what_follows(built, kind, monkeypatch):
    path, before = built
    _bump(monkeypatch, kind)
    report = diff_recipe(path)  # said before building: the cause in words
    said = [s for s in report["stages"] if _kind(s["stage"]) == kind]
    assert said and all(any("its code (version" in c for c in s["changed"]) for s in said)
    result = _build(path, write_lock=False)
    _check_reruns(result, {kind}, before)
    assert all(
        result.lock["stages"][n]["inputs"]["code.version"] == fingerprints.version_of(kind)
        for n in result.lock["stages"]
        if _kind(n) == kind
    )
    assert any("its code changed (version" in reason for reason in result.reasons)


def _edit_same_size_and_mtime(path: Path, write) -> None:
    """Rewrite a file with other content of the same size and mtime (the hand-edit that a
    size+mtime check misses)."""
    stat = path.stat()
    write(path)
    data = path.read_bytes()
    assert len(data) == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize(
    "which,kinds",
    [
        ("ir/room.wav", {"stem"}),  # a Convolution impulse response: only the stem that reads it
        ("clips/riff.mid", {"compose"}),
        ("effects/drops.wav", {"overlays"}),
    ],
)
def test_an_edited_input_file_reruns_the_stages_that_read_it(tmp_path, which, kinds):
    path = make_project(tmp_path, melody=False)
    before = _build(path).lock
    target = tmp_path / which
    if which.endswith(".wav"):
        _edit_same_size_and_mtime(target, lambda p: write_impulse_response(p, seed=9))
    else:
        _edit_same_size_and_mtime(target, lambda p: write_clip(p, (65,)))
    result = _build(path)
    _check_reruns(result, kinds, before)
    if which.startswith("ir/"):
        assert result.ran[0] == "stem:chords" and not any(n.startswith("stem:keys") for n in result.ran)
        assert (
            result.lock["effect_files"]["tracks.chords.effects.0.Convolution.impulse_response_filename"]["sha256"]
            != before["effect_files"]["tracks.chords.effects.0.Convolution.impulse_response_filename"]["sha256"]
        )


def test_verify_names_a_version_bump_as_the_cause(built, monkeypatch):
    path, _ = built
    export = fingerprints.version_of("export")
    _bump(monkeypatch, "mix")
    _bump(monkeypatch, "export")
    report = verify_recipe(path)
    assert not report["identical"]
    assert any(
        f"the code of stage export changed (version {export} in the lock, {export + 1} here)" in c
        for c in report["likely_causes"]
    ), report["likely_causes"]


def test_an_edited_source_file_misses_the_cache_but_not_the_lock(built, monkeypatch):
    """A developer's edit to a module (no bump) re-runs the stages whose code includes it, from
    the cache's point of view, and leaves the stage keys of the lock as they were."""
    path, before = built
    stem_files = fingerprints.closure(fingerprints.modules_of("stem"))
    assert fingerprints.module_file("lofictl.sound.render") in stem_files
    assert fingerprints.module_file("lofictl.sound.render") not in fingerprints.closure(
        fingerprints.modules_of("compose")
    )
    digests = {stage: fingerprints.source_digest(stage) for stage in stage_names.ALL}
    edited = {
        stage
        for stage in digests
        if fingerprints.module_file("lofictl.export.daw") in fingerprints.closure(fingerprints.modules_of(stage))
    }
    assert edited == {"export"}
    monkeypatch.setattr(
        fingerprints, "source_digest", lambda stage: digests[stage] + ("-edited" if stage in edited else "")
    )
    result = _build(path, write_lock=False)
    assert {_kind(n) for n in result.ran} == {"export"}
    assert all(result.lock["stages"][n]["key"] == before["stages"][n]["key"] for n in before["stages"])


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        record = golden_record(fresh_build(Path(folder)))
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}: {len(record)} stages")
