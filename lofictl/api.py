"""The Python API: what the commands do, as functions that take plain values and return frozen
ones, for notebooks and scripts.

    import lofictl

    result = lofictl.build("recipes/rainy_night.yaml", set={"tempo": 72}, out="out/")
    result.outputs[0].path, result.loudness.integrated_lufs, result.ran, result.lock["seeds"]

    loaded = lofictl.load_recipe("recipes/rainy_night.yaml", set={"tempo": 72})
    problems = lofictl.validate("recipes/rainy_night.yaml")  # [] when the recipe is fine

The CLI (`lofictl.cli`) is a thin layer over these functions: it parses arguments, calls them and
prints what they return. Errors a user can cause raise `LofictlError` (`str(exc)` is the one line
the CLI prints). This module imports nothing heavy; each function imports what it needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from lofictl.errors import LofictlError

if TYPE_CHECKING:
    from lofictl.pipeline.runner import BuildResult
    from lofictl.recipe.load import LoadedRecipe

PathLike = Union[str, Path]
# `set=`: a mapping of dotted field paths to values ({"tempo": 72, "tracks.melody.gain_db": -3}), or
# the CLI's own "path=value" strings (values read as YAML).
Overrides = Union[Mapping[str, Any], Iterable[str], None]

__all__ = [
    "Build",
    "Checked",
    "Diff",
    "StageChange",
    "Loudness",
    "Output",
    "Verification",
    "build",
    "build_all",
    "check",
    "diff",
    "load_recipe",
    "validate",
    "verify",
]


def override_strings(overrides: Overrides) -> list[str]:
    """`set=` as the `--set path=value` strings the recipe loader applies (and the lock records):
    a mapping's values written as JSON, which YAML reads back as the same value."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        raise LofictlError(f"set={overrides!r}: give a mapping such as {{'tempo': 80}}, or a list of 'path=value'")
    if isinstance(overrides, Mapping):
        items = []
        for key, value in overrides.items():
            if not isinstance(key, str) or not key.strip():
                raise LofictlError(f"set: {key!r} is not a field path such as 'tempo' or 'tracks.melody.gain_db'")
            try:
                text = json.dumps(value, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError):
                raise LofictlError(
                    f"set: {key}: {value!r} is not a plain value (text, number, list, mapping)"
                ) from None
            items.append(f"{key}={text}")
        return items
    items = list(overrides)
    for item in items:
        if not isinstance(item, str):
            raise LofictlError(f"set: {item!r} is not a 'path=value' string")
    return items


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """One file a build wrote: its path (absolute), its path in the output folder, its size."""

    path: Path
    name: str  # relative to the output folder, POSIX style, as the lock names it
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Loudness:
    """The master's measured loudness (None where the master is silent: it has no loudness)."""

    integrated_lufs: float | None
    true_peak_dbtp: float | None
    target_lufs: float | None
    gain_db: float | None
    measured: tuple[tuple[str, Any], ...]  # every figure the master's passes recorded, by name

    @classmethod
    def of(cls, measured: Mapping[str, Any] | None) -> Loudness | None:
        if measured is None:
            return None
        return cls(
            integrated_lufs=measured.get("integrated_lufs"),
            true_peak_dbtp=measured.get("true_peak_dbtp"),
            target_lufs=measured.get("target_lufs"),
            gain_db=measured.get("gain_db"),
            measured=tuple(measured.items()),
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.measured)


