"""A listening test's answers in SQLite (the radio's way: plain DB-API, `?` placeholders, WAL).

A listener who answers a trial again replaces their earlier answer to it (one answer per
listener and trial), in one transaction.
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

from lofictl.audition.stats import Score, Vote
from lofictl.radio.db import open_database, utc_now

SCHEMA_VERSION = 1


class Answers:
    def __init__(self, path: Path, test: str, *, read_only: bool = False):
        self.path = path
        self.test = test
        self._lock = threading.Lock()
        self._db = open_database(
            path,
            resources.files(__package__).joinpath("schema.sql").read_text(),
            SCHEMA_VERSION,
            read_only=read_only,
            missing="no answers yet: {path} does not exist (run the test first)",
            kind="an answers database",
        )

    def _seen(self, listener: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO listeners (test, listener, first_seen) VALUES (?, ?, ?)",
            (self.test, listener, utc_now()),
        )

    def vote(self, listener: str, trial: str, item: int, shown: tuple[str, str], winner: str) -> None:
        loser = shown[1] if winner == shown[0] else shown[0]
        with self._lock, self._db:
            self._seen(listener)
            self._db.execute(
                "DELETE FROM ab_answers WHERE test = ? AND listener = ? AND trial = ?", (self.test, listener, trial)
            )
            self._db.execute(
                "INSERT INTO ab_answers (test, listener, trial, item, shown_a, shown_b, winner, loser, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.test, listener, trial, item, shown[0], shown[1], winner, loser, utc_now()),
            )

    def scores(self, listener: str, trial: str, item: int, rows: list[tuple[str, str, float]]) -> None:
        with self._lock, self._db:
            self._seen(listener)
            self._db.execute(
                "DELETE FROM mushra_answers WHERE test = ? AND listener = ? AND trial = ?", (self.test, listener, trial)
            )
            self._db.executemany(
                "INSERT INTO mushra_answers (test, listener, trial, item, system, role, score, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(self.test, listener, trial, item, system, role, score, utc_now()) for system, role, score in rows],
            )

    def answered(self, listener: str) -> set[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT trial FROM ab_answers WHERE test = ? AND listener = ? "
                "UNION SELECT trial FROM mushra_answers WHERE test = ? AND listener = ?",
                (self.test, listener, self.test, listener),
            ).fetchall()
        return {row[0] for row in rows}

    def votes(self) -> list[Vote]:
        with self._lock:
            rows = self._db.execute(
                "SELECT listener, winner, loser FROM ab_answers WHERE test = ? ORDER BY id", (self.test,)
            ).fetchall()
        return [Vote(*row) for row in rows]

    def all_scores(self) -> list[Score]:
        with self._lock:
            rows = self._db.execute(
                "SELECT listener, trial, system, role, score FROM mushra_answers WHERE test = ? ORDER BY id",
                (self.test,),
            ).fetchall()
        return [Score(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
