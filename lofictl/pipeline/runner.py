"""The build runner: recipe → every output file, through cached stages, written atomically.

`prepare` (pipeline.plan) resolves and checks everything outside the recipe (SoundFonts, presets,
effect parameters, overlay files, models) before any audio is made, so a mistake costs a
second, not a render. pipeline.stages declares the stages (what each reads, what it reads from the
others, the step that runs it); pipeline.inputs lists their inputs; pipeline.lock writes the lock.

`build_recipe` walks the stage table: a stage whose key is in the cache is restored instead of
run, and the lock file remembers the inputs so a rebuild can say what changed. Output goes into
a temporary sibling folder that replaces the old one only when everything succeeded: a killed
build leaves the previous outputs and lock.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lofictl import stage_names as names
from lofictl.errors import LofictlError
from lofictl.pipeline.cache import CACHE_DIR_NAME, Cache
from lofictl.pipeline.lock import lock_data, lock_path_for, lock_text, outputs_info, outputs_match, read_lock
from lofictl.pipeline.plan import TAIL_SECONDS, BuildPlan, prepare
from lofictl.pipeline.record import CacheCorrupt, StageLog
from lofictl.pipeline.stages import Walk, progress_total, stages_for
from lofictl.recipe.load import LoadedRecipe
from lofictl.recipe.yamlfile import FieldPath
from lofictl.safety import interrupts
from lofictl.safety import outputs as output_rule


@dataclass
class BuildResult:
    title: str
    recipe: Path
    out_dir: Path
    bars: int
    tempo: float
    duration_s: float  # the audio files: the music and, in a full build, the release tail
    elapsed_s: float
    outputs: list[tuple[str, int]] = field(default_factory=list)  # relative path, size in bytes
    loudness: dict | None = None
    lock_path: Path | None = None
    ran: list[str] = field(default_factory=list)  # stages that ran
    restored: list[str] = field(default_factory=list)  # stages restored from the cache
    reasons: list[str] = field(default_factory=list)  # why stages ran, in words
    up_to_date: bool = False
    lock: dict | None = None
    tempo_range: tuple[float, float] | None = None  # lowest and highest, when the tempo changes
    music_s: float = 0.0  # the bars at their tempo (what --midi-only and a full build agree on)


# --- the runner ---------------------------------------------------------------------------------


def build_recipe(
    loaded: LoadedRecipe,
    *,
    out_dir: Path | None = None,
    midi_only: bool = False,
    jobs: int = 1,
    quiet: bool = False,
    use_cache: bool = True,
    write_lock: bool | None = None,
    cache: Cache | None = None,
    master_only: bool = False,
) -> BuildResult:
    """Build one recipe. Ctrl-C or SIGTERM stop it at the next checkpoint (KeyboardInterrupt),
    with the previous outputs and lock as they were; so do full disks and other OS errors,
    as a LofictlError that says what happened. `cache` replaces the project's own (an album's
    shared stage cache); `master_only` stops after the mix (an album takes the master from the
    cache and encodes it itself: the track's own files would be written only to be thrown away)."""
    with interrupts.guard():
        try:
            return _build_recipe(loaded, out_dir, midi_only, jobs, quiet, use_cache, write_lock, cache, master_only)
        except OSError as exc:
            folder = out_dir if out_dir is not None else loaded.output_dir
            raise LofictlError(
                f"{describe_os_error(exc, folder)}; the previous outputs and lock are unchanged", file=loaded.path
            ) from None


def describe_os_error(exc: OSError, folder: Path | None = None) -> str:
    """'no space left on the device (at build/x/stems/01.wav)' and the like."""
    import errno

    reasons: dict[int | None, str] = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "the operation is not permitted",
        errno.EBUSY: "it is busy (a mount point or in use)",
        errno.EXDEV: "it is on another file system",
        errno.ENAMETOOLONG: "the name is too long",
        errno.EFBIG: "the file is too large for this file system or its limits",
        errno.EIO: "an input/output error (the disk may be failing)",
    }
    what = reasons.get(exc.errno, (exc.strerror or str(exc)).lower())
    where = exc.filename or (f"while building into {folder}" if folder is not None else None)
    return f"{what} ({where})" if where else what


