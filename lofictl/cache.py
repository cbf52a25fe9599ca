"""A content-addressed stage cache, in the manner of DVC's run-cache.

    .lofictl-cache/
      objects/ab/cdef…        file contents, named by their sha256
      stages/<key>.json       one finished stage: {"stage": ..., "outputs": {name: sha256}, "meta": {...}},
                              named by the stage key salted with the stage's source digest
                              (safety.fingerprints), so code edited since is never served
      state.json              sha256 of files by path and (size, mtime, ctime, inode), so a
                              SoundFont is hashed once, not on every build

When is a file "unchanged"? When its size, mtime, ctime and inode are those recorded with its
hash. Tools can put an old mtime back (`touch -r`, an editor that keeps it), but no user tool
can set ctime: any write or rename gives the file a new one. So a hand-edited stem is rehashed,
and a folder copied or checked out anew is rehashed once.

Every write goes to a temporary file that is renamed into place, so a killed build leaves either
a whole entry or none. Entries are checked against their hash when restored; a corrupt one is
dropped with a warning and the stage runs again. A cache that cannot be written (read-only disk)
turns itself off with one warning: the build still works.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE_DIR_NAME = ".lofictl-cache"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(value) -> str:
    """One spelling of a value: sorted keys, no spaces, so equal inputs hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def stage_key(stage: str, inputs: dict) -> str:
    return sha256_bytes(canonical_json({"stage": stage, "inputs": inputs}).encode())


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns, "inode": stat.st_ino}


@dataclass
class Entry:
    key: str
    stage: str
    outputs: dict[str, str]  # output name -> sha256
    meta: dict


