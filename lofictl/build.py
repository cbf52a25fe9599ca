"""The build runner: recipe → every output file, through cached stages, written atomically.

`prepare` resolves and checks everything outside the recipe (SoundFonts, presets, effect
parameters, overlay files, models) before any audio is made, so a mistake costs a second, not
a render.

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
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, soundfonts
from .cache import CACHE_DIR_NAME, Cache, canonical_json, sha256_bytes, stage_key
from .errors import LofictlError, all_errors, raise_all
from .recipe import LoadedRecipe, Recipe
from .safety import interrupts, outputs as output_rule
from .safety.fingerprints import code_inputs
from .safety.names import slug
from .safety.plugins import resolve_plugin
from .score import KICK_PITCHES, Score, Track, score_from_dict, score_to_dict
from .seeds import derive_seed

TAIL_SECONDS = 2.0  # room after the last bar for releases and effect tails
LOCK_FORMAT = 1
_DEFAULT_PRESETS = {"chords": "Electric Piano 1", "melody": "Vibraphone", "bass": "Acoustic Bass",
                    "midi": "Acoustic Grand Piano"}
# Fields of a track that only shape its sound; everything else changes the notes.
_SOUND_FIELDS = {"instrument", "gain_db", "pan", "mute", "solo", "effects", "send_db", "duck"}
STAGE_ORDER = ("compose", "midi", "stems", "overlays", "bus", "mix", "export")
BUS_LABEL = "reverb-bus"


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
    clip_files: dict[str, Path] = field(default_factory=dict)
    clips: dict[str, tuple] = field(default_factory=dict)  # track → notes read from its MIDI file
    # Effect chains with their file parameters resolved ("tracks.NAME", "master.effects",
    # "master.bus"), and every file each chain reads (impulse responses, plugins), by field.
    chains: dict[str, list] = field(default_factory=dict)
    chain_files: dict[str, dict[str, Path]] = field(default_factory=dict)

    @property
    def recipe(self) -> Recipe:
        return self.loaded.recipe


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
        return {"recipe": str(self.recipe), "title": self.title, "out_dir": str(self.out_dir),
                "bars": self.bars, "tempo": self.tempo, "duration_s": round(self.duration_s, 3),
                "elapsed_s": round(self.elapsed_s, 3), "up_to_date": self.up_to_date,
                "stages_ran": self.ran, "stages_restored": self.restored, "reasons": self.reasons,
                "loudness": self.loudness, "lock": str(self.lock_path) if self.lock_path else None,
                "outputs": {rel: size for rel, size in self.outputs},
                "tempo_range": list(self.tempo_range) if self.tempo_range else None}


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


# --- prepare: resolve everything outside the recipe ---------------------------------------------


def prepare(loaded: LoadedRecipe, *, deep: bool = False) -> BuildPlan:
    """Resolve and check every outside resource; `deep` also loads the models (slower: JAX).

    Every problem is found before one is reported, so a recipe with a missing SoundFont and a
    misspelt effect says both at once.
    """
    recipe = loaded.recipe
    instruments: dict[str, Instrument] = {}
    models: dict[str, Path] = {}
    chains: dict[str, list] = {}
    chain_files: dict[str, dict[str, Path]] = {}
    problems: list[LofictlError] = []

    def check(action, *args):
        try:
            return action(*args)
        except LofictlError as exc:
            problems.extend(all_errors(loaded.locate(exc)))
            return None

    for name, track in recipe.tracks.items():
        instrument = check(_resolve_instrument, loaded, name)
        if instrument is not None:
            instruments[name] = instrument
        resolved = check(_resolve_chain, loaded, track.effects, ("tracks", name, "effects"))
        if resolved is not None:
            chains[f"tracks.{name}"], chain_files[f"tracks.{name}"] = resolved
        generate = getattr(track, "generate", None)
        if generate is not None:
            model = check(loaded.resolve_path, generate.model, ("tracks", name, "generate", "model"))
            if model is not None:
                models[name] = model
    for scope in ("master.effects", "master.bus"):
        part = scope.split(".")[1]
        resolved = check(_resolve_chain, loaded, getattr(recipe.master, part), ("master", part))
        if resolved is not None:
            chains[scope], chain_files[scope] = resolved
    overlay_files: dict[int, Path] = {}
    for index, overlay in enumerate(recipe.overlays):
        if overlay.file is not None:
            found = check(_check_overlay, loaded, index, overlay.file)
            if found is not None:
                overlay_files[index] = found
        resolved = check(_resolve_chain, loaded, overlay.effects, ("overlays", index, "effects"))
        if resolved is not None:
            chains[f"overlays.{index}"], chain_files[f"overlays.{index}"] = resolved
    clip_files, clips = {}, {}
    for name, track in recipe.tracks.items():
        if track.part == "midi":
            found = check(_read_clip, loaded, name, track)
            if found is not None:
                clip_files[name], clips[name] = found
    for name, path in models.items():
        check(_check_model, loaded, name, path, deep)
        check(_check_gate, loaded, name, path)
    raise_all(problems)
    return BuildPlan(loaded, instruments, models, overlay_files, clip_files, clips, chains, chain_files)


def _soundfont(loaded: LoadedRecipe, name: str, where: tuple) -> Path:
    """A bare SoundFont name is looked up on the search path (folders the user or the system
    provides); anything with a folder in it is a project path under the path rule."""
    try:
        if "/" in name or "\\" in name or Path(name).is_absolute() or name in (".", ".."):
            font = loaded.resolve_path(name, where)
            if not font.is_file():
                raise loaded.error(f"SoundFont {name} is not a file", where)
            return font
        return soundfonts.find_soundfont(name, loaded.path.resolve().parent, loaded.project_root)
    except LofictlError as exc:
        raise (exc if exc.file else loaded.error(exc.message, where)) from None


def _resolve_chain(loaded: LoadedRecipe, spec: list, where: tuple) -> tuple[list, dict[str, Path]]:
    """An effect chain with its files put through the path rules (see effects.resolve_chain)."""
    from . import effects

    recipe_dir = loaded.path.resolve().parent

    def plugin(value, field_path: tuple, kind: str) -> Path:
        try:
            return resolve_plugin(value, kind, recipe_dir=recipe_dir, project_root=loaded.project_root)
        except LofictlError as exc:
            raise loaded.error(exc.message, field_path) from None

    try:
        return effects.resolve_chain(spec, where, loaded.recipe.output.sample_rate,
                                     resolve_file=lambda value, field_path: loaded.resolve_path(value, field_path),
                                     resolve_plugin=plugin)
    except LofictlError as exc:
        raise loaded.locate(exc) from None


def _resolve_instrument(loaded: LoadedRecipe, name: str) -> Instrument:
    track = loaded.recipe.tracks[name]
    where = ("tracks", name, "instrument")
    spec = track.instrument
    font = _soundfont(loaded, spec.soundfont if spec else "FluidR3_GM.sf2", where + ("soundfont",))
    try:
        if spec and (spec.preset or spec.program is not None or spec.bank is not None):
            preset = soundfonts.resolve_preset(font, spec.preset, spec.bank, spec.program)
        elif track.part == "drums":
            preset = soundfonts.default_kit(font)
        else:
            preset = soundfonts.resolve_preset(font, _DEFAULT_PRESETS[track.part])
    except LofictlError as exc:
        field_name = "soundfont" if "SoundFont" in exc.message and "preset" not in exc.message else "preset"
        raise loaded.error(exc.message, where + (field_name,)) from None
    return Instrument(font, preset)


def _read_clip(loaded: LoadedRecipe, name: str, track) -> tuple[Path, tuple]:
    from . import midi

    where = ("tracks", name, "file")
    path = loaded.resolve_path(track.file, where)
    try:
        return path, midi.read_midi_clip(path, track.track, track.channel)
    except LofictlError as exc:
        raise loaded.error(f"{exc.message} (in {path.name})", where) from None


def _check_model(loaded: LoadedRecipe, name: str, path: Path, deep: bool) -> None:
    try:
        if deep:
            from . import generate as gen

            gen.load_model(path)  # every check, JAX included: for `validate`
        model_summary(path, Cache(None), loaded.recipe.tracks[name].part)
    except LofictlError as exc:
        raise loaded.error(exc.message, ("tracks", name, "generate", "model")) from None


def _check_gate(loaded: LoadedRecipe, name: str, model: Path) -> None:
    """The originality gate needs the melody model's n-gram index: missing, stale or damaged,
    it is an error at the recipe's `max_overlap_15` line, before anything is built."""
    track = loaded.recipe.tracks[name]
    if track.generate.max_overlap_15 is None:
        return
    where = ("tracks", name, "generate", "max_overlap_15")
    if track.part != "melody":
        raise loaded.error("only melody tracks have an originality gate; remove max_overlap_15 here", where)
    from .models import ngrams

    try:
        index = ngrams.load_ngram_index(model)
    except LofictlError as exc:
        raise loaded.error(f"cannot check the gate: {exc.message}", where) from None
    if index is None:
        raise loaded.error(f"{model.name} has no n-gram index of its training data ({ngrams.INDEX_FILE}), so the "
                           f"gate cannot be checked; `lofictl train melody` writes one, for older models run "
                           f"`lofictl eval-index {model}`", where)
    if ngrams.GATE_LENGTH not in index.lengths:
        raise loaded.error(f"{model.name}'s n-gram index holds lengths {list(index.lengths)}, not "
                           f"{ngrams.GATE_LENGTH}; rebuild it with `lofictl eval-index {model}`", where)