class Source(Protocol):
    """What a build folder is made from: a LoadedRecipe, or an album (album.schema.LoadedAlbum)."""

    @property
    def path(self) -> Path: ...

    @property
    def project_root(self) -> Path: ...

    @property
    def project_file(self) -> str: ...

    @property
    def output_dir(self) -> Path: ...

    def error(self, message: str, field: FieldPath) -> LofictlError: ...


def output_folder(loaded: Source, out_dir: Path | None) -> Path:
    """Where a build (or an album) goes: --out, else output.dir, else build/<name>; checked by
    the output rule."""
    final_dir = Path(out_dir).absolute() if out_dir is not None else loaded.output_dir
    try:
        output_rule.check_replaceable(final_dir, protected_folders(loaded), loaded.project_file)
    except LofictlError as exc:
        if out_dir is not None:
            raise LofictlError(f"--out {out_dir}: {exc.message}") from None
        raise loaded.error(exc.message, ("output", "dir")) from None
    return final_dir


def make_room(loaded: Source, final_dir: Path, lock_path: Path | None) -> None:
    """The output folder's parent made, and what a killed build left beside the folder (and
    its lock) finished or undone (output_rule.recover), before a staging folder is made."""
    try:
        final_dir.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in final_dir.parents if p.is_file()), final_dir.parent)
        raise loaded.error(
            f"cannot write the output folder {final_dir}: {blocker} is a file", ("output", "dir")
        ) from None
    output_rule.recover(final_dir, lock_path)


def protected_folders(loaded: Source) -> list[tuple[Path, str]]:
    return project_folders(loaded.project_root, loaded.path)


def project_folders(project_root: Path, source: Path, label: str = "recipes") -> list[tuple[Path, str]]:
    """What no output folder may be (output_rule.protected_folders): the project, the folder of
    the file it is made from (a recipe, album or station: `label`), the current one, the cache."""
    return output_rule.protected_folders(
        project=project_root,
        **{label: source.resolve().parent},
        current=Path.cwd(),
        cache=project_root / CACHE_DIR_NAME,
    )


def _build_recipe(
    loaded: LoadedRecipe,
    out_dir: Path | None,
    midi_only: bool,
    jobs: int,
    quiet: bool,
    use_cache: bool,
    write_lock: bool | None,
    cache: Cache | None,
    master_only: bool,
) -> BuildResult:
    started = time.perf_counter()
    plan = prepare(loaded)
    final_dir = output_folder(loaded, out_dir)
    if write_lock is None:
        write_lock = out_dir is None
    lock_path = lock_path_for(loaded)
    make_room(loaded, final_dir, lock_path if write_lock else None)
    previous = _previous_lock(lock_path)
    if cache is None:
        cache = Cache(loaded.project_root / CACHE_DIR_NAME, enabled=use_cache)
    # Each corrupt object found drops its cache entry, so every retry gets further; a bounded
    # number of tries, then one that reads nothing from the cache.
    for attempt in range(len(plan.recipe.tracks) + 6):
        try:
            result = _build_once(
                plan, final_dir, previous, cache, midi_only, jobs, quiet, lock_path if write_lock else None, master_only
            )
            break
        except CacheCorrupt:
            if attempt == len(plan.recipe.tracks) + 4:
                cache.reads = False
    lock, stages, loudness, duration_s, up_to_date = result
    cache.save_state()
    outputs = [(rel, info["bytes"]) for rel, info in lock["outputs"].items()]
    recipe = plan.recipe
    compose_meta = stages.record[names.COMPOSE].get("meta", {})
    tempo_range = compose_meta.get("tempo_range")
    return BuildResult(
        title=recipe.title,
        recipe=loaded.path,
        out_dir=final_dir,
        bars=recipe.total_bars,
        tempo=recipe.tempo,
        duration_s=duration_s,
        music_s=compose_meta.get("duration_s", duration_s),
        elapsed_s=time.perf_counter() - started,
        outputs=outputs,
        loudness=loudness,
        lock_path=lock_path if write_lock else None,
        ran=stages.ran,
        restored=stages.restored,
        reasons=stages.reasons,
        up_to_date=up_to_date,
        lock=lock,
        tempo_range=tuple(tempo_range) if tempo_range else None,
    )


