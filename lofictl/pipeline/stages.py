"""The stage table: every stage of a build, declared once, in the order they run.

    compose → midi (+ piano roll)
            → stem:<track> (one per track: FluidSynth, effects, gain/pan, ducking)
            → overlays → bus (the shared reverb send) → mix (master chain, loudness, true peak)
            → dry:<track> (FluidSynth alone, for DAWs) → export (the files of the output folder)

Each `Stage` names what it reads from other stages (`upstream`, and which of its inputs hold
their outputs' hashes), the function that lists its inputs (pipeline.inputs), and the step that
runs or restores it. The runner walks `STAGES` for a build and, in dry mode, for `diff`; `verify`
and `diff` report stages in this order; the lock takes the output folder's files from the stages
that `deliver`; the golden test (tests/pipeline/test_stage_versions.py) reads the graph from here.

A step computes its inputs and key, restores its outputs from the cache when the key is there,
plans them in a dry walk, and otherwise makes them; what it made goes into the `Walk` for the
stages after it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lofictl import stage_names as names
from lofictl.compose.arrangement import Composition
from lofictl.compose.score import Score, score_from_dict, score_to_dict
from lofictl.digests import canonical_json, sha256_bytes, sha256_file
from lofictl.errors import LofictlError
from lofictl.export import pianoroll_process
from lofictl.pipeline import inputs as stage_inputs
from lofictl.pipeline.background import Background, warm_sound
from lofictl.pipeline.cache import Cache, stage_key
from lofictl.pipeline.plan import BuildPlan, audible_tracks, load_models, n_samples_for
from lofictl.pipeline.record import Artifact, StageLog
from lofictl.recipe.schema import Recipe
from lofictl.safety import fingerprints
from lofictl.safety.names import slug

if TYPE_CHECKING:
    from lofictl.sound.stems import Stem

BUS_LABEL = "reverb-bus"


@dataclass
class Walk:
    """One walk of the stages: what every step needs, and what the steps before it made."""

    plan: BuildPlan
    log: StageLog
    progress: Any  # pipeline.progress.Progress
    jobs: int = 1  # threads for the stems and the encoders
    # Audio follows the score and more than one job was asked for: work that would leave a core
    # idle goes beside the walk (pipeline.background): the SoundFonts' hash and load.
    overlap: bool = False
    background: Background = field(default_factory=Background)
    score: Score | None = None
    score_meta: dict = field(default_factory=dict)  # duration, each track's notes hash, melody measures
    stems: dict[str, Artifact] = field(default_factory=dict)  # track → its stem
    layers: dict[str, Artifact] = field(default_factory=dict)  # overlay labels and the bus → their audio
    dry: dict[str, Artifact] = field(default_factory=dict)  # track → its dry stem
    master: Artifact | None = None
    loudness: dict | None = None  # the master's measured loudness and true peak
    # Stages whose last part runs in a child process beside the walk (the piano roll's drawing):
    # `complete` ends each once the other stages are done; `finish` stops any still running.
    pending: list[PendingStage] = field(default_factory=list)

    @property
    def recipe(self) -> Recipe:
        return self.plan.recipe

    @property
    def n_samples(self) -> int:
        return n_samples_for(self.score_meta["duration_s"], self.recipe.output.sample_rate)

    def complete(self) -> None:
        """After the last stage: the stages still waiting on a child process end, in the order
        they began, and `log.ran` lists every stage in table order again."""
        while self.pending:
            self.pending.pop(0).complete()
        order = list(self.log.record)
        self.log.ran.sort(key=order.index)

    def finish(self) -> None:
        """The walk's end, also when it fails: its background work done, child processes of
        stages that never completed stopped, and SoundFonts loaded ahead for stems that never
        came (the build stopped first) given back."""
        for stage in self.pending:
            stage.cancel()
        self.pending.clear()
        self.background.close()
        if self.overlap:
            _release_soundfonts()


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage of a build: everything about it, in one row of `STAGES`.

    name: its name in the lock and the cache (a per-track stage's instances are <name>:<track>).
    version: its code version, part of its key and the lock (`code.version`): bump it whenever
        its outputs change for the same inputs (tests/pipeline/test_stage_versions.py fails, naming
        the row, when they change while it did not).
    modules: the modules it runs; with what they import inside lofictl (and the runner's own
        files) they salt its cache key (safety.fingerprints.source_digest), never the lock.
    inputs: the function in pipeline.inputs that lists what it reads (the recipe fields among them
        are those marked with its name in recipe.schema).
    upstream: the stages whose outputs it reads; a change there can re-run it.
    upstream_inputs: those of its inputs that are upstream outputs' hashes (`diff` says such a
        change happened upstream, not here).
    step: runs, restores or (in a dry walk) plans it.
    part: "score" (run even by --midi-only), "master" (up to the mastered mix, which an album
        takes), "delivery" (the rest of the output folder).
    per_track: one instance per track (stem:<track>), each a step of the progress bar.
    delivers: its outputs are files of the output folder (the others stay in the work folder).
    """

    name: str
    version: int
    modules: tuple[str, ...]
    inputs: Callable[..., dict]
    upstream: tuple[str, ...] = ()
    upstream_inputs: tuple[str, ...] = ()
    step: Callable[[Walk, Stage], None]
    part: str
    per_track: bool = False
    delivers: bool = False

    def instance(self, track: str | None = None) -> str:
        """Its name in the lock: the stage's, or stem:<track> for a per-track stage."""
        return names.of_track(self.name, track) if self.per_track and track is not None else self.name

    def units(self, recipe: Recipe) -> int:
        """What it adds to the progress bar's total: one, or one per track."""
        return len(recipe.tracks) if self.per_track else 1