def _check_overlay(loaded: LoadedRecipe, index: int, file: str) -> Path:
    """An overlay file must be readable audio with one or two channels (header only: quick)."""
    from pedalboard.io import AudioFile

    where = ("overlays", index, "file")
    path = loaded.resolve_path(file, where)
    try:
        with AudioFile(str(path)) as source:
            channels, frames = source.num_channels, source.frames
    except (ValueError, RuntimeError, OSError) as exc:
        raise loaded.error(f"{path.name} is not an audio file that can be read (WAV, FLAC, MP3, OGG and "
                           f"AIFF can): {' '.join(str(exc).split())[:120]}", where) from None
    if channels > 2:
        raise loaded.error(f"{path.name} has {channels} channels; overlays must be mono or stereo "
                           "(mix it down to stereo first)", where)
    if frames == 0:
        raise loaded.error(f"{path.name} holds no audio", where)
    return path


# --- what each stage reads ----------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} → {'a.b': 1}; lists stay whole (an effect chain is one input)."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _file_hash(cache: Cache, path: Path) -> str:
    return cache.file_sha256(path)


def compose_inputs(plan: BuildPlan, cache: Cache) -> dict:
    recipe = plan.recipe
    data = recipe.model_dump(mode="json")
    tracks = {}
    for name, track in data["tracks"].items():
        tracks[name] = {k: v for k, v in track.items() if k not in _SOUND_FIELDS}
        preset = plan.instruments[name].preset
        tracks[name]["program"] = [preset.bank, preset.program]
    inputs = {key: data[key] for key in ("seed", "tempo", "time_signature", "key", "swing", "ending", "sections")}
    inputs["length_bars"] = recipe.total_bars
    inputs["tracks"] = tracks
    inputs["models"] = {name: _model_files_hash(cache, path) for name, path in plan.models.items()}
    inputs["clips"] = {name: _file_hash(cache, path) for name, path in plan.clip_files.items()}
    inputs.update({f"library.{k}": library_versions()[k] for k in ("jax", "flax", "numpy")})
    return _flatten(inputs)


# What sampling reads from a model folder: weights, config and vocabularies, and the n-gram
# index of the originality gate. A local resume file (train_state.msgpack) is left out, so the
# key is the same in a fresh clone.
MODEL_FILES = ("model.json", "weights.msgpack", "ngrams.npy", "ngrams.json")


def _model_files_hash(cache: Cache, folder: Path) -> str:
    parts = {name: cache.file_sha256(folder / name) for name in MODEL_FILES if (folder / name).is_file()}
    return sha256_bytes(canonical_json(parts).encode())


