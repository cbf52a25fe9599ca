"""The album's lock: what the album made (every file's hash) from what (each track's recipe,
seed and stage keys; each album stage's record, as the shared StageLog keeps it for a recipe).

    albums/<album>.lock.json   beside the album file, meant for git; build.json in the folder is the same

Written as a recipe's lock is (pipeline.lock.lock_text) and read through the shared lock reader
(safety.lockfile), which checks every field `verify` reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lofictl import __version__
from lofictl.album.schema import LoadedAlbum
from lofictl.digests import sha256_bytes, sha256_file

if TYPE_CHECKING:
    from lofictl.album.plan import TrackSpec
    from lofictl.pipeline.record import StageLog

# 2: the album's stages under the names the cache and safety.fingerprints know them by
# (album-cover, album-encode:NN, album-mix, album-encode:mix, album-video), with their inputs.
ALBUM_LOCK_FORMAT = 2


def lock_path_for(album: LoadedAlbum) -> Path:
    return album.path.with_name(f"{album.name}.lock.json")


def read_album_lock(path: Path) -> dict:
    from lofictl.safety.lockfile import read_lock

    return read_lock(path, ALBUM_LOCK_FORMAT, kind="lofictl_album_lock")


def track_entry(album: LoadedAlbum, number: int, spec: TrackSpec, rendered: dict, base: str) -> dict:
    """One track's record: how to build it alone, and what its build recorded."""
    return {
        "number": number,
        "name": spec.name,
        "title": spec.title,
        "recipe": spec.recipe.relative_to(album.project_root).as_posix(),
        "recipe_sha256": spec.recipe_sha,
        "overrides": list(spec.overrides),
        "seed": spec.seed,
        "tempo": spec.tempo,
        "key": spec.key,
        "isrc": spec.isrc,
        "files": base,
        "duration_s": round(rendered["frames"] / rendered["sample_rate"], 6),
        "master_sha256": rendered["master"],
        "loudness": rendered["loudness"],
        "stages": rendered["stages"],
        "seeds": rendered["seeds"],
        "models": rendered["models"],
        "build": spec.build_command(album.project_root, album.name),
    }


def lock_data(
    album: LoadedAlbum,
    tracks: list[dict],
    stages: StageLog,
    art,
    mix: dict | None,
    libraries: dict[str, str],
) -> dict:
    """The lock without its `outputs` (the files' hashes, added when they are in place)."""
    spec = album.album
    return {
        "lofictl_album_lock": ALBUM_LOCK_FORMAT,
        "lofictl": __version__,
        "album": {
            "file": album.path.name,
            "path": album.project_file,
            "sha256": sha256_file(album.path),
            "resolved": spec.model_dump(mode="json"),
        },
        "cover": {"source": spec.cover or "drawn", "sha256": sha256_bytes(art.data), "size": [art.width, art.height]},
        "tracks": tracks,
        "mix": mix,
        "stages": {name: stages.record[name] for name in sorted(stages.record)},
        "libraries": libraries,
    }


def outputs_of(folder: Path) -> dict[str, dict]:
    """sha256 and size of every file in the album folder."""
    return {
        rel: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for rel, p in sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())
    }
