"""A content-addressed stage cache, in the manner of DVC's run-cache.

    .lofictl-cache/
      objects/ab/cdef…        file contents, named by their sha256
      stages/<key>.json       one finished stage: {"stage": ..., "outputs": {name: sha256}, "meta": {...}},
                              named by the stage key salted with the stage's source digest
                              (safety.fingerprints), so code edited since is never served; also
                              what a stage keeps under a key of its own (the export's delivered
                              stems, the mix's pre-master), pruned like any entry
      state.json              sha256 of files by path and (size, mtime, ctime, inode), so a
                              SoundFont is hashed once, not on every build
      pins/<pid>-<n>.pin      objects a running build still needs (an album's masters between
                              its tasks); prune keeps them while the build holds the file's lock
      memo/<key>.json         small values costly to compute (a kit's digest), by what they depend on
      jax/                    JAX's compiled sampling programs (models.nn.compilation_cache_dir) and the
                              samplers' traced programs (models.nn.exported)

When is a file "unchanged"? When its size, mtime, ctime and inode are those recorded with its
hash. Tools can put an old mtime back (`touch -r`, an editor that keeps it), but no user tool
can set ctime: any write or rename gives the file a new one. So a hand-edited stem is rehashed,
and a folder copied or checked out anew is rehashed once.

Every write goes to a temporary file that is renamed into place, so a killed build leaves either
a whole entry or none; so do concurrent writers (two workers storing the same object write the
same bytes under the same name). A stage entry's mtime says when it was last used (lookup
touches it), so `prune` can drop the least recently used entries, then the objects no entry
needs, until the cache fits a size cap. Entries are checked against their hash when restored; a corrupt one is
dropped with a warning and the stage runs again. A cache that cannot be written (read-only disk)
turns itself off with one warning: the build still works.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from lofictl.digests import canonical_json, sha256_bytes, sha256_file
from lofictl.errors import warn
from lofictl.safety import atomic

CACHE_DIR_NAME = ".lofictl-cache"
PINS_DIR = "pins"
MEMO_DIR = "memo"
_pin_numbers = itertools.count()


def stage_key(stage: str, inputs: dict) -> str:
    return sha256_bytes(canonical_json({"stage": stage, "inputs": inputs}).encode())


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
        self.asked_off = not enabled  # --no-cache: say so when a stage runs for no other reason
        self.reads = True  # False: store results but restore nothing (a last resort after corruption)
        self._state: dict[str, dict] | None = None
        self._state_dirty = False
        # file_sha256 is also asked from a build's background thread (pipeline.background: the
        # SoundFonts hashed while compose runs): the remembered hashes change under this lock.
        self._state_lock = threading.Lock()
        self.pin_file: Path | None = None  # while set, every object looked up or stored is pinned

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
        from lofictl.safety.fingerprints import source_digest

        return sha256_bytes(f"{key}:{source_digest(stage)}".encode())

    # --- file hashes, remembered by (size, mtime) --------------------------------------------

    def file_sha256(self, path: Path) -> str:
        path = Path(path).resolve()
        stamp = _stamp(path)
        with self._state_lock:
            known = self._load_state().get(str(path))
        if (
            isinstance(known, dict)
            and all(known.get(k) == v for k, v in stamp.items())
            and isinstance(known.get("sha256"), str)
        ):
            return known["sha256"]
        digest = sha256_file(path)  # outside the lock: a SoundFont takes a while
        with self._state_lock:
            self._load_state()[str(path)] = {**stamp, "sha256": digest}
            self._state_dirty = True
        return digest

    def remember(self, path: Path, digest: str) -> None:
        """Record a hash already known (a file just written), so the next check needn't read it."""
        path = Path(path).resolve()
        with self._state_lock:
            self._load_state()[str(path)] = {**_stamp(path), "sha256": digest}
            self._state_dirty = True

    def _state_file(self) -> Path:
        assert self.root is not None  # an enabled cache has a folder
        return self.root / "state.json"

    def _load_state(self) -> dict:
        if self._state is None:
            self._state = {}
            if self.enabled:
                try:
                    self._state = json.loads(self._state_file().read_text())
                except (OSError, ValueError):
                    self._state = {}
                if not isinstance(self._state, dict):
                    self._state = {}
        return self._state

    def save_state(self) -> None:
        if self.enabled and self._state_dirty and self._state is not None:
            try:
                atomic.write_bytes(self._state_file(), canonical_json(self._state).encode())
                self._state_dirty = False
            except OSError as exc:
                self._disable(exc)

    def miss_reason(self) -> str:
        """Why a stage whose inputs did not change is not restored."""
        if self.asked_off:
            return "--no-cache (every stage runs)"
        if not self.enabled:
            return "the cache is off (it cannot be written)"
        if not self.reads:
            return "the cache is being rebuilt (it was damaged)"
        return "not in the cache (cleared, or lofictl's code was edited since)"

    # --- memos: small values costly to compute, remembered by what they depend on --------------

    def memo(self, kind: str, depends_on: dict, compute) -> str:
        """compute(), a string, remembered in memo/ under the hash of `kind` and `depends_on`
        (everything the value depends on: code digest, library versions, parameters). A missing
        or damaged memo is computed again; with the cache off nothing is remembered."""
        if not self.enabled:
            return compute()
        assert self.root is not None
        path = self.root / MEMO_DIR / f"{stage_key(kind, depends_on)}.json"
        try:
            value = json.loads(path.read_text()).get("value")
            if isinstance(value, str):
                return value
        except (OSError, ValueError, AttributeError):
            pass
        value = compute()
        try:
            atomic.write_bytes(path, canonical_json({"kind": kind, "value": value}).encode())
        except OSError as exc:
            self._disable(exc)
        return value

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
            self.pin(entry.outputs.values())  # before the objects are checked: a prune keeps them
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
            try:
                os.utime(path)  # used now: the last to go when the cache is pruned
            except OSError:
                pass
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

    def store(
        self,
        key: str,
        stage: str,
        files: dict[str, Path],
        meta: dict | None = None,
        digests: dict | None = None,
        *,
        move: bool = False,
    ) -> None:
        """Record a finished stage: its output files go in as objects, then the entry. `digests`:
        the files' sha256 when the caller has them already (a stem is 28 MB: hashing it twice costs).
        `move`: the files are temporary ones the caller would delete: each is renamed into its
        object instead of copied (copied when the cache is on another filesystem); the caller
        deletes what is left (a file whose object was there already)."""
        if not self.enabled:
            return
        try:
            outputs = {}
            for name, path in sorted(files.items()):
                digest = digests[name] if digests is not None else sha256_file(path)
                self.pin([digest])  # before the entry that names it exists
                target = self._object_path(digest)
                if not target.is_file():
                    self._put(path, target, move)
                outputs[name] = digest
            record = {"stage": stage, "outputs": outputs, "meta": meta or {}}
            atomic.write_bytes(
                self._stage_path(self.entry_key(key, stage)),
                (json.dumps(record, indent=1, sort_keys=True) + "\n").encode(),
            )
        except OSError as exc:
            self._disable(exc)

    @staticmethod
    def _put(path: Path, target: Path, move: bool) -> None:
        """A whole file at target, or none: a rename is atomic as the copy's temporary file is."""
        if move:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(path, target)
                return
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        with atomic.replacing(target) as temporary:
            shutil.copyfile(path, temporary)

    # --- pins: what a running build still needs ---------------------------------------------

    def pin(self, digests) -> None:
        """Add objects to the pin file (when there is one): a prune that reads it keeps them."""
        if self.pin_file is None:
            return
        try:
            with open(self.pin_file, "a", encoding="ascii") as handle:
                handle.write("".join(f"{d}\n" for d in sorted(set(digests))))
        except OSError:
            pass  # a worker that cannot see the pin file: a pruned object is remade then

    @contextlib.contextmanager
    def pinning(self):
        """While the block runs, `prune` (in any process on this machine) keeps the objects given
        to the `pin` function it yields, and every object this cache looks up or stores (pinned
        before it is checked or written, so a prune between the two cannot take it), and the
        entries that name them. Other processes pin into the same file through `pin_file`
        (an album's tasks: `album.tasks.CacheSpec.pins`). The pin file is locked
        for as long as the build holds it: one left by a killed build is unlocked, and the next
        prune deletes it."""
        if not self.enabled:
            yield self.pin  # no pin file: pinning does nothing
            return
        assert self.root is not None
        path = self.root / PINS_DIR / f"{os.getpid()}-{next(_pin_numbers)}.pin"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a", encoding="ascii")
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as exc:
            self._disable(exc)
            yield self.pin  # no pin file: pinning does nothing
            return

        previous, self.pin_file = self.pin_file, path
        try:
            yield self.pin
        finally:
            self.pin_file = previous
            path.unlink(missing_ok=True)
            handle.close()

    def pinned(self) -> set[str]:
        """Objects held by running builds' pins; pin files nobody holds are deleted."""
        found: set[str] = set()
        if self.root is None:
            return found
        for path in sorted((self.root / PINS_DIR).glob("*.pin")):
            try:
                with open(path, encoding="ascii", errors="replace") as handle:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    except OSError:  # held: a build is running
                        found.update(line.strip() for line in handle if len(line.strip()) == 64)
                        continue
                path.unlink(missing_ok=True)  # nobody holds it: left by a killed build
            except OSError:
                continue
        return found

    # --- lofictl cache info|clear ----------------------------------------------------------

    def info(self) -> dict:
        if self.root is None or not self.root.exists():
            return {"path": str(self.root), "objects": 0, "stages": 0, "bytes": 0}
        objects = [p for p in (self.root / "objects").rglob("*") if p.is_file()]
        stages = list((self.root / "stages").glob("*.json"))
        return {
            "path": str(self.root),
            "objects": len(objects),
            "stages": len(stages),
            "bytes": sum(p.stat().st_size for p in objects),
        }

    def prune(self, max_bytes: int, *, temp_age_s: float = 3600.0) -> dict:
        """Shrink the cache to at most max_bytes of objects, least recently used entries first.

        Objects no entry refers to go first, then whole entries in order of last use with the
        objects only they needed; what a running build has pinned stays (`pinning`). Temporary files of writes older than temp_age_s (a killed
        build's) are removed too. Returns what was removed and what is kept.
        """
        import time

        if self.root is None or not self.root.exists():
            return {"entries_removed": 0, "objects_removed": 0, "bytes_freed": 0, "bytes_kept": 0}
        now = time.time()
        for stale in list(self.root.rglob(".*.tmp")):
            try:
                if now - stale.stat().st_mtime > temp_age_s:
                    stale.unlink()
            except OSError:
                pass
        entries = []  # (last used, path, object digests)
        for path in (self.root / "stages").glob("*.json"):
            try:
                outputs = json.loads(path.read_text()).get("outputs", {})
                entries.append((path.stat().st_mtime, path.name, path, set(outputs.values())))
            except (OSError, ValueError, AttributeError):
                path.unlink(missing_ok=True)  # damaged: useless to keep
        sizes = {}
        for obj in (self.root / "objects").rglob("*"):
            if obj.is_file() and not obj.name.startswith("."):
                sizes[obj.parent.name + obj.name] = obj.stat().st_size
        users: dict[str, int] = {}
        for _, _, _, digests in entries:
            for digest in digests:
                users[digest] = users.get(digest, 0) + 1
        pinned = self.pinned()  # in use by a running build: kept, with the entries naming them
        doomed = {digest for digest in sizes if digest not in users and digest not in pinned}
        total = sum(size for digest, size in sizes.items() if digest not in doomed)
        removed_entries = 0
        for _, _, path, digests in sorted(entries, key=lambda e: (e[0], e[1])):
            if total <= max_bytes:
                break
            if digests & pinned:
                continue
            path.unlink(missing_ok=True)
            removed_entries += 1
            for digest in digests:
                users[digest] -= 1
                if users[digest] == 0 and digest in sizes:
                    doomed.add(digest)
                    total -= sizes[digest]
        doomed -= self.pinned()  # read again: a build may have pinned more while this one planned
        freed = 0
        for digest in doomed:
            try:
                self._object_path(digest).unlink()
                freed += sizes[digest]
            except OSError:
                pass
        return {
            "entries_removed": removed_entries,
            "objects_removed": len(doomed),
            "bytes_freed": freed,
            "bytes_kept": total,
        }

    def clear(self) -> None:
        if self.root is not None and self.root.exists():
            shutil.rmtree(self.root)


_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(text: str) -> int:
    """'2GB', '500 MB', '1.5G', '3GiB' or a number of bytes → bytes."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match[2].lower() if match else None
    if not match or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size (write it like 2GB, 500MB or 1.5GiB)")
    return int(float(match[1]) * _UNITS[unit])