def path_sha256(cache: Cache, path: Path) -> str:
    """sha256 of a file, or of a bundle folder's files (a .vst3 plugin), names and contents."""
    path = Path(path)
    if not path.is_dir():
        return cache.file_sha256(path)
    parts = {}
    for base, dirs, names in os.walk(path, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            file = Path(base) / name
            rel = file.relative_to(path).as_posix()
            parts[rel] = f"link:{os.readlink(file)}" if file.is_symlink() else cache.file_sha256(file)
    return sha256_bytes(canonical_json(parts).encode())


def files_inputs(cache: Cache, files: dict[str, Path]) -> dict[str, str]:
    """The content hashes of the files a stage reads, by the field that names them."""
    return {where: path_sha256(cache, path) for where, path in sorted(files.items())}


def _library_inputs() -> dict:
    versions = library_versions()
    return {f"library.{k}": versions[k] for k in ("libfluidsynth", "pedalboard", "numpy")}


def kick_samples(plan: BuildPlan, score: Score) -> list[int]:
    """Sample positions of the kick notes of the drum tracks that play: the ducking key."""
    playing = set(audible_tracks(plan.recipe))
    rate, timing = plan.recipe.output.sample_rate, score.tempo_map
    return sorted({round(timing.samples(n.start, rate)) for t in score.tracks if t.is_drums and t.name in playing
                   for n in t.notes if n.pitch in KICK_PITCHES})


def duck_args(spec, kicks: list[int]) -> tuple | None:
    return None if spec is None else (tuple(kicks), spec.depth_db, spec.release_ms)


def track_sha(score: Score, track: Track) -> str:
    """The hash of one track's notes (and the timing they depend on)."""
    return sha256_bytes(canonical_json(score_to_dict(score.copy(tracks=(track,), chords=(), sections=()))).encode())


def midi_inputs(plan: BuildPlan, score_sha: str) -> dict:
    versions = library_versions()
    return {"score": score_sha, "title": plan.recipe.title, "recipe": plan.loaded.path.name,
            "seed": plan.recipe.seed, "lofictl": __version__, "models": {n: p.name for n, p in sorted(plan.models.items())},
            "library.matplotlib": versions["matplotlib"], "library.mido": versions["mido"]}


def stem_inputs(plan: BuildPlan, name: str, notes_sha: str, n_samples: int, cache: Cache,
                kicks_sha: str | None = None) -> dict:
    recipe = plan.recipe
    spec = recipe.tracks[name]
    instrument = plan.instruments[name]
    return {"notes": notes_sha, "tempo": recipe.tempo, "soundfont": cache.file_sha256(instrument.soundfont),
            "preset": str(instrument.preset), "output.sample_rate": recipe.output.sample_rate,
            "n_samples": n_samples, f"tracks.{name}.effects": spec.model_dump(mode="json")["effects"],
            f"tracks.{name}.gain_db": spec.gain_db, f"tracks.{name}.pan": spec.pan,
            f"tracks.{name}.duck": spec.duck.model_dump() if spec.duck else None, "kicks": kicks_sha,
            f"tracks.{name}.files": files_inputs(cache, plan.chain_files.get(f"tracks.{name}", {})),
            "provenance": [plan.loaded.path.name, recipe.title, recipe.seed], "lofictl": __version__,
            **_library_inputs()}


def dry_inputs(plan: BuildPlan, name: str, notes_sha: str, n_samples: int, cache: Cache) -> dict:
    """A dry stem reads what its stem reads, less the track's effects, gain, pan and ducking."""
    return {key: value for key, value in stem_inputs(plan, name, notes_sha, n_samples, cache).items()
            if not key.startswith(f"tracks.{name}.")}


def overlays_inputs(plan: BuildPlan, n_samples: int, cache: Cache, kicks_sha: str | None = None) -> dict:
    recipe = plan.recipe
    return {"overlays": [o.model_dump(mode="json") for o in recipe.overlays], "seed": recipe.seed,
            "kicks": kicks_sha if any(o.duck for o in recipe.overlays) else None,
            "files": {str(i): cache.file_sha256(p) for i, p in sorted(plan.overlay_files.items())},
            "output.sample_rate": recipe.output.sample_rate, "n_samples": n_samples, **_library_inputs(),
            # files an overlay's effects read (impulse responses, plugins); absent when none do
            **({"effects.files": effect_files} if (effect_files := {
                str(i): files_inputs(cache, plan.chain_files[f"overlays.{i}"])
                for i in range(len(recipe.overlays)) if plan.chain_files.get(f"overlays.{i}")}) else {})}


def mix_inputs(plan: BuildPlan, stem_shas: dict[str, str], overlay_shas: dict[str, str], cache: Cache) -> dict:
    recipe = plan.recipe
    master = recipe.model_dump(mode="json")["master"]
    return {"stems": stem_shas, "overlays": overlay_shas,
            "master.effects.files": files_inputs(cache, plan.chain_files.get("master.effects", {})),
            **{f"master.{k}": v for k, v in master.items() if k != "bus"},
            "audible": audible_tracks(recipe), "output.sample_rate": recipe.output.sample_rate,
            **_library_inputs(), "library.pyloudnorm": library_versions()["pyloudnorm"]}


def bus_inputs(plan: BuildPlan, stem_shas: dict[str, str], n_samples: int, cache: Cache) -> dict:
    recipe = plan.recipe
    sends = {name: recipe.tracks[name].send_db for name in audible_tracks(recipe)
             if recipe.tracks[name].send_db is not None}
    return {"sends": {name: [stem_shas.get(name, ""), level] for name, level in sends.items()},
            "master.bus": recipe.model_dump(mode="json")["master"]["bus"],
            "master.bus.files": files_inputs(cache, plan.chain_files.get("master.bus", {})), "lofictl": __version__,
            "output.sample_rate": recipe.output.sample_rate, "n_samples": n_samples, **_library_inputs()}


def export_inputs(plan: BuildPlan, master_sha: str, stem_shas: dict[str, str]) -> dict:
    recipe = plan.recipe
    return {"master": master_sha, "stems": stem_shas, "output.formats": list(recipe.output.formats),
            "output.wav_format": recipe.output.wav_format, "name": plan.loaded.name,
            "provenance": [plan.loaded.path.name, recipe.title, recipe.seed],
            "output.daw": list(recipe.output.daw), "output.dry_stems": recipe.output.dry_stems,
            "output.stem_names": recipe.output.stem_names, "title_key_tempo": [recipe.title, recipe.key, recipe.tempo],
            # the DAW projects put these on the faders
            "mixer": {n: [t.gain_db, t.pan, t.mute, t.solo] for n, t in recipe.tracks.items()},
            "lofictl": __version__, "library.pedalboard": library_versions()["pedalboard"],
            "library.mutagen": library_versions()["mutagen"]}


def master_tags(plan: BuildPlan, key: str):
    """Tags of the master's FLAC/MP3: title, tempo, key and the same provenance as the WAV."""
    from .export.tags import Tags

    recipe = plan.recipe
    return Tags(title=recipe.title, bpm=recipe.tempo, key=recipe.key,
                provenance=json.loads(provenance_info(plan, key)["ICMT"]))


def provenance_info(plan: BuildPlan, key: str, **extra: str) -> dict[str, str]:
    """The WAV INFO chunk: title, software, and a JSON comment that leads back to the recipe."""
    data = {"recipe": plan.loaded.path.name, "title": plan.recipe.title, "seed": str(plan.recipe.seed),
            "stage_key": key[:16], "lofictl": __version__, **extra}
    return {"INAM": plan.recipe.title, "ISFT": f"lofictl {__version__}", "ICMT": canonical_json(data)}


# --- the stages' work ---------------------------------------------------------------------------


def compose_score(plan: BuildPlan, measures: dict | None = None) -> Score:
    """The Score; `measures` (if given) receives each melody's measures for the lock."""
    from .compose import compose

    programs = {name: (inst.preset.bank, inst.preset.program) for name, inst in plan.instruments.items()}
    try:
        return compose(plan.recipe, models=plan.models, programs=programs, clips=plan.clips, measures=measures)
    except LofictlError as exc:
        raise plan.loaded.locate(exc) from None


def n_samples_for(score_duration_s: float, sample_rate: int) -> int:
    return int(round((score_duration_s + TAIL_SECONDS) * sample_rate))


def render_stem(track: Track, timing, instrument: Instrument, sample_rate: int,
                n_samples: int, effect_chain: list, gain_db: float, pan: float) -> np.ndarray:
    """One track as one array: FluidSynth, its effect chain, gain and pan.

    The builds use stream.render_stem_to_wav, which gives these bytes in bounded memory; this
    whole-array form is the reference the stream tests compare it with.
    """
    from . import effects, mix, render, stream

    audio = render.render_track(track, timing, instrument.soundfont, instrument.preset,
                                sample_rate, n_samples)
    if effect_chain:
        audio = effects.apply_chain(audio, sample_rate, effect_chain)
        audio = stream.fit_length(audio, n_samples)
    return mix.apply_gain_pan(audio, gain_db, pan)


def _render_to_file(args: tuple) -> str:
    """Render one stem into a float32 WAV block by block (bounded memory for long tracks; the
    same bytes as render_stem + write_wav)."""
    from . import stream

    track, timing, instrument, sample_rate, n_samples, effect_chain, gain_db, pan, duck, info, path = args
    stream.render_stem_to_wav(track, timing, instrument.soundfont, instrument.preset, sample_rate,
                              n_samples, effect_chain, gain_db, pan, Path(path), info=info, duck=duck)
    return path


def render_overlay(plan: BuildPlan, index: int, n_samples: int) -> np.ndarray:
    """An overlay as one array: source, placed and faded, at its gain, through its effects, panned."""
    from . import ambience, effects, mix, stream

    recipe = plan.recipe
    overlay = recipe.overlays[index]
    sample_rate = recipe.output.sample_rate
    if overlay.file is not None:
        source = ambience.load_overlay(plan.overlay_files[index], sample_rate)
    else:
        length = n_samples if not overlay.loop else min(n_samples, 20 * sample_rate)
        source = ambience.generate(overlay.ambience, length, sample_rate,
                                   derive_seed(recipe.seed, "overlay", index, overlay.ambience))
    audio = ambience.place_overlay(source, n_samples, sample_rate, loop=overlay.loop,
                                   fade_in_s=overlay.fade_in, fade_out_s=overlay.fade_out,
                                   start_s=overlay.start, gain_db=overlay.gain_db)
    if overlay.effects:
        chain = plan.chains[f"overlays.{index}"]
        audio = stream.fit_length(effects.apply_chain(audio, sample_rate, chain), n_samples)
    return mix.apply_gain_pan(audio, 0.0, overlay.pan)


def overlay_label(recipe: Recipe, index: int) -> str:
    overlay = recipe.overlays[index]
    label = (slug(Path(overlay.file).stem) or "file") if overlay.file is not None else overlay.ambience
    return f"overlay-{index + 1}-{label}"


def audible_tracks(recipe: Recipe) -> list[str]:
    from .mix import audible

    return audible(list(recipe.tracks), mute=[n for n, t in recipe.tracks.items() if t.mute],
                   solo=[n for n, t in recipe.tracks.items() if t.solo])


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


def build_recipe(loaded: LoadedRecipe, *, out_dir: Path | None = None, midi_only: bool = False,
                 jobs: int = 1, quiet: bool = False, use_cache: bool = True,
                 write_lock: bool | None = None, cache: Cache | None = None, master_only: bool = False) -> BuildResult:
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
            raise LofictlError(f"{describe_os_error(exc, folder)}; the previous outputs and lock are unchanged",
                               file=loaded.path) from None


def describe_os_error(exc: OSError, folder: Path | None = None) -> str:
    """'no space left on the device (at build/x/stems/01.wav)' and the like."""
    import errno

    what = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up",
            errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "the operation is not permitted", errno.EBUSY: "it is busy (a mount point or in use)",
            errno.EXDEV: "it is on another file system", errno.ENAMETOOLONG: "the name is too long",
            errno.EFBIG: "the file is too large for this file system or its limits",
            errno.EIO: "an input/output error (the disk may be failing)"}.get(exc.errno,
                                                                           (exc.strerror or str(exc)).lower())
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
    return output_rule.protected_folders(project=loaded.project_root, recipes=loaded.path.resolve().parent,
                                         current=Path.cwd(), cache=loaded.project_root / CACHE_DIR_NAME)