@dataclass(frozen=True)
class Build:
    """What `build` made: a frozen value (the lock is kept as its canonical JSON text; `lock`
    parses a fresh copy, so changing it changes nothing here)."""

    recipe: Path
    title: str
    out_dir: Path
    outputs: tuple[Output, ...]
    lock_path: Path | None  # None when the lock was not written (an `out=` folder)
    lock_json: str
    loudness: Loudness | None
    bars: int
    tempo: float
    tempo_range: tuple[float, float] | None  # lowest and highest, when the tempo changes
    music_s: float  # the bars at their tempo
    duration_s: float  # the audio files: the music and, in a full build, the release tail
    elapsed_s: float
    ran: tuple[str, ...]  # stages that ran
    restored: tuple[str, ...]  # stages restored from the cache
    reasons: tuple[str, ...]  # why stages ran, in words
    up_to_date: bool  # nothing changed since the lock

    @property
    def lock(self) -> dict:
        """The lock's content (a fresh copy each time)."""
        return json.loads(self.lock_json)

    def output(self, name: str) -> Output:
        """The output named as in the lock, e.g. `result.output("midi/bass.mid")`."""
        for item in self.outputs:
            if item.name == name:
                return item
        from lofictl.errors import did_you_mean

        raise LofictlError(f"{self.title} has no output {name!r}{did_you_mean(name, [o.name for o in self.outputs])}")

    def summary(self) -> dict:
        """The machine-readable summary `lofictl build --json` prints."""
        return {
            "recipe": str(self.recipe),
            "title": self.title,
            "out_dir": str(self.out_dir),
            "bars": self.bars,
            "tempo": self.tempo,
            "duration_s": round(self.duration_s, 3),
            "music_s": round(self.music_s, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "up_to_date": self.up_to_date,
            "stages_ran": list(self.ran),
            "stages_restored": list(self.restored),
            "reasons": list(self.reasons),
            "loudness": self.loudness.as_dict() if self.loudness is not None else None,
            "lock": str(self.lock_path) if self.lock_path else None,
            "outputs": {item.name: item.bytes for item in self.outputs},
            "tempo_range": list(self.tempo_range) if self.tempo_range else None,
        }

    @classmethod
    def of(cls, result: BuildResult) -> Build:
        """The runner's result as a frozen value."""
        lock = result.lock or {}
        files = lock.get("outputs", {})
        return cls(
            recipe=Path(result.recipe),
            title=result.title,
            out_dir=Path(result.out_dir),
            outputs=tuple(
                Output(
                    path=Path(result.out_dir) / rel,
                    name=rel,
                    bytes=size,
                    sha256=files.get(rel, {}).get("sha256", ""),
                )
                for rel, size in result.outputs
            ),
            lock_path=result.lock_path,
            lock_json=json.dumps(lock, sort_keys=True),
            loudness=Loudness.of(result.loudness),
            bars=result.bars,
            tempo=result.tempo,
            tempo_range=tuple(result.tempo_range) if result.tempo_range else None,  # type: ignore[arg-type]
            music_s=result.music_s,
            duration_s=result.duration_s,
            elapsed_s=result.elapsed_s,
            ran=tuple(result.ran),
            restored=tuple(result.restored),
            reasons=tuple(result.reasons),
            up_to_date=result.up_to_date,
        )


@dataclass(frozen=True)
class Checked:
    """What `check` found in a recipe, album or station file: what it is, and its problems."""

    path: Path
    kind: str  # "recipe", "album" or "station"
    description: str  # e.g. "'Rainy Night', 32 bars, 5 tracks" (empty when there are problems)
    problems: tuple[LofictlError, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Verification:
    """A rebuild from scratch compared with the lock."""

    recipe: str
    identical: bool
    checked: tuple[str, ...]  # the outputs compared
    differences: tuple[str, ...]  # the outputs that differ
    first_stage: str | None  # the first stage (in table order) whose outputs differ
    likely_causes: tuple[str, ...]

    @classmethod
    def of(cls, report: Mapping[str, Any]) -> Verification:
        return cls(
            recipe=str(report["recipe"]),
            identical=bool(report["identical"]),
            checked=tuple(report["checked"]),
            differences=tuple(report["differences"]),
            first_stage=report.get("first_stage"),
            likely_causes=tuple(report.get("likely_causes", ())),
        )

    def report(self) -> dict:
        """The JSON report `lofictl verify --json` prints."""
        return {
            "recipe": self.recipe,
            "identical": self.identical,
            "checked": list(self.checked),
            "differences": list(self.differences),
            "first_stage": self.first_stage,
            "likely_causes": list(self.likely_causes),
        }


@dataclass(frozen=True)
class StageChange:
    """One stage of a recipe as a build would treat it now."""

    stage: str
    rerun: bool
    changed: tuple[str, ...]  # the inputs that changed since the lock, in words


@dataclass(frozen=True)
class Diff:
    """What changed since the lock, and which stages a build would re-run."""

    recipe: str
    stages: tuple[StageChange, ...]  # in the stage table's order

    @property
    def rerun(self) -> tuple[str, ...]:
        return tuple(stage.stage for stage in self.stages if stage.rerun)

    @classmethod
    def of(cls, report: Mapping[str, Any]) -> Diff:
        return cls(
            recipe=str(report["recipe"]),
            stages=tuple(
                StageChange(stage["stage"], bool(stage["rerun"]), tuple(stage["changed"])) for stage in report["stages"]
            ),
        )

    def report(self) -> dict:
        """The JSON report `lofictl diff --json` prints."""
        stages = [{"stage": s.stage, "changed": list(s.changed), "rerun": s.rerun} for s in self.stages]
        return {"recipe": self.recipe, "stages": stages, "rerun": list(self.rerun)}


# --- functions ----------------------------------------------------------------------------------


def load_recipe(path: PathLike, *, set: Overrides = None) -> LoadedRecipe:  # noqa: A002  (the CLI's --set)
    """The recipe at `path`, validated, with `set=` overrides applied: `.recipe` is the pydantic
    model (`.recipe.tempo`, `.recipe.tracks`), `.output_dir` where a build writes."""
    from lofictl.recipe.load import load_recipe as load

    return load(Path(path), override_strings(set))


def build(
    recipe: PathLike,
    *,
    set: Overrides = None,  # noqa: A002
    out: PathLike | None = None,
    midi_only: bool = False,
    jobs: int | None = None,
    use_cache: bool = True,
    quiet: bool = True,
    cache: PathLike | None = None,
) -> Build:
    """Build one recipe, as `lofictl build` does: its outputs in `out` (then the lock beside the
    recipe is left alone) or the recipe's output.dir (then the lock is written).

    jobs: threads for the stems and encoders (default: one per CPU). quiet=False shows progress.
    cache: the stage cache's folder or URL, as for build_all.
    """
    (result,) = build_all(
        [recipe], set=set, out=out, midi_only=midi_only, jobs=jobs, use_cache=use_cache, quiet=quiet, cache=cache
    )
    return result


def build_all(
    recipes: Sequence[PathLike],
    *,
    set: Overrides = None,  # noqa: A002
    out: PathLike | None = None,
    midi_only: bool = False,
    jobs: int | None = None,
    use_cache: bool = True,
    quiet: bool = True,
    scheduler: str | None = None,
    cache: PathLike | None = None,
) -> tuple[Build, ...]:
    """Build several recipes (every one checked before any is built), one after another, or as
    Dask tasks: `jobs` workers of a LocalCluster, or an existing `scheduler` address. `cache`:
    the stage cache's folder (default: .lofictl-cache in the project), or an fsspec URL shared
    behind the local cache."""
    from lofictl.cluster.shared_cache import is_url
    from lofictl.pipeline.batch import build_many

    paths = [Path(path) for path in recipes]
    if out is not None and len(paths) > 1:
        raise LofictlError("--out names one folder, so it works with one recipe at a time")
    cache_dir = None if cache is None else str(cache)
    if cache_dir is not None and not is_url(cache_dir):
        cache_dir = str(Path(cache_dir).expanduser().resolve())  # the workers' current folder may differ
    results = build_many(
        paths,
        overrides=override_strings(set),
        out_dir=Path(out) if out is not None else None,
        midi_only=midi_only,
        jobs=jobs,
        use_cache=use_cache,
        quiet=quiet,
        scheduler=scheduler,
        cache_dir=cache_dir,
    )
    return tuple(Build.of(result) for result in results)


def check(path: PathLike) -> Checked:
    """Check a recipe (or an album or radio station file) without building: schema, chords,
    SoundFonts, presets, effects, files. Every problem is collected, not just the first."""
    from lofictl.album.schema import is_album_file
    from lofictl.errors import all_errors
    from lofictl.radio.station import is_station_file

    path = Path(path)
    if is_station_file(path) or is_album_file(path):
        kind = "station" if is_station_file(path) else "album"
        try:
            if kind == "station":
                from lofictl.radio.station import load_station

                station = load_station(path).station
                description = f"station {station.title!r}, {len(station.recipes)} recipes"
            else:
                from lofictl.album.plan import plan_album
                from lofictl.album.schema import load_album

                loaded_album = load_album(path)
                planned = plan_album(loaded_album)  # what `lofictl album` checks: recipes, set:, names
                description = f"album {loaded_album.album.title!r}, {len(planned)} tracks"
        except LofictlError as exc:
            return Checked(path, kind, "", tuple(all_errors(exc)))
        return Checked(path, kind, description, ())

    from lofictl.pipeline.plan import prepare
    from lofictl.recipe.load import read_recipe_problems

    loaded, problems = read_recipe_problems(path)
    if loaded is not None:
        try:
            prepare(loaded, deep=True)
        except LofictlError as exc:
            problems += all_errors(exc)
    if problems or loaded is None:
        return Checked(path, "recipe", "", tuple(sorted(problems, key=lambda p: p.line or 0)))
    recipe = loaded.recipe
    return Checked(path, "recipe", f"{recipe.title!r}, {recipe.total_bars} bars, {len(recipe.tracks)} tracks", ())


def validate(path: PathLike) -> list[LofictlError]:
    """Every problem in a recipe (or album, or station) file, in line order; [] when it is fine.
    Each is a LofictlError: `.file`, `.line`, `.field`, `.message`, and `str()` the one line."""
    return list(check(path).problems)


def verify(
    path: PathLike, *, jobs: int | None = None, scheduler: str | None = None, quiet: bool = True
) -> Verification:
    """Rebuild a recipe (or an album) from scratch, without the cache, in a temporary folder and
    compare every output's hash with its lock."""
    from lofictl.album.schema import is_album_file

    path = Path(path)
    if is_album_file(path):
        from lofictl.album.run import verify_album

        return Verification.of(verify_album(path, jobs=jobs or 1, scheduler=scheduler, quiet=quiet))
    from lofictl.cluster import cpu_threads
    from lofictl.pipeline.verify import verify_recipe

    return Verification.of(verify_recipe(path, jobs=jobs or cpu_threads(), quiet=quiet))


def diff(recipe: PathLike, *, set: Overrides = None) -> Diff:  # noqa: A002
    """What changed since the recipe's lock and which stages a build would re-run (the build is
    planned in dry mode, with the same cache lookups, so this is what `build` does)."""
    from lofictl.pipeline.verify import diff_recipe

    return Diff.of(diff_recipe(Path(recipe), override_strings(set)))
