"""`lofictl album`: plan, run the tasks on a runner, gather the files, write the album lock.

    build/<album>/
      tracks/01_Rainy-Night.flac, .mp3 (, .wav)   tagged, cover embedded
      mix/<Album>_mix.flac, .mp3                  the continuous mix at the loudness target
      mix/<Album>_mix.cue                         CUE sheet for the mix
      mix/<Album>_chapters.txt                    YouTube chapters: 00:00 Title
      mix/<Album>_mix.mp4                         the upload video (cover + mix, chapters)
      cover.jpg                                   3000x3000
      build.json                                  the same as the lock (marks the folder as lofictl's)
    albums/<album>.lock.json                      beside the album file, meant for git

The album's stages (album-cover, album-encode:NN, album-mix, album-encode:mix, album-video) run
as tasks (album.tasks) through the shared StageLog, under one name in the cache, the lock and
safety.fingerprints; this process keeps their records in a StageLog of its own, from which the
lock is written (album.lock). Output goes into a staging folder swapped in at the end by the
shared output rule (safety.outputs), as a track build does, so a failed or killed album build
leaves the previous album and lock as they were.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lofictl import __version__
from lofictl.album import cover as covers
from lofictl.album import tasks
from lofictl.album.lock import lock_data, lock_path_for, outputs_of, read_album_lock, track_entry
from lofictl.album.plan import TrackSpec, plan_album
from lofictl.album.schema import LoadedAlbum, load_album
from lofictl.errors import LofictlError
from lofictl.pipeline.cache import CACHE_DIR_NAME, Cache
from lofictl.pipeline.progress import Progress
from lofictl.pipeline.record import StageLog
from lofictl.safety import interrupts
from lofictl.safety import outputs as output_rule

CACHE_MISS_ATTEMPTS = 5  # times the tasks run when an object between them went missing
# The album's stages in the order they feed each other (verify names the first that differs).
STAGE_ORDER = ("album-cover", "album-mix", "album-encode", "album-video")


@dataclass
class AlbumResult:
    title: str
    album: Path
    out_dir: Path
    tracks: int
    duration_s: float
    elapsed_s: float
    runner: str
    lock_path: Path | None
    lock: dict
    warnings: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)  # the album's own stages that ran
    restored: list[str] = field(default_factory=list)  # ... and that were restored from the cache

    def summary(self) -> dict:
        return {
            "album": str(self.album),
            "title": self.title,
            "out_dir": str(self.out_dir),
            "tracks": self.tracks,
            "duration_s": round(self.duration_s, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "runner": self.runner,
            "lock": str(self.lock_path) if self.lock_path else None,
            "warnings": self.warnings,
            "stages_ran": self.ran,
            "stages_restored": self.restored,
            "outputs": {rel: info["bytes"] for rel, info in self.lock["outputs"].items()},
        }


def safe_name(text: str) -> str:
    from lofictl.export import daw

    return daw._safe_field(text, "untitled")


def track_base(number: int, spec: TrackSpec, names: str) -> str:
    from lofictl.export.tags import key_and_bpm_suffix

    base = f"{number:02d}_{safe_name(spec.title)}"
    return f"{base}_{key_and_bpm_suffix(spec.key, spec.tempo)}" if names == "key_bpm" else base


@dataclass
class _Run:
    """One attempt at the album's tasks: where they run, where results go, what is reported."""

    album: LoadedAlbum
    specs: list[TrackSpec]
    runner: Any  # cluster.SerialRunner or cluster.DaskRunner
    root: tasks.CacheSpec
    cache: Cache
    stages: StageLog
    progress: Progress
    pin: Callable[[list[str]], None]

    def note(self, text: str) -> None:
        self.progress.note(text)


