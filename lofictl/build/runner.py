"""The build runner: recipe → every output file, through cached stages, written atomically.

`prepare` (build.plan) resolves and checks everything outside the recipe (SoundFonts, presets,
effect parameters, overlay files, models) before any audio is made, so a mistake costs a
second, not a render. build.inputs declares what each stage reads; build.lock writes the lock.

`build_recipe` runs the stages

    compose → midi (+ piano roll)
            → stem:<track> (one per track: FluidSynth, effects, gain/pan)
            → overlays → mix (master chain, loudness, true peak) → export (files)

Each stage declares its inputs (the recipe fields it reads, hashes of the files it reads, the
hashes of its upstream outputs, library versions); its key is the hash of those. A stage whose
key is in the cache is restored instead of run, and the lock file remembers the inputs so a
rebuild can say what changed. Output goes into a temporary sibling folder that replaces the
old one only when everything succeeded: a killed build leaves the previous outputs and lock.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lofictl import __version__
from lofictl.build.cache import CACHE_DIR_NAME, Cache, canonical_json, sha256_bytes, stage_key
from lofictl.build.inputs import (
    bus_inputs,
    compose_inputs,
    dry_inputs,
    duck_args,
    export_inputs,
    kick_samples,
    master_tags,
    midi_inputs,
    mix_inputs,
    overlay_layer,
    overlays_inputs,
    provenance_info,
    stem_inputs,
    track_sha,
)
from lofictl.build.lock import lock_data, lock_path_for, lock_text, outputs_info, outputs_match, read_lock
from lofictl.build.plan import TAIL_SECONDS, BuildPlan, audible_tracks, n_samples_for, prepare
from lofictl.compose.score import Score, score_from_dict, score_to_dict
from lofictl.errors import LofictlError
from lofictl.recipe.load import LoadedRecipe
from lofictl.recipe.schema import Recipe
from lofictl.safety import interrupts
from lofictl.safety import outputs as output_rule
from lofictl.safety.fingerprints import code_inputs
from lofictl.safety.names import slug

STAGE_ORDER = ("compose", "midi", "stems", "overlays", "bus", "mix", "export")
BUS_LABEL = "reverb-bus"


@dataclass
class BuildResult:
    title: str
    recipe: Path
    out_dir: Path
    bars: int
    tempo: float
    duration_s: float
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

    def summary(self) -> dict:
        """The machine-readable summary printed by --json."""
        return {
            "recipe": str(self.recipe),
            "title": self.title,
            "out_dir": str(self.out_dir),
            "bars": self.bars,
            "tempo": self.tempo,
            "duration_s": round(self.duration_s, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "up_to_date": self.up_to_date,
            "stages_ran": self.ran,
            "stages_restored": self.restored,
            "reasons": self.reasons,
            "loudness": self.loudness,
            "lock": str(self.lock_path) if self.lock_path else None,
            "outputs": {rel: size for rel, size in self.outputs},
            "tempo_range": list(self.tempo_range) if self.tempo_range else None,
        }


class CacheCorrupt(Exception):
    """A cached object failed its hash check while being restored; the build starts over."""


@dataclass
class Artifact:
    """A stage output: a file already written, or one still in the cache (restored on demand).

    A fully cached rebuild then copies nothing it does not need.
    """

    path: Path
    entry: Any = None  # cache.Entry while the file is still only in the cache
    name: str = ""

    def ready(self, cache: Cache) -> Path:
        if self.entry is not None:
            if not cache.restore(self.entry, self.name, self.path):
                raise CacheCorrupt(self.name)
            self.entry = None
        return self.path


# --- the stages' work ---------------------------------------------------------------------------


def compose_score(plan: BuildPlan, measures: dict | None = None) -> Score:
    """The Score; `measures` (if given) receives each melody's measures for the lock."""
    from lofictl.compose.arrangement import compose

    programs = {name: (inst.preset.bank, inst.preset.program) for name, inst in plan.instruments.items()}
    try:
        return compose(plan.recipe, models=plan.models, programs=programs, clips=plan.clips, measures=measures)
    except LofictlError as exc:
        raise plan.loaded.locate(exc) from None