def _build_recipe(loaded: LoadedRecipe, out_dir: Path | None, midi_only: bool, jobs: int, quiet: bool,
                  use_cache: bool, write_lock: bool | None, cache: Cache | None,
                  master_only: bool) -> BuildResult:
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
        raise loaded.error(f"cannot write the output folder {final_dir}: {blocker} is a file", ("output", "dir")) from None
    output_rule.recover(final_dir, lock_path if write_lock else None)
    previous = _previous_lock(lock_path)
    if cache is None:
        cache = Cache(loaded.project_root / CACHE_DIR_NAME, enabled=use_cache)
    # Each corrupt object found drops its cache entry, so every retry gets further; a bounded
    # number of tries, then one that reads nothing from the cache.
    for attempt in range(len(plan.recipe.tracks) + 6):
        try:
            result = _build_once(plan, final_dir, previous, cache, midi_only, jobs, quiet,
                                 lock_path if write_lock else None, master_only)
            break
        except CacheCorrupt:
            if attempt == len(plan.recipe.tracks) + 4:
                cache.reads = False
    lock, stages, loudness, duration_s, up_to_date = result
    cache.save_state()
    outputs = [(rel, info["bytes"]) for rel, info in lock["outputs"].items()]
    recipe = plan.recipe
    tempo_range = stages.record["compose"].get("meta", {}).get("tempo_range")
    return BuildResult(recipe.title, loaded.path, final_dir, recipe.total_bars, recipe.tempo, duration_s,
                       time.perf_counter() - started, outputs, loudness, lock_path if write_lock else None,
                       stages.ran, stages.restored, stages.reasons, up_to_date, lock,
                       tuple(tempo_range) if tempo_range else None)


