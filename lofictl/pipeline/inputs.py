"""What each stage reads: its inputs (recipe fields, file hashes, upstream output hashes,
library versions, its code version), whose hash is the stage's key in the cache and the lock.

The recipe fields a stage reads are those the schema marks with its name (recipe.reach): a
new field reaches the stages it is marked for without an edit here, and tests/recipe/test_reach.py
changes every field of the schema in turn and checks that the key of a stage it is marked for
changes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lofictl import __version__
from lofictl.compose.form import FORMS_FILE
from lofictl.compose.score import KICK_PITCHES, Score, Track, score_to_dict
from lofictl.digests import canonical_json, sha256_bytes
from lofictl.errors import LofictlError
from lofictl.pipeline.cache import Cache
from lofictl.pipeline.plan import BuildPlan, ResolvedInstrument, audible_tracks
from lofictl.recipe.reach import fields_reaching, picked
from lofictl.seeds import derive_seed
from lofictl.stage_names import COMPOSE, EXPORT, MIX, STEM

if TYPE_CHECKING:
    from lofictl.sound.stems import Ducking, Overlay, Stem

# Fields marked for compose that reach it in another form: the length as whole bars, a form as
# the sections it stands for, each track's own fields, and the harmony only when it is set (it
# joined the inputs after the example locks were written: unset, their keys stay as they were).
_COMPOSE_OTHERWISE = ("length", "form", "tracks", "harmony")


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
    for name, track in recipe.tracks.items():
        # the instrument reaches the notes as its General MIDI program (the drums' channel and the
        # programs written into the MIDI files), whatever SoundFont plays it
        tracks[name] = {k: v for k, v in picked(track, COMPOSE, data["tracks"][name]).items() if k != "instrument"}
        preset = plan.instruments[name].preset
        tracks[name]["program"] = [preset.bank, preset.program]
    inputs = {k: v for k, v in picked(recipe, COMPOSE, data).items() if k not in _COMPOSE_OTHERWISE}
    if recipe.harmony is not None:
        inputs["harmony"] = recipe.harmony
    inputs["length_bars"] = recipe.total_bars
    inputs["tracks"] = tracks
    inputs["models"] = {name: _model_files_hash(cache, path) for name, path in plan.models.items()}
    inputs["clips"] = {name: _file_hash(cache, path) for name, path in plan.clip_files.items()}
    if recipe.sections is None and FORMS_FILE.is_file():  # a form is drawn from the labelled songs' table
        inputs["forms"] = _file_hash(cache, FORMS_FILE)
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
    return sorted(
        {
            round(timing.samples(n.start, rate))
            for t in score.tracks
            if t.is_drums and t.name in playing
            for n in t.notes
            if n.pitch in KICK_PITCHES
        }
    )


def duck_args(spec, kicks: list[int]) -> Ducking | None:
    """A track's or overlay's `duck` field as the sound code takes it (None: no ducking)."""
    from lofictl.sound.stems import Ducking

    return None if spec is None else Ducking(tuple(kicks), spec.depth_db, spec.release_ms)


def stem_sound(plan: BuildPlan, score: Score, name: str, n_samples: int, kicks: Sequence[int] = ()) -> Stem:
    """Track `name` of the recipe as the plain values sound.stems renders: its notes and timing,
    the resolved instrument and effect chain, ducking under `kicks`, and every other field the
    schema marks for the stem that `Stem` has a field of the same name for (gain_db, pan), as it is."""
    import dataclasses

    from lofictl.sound.stems import Stem

    spec, instrument = plan.recipe.tracks[name], plan.instruments[name]
    resolved = {"instrument", "effects", "duck"}
    as_is = {f.name for f in dataclasses.fields(Stem)} - resolved
    return Stem(
        track=score.track(name),
        timing=score.tempo_map,
        soundfont=instrument.soundfont,
        preset=instrument.preset,
        kit=instrument.kit,
        sample_rate=plan.recipe.output.sample_rate,
        n_samples=n_samples,
        effects=plan.chains[f"tracks.{name}"],
        duck=duck_args(spec.duck, list(kicks)),
        **{field: getattr(spec, field) for field in fields_reaching(type(spec), STEM) if field in as_is},
    )


def overlay_layer(plan: BuildPlan, index: int) -> Overlay:
    """The recipe's overlay `index` in the plain values sound.stems renders: the resolved file or
    the generator with its seed, the placement, the resolved chain (None without effects), pan."""
    from lofictl.sound.stems import Overlay

    recipe = plan.recipe
    overlay = recipe.overlays[index]
    return Overlay(
        file=plan.overlay_files[index] if overlay.file is not None else None,
        ambience=overlay.ambience,
        seed=derive_seed(recipe.seed, "overlay", index, overlay.ambience) if overlay.file is None else None,
        loop=overlay.loop,
        start_s=overlay.start,
        fade_in_s=overlay.fade_in,
        fade_out_s=overlay.fade_out,
        gain_db=overlay.gain_db,
        pan=overlay.pan,
        effects=plan.chains[f"overlays.{index}"] if overlay.effects else None,
    )


def track_sha(score: Score, track: Track) -> str:
    """The hash of one track's notes (and the timing they depend on)."""
    return sha256_bytes(canonical_json(score_to_dict(score.copy(tracks=(track,), chords=(), sections=()))).encode())