def _render_to_file(args: tuple) -> str:
    """Render one stem into a float32 WAV block by block (bounded memory for long tracks; the
    same bytes as sound.reference.render_stem + write_wav)."""
    from lofictl.sound import stems

    track, timing, instrument, sample_rate, n_samples, effect_chain, gain_db, pan, duck, info, path = args
    stems.render_stem_to_wav(
        track,
        timing,
        instrument.soundfont,
        instrument.preset,
        sample_rate,
        n_samples,
        effect_chain,
        gain_db,
        pan,
        Path(path),
        info=info,
        duck=duck,
    )
    return path


def overlay_label(recipe: Recipe, index: int) -> str:
    overlay = recipe.overlays[index]
    label = (slug(Path(overlay.file).stem) or "file") if overlay.file is not None else overlay.ambience
    return f"overlay-{index + 1}-{label}"


# --- the runner ---------------------------------------------------------------------------------


def changed_inputs(old: dict, new: dict) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def change_reason(old: dict, new: dict) -> str:
    """Words for what differs between a stage's recorded inputs and today's."""
    changed = changed_inputs(old, new)
    if "code.version" in changed:
        rest = [k for k in changed if k != "code.version"]
        words = f"its code changed (version {old.get('code.version', 'none')} → {new.get('code.version')})"
        return words + (f"; also {', '.join(rest[:3])}" if rest else "")
    if changed:
        return ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "") + " changed"
    return "not in the cache (cleared, or lofictl's code was edited since)"


class _Stages:
    """Runs or restores each stage, and remembers what happened for the summary and the lock.

    With `dry`, a stage that is not in the cache is not run: it is marked as one that would run,
    and its outputs get placeholder hashes, so every stage after it sees changed inputs. `diff`
    plans a build this way, through the very code that builds, so the two cannot disagree.
    """

    def __init__(self, cache: Cache, work: Path, staging: Path, previous: dict | None, dry: bool = False):
        self.cache = cache
        self.work = work
        self.staging = staging
        self.previous = (previous or {}).get("stages", {})
        self.dry = dry
        self.record: dict[str, dict] = {}
        self.ran: list[str] = []
        self.restored: list[str] = []
        self.reasons: list[str] = []
        self.changed: dict[str, list[str]] = {}  # stage → the inputs that differ from the lock
        self.final: dict[str, Artifact] = {}  # output folder path → artifact

    def key(self, name: str, inputs: dict) -> str:
        """The stage key: its inputs plus its code version (safety.fingerprints), as the lock records."""
        stage = name.split(":")[0]
        inputs = {**inputs, **code_inputs(stage)}
        key = stage_key(stage, inputs)
        self.record[name] = {"key": key, "inputs": inputs}
        interrupts.checkpoint()
        return key

    def explain(self, name: str) -> None:
        """Why a stage runs: the inputs that differ from the lock's record of the last build."""
        before = self.previous.get(name)
        if before is None:
            self.changed[name] = []
            self.reasons.append(f"{name}: not built before")
            return
        old, new = before.get("inputs", {}), self.record[name]["inputs"]
        self.changed[name] = changed_inputs(old, new)
        self.reasons.append(f"{name}: {change_reason(old, new)}")

    def lookup(self, name: str, key: str, inputs: dict):
        entry = self.cache.lookup(key, name.split(":")[0])
        if entry is None:
            self.explain(name)
        return entry

    def restored_from(self, name: str, entry, folder: Path, meta: dict | None = None) -> dict[str, Artifact]:
        """Mark a stage as restored; its outputs stay in the cache until someone needs them."""
        self.record[name]["outputs"] = dict(entry.outputs)
        if meta:
            self.record[name]["meta"] = meta
        self.restored.append(name)
        return {rel: Artifact(folder / rel, entry, rel) for rel in entry.outputs}

    def would_run(self, name: str, outputs: list[str] | tuple[str, ...] = ()) -> dict[str, Artifact]:
        """Dry mode: the stage would run; its outputs are unknown until it does."""
        self.record[name]["outputs"] = {rel: f"(made by {name})" for rel in outputs}
        self.ran.append(name)
        return {rel: Artifact(Path(rel)) for rel in outputs}

    def ran_with(self, name: str, key: str, files: dict[str, Path], meta: dict | None = None) -> dict[str, Artifact]:
        self.cache.store(key, name.split(":")[0], files, meta)
        self.record[name]["outputs"] = {rel: _sha(path) for rel, path in files.items()}
        if meta:
            self.record[name]["meta"] = meta
        self.ran.append(name)
        return {rel: Artifact(path) for rel, path in files.items()}


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

    what = {
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
    }.get(exc.errno, (exc.strerror or str(exc)).lower())
    where = exc.filename or (f"while building into {folder}" if folder is not None else None)
    return f"{what} ({where})" if where else what


