"""The album's tasks: pure functions of plain values that run on any worker.

Each task reads its inputs from the stage cache by sha256 (or builds them), writes its outputs
into the cache, content-addressed and atomically, and returns only their hashes. Nothing it
returns depends on where or when it ran, so a serial build, one worker and two workers give
the same album lock; a task killed halfway leaves at most a temporary file, and running it
again gives the same objects.

    render_track  a recipe + seed + overrides → its master (the whole single-track build)
    encode_track  a master → tagged FLAC / MP3 / WAV with the cover
    make_mix      the masters → the continuous mix (crossfades, loudness) → tagged files → video
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lofictl import __version__
from lofictl.cache import Cache, Entry, canonical_json, sha256_bytes, sha256_file, stage_key
from lofictl.errors import LofictlError
from lofictl.export.tags import Cover, Tags
from lofictl.sound.sequence import Placement

WAV_BITS = 24  # album WAVs are 24-bit PCM, as distributors ask


_BYTE_LIBRARIES = ("mutagen", "pillow", "pedalboard", "numpy")  # the libraries that shape the files' bytes


def library_versions(packages: tuple[str, ...] = _BYTE_LIBRARIES) -> dict[str, str]:
    import importlib.metadata as md

    versions = {}
    for package in packages:
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = "missing"
    return versions


def open_cache(root: str) -> Cache:
    cache = Cache(Path(root))
    if not cache.enabled:
        raise LofictlError(f"the album needs its stage cache at {root}: tasks hand their results back through it")
    return cache


def fetch(cache: Cache, digest: str, destination: Path) -> Path:
    """A cache object (checked against its sha256) copied to destination."""
    if not cache.restore(Entry("", "album", {destination.name: digest}, {}), destination.name, destination):
        raise LofictlError(f"cache object {digest[:12]} is missing or damaged in {cache.root}; the workers and "
                           "this machine must share one stage cache (a shared folder: --cache)")
    return destination


def run_stage(cache: Cache, stage: str, inputs: dict, make: Callable[[Path], tuple[dict[str, Path], dict]]) -> dict:
    """A cached stage: restore the record of a finished run, or run `make(work_dir)` and store it.

    Returns {"key", "outputs": {name: sha256}, "meta"}: plain values, the same from any worker.
    """
    key = stage_key(stage, inputs)
    entry = cache.lookup(key)
    if entry is None:
        with tempfile.TemporaryDirectory(prefix=f"lofictl-{stage}-") as folder:
            files, meta = make(Path(folder))
            cache.store(key, stage, files, meta)
        entry = cache.lookup(key)
        if entry is None:
            raise LofictlError(f"cannot write the stage cache {cache.root} (the album's tasks hand their results "
                               "back through it)")
    return {"key": key, "outputs": dict(sorted(entry.outputs.items())), "meta": entry.meta}


# --- render: one track's master ---------------------------------------------------------------


@dataclass(frozen=True)
class TrackTask:
    recipe: str  # absolute path; workers must see the project at the same path
    recipe_sha: str
    overrides: tuple[str, ...]
    cache_root: str


def render_track(task: TrackTask) -> dict:
    """Build the recipe (every stage, cached) and return its master's and score's hashes."""
    from lofictl import build
    from lofictl.recipe import load_recipe

    path = Path(task.recipe)
    if not path.is_file() or sha256_file(path) != task.recipe_sha:
        raise LofictlError("this recipe is not the file the album was planned with (changed meanwhile, or a "
                           "worker sees another copy of the project)", file=path)
    cache = open_cache(task.cache_root)
    loaded = load_recipe(path, list(task.overrides))
    with tempfile.TemporaryDirectory(prefix="lofictl-track-") as folder:
        result = build.build_recipe(loaded, out_dir=Path(folder) / "out", quiet=True, write_lock=False, cache=cache)
    lock = result.lock
    sample_rate = loaded.recipe.output.sample_rate
    compose = lock["stages"]["compose"]
    return {"master": lock["stages"]["mix"]["outputs"]["master.wav"],
            "score": compose["outputs"]["score.json"],
            "frames": build.n_samples_for(compose["meta"]["duration_s"], sample_rate),
            "sample_rate": sample_rate,
            "loudness": lock["loudness"],
            "stages": {name: record["key"] for name, record in sorted(lock["stages"].items())},
            "seeds": lock["seeds"],
            "models": {name: info["sha256"] for name, info in sorted(lock["models"].items())},
            "libraries": lock["libraries"]}


# --- encode: tagged files of one track --------------------------------------------------------


@dataclass(frozen=True)
class EncodeTask:
    master: str  # sha256 of the float32 master in the cache
    cache_root: str
    folder: str  # where the files go in the album folder: tracks, mix
    base: str  # file name without extension
    formats: tuple[str, ...]
    sample_rate: int
    ceiling_db: float
    tags: Tags
    cover: Cover


def _cover_key(cover: Cover) -> dict:
    return {"sha256": sha256_bytes(cover.data), "mime": cover.mime, "size": [cover.width, cover.height]}


def _tags_key(tags: Tags) -> dict:
    return json.loads(canonical_json(dataclasses.asdict(tags)))


def encode_files(master_wav: Path, work: Path, task: EncodeTask) -> tuple[dict[str, Path], dict]:
    """The master as each format, tagged, with the cover; returns files and what was measured."""
    from lofictl.export import encode, tags as tagging

    files: dict[str, Path] = {}
    measured: dict[str, dict] = {}
    for fmt in task.formats:
        rel = f"{task.folder}/{task.base}.{fmt}"
        path = work / f"{task.base}.{fmt}"
        if fmt == "wav":
            chunks = tagging.bext_chunk(task.tags, sample_rate=task.sample_rate, bits=WAV_BITS)
            measured[rel] = encode.encode_master(master_wav, path, "wav", task.sample_rate, ceiling_db=task.ceiling_db,
                                                 wav_subtype=f"{WAV_BITS}bit", info=tagging.wav_info(task.tags),
                                                 chunks=chunks)
        else:
            measured[rel] = encode.encode_master(master_wav, path, fmt, task.sample_rate, ceiling_db=task.ceiling_db)
        tagging.tag_file(path, task.tags, task.cover)
        files[rel] = path
    return files, {"encoded": measured}


def encode_track(task: EncodeTask) -> dict:
    cache = open_cache(task.cache_root)
    inputs = {"master": task.master, "formats": list(task.formats), "sample_rate": task.sample_rate,
              "ceiling_db": task.ceiling_db, "tags": _tags_key(task.tags), "cover": _cover_key(task.cover),
              "paths": [task.folder, task.base], "lofictl": __version__, "libraries": library_versions()}

    def make(work: Path):
        return encode_files(fetch(cache, task.master, work / "master.wav"), work, task)

    return run_stage(cache, "album-encode", inputs, make)


# --- the continuous mix and its video ---------------------------------------------------------


@dataclass(frozen=True)
class VideoSpec:
    frame_png: bytes
    metadata: str  # FFMETADATA1 text: title, artist, chapters
    fps: int
    audio_kbps: int
    base: str


@dataclass(frozen=True)
class MixTask:
    masters: tuple[str, ...]
    placements: tuple[Placement, ...]
    cache_root: str
    sample_rate: int
    loudness_lufs: float
    ceiling_db: float
    files: EncodeTask  # master is filled in by the task: the mix's own
    video: VideoSpec | None


def make_mix(task: MixTask) -> dict:
    """Sequence the masters, master the whole at the target loudness, encode and tag it, film it."""
    from lofictl import stream
    from lofictl.sound import sequence

    cache = open_cache(task.cache_root)
    mix_inputs = {"masters": list(task.masters), "placements": [dataclasses.astuple(p) for p in task.placements],
                  "sample_rate": task.sample_rate, "loudness_lufs": task.loudness_lufs,
                  "ceiling_db": task.ceiling_db, "lofictl": __version__, "libraries": library_versions()}

    def make_master(work: Path):
        paths = [fetch(cache, digest, work / f"track-{i:03d}.wav") for i, digest in enumerate(task.masters)]
        sequenced = work / "sequence.wav"
        sequence.sequence_to_wav(paths, list(task.placements), task.sample_rate, sequenced)
        for path in paths:
            path.unlink()
        master = work / "master.wav"
        stats = stream.mix_to_master_wav([sequenced], task.sample_rate, None, task.loudness_lufs,
                                         task.ceiling_db, master)
        sequenced.unlink()
        return {"master.wav": master}, {"loudness": stats}

    mastered = run_stage(cache, "album-mix", mix_inputs, make_master)
    files = dataclasses.replace(task.files, master=mastered["outputs"]["master.wav"])
    encoded = encode_track(files)
    result = {"mix": mastered, "files": encoded}
    if task.video is not None:
        result["video"] = _video(cache, task, mastered["outputs"]["master.wav"])
    return result


def _video(cache: Cache, task: MixTask, master: str) -> dict:
    from . import video

    spec = task.video
    inputs = {"audio": master, "frame": sha256_bytes(spec.frame_png), "metadata": spec.metadata, "fps": spec.fps,
              "audio_kbps": spec.audio_kbps, "base": spec.base, "ffmpeg": video.ffmpeg_version(),
              "x264_threads": video.X264_THREADS}

    def make(work: Path):
        audio = fetch(cache, master, work / "mix.wav")
        frame = work / "frame.png"
        frame.write_bytes(spec.frame_png)
        metadata = work / "chapters.ffmeta"
        metadata.write_text(spec.metadata, encoding="utf-8")
        from lofictl.stream import AudioReader

        with AudioReader(audio) as reader:
            duration = reader.frames / reader.sample_rate
        out = work / f"{spec.base}.mp4"
        video.make_video(frame, audio, metadata, duration, out, fps=spec.fps, audio_kbps=spec.audio_kbps)
        return {f"mix/{spec.base}.mp4": out}, {"duration_s": round(duration, 6)}

    return run_stage(cache, "album-video", inputs, make)