def midi_inputs(plan: BuildPlan, score_sha: str) -> dict:
    versions = library_versions()
    return {
        "score": score_sha,
        "title": plan.recipe.title,
        "recipe": plan.loaded.path.name,
        "seed": plan.recipe.seed,
        "lofictl": __version__,
        "models": {n: p.name for n, p in sorted(plan.models.items())},
        "library.matplotlib": versions["matplotlib"],
        "library.mido": versions["mido"],
    }


def instrument_inputs(instrument: ResolvedInstrument, cache: Cache) -> dict:
    """What a stem's sound source is: the SoundFont's hash and the preset, or the kit and its version."""
    if instrument.kit is not None:
        from lofictl.sound.kits import kit_identity

        return {"kit": kit_identity(instrument.kit)}
    assert instrument.soundfont is not None
    return {"soundfont": cache.file_sha256(instrument.soundfont), "preset": str(instrument.preset)}


def instrument_record(instrument: ResolvedInstrument, cache: Cache) -> dict:
    """The lock's entry for an instrument: the SoundFont file and its sha256 and the preset, or the
    kit, its version and the sha256 of its one-shots (which shows a platform that draws them otherwise)."""
    if instrument.kit is not None:
        from lofictl.sound.kits import KIT_VERSION

        return {"kit": instrument.kit, "version": KIT_VERSION, "sha256": kit_sha256(instrument.kit, cache)}
    assert instrument.soundfont is not None
    return {
        "soundfont": instrument.soundfont.name,
        "sha256": cache.file_sha256(instrument.soundfont),
        "preset": str(instrument.preset),
    }


def kit_sha256(kit: str, cache: Cache, sample_rate: int = 44100) -> str:
    """sound.kits.kit_digest (which draws every key's one-shot: seconds, with SciPy), remembered in
    the cache by what the drawing depends on: the kit's code, NumPy, SciPy, Python and the platform.
    A rebuild that restores every stage then neither draws the kit nor imports SciPy."""
    import importlib.metadata as md

    from lofictl.safety.fingerprints import modules_digest

    def draw() -> str:
        from lofictl.sound.kits import kit_digest

        return kit_digest(kit, sample_rate)

    versions = library_versions()
    try:
        scipy_version = md.version("scipy")
    except md.PackageNotFoundError:
        scipy_version = "missing"
    depends_on = {
        "kit": kit,
        "sample_rate": sample_rate,
        "code": modules_digest("lofictl.sound.kits"),
        "numpy": versions["numpy"],
        "scipy": scipy_version,
        "python": versions["python"],
        "platform": versions["platform"],
    }
    return cache.memo("kit-digest", depends_on, draw)


def stem_inputs(
    plan: BuildPlan, name: str, notes_sha: str, n_samples: int, cache: Cache, kicks_sha: str | None = None
) -> dict:
    recipe = plan.recipe
    spec = recipe.tracks[name]
    instrument = plan.instruments[name]
    # the track's fields marked for the stem; its instrument as the resolved sound source
    own = {f"tracks.{name}.{k}": v for k, v in picked(spec, STEM).items() if k != "instrument"}
    return {
        "notes": notes_sha,
        "tempo": recipe.tempo,
        **instrument_inputs(instrument, cache),
        "output.sample_rate": recipe.output.sample_rate,
        "n_samples": n_samples,
        **own,
        "kicks": kicks_sha,
        f"tracks.{name}.files": files_inputs(cache, plan.chain_files.get(f"tracks.{name}", {})),
        "provenance": [plan.loaded.path.name, recipe.title, recipe.seed],
        "lofictl": __version__,
        **_library_inputs(),
    }


def dry_inputs(plan: BuildPlan, name: str, notes_sha: str, n_samples: int, cache: Cache) -> dict:
    """A dry stem reads what its stem reads, less the track's effects, gain, pan and ducking."""
    return {
        key: value
        for key, value in stem_inputs(plan, name, notes_sha, n_samples, cache).items()
        if not key.startswith(f"tracks.{name}.")
    }


def overlays_inputs(plan: BuildPlan, n_samples: int, cache: Cache, kicks_sha: str | None = None) -> dict:
    recipe = plan.recipe
    return {
        "overlays": [o.model_dump(mode="json") for o in recipe.overlays],
        "seed": recipe.seed,
        "kicks": kicks_sha if any(o.duck for o in recipe.overlays) else None,
        "files": {str(i): cache.file_sha256(p) for i, p in sorted(plan.overlay_files.items())},
        "output.sample_rate": recipe.output.sample_rate,
        "n_samples": n_samples,
        **_library_inputs(),
        # files an overlay's effects read (impulse responses, plugins); absent when none do
        **(
            {"effects.files": effect_files}
            if (
                effect_files := {
                    str(i): files_inputs(cache, plan.chain_files[f"overlays.{i}"])
                    for i in range(len(recipe.overlays))
                    if plan.chain_files.get(f"overlays.{i}")
                }
            )
            else {}
        ),
    }


