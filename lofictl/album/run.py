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

Output goes into a temporary sibling folder swapped in at the end (as a track build does), so a
failed or killed album build leaves the previous album and lock as they were.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lofictl import __version__
from lofictl.album import cover as covers
from lofictl.album import tasks
from lofictl.album.plan import TrackSpec, plan_album
from lofictl.album.schema import LoadedAlbum, load_album
from lofictl.build.cache import CACHE_DIR_NAME, Cache, sha256_bytes, sha256_file
from lofictl.errors import LofictlError
from lofictl.recipe.load import project_file
from lofictl.safety import interrupts
from lofictl.safety import outputs as output_rule

ALBUM_LOCK_FORMAT = 1
CACHE_MISS_ATTEMPTS = 5  # times the tasks run when an object between them went missing


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
            "outputs": {rel: info["bytes"] for rel, info in self.lock["outputs"].items()},
        }


def safe_name(text: str) -> str:
    from lofictl.export import daw

    return daw._safe_field(text, "untitled")


def track_base(number: int, spec: TrackSpec, names: str) -> str:
    from lofictl.export.tags import key_and_bpm_suffix

    base = f"{number:02d}_{safe_name(spec.title)}"
    return f"{base}_{key_and_bpm_suffix(spec.key, spec.tempo)}" if names == "key_bpm" else base


def lock_path_for(album: LoadedAlbum) -> Path:
    return album.path.with_name(f"{album.name}.lock.json")


class _Say:
    """Progress lines on a terminal's stderr (elapsed time, then what is happening); nothing with
    --quiet or when stderr is a log or a pipe (the summary says what was made)."""

    def __init__(self, quiet: bool):
        import sys

        self.quiet = quiet or not sys.stderr.isatty()
        self.started = time.perf_counter()

    def __call__(self, text: str) -> None:
        if not self.quiet:
            import sys

            print(f"[{time.perf_counter() - self.started:6.1f}s] {text}", file=sys.stderr, flush=True)


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
    from lofictl.cluster import cpu_threads, open_runner

    started = time.perf_counter()
    say = _Say(quiet)
    album = load_album(path)
    spec = album.album
    specs = plan_album(album)
    warnings, user_cover = list(album.cover_warnings), album.user_cover  # read with the album file
    if spec.video is not None:
        from lofictl.album.video import ffmpeg_path

        try:
            ffmpeg_path()
        except LofictlError as exc:
            raise album.error(exc.message, ("output", "video")) from None
    final_dir = _output_folder(album, out_dir)
    if write_lock is None:
        write_lock = out_dir is None
    scratch, root = _cache_spec(album, final_dir, use_cache, cache_dir)
    cache = tasks.open_cache(root)
    lock_path = lock_path_for(album)
    try:
        with open_runner(jobs=jobs, scheduler=scheduler, client=client, log=say) as runner:
            say(f"{len(specs)} tracks on {runner.name}")
            jobs_per_task = cpu_threads() if runner.name == "serial" else 1
            for attempt in range(1, CACHE_MISS_ATTEMPTS + 1):
                # Every task's result is a cache object the next one reads; they are pinned so a
                # prune by another job keeps them, and should one still go (a `cache clear`, a
                # worker's own cache) the tasks run again: what is still cached is restored,
                # what is gone is made anew, with the same bytes.
                try:
                    with cache.pinning() as pin:
                        pinned_root = dataclasses.replace(root, pins=str(cache.pin_file) if cache.pin_file else None)
                        lock, outputs, art = _run_tasks(
                            runner, album, specs, user_cover, pinned_root, cache, say, jobs_per_task, pin
                        )
                        _gather(album, final_dir, cache, lock, outputs, art, lock_path if write_lock else None)
                    break
                except tasks.CacheMiss as exc:
                    if attempt == CACHE_MISS_ATTEMPTS:
                        raise
                    say(f"{exc.message}: running the album's tasks again to remake it")
    finally:
        cache.save_state()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    duration = lock["mix"]["duration_s"] if lock.get("mix") else sum(t["duration_s"] for t in lock["tracks"])
    say(f"done: {final_dir}")
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
    )