def build_album(
    path: Path,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    client=None,
    out_dir: Path | None = None,
    use_cache: bool = True,
    cache_dir: Path | str | None = None,
    quiet: bool = False,
    write_lock: bool | None = None,
) -> AlbumResult:
    """Build every track (as tasks on the runner), then the cover, tagged files, mix and video."""
    from lofictl.cluster import open_runner_soon
    from lofictl.pipeline.runner import output_folder

    started = time.perf_counter()
    album = load_album(path)
    spec = album.album
    warnings, user_cover = list(album.cover_warnings), album.user_cover  # read with the album file
    if spec.video is not None:
        from lofictl.album.video import ffmpeg_path

        try:
            ffmpeg_path()
        except LofictlError as exc:
            raise album.error(exc.message, ("output", "video")) from None
    final_dir = output_folder(album, out_dir)
    if write_lock is None:
        write_lock = out_dir is None
    lock_path = lock_path_for(album)
    count = sum(entry.count for entry in spec.tracks)
    mix_steps = 2 + (spec.video is not None) if spec.output.mix else 0  # the mix, its files, its video
    steps = 2 * count + (user_cover is None) + mix_steps  # a render and an encode per track, the cover
    with Progress(f"album {album.path.name}", steps, quiet=quiet) as progress:
        # The LocalCluster starts (its workers import the build's modules) while the tracks are planned.
        with open_runner_soon(
            jobs=jobs, scheduler=scheduler, client=client, log=progress.note, preload=lambda: _preload(album)
        ) as runner_ready:
            progress.step(f"checking {count} tracks")
            specs = plan_album(album)
            progress.step("starting the workers")
            runner = runner_ready()
            progress.note(f"{len(specs)} tracks planned; running on {runner.name}")
            previous = _previous_lock(lock_path)
            scratch, root = _cache_spec(album, final_dir, use_cache, cache_dir)
            cache = tasks.open_cache(root)
            try:
                for attempt in range(1, CACHE_MISS_ATTEMPTS + 1):
                    # Every task's result is a cache object the next one reads; they are pinned so a
                    # prune by another job keeps them, and should one still go (a `cache clear`, a
                    # worker's own cache) the tasks run again: what is still cached is restored,
                    # what is gone is made anew, with the same bytes.
                    stages = StageLog(cache, final_dir, final_dir, previous)
                    try:
                        with cache.pinning() as pin:
                            run = _Run(
                                album=album,
                                specs=specs,
                                runner=runner,
                                root=dataclasses.replace(root, pins=str(cache.pin_file) if cache.pin_file else None),
                                cache=cache,
                                stages=stages,
                                progress=progress,
                                pin=pin,
                            )
                            lock, outputs, texts, art = _run_tasks(run, user_cover)
                            progress.step("putting the album in place")
                            _gather(
                                album, final_dir, cache, lock, outputs, texts, art, lock_path if write_lock else None
                            )
                        break
                    except tasks.CacheMiss as exc:
                        if attempt == CACHE_MISS_ATTEMPTS:
                            raise
                        progress.note(f"{exc.message}: running the album's tasks again to remake it")
            finally:
                cache.save_state()
                if scratch is not None:
                    shutil.rmtree(scratch, ignore_errors=True)
    duration = lock["mix"]["duration_s"] if lock.get("mix") else sum(t["duration_s"] for t in lock["tracks"])
    return AlbumResult(
        spec.title,
        album.path,
        final_dir,
        len(specs),
        duration,
        time.perf_counter() - started,
        runner.name,
        lock_path if write_lock else None,
        lock,
        warnings,
        list(stages.ran),
        list(stages.restored),
    )


def _preload(album: LoadedAlbum) -> tuple[str, ...]:
    """What the workers import as they start (cluster.preload): the build's modules, and JAX
    when one of the album's recipes composes with a model (a guess from the recipes as written,
    made while the album is planned: a wrong one costs only time)."""
    from lofictl.cluster.preload import BUILD_MODULES, MODEL_MODULES
    from lofictl.recipe.load import load_recipe

    for entry in album.album.tracks:
        try:
            recipe = load_recipe(album.resolve_path(entry.recipe, ("tracks",))).recipe
        except (LofictlError, OSError):
            continue  # planning says what is wrong with it
        if any(getattr(track, "generate", None) is not None for track in recipe.tracks.values()):
            return BUILD_MODULES + MODEL_MODULES
    return BUILD_MODULES


def _previous_lock(lock_path: Path) -> dict | None:
    """The last build's lock, to say why a stage ran; one that cannot be read is not needed here."""
    try:
        return read_album_lock(lock_path) if lock_path.exists() else None
    except LofictlError:
        return None