def output_folder(loaded: LoadedRecipe, out_dir: Path | None) -> Path:
    """Where a build goes: --out, else output.dir, else build/<name>; checked by the output rule."""
    final_dir = Path(out_dir).absolute() if out_dir is not None else loaded.output_dir
    try:
        output_rule.check_replaceable(final_dir, protected_folders(loaded), loaded.path.name)
    except LofictlError as exc:
        if out_dir is not None:
            raise LofictlError(f"--out {out_dir}: {exc.message}") from None
        raise loaded.error(exc.message, ("output", "dir")) from None
    return final_dir


def protected_folders(loaded: LoadedRecipe) -> list[tuple[Path, str]]:
    return output_rule.protected_folders(
        project=loaded.project_root,
        recipes=loaded.path.resolve().parent,
        current=Path.cwd(),
        cache=loaded.project_root / CACHE_DIR_NAME,
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
    try:
        final_dir.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in final_dir.parents if p.is_file()), final_dir.parent)
        raise loaded.error(
            f"cannot write the output folder {final_dir}: {blocker} is a file", ("output", "dir")
        ) from None
    output_rule.recover(final_dir, lock_path if write_lock else None)
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
    tempo_range = stages.record["compose"].get("meta", {}).get("tempo_range")
    return BuildResult(
        recipe.title,
        loaded.path,
        final_dir,
        recipe.total_bars,
        recipe.tempo,
        duration_s,
        time.perf_counter() - started,
        outputs,
        loudness,
        lock_path if write_lock else None,
        stages.ran,
        stages.restored,
        stages.reasons,
        up_to_date,
        lock,
        tuple(tempo_range) if tempo_range else None,
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
        from lofictl.build.cache import warn

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
    from lofictl.build.progress import Progress

    recipe = plan.recipe
    staging = output_rule.staging_folder(final_dir)
    work = staging / ".work"
    work.mkdir()
    stages = _Stages(cache, work, staging, previous)
    try:
        with Progress(
            f"building {plan.loaded.path.name}", 6 + (0 if midi_only else len(recipe.tracks)), quiet=quiet
        ) as progress:
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
    plan: BuildPlan, stages: _Stages, midi_only: bool, jobs: int, progress, master_only: bool = False
) -> tuple[dict, dict | None]:
    """Every stage in order (run, restored, or in dry mode planned): the score's facts and loudness.
    `master_only` stops after the mix (an album encodes the master itself)."""
    score, score_meta = _stage_compose(plan, stages, progress)
    _stage_midi(plan, stages, score, progress)
    if midi_only:
        return score_meta, None
    stems = _stage_stems(plan, stages, score, score_meta, jobs, progress)
    overlays = _stage_overlays(plan, stages, score, score_meta, progress)
    overlays.update(_stage_bus(plan, stages, stems, score_meta, progress))
    master, loudness = _stage_mix(plan, stages, stems, overlays, progress)
    if not master_only:
        dry = _stage_dry_stems(plan, stages, score, score_meta, progress)
        _stage_export(plan, stages, score, stems, overlays, dry, master, progress, jobs)
    return score_meta, loudness


def plan_build(loaded: LoadedRecipe, *, midi_only: bool = False) -> _Stages:
    """What `build` would do now, without doing it: each stage restored from the cache or run.

    The stages are walked by the build's own code in dry mode (only compose runs, when it is not
    cached, to know which tracks' notes change); nothing is written.
    """
    from lofictl.build.progress import Progress

    plan = prepare(loaded)
    lock_path = lock_path_for(loaded)
    previous = read_lock(lock_path) if lock_path.exists() else None
    cache = Cache(loaded.project_root / CACHE_DIR_NAME)
    stages = _Stages(cache, Path("(planned)"), Path("(planned)"), previous, dry=True)
    with Progress("planning", 1, quiet=True) as progress:
        _run_stages(plan, stages, midi_only, 1, progress)
    return stages