class Cache:
    def __init__(self, root: Path | None, *, enabled: bool = True):
        self.root = root
        self.enabled = enabled and root is not None
        self.reads = True  # False: store results but restore nothing (a last resort after corruption)
        self._state: dict[str, dict] | None = None
        self._state_dirty = False

    # --- plumbing -------------------------------------------------------------------------

    def _disable(self, exc: OSError) -> None:
        if self.enabled:
            warn(f"cache {self.root} cannot be written ({exc.strerror or exc}); building without it")
        self.enabled = False

    def _object_path(self, digest: str) -> Path:
        assert self.root is not None
        return self.root / "objects" / digest[:2] / digest[2:]

    def _stage_path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / "stages" / f"{key}.json"

    @staticmethod
    def entry_key(key: str, stage: str) -> str:
        """The stage key salted with the source digest of the stage's code (not in the lock)."""
        from .safety.fingerprints import source_digest

        return sha256_bytes(f"{key}:{source_digest(stage)}".encode())

    # --- file hashes, remembered by (size, mtime) --------------------------------------------

    def file_sha256(self, path: Path) -> str:
        path = Path(path).resolve()
        stamp = _stamp(path)
        state = self._load_state()
        known = state.get(str(path))
        if isinstance(known, dict) and all(known.get(k) == v for k, v in stamp.items()) \
                and isinstance(known.get("sha256"), str):
            return known["sha256"]
        digest = sha256_file(path)
        state[str(path)] = {**stamp, "sha256": digest}
        self._state_dirty = True
        return digest

    def remember(self, path: Path, digest: str) -> None:
        """Record a hash already known (a file just written), so the next check needn't read it."""
        path = Path(path).resolve()
        self._load_state()[str(path)] = {**_stamp(path), "sha256": digest}
        self._state_dirty = True

    def _load_state(self) -> dict:
        if self._state is None:
            self._state = {}
            if self.enabled:
                try:
                    self._state = json.loads((self.root / "state.json").read_text())
                except (OSError, ValueError):
                    self._state = {}
                if not isinstance(self._state, dict):
                    self._state = {}
        return self._state

    def save_state(self) -> None:
        if self.enabled and self._state_dirty and self._state is not None:
            try:
                _atomic_write_bytes(self.root / "state.json", canonical_json(self._state).encode())
                self._state_dirty = False
            except OSError as exc:
                self._disable(exc)

    # --- stages ---------------------------------------------------------------------------

    def lookup(self, key: str, stage: str) -> Entry | None:
        """A finished stage whose every output object is present, or None."""
        if not self.enabled or not self.reads:
            return None
        key = self.entry_key(key, stage)
        path = self._stage_path(key)
        try:
            data = json.loads(path.read_text())
            entry = Entry(key, data["stage"], dict(data["outputs"]), dict(data.get("meta", {})))
            if not all(isinstance(v, str) and len(v) == 64 for v in entry.outputs.values()):
                raise ValueError("not sha256 digests")
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, KeyError, TypeError):
            warn(f"cache entry {path.name} is damaged; discarding it and rebuilding")
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                self._disable(exc)
            return None
        if all(self._object_path(digest).is_file() for digest in entry.outputs.values()):
            return entry
        return None

    def restore(self, entry: Entry, name: str, destination: Path) -> bool:
        """Copy one output of a cached stage to destination, checking its hash on the way."""
        source = self._object_path(entry.outputs[name])
        destination.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        try:
            with open(source, "rb") as reader, open(destination, "wb") as writer:
                for chunk in iter(lambda: reader.read(1 << 20), b""):
                    digest.update(chunk)
                    writer.write(chunk)
        except OSError:
            destination.unlink(missing_ok=True)
            return False
        if digest.hexdigest() != entry.outputs[name]:
            warn(f"cache object for {name} of stage {entry.stage} is corrupt; discarding it and rebuilding")
            destination.unlink(missing_ok=True)
            source.unlink(missing_ok=True)
            self._stage_path(entry.key).unlink(missing_ok=True)
            return False
        return True

    def object_size(self, digest: str) -> int:
        return self._object_path(digest).stat().st_size

    def read_bytes(self, entry: Entry, name: str) -> bytes | None:
        """One output as bytes, or None when it is missing or corrupt (then the entry is dropped)."""
        source = self._object_path(entry.outputs[name])
        try:
            data = source.read_bytes()
        except OSError:
            return None
        if sha256_bytes(data) != entry.outputs[name]:
            warn(f"cache object for {name} of stage {entry.stage} is corrupt; discarding it and rebuilding")
            source.unlink(missing_ok=True)
            self._stage_path(entry.key).unlink(missing_ok=True)
            return None
        return data

    def store(self, key: str, stage: str, files: dict[str, Path], meta: dict | None = None) -> None:
        """Record a finished stage: its output files go in as objects, then the entry."""
        if not self.enabled:
            return
        try:
            outputs = {}
            for name, path in sorted(files.items()):
                digest = sha256_file(path)
                target = self._object_path(digest)
                if not target.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".obj.", suffix=".tmp")
                    os.close(fd)
                    try:
                        shutil.copyfile(path, temporary)
                        os.replace(temporary, target)
                    except BaseException:
                        Path(temporary).unlink(missing_ok=True)
                        raise
                outputs[name] = digest
            record = {"stage": stage, "outputs": outputs, "meta": meta or {}}
            _atomic_write_bytes(self._stage_path(self.entry_key(key, stage)), (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
        except OSError as exc:
            self._disable(exc)

    # --- lofictl cache info|clear ----------------------------------------------------------

    def info(self) -> dict:
        if self.root is None or not self.root.exists():
            return {"path": str(self.root), "objects": 0, "stages": 0, "bytes": 0}
        objects = [p for p in (self.root / "objects").rglob("*") if p.is_file()]
        stages = list((self.root / "stages").glob("*.json"))
        return {"path": str(self.root), "objects": len(objects), "stages": len(stages),
                "bytes": sum(p.stat().st_size for p in objects)}

    def clear(self) -> None:
        if self.root is not None and self.root.exists():
            shutil.rmtree(self.root)
