"""The build runner: recipe → every output file, written atomically.

`prepare` resolves and checks everything outside the recipe (SoundFonts, presets, effect
parameters, overlay files, models) before any audio is made, so a mistake costs a second, not
a render. `build_recipe` runs the stages and writes into a temporary sibling folder that is
swapped in only when everything succeeded: an interrupted build leaves the previous outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, soundfonts
from .errors import LofictlError
from .recipe import LoadedRecipe, Recipe
from .score import Score, Track

TAIL_SECONDS = 2.0  # room after the last bar for releases and effect tails
_DEFAULT_PRESETS = {"chords": "Electric Piano 1", "melody": "Vibraphone", "bass": "Acoustic Bass"}


@dataclass(frozen=True)
class Instrument:
    soundfont: Path
    preset: soundfonts.Preset


@dataclass(frozen=True)
class BuildPlan:
    """A recipe with every outside resource resolved and checked."""

    loaded: LoadedRecipe
    instruments: dict[str, Instrument]
    models: dict[str, Path]
    overlay_files: dict[int, Path]

    @property
    def recipe(self) -> Recipe:
        return self.loaded.recipe


@dataclass
class BuildResult:
    title: str
    out_dir: Path
    bars: int
    tempo: float
    duration_s: float
    elapsed_s: float
    outputs: list[tuple[str, int]] = field(default_factory=list)  # relative path, size in bytes
    loudness: dict | None = None
    lock_path: Path | None = None


# --- prepare: resolve everything outside the recipe ---------------------------------------------


def prepare(loaded: LoadedRecipe) -> BuildPlan:
    from . import effects

    recipe = loaded.recipe
    recipe_dir = loaded.path.resolve().parent
    instruments: dict[str, Instrument] = {}
    models: dict[str, Path] = {}
    for name, track in recipe.tracks.items():
        where = ("tracks", name, "instrument")
        spec = track.instrument
        font_name = spec.soundfont if spec else "FluidR3_GM.sf2"
        try:
            font = soundfonts.find_soundfont(font_name, recipe_dir)
            if spec and (spec.preset or spec.program is not None or spec.bank is not None):
                preset = soundfonts.resolve_preset(font, spec.preset, spec.bank, spec.program)
            elif track.part == "drums":
                preset = soundfonts.resolve_preset(font, bank=soundfonts.DRUM_BANK, program=0)
            else:
                preset = soundfonts.resolve_preset(font, _DEFAULT_PRESETS[track.part])
        except LofictlError as exc:
            field_name = "soundfont" if "SoundFont" in exc.message and "preset" not in exc.message else "preset"
            raise loaded.error(exc.message, where + (field_name,)) from None
        instruments[name] = Instrument(font, preset)
        try:
            effects.validate_chain(track.effects, ("tracks", name, "effects"), recipe.output.sample_rate)
        except LofictlError as exc:
            raise loaded.locate(exc) from None
        generate = getattr(track, "generate", None)
        if generate is not None:
            models[name] = loaded.resolve_path(generate.model, ("tracks", name, "generate", "model"))
    try:
        effects.validate_chain(recipe.master.effects, ("master", "effects"), recipe.output.sample_rate)
    except LofictlError as exc:
        raise loaded.locate(exc) from None
    overlay_files: dict[int, Path] = {}
    for index, overlay in enumerate(recipe.overlays):
        if overlay.file is not None:
            overlay_files[index] = _check_overlay(loaded, index, overlay.file)
    if models:
        from . import generate as gen

        for name, path in models.items():
            try:
                gen.load_model(path)
            except LofictlError as exc:
                raise loaded.error(exc.message, ("tracks", name, "generate", "model")) from None
    return BuildPlan(loaded, instruments, models, overlay_files)


def _check_overlay(loaded: LoadedRecipe, index: int, file: str) -> Path:
    from . import ambience

    where = ("overlays", index, "file")
    path = loaded.resolve_path(file, where)
    try:
        ambience.load_overlay(path, loaded.recipe.output.sample_rate)  # reads it: not audio fails here
    except LofictlError as exc:
        raise loaded.error(exc.message, where) from None
    return path


# --- the stages ---------------------------------------------------------------------------------


def compose_score(plan: BuildPlan) -> Score:
    from .compose import compose

    programs = {name: (inst.preset.bank, inst.preset.program) for name, inst in plan.instruments.items()}
    try:
        return compose(plan.recipe, models=plan.models, programs=programs)
    except LofictlError as exc:
        raise plan.loaded.locate(exc) from None


def n_samples_for(score: Score, sample_rate: int) -> int:
    return int(round((score.duration_seconds + TAIL_SECONDS) * sample_rate))


def render_stem(track: Track, seconds_per_beat: float, instrument: Instrument, sample_rate: int,
                n_samples: int, effect_chain: list, gain_db: float, pan: float) -> np.ndarray:
    """One track: FluidSynth, then its effect chain, then gain and pan. Runs in a worker too."""
    from . import effects, mix, render

    audio = render.render_track(track, seconds_per_beat, instrument.soundfont, instrument.preset,
                                sample_rate, n_samples)
    if effect_chain:
        audio = effects.apply_chain(audio, sample_rate, effect_chain)
        audio = _fit_length(audio, n_samples)
    return mix.apply_gain_pan(audio, gain_db, pan)


def _fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Effects such as Resample may change the length by a few samples; stems must line up."""
    if audio.shape[1] == n_samples:
        return audio
    if audio.shape[1] > n_samples:
        return np.ascontiguousarray(audio[:, :n_samples])
    return np.pad(audio, ((0, 0), (0, n_samples - audio.shape[1])))