def _same_text(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def _stage_compose(plan: BuildPlan, stages: _Stages, progress) -> tuple[Score, dict]:
    progress.step("composing")
    inputs = compose_inputs(plan, stages.cache)
    key = stages.key("compose", inputs)
    entry = stages.lookup("compose", key, inputs)
    data = stages.cache.read_bytes(entry, "score.json") if entry else None
    measures: dict = dict(entry.meta.get("melody", {})) if data is not None else {}
    score = score_from_dict(json.loads(data)) if data is not None else compose_score(plan, measures)
    meta = {
        "duration_s": round(score.duration_seconds, 6),
        "tracks": {t.name: track_sha(score, t) for t in score.tracks},
        "melody": measures,
    }
    if score.tempo_changes:
        meta["tempo_range"] = list(score.tempo_range)
    if data is not None:
        stages.restored_from("compose", entry, stages.work, meta)
    elif stages.dry:
        stages.would_run("compose")
        stages.record["compose"]["outputs"] = {
            "score.json": sha256_bytes(canonical_json(score_to_dict(score)).encode())
        }
    else:
        path = stages.work / "score.json"
        path.write_bytes(canonical_json(score_to_dict(score)).encode())
        stages.ran_with("compose", key, {"score.json": path}, meta)
    progress.advance()
    return score, meta


def _provenance(plan: BuildPlan, key: str) -> dict:
    recipe = plan.recipe
    return {
        "recipe": plan.loaded.path.name,
        "title": recipe.title,
        "seed": str(recipe.seed),
        "stage_key": key[:16],
        "lofictl": __version__,
        "models": {name: path.name for name, path in sorted(plan.models.items())},
    }


def _stage_midi(plan: BuildPlan, stages: _Stages, score: Score, progress) -> None:
    progress.step("writing MIDI and the piano roll")
    name = plan.loaded.name
    inputs = midi_inputs(plan, stages.record["compose"]["outputs"]["score.json"])
    key = stages.key("midi", inputs)
    entry = stages.lookup("midi", key, inputs)
    if entry is not None:
        stages.final.update(stages.restored_from("midi", entry, stages.staging))
    elif stages.dry:
        stages.would_run("midi")
    else:
        from lofictl.export import midi, pianoroll

        provenance = _provenance(plan, key)
        (stages.staging / "midi").mkdir(exist_ok=True)
        files = {
            f"midi/{name}.mid": stages.staging / "midi" / f"{name}.mid",
            "pianoroll.png": stages.staging / "pianoroll.png",
        }
        midi.write_midi(midi.score_to_midi(score, provenance=provenance), files[f"midi/{name}.mid"])
        for track in score.tracks:
            path = files[f"midi/{track.name}.mid"] = stages.staging / "midi" / f"{track.name}.mid"
            midi.write_midi(midi.track_to_midi(score, track.name, provenance=provenance), path)
        for page in pianoroll.render_pianoroll(score, files["pianoroll.png"]):  # long pieces: more pages
            files[page.name] = page
        stages.final.update(stages.ran_with("midi", key, files))
    progress.advance()


def _sha(path: Path) -> str:
    from lofictl.build.cache import sha256_file

    return sha256_file(path)


def _stage_stems(
    plan: BuildPlan, stages: _Stages, score: Score, score_meta: dict, jobs: int, progress
) -> dict[str, Artifact]:
    """Float32 stems, one per track, rendered in parallel threads where asked."""
    progress.step("rendering stems")
    recipe = plan.recipe
    sample_rate = recipe.output.sample_rate
    n_samples = n_samples_for(score_meta["duration_s"], sample_rate)
    stems: dict[str, Artifact] = {}
    todo: dict[str, tuple] = {}
    keys: dict[str, str] = {}
    kicks = kick_samples(plan, score)
    kicks_sha = sha256_bytes(canonical_json(kicks).encode())
    for track in score.tracks:
        spec = recipe.tracks[track.name]
        instrument = plan.instruments[track.name]
        name = f"stem:{track.name}"
        inputs = stem_inputs(
            plan,
            track.name,
            score_meta["tracks"][track.name],
            n_samples,
            stages.cache,
            kicks_sha if spec.duck else None,
        )
        key = keys[track.name] = stages.key(name, inputs)
        entry = stages.lookup(name, key, inputs)
        if entry is not None:
            artifact = stages.restored_from(name, entry, stages.work / f"stem-{track.name}")["audio.wav"]
            stems[track.name] = artifact
            progress.advance(f"{track.name} is unchanged")
            continue
        if stages.dry:
            stems[track.name] = stages.would_run(name, ["audio.wav"])["audio.wav"]
            continue
        path = stages.work / f"stem-{track.name}" / "audio.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        todo[track.name] = (
            track,
            score.tempo_map,
            instrument,
            sample_rate,
            n_samples,
            plan.chains[f"tracks.{track.name}"],
            spec.gain_db,
            spec.pan,
            duck_args(spec.duck, kicks),
            provenance_info(plan, key, track=track.name),
            str(path),
        )

    def finished(track_name: str) -> None:
        path = Path(todo[track_name][-1])
        stems[track_name] = stages.ran_with(f"stem:{track_name}", keys[track_name], {"audio.wav": path})["audio.wav"]
        progress.advance(f"rendered {track_name}")

    if jobs > 1 and len(todo) > 1:
        # Threads, not processes: FluidSynth (through ctypes), Pedalboard and NumPy release the GIL
        # while they work, so stems render side by side without a process's start-up (JAX, the
        # SoundFont) per worker. Each stem has its own synth, chain and file: order cannot change bytes.
        with ThreadPoolExecutor(max_workers=min(jobs, len(todo)), thread_name_prefix="lofictl-stem") as pool:
            futures = {name: pool.submit(_render_to_file, args) for name, args in todo.items()}
            for name, future in futures.items():
                with _finite(plan, ("tracks", name, "effects"), f"the effect chain of {name}"):
                    future.result()
                finished(name)
    else:
        for name, args in todo.items():
            with _finite(plan, ("tracks", name, "effects"), f"the effect chain of {name}"):
                _render_to_file(args)
            finished(name)
    return {name: stems[name] for name in recipe.tracks}