def stage_rank(name: str) -> int:
    """The position of a lock's stage name (stem:<track> and the like) in the table."""
    kind = names.kind_of(name)
    return next((i for i, stage in enumerate(STAGES) if stage.name == kind), len(STAGES))


def stage_named(name: str) -> Stage:
    """The row of a stage, by its name or an instance's (stem:chords)."""
    kind = names.kind_of(name)
    return next(stage for stage in STAGES if stage.name == kind)


def progress_total(recipe: Recipe, midi_only: bool = False, master_only: bool = False) -> int:
    """The steps of a build's progress bar: one per stage walked, one per track for a per-track stage."""
    return sum(stage.units(recipe) for stage in stages_for(midi_only, master_only))


def stages_for(midi_only: bool, master_only: bool) -> tuple[Stage, ...]:
    """The stages a build walks: --midi-only stops after the score, an album's track after the master."""
    parts = ("score",) if midi_only else ("score", "master") if master_only else ("score", "master", "delivery")
    return tuple(stage for stage in STAGES if stage.part in parts)


# --- compose and MIDI -----------------------------------------------------------------------------


def _instrument_fields(tracks) -> tuple[str, ...]:
    """The recipe fields a stage reads through its instrument inputs (named soundfont, preset,
    kit or program there), so a `--set` of them reaches it."""
    return tuple(f"tracks.{name}.instrument" for name in tracks)


def compose_score(plan: BuildPlan, cache: Cache | None = None) -> Composition:
    """The score and the melodies' measures, from the plan's resources (the models loaded here).
    With models to sample, JAX's compilation cache is turned on in the stage cache `cache`'s
    folder (.lofictl-cache/jax; $LOFICTL_JAX_CACHE overrides, and serves without a cache too)."""
    from lofictl.compose.arrangement import compose

    if plan.models:
        from lofictl.models.nn import compilation_cache_dir, use_compilation_cache

        use_compilation_cache(compilation_cache_dir(cache.root if cache is not None and cache.enabled else None))
    programs = {name: (inst.preset.bank, inst.preset.program) for name, inst in plan.instruments.items()}
    models = load_models(plan)
    try:
        return compose(plan.recipe, models=models, programs=programs, clips=plan.clips)
    except LofictlError as exc:
        raise plan.loaded.locate(exc) from None


def _compose(walk: Walk, stage: Stage) -> None:
    walk.progress.step("composing")
    plan, log = walk.plan, walk.log
    inputs = stage.inputs(plan, log.cache)
    key = log.key(stage, inputs, reads=_instrument_fields(plan.recipe.tracks))
    entry = log.lookup(stage.name, key)
    data = log.cache.read_bytes(entry, "score.json") if entry else None
    if data is not None:
        score, measures = score_from_dict(json.loads(data)), dict(entry.meta.get("melody", {}))
    else:
        if walk.overlap:  # sampling leaves a core free: the stems' SoundFonts hashed and loaded meanwhile
            walk.background.submit(warm_sound, plan, log.cache)
        composition = compose_score(plan, log.cache)
        score, measures = composition.score, composition.melody_measures
    meta = {
        "duration_s": round(score.duration_seconds, 6),
        "tracks": {t.name: stage_inputs.track_sha(score, t) for t in score.tracks},
        "melody": measures,
    }
    if score.tempo_changes:
        meta["tempo_range"] = list(score.tempo_range)
    if data is not None:
        log.restored_from(stage.name, entry, log.work, meta)
    elif log.dry:
        log.would_run(stage.name)
        log.record[stage.name]["outputs"] = {"score.json": sha256_bytes(canonical_json(score_to_dict(score)).encode())}
    else:
        path = log.work / "score.json"
        path.write_bytes(canonical_json(score_to_dict(score)).encode())
        log.ran_with(stage.name, key, {"score.json": path}, meta)
    walk.progress.advance()
    walk.score, walk.score_meta = score, meta


def _provenance(plan: BuildPlan, key: str, overrides: tuple[str, ...]) -> dict:
    models = {name: path.name for name, path in sorted(plan.models.items())}
    return stage_inputs.provenance_fields(plan, key, overrides, models=models)