def _render_job(args: tuple) -> np.ndarray:
    return render_stem(*args)


def render_stems(plan: BuildPlan, score: Score, jobs: int, progress=None) -> dict[str, np.ndarray]:
    recipe = plan.recipe
    sample_rate = recipe.output.sample_rate
    n_samples = n_samples_for(score, sample_rate)
    work = {}
    for track in score.tracks:
        spec = recipe.tracks[track.name]
        work[track.name] = (track, score.seconds_per_beat, plan.instruments[track.name], sample_rate,
                            n_samples, spec.effects, spec.gain_db, spec.pan)
    stems: dict[str, np.ndarray] = {}
    if jobs > 1 and len(work) > 1:
        # Each stem is an independent synth and chain, so the bytes cannot depend on the order.
        with ProcessPoolExecutor(max_workers=min(jobs, len(work))) as pool:
            futures = {name: pool.submit(_render_job, args) for name, args in work.items()}
            for name, future in futures.items():
                stems[name] = future.result()
                if progress:
                    progress(name)
    else:
        for name, args in work.items():
            stems[name] = _render_job(args)
            if progress:
                progress(name)
    return stems


def render_overlays(plan: BuildPlan, n_samples: int) -> dict[str, np.ndarray]:
    from . import ambience, mix
    from .seeds import derive_seed

    recipe = plan.recipe
    sample_rate = recipe.output.sample_rate
    layers: dict[str, np.ndarray] = {}
    for index, overlay in enumerate(recipe.overlays):
        if overlay.file is not None:
            source = ambience.load_overlay(plan.overlay_files[index], sample_rate)
            label = Path(overlay.file).stem
        else:
            length = n_samples if not overlay.loop else min(n_samples, 20 * sample_rate)
            source = ambience.generate(overlay.ambience, length, sample_rate,
                                       derive_seed(recipe.seed, "overlay", index, overlay.ambience))
            label = overlay.ambience
        audio = ambience.place_overlay(source, n_samples, sample_rate, loop=overlay.loop,
                                       fade_in_s=overlay.fade_in, fade_out_s=overlay.fade_out,
                                       start_s=overlay.start, gain_db=overlay.gain_db)
        name = f"overlay-{index + 1}-{label}"
        layers[name] = mix.apply_gain_pan(audio, 0.0, overlay.pan)
    return layers


