"""A stage cache shared by many machines: the local cache in front of an fsspec store.

    lofictl album albums/x.yaml --scheduler tcp://host:8786 --cache s3://bucket/lofictl-cache
    lofictl album albums/x.yaml --cache file:///mnt/shared/lofictl-cache

Each process keeps its own local cache (the project's `.lofictl-cache`) and consults the shared
store behind it, in the manner of a DVC remote: a stage missing locally is looked up in the
store and its objects downloaded (each checked against its sha256 before it is used); a stage
stored locally is uploaded too, objects first and the entry last, so an entry in the store
always has its objects. Uploads go to a temporary name that is then moved into place, and
everything is named by its content, so any number of writers can share one store: two workers
storing the same result write the same bytes under the same name.

A plain folder on a shared file system needs none of this: give it as `--cache /mnt/shared/dir`
and every process uses it directly.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from lofictl.digests import sha256_file
from lofictl.errors import LofictlError, warn
from lofictl.pipeline.cache import Cache, Entry
from lofictl.safety import atomic


class _DamagedObject(Exception):
    """An object whose bytes do not hash to its name."""


def is_url(text: str) -> bool:
    return "://" in str(text)


class SharedCache(Cache):
    def __init__(self, local_root: Path, url: str):
        super().__init__(local_root)
        import fsspec

        try:
            self.fs, self.remote = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise LofictlError(f"cannot open the shared cache {url}: {exc}", field="--cache") from None
        self.url = url
        self.remote = self.remote.rstrip("/")

    def _remote_object(self, digest: str) -> str:
        return f"{self.remote}/objects/{digest[:2]}/{digest[2:]}"

    def _remote_stage(self, key: str) -> str:
        return f"{self.remote}/stages/{key}.json"

    def _put_atomic(self, local: Path, remote: str) -> None:
        parent = remote.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        temporary = f"{parent}/.{remote.rsplit('/', 1)[1]}.{uuid.uuid4().hex}.tmp"
        self.fs.put_file(str(local), temporary)
        self.fs.mv(temporary, remote)

    def _download_object(self, digest: str) -> bool:
        """The object from the store into the local cache, checked; False when it is not there."""
        target = self._object_path(digest)
        if target.is_file():
            return True
        try:
            with atomic.replacing(target) as temporary:  # a damaged copy raises and is deleted
                self.fs.get_file(self._remote_object(digest), str(temporary))
                if sha256_file(temporary) != digest:
                    raise _DamagedObject
            return True
        except _DamagedObject:
            warn(f"shared cache object {digest[:12]} in {self.url} is damaged; ignoring it")
            return False
        except OSError:  # FileNotFoundError among them: not in the store
            return False

    def lookup(self, key: str, stage: str) -> Entry | None:
        entry = super().lookup(key, stage)
        if entry is not None or not self.enabled or not self.reads:
            return entry
        import json

        salted = self.entry_key(key, stage)  # the store names entries as the local cache does
        try:
            record = self.fs.cat_file(self._remote_stage(salted))
            outputs = dict(json.loads(record)["outputs"])
        except (FileNotFoundError, OSError, ValueError, KeyError, TypeError):
            return None
        if not all(self._download_object(digest) for digest in outputs.values()):
            return None
        try:
            atomic.write_bytes(self._stage_path(salted), record)  # the entry as the store has it
        except OSError as exc:
            self._disable(exc)
            return None
        return super().lookup(key, stage)

    def restore(self, entry: Entry, name: str, destination: Path) -> bool:
        self._download_object(entry.outputs[name])
        return super().restore(entry, name, destination)

    def read_bytes(self, entry: Entry, name: str) -> bytes | None:
        self._download_object(entry.outputs[name])
        return super().read_bytes(entry, name)

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
        super().store(key, stage, files, meta, digests, move=move)  # then uploaded from the local object
        entry = super().lookup(key, stage) if self.enabled else None
        if entry is None:
            return
        salted = self.entry_key(key, stage)
        try:
            for digest in sorted(set(entry.outputs.values())):
                if not self.fs.exists(self._remote_object(digest)):
                    self._put_atomic(self._object_path(digest), self._remote_object(digest))
            self._put_atomic(self._stage_path(salted), self._remote_stage(salted))  # the entry last
        except OSError as exc:
            warn(f"cannot write the shared cache {self.url} ({exc}); results stay in {self.root}")


def open_cache(local_root: Path, shared: str | None) -> Cache:
    """The local cache, with a shared fsspec store behind it when `shared` is a URL."""
    if shared is None:
        return Cache(local_root)
    if is_url(shared):
        return SharedCache(local_root, shared)
    return Cache(Path(shared))