def _run_tasks(runner, album: LoadedAlbum, specs, user_cover, root, cache: Cache, say, jobs: int, pin):
    """Render every track, draw the cover, then the tagged files and the mix: (lock, outputs, art).
    Each result is pinned as it comes back (`pin`), so a prune elsewhere keeps it."""
    rendered = _render_all(runner, specs, root, say, jobs, pin)
    material = [
        covers.TrackMaterial.from_score(s.title, json.loads(_read_object(cache, rendered[i]["score"])))
        for i, s in enumerate(specs)
    ]
    cover_stage = None
    if user_cover is None:
        say("drawing the cover")
        cover_stage = _cover_stage(cache, album, rendered, material)
        art = covers.as_cover(_read_object(cache, cover_stage["outputs"]["cover.jpg"]))
    else:
        art = user_cover
    mix = (
        ", the continuous mix" + (" and its video" if album.album.video is not None else "")
        if album.album.output.mix
        else ""
    )
    say(f"tagging and encoding {len(specs)} tracks{mix} (the mix is one task: it reports when it is done)")
    lock, outputs = _deliver(runner, album, specs, rendered, art, cover_stage, root, cache, say, jobs, pin)
    return lock, outputs, art


def _gather(
    album: LoadedAlbum, final_dir: Path, cache: Cache, lock: dict, outputs: dict[str, str], art, lock_path: Path | None
) -> None:
    """The files from the cache into a staging folder, the lock beside them, swapped in."""
    from lofictl.build import runner as build

    staging = _stage_folder(album, final_dir)
    try:
        for rel, digest in outputs.items():
            tasks.fetch(cache, digest, staging / rel)
        (staging / "cover.jpg").write_bytes(art.data)
        for rel, text in lock.pop("_texts").items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_text(text, encoding="utf-8", newline="")
        lock["outputs"] = {
            rel: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for rel, p in sorted((p.relative_to(staging).as_posix(), p) for p in staging.rglob("*") if p.is_file())
        }
        text = build.lock_text(lock)
        # The lock is the folder's owner file too (safety.outputs): the next build may replace it.
        (staging / output_rule.OWNER_FILE).write_text(text, encoding="utf-8")
        interrupts.checkpoint()
        output_rule.commit(
            staging, final_dir, _protected(album), output_rule.LockUpdate(lock_path, text) if lock_path else None
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
    from lofictl.build.cache import Entry

    cache.pin([digest])
    data = cache.read_bytes(Entry("", "album", {"object": digest}, {}), "object")
    if data is None:
        raise tasks.CacheMiss(
            f"cache object {digest[:12]} is missing from {cache.root}; the workers and this machine "
            "must share one stage cache"
        )
    return data


def _render_all(runner, specs: list[TrackSpec], root: "tasks.CacheSpec", say, jobs: int, pin) -> list[dict]:
    futures = {}
    for number, s in enumerate(specs, 1):
        task = tasks.TrackTask(str(s.recipe), s.recipe_sha, s.overrides, root, jobs)
        futures[runner.submit(tasks.render_track, task, key=f"lofictl-track-{number:03d}-{s.name}")] = number - 1
    results: list[dict | None] = [None] * len(specs)
    done = 0
    for future in runner.as_completed(futures):
        index = futures[future]
        result = results[index] = future.result()
        pin([result["master"], result["score"]])
        done += 1
        say(f"  [{done}/{len(specs)}] {specs[index].title}")
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


def _cover_stage(cache: Cache, album: LoadedAlbum, rendered: list[dict], material) -> dict:
    spec = album.album
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

    return tasks.run_stage(cache, "album-cover", inputs, make)


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


def _deliver(
    runner,
    album: LoadedAlbum,
    specs: list[TrackSpec],
    rendered: list[dict],
    art,
    cover_stage,
    root: "tasks.CacheSpec",
    cache: Cache,
    say,
    jobs: int,
    pin,
) -> tuple[dict, dict[str, str]]:
    """Submit the tagged files of every track and the mix (with its video); gather; the lock."""
    spec = album.album
    sample_rate = spec.output.sample_rate
    formats = tuple(spec.output.formats)
    inside = covers.embedded(art)  # the files carry a small copy; cover.jpg and the video the full one
    futures = {}
    bases = []
    for number, (s, r) in enumerate(zip(specs, rendered), 1):
        base = track_base(number, s, spec.output.names)
        bases.append(base)
        task = tasks.EncodeTask(
            r["master"],
            root,
            "tracks",
            base,
            formats,
            sample_rate,
            spec.true_peak_db,
            _track_tags(album, number, len(specs), s, r),
            inside,
            jobs,
        )
        futures[runner.submit(tasks.encode_track, task, key=f"lofictl-encode-{number:03d}-{s.name}")] = (
            "encode",
            number,
        )
    album_base = safe_name(spec.title)
    if spec.output.mix:
        video_spec = None
        if spec.video is not None:
            video_spec = tasks.VideoSpec(
                frame_png=covers.video_frame(art, spec.video.width, spec.video.height),
                fps=spec.video.fps,
                audio_kbps=spec.video.audio_kbps,
            )
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
                for s, r in zip(specs, rendered)
            ),
            crossfade_bars=spec.crossfade_bars,
            gap_s=spec.gap_s,
            cache=root,
            sample_rate=sample_rate,
            loudness_lufs=spec.loudness_lufs,
            ceiling_db=spec.true_peak_db,
            album_title=spec.title,
            artist=spec.artist,
            genre=spec.genre,
            year=spec.year,
            release_date=spec.release_date,
            provenance={
                "album": album.path.name,
                "seed": str(spec.seed),
                "lofictl": __version__,
                "tracks": [s.name for s in specs],
            },
            base=f"{album_base}_mix",
            formats=formats,
            cover=inside,
            video=video_spec,
            jobs=jobs,
        )
        futures[runner.submit(tasks.make_mix, mix_task, key=f"lofictl-mix-{album_base}")] = ("mix", 0)
    results: dict = {}
    for future in runner.as_completed(futures):
        kind, number = futures[future]
        results[(kind, number)] = future.result()
        pin(_digests(results[(kind, number)]))
        say(f"  {'tagged files of track ' + str(number) if kind == 'encode' else 'continuous mix'} ready")
    outputs: dict[str, str] = {}
    stages: dict[str, dict] = {}
    if cover_stage is not None:
        stages["cover"] = {"key": cover_stage["key"], "outputs": cover_stage["outputs"]}
    tracks_lock = []
    for number, (s, r, base) in enumerate(zip(specs, rendered, bases), 1):
        encoded = results[("encode", number)]
        outputs.update(encoded["outputs"])
        stages[f"encode:{number:02d}"] = {"key": encoded["key"], "outputs": encoded["outputs"], "meta": encoded["meta"]}
        tracks_lock.append(
            {
                "number": number,
                "name": s.name,
                "title": s.title,
                "recipe": s.recipe.relative_to(album.project_root).as_posix(),
                "recipe_sha256": s.recipe_sha,
                "overrides": list(s.overrides),
                "seed": s.seed,
                "tempo": s.tempo,
                "key": s.key,
                "isrc": s.isrc,
                "files": base,
                "duration_s": round(r["frames"] / r["sample_rate"], 6),
                "master_sha256": r["master"],
                "loudness": r["loudness"],
                "stages": r["stages"],
                "seeds": r["seeds"],
                "models": r["models"],
                "build": s.build_command(album.project_root, album.name),
            }
        )
    mix_lock = None
    texts: dict[str, str] = {}
    if spec.output.mix:
        made = results[("mix", 0)]
        outputs.update(made["files"]["outputs"])
        texts.update(made["texts"])
        stages["mix"] = {"key": made["mix"]["key"], "outputs": made["mix"]["outputs"], "meta": made["mix"]["meta"]}
        stages["mix-files"] = {
            "key": made["files"]["key"],
            "outputs": made["files"]["outputs"],
            "meta": made["files"]["meta"],
        }
        if "video" in made:
            outputs.update(made["video"]["outputs"])
            stages["video"] = {"key": made["video"]["key"], "outputs": made["video"]["outputs"]}
        mix_lock = {
            "duration_s": made["duration_s"],
            "crossfade_bars": spec.crossfade_bars,
            "gap_s": spec.gap_s,
            "loudness": made["mix"]["meta"]["loudness"],
            "chapters": made["chapters"],
        }
    libraries = dict(rendered[0]["libraries"])
    libraries.update(tasks.library_versions(("mutagen", "pillow", "dask", "distributed")))
    if spec.video is not None:
        from lofictl.album.video import ffmpeg_version

        libraries["ffmpeg"] = ffmpeg_version()
    lock = {
        "lofictl_album_lock": ALBUM_LOCK_FORMAT,
        "lofictl": __version__,
        "album": {
            "file": album.path.name,
            "path": project_file(album.path),
            "sha256": sha256_file(album.path),
            "resolved": spec.model_dump(mode="json"),
        },
        "cover": {"source": spec.cover or "drawn", "sha256": sha256_bytes(art.data), "size": [art.width, art.height]},
        "tracks": tracks_lock,
        "mix": mix_lock,
        "stages": stages,
        "libraries": libraries,
        "_texts": texts,
    }
    return lock, outputs