def mix_and_master(plan: BuildPlan, stems: dict[str, np.ndarray], overlays: dict[str, np.ndarray]):
    from . import mix

    recipe = plan.recipe
    soloed = [name for name, track in recipe.tracks.items() if track.solo]
    playing = [name for name, track in recipe.tracks.items()
               if not track.mute and (not soloed or name in soloed)]
    layers = [stems[name] for name in playing] + list(overlays.values())
    mixed = np.sum(np.stack(layers), axis=0, dtype=np.float32) if layers else None
    return mix.master(mixed, recipe.output.sample_rate, recipe.master.effects,
                      recipe.master.loudness_lufs, recipe.master.true_peak_db)


# --- the runner ---------------------------------------------------------------------------------


def build_recipe(loaded: LoadedRecipe, *, out_dir: Path | None = None, midi_only: bool = False,
                 jobs: int = 1, quiet: bool = False) -> BuildResult:
    from . import audio_io, midi, pianoroll
    from .progress import Progress

    started = time.perf_counter()
    plan = prepare(loaded)
    recipe = plan.recipe
    final_dir = (out_dir.resolve() if out_dir is not None else loaded.output_dir)
    staging = _staging_dir(loaded, final_dir)
    name = loaded.name
    sample_rate = recipe.output.sample_rate
    n_stem_steps = 0 if midi_only else len(recipe.tracks)
    steps = 3 + n_stem_steps + (0 if midi_only else 3)
    try:
        with Progress(f"building {loaded.path.name}", steps, quiet=quiet) as progress:
            progress.step("composing")
            score = compose_score(plan)
            progress.advance()
            progress.step("writing MIDI")
            provenance = {"recipe_sha256": recipe_sha256(loaded.path), "seed": str(recipe.seed),
                          "lofictl": __version__}
            (staging / "midi").mkdir(parents=True)
            midi.write_midi(midi.score_to_midi(score, provenance=provenance), staging / "midi" / f"{name}.mid")
            for track in score.tracks:
                midi.write_midi(midi.track_to_midi(score, track.name), staging / "midi" / f"{track.name}.mid")
            progress.advance()
            progress.step("drawing the piano roll")
            pianoroll.render_pianoroll(score, staging / "pianoroll.png")
            progress.advance()
            loudness = None
            if not midi_only:
                progress.step("rendering stems")
                stems = render_stems(plan, score, jobs, progress=lambda track: progress.advance(f"rendered {track}"))
                n_samples = n_samples_for(score, sample_rate)
                progress.step("ambience")
                overlays = render_overlays(plan, n_samples)
                progress.advance()
                progress.step("mixing and mastering")
                master_audio, loudness = mix_and_master(plan, stems, overlays)
                progress.advance()
                progress.step("writing audio")
                (staging / "stems").mkdir()
                for number, (stem_name, audio) in enumerate(list(stems.items()) + list(overlays.items()), 1):
                    audio_io.write_audio(staging / "stems" / f"{number:02d}_{stem_name}.wav", audio, sample_rate,
                                         "wav", wav_subtype=recipe.output.wav_format)
                for fmt in recipe.output.formats:
                    audio_io.write_audio(staging / f"{name}.{fmt}", master_audio, sample_rate, fmt,
                                         wav_subtype=recipe.output.wav_format)
                progress.advance()
            outputs = _list_outputs(staging)
            lock = lock_data(plan, score, outputs_hashes(staging), loudness, midi_only)
            (staging / "build.json").write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
            _swap_in(staging, final_dir)
            lock_path = _write_lock(loaded, lock) if out_dir is None else None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildResult(recipe.title, final_dir, recipe.total_bars, recipe.tempo, score.duration_seconds,
                       time.perf_counter() - started, outputs + [("build.json", 0)], loudness, lock_path)


# --- atomic output ------------------------------------------------------------------------------


