"""The station file: which recipes a station draws from and what may vary from track to track.

Read like a recipe (safe YAML with line numbers, a pydantic schema with `extra="forbid"`) and
reported the same way: `recipes/station.yaml:12: vary.tempo.step: must be from 0 to 24 (got 50)`,
exit code 2. The recipes it names are loaded and checked too, and so is everything a station
changes in them (drum patterns, presets, the crossfade against their length), so a mistake
shows when the station starts, not an hour into the stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lofictl.cluster import cpu_threads
from lofictl.compose import drums
from lofictl.errors import LofictlError, all_errors, did_you_mean, raise_all
from lofictl.recipe.load import LoadedRecipe, load_recipe, project_file, project_root_for, resolve_project_path
from lofictl.recipe.messages import validation_errors
from lofictl.recipe.schema import PARTS, Length, parse_seconds
from lofictl.recipe.yamlfile import FieldPath, Positions, read_yaml
from lofictl.safety import outputs as output_rule
from lofictl.safety.names import one_line_title

FORMAT_VERSION = 1
_BARS_RE = re.compile(r"^\s*(?P<n>\d+)\s*(?:bars?)?\s*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecipeChoice(Strict):
    file: str = Field(description="A recipe file, relative to the station file or the project")
    weight: float = Field(1.0, gt=0, le=1000, description="How often it is drawn, relative to the others")


class TempoWalk(Strict):
    """Each track's tempo is the last one's plus a step of at most `step` BPM, kept in [min, max]."""

    min: float = Field(60.0, ge=20, le=300)
    max: float = Field(92.0, ge=20, le=300)
    step: float = Field(4.0, ge=0, le=24, description="Largest change from one track to the next, in BPM")

    @model_validator(mode="after")
    def _order(self) -> "TempoWalk":
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) must not be above max ({self.max:g})")
        return self


class Vary(Strict):
    key: Literal["neighbours", "recipe", "any"] = Field(
        "neighbours",
        description="neighbours: a Camelot-wheel neighbour of the last track's key; "
        "recipe: each recipe's own key; any: any key of the recipe's mode",
    )
    tempo: TempoWalk | None = Field(
        default_factory=TempoWalk, description="A walk in small steps, or `recipe`: each recipe's own tempo"
    )
    drums: list[str] | None = Field(None, min_length=1, description="Drum patterns a track may pick from")
    presets: dict[str, list[str]] = Field(
        default_factory=dict, description="Per part (chords, melody, bass, midi): presets to pick from"
    )

    @field_validator("tempo", mode="before")
    @classmethod
    def _own_tempo(cls, value: Any) -> Any:
        if value == "recipe":
            return None  # None stands for "each recipe's own tempo"
        if value is None or isinstance(value, str):
            raise ValueError(f"write `tempo: recipe`, or a walk like {{min: 66, max: 88, step: 3}} (got {value!r})")
        return value

    @field_validator("presets")
    @classmethod
    def _parts(cls, presets: dict[str, list[str]]) -> dict[str, list[str]]:
        for part, names in presets.items():
            if part not in PARTS or part == "drums":
                raise ValueError(f"{part!r} is not a part with presets (one of chords, melody, bass, midi)")
            if not names:
                raise ValueError(f"{part}: give at least one preset")
        return presets


class Server(Strict):
    host: str = Field("127.0.0.1", description="Address the built-in server listens on")
    port: int = Field(8000, ge=1, le=65535)
    bitrate_kbps: Literal[64, 96, 128, 160, 192, 256, 320] = 128
    burst_s: float = Field(2.0, ge=0, le=20, description="Audio sent at once to a new listener, so play starts quickly")
    skip: Literal["advance", "vote"] = Field(
        "advance", description="advance: a skip moves the stream to the next track; vote: it is only recorded"
    )


class Station(Strict):
    station: Literal[1] = Field(description="Station file format version")
    title: str = Field(min_length=1, max_length=200)
    seed: int = Field(ge=0, le=2**63 - 1, description="Every track's settings derive from it and the track number")
    recipes: list[RecipeChoice] = Field(min_length=1)
    length: Length | None = Field(None, description="Each track's length ('3m', '64 bars'); default: the recipe's own")
    crossfade: int = Field(2, ge=1, le=16, description="Bars of the outgoing track over which the next fades in")
    loudness_lufs: float = Field(-14.0, ge=-40, le=-5, description="Every track is mastered to this loudness")
    vary: Vary = Field(default_factory=Vary)
    queue: int = Field(2, ge=2, le=8, description="Tracks kept ready ahead of the one playing")
    keep_played: int = Field(2, ge=1, le=20, description="Played tracks whose audio stays on disk (for replays)")
    jobs: int = Field(
        default_factory=cpu_threads,
        ge=1,
        le=8,
        description="Threads building a track (default: the machine's CPUs, at most 4, as `build --jobs`); "
        "the build runs at a lower priority than the stream",
    )
    server: Server = Field(default_factory=Server)
    database: str | None = Field(
        None,
        description="SQLite file for ratings, relative to the project (default radio/<station>.db); "
        "a new name or an existing ratings database",
    )
    work_dir: str | None = Field(
        None,
        description="Where tracks are built, relative to the project (default build/radio/<station>); "
        "a folder of its own, as a build's output folder",
    )

    @field_validator("title")
    @classmethod
    def _one_line_title(cls, value: str) -> str:
        return one_line_title(value)  # it reaches the stream's headers and Icecast's metadata

    @field_validator("length", mode="before")
    @classmethod
    def _length(cls, value: Any) -> Any:
        if value is None or isinstance(value, dict):
            return value
        if isinstance(value, bool):
            raise ValueError("expected a length like '64 bars' or '3m'")
        if isinstance(value, int) or (isinstance(value, str) and _BARS_RE.match(value)):
            bars = int(value if isinstance(value, int) else _BARS_RE.match(value)["n"])
            if not 1 <= bars <= 10000:
                raise ValueError(f"must be from 1 to 10000 bars (got {bars})")
            return {"bars": bars}
        seconds = parse_seconds(value)
        if not 1 <= seconds <= 4 * 3600:
            raise ValueError(f"must be from 1 s to 4 h (got {value!r})")
        return {"seconds": seconds}

    @field_validator("crossfade", mode="before")
    @classmethod
    def _bars(cls, value: Any) -> Any:
        if isinstance(value, str) and (match := _BARS_RE.match(value)):
            return int(match["n"])
        if isinstance(value, str):
            raise ValueError(f"{value!r} is not a number of bars (write it like 2 or '2 bars')")
        return value


@dataclass(frozen=True)
class LoadedStation:
    station: Station
    path: Path
    positions: Positions
    recipes: tuple[LoadedRecipe, ...]  # in the order of station.recipes

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(".yaml").removesuffix(".yml")

    @property
    def project_root(self) -> Path:
        return project_root_for(self.path)

    def error(self, message: str, field: FieldPath) -> LofictlError:
        return LofictlError(
            message, file=self.path, line=self.positions.line_of(field), field=".".join(str(p) for p in field)
        )

    def project_path(self, value: str | None, default: str, field: FieldPath) -> Path:
        """A path the station writes (database, work folder): relative to the project root (as
        a recipe's output.dir is, so `work_dir: .` is the project, never the station's folder),
        and inside it."""
        return resolve_project_path(self, value or default, field, must_exist=False, beside_recipe=False)  # type: ignore[arg-type]

    @property
    def database_path(self) -> Path:
        return self.project_path(self.station.database, f"radio/{self.name}.db", ("database",))

    @property
    def work_dir(self) -> Path:
        return self.project_path(self.station.work_dir, f"build/radio/{self.name}", ("work_dir",))

    @property
    def owner(self) -> str:
        """Who the work folder's marker names: the station file, as the project sees it."""
        return project_file(self.path)

    def protected_folders(self) -> list[tuple[Path, str]]:
        """What the work folder may never be, nor hold: the folders a build's output may not."""
        from lofictl.pipeline.runner import project_folders

        folders = project_folders(self.project_root, self.path, "station")
        for recipe in self.recipes:
            folders += output_rule.protected_folders(recipe=recipe.path.resolve().parent)
        return folders

    def check_places(self) -> None:
        """The work folder obeys the output rule (a folder of its own) and the database is a
        SQLite file of its own (or a new name): both checked before anything starts."""
        work = self.work_dir
        try:
            output_rule.check_work_folder(
                work, self.protected_folders(), self.owner, WORK_LAYOUT, unmarked_ok=self.station.work_dir is None
            )
        except LofictlError as exc:
            raise self.error(exc.message, ("work_dir",)) from None
        problem = database_problem(self.database_path, work, [self.path, *(r.path for r in self.recipes)])
        if problem is not None:
            # The default database inside a work folder the file names: the work folder is at fault.
            inside = self.station.database is None and self.database_path.resolve().is_relative_to(work.resolve())
            raise self.error(problem, ("work_dir",) if inside else ("database",))