def _stage_overlays(plan: BuildPlan, stages: _Stages, score: Score, score_meta: dict, progress) -> dict[str, Artifact]:
    progress.step("ambience")
    recipe = plan.recipe
    if not recipe.overlays:
        progress.advance()
        return {}
    sample_rate = recipe.output.sample_rate
    n_samples = n_samples_for(score_meta["duration_s"], sample_rate)
    kicks = kick_samples(plan, score)
    inputs = overlays_inputs(plan, n_samples, stages.cache, sha256_bytes(canonical_json(kicks).encode()))
    key = stages.key("overlays", inputs)
    folder = stages.work / "overlays"
    entry = stages.lookup("overlays", key, inputs)
    if entry is not None:
        restored = stages.restored_from("overlays", entry, folder)
    elif stages.dry:
        restored = stages.would_run(
            "overlays", [f"{overlay_label(recipe, i)}.wav" for i in range(len(recipe.overlays))]
        )
    else:
        from lofictl.sound import stems

        folder.mkdir()
        files = {}
        for index in range(len(recipe.overlays)):
            path = files[f"{overlay_label(recipe, index)}.wav"] = folder / f"{overlay_label(recipe, index)}.wav"
            stems.render_overlay_to_wav(
                overlay_layer(plan, index),
                sample_rate,
                n_samples,
                path,  # reference.render_overlay's bytes, in blocks
                duck=duck_args(recipe.overlays[index].duck, kicks),
            )
        restored = stages.ran_with("overlays", key, files)
    progress.advance()
    return {overlay_label(recipe, i): restored[f"{overlay_label(recipe, i)}.wav"] for i in range(len(recipe.overlays))}


@contextlib.contextmanager
def _finite(plan: BuildPlan, where: tuple, what: str):
    """NaN or infinite samples become an error at the chain that made them."""
    from lofictl.sound.audio_io import NonFiniteAudio

    try:
        yield
    except NonFiniteAudio:
        raise plan.loaded.error(
            f"{what} makes NaN or infinite samples; lower the gains, drive or feedback in it", where
        ) from None


