"""Each gap a careless or hostile user found is one `file:line` error (exit 2) before anything
starts: titles that are not one line, a station whose tracks break the recipe limits, an album
of too many tracks, a cover that is a decompression bomb, a track number far out of range, and
a Dask scheduler with no worker."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from lofictl.errors import LofictlError
from support import ALBUM, ALBUM_RECIPE, run_lofictl, write_album

# Characters that would start a bogus line in a tag, a CUE sheet, chapters or a stream header.
CONTROL = ["\n", "\r", "\t", "\x1b[31m", "\x00", "\x7f", "\u2028", "\u2029", "\x85"]

STATION = """\
station: 1
title: {title}
seed: 5
recipes:
  - {{file: tiny.yaml}}
length: 8 bars
{extra}
"""


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar that reads back as `text`."""
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _station(root: Path, title: str = "Test FM", extra: str = "") -> Path:
    (root / "recipes").mkdir(parents=True, exist_ok=True)
    (root / "recipes" / "tiny.yaml").write_text(ALBUM_RECIPE)
    path = root / "recipes" / "st.yaml"
    path.write_text(STATION.format(title=_quoted(title), extra=extra))
    return path


@pytest.mark.parametrize("bad", CONTROL)
def test_a_title_must_be_one_line_everywhere_it_is_written(tmp_path, bad):
    from lofictl.album.schema import load_album
    from lofictl.radio.station import load_station
    from lofictl.recipe.load import load_recipe

    title = f"Late{bad}Nights"
    with pytest.raises(LofictlError) as info:
        load_station(_station(tmp_path, title))
    assert str(info.value).startswith(f"{tmp_path}/recipes/st.yaml:2: title: holds a control character")

    recipe = tmp_path / "recipes" / "bad.yaml"
    recipe.write_text(ALBUM_RECIPE.replace("title: Tiny Loop", f"title: {_quoted(title)}"))
    with pytest.raises(LofictlError) as info:
        load_recipe(recipe)
    assert str(info.value).startswith(f"{recipe}:2: title: holds a control character")

    album = write_album(tmp_path, ALBUM.format(extra="").replace("title: Test Album", f"title: {_quoted(title)}"))
    with pytest.raises(LofictlError, match=r"albums/test.yaml:2: title: holds a control character"):
        load_album(album)
    album = write_album(tmp_path, ALBUM.format(extra="").replace('title: "Loop {n}"', f"title: {_quoted(title)}"))
    with pytest.raises(LofictlError, match=r"albums/test.yaml:11: tracks.1.title: holds a control character"):
        load_album(album)


def test_titles_of_any_script_and_punctuation_are_fine(tmp_path):
    from lofictl.radio.station import load_station

    for title in ["ラジオ", "Радио", "☕ — late nights", "Café “Noir”"]:
        assert load_station(_station(tmp_path, title)).station.title == title


@pytest.mark.parametrize(
    "extra, expected",
    [
        (
            "vary: {tempo: {min: 20, max: 30}}\nlength: 10000 bars",
            "length: a track from tiny.yaml at 20 BPM would not be a recipe lofictl builds",
        ),
        (
            "vary: {tempo: {min: 250, max: 300}}\nlength: 4h",
            "length: a track from tiny.yaml at 250 BPM would not be a recipe lofictl builds",
        ),
    ],
)
def test_a_station_whose_tracks_break_the_recipe_limits_is_refused(tmp_path, extra, expected):
    path = _station(tmp_path, extra=extra)
    text = path.read_text().replace("length: 8 bars\n", "")
    path.write_text(text)
    done = run_lofictl("validate", path, cwd=tmp_path)
    assert done.returncode == 2
    line = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("length:"))) + 1
    assert f"st.yaml:{line}: {expected}" in " ".join(done.stderr.split()), done.stderr


@pytest.mark.parametrize("count, ok", [(99, True), (100, False), (1000, False)])
def test_an_album_holds_at_most_99_tracks(tmp_path, count, ok):
    from lofictl.album.schema import MAX_TRACKS, load_album

    entries = ["  - {recipe: recipes/tiny.yaml, count: 99}"] if count == 99 else []
    remaining = count
    while remaining > 0 and count != 99:
        entries.append(f"  - {{recipe: recipes/tiny.yaml, count: {min(100, remaining)}, name: t{remaining}}}")
        remaining -= 100
    text = "lofictl_album: 1\ntitle: Big\nartist: A\nyear: 2026\nseed: 1\ntracks:\n" + "\n".join(entries) + "\n"
    path = write_album(tmp_path, text)
    if ok:
        assert sum(t.count for t in load_album(path).album.tracks) == MAX_TRACKS
        return
    with pytest.raises(LofictlError) as info:
        load_album(path)
    assert str(info.value).startswith(f"{path}:6: tracks: {count} tracks; an album holds at most 99")


def _png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (its one IDAT holds a row: a bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [12_000, 30_000, 200_000])
def test_a_decompression_bomb_cover_is_a_clean_error(tmp_path, side):
    path = write_album(tmp_path, ALBUM.format(extra="cover: bomb.png"))
    (tmp_path / "bomb.png").write_bytes(_png(side, side))
    done = run_lofictl("album", path, cwd=tmp_path, env={"PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "albums/test.yaml:12: cover: bomb.png" in done.stderr, done.stderr
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["radio", "tracks", "recipes/st.yaml", "--from", "1000000000"],
        ["radio", "tracks", "recipes/st.yaml", "--from", "999999", "--count", "2"],
        ["radio", "keep", "recipes/st.yaml", "1000000000"],
        ["radio", "play", "recipes/st.yaml", "--start", "1000000000"],
    ],
)
def test_a_track_number_out_of_range_is_refused_at_once(tmp_path, args):
    _station(tmp_path)
    done = run_lofictl(*args, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert ": a station's tracks are numbered 0 to 999,999" in " ".join(done.stderr.split()), done.stderr


def test_the_last_track_number_is_computable(tmp_path):
    from lofictl.radio.schedule import MAX_TRACK, Schedule, check_track_number
    from lofictl.radio.station import load_station

    schedule = Schedule(load_station(_station(tmp_path)))
    assert schedule.plan(MAX_TRACK).number == MAX_TRACK
    with pytest.raises(LofictlError):
        check_track_number(MAX_TRACK + 1)
    with pytest.raises(LofictlError):
        schedule.plan(-1)


def test_validate_refuses_a_bomb_cover_too(tmp_path):
    path = write_album(tmp_path, ALBUM.format(extra="cover: bomb.png"))
    (tmp_path / "bomb.png").write_bytes(_png(50_000, 50_000))
    done = run_lofictl("validate", path, cwd=tmp_path)
    assert done.returncode == 2
    assert "albums/test.yaml:12: cover: bomb.png" in done.stderr, done.stderr


def test_an_album_on_a_scheduler_with_no_worker_gives_up_with_a_clear_line(monkeypatch):
    from lofictl.cluster import local_cluster, open_runner

    monkeypatch.setenv("LOFICTL_DASK_WAIT", "3")
    heard: list[str] = []
    with local_cluster(0) as cluster:  # a scheduler, and no worker
        with open_runner(scheduler=cluster.scheduler_address, log=heard.append) as runner:
            future = runner.submit(sum, [1, 2], key="lofictl-test-sum")
            with pytest.raises(
                LofictlError, match=r"no Dask worker joined the scheduler at tcp://127\.0\.0\.1:\d+ in 3 s"
            ):
                list(runner.as_completed([future]))
    assert heard and heard[0].startswith("waiting for a Dask worker on the scheduler at tcp://127.0.0.1:")