def _previous_lock(lock_path: Path) -> dict | None:
    """The lock of the last build, to say what changed; a damaged one is set aside with a warning
    (the build rewrites it), since `verify` and `diff` are where a lock's damage is reported."""
    if not lock_path.exists():
        return None
    from .safety.lockfile import LockTooNew

    try:
        return read_lock(lock_path)
    except LockTooNew:
        raise
    except LofictlError as exc:
        from .cache import warn

        warn(f"{exc}; building as if there were none (the build writes a new one)")
        return None


def _build_once(plan: BuildPlan, final_dir: Path, previous: dict | None, cache: Cache, midi_only: bool,
                jobs: int, quiet: bool, lock_path: Path | None, master_only: bool = False):
    from .progress import Progress

    recipe = plan.recipe
    staging = output_rule.staging_folder(final_dir)
    work = staging / ".work"
    work.mkdir()
    stages = _Stages(cache, work, staging, previous)
    try:
        with Progress(f"building {plan.loaded.path.name}", 6 + (0 if midi_only else len(recipe.tracks)),
                      quiet=quiet) as progress:
            score_meta, loudness = _run_stages(plan, stages, midi_only, jobs, progress, master_only)
            duration_s = score_meta["duration_s"] + (0 if midi_only else TAIL_SECONDS)
            outputs = _outputs_info(stages, recipe.output.sample_rate, score_meta, midi_only)
            lock = lock_data(plan, stages, outputs, loudness, midi_only, duration_s, cache)
            text = lock_text(lock)
            up_to_date = (previous is not None and not stages.ran and final_dir.is_dir()
                          and _same_text(final_dir / output_rule.OWNER_FILE, text)
                          and (lock_path is None or _same_text(lock_path, text))
                          and _outputs_match(final_dir, outputs, cache))
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
                output_rule.commit(staging, final_dir, protected_folders(plan.loaded),
                                   output_rule.LockUpdate(lock_path, text) if lock_path is not None else None)
                for rel, info in outputs.items():  # so the next no-op build need not re-read them
                    cache.remember(final_dir / rel, info["sha256"])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return lock, stages, loudness, duration_s, up_to_date


def _run_stages(plan: BuildPlan, stages: _Stages, midi_only: bool, jobs: int, progress,
                master_only: bool = False) -> tuple[dict, dict | None]:
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
    from .progress import Progress

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
    meta = {"duration_s": round(score.duration_seconds, 6),
            "tracks": {t.name: track_sha(score, t) for t in score.tracks}, "melody": measures}
    if score.tempo_changes:
        meta["tempo_range"] = list(score.tempo_range)
    if data is not None:
        stages.restored_from("compose", entry, stages.work, meta)
    elif stages.dry:
        stages.would_run("compose")
        stages.record["compose"]["outputs"] = {
            "score.json": sha256_bytes(canonical_json(score_to_dict(score)).encode())}
    else:
        path = stages.work / "score.json"
        path.write_bytes(canonical_json(score_to_dict(score)).encode())
        stages.ran_with("compose", key, {"score.json": path}, meta)
    progress.advance()
    return score, meta


def _provenance(plan: BuildPlan, key: str) -> dict:
    recipe = plan.recipe
    return {"recipe": plan.loaded.path.name, "title": recipe.title, "seed": str(recipe.seed),
            "stage_key": key[:16], "lofictl": __version__,
            "models": {name: path.name for name, path in sorted(plan.models.items())}}


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
        from . import midi, pianoroll

        provenance = _provenance(plan, key)
        (stages.staging / "midi").mkdir(exist_ok=True)
        files = {f"midi/{name}.mid": stages.staging / "midi" / f"{name}.mid",
                 "pianoroll.png": stages.staging / "pianoroll.png"}
        midi.write_midi(midi.score_to_midi(score, provenance=provenance), files[f"midi/{name}.mid"])
        for track in score.tracks:
            path = files[f"midi/{track.name}.mid"] = stages.staging / "midi" / f"{track.name}.mid"
            midi.write_midi(midi.track_to_midi(score, track.name, provenance=provenance), path)
        for page in pianoroll.render_pianoroll(score, files["pianoroll.png"]):  # long pieces: more pages
            files[page.name] = page
        stages.final.update(stages.ran_with("midi", key, files))
    progress.advance()