def _midi(walk: Walk, stage: Stage) -> None:
    walk.progress.step("writing MIDI and the piano roll")
    plan, log, score = walk.plan, walk.log, walk.score
    assert score is not None
    name = plan.loaded.name
    inputs = stage.inputs(plan, log.output_sha(names.COMPOSE, "score.json"))
    key = log.key(stage, inputs)
    made = log.restore_or_plan(stage.name, key, log.staging)
    if made is not None:
        log.final.update(made)
    else:
        from lofictl.export import midi

        provenance = _provenance(plan, key, log.overrides_of(stage.name))
        (log.staging / "midi").mkdir(exist_ok=True)
        files = {
            f"midi/{name}.mid": log.staging / "midi" / f"{name}.mid",
            "pianoroll.png": log.staging / "pianoroll.png",
        }
        midi.write_midi(midi.score_to_midi(score, provenance=provenance), files[f"midi/{name}.mid"])
        for track in score.tracks:
            path = files[f"midi/{track.name}.mid"] = log.staging / "midi" / f"{track.name}.mid"
            midi.write_midi(midi.track_to_midi(score, track.name, provenance=provenance), path)

        def drawn(pages: list[Path]) -> None:  # long pieces: more pages
            files.update((page.name, page) for page in pages)
            log.final.update(log.ran_with(stage.name, key, files))

        # matplotlib holds the GIL: a process's first drawing goes to a process of its own, on the
        # idle core; a process that builds again draws in place (pianoroll_process.worth_a_child)
        if walk.overlap and pianoroll_process.worth_a_child():
            walk.pending.append(
                PendingStage(pianoroll_process.PianoRollDrawing(score, files["pianoroll.png"], log.work), drawn)
            )
        else:
            from lofictl.export import pianoroll

            drawn(pianoroll.render_pianoroll(score, files["pianoroll.png"]))
    walk.progress.advance()


@dataclass
class PendingStage:
    """A stage whose outputs a child process is still making: `done` records them once it ends."""

    child: pianoroll_process.PianoRollDrawing
    done: Callable[[list[Path]], None]

    def complete(self) -> None:
        self.done(self.child.wait())

    def cancel(self) -> None:
        self.child.cancel()


# --- stems, overlays, the send bus and the mix ----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StemJob:
    """One stem to render (sound.stems.Stem) into a float32 WAV at `path`, block by block."""

    stem: Stem
    path: Path
    info: dict[str, str]  # the WAV's provenance chunk

    def render(self) -> dict:
        """The same bytes as sound.reference.render_stem + write_wav, in bounded memory; returns
        the file's facts (its integrated loudness, measured while it was written)."""
        from lofictl.sound import stems

        lufs = stems.render_stem_to_wav(self.stem, self.path, info=self.info)
        return {"integrated_lufs": lufs}


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


def _stems(walk: Walk, stage: Stage) -> None:
    """Float32 stems, one per track, rendered in parallel threads where asked. Each SoundFont is
    loaded once for them all; its memory goes back when they are done (FluidR3: 140 MB that the
    mix and export need not carry)."""
    try:
        _render_stems(walk, stage)
    finally:
        _release_soundfonts()


def _release_soundfonts() -> None:
    render = sys.modules.get("lofictl.sound.render")  # not imported: nothing was played
    if render is not None:
        render.release_soundfonts()


def _render_stems(walk: Walk, stage: Stage) -> None:
    walk.progress.step("rendering stems")
    plan, log, score, progress = walk.plan, walk.log, walk.score, walk.progress
    assert score is not None
    recipe = plan.recipe
    n_samples = walk.n_samples
    todo: dict[str, StemJob] = {}
    keys: dict[str, str] = {}
    kicks = stage_inputs.kick_samples(plan, score)
    kicks_sha = sha256_bytes(canonical_json(kicks).encode())
    for track in score.tracks:
        spec = recipe.tracks[track.name]
        name = stage.instance(track.name)
        inputs = stage.inputs(
            plan,
            track.name,
            walk.score_meta["tracks"][track.name],
            n_samples,
            log.cache,
            kicks_sha if spec.duck else None,
        )
        key = keys[track.name] = log.key(stage, inputs, track.name, reads=_instrument_fields([track.name]))
        made = log.restore_or_plan(name, key, log.work / f"stem-{track.name}", ["audio.wav"])
        if made is not None:
            walk.stems[track.name] = made["audio.wav"]
            progress.advance()
            continue
        path = log.work / f"stem-{track.name}" / "audio.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        todo[track.name] = StemJob(
            stem=stage_inputs.stem_sound(plan, score, track.name, n_samples, kicks),
            path=path,
            info=stage_inputs.provenance_info(plan, key, log.overrides_of(name), track=track.name),
        )

    def finished(track_name: str, facts: dict) -> None:
        made, measured = {"audio.wav": todo[track_name].path}, {"audio.wav": facts}
        walk.stems[track_name] = log.ran_with(stage.instance(track_name), keys[track_name], made, facts=measured)[
            "audio.wav"
        ]
        progress.advance()

    if walk.jobs > 1 and len(todo) > 1:
        # Threads, not processes: FluidSynth (through ctypes), Pedalboard and NumPy release the GIL
        # while they work, so stems render side by side without a process's start-up (JAX, the
        # SoundFont) per worker. Each stem has its own synth, chain and file: order cannot change bytes.
        with ThreadPoolExecutor(max_workers=min(walk.jobs, len(todo)), thread_name_prefix="lofictl-stem") as pool:
            futures = {name: pool.submit(job.render) for name, job in todo.items()}
            # The lock's digest of each kit (one-shots of its every key), drawn on a core the
            # stems leave free at their end instead of after the export; cached per process.
            kits = sorted({j.stem.kit for j in todo.values() if j.stem.kit is not None})
            digests = [pool.submit(_kit_digest, kit) for kit in kits]
            for name, future in futures.items():
                with _finite(plan, ("tracks", name, "effects"), f"the effect chain of {name}"):
                    facts = future.result()
                finished(name, facts)
            for digest in digests:
                digest.result()
    else:
        for name, job in todo.items():
            with _finite(plan, ("tracks", name, "effects"), f"the effect chain of {name}"):
                facts = job.render()
            finished(name, facts)
    walk.stems = {name: walk.stems[name] for name in recipe.tracks}


