"""Nothing lost, nothing let in, no crash: the output rule, the path rule, plugins, odd input.

Property-style tests (hypothesis) run the real rule and the real commit on the real file system
over generated hostile names and folder layouts; the CLI tests build real recipes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lofictl.errors import LofictlError, one_line
from lofictl.pipeline import runner as b
from lofictl.recipe.load import load_recipe
from lofictl.recipe.yamlfile import parse_yaml
from lofictl.safety import names
from lofictl.safety import outputs as rule
from lofictl.safety.paths import PathRefused, confine, inside
from support import REPO, SMALL_RECIPE, file_hashes, run_lofictl

TINY = SMALL_RECIPE.replace("length: 4 bars", "length: 1 bar")
HOSTILE_TEXT = st.lists(
    st.sampled_from(list("./\\~-_ .aZé夜🌧[]{}*?$`'\"\n\t\0:|<>") + ["..", "../", "/."]), max_size=24
).map("".join)


def tree(folder: Path) -> dict[str, str]:
    """Every file below `folder` with its sha256 (what must survive)."""
    return file_hashes(folder, skip_symlinks=True)


def one_clear_line(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr


# --- names ----------------------------------------------------------------------------------------


@given(HOSTILE_TEXT, HOSTILE_TEXT)
def test_build_names_are_safe_slugs(stem, title):
    name = names.build_name(stem, title)
    assert names.is_safe_name(name)
    parent = Path("/project/build")
    assert (parent / name).parent == parent and (parent / f".{name}.tmp-123").parent == parent


def test_slugs_keep_letters_of_every_script():
    assert names.slug("夜の雨") == "夜の雨" and names.slug("Café Noir") == "Café-Noir"
    assert names.slug("..") == names.slug(".") == names.slug("/") == ""
    assert names.build_name("..", "Rainy Night") == "Rainy-Night" and names.build_name("...", "...") == "track"


# --- the output rule, over generated layouts --------------------------------------------------------

LAYOUT_ITEMS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "a",
                "b/c",
                "recipes/x.yaml",
                "build/out/f",
                "build/out/g/h",
                "build/out/build.json",
                "build/other/k",
                "home/n",
            ]
        ),
        st.binary(max_size=8),
    ),
    max_size=6,
)
TARGETS = st.sampled_from(
    [".", "recipes", "build", "build/out", "build/out/g", "build/new", "a", "home", "/", "..", "build/link"]
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(layout=LAYOUT_ITEMS, target=TARGETS, owned=st.booleans(), extra=st.booleans())
def test_a_commit_never_loses_a_file_no_build_wrote(tmp_path_factory, layout, target, owned, extra):
    root = tmp_path_factory.mktemp("layout")
    project, home = root / "project", root / "project" / "home"
    (project / "recipes").mkdir(parents=True)
    for rel, data in layout:
        path = project / rel
        if path.parent.is_file() or path.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if owned and (project / "build" / "out").is_dir():  # a folder a build wrote: its build.json lists it
        files = [
            p.relative_to(project / "build" / "out").as_posix()
            for p in (project / "build" / "out").rglob("*")
            if p.is_file() and p.name != "build.json"
        ]
        if extra and files:
            files = files[1:]  # one file the build did not write
        (project / "build" / "out" / "build.json").write_text(
            json.dumps({"lofictl_lock": 1, "outputs": {f: {"sha256": "0" * 64} for f in files}})
        )
    (project / "build").mkdir(exist_ok=True)
    if not (project / "build" / "link").exists():
        (project / "build" / "link").symlink_to(project / "recipes")
    destination = Path(target) if target == "/" else project / target
    protected = rule.protected_folders(project=project, recipes=project / "recipes", home=home)
    owned_before = rule.manifest(destination) if destination.is_dir() else None
    staging = project / "build" / ".staging"
    staging.mkdir(exist_ok=True)
    (staging / "new.wav").write_bytes(b"new")
    before = {k: v for k, v in tree(project).items() if not k.startswith("build/.staging/")}
    try:
        rule.commit(staging, destination, protected, None)
    except LofictlError as exc:
        assert "\n" not in str(exc)
        assert {k: v for k, v in tree(project).items() if not k.startswith("build/.staging/")} == before, (
            "a refused commit changes nothing"
        )
        return
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    after = tree(project)
    lost = set(before) - set(after)
    prefix = destination.resolve().relative_to(project.resolve()).as_posix() + "/"
    for rel in lost:  # whatever went was inside the replaced folder and listed by its build.json
        assert rel.startswith(prefix), rel
        assert owned_before is not None and rel[len(prefix) :] in owned_before, rel
    assert (project / "recipes").is_dir() and project.is_dir()
    assert not [p for p in destination.parent.iterdir() if ".old-" in p.name or ".tmp-" in p.name]


def test_the_rule_refuses_what_it_must(tmp_path, monkeypatch):
    project = tmp_path / "p"
    (project / "recipes").mkdir(parents=True)
    (project / "notes.txt").write_text("mine")
    protected = rule.protected_folders(project=project, recipes=project / "recipes")
    cases = {
        project: "is the project folder",
        project / "recipes": "is the recipes folder",
        tmp_path: "holds the project folder",
        Path("/"): "is the root folder",
        Path.home(): "is your home folder",
        project / "notes.txt": "is a file, not a folder",
    }
    for folder, words in cases.items():
        with pytest.raises(LofictlError, match=words):
            rule.check_replaceable(folder, protected)
    mine = project / "mine"
    mine.mkdir()
    (mine / "song.wav").write_bytes(b"x")
    with pytest.raises(LofictlError, match="holds files no lofictl build wrote"):
        rule.check_replaceable(mine, protected)
    rule.check_replaceable(project / "new", protected)  # absent: fine
    (project / "empty" / "sub").mkdir(parents=True)
    rule.check_replaceable(project / "empty", protected)  # only empty folders: fine


def test_recovery_reads_the_leftovers_as_a_journal(tmp_path):
    """A build killed between two steps of the commit: the next one finishes or undoes it."""
    dead = 2**22 + 12345  # no such process
    target, lock = tmp_path / "build" / "song", tmp_path / "recipes" / "song.lock.json"
    lock.parent.mkdir(parents=True)
    target.parent.mkdir()
    # killed between "target → old" and "staging → target": the old outputs come back
    old = target.with_name(f".song.old-{dead}")
    old.mkdir()
    (old / "build.json").write_text("OLD")
    lock.write_text("OLD")
    lock.with_name(f".song.lock.json.tmp-{dead}").write_text("NEW")
    rule.recover(target, lock)
    assert (target / "build.json").read_text() == "OLD" and lock.read_text() == "OLD"
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []
    # killed between "staging → target" and "lock temp → lock": the lock is finished
    target.rename(old)
    target.mkdir()
    (target / "build.json").write_text("NEW")
    lock.with_name(f".song.lock.json.tmp-{dead}").write_text("NEW")
    rule.recover(target, lock)
    assert lock.read_text() == "NEW" and not old.exists()
    # a staging folder of a dead build goes; one of a live build stays
    stale, live = target.with_name(f".song.tmp-{dead}"), target.with_name(f".song.tmp-{os.getppid()}")
    stale.mkdir()
    live.mkdir()
    rule.recover(target, lock)
    assert not stale.exists() and live.exists()


# --- the path rule ----------------------------------------------------------------------------------


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(value=HOSTILE_TEXT)
def test_the_path_rule_never_leaves_the_project(tmp_path_factory, value):
    root = tmp_path_factory.mktemp("confine")
    project = root / "project"
    (project / "recipes").mkdir(parents=True)
    (project / "escape").symlink_to(root)
    (root / "secret").write_text("outside")
    try:
        found = confine(value, bases=[project / "recipes", project], roots=[project.resolve()], must_exist=False)
    except PathRefused as exc:
        assert "\n" not in str(exc)
        return
    assert inside(found, project.resolve())


def test_every_file_a_recipe_names_obeys_the_path_rule(write_recipe, project, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir(exist_ok=True)
    cases = {
        "tracks.chords.effects.0.Convolution.impulse_response_filename": (
            "      - LowpassFilter: {cutoff_frequency_hz: 3200}",
            f"      - Convolution: {{impulse_response_filename: {outside}/ir.wav}}",
        ),
        "tracks.chords.instrument.soundfont": (
            "soundfont: FluidR3_GM.sf2, preset: Electric Piano 1",
            "soundfont: ../../../../../usr/share/sounds/sf2/FluidR3_GM.sf2, preset: Electric Piano 1",
        ),
        "tracks.chords.effects.0.VST3.path": (
            "      - LowpassFilter: {cutoff_frequency_hz: 3200}",
            f"      - VST3: {{path: {outside}/Evil.vst3}}",
        ),
        "overlays.0.effects.0.Convolution.impulse_response_filename": (
            "master:",
            "overlays:\n  - {ambience: rain, gain_db: -30, effects: [{Convolution: "
            f"{{impulse_response_filename: {outside}/ir.wav}}}}]}}\nmaster:",
        ),
    }
    (outside / "Evil.vst3").mkdir(exist_ok=True)
    for field, (old, new) in cases.items():
        with pytest.raises(LofictlError) as err:
            b.prepare(load_recipe(write_recipe(TINY.replace(old, new))))
        assert err.value.field == field and ("outside" in err.value.message or "absolute" in err.value.message)
        assert err.value.line is not None


def test_model_weights_stay_in_the_model_folder(tmp_path):
    from lofictl.models.nn.meta import read_meta

    model = tmp_path / "m"
    shutil.copytree(REPO / "models" / "lofi-melody", model)
    meta = json.loads((model / "model.json").read_text())
    for bad, words in [
        ({"weights": {**meta["weights"], "file": "../../../etc/passwd"}}, "plain file name"),
        ({"weights": {**meta["weights"], "file": "/etc/passwd"}}, "plain file name"),
        ({"vocab": {"melody": {**meta["vocab"]["melody"], "tables": "oops"}}}, "vocab.melody.tables"),
        ({"vocab": [1, 2]}, "vocab"),
        ({"kind": 3}, "kind"),
    ]:
        (model / "model.json").write_text(json.dumps({**meta, **bad}))
        with pytest.raises(LofictlError, match=words) as err:
            read_meta(model)
        assert "\n" not in str(err.value)


# --- external plugins -------------------------------------------------------------------------------


def test_plugins_load_only_from_allowed_places_and_never_while_validating(write_recipe, project, tmp_path, monkeypatch):
    import pedalboard

    bundle = project / "plugins" / "Fake.vst3"
    (bundle / "Contents").mkdir(parents=True)
    (bundle / "Contents" / "binary").write_bytes(b"not native code")
    loads = []
    monkeypatch.setattr(
        pedalboard, "load_plugin", lambda *a, **k: loads.append(a) or (_ for _ in ()).throw(ImportError("not a plugin"))
    )
    path = write_recipe(
        TINY.replace("      - LowpassFilter: {cutoff_frequency_hz: 3200}", "      - VST3: {path: plugins/Fake.vst3}")
    )
    plan = b.prepare(load_recipe(path), deep=True)  # what `lofictl validate` runs
    assert loads == [] and plan.chain_files["tracks.chords"]["tracks.chords.effects.0.VST3.path"] == bundle.resolve()
    with pytest.raises(LofictlError, match="cannot load plugin"):
        b.build_recipe(load_recipe(path), quiet=True)
    assert len(loads) == 1
    # outside the project only from a folder the user lists
    elsewhere = tmp_path.parent / f"{tmp_path.name}-plugins"
    shutil.copytree(bundle, elsewhere / "Fake.vst3", dirs_exist_ok=True)
    path = write_recipe(
        TINY.replace(
            "      - LowpassFilter: {cutoff_frequency_hz: 3200}", f"      - VST3: {{path: {elsewhere}/Fake.vst3}}"
        )
    )
    with pytest.raises(LofictlError, match="LOFICTL_PLUGIN_PATH"):
        b.prepare(load_recipe(path))
    monkeypatch.setenv("LOFICTL_PLUGIN_PATH", str(elsewhere))
    assert b.prepare(load_recipe(path)).chain_files["tracks.chords"]
    not_a_plugin = write_recipe(
        TINY.replace(
            "      - LowpassFilter: {cutoff_frequency_hz: 3200}", "      - VST3: {path: recipes/test_loop.yaml}"
        )
    )
    with pytest.raises(LofictlError, match="is not a .vst3 plugin"):
        b.prepare(load_recipe(not_a_plugin))


# --- odd input: one clear line, exit 2 ---------------------------------------------------------------

BOMB = (
    "a: &a ["
    + ",".join(['"lol"'] * 9)
    + "]\n"
    + "".join(f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
)


@pytest.mark.parametrize(
    "text,words",
    [
        (BOMB, "expands to more than"),
        ("a: " + "[" * 10000 + "]" * 10000, "nested more than"),
        ("a: " + "{b: " * 10000 + "}" * 10000, "nested more than"),
        ("? [a, b]\n: 1\n", "a key must be a plain name"),
        ("{[1]: x}\n", "a key must be a plain name"),
        ("a: &a [*a]\n", "refers to the value it is part of"),
        ("title: x\0\n", "NUL"),
        ("".join(" " * i + "- \n" for i in range(400)), "nested"),
        ("seed: " + "9" * 5000 + "\n", "a value cannot be read"),  # found by scripts/adversarial.py
    ],
)
def test_hostile_yaml_is_refused_quickly(text, words):
    started = time.perf_counter()
    with pytest.raises(LofictlError, match=words) as err:
        parse_yaml(text, "r.yaml")
    assert time.perf_counter() - started < 5  # not the minute (and gigabytes) the parser would take
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "change,field",
    [
        (("length: 1 bar", "length: 10h"), "length"),
        (
            ("length: 1 bar", "sections: [{name: a, bars: 10000}, {name: b, bars: 10000}, {name: c, bars: 10000}]"),
            "sections",
        ),
        (
            ("      - LowpassFilter: {cutoff_frequency_hz: 3200}", "      - Gain: {gain_db: 1000}"),
            "tracks.chords.effects.0.Gain.gain_db",
        ),
    ],
)
def test_limits_hold_whatever_way_they_are_reached(write_recipe, change, field):
    with pytest.raises(LofictlError) as err:
        b.prepare(load_recipe(write_recipe(TINY.replace(*change))))
    assert err.value.field == field


def test_every_float_plugin_parameter_has_a_sane_range():
    from lofictl.sound import effects

    missing = [
        (name, p.name)
        for name in effects.plugin_classes()
        for p in effects.plugin_params(name).values()
        if p.kind == "float"
        and (effects.RANGES.get((name, p.name)) is None or None in effects.RANGES[(name, p.name)][:2])
    ]
    assert not missing, f"give these a range in effects.RANGES: {missing}"


def test_a_runaway_chain_is_named_not_a_traceback(write_recipe, project):
    chain = "[" + ", ".join(["{Gain: {gain_db: 48}}"] * 17) + "]"  # each allowed; together past float32
    path = write_recipe(
        TINY.replace("      - LowpassFilter: {cutoff_frequency_hz: 3200}\n", "").replace(
            "    effects:\n", f"    effects: {chain}\n"
        )
    )
    with pytest.raises(LofictlError, match="NaN or infinite") as err:
        b.build_recipe(load_recipe(path), quiet=True)
    assert err.value.field == "tracks.chords.effects" and err.value.line
    assert not (project / "build").exists() or not any((project / "build").iterdir())


def test_errors_are_one_line_and_short():
    text = one_line("x" * 10_000_000 + "\n[/]")
    assert len(text) < 700 and "\n" not in text and "characters left out" in text


def test_odd_values_through_the_cli(write_recipe, project):
    """Markup in titles and keys, a 900 KB value, damaged locks: one line each, or just works."""
    result = run_lofictl(
        "validate", write_recipe(TINY.replace("title: Test Loop", "title: '[/] [bold]x'")), cwd=project
    )
    assert result.returncode == 0 and "[/] [bold]x" in result.stdout, result.stdout + result.stderr
    one_clear_line(run_lofictl("validate", write_recipe(TINY.replace("key: D minor", "key: '[/]'")), cwd=project))
    result = run_lofictl(
        "validate", write_recipe(TINY.replace("title: Test Loop", "title: " + "y" * 900_000)), cwd=project
    )
    one_clear_line(result)
    assert len(result.stderr) < 800
    path = write_recipe(TINY)
    from lofictl.pipeline.verify import diff_recipe, verify_recipe

    for damaged in (
        '{"lofictl_lock": 1, "stages": [1, 2]}',
        "[1]",
        "{",
        '{"lofictl_lock": 1, "stages": {"mix": {"key": 1, "inputs": {}}}}',
        '{"lofictl_lock": 1, "outputs": {"a.wav": {"sha256": null}}}',
    ):
        path.with_name("test_loop.lock.json").write_text(damaged)
        for command in (diff_recipe, verify_recipe):
            with pytest.raises(LofictlError, match="lock") as err:
                command(path)
            assert "\n" not in str(err.value)
    for command in ("diff", "verify"):  # and through the CLI
        one_clear_line(run_lofictl(command, path, cwd=project))


def test_model_errors_point_at_the_line_naming_the_model(write_recipe, project):
    shutil.copytree(REPO / "models" / "lofi-melody", project / "models" / "bad")
    meta = json.loads((project / "models" / "bad" / "model.json").read_text())
    meta["config"] = {"nonsense": 1}  # passes the quick check; fails when the sampler is built
    (project / "models" / "bad" / "model.json").write_text(json.dumps(meta))
    text = TINY + "  melody:\n    part: melody\n    generate: {model: models/bad}\n"
    text = (
        text.replace("master:\n  loudness_lufs: -16\noutput: {formats: [wav]}\n", "")
        + "master:\n  loudness_lufs: -16\n"
    )
    path = write_recipe(text)
    line = next(i for i, row in enumerate(path.read_text().splitlines(), 1) if "models/bad" in row)
    with pytest.raises(LofictlError) as err:
        b.build_recipe(load_recipe(path), midi_only=True, quiet=True)
    assert f"test_loop.yaml:{line}: tracks.melody.generate.model:" in str(err.value)


# --- odd names, folders and disks, through real builds ----------------------------------------------


def test_hostile_recipe_names_build_inside_build(project):
    titles = {
        "...yaml": "Rain 🌧️ [/] night",
        "..yaml": "Dots",
        "[red]夜 🌧.yaml": "Rain 🌧️ [/] night",
        "-rf.yaml": "x",
        "L" * 240 + ".yaml": "long",
    }  # a long name leaves room for the hidden temp names
    for file_name, title in titles.items():
        (project / "recipes" / file_name).write_text(
            textwrap.dedent(TINY).replace("title: Test Loop", f"title: '{title}'")
        )
    before = tree(project / "recipes")
    result = run_lofictl("build", "-q", "--midi-only", *sorted((project / "recipes").glob("*.yaml")), cwd=project)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (project / "build").iterdir()} == {"Rain-night", "Dots", "red-夜", "rf", "L" * 120}
    import mido

    title = mido.MidiFile(str(project / "build" / "red-夜" / "midi" / "red-夜.mid"), charset="utf-8").tracks[0].name
    assert title == "Rain 🌧️ [/] night"  # emoji in MIDI text: encoded, not a crash
    assert all(rel in tree(project / "recipes") for rel in before)  # no recipe lost


def test_two_recipes_with_one_build_name_do_not_replace_each_others_builds(project):
    # `...yaml` and `..yaml` have no letters, so both take the build name of their title
    for file_name in ("...yaml", "..yaml"):
        (project / "recipes" / file_name).write_text(textwrap.dedent(TINY).replace("title: Test Loop", "title: Dots"))
    assert run_lofictl("build", "-q", "--midi-only", project / "recipes" / "...yaml", cwd=project).returncode == 0
    before = tree(project / "build" / "Dots")
    result = run_lofictl("build", "-q", "--midi-only", project / "recipes" / "..yaml", cwd=project)
    one_clear_line(result)
    assert "holds the build of recipes/...yaml, not of recipes/..yaml" in result.stderr
    assert tree(project / "build" / "Dots") == before
    assert not (project / "recipes" / "..lock.json").exists()
    assert run_lofictl("build", "-q", "--midi-only", project / "recipes" / "...yaml", cwd=project).returncode == 0


@pytest.mark.parametrize("output", [".", "recipes", "..", "notes.txt", "mine", "/", "~"])
def test_an_output_folder_that_is_not_the_builds_changes_nothing(write_recipe, project, output):
    (project / "notes.txt").write_text("my notes")
    (project / "mine").mkdir()
    (project / "mine" / "take1.wav").write_bytes(b"RIFF")
    path = write_recipe(TINY)
    out_dir = None
    if output in ("/", "~"):
        out_dir = Path(output).expanduser()
    else:
        path.write_text(
            path.read_text().replace("output: {formats: [wav]}", f"output: {{formats: [wav], dir: '{output}'}}")
        )
    before = tree(project)
    if output == ".":  # once through the CLI: one line, exit 2
        one_clear_line(run_lofictl("build", "-q", "--midi-only", path, cwd=project))
    with pytest.raises(LofictlError) as err:
        b.build_recipe(load_recipe(path), out_dir=out_dir, midi_only=True, quiet=True)
    assert "\n" not in str(err.value) and ("nothing was changed" in str(err.value) or "outside" in str(err.value))
    assert tree(project) == before
    assert not [p for p in project.rglob(".*") if p.name != ".lofictl-cache" and ".lofictl-cache" not in p.parts]


def _unshare(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a shell script in a private mount namespace (root, or an unprivileged user namespace)."""
    for prefix in (["unshare", "-m"], ["unshare", "-rm"]):
        result = subprocess.run([*prefix, "sh", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=300)
        if "unshare failed" not in result.stderr and "Operation not permitted" not in result.stderr[:200]:
            return result
    raise AssertionError(f"no private mount namespace here: {result.stderr}")


def test_a_full_disk_and_a_read_only_recipes_folder_keep_outputs_and_lock(write_recipe, project):
    path = write_recipe(TINY)
    lofictl = f"{sys.executable} -m lofictl"
    # a small real tmpfs: the MIDI-only build fits, the full one does not
    (project / "small").mkdir()
    result = _unshare(
        f"mount -t tmpfs -o size=400k tmpfs small && {lofictl} build -q --midi-only {path} "
        f"--out small/song && sha256sum small/song/midi/*.mid > before.txt && "
        f"{lofictl} build -q {path} --out small/song; echo rc=$?; "
        f"sha256sum small/song/midi/*.mid > after.txt; ls -a small > listing.txt",
        project,
    )
    assert "rc=2" in result.stdout, result.stdout + result.stderr
    assert "no space left on the device" in result.stderr and "Traceback" not in result.stderr
    assert (project / "before.txt").read_text() == (project / "after.txt").read_text()
    assert (project / "listing.txt").read_text().split() == [".", "..", "song"]
    # a read-only recipes folder: the lock cannot be written, so the outputs are not swapped either
    assert run_lofictl("build", "-q", "--midi-only", path, cwd=project).returncode == 0
    before, lock = tree(project / "build"), path.with_name("test_loop.lock.json").read_bytes()
    result = _unshare(
        f"mount --bind recipes recipes && mount -o remount,ro,bind recipes && "
        f"{lofictl} build -q --midi-only {path} --set tempo=100; echo rc=$?",
        project,
    )
    assert "rc=2" in result.stdout and "cannot write the lock file" in result.stderr, result.stdout + result.stderr
    assert tree(project / "build") == before and path.with_name("test_loop.lock.json").read_bytes() == lock
    # a mount point as the output folder: refused before anything is made
    (project / "mnt").mkdir()
    result = _unshare(
        f"mount -t tmpfs tmpfs mnt && {lofictl} build -q --midi-only {path} --out mnt; echo rc=$?", project
    )
    assert "rc=2" in result.stdout and "is a mount point" in result.stderr


def test_a_hand_edited_stem_with_the_same_size_and_mtime_is_not_up_to_date(write_recipe, project):
    path = write_recipe(TINY)
    first = b.build_recipe(load_recipe(path), quiet=True)
    stem = first.out_dir / "stems" / "01_chords.wav"
    stat, original = stem.stat(), stem.read_bytes()
    edited = bytearray(original)
    edited[len(edited) // 2] ^= 0xFF  # one sample, same size
    stem.write_bytes(bytes(edited))
    os.utime(stem, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = b.build_recipe(load_recipe(path), quiet=True)
    assert not again.up_to_date and stem.read_bytes() == original


def test_a_silent_master_is_summed_up_in_words(write_recipe, project):
    text = (
        TINY.replace("    part: chords\n", "    part: chords\n    mute: true\n")
        .replace("    part: bass\n", "    part: bass\n    mute: true\n")
        .replace("    part: drums\n", "    part: drums\n    mute: true\n")
    )
    from lofictl import api
    from lofictl import cli as cli_module

    result = api.build(write_recipe(text))
    assert result.loudness is not None and result.loudness.integrated_lufs is None
    with cli_module.out.capture() as captured:
        cli_module._print_summary(result)
    assert "the master is silent" in captured.get()


def test_ctrl_c_at_random_moments_stops_cleanly(write_recipe, project):
    """SIGINT at seeded random moments of a parallel build: exit 130 (or 0 if it was done), no
    traceback from any process, and outputs and lock either all old or all new."""
    import random

    path = write_recipe(SMALL_RECIPE)
    assert run_lofictl("build", "-q", path, cwd=project).returncode == 0
    out = project / "build" / "test_loop"
    states = {json.dumps(tree(out), sort_keys=True): path.with_name("test_loop.lock.json").read_text()}
    rng = random.Random(20261202)
    codes = []
    for attempt in range(3):
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lofictl",
                "build",
                "-q",
                "--jobs",
                "2",
                "--no-cache",
                str(path),
                "--set",
                f"seed={attempt + 100}",
            ],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(rng.uniform(1.0, 8.0))
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=240)
        codes.append(process.returncode)
        assert process.returncode in (0, 130) and "Traceback" not in err and "Exception ignored" not in err, err
        now = (json.dumps(tree(out), sort_keys=True), path.with_name("test_loop.lock.json").read_text())
        if process.returncode == 0:
            states[now[0]] = now[1]
        assert states.get(now[0]) == now[1], "outputs and lock always belong together"
        assert json.loads(now[1])["outputs"].keys() == json.loads((out / "build.json").read_text())["outputs"].keys()
    assert 130 in codes
    assert run_lofictl("build", "-q", path, cwd=project).returncode == 0
    assert not [p for p in (project / "build").iterdir() if p.name.startswith(".")]