def _staging_dir(loaded: LoadedRecipe, final_dir: Path) -> Path:
    """A fresh temporary sibling of the output folder (same file system, so rename is atomic)."""
    parent = final_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _recover_interrupted(final_dir)
        staging = parent / f".{final_dir.name}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as exc:
        field = ("output", "dir")
        message = f"cannot write the output folder {final_dir}: {exc.strerror or exc}"
        raise loaded.error(message, field) from None
    return staging


def _recover_interrupted(final_dir: Path) -> None:
    """Clean up after a build killed mid-swap: restore the old outputs, drop stale temp folders."""
    parent = final_dir.parent
    olds = sorted(parent.glob(f".{final_dir.name}.old-*"))
    if olds and not final_dir.exists():
        olds[-1].rename(final_dir)
        olds = olds[:-1]
    for stale in olds + sorted(parent.glob(f".{final_dir.name}.tmp-*")):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue  # another build is writing there right now
        shutil.rmtree(stale, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _swap_in(staging: Path, final_dir: Path) -> None:
    old = final_dir.parent / f".{final_dir.name}.old-{os.getpid()}"
    if final_dir.exists():
        final_dir.rename(old)
    staging.rename(final_dir)
    shutil.rmtree(old, ignore_errors=True)


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)


# --- hashes and the lock ------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def recipe_sha256(path: Path) -> str:
    return sha256_file(path)


def _list_outputs(folder: Path) -> list[tuple[str, int]]:
    return [(p.relative_to(folder).as_posix(), p.stat().st_size)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "build.json"]


def outputs_hashes(folder: Path) -> dict[str, str]:
    return {rel: sha256_file(folder / rel) for rel, _ in _list_outputs(folder)}


def lock_data(plan: BuildPlan, score: Score, hashes: dict[str, str], loudness: dict | None,
              midi_only: bool) -> dict:
    from .seeds import derive_seed

    recipe = plan.recipe
    seeds = {name: (track.seed if track.seed is not None else derive_seed(recipe.seed, "track", name))
             for name, track in recipe.tracks.items()}
    return {
        "lofictl_lock": 1,
        "lofictl": __version__,
        "recipe": {"file": plan.loaded.path.name, "sha256": recipe_sha256(plan.loaded.path),
                   "resolved": recipe.model_dump(mode="json")},
        "seeds": {"master": recipe.seed, "tracks": seeds},
        "instruments": {name: {"soundfont": inst.soundfont.name, "sha256": sha256_file(inst.soundfont),
                               "preset": str(inst.preset)} for name, inst in plan.instruments.items()},
        "overlays": {str(i): {"file": p.name, "sha256": sha256_file(p)} for i, p in plan.overlay_files.items()},
        "models": {name: _model_hash(path) for name, path in plan.models.items()},
        "libraries": library_versions(),
        "midi_only": midi_only,
        "duration_s": round(score.duration_seconds + (0 if midi_only else TAIL_SECONDS), 6),
        "loudness": loudness,
        "outputs": hashes,
    }


def _model_hash(path: Path) -> dict:
    from . import generate

    return generate.model_info(path)


def library_versions() -> dict[str, str]:
    import importlib.metadata as md
    import platform

    versions = {}
    for package in ("numpy", "mido", "pedalboard", "pyfluidsynth", "jax", "flax", "matplotlib", "pyloudnorm"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = "missing"
    try:
        from .render import fluidsynth_version

        versions["libfluidsynth"] = fluidsynth_version()
    except LofictlError:
        versions["libfluidsynth"] = "missing"
    versions["python"] = platform.python_version()
    versions["platform"] = f"{platform.system()}-{platform.machine()}"
    return versions


def _write_lock(loaded: LoadedRecipe, lock: dict) -> Path:
    path = loaded.path.with_name(f"{loaded.name}.lock.json")
    _write_atomic(path, json.dumps(lock, indent=2, sort_keys=True) + "\n")
    return path