def _kit_digest(kit: str) -> str:
    from lofictl.sound.kits import kit_digest

    return kit_digest(kit)  # as pipeline.inputs.instrument_record asks for it


def overlay_label(recipe: Recipe, index: int) -> str:
    overlay = recipe.overlays[index]
    label = (slug(Path(overlay.file).stem) or "file") if overlay.file is not None else overlay.ambience
    return f"overlay-{index + 1}-{label}"


def _overlays(walk: Walk, stage: Stage) -> None:
    walk.progress.step("ambience")
    plan, log, score = walk.plan, walk.log, walk.score
    assert score is not None
    recipe = plan.recipe
    if not recipe.overlays:
        walk.progress.advance()
        return
    n_samples = walk.n_samples
    kicks = stage_inputs.kick_samples(plan, score)
    inputs = stage.inputs(plan, n_samples, log.cache, sha256_bytes(canonical_json(kicks).encode()))
    key = log.key(stage, inputs)
    folder = log.work / "overlays"
    labels = [overlay_label(recipe, i) for i in range(len(recipe.overlays))]
    made = log.restore_or_plan(stage.name, key, folder, [f"{label}.wav" for label in labels])
    if made is None:
        from lofictl.sound import stems, stream

        folder.mkdir()
        files = {f"{label}.wav": folder / f"{label}.wav" for label in labels}

        def render(index: int) -> float | None:
            return stems.render_overlay_to_wav(  # reference.render_overlay's bytes, in blocks
                stage_inputs.overlay_layer(plan, index),
                recipe.output.sample_rate,
                n_samples,
                files[f"{labels[index]}.wav"],
                duck=stage_inputs.duck_args(recipe.overlays[index].duck, kicks),
            )

        # Side by side, as the stems: each overlay has its own source, chain and file, and
        # Pedalboard, SciPy's filters and NumPy release the GIL. Results come in overlay order.
        threads = min(walk.jobs, len(labels))
        loudness = list(stream.ordered_map(render, range(len(labels)), threads, name="lofictl-overlay"))
        facts = {f"{label}.wav": {"integrated_lufs": lufs} for label, lufs in zip(labels, loudness)}
        made = log.ran_with(stage.name, key, files, facts=facts)
    walk.progress.advance()
    walk.layers.update({label: made[f"{label}.wav"] for label in labels})


def layer_shas(log: StageLog) -> dict[str, str]:
    """label → sha256 of the extra mix layers: overlays and the send bus."""
    shas = {
        label.removesuffix(".wav"): digest
        for label, digest in log.record.get(names.OVERLAYS, {}).get("outputs", {}).items()
    }
    if names.BUS in log.record:
        shas[BUS_LABEL] = log.output_sha(names.BUS, "bus.wav")
    return shas


def _bus(walk: Walk, stage: Stage) -> None:
    """The shared reverb bus: the tracks with a send_db, summed at their levels, through master.bus."""
    plan, log = walk.plan, walk.log
    recipe = plan.recipe
    playing = audible_tracks(recipe)
    sends: dict[str, float] = {name: level for name in playing if (level := recipe.tracks[name].send_db) is not None}
    if not sends:
        walk.progress.advance()
        return
    walk.progress.step("send bus")
    n_samples = walk.n_samples
    inputs = stage.inputs(
        plan,
        {name: log.output_sha(names.of_track(names.STEM, name), "audio.wav") for name in sends},
        n_samples,
        log.cache,
    )
    key = log.key(stage, inputs)
    made = log.restore_or_plan(stage.name, key, log.work / "bus", ["bus.wav"])
    if made is not None:
        walk.layers[BUS_LABEL] = made["bus.wav"]
        walk.progress.advance()
        return
    from lofictl.sound import master

    path = log.work / "bus" / "bus.wav"
    path.parent.mkdir()
    with _finite(plan, ("master", "bus"), "the send bus chain"):
        lufs = master.send_bus_to_wav(
            [(walk.stems[name].ready(log.cache), level) for name, level in sends.items()],
            recipe.output.sample_rate,
            n_samples,
            plan.chains["master.bus"],
            path,
            info=stage_inputs.provenance_info(plan, key, log.overrides_of(stage.name), track=BUS_LABEL),
        )
    facts = {"bus.wav": {"integrated_lufs": lufs}}
    walk.layers[BUS_LABEL] = log.ran_with(stage.name, key, {"bus.wav": path}, facts=facts)["bus.wav"]
    walk.progress.advance()