def _run_tasks(run: _Run, user_cover) -> tuple[dict, dict[str, str], dict[str, str], covers.Cover]:
    """Render every track; start the continuous mix (the longest chain: mix, then its files and
    video) while the cover is drawn here; then the tagged files: (lock without outputs, files
    {path: sha256}, text files {path: text}, the cover)."""
    rendered = _render_all(run)
    started = {}
    if run.album.album.output.mix:
        started[_submit_mix(run, rendered)] = "mix"
    if user_cover is None:
        run.progress.step("drawing the cover" + (" (the continuous mix meanwhile)" if started else ""))
        art = covers.as_cover(_read_object(run.cache, _cover_stage(run, rendered)["outputs"]["cover.jpg"]))
        run.progress.advance()
        run.note("cover drawn")
    else:
        art = user_cover
    return (*_tag_and_mix(run, rendered, art, started), art)


def _submit_mix(run: _Run, rendered: list[dict]):
    spec = run.album.album
    mix_task = tasks.MixTask(
        tracks=tuple(
            tasks.MixTrack(
                master=r["master"],
                frames=r["frames"],
                bar_frames=r["bar_frames"],
                bars=r["bars"],
                title=s.title,
                isrc=s.isrc,
            )
            for s, r in zip(run.specs, rendered)
        ),
        crossfade_bars=spec.crossfade_bars,
        gap_s=spec.gap_s,
        cache=run.root,
        sample_rate=spec.output.sample_rate,
        loudness_lufs=spec.loudness_lufs,
        ceiling_db=spec.true_peak_db,
    )
    return run.runner.submit(tasks.make_mix, mix_task, key=f"lofictl-mix-{safe_name(spec.title)}", priority=1)