# What a station writes in its work folder (relative paths): the lock, the bed, the stats plot,
# each track's build in tracks/NNNNNNN (with the build's hidden staging siblings) and the
# history's piano rolls; and an atomic write's temporary file.
WORK_LAYOUT = re.compile(
    r"\.lock|bed\.wav|stats\.png|\.[^/]+\.tmp"
    r"|tracks/(?:\d{7}|\.\d{7}\.(?:tmp|old)-\d+)(?:/.+)?"
    r"|history/\d+\.png"
)
SQLITE_HEADER = b"SQLite format 3\x00"


def database_problem(path: Path, work_dir: Path, station_files: list[Path]) -> str | None:
    """Why `path` cannot be the ratings database, or None: it must be new or a SQLite file,
    not one of the station's own files, and not inside the work folder (which is cleared)."""
    target = path.resolve()
    shown = str(path)
    if any(target == Path(f).resolve() for f in station_files):
        return (
            f"{shown} is the station file or one of its recipes; the database is a file of its own (like radio/NAME.db)"
        )
    if target.suffix.lower() in (".yaml", ".yml", ".json"):
        return f"{shown} is named like a recipe or a lock, not a database; name it like radio/NAME.db"
    if target == work_dir.resolve() or target.is_relative_to(work_dir.resolve()):
        return f"{shown} is inside the work folder {work_dir}, which the station clears; keep the database outside it"
    for parent in target.parents:
        if parent.exists() and not parent.is_dir():
            return f"{shown} cannot be made: {parent} is a file, not a folder"
    if not target.exists():
        return None
    if not target.is_file():
        return f"{shown} is not a file; name a SQLite file (like radio/NAME.db)"
    try:
        with open(target, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{shown} cannot be read ({exc.strerror or exc})"
    if not head:
        return (
            f"{shown} is an empty file, not a SQLite database; delete it (the station makes the "
            "database itself) or name another file"
        )
    if head != SQLITE_HEADER:
        return (
            f"{shown} is not a SQLite database (it is some other file); name a new file, like "
            "radio/NAME.db, and lofictl makes it"
        )
    return None


def is_station_file(path: Path) -> bool:
    """A station file (a top-level `station:` key) rather than a recipe; reads only its start."""
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.startswith("station:") for line in head.splitlines())


