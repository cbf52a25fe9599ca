"""Checking builds against their locks: verify, diff, inspect."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import numpy as np

from lofictl.errors import LofictlError
from lofictl.pipeline import runner as b
from lofictl.pipeline.stages import STAGES, stage_rank
from lofictl.recipe.load import load_recipe


def _in_table_order(names) -> list[str]:
    """Lock stage names (stem:<track> and the like) in the order of the stage table."""
    return sorted(names, key=lambda name: (stage_rank(name), name))


def verify_recipe(path: Path, *, jobs: int = 1, quiet: bool = True) -> dict:
    """Rebuild without the cache into a temporary folder and compare every hash with the lock."""
    loaded = load_recipe(path)
    lock_path = b.lock_path_for(loaded)
    if not lock_path.exists():
        raise LofictlError("has no lock file yet; build it first (lofictl build) and commit the lock", file=path)
    lock = b.read_lock(lock_path)
    with tempfile.TemporaryDirectory(
        prefix=".lofictl-verify-", dir=loaded.output_dir.parent if loaded.output_dir.parent.exists() else None
    ) as folder:
        result = b.build_recipe(
            loaded,
            out_dir=Path(folder) / "out",
            midi_only=lock.get("midi_only", False),
            jobs=jobs,
            quiet=quiet,  # the rebuild's progress bar, on a terminal
            use_cache=False,
            write_lock=False,
        )
    assert result.lock is not None  # a build always has one; only a station's track may not
    return compare(path, lock, result.lock)


def compare(
    path: Path,
    lock: dict,
    fresh: dict,
    *,
    rank=None,
    source: str = "recipe",
    differs: bool = False,
    more_causes: list[str] | tuple[str, ...] = (),
) -> dict:
    """The verify report of a fresh build against its lock (a recipe's or an album's): the outputs
    whose hashes differ, the first stage (in `rank` order, the stage table's by default) whose
    outputs differ, and the likely causes. `differs`: something besides the outputs differs (an
    album's track masters); `more_causes`: causes the caller knows of (an album's recipes)."""
    locked, rebuilt = lock.get("outputs", {}), fresh["outputs"]
    differences = sorted(
        rel
        for rel in set(locked) | set(rebuilt)
        if locked.get(rel, {}).get("sha256") != rebuilt.get(rel, {}).get("sha256")
    )
    first_stage = None
    if differences:
        old_stages, new_stages = lock.get("stages", {}), fresh.get("stages", {})
        order = (
            sorted(set(old_stages) | set(new_stages), key=rank)
            if rank
            else _in_table_order(set(old_stages) | set(new_stages))
        )
        for name in order:
            if old_stages.get(name, {}).get("outputs") != new_stages.get(name, {}).get("outputs"):
                first_stage = name
                break
        else:  # every stage made what the lock says (its outputs list was edited): the one that makes the file
            first_stage = next(
                (n for n in order if set(new_stages.get(n, {}).get("outputs", {})) & set(differences)), None
            )
    causes: list[str] = []
    if differences or differs:
        causes = [*more_causes, *recorded_causes(lock, fresh, source)] or [UNEXPLAINED]
    return {
        "recipe": str(path),
        "identical": not differences and not differs,
        "checked": sorted(rebuilt),
        "differences": differences,
        "first_stage": first_stage,
        "likely_causes": causes,
    }


UNEXPLAINED = (
    "no recorded version or input differs: lofictl's code changed without a stage version bump "
    "(tests/pipeline/test_stage_versions.py catches that), or a step is nondeterministic (please report it)"
)


def recorded_causes(lock: dict, fresh: dict, source: str = "recipe") -> list[str]:
    """What the lock records differently from a fresh build: stage code versions, the `source`
    file (recipe or album), library versions, the files read, lofictl's version."""
    causes = []
    old_stages, new_stages = lock.get("stages", {}), fresh.get("stages", {})
    for name in _in_table_order(set(old_stages) & set(new_stages)):
        before = old_stages[name].get("inputs", {}).get("code.version", "none")
        after = new_stages[name].get("inputs", {}).get("code.version")
        if before != after:
            causes.append(f"the code of stage {name} changed (version {before} in the lock, {after} here)")
    if lock.get(source, {}).get("sha256") != fresh.get(source, {}).get("sha256"):
        causes.append(f"the {source} file changed since the lock was written")
    old, new = lock.get("libraries", {}), fresh.get("libraries", {})
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            causes.append(f"{name} is {new.get(name)} here, {old.get(name)} in the lock")
    for kind in ("instruments", "overlays", "models", "effect_files"):
        if lock.get(kind) != fresh.get(kind):
            causes.append(f"{kind} differ from the lock (files changed or resolved elsewhere)")
    if lock.get("lofictl") != fresh.get("lofictl"):
        causes.append(f"lofictl is {fresh.get('lofictl')} here, {lock.get('lofictl')} in the lock")
    return causes


# --- diff: a recipe against its lock --------------------------------------------------------------

# Inputs of each stage that are other stages' output hashes: when one changes, the stage
# upstream says why.
_UPSTREAM_INPUTS = {stage.name: stage.upstream_inputs for stage in STAGES}


def diff_recipe(path: Path, overrides: list[str] | None = None) -> dict:
    """Which stages a build would re-run now, and which of their inputs changed since the lock.

    The build itself is planned (build.plan_build: its own stage code in dry mode, with the same
    cache lookups), so what diff predicts is what `build` does.
    """
    loaded = load_recipe(path, overrides or [])
    lock_path = b.lock_path_for(loaded)
    if not lock_path.exists():
        raise LofictlError("has no lock file yet; the first build runs every stage", file=path)
    planned = b.plan_build(loaded)
    stages: list[dict] = []
    for name in _in_table_order(planned.record):
        rerun = name in planned.ran
        if not rerun:
            changed: list[str] = []
        elif name not in planned.previous:
            changed = ["(not built before)"]
        else:
            upstream = _UPSTREAM_INPUTS.get(name.split(":")[0], ())
            inputs = planned.record[name].get("inputs", {})
            # an input holding a stage's output that is yet to be made changed upstream, not here
            changed = [
                k
                for k in planned.changed.get(name, [])
                if k not in upstream and "(made by " not in json.dumps(inputs.get(k), default=str)
            ]
            if "code.version" in changed:  # in words: the stage's code changed
                old = planned.previous[name].get("inputs", {})
                changed[changed.index("code.version")] = (
                    f"its code (version {old.get('code.version', 'none')} → {inputs['code.version']})"
                )
            if not changed and not planned.changed.get(name):
                changed = ["(not in the cache)"]
        stages.append({"stage": name, "changed": changed, "rerun": rerun})
    return {"recipe": str(path), "stages": stages, "rerun": [s["stage"] for s in stages if s["rerun"]]}


# --- diff: two builds -----------------------------------------------------------------------------


def diff_builds(a: Path, b_dir: Path) -> dict:
    """Note-by-note MIDI comparison and a null test per stem between two build folders."""
    from lofictl.export import midi

    for folder in (a, b_dir):
        if not folder.is_dir():
            raise LofictlError("is not a build folder", file=folder)
    report: dict = {"midi": {}, "audio": {}}
    for file_a in sorted((a / "midi").glob("*.mid")):
        file_b = b_dir / "midi" / file_a.name
        if not file_b.exists():
            continue
        score_a, score_b = midi.midi_to_score(file_a), midi.midi_to_score(file_b)
        for track_a in score_a.tracks:
            try:
                track_b = score_b.track(track_a.name)
            except KeyError:
                continue
            notes_a = {(round(n.start, 4), n.pitch, n.velocity, round(n.duration, 4)) for n in track_a.notes}
            notes_b = {(round(n.start, 4), n.pitch, n.velocity, round(n.duration, 4)) for n in track_b.notes}
            only_a, only_b = sorted(notes_a - notes_b), sorted(notes_b - notes_a)
            report["midi"][f"{file_a.stem}/{track_a.name}"] = {  # counts of all; the lists cut for reading
                "same": len(notes_a & notes_b),
                "count_a": len(only_a),
                "count_b": len(only_b),
                "only_a": only_a[:50],
                "only_b": only_b[:50],
            }
    for file_a in sorted((a / "stems").glob("*.wav")) + sorted(a.glob("*.wav")):
        file_b = b_dir / file_a.relative_to(a)
        if not file_b.exists():
            continue
        audio_a, audio_b = _read_for_diff(file_a), _read_for_diff(file_b)
        if audio_a.shape[0] != audio_b.shape[0]:
            raise LofictlError(
                f"{file_a.name} has {audio_a.shape[0]} channels here, {audio_b.shape[0]} in {b_dir}", file=file_b
            )
        n = max(audio_a.shape[1], audio_b.shape[1])
        pad = lambda x: np.pad(x, ((0, 0), (0, n - x.shape[1])))  # noqa: E731
        residual = pad(audio_a).astype(np.float64) - pad(audio_b)
        rms = float(np.sqrt(np.mean(residual**2))) if residual.size else 0.0
        report["audio"][file_a.relative_to(a).as_posix()] = None if rms == 0 else 20 * np.log10(rms)
    return report


def _read_for_diff(path: Path) -> np.ndarray:
    from lofictl.sound import audio_io

    try:
        return audio_io.read_audio(path)[0]
    except LofictlError:
        raise
    except (OSError, ValueError, RuntimeError, EOFError) as exc:
        raise LofictlError(f"not a readable audio file ({' '.join(str(exc).split())[:150]})", file=path) from None


# --- inspect --------------------------------------------------------------------------------------


def _provenance_json(text: str, path: Path) -> dict:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise LofictlError("its lofictl provenance is damaged (not a JSON object)", file=path)
    return data


def read_provenance(path: Path) -> dict:
    """What lofictl wrote into a file about where it came from."""
    from lofictl.export import midi
    from lofictl.sound import audio_io

    if not path.is_file():
        raise LofictlError("no such file", file=path)
    suffix = path.suffix.lower()
    if suffix in (".mid", ".midi"):
        import mido

        try:
            parsed = mido.MidiFile(str(path))
        except (OSError, ValueError, EOFError, KeyError, IndexError) as exc:
            raise LofictlError(f"not a readable MIDI file ({exc})", file=path) from None
        for track in parsed.tracks:
            for message in track:
                if message.type == "text" and message.text.startswith(midi.PROVENANCE_PREFIX):
                    return _provenance_json(message.text[len(midi.PROVENANCE_PREFIX) :], path)
        raise LofictlError("has no lofictl provenance (not made by lofictl?)", file=path)
    if suffix == ".wav":
        try:
            info = audio_io.read_info_chunk(path)
        except (OSError, ValueError, struct.error, UnicodeDecodeError) as exc:
            raise LofictlError(f"not a readable WAV file ({exc})", file=path) from None
        if "ICMT" in info and info["ICMT"].startswith("{"):
            data = _provenance_json(info["ICMT"], path)
            data.update({k: v for k, v in info.items() if k != "ICMT"})
            from lofictl.export.tags import read_bext

            data.update({f"bext.{k}": v for k, v in (read_bext(path) or {}).items()})
            return data
        raise LofictlError("has no lofictl provenance (not made by lofictl?)", file=path)
    if suffix in (".flac", ".mp3"):
        from lofictl.export.tags import read_provenance as read_tags

        return read_tags(path)
    raise LofictlError("inspect reads WAV, FLAC, MP3 and MIDI files made by lofictl", file=path)