def _sha(path: Path) -> str:
    from .cache import sha256_file

    return sha256_file(path)


def _stage_stems(plan: BuildPlan, stages: _Stages, score: Score, score_meta: dict, jobs: int,
                 progress) -> dict[str, Artifact]:
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
        inputs = stem_inputs(plan, track.name, score_meta["tracks"][track.name], n_samples, stages.cache,
                             kicks_sha if spec.duck else None)
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
        todo[track.name] = (track, score.tempo_map, instrument, sample_rate, n_samples,
                            plan.chains[f"tracks.{track.name}"],
                            spec.gain_db, spec.pan, duck_args(spec.duck, kicks),
                            provenance_info(plan, key, track=track.name), str(path))

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


def _stage_overlays(plan: BuildPlan, stages: _Stages, score: Score, score_meta: dict,
                    progress) -> dict[str, Artifact]:
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
        restored = stages.would_run("overlays", [f"{overlay_label(recipe, i)}.wav" for i in range(len(recipe.overlays))])
    else:
        from . import stream

        folder.mkdir()
        files = {}
        for index in range(len(recipe.overlays)):
            path = files[f"{overlay_label(recipe, index)}.wav"] = folder / f"{overlay_label(recipe, index)}.wav"
            stream.render_overlay_to_wav(plan, index, n_samples, path,  # render_overlay's bytes, in blocks
                                         duck=duck_args(recipe.overlays[index].duck, kicks))
        restored = stages.ran_with("overlays", key, files)
    progress.advance()
    return {overlay_label(recipe, i): restored[f"{overlay_label(recipe, i)}.wav"] for i in range(len(recipe.overlays))}


@contextlib.contextmanager
def _finite(plan: BuildPlan, where: tuple, what: str):
    """NaN or infinite samples become an error at the chain that made them."""
    from .audio_io import NonFiniteAudio

    try:
        yield
    except NonFiniteAudio:
        raise plan.loaded.error(f"{what} makes NaN or infinite samples; lower the gains, drive or feedback in it",
                                where) from None


def _layer_shas(stages: _Stages) -> dict[str, str]:
    """label → sha256 of the extra mix layers: overlays and the send bus."""
    shas = {label.removesuffix(".wav"): digest
            for label, digest in stages.record.get("overlays", {}).get("outputs", {}).items()}
    if "bus" in stages.record:
        shas[BUS_LABEL] = stages.record["bus"]["outputs"]["bus.wav"]
    return shas


def _stage_bus(plan: BuildPlan, stages: _Stages, stems: dict[str, Artifact], score_meta: dict,
               progress) -> dict[str, Artifact]:
    """The shared reverb bus: the tracks with a send_db, summed at their levels, through master.bus."""
    recipe = plan.recipe
    playing = audible_tracks(recipe)
    sends = {name: recipe.tracks[name].send_db for name in playing if recipe.tracks[name].send_db is not None}
    if not sends:
        return {}
    progress.step("send bus")
    sample_rate = recipe.output.sample_rate
    n_samples = n_samples_for(score_meta["duration_s"], sample_rate)
    inputs = bus_inputs(plan, {name: stages.record[f"stem:{name}"]["outputs"]["audio.wav"] for name in sends},
                        n_samples, stages.cache)
    key = stages.key("bus", inputs)
    entry = stages.lookup("bus", key, inputs)
    if entry is not None:
        return {BUS_LABEL: stages.restored_from("bus", entry, stages.work / "bus")["bus.wav"]}
    if stages.dry:
        return {BUS_LABEL: stages.would_run("bus", ["bus.wav"])["bus.wav"]}
    from . import stream

    path = stages.work / "bus" / "bus.wav"
    path.parent.mkdir()
    with _finite(plan, ("master", "bus"), "the send bus chain"):
        stream.send_bus_to_wav([(stems[name].ready(stages.cache), level) for name, level in sends.items()],
                               sample_rate, n_samples, plan.chains["master.bus"], path,
                               info=provenance_info(plan, key, track=BUS_LABEL))
    return {BUS_LABEL: stages.ran_with("bus", key, {"bus.wav": path})["bus.wav"]}


def _stage_mix(plan: BuildPlan, stages: _Stages, stems: dict[str, Artifact], overlays: dict[str, Artifact],
               progress) -> tuple[Artifact, dict]:
    progress.step("mixing and mastering")
    recipe = plan.recipe
    playing = audible_tracks(recipe)
    inputs = mix_inputs(plan, {name: stages.record[f"stem:{name}"]["outputs"]["audio.wav"] for name in playing},
                        _layer_shas(stages), stages.cache)
    key = stages.key("mix", inputs)
    entry = stages.lookup("mix", key, inputs)
    if entry is not None and "loudness" in entry.meta:
        stats = entry.meta["loudness"]
        artifact = stages.restored_from("mix", entry, stages.work / "mix", {"loudness": stats})["master.wav"]
    elif stages.dry:
        artifact, stats = stages.would_run("mix", ["master.wav"])["master.wav"], None
    else:
        from . import stream

        # Summed in a fixed order (float addition is not associative), mastered in passes over
        # files: mix.master's result without holding any stem in memory.
        sources = [stems[name].ready(stages.cache) for name in playing]
        sources += [a.ready(stages.cache) for a in overlays.values()]
        with stream.AudioReader(next(iter(stems.values())).ready(stages.cache)) as first:
            n_samples = first.frames  # the length of silence when every track is muted
        path = stages.work / "mix" / "master.wav"
        path.parent.mkdir()
        with _finite(plan, ("master", "effects"), "the master chain"):
            stats = stream.mix_to_master_wav(sources, recipe.output.sample_rate, plan.chains["master.effects"],
                                             recipe.master.loudness_lufs, recipe.master.true_peak_db, path,
                                             n_samples=n_samples)
        artifact = stages.ran_with("mix", key, {"master.wav": path}, {"loudness": stats})["master.wav"]
    progress.advance()
    return artifact, stats


