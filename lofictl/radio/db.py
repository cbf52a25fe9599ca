"""Ratings and plays in SQLite (the embedded default), through plain DB-API calls.

The schema (`schema.sql`) is standard SQL and every statement here uses `?` placeholders and
nothing SQLite-only, so a server database (PostgreSQL through psycopg, with `%s` placeholders)
can take over by giving `Ratings` another connection: see `_sql`.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

from lofictl.errors import LofictlError

SCHEMA_VERSION = 1


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def open_database(path: Path, schema: str, version: int, *, read_only: bool, missing: str, kind: str):
    """A SQLite connection shared by threads: read-only for reports (`missing` when there is no
    file yet), else created with `schema` in WAL mode (readers never block the writer); refused
    when it is not such a database or a newer lofictl wrote it. The radio's ratings and the
    listening tests' answers open theirs alike."""
    try:
        if read_only:
            if not path.is_file():
                raise LofictlError(missing.format(path=path))
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(schema)
            if db.execute("SELECT COUNT(*) FROM schema_info").fetchone()[0] == 0:
                db.execute("INSERT INTO schema_info (version) VALUES (?)", (version,))
            db.commit()
        found = db.execute("SELECT MAX(version) FROM schema_info").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise LofictlError(f"{path} is not {kind} that can be used: {exc}") from None
    if found is not None and found > version:
        raise LofictlError(f"{path} was written by a newer lofictl (schema {found}); upgrade lofictl")
    return db


def _pairs(mapping: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(mapping.items()))