def _previous_lock(lock_path: Path) -> dict | None:
    """The lock of the last build, to say what changed; a damaged one is set aside with a warning
    (the build rewrites it), since `verify` and `diff` are where a lock's damage is reported."""
    if not lock_path.exists():
        return None
    from lofictl.safety.lockfile import LockTooNew

    try:
        return read_lock(lock_path)
    except LockTooNew:
        raise
    except LofictlError as exc:
        from lofictl.errors import warn

        warn(f"{exc}; building as if there were none (the build writes a new one)")
        return None


def _build_once(
    plan: BuildPlan,
    final_dir: Path,
    previous: dict | None,
    cache: Cache,
    midi_only: bool,
    jobs: int,
    quiet: bool,
    lock_path: Path | None,
    master_only: bool = False,
):
    from lofictl.pipeline.progress import Progress

    recipe = plan.recipe
    staging = output_rule.staging_folder(final_dir)
    work = staging / ".work"
    work.mkdir()
    stages = StageLog(cache, work, staging, previous, overrides=plan.loaded.overrides)
    try:
        total = progress_total(recipe, midi_only, master_only)
        with Progress(f"building {plan.loaded.path.name}", total, quiet=quiet) as progress:
            score_meta, loudness = _run_stages(plan, stages, midi_only, jobs, progress, master_only)
            duration_s = score_meta["duration_s"] + (0 if midi_only else TAIL_SECONDS)
            outputs = outputs_info(stages, recipe.output.sample_rate, score_meta, midi_only)
            lock = lock_data(plan, stages, outputs, loudness, midi_only, duration_s, cache)
            text = lock_text(lock)
            up_to_date = (
                previous is not None
                and not stages.ran
                and final_dir.is_dir()
                and _same_text(final_dir / output_rule.OWNER_FILE, text)
                and (lock_path is None or _same_text(lock_path, text))
                and outputs_match(final_dir, outputs, cache)
            )
            if up_to_date:
                # Nothing changed and the folder still holds exactly the locked files: leave it be.
                shutil.rmtree(staging)
            else:
                progress.step("putting outputs in place")
                for artifact in stages.final.values():
                    artifact.ready(cache)
                shutil.rmtree(work)
                (staging / output_rule.OWNER_FILE).write_text(text, encoding="utf-8")
                interrupts.checkpoint()  # a stop asked for, even one swallowed somewhere, never commits
                output_rule.commit(
                    staging,
                    final_dir,
                    protected_folders(plan.loaded),
                    output_rule.LockUpdate(lock_path, text) if lock_path is not None else None,
                )
                for rel, info in outputs.items():  # so the next no-op build need not re-read them
                    cache.remember(final_dir / rel, info["sha256"])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return lock, stages, loudness, duration_s, up_to_date


def _run_stages(
    plan: BuildPlan, stages: StageLog, midi_only: bool, jobs: int, progress, master_only: bool = False
) -> tuple[dict, dict | None]:
    """Every stage of the table in order (run, restored, or in dry mode planned): the score's facts
    and the master's loudness. `master_only` stops after the mix (an album encodes the master itself)."""
    # With one job the build stays on one thread; a dry walk renders nothing to warm up for.
    walk = Walk(plan, stages, progress, jobs, overlap=jobs > 1 and not midi_only and not stages.dry)
    try:
        for stage in stages_for(midi_only, master_only):
            stage.step(walk, stage)
        walk.complete()
    finally:
        walk.finish()  # nothing runs beside the build once its walk is over, even a failed one
    return walk.score_meta, walk.loudness


def plan_build(loaded: LoadedRecipe, *, midi_only: bool = False) -> StageLog:
    """What `build` would do now, without doing it: each stage restored from the cache or run.

    The stages are walked by the build's own code in dry mode (only compose runs, when it is not
    cached, to know which tracks' notes change); nothing is written.
    """
    from lofictl.pipeline.progress import Progress

    plan = prepare(loaded)
    lock_path = lock_path_for(loaded)
    previous = read_lock(lock_path) if lock_path.exists() else None
    cache = Cache(loaded.project_root / CACHE_DIR_NAME)
    stages = StageLog(cache, Path("(planned)"), Path("(planned)"), previous, dry=True, overrides=loaded.overrides)
    with Progress("planning", 1, quiet=True) as progress:
        _run_stages(plan, stages, midi_only, 1, progress)
    return stages


def _same_text(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False
