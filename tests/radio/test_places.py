"""A station's work folder and database obey the output rule builds obey, tried with hostile
values (property-style): whatever a station file names, nothing of the user's is deleted or
overwritten, and a refusal is one `file:line` error before anything starts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lofictl.errors import LofictlError
from lofictl.radio.db import Ratings
from lofictl.radio.producer import WorkFolder
from lofictl.radio.station import load_station
from lofictl.safety import outputs as output_rule
from support import ALBUM_RECIPE, run_lofictl

STATION = """\
station: 1
title: Test FM
seed: 5
recipes:
  - {{file: tiny.yaml}}
length: 8 bars
{extra}
"""

# The user's files in the project: each must survive whatever the station file says.
USER_FILES = {
    "tracks/mine.txt": b"my tracks",
    "user/notes.txt": b"notes",
    "bed.wav": b"not the station's",
    ".lock": b"my lock",
    "history/1.png": b"a picture of mine",
    "notes.db": b"plain text, not SQLite",
    "empty.db": b"",
    "recipes/readme.txt": b"about the recipes",
    "sounds/bed.wav": b"a bed of my own",  # named like the station's, in a folder with no marker
    "sounds/history/2.png": b"mine too",
}


def _project(root: Path) -> Path:
    (root / "recipes").mkdir(parents=True, exist_ok=True)
    (root / "recipes" / "tiny.yaml").write_text(ALBUM_RECIPE)
    for rel, data in USER_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _user_files(root: Path) -> dict[str, str]:
    return {rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in USER_FILES}


def _yaml_value(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_PARTS = [".", "..", "recipes", "tracks", "history", "user", "sounds", "build", "radio", "~", "$HOME", "x", "bed.wav"]
_FOLDERS = st.one_of(
    st.lists(st.sampled_from(_PARTS), min_size=1, max_size=3).map("/".join),
    st.sampled_from(["/", "/tmp", str(Path.home()), "recipes/tiny.yaml", "${USER}/radio", "~root", "./", "build/.."]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(work_dir=_FOLDERS)
def test_a_hostile_work_dir_never_touches_the_users_files(tmp_path_factory, work_dir):
    root = _project(tmp_path_factory.mktemp("project"))
    before = _user_files(root)
    station = root / "recipes" / "st.yaml"
    station.write_text(STATION.format(extra=f"work_dir: {_yaml_value(work_dir)}"))
    try:
        loaded = load_station(station)
    except LofictlError as exc:
        assert str(exc).startswith(f"{station}:7: work_dir: "), str(exc)
        assert _user_files(root) == before
        return
    # Accepted: a folder of its own, which the rule for build outputs accepts as a place too.
    work = loaded.work_dir
    output_rule.check_place(work, loaded.protected_folders())
    assert work.resolve() != root.resolve() and work.resolve().is_relative_to(root.resolve())
    folder = WorkFolder(work, 1, loaded.owner)
    folder.open()
    folder.close()
    assert _user_files(root) == before
    load_station(station)  # its own folder, marked: accepted again


_DATABASES = st.one_of(
    st.sampled_from(
        [
            "recipes/tiny.yaml",
            "recipes/st.yaml",
            "notes.db",
            "empty.db",
            "tracks",
            "tracks/mine.txt/ratings.db",
            "build/radio/st/ratings.db",
            "~/ratings.db",
            "$HOME/ratings.db",
            "ratings.yaml",
            "radio/ratings.db",
            "/tmp/ratings.db",
        ]
    ),
    st.lists(st.sampled_from(_PARTS + ["ratings.db"]), min_size=1, max_size=3).map("/".join),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(database=_DATABASES)
def test_a_hostile_database_path_is_refused_or_a_sqlite_file_of_its_own(tmp_path_factory, database):
    root = _project(tmp_path_factory.mktemp("project"))
    before = _user_files(root)
    station = root / "recipes" / "st.yaml"
    station.write_text(STATION.format(extra=f"database: {_yaml_value(database)}"))
    recipe_before = (root / "recipes" / "tiny.yaml").read_bytes()
    try:
        loaded = load_station(station)
    except LofictlError as exc:
        assert str(exc).startswith(f"{station}:7: "), str(exc)
        assert _user_files(root) == before
        return
    Ratings(loaded.database_path, loaded.name).close()
    assert loaded.database_path.read_bytes().startswith(b"SQLite format 3\x00")
    assert _user_files(root) == before
    assert (root / "recipes" / "tiny.yaml").read_bytes() == recipe_before


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("work_dir: .", "work_dir: {root} is the project folder"),
        ("work_dir: recipes", "work_dir: {root}/recipes is the station folder"),
        ("work_dir: tracks", "work_dir: {root}/tracks holds files lofictl did not write there (mine.txt)"),
        ("work_dir: '~'", "work_dir: '~': lofictl does not expand ~ (a home folder)"),
        (
            "work_dir: sounds",
            "work_dir: {root}/sounds holds files lofictl did not write there (bed.wav, history/2.png)",
        ),
        ("database: recipes/tiny.yaml", "database: {root}/recipes/tiny.yaml is the station file or one of its"),
        ("database: empty.db", "database: {root}/empty.db is an empty file, not a SQLite database"),
        ("database: notes.db", "database: {root}/notes.db is not a SQLite database"),
    ],
)
def test_validate_names_the_line_and_exits_2(tmp_path, extra, expected):
    root = _project(tmp_path)
    station = root / "recipes" / "st.yaml"
    station.write_text(STATION.format(extra=extra))
    done = run_lofictl("validate", "recipes/st.yaml", cwd=root)
    assert done.returncode == 2
    assert f"recipes/st.yaml:7: {expected.format(root=root)}" in " ".join(done.stderr.split()), done.stderr


def test_a_work_folder_marked_by_another_station_is_refused(tmp_path):
    root = _project(tmp_path)
    first = root / "recipes" / "one.yaml"
    first.write_text(STATION.format(extra="work_dir: build/radio/shared"))
    loaded = load_station(first)
    folder = WorkFolder(loaded.work_dir, 1, loaded.owner)
    folder.open()
    folder.close()
    second = root / "recipes" / "two.yaml"
    second.write_text(STATION.format(extra="work_dir: build/radio/shared"))
    with pytest.raises(LofictlError, match="is the work folder of recipes/one.yaml, not of recipes/two.yaml"):
        load_station(second)


def test_a_symlinked_work_folder_is_refused(tmp_path):
    root = _project(tmp_path)
    os.symlink(root / "user", root / "link")
    station = root / "recipes" / "st.yaml"
    station.write_text(STATION.format(extra="work_dir: link"))
    with pytest.raises(LofictlError, match="symbolic link|holds files"):
        load_station(station)