# What the pre-master (the stems summed through the master chain) does not depend on: only the
# mastering after it reads them. Everything else the mix reads is in the pre-master's key.
MASTERING_ONLY = ("master.loudness_lufs", "master.true_peak_db")


def premaster_key(inputs: dict, sources: list[str], version: int) -> str:
    """The cache key of the mix's pre-master: the mix's inputs but the loudness target and the
    true-peak ceiling, and the sources' hashes in the order they are summed (float addition is
    not associative). Kept beside the mix's own entries (so salted with the mix's code), a
    rebuild that changed only the target or the ceiling masters it again instead of summing."""
    depends_on = {k: v for k, v in inputs.items() if k not in MASTERING_ONLY}
    return stage_key("premaster", {**depends_on, "sources": sources, "code.version": version})


def _mix(walk: Walk, stage: Stage) -> None:
    walk.progress.step("mixing and mastering")
    plan, log = walk.plan, walk.log
    recipe = plan.recipe
    playing = audible_tracks(recipe)
    stem_shas = {name: log.output_sha(names.of_track(names.STEM, name), "audio.wav") for name in playing}
    layers = layer_shas(log)
    inputs = stage.inputs(plan, stem_shas, layers, log.cache)
    key = log.key(stage, inputs)
    entry = log.lookup(stage.name, key)
    if entry is not None and "loudness" in entry.meta:
        stats = entry.meta["loudness"]
        artifact = log.restored_from(stage.name, entry, log.work / "mix", {"loudness": stats})["master.wav"]
    elif log.dry:
        artifact, stats = log.would_run(stage.name, ["master.wav"])["master.wav"], None
    else:
        from lofictl.sound import master, stream

        path = log.work / "mix" / "master.wav"
        path.parent.mkdir()
        premaster = log.work / "mix" / "premaster.wav"
        # Summed in a fixed order (float addition is not associative), mastered in passes over
        # files: reference.master's result without holding any stem in memory.
        sources = [stem_shas[name] for name in playing] + [layers[label] for label in walk.layers]
        memo = premaster_key(inputs, sources, stage.version)
        kept = log.cache.lookup(memo, stage.name)
        with _finite(plan, ("master", "effects"), "the master chain"):
            if (
                kept is not None
                and "lufs" in kept.meta
                and isinstance(kept.meta["lufs"], (float, type(None)))  # None: a silent mix
                and log.cache.restore(kept, "premaster.wav", premaster)  # a damaged one: summed again
            ):
                lufs, summed = kept.meta["lufs"], False
            else:
                paths = [walk.stems[name].ready(log.cache) for name in playing]
                paths += [a.ready(log.cache) for a in walk.layers.values()]
                with stream.AudioReader(next(iter(walk.stems.values())).ready(log.cache)) as first:
                    n_samples = first.frames  # the length of silence when every track is muted
                lufs = master.sum_to_premaster_wav(
                    paths, recipe.output.sample_rate, plan.chains["master.effects"], premaster, n_samples=n_samples
                )
                summed = True
            stats = master.master_premaster_wav(
                premaster,
                lufs,
                recipe.output.sample_rate,
                recipe.master.loudness_lufs,
                recipe.master.true_peak_db,
                path,
                workers=walk.jobs,
            )
        if summed:  # a temporary file: moved into the cache, not copied
            log.cache.store(memo, stage.name, {"premaster.wav": premaster}, {"lufs": lufs}, move=True)
        premaster.unlink(missing_ok=True)
        artifact = log.ran_with(stage.name, key, {"master.wav": path}, {"loudness": stats})["master.wav"]
    walk.progress.advance()
    walk.master, walk.loudness = artifact, stats


# --- the output folder ----------------------------------------------------------------------------


def _dry_stems(walk: Walk, stage: Stage) -> None:
    """The instrument alone (no effects, gain or pan), for DAW users who redo the effects."""
    try:
        _render_dry_stems(walk, stage)
    finally:
        _release_soundfonts()  # as after the stems