def mix_inputs(plan: BuildPlan, stem_shas: dict[str, str], overlay_shas: dict[str, str], cache: Cache) -> dict:
    recipe = plan.recipe
    master = recipe.model_dump(mode="json")["master"]
    return {
        "stems": stem_shas,
        "overlays": overlay_shas,
        "master.effects.files": files_inputs(cache, plan.chain_files.get("master.effects", {})),
        **{f"master.{k}": v for k, v in picked(recipe.master, MIX, master).items()},
        "audible": audible_tracks(recipe),
        "output.sample_rate": recipe.output.sample_rate,
        **_library_inputs(),
        "library.pyloudnorm": library_versions()["pyloudnorm"],
    }


def bus_inputs(plan: BuildPlan, stem_shas: dict[str, str], n_samples: int, cache: Cache) -> dict:
    recipe = plan.recipe
    sends = {
        name: recipe.tracks[name].send_db for name in audible_tracks(recipe) if recipe.tracks[name].send_db is not None
    }
    return {
        "sends": {name: [stem_shas.get(name, ""), level] for name, level in sends.items()},
        "master.bus": recipe.model_dump(mode="json")["master"]["bus"],
        "master.bus.files": files_inputs(cache, plan.chain_files.get("master.bus", {})),
        "lofictl": __version__,
        "output.sample_rate": recipe.output.sample_rate,
        "n_samples": n_samples,
        **_library_inputs(),
    }


def export_inputs(plan: BuildPlan, master_sha: str, stem_shas: dict[str, str]) -> dict:
    recipe = plan.recipe
    return {
        "master": master_sha,
        "stems": stem_shas,
        **{f"output.{k}": v for k, v in picked(recipe.output, EXPORT).items()},
        "name": plan.loaded.name,
        "provenance": [plan.loaded.path.name, recipe.title, recipe.seed],
        "title_key_tempo": [recipe.title, recipe.key, recipe.tempo],
        # the DAW projects put these on the faders
        "mixer": {n: [t.gain_db, t.pan, t.mute, t.solo] for n, t in recipe.tracks.items()},
        "lofictl": __version__,
        "library.pedalboard": library_versions()["pedalboard"],
        "library.mutagen": library_versions()["mutagen"],
    }


def master_tags(plan: BuildPlan, key: str, overrides: Sequence[str] = ()):
    """Tags of the master's FLAC/MP3: title, tempo, key and the same provenance as the WAV."""
    from lofictl.export.tags import Tags

    recipe = plan.recipe
    return Tags(
        title=recipe.title, bpm=recipe.tempo, key=recipe.key, provenance=provenance_fields(plan, key, overrides)
    )


def provenance_fields(plan: BuildPlan, key: str, overrides: Sequence[str] = (), **extra: object) -> dict:
    """What leads a file back to the recipe: its name, title, seed, the stage key, the `--set`
    overrides that reached the file's stage (WAV, FLAC, MP3 and MIDI carry it, as sorted JSON)."""
    return {
        "recipe": plan.loaded.path.name,
        "title": plan.recipe.title,
        "seed": str(plan.recipe.seed),
        "stage_key": key[:16],
        "lofictl": __version__,
        **({"overrides": " ".join(f"--set {item}" for item in overrides)} if overrides else {}),
        **extra,
    }


def provenance_info(plan: BuildPlan, key: str, overrides: Sequence[str] = (), **extra: str) -> dict[str, str]:
    """The WAV INFO chunk: title, software, and the provenance as a JSON comment."""
    data = provenance_fields(plan, key, overrides, **extra)
    return {"INAM": plan.recipe.title, "ISFT": f"lofictl {__version__}", "ICMT": canonical_json(data)}


def library_versions() -> dict[str, str]:
    import importlib.metadata as md
    import platform

    global _LIBRARY_VERSIONS
    if _LIBRARY_VERSIONS is not None:
        return _LIBRARY_VERSIONS
    versions = {}
    for package in (
        "numpy",
        "mido",
        "pedalboard",
        "pyfluidsynth",
        "jax",
        "flax",
        "matplotlib",
        "pyloudnorm",
        "mutagen",
    ):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = "missing"
    try:
        from lofictl.sound.render import fluidsynth_version

        versions["libfluidsynth"] = fluidsynth_version()
    except LofictlError:
        versions["libfluidsynth"] = "missing"
    versions["python"] = platform.python_version()
    versions["platform"] = f"{platform.system()}-{platform.machine()}"
    _LIBRARY_VERSIONS = versions
    return versions


_LIBRARY_VERSIONS: dict[str, str] | None = None