def load_station(path: Path) -> LoadedStation:
    """Read and check a station file and every recipe it names."""
    data, positions = read_yaml(path)
    if not isinstance(data, dict):
        raise LofictlError("a station file is a mapping of keys such as title, seed and recipes", file=path, line=1)
    if "lofictl" in data and "station" not in data:
        raise LofictlError(
            "this is a recipe, not a station file; build it with `lofictl build`, or write a station "
            "(station: 1, title, seed, recipes: [...])",
            file=path,
            line=positions.line_of(("lofictl",)),
        )
    if isinstance(data.get("station"), int) and data["station"] != FORMAT_VERSION:
        raise LofictlError(
            f"station format {data['station']} is not one this lofictl reads ({FORMAT_VERSION})",
            file=path,
            line=positions.line_of(("station",)),
            field="station",
        )
    try:
        station = Station.model_validate(data)
    except ValidationError as exc:
        raise_all(validation_errors(exc, positions, path, data, Station))  # every mistake of the file at once
    loaded = LoadedStation(station, path, positions, ())
    recipes = []
    problems: list[LofictlError] = []
    for index, choice in enumerate(station.recipes):  # every recipe checked: one run names each problem
        where = ("recipes", index, "file")
        try:
            recipe_path = resolve_project_path(loaded, choice.file, where, must_exist=True)  # type: ignore[arg-type]
            if recipe_path.resolve() == path.resolve():
                raise loaded.error("a station cannot draw from itself", where)
            recipes.append(load_recipe(recipe_path))
        except LofictlError as exc:
            problems.extend(all_errors(exc))
    raise_all(problems)
    loaded = LoadedStation(station, path, positions, tuple(recipes))
    _check_against_recipes(loaded)
    loaded.check_places()
    return loaded