def _render_dry_stems(walk: Walk, stage: Stage) -> None:
    plan, log, score = walk.plan, walk.log, walk.score
    assert score is not None
    recipe = plan.recipe
    if not (recipe.output.daw and recipe.output.dry_stems):
        for _ in score.tracks:
            walk.progress.advance()
        return
    walk.progress.step("rendering dry stems")
    n_samples = walk.n_samples
    for track in score.tracks:
        name = stage.instance(track.name)
        inputs = stage.inputs(plan, track.name, walk.score_meta["tracks"][track.name], n_samples, log.cache)
        key = log.key(stage, inputs, track.name, reads=_instrument_fields([track.name]))
        made = log.restore_or_plan(name, key, log.work / f"dry-{track.name}", ["audio.wav"])
        if made is not None:
            walk.dry[track.name] = made["audio.wav"]
            walk.progress.advance()
            continue
        path = log.work / f"dry-{track.name}" / "audio.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        job = StemJob(
            stem=stage_inputs.stem_sound(plan, score, track.name, n_samples).dry(),
            path=path,
            info=stage_inputs.provenance_info(plan, key, log.overrides_of(name), track=track.name, kind="dry"),
        )
        facts = {"audio.wav": job.render()}
        walk.dry[track.name] = log.ran_with(name, key, {"audio.wav": path}, facts=facts)["audio.wav"]
        walk.progress.advance()


@dataclass(frozen=True)
class StemFile:
    """One stem file of the output folder: which track (or layer) it holds, and its source."""

    label: str  # the track name, an overlay label or the bus
    kind: str  # wet | dry | layer
    source: Artifact

    @property
    def stage(self) -> str:
        """The stage that made it, as the lock names it."""
        if self.kind == "layer":
            return names.BUS if self.label == BUS_LABEL else names.OVERLAYS
        return names.of_track(names.STEM if self.kind == "wet" else names.DRY, self.label)


def stem_files(
    plan: BuildPlan, stems: dict[str, Artifact], layers: dict[str, Artifact], dry: dict[str, Artifact]
) -> dict[str, StemFile]:
    """stems/NN_<name>.wav in recipe order (layers after the tracks), dry twins in stems/dry/;
    none with output.stems: false.

    With output.stem_names: delivery, the names follow stem-delivery guides instead:
    <Title>_<NN>_<Track>_<Key>_<BPM>bpm.wav.
    """
    from lofictl.export import daw

    recipe = plan.recipe
    files: dict[str, StemFile] = {}
    if not recipe.output.stems:
        return files
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


