"""The build plan: a recipe with every outside resource resolved and checked before any audio.

`prepare` resolves SoundFonts and presets, effect parameters and the files they read, MIDI clips,
overlay files and models (their hashes, and the originality gate's n-gram index), so a mistake
costs a second, not a render."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lofictl.errors import LofictlError, all_errors, raise_all
from lofictl.pipeline.cache import Cache
from lofictl.recipe.load import LoadedRecipe
from lofictl.recipe.schema import MelodyTrack, Recipe
from lofictl.safety.plugins import resolve_plugin
from lofictl.sound import soundfonts

TAIL_SECONDS = 2.0  # room after the last bar for releases and effect tails
_DEFAULT_PRESETS = {
    "chords": "Electric Piano 1",
    "melody": "Vibraphone",
    "bass": "Acoustic Bass",
    "midi": "Acoustic Grand Piano",
}


@dataclass(frozen=True)
class ResolvedInstrument:
    """A SoundFont and one of its presets, or (soundfont None) one of lofictl's own kits, whose
    `preset` is the GM drum kit slot the MIDI file names."""

    soundfont: Path | None
    preset: soundfonts.Preset
    kit: str | None = None


@dataclass(frozen=True)
class BuildPlan:
    """A recipe with every outside resource resolved and checked."""

    loaded: LoadedRecipe
    instruments: dict[str, ResolvedInstrument]
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


# --- prepare: resolve everything outside the recipe ---------------------------------------------


def prepare(loaded: LoadedRecipe, *, deep: bool = False) -> BuildPlan:
    """Resolve and check every outside resource; `deep` also checks what sampling reads from each
    model's model.json (vocabularies, heads). Neither imports JAX: the weights are checked against
    the sha256 model.json records, and are loaded only when compose runs (`load_models`).

    Every problem is found before one is reported, so a recipe with a missing SoundFont and a
    misspelt effect says both at once.
    """
    recipe = loaded.recipe
    instruments: dict[str, ResolvedInstrument] = {}
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
    from lofictl.sound import effects

    recipe_dir = loaded.path.resolve().parent

    def plugin(value, field_path: tuple, kind: str) -> Path:
        try:
            return resolve_plugin(value, kind, recipe_dir=recipe_dir, project_root=loaded.project_root)
        except LofictlError as exc:
            raise loaded.error(exc.message, field_path) from None

    try:
        return effects.resolve_chain(
            spec,
            where,
            loaded.recipe.output.sample_rate,
            resolve_file=lambda value, field_path: loaded.resolve_path(value, field_path),
            resolve_plugin=plugin,
        )
    except LofictlError as exc:
        raise loaded.locate(exc) from None


def _resolve_instrument(loaded: LoadedRecipe, name: str) -> ResolvedInstrument:
    track = loaded.recipe.tracks[name]
    where = ("tracks", name, "instrument")
    spec = track.instrument
    if spec is not None and spec.kit is not None:
        return _resolve_kit(loaded, spec.kit, track.part, where + ("kit",))
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
    return ResolvedInstrument(font, preset)


def _resolve_kit(loaded: LoadedRecipe, name: str, part: str, where: tuple) -> ResolvedInstrument:
    from lofictl.sound import kits

    try:
        kits.check_kit(name)
    except LofictlError as exc:
        raise loaded.error(exc.message, where) from None
    if part not in ("drums", "midi"):
        raise loaded.error(f"kit {name!r} plays drum notes; give a {part} track a soundfont and preset", where)
    return ResolvedInstrument(None, soundfonts.Preset(soundfonts.DRUM_BANK, 0, f"{name} (lofictl kit)"), name)


def _read_clip(loaded: LoadedRecipe, name: str, track) -> tuple[Path, tuple]:
    from lofictl.export import midi

    where = ("tracks", name, "file")
    path = loaded.resolve_path(track.file, where)
    try:
        return path, midi.read_midi_clip(path, track.track, track.channel)
    except LofictlError as exc:
        raise loaded.error(f"{exc.message} (in {path.name})", where) from None


def _check_model(loaded: LoadedRecipe, name: str, path: Path, deep: bool) -> None:
    try:
        if deep:  # for `validate`: what sampling reads from model.json, still without JAX
            from lofictl.models.nn.meta import check_sampling_meta, read_meta

            check_sampling_meta(path, read_meta(path))
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
    from lofictl.models import ngrams

    try:
        index = ngrams.load_ngram_index(model)
    except LofictlError as exc:
        raise loaded.error(f"cannot check the gate: {exc.message}", where) from None
    if index is None:
        raise loaded.error(
            f"{model.name} has no n-gram index of its training data ({ngrams.INDEX_FILE}), so the "
            f"gate cannot be checked; `lofictl train melody` writes one, for older models run "
            f"`lofictl eval-index {model}`",
            where,
        )
    if ngrams.GATE_LENGTH not in index.lengths:
        raise loaded.error(
            f"{model.name}'s n-gram index holds lengths {list(index.lengths)}, not "
            f"{ngrams.GATE_LENGTH}; rebuild it with `lofictl eval-index {model}`",
            where,
        )


def _check_overlay(loaded: LoadedRecipe, index: int, file: str) -> Path:
    """An overlay file must be readable audio with one or two channels (header only: quick)."""
    from pedalboard.io import AudioFile

    where = ("overlays", index, "file")
    path = loaded.resolve_path(file, where)
    try:
        with AudioFile(str(path)) as source:
            channels, frames = source.num_channels, source.frames
    except (ValueError, RuntimeError, OSError) as exc:
        raise loaded.error(
            f"{path.name} is not an audio file that can be read (WAV, FLAC, MP3, OGG and "
            f"AIFF can): {' '.join(str(exc).split())[:120]}",
            where,
        ) from None
    if channels > 2:
        raise loaded.error(
            f"{path.name} has {channels} channels; overlays must be mono or stereo (mix it down to stereo first)", where
        )
    if frames == 0:
        raise loaded.error(f"{path.name} holds no audio", where)
    return path


def load_models(plan: BuildPlan) -> dict:
    """Each generating track's model, loaded for compose (which reads no files): the network and,
    for a melody, its n-gram index. Called only when compose runs, so a cached build needs no JAX."""
    from lofictl.models import generate

    models = {}
    for name, path in plan.models.items():
        track = plan.recipe.tracks[name]
        gate = track.generate.max_overlap_15 if isinstance(track, MelodyTrack) else None  # melodies only
        try:
            models[name] = generate.load_track_model(path, index_field="model" if gate is None else "max_overlap_15")
        except LofictlError as exc:
            raise plan.loaded.locate(exc.under(("tracks", name, "generate"))) from None
    return models


def audible_tracks(recipe: Recipe) -> list[str]:
    from lofictl.sound.mix import audible

    return audible(
        list(recipe.tracks),
        mute=[n for n, t in recipe.tracks.items() if t.mute],
        solo=[n for n, t in recipe.tracks.items() if t.solo],
    )


def n_samples_for(score_duration_s: float, sample_rate: int) -> int:
    return int(round((score_duration_s + TAIL_SECONDS) * sample_rate))


def model_summary(path: Path, cache: Cache, part: str | None = None) -> dict:
    """nn.meta.model_summary, hashing the weights through the cache's memo when it is on."""
    from lofictl.models.nn.meta import model_summary as summary

    return summary(path, part, cache.file_sha256 if cache.enabled else None)