def _protected(album: LoadedAlbum) -> list:
    from lofictl.build.runner import project_folders

    return project_folders(album.project_root, album.path)


def _output_folder(album: LoadedAlbum, out_dir: Path | None) -> Path:
    """--out, else output.dir, else build/<name>; refused unless the output rule lets it be replaced."""
    final_dir = Path(out_dir).absolute() if out_dir is not None else album.output_dir
    try:
        output_rule.check_replaceable(final_dir, _protected(album), project_file(album.path))
    except LofictlError as exc:
        if out_dir is not None:
            raise LofictlError(f"--out {out_dir}: {exc.message}") from None
        raise album.error(exc.message, ("output", "dir")) from None
    return final_dir


def _stage_folder(album: LoadedAlbum, final_dir: Path) -> Path:
    try:
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        output_rule.recover(final_dir, lock_path_for(album))
        return output_rule.staging_folder(final_dir)
    except OSError as exc:
        raise album.error(
            f"cannot write the output folder {final_dir}: {exc.strerror or exc}", ("output", "dir")
        ) from None


# --- verify ----------------------------------------------------------------------------------


def read_album_lock(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LofictlError(f"cannot read the album lock: {exc}", file=path) from None
    version = data.get("lofictl_album_lock") if isinstance(data, dict) else None
    if not isinstance(version, int) or not isinstance(data.get("outputs"), dict):
        raise LofictlError("not a lofictl album lock (no lofictl_album_lock version or outputs)", file=path)
    if version > ALBUM_LOCK_FORMAT:
        raise LofictlError(
            f"album lock format {version} is newer than this lofictl reads ({ALBUM_LOCK_FORMAT})", file=path
        )
    return data


def verify_album(path: Path, *, jobs: int = 1, scheduler: str | None = None) -> dict:
    """Rebuild the album with an empty cache into a temporary folder; compare with the lock."""
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
            quiet=True,
            write_lock=False,
        ).lock
    locked, rebuilt = lock["outputs"], fresh["outputs"]
    differences = sorted(
        rel
        for rel in set(locked) | set(rebuilt)
        if locked.get(rel, {}).get("sha256") != rebuilt.get(rel, {}).get("sha256")
    )
    old_tracks = {t.get("name"): t for t in lock.get("tracks", []) if isinstance(t, dict)}
    masters = [
        t["name"] for t in fresh["tracks"] if old_tracks.get(t["name"], {}).get("master_sha256") != t["master_sha256"]
    ]
    causes = []
    if differences or masters:
        if lock.get("album", {}).get("sha256") != fresh["album"]["sha256"]:
            causes.append("the album file changed since the lock was written")
        for name in sorted(set(lock.get("libraries", {})) | set(fresh["libraries"])):
            if lock.get("libraries", {}).get(name) != fresh["libraries"].get(name):
                causes.append(
                    f"{name} is {fresh['libraries'].get(name)} here, {lock['libraries'].get(name)} in the lock"
                )
        for track in fresh["tracks"]:
            if old_tracks.get(track["name"], {}).get("recipe_sha256") != track["recipe_sha256"]:
                causes.append(f"recipe {track['recipe']} changed since the lock was written")
        causes = causes or ["no version or input differs: a nondeterministic step (please report it)"]
    return {
        "recipe": str(path),
        "album": True,
        "identical": not differences and not masters,
        "checked": sorted(rebuilt),
        "differences": differences,
        "tracks_differing": masters,
        "first_stage": ("track master: " + masters[0]) if masters else (differences[0] if differences else None),
        "likely_causes": causes,
    }