def _export(walk: Walk, stage: Stage) -> None:
    walk.progress.step("writing audio files")
    plan, log, score, master = walk.plan, walk.log, walk.score, walk.master
    assert score is not None and master is not None
    recipe = plan.recipe
    name = plan.loaded.name
    files_to_write = stem_files(plan, walk.stems, walk.layers, walk.dry)
    layers = layer_shas(log)
    shas = {
        rel: (layers[f.label] if f.kind == "layer" else log.output_sha(f.stage, "audio.wav"))
        for rel, f in files_to_write.items()
    }
    inputs = stage.inputs(plan, log.output_sha(names.MIX, "master.wav"), shas)
    inputs["score"] = log.output_sha(names.COMPOSE, "score.json")
    key = log.key(stage, inputs)
    entry = log.lookup(stage.name, key)
    if entry is not None and "encoded" in entry.meta:
        log.final.update(log.restored_from(stage.name, entry, log.staging, dict(entry.meta)))
    elif log.dry:
        log.would_run(stage.name)
    else:
        from lofictl.export import encode, tags
        from lofictl.sound import stream
        from lofictl.sound.loudness import measure_loudness

        files: dict[str, Path] = {}

        def stem_info(stem: StemFile) -> dict[str, str]:
            # the stem's own stage and overrides, as a float32 copy carries: a stem that did not
            # change keeps its bytes when only the master does
            return stage_inputs.provenance_info(
                plan, log.record[stem.stage]["key"], log.overrides_of(stem.stage), track=stem.label
            )

        def delivered_key(rel: str, stem: StemFile) -> str:
            # A delivered stem is its float stem written as the recipe asks, with its provenance:
            # kept in the cache by that, a rebuild that changed another track or the master
            # copies it back instead of writing it again.
            written_as = {"source": shas[rel], "wav_format": recipe.output.wav_format, "info": stem_info(stem)}
            return stage_key("delivered-stem", {**written_as, "code.version": stage.version})

        def hashed(write: Callable[[str, Any], Any]) -> Callable[[str, Any], tuple[Any, str]]:
            # the written file's sha256 (for the cache and the lock) on the thread that wrote it
            return lambda rel, what: (write(rel, what), sha256_file(files[rel]))

        def write_stem(rel: str, stem: StemFile) -> float | None:
            source = stem.source.ready(log.cache)
            if recipe.output.wav_format == "float32":
                shutil.copyfile(source, files[rel])  # already float32 WAV, byte for byte
            else:
                stream.encode_wav_to(
                    source,
                    files[rel],
                    "wav",
                    recipe.output.sample_rate,
                    wav_subtype=recipe.output.wav_format,
                    info=stem_info(stem),
                )
            if "integrated_lufs" in stem.source.facts:  # measured by its stage while it was written
                return stem.source.facts["integrated_lufs"]
            return measure_loudness(source)  # a cache entry from before stages measured

        # The master's files carry the provenance of the stage that made its samples, as a stem
        # carries its own: a change to what else is delivered (stems, formats, DAW files) leaves
        # their bytes alone, so a station's track and its kept recipe's build are the same file.
        mix_key = log.record[names.MIX]["key"]

        def write_master(rel: str, fmt: str) -> dict:
            # An MP3 is measured after encoding and pulled under the true-peak ceiling.
            stats = encode.encode_master(
                master_path,
                files[rel],
                fmt,
                recipe.output.sample_rate,
                ceiling_db=recipe.master.true_peak_db,
                wav_subtype=recipe.output.wav_format,
                info=stage_inputs.provenance_info(plan, mix_key, log.overrides_of(names.MIX)),
                workers=walk.jobs,
                source_peak_dbtp=(walk.loudness or {}).get("true_peak_dbtp"),  # measured by the mix
            )
            if fmt != "wav":  # title, BPM, key and the provenance comment, as the WAV's INFO chunk has
                tags.tag_file(files[rel], stage_inputs.master_tags(plan, mix_key, log.overrides_of(names.MIX)))
            return stats

        for rel in files_to_write:
            files[rel] = log.staging / rel
            files[rel].parent.mkdir(parents=True, exist_ok=True)
        # Stems delivered before are copied back from the cache (their hash checked on the way) on
        # the encoders' threads, after the masters' encoders have started: a copy and its hash
        # release the GIL, so they fill a core the encoders leave idle. Their loudness was
        # measured by their stage (entries from before it was are written again, and measured).
        # Looked up here: a lookup pins its object (Cache.pin), which is not for threads.
        delivered = {}
        for rel, stem in files_to_write.items():
            entry = log.cache.lookup(delivered_key(rel, stem), stage.name)
            if entry is not None and "integrated_lufs" in stem.source.facts:
                delivered[rel] = entry
        to_write = {rel: stem for rel, stem in files_to_write.items() if rel not in delivered}
        for stem in to_write.values():
            stem.source.ready(log.cache)  # restored here, one at a time
        master_path = master.ready(log.cache)
        masters = {f"{name}.{fmt}": fmt for fmt in recipe.output.formats}
        files.update({rel: log.staging / rel for rel in masters})

        def copy_back(rel: str, stem: StemFile) -> tuple[float | None, str] | None:
            if not log.cache.restore(delivered[rel], "stem.wav", files[rel]):
                return None  # damaged (the cache warned and dropped it): written again below
            return stem.source.facts["integrated_lufs"], delivered[rel].outputs["stem.wav"]

        loudness: dict[str, float | None] = {}
        digests: dict[str, str] = {}  # each file's sha256, taken on the thread that wrote it
        # The encoders and the stem meters release the GIL: they run side by side, the MP3 (the
        # slowest) first. Each writes its own file, so the bytes are those of a serial export.
        with ThreadPoolExecutor(max_workers=max(1, walk.jobs), thread_name_prefix="lofictl-export") as pool:
            master_futures = {
                rel: pool.submit(hashed(write_master), rel, fmt)
                for rel, fmt in sorted(masters.items(), key=lambda item: item[1] != "mp3")
            }
            stem_futures = {rel: pool.submit(hashed(write_stem), rel, stem) for rel, stem in to_write.items()}
            copy_futures = {rel: pool.submit(copy_back, rel, files_to_write[rel]) for rel in delivered}
            every: list[Future] = [*master_futures.values(), *stem_futures.values(), *copy_futures.values()]
            for done, _ in enumerate(as_completed(every), 1):  # a long track's files take a while: say so
                walk.progress.step(f"writing audio files ({done}/{len(every)})")
            for rel, future in stem_futures.items():
                loudness[rel], digests[rel] = future.result()
            for rel, copying in copy_futures.items():
                copied = copying.result()
                if copied is None:
                    to_write[rel] = files_to_write[rel]
                    loudness[rel], digests[rel] = hashed(write_stem)(rel, to_write[rel])
                else:
                    loudness[rel], digests[rel] = copied
            encoded = {}
            for rel in masters:
                encoded[rel], digests[rel] = master_futures[rel].result()
        for rel, stem in to_write.items():
            log.cache.store(
                delivered_key(rel, stem), stage.name, {"stem.wav": files[rel]}, digests={"stem.wav": digests[rel]}
            )
        loudness = {rel: loudness[rel] for rel in files_to_write}  # in the order of the files
        files.update(_daw_files(plan, score, log.staging, files_to_write))
        log.final.update(
            log.ran_with(stage.name, key, files, {"loudness": loudness, "encoded": encoded}, digests=digests)
        )
    walk.progress.advance()