def _gather(
    album: LoadedAlbum,
    final_dir: Path,
    cache: Cache,
    lock: dict,
    outputs: dict[str, str],
    texts: dict[str, str],
    art,
    lock_path: Path | None,
) -> None:
    """The files from the cache into a staging folder, the lock beside them, swapped in by the
    shared output rule (as a track build's are)."""
    from lofictl.pipeline.lock import lock_text
    from lofictl.pipeline.runner import make_room, protected_folders

    try:
        make_room(album, final_dir, lock_path_for(album))
        staging = output_rule.staging_folder(final_dir)
    except OSError as exc:
        raise album.error(
            f"cannot write the output folder {final_dir}: {exc.strerror or exc}", ("output", "dir")
        ) from None
    try:
        for rel, digest in outputs.items():
            tasks.fetch(cache, digest, staging / rel)
        (staging / "cover.jpg").write_bytes(art.data)
        for rel, text in texts.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_text(text, encoding="utf-8", newline="")
        lock["outputs"] = outputs_of(staging)
        text = lock_text(lock)
        # The lock is the folder's owner file too (safety.outputs): the next build may replace it.
        (staging / output_rule.OWNER_FILE).write_text(text, encoding="utf-8")
        interrupts.checkpoint()
        output_rule.commit(
            staging,
            final_dir,
            protected_folders(album),
            output_rule.LockUpdate(lock_path, text) if lock_path else None,
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _cache_spec(
    album: LoadedAlbum, final_dir: Path, use_cache: bool, cache_dir: Path | str | None
) -> tuple[str | None, "tasks.CacheSpec"]:
    """(a scratch folder to remove afterwards, where the tasks find the cache).

    No cache: a fresh, empty folder, so nothing is restored and the tasks can still hand their
    results back. A URL: an fsspec store behind the project's own cache. A folder: that folder.
    """
    from lofictl.cluster.shared_cache import is_url

    if not use_cache:
        scratch = tempfile.mkdtemp(
            prefix=".lofictl-album-cache-", dir=final_dir.parent if final_dir.parent.exists() else None
        )
        return scratch, tasks.CacheSpec(str(Path(scratch).resolve()))
    local = album.project_root / CACHE_DIR_NAME
    if cache_dir is not None and is_url(str(cache_dir)):
        return None, tasks.CacheSpec(str(local.resolve()), str(cache_dir))
    return None, tasks.CacheSpec(str(Path(cache_dir or local).resolve()))


def _read_object(cache: Cache, digest: str) -> bytes:
    from lofictl.pipeline.cache import Entry

    cache.pin([digest])
    data = cache.read_bytes(Entry("", "album", {"object": digest}, {}), "object")
    if data is None:
        raise tasks.CacheMiss(
            f"cache object {digest[:12]} is missing from {cache.root}; the workers and this machine "
            "must share one stage cache"
        )
    return data


def _render_all(run: _Run) -> list[dict]:
    """Each track built as one task (its whole recipe: the tasks are seconds long, so Dask's
    scheduling and the hashes they return cost little beside them)."""
    specs = run.specs
    futures = {}
    for number, s in enumerate(specs, 1):
        task = tasks.TrackTask(
            recipe=str(s.recipe), recipe_sha=s.recipe_sha, overrides=s.overrides, cache=run.root
        )  # threads inside: its machine's CPUs (tasks.threads)
        futures[run.runner.submit(tasks.render_track, task, key=f"lofictl-track-{number:03d}-{s.name}")] = number - 1
    run.progress.step(f"rendering {len(specs)} tracks")
    results: list[dict | None] = [None] * len(specs)
    done = 0
    for future in run.runner.as_completed(futures):
        index = futures[future]
        result = results[index] = future.result()
        run.pin([result["master"], result["score"]])
        done += 1
        run.progress.advance()
        run.progress.step(f"rendering tracks: {done}/{len(specs)} ({specs[index].title})")
    run.note(f"{len(specs)} tracks rendered")
    return results  # type: ignore[return-value]


def _digests(result: dict) -> list[str]:
    """Every cache object a task's result names (its `outputs` mappings, however nested)."""
    found = []
    for key, value in result.items():
        if key == "outputs" and isinstance(value, dict):
            found += [v for v in value.values() if isinstance(v, str)]
        elif isinstance(value, dict):
            found += _digests(value)
    return found


def _cover_stage(run: _Run, rendered: list[dict]) -> dict:
    spec = run.album.album
    material = [
        covers.TrackMaterial.from_score(s.title, json.loads(_read_object(run.cache, rendered[i]["score"])))
        for i, s in enumerate(run.specs)
    ]
    inputs = {
        "title": spec.title,
        "artist": spec.artist,
        "seed": spec.seed,
        "scores": [r["score"] for r in rendered],
        "titles": [m.title for m in material],
        "size": covers.SIZE,
        "quality": covers.JPEG_QUALITY,
        "lofictl": __version__,
        "libraries": tasks.library_versions(("pillow",)),
    }

    def make(work: Path):
        path = work / "cover.jpg"
        path.write_bytes(covers.draw_cover(spec.title, spec.artist, spec.seed, material))
        return {"cover.jpg": path}, {}

    record = tasks.run_stage(run.cache, "album-cover", inputs, make)
    run.stages.adopt(record["name"], record, record["ran"])
    return record


def _track_tags(album: LoadedAlbum, number: int, total: int, s: TrackSpec, r: dict) -> "tasks.Tags":
    from lofictl.export.tags import Tags

    spec = album.album
    provenance = {
        "recipe": s.recipe.name,
        "seed": str(s.seed),
        "overrides": list(s.overrides),
        "stage_key": r["stages"]["mix"][:16],
        "album": album.path.name,
        "track": number,
        "lofictl": __version__,
    }
    loudness = r["loudness"] or {}
    return Tags(
        title=s.title,
        artist=spec.artist,
        album=spec.title,
        track=number,
        total=total,
        year=spec.year,
        date=spec.release_date,
        genre=spec.genre,
        bpm=s.tempo,
        key=s.key,
        isrc=s.isrc,
        provenance=provenance,
        loudness_lufs=loudness.get("integrated_lufs"),
        true_peak_dbtp=loudness.get("true_peak_dbtp"),
    )


def _encode_task(run: _Run, stage: str, master: str, folder: str, base: str, tags, inside) -> tasks.EncodeTask:
    spec = run.album.album
    return tasks.EncodeTask(
        stage=stage,
        master=master,
        cache=run.root,
        folder=folder,
        base=base,
        formats=tuple(spec.output.formats),
        sample_rate=spec.output.sample_rate,
        ceiling_db=spec.true_peak_db,
        tags=tags,
        cover=inside,
    )


@dataclass(frozen=True)
class _MixPapers:
    """What the mix's chapters give: the CUE and chapter files, the mix's tags, ffmpeg's metadata."""

    texts: dict[str, str]
    tags: object
    chapters: list[dict]
    ffmetadata: str


def _mix_papers(album: LoadedAlbum, specs: list[TrackSpec], base: str, meta: dict) -> _MixPapers:
    from lofictl.album import chapters
    from lofictl.export.tags import Tags

    spec = album.album
    rate = spec.output.sample_rate
    items = chapters.marks(
        [s.title for s in specs], spec.artist, [s.isrc for s in specs], meta["takes_over"], meta["frames"], rate
    )
    formats = spec.output.formats
    audio_name = f"{base}.{'flac' if 'flac' in formats else formats[0]}"
    cue = chapters.cue_sheet(
        spec.title, spec.artist, spec.genre, spec.year, audio_name, items, f"lofictl {__version__}"
    )
    tags = Tags(
        title=f"{spec.title} (continuous mix)",
        artist=spec.artist,
        album=spec.title,
        year=spec.year,
        date=spec.release_date,
        genre=spec.genre,
        provenance={
            "album": album.path.name,
            "seed": str(spec.seed),
            "lofictl": __version__,
            "tracks": [s.name for s in specs],
        },
        loudness_lufs=meta["loudness"]["integrated_lufs"],
        true_peak_dbtp=meta["loudness"]["true_peak_dbtp"],
        chapters=chapters.id3_chapters(items),
        cuesheet=cue,
    )
    return _MixPapers(
        texts={
            f"mix/{base}.cue": cue,
            f"mix/{base.removesuffix('_mix')}_chapters.txt": chapters.youtube_chapters(items),
        },
        tags=tags,
        chapters=[{"title": m.title, "start_s": round(m.start_s, 3)} for m in items],
        ffmetadata=chapters.ffmetadata(spec.title, spec.artist, items),
    )


def _tag_and_mix(run: _Run, rendered: list[dict], art, started: dict) -> tuple[dict, dict[str, str], dict[str, str]]:
    """Submit the tagged files of every track beside the mix (`started`); once the mix is
    mastered, its tagged files and its video, ahead of the tracks' files still waiting (they
    end the album's longest chain). Each is reported as it is done. Returns the lock (without
    its outputs), the files to gather {path: sha256} and the text files {path: text}."""
    album, specs, runner = run.album, run.specs, run.runner
    spec = album.album
    inside = covers.embedded(art)  # the files carry a small copy; cover.jpg and the video the full one
    futures: dict = dict(started)
    bases = [track_base(number, s, spec.output.names) for number, s in enumerate(specs, 1)]
    for number, (s, r, base) in enumerate(zip(specs, rendered, bases), 1):
        task = _encode_task(
            run, f"{number:02d}", r["master"], "tracks", base, _track_tags(album, number, len(specs), s, r), inside
        )
        futures[runner.submit(tasks.encode_track, task, key=f"lofictl-encode-{number:03d}-{s.name}")] = "tracks"
    album_base = f"{safe_name(spec.title)}_mix"
    mix = ", the continuous mix" if spec.output.mix else ""
    run.progress.step(f"tagging and encoding {len(specs)} tracks{mix}")
    papers = None
    encoded = 0
    pending = list(futures)
    while pending:
        submitted = []
        for future in runner.as_completed(pending):
            what = futures[future]
            record = future.result()
            run.pin(_digests(record))
            run.stages.adopt(record["name"], record, record["ran"])
            run.progress.advance()
            if what == "tracks":
                encoded += 1
                if encoded == len(specs):
                    run.note(f"{len(specs)} tracks tagged and encoded")
            elif what == "mix":
                meta = record["meta"]
                run.note(
                    f"continuous mix: {meta['frames'] / spec.output.sample_rate / 60:.1f} min at "
                    f"{meta['loudness']['integrated_lufs']:.1f} LUFS"
                )
                papers = _mix_papers(album, specs, album_base, meta)
                master = record["outputs"]["master.wav"]
                task = _encode_task(run, "mix", master, "mix", album_base, papers.tags, inside)
                submitted.append(
                    (runner.submit(tasks.encode_track, task, key=f"lofictl-mixfiles-{album_base}"), "files")
                )
                if spec.video is not None:
                    video = tasks.VideoTask(
                        master=master,
                        cache=run.root,
                        frames=meta["frames"],
                        sample_rate=spec.output.sample_rate,
                        base=album_base,
                        frame_png=covers.video_frame(art, spec.video.width, spec.video.height),
                        metadata=papers.ffmetadata,
                        fps=spec.video.fps,
                        audio_kbps=spec.video.audio_kbps,
                    )
                    submitted.append(
                        (runner.submit(tasks.make_video, video, key=f"lofictl-video-{album_base}"), "video")
                    )
                run.progress.step("the mix's tagged files" + (" and its video" if spec.video is not None else ""))
            elif what == "files":
                run.note("the mix's tagged files: " + ", ".join(Path(rel).name for rel in sorted(record["outputs"])))
            else:
                run.note("the video: " + ", ".join(Path(rel).name for rel in sorted(record["outputs"])))
        futures.update(dict(submitted))
        pending = [future for future, _ in submitted]
    return _album_lock(run, rendered, bases, art, papers)


def _album_lock(run: _Run, rendered: list[dict], bases: list[str], art, papers: _MixPapers | None):
    """The lock (its outputs added once the files are in place), the files and the texts."""
    album, spec, stages = run.album, run.album.album, run.stages
    outputs: dict[str, str] = {}
    for name in sorted(stages.record):
        if name.startswith(("album-encode:", "album-video")):
            outputs.update(stages.record[name]["outputs"])
    mix_lock = None
    if papers is not None:
        made = stages.record["album-mix"]["meta"]
        mix_lock = {
            "duration_s": round(made["frames"] / spec.output.sample_rate, 6),
            "crossfade_bars": spec.crossfade_bars,
            "gap_s": spec.gap_s,
            "loudness": made["loudness"],
            "chapters": papers.chapters,
        }
    libraries = dict(rendered[0]["libraries"])
    libraries.update(tasks.library_versions(("mutagen", "pillow", "dask", "distributed")))
    if spec.video is not None:
        from lofictl.album.video import ffmpeg_version

        libraries["ffmpeg"] = ffmpeg_version()
    tracks = [
        track_entry(album, number, s, r, base) for number, (s, r, base) in enumerate(zip(run.specs, rendered, bases), 1)
    ]
    lock = lock_data(album, tracks, stages, art, mix_lock, libraries)
    return lock, outputs, (papers.texts if papers is not None else {})


# --- verify ----------------------------------------------------------------------------------


def _stage_rank(name: str) -> tuple[int, str]:
    kind = name.split(":")[0]
    return (STAGE_ORDER.index(kind) if kind in STAGE_ORDER else len(STAGE_ORDER), name)


def verify_album(path: Path, *, jobs: int = 1, scheduler: str | None = None, quiet: bool = True) -> dict:
    """Rebuild the album with an empty cache into a temporary folder; compare with the lock
    (pipeline.verify.compare, as for a recipe), and each track's master with the one it locked."""
    from lofictl.pipeline.verify import compare

    album = load_album(path)
    lock_path = lock_path_for(album)
    if not lock_path.exists():
        raise LofictlError("has no lock file yet; build it first (lofictl album) and commit the lock", file=path)
    lock = read_album_lock(lock_path)
    parent = album.output_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lofictl-verify-", dir=parent) as folder:
        fresh = build_album(
            path,
            jobs=jobs,
            scheduler=scheduler,
            out_dir=Path(folder) / "out",
            use_cache=False,
            quiet=quiet,
            write_lock=False,
        ).lock
    old_tracks = {t.get("name"): t for t in lock.get("tracks", [])}
    masters = [
        t["name"] for t in fresh["tracks"] if old_tracks.get(t["name"], {}).get("master_sha256") != t["master_sha256"]
    ]
    changed = [
        f"recipe {t['recipe']} changed since the lock was written"
        for t in fresh["tracks"]
        if old_tracks.get(t["name"], {}).get("recipe_sha256") != t["recipe_sha256"]
    ]
    report = compare(path, lock, fresh, rank=_stage_rank, source="album", differs=bool(masters), more_causes=changed)
    if masters:
        report["first_stage"] = "track master: " + masters[0]
    return {**report, "album": True, "tracks_differing": masters}
