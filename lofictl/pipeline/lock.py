"""The lock file: what a build made (every output's hash) from what (each stage's inputs), models
and library versions, so `verify` can rebuild and compare and `diff` can say what changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from lofictl import __version__
from lofictl import stage_names as names
from lofictl.pipeline.cache import Cache
from lofictl.pipeline.inputs import instrument_record, library_versions, path_sha256
from lofictl.pipeline.plan import BuildPlan, model_summary, n_samples_for
from lofictl.pipeline.stages import STAGES
from lofictl.recipe.load import LoadedRecipe
from lofictl.seeds import derive_seed

if TYPE_CHECKING:
    from lofictl.pipeline.record import StageLog


LOCK_FORMAT = 1


# --- hashes and the lock ------------------------------------------------------------------------


def outputs_info(stages: StageLog, sample_rate: int, score_meta: dict, midi_only: bool) -> dict[str, dict]:
    """sha256, size and (for audio) duration of every output, from what the stages recorded."""
    outputs: dict[str, dict] = {}
    for stage in (s.name for s in STAGES if s.delivers):  # the files of the output folder
        for rel, digest in stages.record.get(stage, {}).get("outputs", {}).items():
            outputs[rel] = {"sha256": digest}
    audio_seconds = n_samples_for(score_meta["duration_s"], sample_rate) / sample_rate
    for rel, info in outputs.items():
        artifact = stages.final[rel]
        info["bytes"] = (
            artifact.path.stat().st_size if artifact.entry is None else stages.cache.object_size(info["sha256"])
        )
        if rel.endswith((".wav", ".flac", ".mp3")):  # every audio output runs the full length
            info["duration_s"] = round(audio_seconds, 6)
    for rel, lufs in stages.record.get(names.EXPORT, {}).get("meta", {}).get("loudness", {}).items():
        outputs[rel]["integrated_lufs"] = lufs
    return dict(sorted(outputs.items()))


def outputs_match(folder: Path, outputs: dict[str, dict], cache: Cache) -> bool:
    """The folder holds exactly these files with these hashes (hashes remembered by mtime)."""
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"build.json"}
    if present != set(outputs):
        return False
    return all(cache.file_sha256(folder / rel) == info["sha256"] for rel, info in outputs.items())


def lock_path_for(loaded: LoadedRecipe) -> Path:
    return loaded.path.with_name(f"{loaded.file_stem}.lock.json")


def lock_data(
    plan: BuildPlan,
    stages: StageLog,
    outputs: dict[str, dict],
    loudness: dict | None,
    midi_only: bool,
    duration_s: float,
    cache: Cache,
) -> dict:
    recipe = plan.recipe
    seeds = {
        name: (track.seed if track.seed is not None else derive_seed(recipe.seed, "track", name))
        for name, track in recipe.tracks.items()
    }
    if loudness is not None:
        master = [
            f"{plan.loaded.name}.{fmt}" for fmt in recipe.output.formats if f"{plan.loaded.name}.{fmt}" in outputs
        ]
        encoded = stages.record.get(names.EXPORT, {}).get("meta", {}).get("encoded", {})
        for rel in master:
            outputs[rel]["integrated_lufs"] = loudness.get("integrated_lufs")
            # an MP3's own true peak, measured on the decoded file (the encoder moves peaks)
            outputs[rel]["true_peak_dbtp"] = encoded.get(rel, {}).get("true_peak_dbtp", loudness.get("true_peak_dbtp"))
    return {
        "lofictl_lock": LOCK_FORMAT,
        "lofictl": __version__,
        "recipe": {
            "file": plan.loaded.path.name,
            "path": plan.loaded.project_file,  # which recipe owns the build folder (safety.outputs)
            "sha256": plan.loaded.source_sha256 or cache.file_sha256(plan.loaded.path),
            "overrides": list(plan.loaded.overrides),
            "resolved": recipe.model_dump(mode="json"),
        },
        "seeds": {"master": recipe.seed, "tracks": seeds},
        "instruments": {name: instrument_record(inst, cache) for name, inst in plan.instruments.items()},
        "overlays": {str(i): {"file": p.name, "sha256": cache.file_sha256(p)} for i, p in plan.overlay_files.items()},
        # every file an effect reads (impulse responses, external plugins), by the field naming it
        "effect_files": {
            where: {"file": p.name, "sha256": path_sha256(cache, p)}
            for files in plan.chain_files.values()
            for where, p in sorted(files.items())
        },
        "models": {name: model_summary(path, cache) for name, path in plan.models.items()},
        "libraries": library_versions(),
        "midi_only": midi_only,
        "duration_s": round(duration_s, 6),
        "loudness": loudness,
        # per melody track and section material: seed used, re-samples, and the evaluate measures
        "melody_measures": stages.record[names.COMPOSE].get("meta", {}).get("melody", {}),
        "stages": {name: stages.record[name] for name in sorted(stages.record)},
        "outputs": outputs,
    }


def lock_text(lock: dict) -> str:
    """Stable key order and two-space indents, so a lock's git diff reads line by line."""
    return json.dumps(lock, indent=2, sort_keys=True) + "\n"


def read_lock(path: Path) -> dict:
    from lofictl.safety.lockfile import read_lock as read_checked

    return read_checked(path, LOCK_FORMAT)