def _daw_files(plan: BuildPlan, score: Score, staging: Path, files: dict[str, StemFile]) -> dict[str, Path]:
    """The stem sidecar JSON, and REAPER / DAWproject files when the recipe asks for them."""
    from lofictl.export import daw, dawproject, reaper, sidecar

    recipe = plan.recipe
    name = plan.loaded.name
    if not recipe.output.stems:  # the sidecar describes the stems (daw needs them: see the schema)
        return {}
    audible = set(audible_tracks(recipe))
    infos = []
    for rel, stem in files.items():
        if stem.kind == "layer":
            infos.append(daw.StemInfo(stem.label, Path(rel), "overlay"))
            continue
        spec = recipe.tracks[stem.label]
        if stem.kind == "wet":
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


# --- the table ------------------------------------------------------------------------------------

# Each row's `version`: bump it whenever the stage's outputs change for the same inputs (the
# history of each number is in its comment).
STAGES: tuple[Stage, ...] = (
    Stage(
        name=names.COMPOSE,
        # 2: voicings, humanize, tempo map; 3: loops, POP909 models; 4: the reharmoniser's styles,
        # colour by function, song forms, melody phrases: motifs developed, cadences, restatements
        # varied, chords under the melody, one feel for every part (swing_unit), drums played by
        # lane and role, phrase moves
        version=4,
        modules=("lofictl.compose.arrangement",),
        inputs=stage_inputs.compose_inputs,
        step=_compose,
        part="score",
    ),
    Stage(
        name=names.MIDI,
        version=3,  # 2: tempo map, piano-roll rows; 3: the last row ends with the music
        modules=("lofictl.export.midi", "lofictl.export.pianoroll", "lofictl.export.pianoroll_process"),
        inputs=stage_inputs.midi_inputs,
        upstream=(names.COMPOSE,),
        upstream_inputs=("score",),
        step=_midi,
        part="score",
        delivers=True,
    ),
    Stage(
        name=names.STEM,  # FluidSynth or a kit, effects, gain/pan, ducking → one float32 stem
        version=3,  # 2: tempo map; 3: sampler preset
        modules=("lofictl.sound.stems", "lofictl.sound.stream"),
        inputs=stage_inputs.stem_inputs,
        upstream=(names.COMPOSE,),
        upstream_inputs=("notes", "kicks"),
        step=_stems,
        part="master",
        per_track=True,
    ),
    Stage(
        name=names.OVERLAYS,  # ambience files and generators → overlay layers
        version=1,
        modules=("lofictl.sound.stems", "lofictl.sound.stream", "lofictl.sound.ambience"),
        inputs=stage_inputs.overlays_inputs,
        upstream=(names.COMPOSE,),
        upstream_inputs=("kicks",),
        step=_overlays,
        part="master",
    ),
    Stage(
        name=names.BUS,  # sends → the shared reverb bus
        version=2,  # 2: follows the stems
        modules=("lofictl.sound.master", "lofictl.sound.stream"),
        inputs=stage_inputs.bus_inputs,
        upstream=(names.STEM,),
        upstream_inputs=("sends",),
        step=_bus,
        part="master",
    ),
    Stage(
        name=names.MIX,  # stems → the master (chain, loudness, true peak)
        version=2,  # 2: follows the stems
        modules=("lofictl.sound.master", "lofictl.sound.loudness", "lofictl.sound.stream"),
        inputs=stage_inputs.mix_inputs,
        upstream=(names.STEM, names.OVERLAYS, names.BUS),
        upstream_inputs=("stems", "overlays"),
        step=_mix,
        part="master",
    ),
    Stage(
        name=names.DRY,  # FluidSynth alone → the dry stem for DAWs
        version=2,  # 2: tempo map
        modules=("lofictl.sound.stems", "lofictl.sound.stream"),
        inputs=stage_inputs.dry_inputs,
        upstream=(names.COMPOSE,),
        upstream_inputs=("notes", "kicks"),
        step=_dry_stems,
        part="delivery",
        per_track=True,
    ),
    Stage(
        name=names.EXPORT,  # encodings, delivery stems, DAW projects
        # 2: FLAC in .dawproject, tempo automation; 3: 24-bit master and delivery stems by
        # default, a delivered stem carries its own stage's provenance; 4: the MP3's gain is
        # chosen once, from the master's true peak; the master's files carry the mix's provenance
        version=4,
        modules=(
            "lofictl.sound.stream",
            "lofictl.sound.loudness",
            "lofictl.export.daw",
            "lofictl.export.sidecar",
            "lofictl.export.reaper",
            "lofictl.export.dawproject",
            "lofictl.export.encode",  # the masters' encodings, pulled under the true-peak ceiling
            "lofictl.export.tags",
        ),
        inputs=stage_inputs.export_inputs,
        upstream=(names.MIX, names.STEM, names.DRY, names.OVERLAYS, names.BUS, names.COMPOSE),
        upstream_inputs=("master", "stems", "score"),
        step=_export,
        part="delivery",
        delivers=True,
    ),
)
assert tuple(stage.name for stage in STAGES) == names.ALL
fingerprints.declare(STAGES)  # the cache salts each stage's key with the digest of its rows' modules
