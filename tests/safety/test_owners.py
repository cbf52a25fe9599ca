"""Whose a build folder is: the recipe at one path in the project (not a file name), and never a
folder a shell would have expanded (`~`, `$HOME`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lofictl.safety.paths import PathRefused, confine
from support import ALBUM_RECIPE, run_lofictl


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_two_recipes_of_one_file_name_do_not_replace_each_others_outputs(tmp_path):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "x.yaml").write_text(ALBUM_RECIPE)
    (tmp_path / "x.yaml").write_text(ALBUM_RECIPE.replace("seed: 5", "seed: 6"))
    assert run_lofictl("build", "-q", "--midi-only", "recipes/x.yaml", cwd=tmp_path).returncode == 0
    before = _tree(tmp_path / "build" / "x")
    done = run_lofictl("build", "-q", "--midi-only", "x.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "holds the build of recipes/x.yaml, not of x.yaml" in " ".join(done.stderr.split())
    assert _tree(tmp_path / "build" / "x") == before
    # The owner rebuilds it as before.
    assert run_lofictl("build", "-q", "--midi-only", "recipes/x.yaml", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    "value", ["~", "~/music", "~root", "~root/x", "$HOME", "${HOME}/x", "build/$USER", "%APPDATA%"]
)
def test_output_dir_that_a_shell_would_expand_is_refused(tmp_path, value):
    (tmp_path / "recipes").mkdir()
    recipe = tmp_path / "recipes" / "x.yaml"
    recipe.write_text(ALBUM_RECIPE.replace("output: {formats: [wav]}", f"output: {{dir: '{value}', formats: [wav]}}"))
    done = run_lofictl("build", "-q", "--midi-only", recipe, cwd=tmp_path)
    assert done.returncode == 2
    assert f"x.yaml:10: output.dir: '{value}': lofictl does not expand" in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipes"]  # no folder named `~` or `$HOME`


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["~", "~x", "$HOME", "${A}", "%B%", "a", "b~", "$", "x$", ".", "~~"]), min_size=1, max_size=4
    )
)
def test_no_path_made_of_shell_words_is_taken_literally(tmp_path_factory, parts):
    root = tmp_path_factory.mktemp("root").resolve()
    value = "/".join(parts)
    expandable = parts[0].startswith("~") or any(
        p.startswith("$") and len(p) > 1 or (p.startswith("%") and p.endswith("%") and len(p) > 2) for p in parts
    )
    try:
        confine(value, bases=[root], roots=[root], must_exist=False)
    except PathRefused as exc:
        assert expandable, exc.message
        return
    assert not expandable, value