@dataclass(frozen=True)
class StemFile:
    """One stem file of the output folder: which track (or layer) it holds, and its source."""

    label: str  # the track name, an overlay label or the bus
    kind: str  # wet | dry | layer
    source: Artifact


def stem_files(plan: BuildPlan, stems: dict[str, Artifact], layers: dict[str, Artifact],
               dry: dict[str, Artifact]) -> dict[str, StemFile]:
    """stems/NN_<name>.wav in recipe order (layers after the tracks), dry twins in stems/dry/.

    With output.stem_names: delivery, the names follow stem-delivery guides instead:
    <Title>_<NN>_<Track>_<Key>_<BPM>bpm.wav.
    """
    from . import daw

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


def _stage_dry_stems(plan: BuildPlan, stages: _Stages, score: Score, score_meta: dict,
                     progress) -> dict[str, Artifact]:
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
        from . import stream

        path = stages.work / f"dry-{track.name}" / "audio.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        stream.render_stem_to_wav(track, score.tempo_map, instrument.soundfont, instrument.preset,
                                  sample_rate, n_samples, [], 0.0, 0.0, path,
                                  info=provenance_info(plan, key, track=track.name, kind="dry"))
        dry[track.name] = stages.ran_with(name, key, {"audio.wav": path})["audio.wav"]
    return dry


def _stage_export(plan: BuildPlan, stages: _Stages, score: Score, stems: dict[str, Artifact],
                  layers: dict[str, Artifact], dry: dict[str, Artifact], master: Artifact, progress,
                  jobs: int = 1) -> None:
    progress.step("writing audio files")
    recipe = plan.recipe
    name = plan.loaded.name
    files_to_write = stem_files(plan, stems, layers, dry)
    layer_shas = _layer_shas(stages)
    shas = {rel: (layer_shas[f.label] if f.kind == "layer" else
                  stages.record[f"{'stem' if f.kind == 'wet' else 'dry'}:{f.label}"]["outputs"]["audio.wav"])
            for rel, f in files_to_write.items()}
    inputs = export_inputs(plan, stages.record["mix"]["outputs"]["master.wav"], shas)
    inputs["score"] = stages.record["compose"]["outputs"]["score.json"]
    key = stages.key("export", inputs)
    entry = stages.lookup("export", key, inputs)
    if entry is not None and "encoded" in entry.meta:
        stages.final.update(stages.restored_from("export", entry, stages.staging, dict(entry.meta)))
    elif stages.dry:
        stages.would_run("export")
    else:
        from . import stream

        from .export import encode, tags

        files: dict[str, Path] = {}

        def write_stem(rel: str, stem: StemFile) -> float | None:
            source = stem.source.ready(stages.cache)
            if recipe.output.wav_format == "float32":
                shutil.copyfile(source, files[rel])  # already float32 WAV, byte for byte
            else:
                stream.encode_wav_to(source, files[rel], "wav", recipe.output.sample_rate,
                                     wav_subtype=recipe.output.wav_format,
                                     info=provenance_info(plan, key, track=stem.label))
            return stream.measure_loudness(source)

        def write_master(rel: str, fmt: str) -> dict:
            # An MP3 is measured after encoding and pulled under the true-peak ceiling.
            stats = encode.encode_master(master_path, files[rel], fmt, recipe.output.sample_rate,
                                         ceiling_db=recipe.master.true_peak_db, wav_subtype=recipe.output.wav_format,
                                         info=provenance_info(plan, key))
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
            master_futures = {rel: pool.submit(write_master, rel, fmt)
                              for rel, fmt in sorted(masters.items(), key=lambda item: item[1] != "mp3")}
            stem_futures = {rel: pool.submit(write_stem, rel, stem) for rel, stem in files_to_write.items()}
            loudness = {rel: future.result() for rel, future in stem_futures.items()}
            encoded = {rel: master_futures[rel].result() for rel in masters}
        files.update(_daw_files(plan, score, stages.staging, files_to_write))
        stages.final.update(stages.ran_with("export", key, files, {"loudness": loudness, "encoded": encoded}))
    progress.advance()


def _daw_files(plan: BuildPlan, score: Score, staging: Path, files: dict[str, StemFile]) -> dict[str, Path]:
    """The stem sidecar JSON, and REAPER / DAWproject files when the recipe asks for them."""
    from . import daw

    recipe = plan.recipe
    name = plan.loaded.name
    audible = set(audible_tracks(recipe))
    infos = []
    for rel, stem in files.items():
        spec = recipe.tracks.get(stem.label)
        if stem.kind == "layer":
            infos.append(daw.StemInfo(stem.label, Path(rel), "overlay"))
        elif stem.kind == "wet":
            infos.append(daw.StemInfo(stem.label, Path(rel), "wet", spec.gain_db, spec.pan,
                                      muted=stem.label not in audible))
        else:
            infos.append(daw.StemInfo(stem.label, Path(rel), "dry", spec.gain_db, spec.pan, muted=True))
    mix_format = next((f for f in ("wav", "flac") if f in recipe.output.formats), None)
    if mix_format:
        infos.append(daw.StemInfo(recipe.title, Path(f"{name}.{mix_format}"), "mix"))
    written = {f"{name}.stems.json": staging / f"{name}.stems.json"}
    written[f"{name}.stems.json"].write_text(daw.sidecar_text(
        daw.stems_sidecar(score, recipe.output.sample_rate, infos, title=recipe.title)))
    export = daw.DawExport(recipe.title, score, tuple(infos), recipe.output.sample_rate)
    if "reaper" in recipe.output.daw:
        written[f"{name}.rpp"] = daw.write_reaper_project(staging / f"{name}.rpp", export)
    if "dawproject" in recipe.output.daw:
        written[f"{name}.dawproject"] = daw.write_dawproject(staging / f"{name}.dawproject", export)
    return written