class Ratings:
    """One station's rows in a ratings database; safe to use from several threads."""

    def __init__(self, path: Path, station: str, *, read_only: bool = False):
        self.path = path
        self.station = station
        self._lock = threading.Lock()
        self._db = open_database(
            path,
            resources.files(__package__).joinpath("schema.sql").read_text(),
            SCHEMA_VERSION,
            read_only=read_only,
            missing="no ratings yet: {path} does not exist (play the station first)",
            kind="a ratings database",
        )

    def _sql(self, statement: str, args: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            cursor = self._db.execute(statement, tuple(args))
            rows = cursor.fetchall()
            self._db.commit()
            return rows

    def _insert(self, statement: str, args: Iterable[Any]) -> int:
        """An INSERT; the new row's id (DB-API lastrowid; RETURNING id on a server database)."""
        with self._lock:
            cursor = self._db.execute(statement, tuple(args))
            self._db.commit()
            return cursor.lastrowid

    # --- what the station writes ---------------------------------------------------------------

    def track_built(self, track) -> None:
        self._sql("DELETE FROM tracks WHERE station = ? AND number = ?", (self.station, track.number))
        self._sql(
            "INSERT INTO tracks (station, number, status, recipe, name, title, seed, key_name, camelot, tempo, "
            "patterns, presets, duration_s, loudness_lufs, build_s, built_at) "
            "VALUES (?, ?, 'built', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.station,
                track.number,
                track.recipe,
                track.name,
                track.title,
                track.seed,
                track.key,
                track.camelot,
                track.tempo,
                _pairs(track.patterns),
                _pairs(track.presets),
                track.duration_s,
                track.loudness_lufs,
                track.build_s,
                utc_now(),
            ),
        )

    def track_failed(self, number: int, message: str) -> None:
        self._sql("DELETE FROM tracks WHERE station = ? AND number = ?", (self.station, number))
        self._sql(
            "INSERT INTO tracks (station, number, status, error, built_at) VALUES (?, ?, 'failed', ?, ?)",
            (self.station, number, message[:2000], utc_now()),
        )

    def play_started(self, number: int, kind: str) -> int:
        return self._insert(
            "INSERT INTO plays (station, number, kind, started_at) VALUES (?, ?, ?, ?)",
            (self.station, number, kind, utc_now()),
        )

    def play_ended(self, play_id: int, seconds: float, ended_by: str) -> None:
        self._sql("UPDATE plays SET seconds = ?, ended_by = ? WHERE id = ?", (round(seconds, 2), ended_by, play_id))

    def rate(self, number: int, kind: str, position_s: float, listener: str | None) -> bool:
        """Record a like or skip; False if this listener already gave this track that rating."""
        if kind not in ("like", "skip"):
            raise ValueError(kind)
        if (
            listener is not None
            and self._sql(
                "SELECT COUNT(*) FROM ratings WHERE station = ? AND number = ? AND kind = ? AND listener = ?",
                (self.station, number, kind, listener),
            )[0][0]
        ):
            return False
        self._sql(
            "INSERT INTO ratings (station, number, kind, position_s, listener, at) VALUES (?, ?, ?, ?, ?, ?)",
            (self.station, number, kind, round(position_s, 2), listener, utc_now()),
        )
        return True

    def listened(self, number: int, listener: str | None, seconds: float) -> None:
        self._sql(
            "INSERT INTO listens (station, number, listener, seconds, at) VALUES (?, ?, ?, ?, ?)",
            (self.station, number, listener, round(seconds, 2), utc_now()),
        )

    # --- what the page and stats read ----------------------------------------------------------

    def likes(self, number: int) -> int:
        return self._sql(
            "SELECT COUNT(*) FROM ratings WHERE station = ? AND number = ? AND kind = 'like'", (self.station, number)
        )[0][0]

    def last_number(self) -> int | None:
        """The newest track number this station built or tried (a restart carries on after it)."""
        return self._sql("SELECT MAX(number) FROM tracks WHERE station = ?", (self.station,))[0][0]

    def track_rows(self) -> list[dict]:
        """Per built track that was played: its settings and what listeners did."""
        rows = self._sql(
            "SELECT t.number, t.recipe, t.title, t.key_name, t.camelot, t.tempo, t.patterns, t.presets, t.build_s, "
            "       t.duration_s, "
            "       (SELECT COUNT(*) FROM plays p WHERE p.station = t.station AND p.number = t.number) AS plays, "
            "       (SELECT COUNT(*) FROM ratings r WHERE r.station = t.station AND r.number = t.number "
            "            AND r.kind = 'like') AS likes, "
            "       (SELECT COUNT(*) FROM ratings r WHERE r.station = t.station AND r.number = t.number "
            "            AND r.kind = 'skip') AS skips, "
            "       (SELECT AVG(r.position_s) FROM ratings r WHERE r.station = t.station AND r.number = t.number "
            "            AND r.kind = 'skip') AS skip_at, "
            "       (SELECT SUM(l.seconds) FROM listens l WHERE l.station = t.station AND l.number = t.number) "
            "            AS listened_s "
            "FROM tracks t WHERE t.station = ? AND t.status = 'built' ORDER BY t.number",
            (self.station,),
        )
        names = (
            "number",
            "recipe",
            "title",
            "key",
            "camelot",
            "tempo",
            "patterns",
            "presets",
            "build_s",
            "duration_s",
            "plays",
            "likes",
            "skips",
            "skip_at",
            "listened_s",
        )
        return [dict(zip(names, row)) for row in rows]

    def failures(self) -> int:
        return self._sql("SELECT COUNT(*) FROM tracks WHERE station = ? AND status = 'failed'", (self.station,))[0][0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --- the station's writes, off the real-time thread ----------------------------------------------


@dataclass
class Play:
    """A play's row, written by the `Writer`: `id` is set on the writer's thread when the row is in
    (the writer runs its jobs in order, so the play's end, queued later, finds it set)."""

    number: int
    kind: str
    id: int | None = None


class Writer:
    """The station's database work, in order, on a thread of its own.

    The pacer that feeds the encoder in real time only queues (a commit may wait on the disk for
    longer than the 0.5 s the encoder runs ahead). `close()` runs every job queued before it, then
    ends the thread: nothing queued is lost on stop. A job that fails is reported to `on_error`
    (the station stops, exit 1, as for any database that fails) and the next job still runs.
    """

    def __init__(self, ratings: Ratings, on_error: Callable[[str], None]):
        self.ratings = ratings
        self.on_error = on_error
        self._jobs: queue.SimpleQueue[Callable[[Ratings], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _closed against a submit racing close()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="radio-db-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[Ratings], None]) -> bool:
        """Queue a job (it gets the Ratings); False once the writer is closed (the job is dropped)."""
        with self._lock:
            if self._closed:
                return False
            self._jobs.put(job)
            return True

    def play_started(self, number: int, kind: str) -> Play:
        play = Play(number, kind)

        def insert(ratings: Ratings) -> None:
            play.id = ratings.play_started(number, kind)

        self.submit(insert)
        return play

    def play_ended(self, play: Play, seconds: float, ended_by: str) -> None:
        def update(ratings: Ratings) -> None:
            if play.id is not None:  # None: its insert failed (reported then)
                ratings.play_ended(play.id, seconds, ended_by)

        self.submit(update)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job(self.ratings)
            except Exception as exc:  # noqa: BLE001 - reported; the jobs after it still run
                self.on_error(f"the ratings database failed: {type(exc).__name__}: {exc}")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, timeout: float = 60.0) -> None:
        """Run what is queued, then end the thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
