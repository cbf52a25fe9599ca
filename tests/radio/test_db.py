"""Ratings in SQLite and `lofictl radio stats` over them (table, JSON, plot)."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from lofictl.errors import LofictlError
from lofictl.radio.db import Ratings, Writer
from lofictl.radio.producer import ReadyTrack
from lofictl.radio.stats import summarize
from support import run_lofictl


def _track(number: int, recipe: str, tempo: float, key: str, pattern: str) -> ReadyTrack:
    return ReadyTrack(
        number=number,
        name=f"{recipe}-{number}",
        title=f"T{number}",
        recipe=f"{recipe}.yaml",
        seed=number * 11,
        key=key,
        camelot="8A",
        tempo=tempo,
        time_signature="4/4",
        bars=8,
        bar_frames=88200.0,
        frames=800000,
        sample_rate=44100,
        duration_s=18.1,
        folder="",
        master="",
        pianoroll="",
        loudness_lufs=-14.0,
        true_peak_dbtp=-1.0,
        build_s=2.0,
        patterns={"drums": pattern},
        presets={"chords": "Electric Piano 1"},
    )


def _fill(db: Ratings) -> None:
    db.track_built(_track(0, "rainy", 72, "A minor", "boom-bap"))
    db.track_built(_track(1, "sunday", 81, "C major", "lazy"))
    db.track_failed(2, "boom")
    db.track_built(_track(3, "rainy", 74, "E minor", "lazy"))
    for number in (0, 1, 3, 0):
        play = db.play_started(number, "track" if number else "replay")
        db.play_ended(play, 17.5, "next")
    db.rate(0, "like", 4.2, "alice")
    db.rate(0, "like", 9.0, "bob")
    assert not db.rate(0, "like", 12.0, "bob")  # one like per listener and track
    db.rate(1, "skip", 3.0, "alice")
    db.rate(3, "skip", 7.0, "bob")
    db.listened(0, "alice", 17.5)
    db.listened(1, "alice", 3.0)


def test_ratings_are_rows_a_plain_sql_client_reads(tmp_path):
    db = Ratings(tmp_path / "radio.db", "test")
    _fill(db)
    assert db.likes(0) == 2 and db.likes(1) == 0 and db.last_number() == 3 and db.failures() == 1
    rows = {row["number"]: row for row in db.track_rows()}
    assert rows[0]["plays"] == 2 and rows[0]["likes"] == 2 and rows[0]["listened_s"] == 17.5
    assert rows[1]["skips"] == 1 and rows[1]["skip_at"] == 3.0
    db.close()
    raw = sqlite3.connect(tmp_path / "radio.db")
    assert raw.execute("SELECT kind, position_s, listener FROM ratings WHERE number = 1").fetchall() == [
        ("skip", 3.0, "alice")
    ]
    assert raw.execute("SELECT status, error FROM tracks WHERE number = 2").fetchone() == ("failed", "boom")
    assert raw.execute("SELECT version FROM schema_info").fetchone() == (1,)
    raw.close()
    again = Ratings(tmp_path / "radio.db", "test")  # reopening keeps the rows and the one version row
    assert again.last_number() == 3
    assert len(again._sql("SELECT * FROM schema_info")) == 1
    other = Ratings(tmp_path / "radio.db", "another station")
    assert other.last_number() is None and other.track_rows() == []


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "radio.db"
    path.write_text("hello, this is text")
    with pytest.raises(LofictlError, match="not a ratings database"):
        Ratings(path, "test")
    with pytest.raises(LofictlError, match="no ratings yet"):
        Ratings(tmp_path / "none.db", "test", read_only=True)


def test_summaries_by_recipe_and_setting(tmp_path):
    db = Ratings(tmp_path / "radio.db", "test")
    _fill(db)
    rows = db.track_rows()
    by_recipe = {g["recipe"]: g for g in summarize(rows, "recipe")}
    assert by_recipe["rainy.yaml"]["plays"] == 3 and by_recipe["rainy.yaml"]["likes"] == 2
    assert by_recipe["rainy.yaml"]["like_rate"] == pytest.approx(2 / 3)
    assert by_recipe["sunday.yaml"]["skip_rate"] == 1.0 and by_recipe["sunday.yaml"]["mean_skip_s"] == 3.0
    assert [g["pattern"] for g in summarize(rows, "pattern")] == ["boom-bap", "lazy"]  # best liked first
    assert {g["tempo"] for g in summarize(rows, "tempo")} == {"72-75 BPM", "80-83 BPM"}


def test_stats_command_prints_tables_and_writes_a_plot(project, write_recipe):
    write_recipe()
    station = project / "recipes" / "station.yaml"
    station.write_text(
        "station: 1\ntitle: Test FM\nseed: 1\nrecipes: [{file: test_loop.yaml}]\ncrossfade: 1\n"
        "database: radio/test.db\n"
    )
    db = Ratings(project / "radio" / "test.db", "station")
    _fill(db)
    db.close()
    plot = project / "stats.png"
    run = run_lofictl("radio", "stats", station, "--plot", plot, cwd=project, env={"COLUMNS": "160"})
    assert run.returncode == 0, run.stderr
    assert "3 tracks played, 2 likes, 2 skips, 1 failed" in run.stdout
    assert "by recipe" in run.stdout and "rainy.yaml" in run.stdout and "boom-bap" in run.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    run = run_lofictl("radio", "stats", station, "--json", "--by", "key", cwd=project, check=True)
    report = json.loads(run.stdout)
    assert report["tracks_played"] == 3 and {g["key"] for g in report["by"]["key"]} == {"A minor", "C major", "E minor"}
    run = run_lofictl("radio", "stats", station, "--by", "colour", cwd=project)
    assert run.returncode == 2 and "--by 'colour': choose from recipe, tempo" in run.stderr


# --- the writer: the station's database work off the real-time thread ---------------------------


def test_the_writer_runs_jobs_in_order_and_close_flushes_every_one(tmp_path):
    ratings = Ratings(tmp_path / "r.db", "s")
    errors: list[str] = []
    writer = Writer(ratings, errors.append)
    release = threading.Event()
    writer.submit(lambda db: release.wait(10))  # hold the writer: everything after it is queued
    plays = [writer.play_started(n, "track") for n in range(40)]
    for n, play in enumerate(plays):
        writer.play_ended(play, n / 10, "next")
        writer.submit(lambda db, n=n: db.listened(n, None, 1.0))
    assert all(play.id is None for play in plays)  # queued, not written: the caller never waited
    release.set()
    writer.close()  # runs what is queued, then ends
    assert not errors
    with sqlite3.connect(tmp_path / "r.db") as db:
        rows = db.execute("SELECT id, number, seconds, ended_by FROM plays ORDER BY id").fetchall()
        listens = db.execute("SELECT COUNT(*) FROM listens").fetchone()[0]
    assert [(r[1], r[2], r[3]) for r in rows] == [(n, round(n / 10, 2), "next") for n in range(40)]
    assert [play.id for play in plays] == [r[0] for r in rows]
    assert listens == 40
    assert not writer.submit(lambda db: None)  # closed: dropped, and said so
    writer.close()  # again: nothing to do
    ratings.close()


def test_a_failing_job_is_reported_and_the_next_ones_still_run(tmp_path):
    ratings = Ratings(tmp_path / "r.db", "s")
    errors: list[str] = []
    writer = Writer(ratings, errors.append)
    writer.submit(lambda db: db._sql("INSERT INTO no_such_table VALUES (1)"))
    play = writer.play_started(3, "replay")
    writer.play_ended(play, 2.5, "stop")
    writer.close()
    assert len(errors) == 1 and "no_such_table" in errors[0] and errors[0].startswith("the ratings database failed")
    with sqlite3.connect(tmp_path / "r.db") as db:
        assert db.execute("SELECT number, kind, seconds, ended_by FROM plays").fetchall() == [
            (3, "replay", 2.5, "stop")
        ]
    ratings.close()