def _layer_shas(stages: _Stages) -> dict[str, str]:
    """label → sha256 of the extra mix layers: overlays and the send bus."""
    shas = {
        label.removesuffix(".wav"): digest
        for label, digest in stages.record.get("overlays", {}).get("outputs", {}).items()
    }
    if "bus" in stages.record:
        shas[BUS_LABEL] = stages.record["bus"]["outputs"]["bus.wav"]
    return shas


def _stage_bus(
    plan: BuildPlan, stages: _Stages, stems: dict[str, Artifact], score_meta: dict, progress
) -> dict[str, Artifact]:
    """The shared reverb bus: the tracks with a send_db, summed at their levels, through master.bus."""
    recipe = plan.recipe
    playing = audible_tracks(recipe)
    sends = {name: recipe.tracks[name].send_db for name in playing if recipe.tracks[name].send_db is not None}
    if not sends:
        return {}
    progress.step("send bus")
    sample_rate = recipe.output.sample_rate
    n_samples = n_samples_for(score_meta["duration_s"], sample_rate)
    inputs = bus_inputs(
        plan, {name: stages.record[f"stem:{name}"]["outputs"]["audio.wav"] for name in sends}, n_samples, stages.cache
    )
    key = stages.key("bus", inputs)
    entry = stages.lookup("bus", key, inputs)
    if entry is not None:
        return {BUS_LABEL: stages.restored_from("bus", entry, stages.work / "bus")["bus.wav"]}
    if stages.dry:
        return {BUS_LABEL: stages.would_run("bus", ["bus.wav"])["bus.wav"]}
    from lofictl.sound import master

    path = stages.work / "bus" / "bus.wav"
    path.parent.mkdir()
    with _finite(plan, ("master", "bus"), "the send bus chain"):
        master.send_bus_to_wav(
            [(stems[name].ready(stages.cache), level) for name, level in sends.items()],
            sample_rate,
            n_samples,
            plan.chains["master.bus"],
            path,
            info=provenance_info(plan, key, track=BUS_LABEL),
        )
    return {BUS_LABEL: stages.ran_with("bus", key, {"bus.wav": path})["bus.wav"]}


def _stage_mix(
    plan: BuildPlan, stages: _Stages, stems: dict[str, Artifact], overlays: dict[str, Artifact], progress
) -> tuple[Artifact, dict]:
    progress.step("mixing and mastering")
    recipe = plan.recipe
    playing = audible_tracks(recipe)
    inputs = mix_inputs(
        plan,
        {name: stages.record[f"stem:{name}"]["outputs"]["audio.wav"] for name in playing},
        _layer_shas(stages),
        stages.cache,
    )
    key = stages.key("mix", inputs)
    entry = stages.lookup("mix", key, inputs)
    if entry is not None and "loudness" in entry.meta:
        stats = entry.meta["loudness"]
        artifact = stages.restored_from("mix", entry, stages.work / "mix", {"loudness": stats})["master.wav"]
    elif stages.dry:
        artifact, stats = stages.would_run("mix", ["master.wav"])["master.wav"], None
    else:
        from lofictl.sound import master, stream

        # Summed in a fixed order (float addition is not associative), mastered in passes over
        # files: reference.master's result without holding any stem in memory.
        sources = [stems[name].ready(stages.cache) for name in playing]
        sources += [a.ready(stages.cache) for a in overlays.values()]
        with stream.AudioReader(next(iter(stems.values())).ready(stages.cache)) as first:
            n_samples = first.frames  # the length of silence when every track is muted
        path = stages.work / "mix" / "master.wav"
        path.parent.mkdir()
        with _finite(plan, ("master", "effects"), "the master chain"):
            stats = master.mix_to_master_wav(
                sources,
                recipe.output.sample_rate,
                plan.chains["master.effects"],
                recipe.master.loudness_lufs,
                recipe.master.true_peak_db,
                path,
                n_samples=n_samples,
            )
        artifact = stages.ran_with("mix", key, {"master.wav": path}, {"loudness": stats})["master.wav"]
    progress.advance()
    return artifact, stats


@dataclass(frozen=True)
class StemFile:
    """One stem file of the output folder: which track (or layer) it holds, and its source."""

    label: str  # the track name, an overlay label or the bus
    kind: str  # wet | dry | layer
    source: Artifact