def _check_against_recipes(loaded: LoadedStation) -> None:
    """What the station changes must make sense for every recipe it draws from."""
    station = loaded.station
    for index, pattern in enumerate(station.vary.drums or []):
        if pattern not in drums.PATTERNS:
            raise loaded.error(
                f"unknown drum pattern {pattern!r}{did_you_mean(pattern, drums.pattern_names())} "
                f"(patterns: {', '.join(drums.pattern_names())})",
                ("vary", "drums", index),
            )
    from lofictl.sound import soundfonts

    for part, names in station.vary.presets.items():
        for recipe in loaded.recipes:
            for track_name, track in recipe.recipe.tracks.items():
                if track.part != part:
                    continue
                font_name = track.instrument.soundfont if track.instrument else "FluidR3_GM.sf2"
                try:
                    font = soundfonts.find_soundfont(font_name, recipe.path.resolve().parent)
                except LofictlError:
                    continue  # the recipe's own check reports a missing SoundFont
                for position, name in enumerate(names):
                    try:
                        soundfonts.resolve_preset(font, name)
                    except LofictlError as exc:
                        raise loaded.error(
                            f"{exc.message} (for track {track_name!r} of {recipe.path.name})",
                            ("vary", "presets", part, position),
                        ) from None
    slowest = station.vary.tempo.min if station.vary.tempo is not None else None
    for index, recipe in enumerate(loaded.recipes):
        bars = track_bars(station, recipe, slowest)
        if bars < 2 * station.crossfade + 1:
            raise loaded.error(
                f"{recipe.path.name} makes tracks of {bars} bars, too short for a crossfade of "
                f"{station.crossfade} bars in and out (needs at least {2 * station.crossfade + 1})",
                ("crossfade",),
            )
        if not recipe.recipe.tracks:
            raise loaded.error(f"{recipe.path.name} has no tracks", ("recipes", index, "file"))
    _check_track_recipes(loaded)


def _check_track_recipes(loaded: LoadedStation) -> None:
    """Every track must be a recipe `lofictl build` takes (the limits on bars and duration
    among them): checked on the recipe a track from each recipe would be at the slowest and the
    fastest tempo of the walk, the two ends of every limit that depends on the tempo."""
    from lofictl.compose import theory
    from lofictl.radio.schedule import TrackPlan, camelot, camelot_name, load_track_recipe

    station = loaded.station
    for index, recipe in enumerate(loaded.recipes):
        r = recipe.recipe
        walk = station.vary.tempo
        tempos = [r.tempo] if walk is None else sorted({walk.min, walk.max})
        code = camelot_name(camelot(theory.parse_key(r.key)))
        for tempo in tempos:
            plan = TrackPlan(0, index, recipe.name, r.seed, r.key, code, 0, tempo)
            try:
                load_track_recipe(loaded, plan)
            except LofictlError as exc:
                what = f"{exc.field}: {exc.message}" if exc.field else exc.message
                raise loaded.error(
                    f"a track from {recipe.path.name} at {tempo:g} BPM would not be a recipe lofictl builds ({what})",
                    ("length",)
                    if station.length is not None and str(exc.field).startswith(("length", "sections"))
                    else ("recipes", index, "file"),
                ) from None


def track_bars(station: Station, recipe: LoadedRecipe, tempo: float | None = None) -> int:
    """Bars in a track made from this recipe at this tempo: the station's length if it sets one."""
    from lofictl.radio.schedule import _bars_wanted, arrangement

    r = recipe.recipe
    wanted = _bars_wanted(station, r.beats_per_bar, tempo or r.tempo)
    if wanted is None:
        return r.total_bars
    if r.sections:
        return sum(s["bars"] for s in arrangement([s.model_dump() for s in r.sections], wanted))
    return wanted