# --- hashes and the lock ------------------------------------------------------------------------


def _outputs_info(stages: _Stages, sample_rate: int, score_meta: dict, midi_only: bool) -> dict[str, dict]:
    """sha256, size and (for audio) duration of every output, from what the stages recorded."""
    outputs: dict[str, dict] = {}
    for stage in ("midi", "export"):
        for rel, digest in stages.record.get(stage, {}).get("outputs", {}).items():
            outputs[rel] = {"sha256": digest}
    audio_seconds = n_samples_for(score_meta["duration_s"], sample_rate) / sample_rate
    for rel, info in outputs.items():
        artifact = stages.final[rel]
        info["bytes"] = (artifact.path.stat().st_size if artifact.entry is None
                         else stages.cache.object_size(info["sha256"]))
        if rel.endswith((".wav", ".flac", ".mp3")):  # every audio output runs the full length
            info["duration_s"] = round(audio_seconds, 6)
    for rel, lufs in stages.record.get("export", {}).get("meta", {}).get("loudness", {}).items():
        outputs[rel]["integrated_lufs"] = lufs
    return dict(sorted(outputs.items()))


def _outputs_match(folder: Path, outputs: dict[str, dict], cache: Cache) -> bool:
    """The folder holds exactly these files with these hashes (hashes remembered by mtime)."""
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"build.json"}
    if present != set(outputs):
        return False
    return all(cache.file_sha256(folder / rel) == info["sha256"] for rel, info in outputs.items())


def lock_path_for(loaded: LoadedRecipe) -> Path:
    return loaded.path.with_name(f"{loaded.file_stem}.lock.json")


def lock_data(plan: BuildPlan, stages: _Stages, outputs: dict[str, dict], loudness: dict | None,
              midi_only: bool, duration_s: float, cache: Cache) -> dict:
    recipe = plan.recipe
    seeds = {name: (track.seed if track.seed is not None else derive_seed(recipe.seed, "track", name))
             for name, track in recipe.tracks.items()}
    if loudness is not None:
        master = [f"{plan.loaded.name}.{fmt}" for fmt in recipe.output.formats if f"{plan.loaded.name}.{fmt}" in outputs]
        encoded = stages.record.get("export", {}).get("meta", {}).get("encoded", {})
        for rel in master:
            outputs[rel]["integrated_lufs"] = loudness.get("integrated_lufs")
            # an MP3's own true peak, measured on the decoded file (the encoder moves peaks)
            outputs[rel]["true_peak_dbtp"] = encoded.get(rel, {}).get("true_peak_dbtp", loudness.get("true_peak_dbtp"))
    return {
        "lofictl_lock": LOCK_FORMAT,
        "lofictl": __version__,
        "recipe": {"file": plan.loaded.path.name,
                   "sha256": plan.loaded.source_sha256 or cache.file_sha256(plan.loaded.path),
                   "overrides": list(plan.loaded.overrides), "resolved": recipe.model_dump(mode="json")},
        "seeds": {"master": recipe.seed, "tracks": seeds},
        "instruments": {name: {"soundfont": inst.soundfont.name, "sha256": cache.file_sha256(inst.soundfont),
                               "preset": str(inst.preset)} for name, inst in plan.instruments.items()},
        "overlays": {str(i): {"file": p.name, "sha256": cache.file_sha256(p)} for i, p in plan.overlay_files.items()},
        # every file an effect reads (impulse responses, external plugins), by the field naming it
        "effect_files": {where: {"file": p.name, "sha256": path_sha256(cache, p)}
                         for files in plan.chain_files.values() for where, p in sorted(files.items())},
        "models": {name: model_summary(path, cache) for name, path in plan.models.items()},
        "libraries": library_versions(),
        "midi_only": midi_only,
        "duration_s": round(duration_s, 6),
        "loudness": loudness,
        # per melody track and section material: seed used, re-samples, and the evaluate measures
        "melody_measures": stages.record["compose"].get("meta", {}).get("melody", {}),
        "stages": {name: stages.record[name] for name in sorted(stages.record)},
        "outputs": outputs,
    }


def lock_text(lock: dict) -> str:
    """Stable key order and two-space indents, so a lock's git diff reads line by line."""
    return json.dumps(lock, indent=2, sort_keys=True) + "\n"


def read_lock(path: Path) -> dict:
    from .safety.lockfile import read_lock as read_checked

    return read_checked(path, LOCK_FORMAT)


def model_summary(path: Path, cache: Cache, part: str | None = None) -> dict:
    """A model folder's kind, layout and hashes, checked without loading JAX (builds stay quick).

    The weights must match the sha256 model.json records; `lofictl validate` loads them fully.
    """
    from .nn.meta import META, read_meta, weights_path

    meta_path = path / META
    meta = read_meta(path)
    weights = weights_path(path, meta)
    recorded, kind, arch = meta["weights"]["sha256"], meta["kind"], meta["arch"]
    if part is not None and kind != part:
        raise LofictlError(f"{path} holds a {kind} model ({arch}); a {part} model is needed here")
    if not weights.is_file():
        raise LofictlError(f"{path} has no weights file {weights.name}")
    digest = cache.file_sha256(weights) if cache.enabled else _sha(weights)
    if digest != recorded:
        raise LofictlError(f"{weights} does not match the sha256 in model.json (truncated, damaged or replaced)")
    return {"kind": kind, "arch": arch, "sha256": digest, "model_json_sha256": _sha(meta_path)}


def library_versions() -> dict[str, str]:
    import importlib.metadata as md
    import platform

    global _LIBRARY_VERSIONS
    if _LIBRARY_VERSIONS is not None:
        return _LIBRARY_VERSIONS
    versions = {}
    for package in ("numpy", "mido", "pedalboard", "pyfluidsynth", "jax", "flax", "matplotlib", "pyloudnorm", "mutagen"):
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
    _LIBRARY_VERSIONS = versions
    return versions


_LIBRARY_VERSIONS: dict[str, str] | None = None
