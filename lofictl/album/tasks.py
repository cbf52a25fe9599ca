"""The album's tasks: pure functions of plain values that run on any worker.

Each task reads its inputs from the stage cache by sha256 (or builds them), writes its outputs
into the cache, content-addressed and atomically, and returns only their hashes. Nothing it
returns depends on where or when it ran, so a serial build, one worker and two workers give
the same album lock; a task killed halfway leaves at most a temporary file, and running it
again gives the same objects.

    render_track  a recipe + seed + overrides → its master (the whole single-track build)
    encode_track  a master → tagged FLAC / MP3 / WAV with the cover (a track's, or the mix's)
    make_mix      the masters → the continuous mix (crossfades, loudness)
    make_video    the mix and the cover → the MP4 with chapters

Each runs its stage through run_stage (the shared StageLog) and returns the stage's record.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lofictl import __version__, stage_names
from lofictl.digests import canonical_json, sha256_bytes, sha256_file
from lofictl.errors import LofictlError
from lofictl.export.tags import Cover, Tags
from lofictl.pipeline.cache import Cache, Entry

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


def threads(jobs: int) -> int:
    """Threads a task runs side by side: `jobs`, or with 0 the CPUs of the machine it runs on.

    Every task takes all of its machine's CPUs, on a Dask worker too: while the workers are all
    busy the threads share the cores, and when the album narrows to one chain (the mix, then its
    files and video) the one task still running uses every core instead of one. The bytes do not
    depend on the thread count."""
    if jobs > 0:
        return jobs
    from lofictl.cluster import cpu_threads

    return cpu_threads()


@dataclass(frozen=True)
class CacheSpec:
    """Where a task finds the stage cache: a folder, and optionally a shared fsspec store behind it."""

    local: str
    shared: str | None = None
    pins: str | None = None  # the album's pin file: objects the tasks use are kept by a prune


def open_cache(spec: CacheSpec) -> Cache:
    from lofictl.cluster.shared_cache import open_cache as open_shared

    cache = open_shared(Path(spec.local), spec.shared)
    cache.pin_file = Path(spec.pins) if spec.pins else None
    if not cache.enabled:
        raise LofictlError(f"the album needs its stage cache at {spec.local}: tasks hand their results back through it")
    return cache


class CacheMiss(LofictlError):
    """An object one task handed to the next is gone from the cache (pruned meanwhile, or a worker
    with a cache of its own): the album runs its tasks again, which restore or remake it."""


def fetch(cache: Cache, digest: str, destination: Path) -> Path:
    """A cache object (checked against its sha256) copied to destination."""
    cache.pin([digest])
    if not cache.restore(Entry("", "album", {destination.name: digest}, {}), destination.name, destination):
        raise CacheMiss(
            f"cache object {digest[:12]} is missing or damaged in {cache.root}; the workers and "
            "this machine must share one stage cache (a shared folder: --cache)"
        )
    return destination


def run_stage(cache: Cache, name: str, inputs: dict, make: Callable[[Path], tuple[dict[str, Path], dict]]) -> dict:
    """A stage of the album (`album-encode:03`; its kind, the part before the colon, names it in
    the cache and in safety.fingerprints) on the shared StageLog: restored from the cache, or
    `make(work_dir)` run and stored.

    Returns the stage's record as the lock keeps it (key, inputs, outputs {name: sha256}, meta),
    with its `name` and whether it `ran`: plain values, the same from any worker.
    """
    from lofictl.pipeline.record import StageLog

    log = StageLog(cache, Path(tempfile.gettempdir()), Path(tempfile.gettempdir()), None)
    key = log.key_outside_table(name, inputs)
    kind = name.split(":")[0]
    entry = cache.lookup(key, kind)
    if entry is None:
        with tempfile.TemporaryDirectory(prefix=f"lofictl-{kind}-") as folder:
            files, meta = make(Path(folder))
            log.ran_with(name, key, files, meta)
        stored = cache.lookup(key, kind)
        if stored is None:
            raise CacheMiss(
                f"cannot write the stage cache {cache.root} (the album's tasks hand their results back through it)"
            )
        if stored.meta:  # as JSON keeps it: the same record whether this run made it or restores it
            log.record[name]["meta"] = stored.meta
    else:
        log.restored_from(name, entry, Path(tempfile.gettempdir()), entry.meta)
    return {"name": name, **log.record[name], "ran": bool(log.ran)}


# --- render: one track's master ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TrackTask:
    recipe: str  # absolute path; workers must see the project at the same path
    recipe_sha: str
    overrides: tuple[str, ...]
    cache: CacheSpec
    jobs: int = 0  # threads for the stems and encoders (0: the CPUs of the machine it runs on)


def render_track(task: TrackTask) -> dict:
    """Build the recipe (every stage, cached) and return its master's and score's hashes."""
    from lofictl.pipeline.plan import n_samples_for
    from lofictl.pipeline.runner import build_recipe
    from lofictl.recipe.load import load_recipe

    path = Path(task.recipe)
    if not path.is_file() or sha256_file(path) != task.recipe_sha:
        raise LofictlError(
            "this recipe is not the file the album was planned with (changed meanwhile, or a "
            "worker sees another copy of the project)",
            file=path,
        )
    cache = open_cache(task.cache)
    loaded = load_recipe(path, list(task.overrides))
    with tempfile.TemporaryDirectory(prefix="lofictl-track-") as folder:
        result = build_recipe(
            loaded,
            out_dir=Path(folder) / "out",
            quiet=True,
            write_lock=False,
            cache=cache,
            jobs=threads(task.jobs),
            master_only=True,
        )
    lock = result.lock
    sample_rate = loaded.recipe.output.sample_rate
    compose = lock["stages"][stage_names.COMPOSE]
    return {
        "master": lock["stages"][stage_names.MIX]["outputs"]["master.wav"],
        "score": compose["outputs"]["score.json"],
        "frames": n_samples_for(compose["meta"]["duration_s"], sample_rate),
        "sample_rate": sample_rate,
        "bars": loaded.recipe.total_bars,
        "bar_frames": loaded.recipe.seconds_per_bar * sample_rate,
        "loudness": lock["loudness"],
        "stages": {name: record["key"] for name, record in sorted(lock["stages"].items())},
        "seeds": lock["seeds"],
        "models": {name: info["sha256"] for name, info in sorted(lock["models"].items())},
        "libraries": lock["libraries"],
    }


# --- encode: tagged files of one track --------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EncodeTask:
    stage: str  # the stage's name after `album-encode:` (the track's number, or `mix`)
    master: str  # sha256 of the float32 master in the cache
    cache: CacheSpec
    folder: str  # where the files go in the album folder: tracks, mix
    base: str  # file name without extension
    formats: tuple[str, ...]
    sample_rate: int
    ceiling_db: float
    tags: Tags
    cover: Cover
    jobs: int = 0  # encoders side by side (threads; the bytes are the same; 0: the machine's CPUs)


def _cover_key(cover: Cover) -> dict:
    return {"sha256": sha256_bytes(cover.data), "mime": cover.mime, "size": [cover.width, cover.height]}


def _tags_key(tags: Tags) -> dict:
    return json.loads(canonical_json(dataclasses.asdict(tags)))


def encode_files(master_wav: Path, work: Path, task: EncodeTask) -> tuple[dict[str, Path], dict]:
    """The master as each format, tagged, with the cover; returns files and what was measured."""
    from concurrent.futures import ThreadPoolExecutor

    from lofictl.export import encode
    from lofictl.export import tags as tagging

    def write(fmt: str) -> dict:
        path = work / f"{task.base}.{fmt}"
        if fmt == "wav":
            chunks = tagging.bext_chunk(task.tags, sample_rate=task.sample_rate, bits=WAV_BITS)
            stats = encode.encode_master(
                master_wav,
                path,
                "wav",
                task.sample_rate,
                ceiling_db=task.ceiling_db,
                wav_subtype=f"{WAV_BITS}bit",
                info=tagging.wav_info(task.tags),
                chunks=chunks,
            )
        else:
            stats = encode.encode_master(
                master_wav,
                path,
                fmt,
                task.sample_rate,
                ceiling_db=task.ceiling_db,
                source_peak_dbtp=task.tags.true_peak_dbtp,  # measured by the master's own stage
            )
        tagging.tag_file(path, task.tags, task.cover)
        return stats

    with ThreadPoolExecutor(max_workers=threads(task.jobs), thread_name_prefix="lofictl-encode") as pool:
        futures = {fmt: pool.submit(write, fmt) for fmt in task.formats}
        measured = {f"{task.folder}/{task.base}.{fmt}": future.result() for fmt, future in futures.items()}
    files = {f"{task.folder}/{task.base}.{fmt}": work / f"{task.base}.{fmt}" for fmt in task.formats}
    return files, {"encoded": measured}


def encode_track(task: EncodeTask) -> dict:
    cache = open_cache(task.cache)
    inputs = {
        "master": task.master,
        "formats": list(task.formats),
        "sample_rate": task.sample_rate,
        "ceiling_db": task.ceiling_db,
        "tags": _tags_key(task.tags),
        "cover": _cover_key(task.cover),
        "paths": [task.folder, task.base],
        "lofictl": __version__,
        "libraries": library_versions(),
    }

    def make(work: Path):
        return encode_files(fetch(cache, task.master, work / "master.wav"), work, task)

    return run_stage(cache, f"album-encode:{task.stage}", inputs, make)


# --- the continuous mix and its video ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MixTrack:
    master: str  # sha256 of the track's float32 master
    frames: int
    bar_frames: float  # frames per bar at the track's tempo
    bars: int  # bars of music (the frames after them are the release tail)
    title: str
    isrc: str | None


@dataclass(frozen=True, kw_only=True)
class MixTask:
    tracks: tuple[MixTrack, ...]
    crossfade_bars: int  # 0: a gap instead
    gap_s: float
    cache: CacheSpec
    sample_rate: int
    loudness_lufs: float
    ceiling_db: float


def _write_growing_wav(blocks, path: Path, sample_rate: int) -> int:
    """Float32 blocks into a WAV whose length is known only at the end."""
    from lofictl.sound.stream import WavWriter

    with WavWriter(path, sample_rate, None) as out:
        for block in blocks:
            out.write(block)
    return out.frames


def _sequence(task: MixTask, paths: list[Path], out: Path) -> tuple[int, list[int]]:
    """The tracks one after another into out; returns (frames, where each track takes over)."""
    import numpy as np

    from lofictl.sound.sequence import Clip, iter_sequence
    from lofictl.sound.stream import AudioReader

    takes_over = [0] * len(paths)
    if task.crossfade_bars:
        clips = [
            Clip(path, t.frames, t.bar_frames, t.bars, index) for index, (path, t) in enumerate(zip(paths, task.tracks))
        ]

        def started(clip, start: int, air: int) -> None:
            takes_over[clip.label] = air

        frames = _write_growing_wav(iter_sequence(clips, task.crossfade_bars, on_start=started), out, task.sample_rate)
        return frames, takes_over
    gap = round(task.gap_s * task.sample_rate)

    def blocks():
        position = 0
        for index, path in enumerate(paths):
            if index:
                yield np.zeros((2, gap), dtype=np.float32)
                position += gap
            takes_over[index] = position
            with AudioReader(path) as reader:
                for start in range(0, reader.frames, 1 << 16):
                    yield reader.read(start, 1 << 16)
                position += reader.frames

    return _write_growing_wav(blocks(), out, task.sample_rate), takes_over


def make_mix(task: MixTask) -> dict:
    """Sequence the masters (crossfades or gaps) and master the whole at the target loudness:
    the `album-mix` stage's record (its meta: loudness, frames, where each track takes over).
    Its tagged files are an `album-encode:mix` task and its video an `album-video` task, run
    once this one is done (they need its master and where the chapters fall)."""
    from lofictl.sound import master as mastering

    cache = open_cache(task.cache)
    mix_inputs = {
        "tracks": [[t.master, t.frames, t.bar_frames, t.bars] for t in task.tracks],
        "crossfade_bars": task.crossfade_bars,
        "gap_s": task.gap_s,
        "sample_rate": task.sample_rate,
        "loudness_lufs": task.loudness_lufs,
        "ceiling_db": task.ceiling_db,
        "lofictl": __version__,
        "libraries": library_versions(),
    }

    def make_master(work: Path):
        paths = [fetch(cache, t.master, work / f"track-{i:03d}.wav") for i, t in enumerate(task.tracks)]
        sequenced = work / "sequence.wav"
        frames, takes_over = _sequence(task, paths, sequenced)
        for path in paths:
            path.unlink()
        master = work / "master.wav"
        stats = mastering.mix_to_master_wav(
            [sequenced], task.sample_rate, None, task.loudness_lufs, task.ceiling_db, master
        )
        sequenced.unlink()
        return {"master.wav": master}, {"loudness": stats, "frames": frames, "takes_over": takes_over}

    return run_stage(cache, "album-mix", mix_inputs, make_master)


@dataclass(frozen=True, kw_only=True)
class VideoTask:
    master: str  # sha256 of the mastered mix
    cache: CacheSpec
    frames: int
    sample_rate: int
    base: str  # file name: mix/<base>.mp4
    frame_png: bytes  # the cover at the video's size
    metadata: str  # FFMETADATA: title, artist, chapters
    fps: int
    audio_kbps: int


def make_video(task: VideoTask) -> dict:
    """The cover as a still over the mastered mix, with its chapters: the `album-video` record."""
    from lofictl.album import video

    cache = open_cache(task.cache)
    inputs = {
        "audio": task.master,
        "frame": sha256_bytes(task.frame_png),
        "metadata": task.metadata,
        "fps": task.fps,
        "audio_kbps": task.audio_kbps,
        "base": task.base,
        "ffmpeg": video.ffmpeg_version(),
        "x264": [video.X264_THREADS, video.X264_PRESET],
        "aac_coder": video.AAC_CODER,
    }

    def make(work: Path):
        audio = fetch(cache, task.master, work / "mix.wav")
        frame = work / "frame.png"
        frame.write_bytes(task.frame_png)
        chapters_file = work / "chapters.ffmeta"
        chapters_file.write_text(task.metadata, encoding="utf-8")
        out = work / f"{task.base}.mp4"
        video.make_video(
            frame,
            audio,
            chapters_file,
            task.frames / task.sample_rate,
            out,
            fps=task.fps,
            audio_kbps=task.audio_kbps,
        )
        return {f"mix/{task.base}.mp4": out}, {}

    return run_stage(cache, "album-video", inputs, make)