def stem_files(
    plan: BuildPlan, stems: dict[str, Artifact], layers: dict[str, Artifact], dry: dict[str, Artifact]
) -> dict[str, StemFile]:
    """stems/NN_<name>.wav in recipe order (layers after the tracks), dry twins in stems/dry/.

    With output.stem_names: delivery, the names follow stem-delivery guides instead:
    <Title>_<NN>_<Track>_<Key>_<BPM>bpm.wav.
    """
    from lofictl.export import daw

    recipe = plan.recipe
    files: dict[str, StemFile] = {}
    for number, label in enumerate([*stems, *layers], 1):
        if recipe.output.stem_names == "delivery":
            file_name = daw.stem_file_name(recipe.title, number, label, recipe.key, recipe.tempo)
        else:
            file_name = f"{number:02d}_{label}.wav"
        if label in stems:
            files[f"stems/{file_name}"] = StemFile(label, "wet", stems[label])
            if label in dry:
                files[f"stems/dry/{file_name}"] = StemFile(label, "dry", dry[label])
        else:
            files[f"stems/{file_name}"] = StemFile(label, "layer", layers[label])
    return files


def _stage_dry_stems(plan: BuildPlan, stages: _Stages, score: Score, score_meta: dict, progress) -> dict[str, Artifact]:
    """The instrument alone (no effects, gain or pan), for DAW users who redo the effects."""
    recipe = plan.recipe
    if not (recipe.output.daw and recipe.output.dry_stems):
        return {}
    progress.step("rendering dry stems")
    sample_rate = recipe.output.sample_rate
    n_samples = n_samples_for(score_meta["duration_s"], sample_rate)
    dry: dict[str, Artifact] = {}
    for track in score.tracks:
        name = f"dry:{track.name}"
        instrument = plan.instruments[track.name]
        inputs = dry_inputs(plan, track.name, score_meta["tracks"][track.name], n_samples, stages.cache)
        key = stages.key(name, inputs)
        entry = stages.lookup(name, key, inputs)
        if entry is not None:
            dry[track.name] = stages.restored_from(name, entry, stages.work / f"dry-{track.name}")["audio.wav"]
            continue
        if stages.dry:
            dry[track.name] = stages.would_run(name, ["audio.wav"])["audio.wav"]
            continue
        from lofictl.sound import stems

        path = stages.work / f"dry-{track.name}" / "audio.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        stems.render_stem_to_wav(
            track,
            score.tempo_map,
            instrument.soundfont,
            instrument.preset,
            sample_rate,
            n_samples,
            [],
            0.0,
            0.0,
            path,
            info=provenance_info(plan, key, track=track.name, kind="dry"),
        )
        dry[track.name] = stages.ran_with(name, key, {"audio.wav": path})["audio.wav"]
    return dry


