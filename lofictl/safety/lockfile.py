"""The shape of a lock file, checked before `build`, `diff` or `verify` read any of it.

A lock is JSON a person may edit, merge badly or truncate. Every field those commands read is
checked for its type here, so a damaged lock is one line naming the field, not a traceback.
Unknown fields are allowed (newer lofictl versions may add some).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from lofictl.errors import LofictlError

MAX_LOCK_BYTES = 256 << 20


class LockTooNew(LofictlError):
    """A lock written by a newer lofictl: never overwritten by an older one."""


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class StageRecord(_Open):
    key: str
    inputs: dict[str, Any]
    outputs: dict[str, str] = {}
    meta: dict[str, Any] = {}


class OutputRecord(_Open):
    sha256: str
    bytes: int | None = None


class RecipeRecord(_Open):
    file: str | None = None
    sha256: str | None = None
    overrides: list[str] = []


class LockShape(_Open):
    lofictl_lock: int
    lofictl: str | None = None
    recipe: RecipeRecord = RecipeRecord()
    libraries: dict[str, str] = {}
    instruments: dict[str, dict[str, Any]] = {}
    overlays: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}
    effect_files: dict[str, dict[str, Any]] = {}
    midi_only: bool = False
    stages: dict[str, StageRecord] = {}
    outputs: dict[str, OutputRecord] = {}


class AlbumStageRecord(StageRecord):
    inputs: dict[str, Any] = {}  # album locks of format 1 kept none


class AlbumRecord(_Open):
    file: str | None = None
    sha256: str | None = None


class AlbumTrackRecord(_Open):
    name: str
    recipe: str | None = None
    recipe_sha256: str | None = None
    master_sha256: str | None = None


class AlbumLockShape(_Open):
    lofictl_album_lock: int
    lofictl: str | None = None
    album: AlbumRecord = AlbumRecord()
    tracks: list[AlbumTrackRecord] = []
    libraries: dict[str, str] = {}
    stages: dict[str, AlbumStageRecord] = {}
    outputs: dict[str, OutputRecord]


# The format key of each kind of lock, and the shape its readers rely on.
SHAPES: dict[str, type[_Open]] = {"lofictl_lock": LockShape, "lofictl_album_lock": AlbumLockShape}


def read_lock(path: Path, newest_format: int, kind: str = "lofictl_lock") -> dict:
    """The lock as a dict, with every field the commands read of the right type. `kind`: its
    format key (a recipe's `lofictl_lock`, an album's `lofictl_album_lock`)."""
    try:
        if path.stat().st_size > MAX_LOCK_BYTES:
            raise LofictlError("is far larger than a lock file can be; delete it and build again", file=path)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise LofictlError(f"cannot read the lock file: {reason[:200]}", file=path) from None
    version = data.get(kind) if isinstance(data, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        what = "album lock" if kind == "lofictl_album_lock" else "lock file"
        raise LofictlError(f"not a lofictl {what} (no {kind} version)", file=path)
    if version > newest_format:
        raise LockTooNew(
            f"lock format {version} is newer than this lofictl reads ({newest_format}); "
            "upgrade lofictl or delete the lock to start over",
            file=path,
        )
    try:
        SHAPES[kind].model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise LofictlError(
            f"the lock file is damaged at {where}: {error['msg'].lower()}; delete it and build "
            "again (or restore it from git)",
            file=path,
        ) from None
    return data