def _stage_export(
    plan: BuildPlan,
    stages: _Stages,
    score: Score,
    stems: dict[str, Artifact],
    layers: dict[str, Artifact],
    dry: dict[str, Artifact],
    master: Artifact,
    progress,
    jobs: int = 1,
) -> None:
    progress.step("writing audio files")
    recipe = plan.recipe
    name = plan.loaded.name
    files_to_write = stem_files(plan, stems, layers, dry)
    layer_shas = _layer_shas(stages)
    shas = {
        rel: (
            layer_shas[f.label]
            if f.kind == "layer"
            else stages.record[f"{'stem' if f.kind == 'wet' else 'dry'}:{f.label}"]["outputs"]["audio.wav"]
        )
        for rel, f in files_to_write.items()
    }
    inputs = export_inputs(plan, stages.record["mix"]["outputs"]["master.wav"], shas)
    inputs["score"] = stages.record["compose"]["outputs"]["score.json"]
    key = stages.key("export", inputs)
    entry = stages.lookup("export", key, inputs)
    if entry is not None and "encoded" in entry.meta:
        stages.final.update(stages.restored_from("export", entry, stages.staging, dict(entry.meta)))
    elif stages.dry:
        stages.would_run("export")
    else:
        from lofictl.export import encode, tags
        from lofictl.sound import stream
        from lofictl.sound.loudness import measure_loudness

        files: dict[str, Path] = {}

        def write_stem(rel: str, stem: StemFile) -> float | None:
            source = stem.source.ready(stages.cache)
            if recipe.output.wav_format == "float32":
                shutil.copyfile(source, files[rel])  # already float32 WAV, byte for byte
            else:
                stream.encode_wav_to(
                    source,
                    files[rel],
                    "wav",
                    recipe.output.sample_rate,
                    wav_subtype=recipe.output.wav_format,
                    info=provenance_info(plan, key, track=stem.label),
                )
            return measure_loudness(source)

        def write_master(rel: str, fmt: str) -> dict:
            # An MP3 is measured after encoding and pulled under the true-peak ceiling.
            stats = encode.encode_master(
                master_path,
                files[rel],
                fmt,
                recipe.output.sample_rate,
                ceiling_db=recipe.master.true_peak_db,
                wav_subtype=recipe.output.wav_format,
                info=provenance_info(plan, key),
            )
            if fmt != "wav":  # title, BPM, key and the provenance comment, as the WAV's INFO chunk has
                tags.tag_file(files[rel], master_tags(plan, key))
            return stats

        for rel in files_to_write:
            files[rel] = stages.staging / rel
            files[rel].parent.mkdir(parents=True, exist_ok=True)
        for stem in files_to_write.values():
            stem.source.ready(stages.cache)  # restored here, one at a time: the cache is not shared by threads
        master_path = master.ready(stages.cache)
        masters = {f"{name}.{fmt}": fmt for fmt in recipe.output.formats}
        files.update({rel: stages.staging / rel for rel in masters})
        # The encoders and the stem meters release the GIL: they run side by side, the MP3 (the
        # slowest) first. Each writes its own file, so the bytes are those of a serial export.
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="lofictl-export") as pool:
            master_futures = {
                rel: pool.submit(write_master, rel, fmt)
                for rel, fmt in sorted(masters.items(), key=lambda item: item[1] != "mp3")
            }
            stem_futures = {rel: pool.submit(write_stem, rel, stem) for rel, stem in files_to_write.items()}
            loudness = {rel: future.result() for rel, future in stem_futures.items()}
            encoded = {rel: master_futures[rel].result() for rel in masters}
        files.update(_daw_files(plan, score, stages.staging, files_to_write))
        stages.final.update(stages.ran_with("export", key, files, {"loudness": loudness, "encoded": encoded}))
    progress.advance()


def _daw_files(plan: BuildPlan, score: Score, staging: Path, files: dict[str, StemFile]) -> dict[str, Path]:
    """The stem sidecar JSON, and REAPER / DAWproject files when the recipe asks for them."""
    from lofictl.export import daw, dawproject, reaper, sidecar

    recipe = plan.recipe
    name = plan.loaded.name
    audible = set(audible_tracks(recipe))
    infos = []
    for rel, stem in files.items():
        spec = recipe.tracks.get(stem.label)
        if stem.kind == "layer":
            infos.append(daw.StemInfo(stem.label, Path(rel), "overlay"))
        elif stem.kind == "wet":
            infos.append(
                daw.StemInfo(stem.label, Path(rel), "wet", spec.gain_db, spec.pan, muted=stem.label not in audible)
            )
        else:
            infos.append(daw.StemInfo(stem.label, Path(rel), "dry", spec.gain_db, spec.pan, muted=True))
    mix_format = next((f for f in ("wav", "flac") if f in recipe.output.formats), None)
    if mix_format:
        infos.append(daw.StemInfo(recipe.title, Path(f"{name}.{mix_format}"), "mix"))
    written = {f"{name}.stems.json": staging / f"{name}.stems.json"}
    written[f"{name}.stems.json"].write_text(
        sidecar.sidecar_text(sidecar.stems_sidecar(score, recipe.output.sample_rate, infos, title=recipe.title))
    )
    export = daw.DawExport(recipe.title, score, tuple(infos), recipe.output.sample_rate)
    if "reaper" in recipe.output.daw:
        written[f"{name}.rpp"] = reaper.write_reaper_project(staging / f"{name}.rpp", export)
    if "dawproject" in recipe.output.daw:
        written[f"{name}.dawproject"] = dawproject.write_dawproject(staging / f"{name}.dawproject", export)
    return written
