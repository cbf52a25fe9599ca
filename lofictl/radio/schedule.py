"""Track N of a station: which recipe, its seed, key, tempo, drum patterns and presets.

Everything derives from the station seed, the track number and names (`seeds.derive_seed`),
never from what happened at run time, so track N is the same track whenever and wherever it
is computed. Key and tempo walk: track N's key is a Camelot-wheel neighbour of track N-1's and
its tempo a small step from it, so the walk is computed from track 0 forward (cheap: no audio;
a million tracks take a few seconds, and checkpoints make later calls quick).

`track_recipe_text` turns a plan into the recipe the producer builds and `keep` writes: the
drawn recipe's own YAML with the station's changes, every seed left to derive from the new
master seed.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lofictl.compose import theory
from lofictl.errors import LofictlError
from lofictl.recipe.load import LoadedRecipe, parse_recipe_text
from lofictl.recipe.yamlfile import read_yaml
from lofictl.seeds import derive_seed

if TYPE_CHECKING:  # the station file is read (and its tracks checked with this module) by radio.station
    from lofictl.radio.station import LoadedStation, Station

SAMPLE_RATE = 44100  # every track of a station: the mixer joins them sample for sample
# Track N's key and tempo walk from track 0, so a far track costs a walk to it (about 30 s cold for
# the last one). A million tracks of a few minutes is years of music; numbers beyond are refused.
MAX_TRACK = 999_999
_MAJOR_THIRD = {"major", "lydian", "mixolydian"}  # the B (major) side of the wheel; others are A
_CHECKPOINT = 256


# --- the Camelot wheel -------------------------------------------------------------------------


def camelot(key: theory.Key) -> tuple[int, str]:
    """(number 1-12, 'A' minor side / 'B' major side): C major is 8B, A minor 8A, G major 9B.

    Modes other than major and minor sit where their third puts them (D dorian as D minor).
    """
    if key.mode in _MAJOR_THIRD:
        return (7 * key.tonic + 7) % 12 + 1, "B"
    return (7 * ((key.tonic + 3) % 12) + 7) % 12 + 1, "A"


def tonic_of(number: int, letter: str) -> int:
    """The tonic pitch class of a Camelot code (inverse of `camelot`; 7 is its own inverse mod 12)."""
    major = (7 * (number - 8)) % 12
    return major if letter == "B" else (major - 3) % 12


def camelot_name(code: tuple[int, str]) -> str:
    return f"{code[0]}{code[1]}"


def neighbours(code: tuple[int, str], letter: str) -> list[tuple[int, str]]:
    """Codes a DJ mixes into from `code` keeping to `letter`'s side: the same key and a fifth
    either way on the same side, or the relative key across."""
    number, side = code
    if side != letter:
        return [(number, letter)]
    return [((number - 2) % 12 + 1, side), (number, side), (number % 12 + 1, side)]


def is_neighbour(a: tuple[int, str], b: tuple[int, str]) -> bool:
    return b in neighbours(a, b[1])


# --- the plan of one track ---------------------------------------------------------------------


@dataclass(frozen=True)
class TrackPlan:
    number: int
    recipe_index: int  # into station.recipes
    recipe_name: str  # the drawn recipe's file name without .yaml
    seed: int  # the track's master seed
    key: str  # e.g. "E minor"
    camelot: str  # e.g. "9A"
    transpose: int  # semitones from the recipe's own key
    tempo: float
    patterns: dict[str, str] = field(default_factory=dict)  # drums track → pattern
    presets: dict[str, str] = field(default_factory=dict)  # track → preset name

    @property
    def name(self) -> str:
        """The track's recipe file name without .yaml (and its build name)."""
        return f"{self.recipe_name}-{self.number}"

    def summary(self) -> dict:
        return {
            "number": self.number,
            "recipe": self.recipe_name,
            "name": self.name,
            "seed": self.seed,
            "key": self.key,
            "camelot": self.camelot,
            "tempo": self.tempo,
            "transpose": self.transpose,
            "patterns": dict(self.patterns),
            "presets": dict(self.presets),
        }


@dataclass
class _Walk:
    code: tuple[int, str]
    tempo: float


def _uniform(*names: str | int) -> float:
    """A number in [0, 1) from a path of names (sha256: the walk needs millions, quickly)."""
    return derive_seed(*names) / 2**32


def _pick(options: list, *names: str | int):
    return options[min(len(options) - 1, int(_uniform(*names) * len(options)))]


def check_track_number(number: int, what: str = "track") -> int:
    """`number` if a station has such a track (0 to MAX_TRACK), else a LofictlError."""
    if not 0 <= number <= MAX_TRACK:
        raise LofictlError(
            f"{what} {number:,}: a station's tracks are numbered 0 to {MAX_TRACK:,} (each is "
            "computed by walking from track 0, and a million tracks is years of music)"
        )
    return number


class Schedule:
    """Plans of a station's tracks, computed forward from track 0 with checkpoints."""

    def __init__(self, loaded: LoadedStation):
        self.loaded = loaded
        self.station: Station = loaded.station
        self._checkpoints: dict[int, _Walk] = {}
        self._weights = [choice.weight for choice in self.station.recipes]

    def recipe_index(self, number: int) -> int:
        total = sum(self._weights)
        point = _uniform(self.station.seed, "recipe", number) * total
        running = 0.0
        for index, weight in enumerate(self._weights):
            running += weight
            if point < running:
                return index
        return len(self._weights) - 1

    def _step(self, number: int, before: _Walk | None) -> tuple[_Walk, int]:
        """The walk's state at track `number` (and the recipe drawn) from the state before it."""
        station = self.station
        index = self.recipe_index(number)
        recipe = self.loaded.recipes[index].recipe
        own_key = theory.parse_key(recipe.key)
        own_code = camelot(own_key)
        letter = own_code[1]
        if before is None or station.vary.key == "recipe":
            code = own_code
        elif station.vary.key == "any":
            code = (_pick(list(range(1, 13)), station.seed, "key", number), letter)
        else:
            options = neighbours(before.code, letter)
            code = _pick(options, station.seed, "key", number)
        walk = station.vary.tempo
        if walk is None:
            tempo = recipe.tempo
        elif before is None:
            tempo = min(max(recipe.tempo, walk.min), walk.max)
        else:
            step = (_uniform(station.seed, "tempo", number) * 2 - 1) * walk.step
            tempo = min(max(before.tempo + step, walk.min), walk.max)
        return _Walk(code, round(tempo * 2) / 2), index

    def _walk_to(self, number: int) -> tuple[_Walk, int]:
        start = max((n for n in self._checkpoints if n <= number), default=None)
        state = self._checkpoints[start] if start is not None else None
        begin = 0 if start is None else start + 1
        if start == number:
            return state, self.recipe_index(number)
        index = 0
        for n in range(begin, number + 1):
            state, index = self._step(n, state)
            if n % _CHECKPOINT == 0 or n == number:
                self._checkpoints[n] = state
        if len(self._checkpoints) > 4096:  # recent ones and the regular grid are enough
            self._checkpoints = {n: s for n, s in self._checkpoints.items() if n % _CHECKPOINT == 0 or n >= number - 8}
        return state, index

    def plan(self, number: int) -> TrackPlan:
        check_track_number(number)
        walk, index = self._walk_to(number)
        station = self.station
        loaded = self.loaded.recipes[index]
        recipe = loaded.recipe
        own = theory.parse_key(recipe.key)
        tonic = tonic_of(*walk.code)
        shift = (tonic - own.tonic) % 12
        if shift > 6:
            shift -= 12
        key = theory.Key(tonic, own.mode)
        patterns = {}
        presets = {}
        for name, track in recipe.tracks.items():
            if track.part == "drums" and station.vary.drums:
                patterns[name] = _pick(station.vary.drums, station.seed, "drums", number, name)
            elif track.part in station.vary.presets:
                presets[name] = _pick(station.vary.presets[track.part], station.seed, "preset", number, name)
        return TrackPlan(
            number,
            index,
            loaded.name,
            derive_seed(station.seed, "track", number),
            key.name,
            camelot_name(walk.code),
            shift,
            walk.tempo,
            patterns,
            presets,
        )


# --- the recipe of one track ------------------------------------------------------------------


def arrangement(sections: list[dict] | None, target_bars: int) -> list[dict]:
    """The recipe's sections stretched or shortened to `target_bars`, by whole sections.

    The first and last sections (intro, outro) stay; the ones between are played in order and
    cycled, stopping at the first section boundary at or past the target (the rule a build's
    `length` follows, so a station's track is as long as the same recipe built with that length). Cycle k's copies are named `A~k`; a copy of a section
    that repeats another repeats that one's copy, and the others get a new variation seed, so
    the form holds and the material moves on.
    """
    sections = copy.deepcopy(sections or [])
    if len(sections) >= 3:
        intro, middle, outro = [sections[0]], sections[1:-1], [sections[-1]]
    else:
        intro, middle, outro = [], sections, []
    fixed = sum(s["bars"] for s in intro + outro)
    names = {s["name"] for s in middle}
    chosen: list[dict] = []
    total = fixed
    cycle = 1
    while middle:
        for section in middle:
            if chosen and total >= target_bars:
                return intro + chosen + outro
            if cycle == 1:
                copy_ = copy.deepcopy(section)
            else:
                copy_ = {**copy.deepcopy(section), "name": f"{section['name']}~{cycle}"}
                if section.get("repeat") in names:
                    copy_["repeat"] = f"{section['repeat']}~{cycle}"
                elif "repeat" not in section:
                    copy_["seed"] = derive_seed(int(section.get("seed") or 0), "cycle", cycle)
            chosen.append(copy_)
            total += section["bars"]
        cycle += 1
    return intro + outro


def _bars_wanted(station: Station, beats_per_bar: float, tempo: float) -> int | None:
    if station.length is None:
        return None
    if station.length.bars is not None:
        return station.length.bars
    return max(1, math.ceil(station.length.seconds / (beats_per_bar * 60.0 / tempo) - 1e-9))


def track_recipe_data(loaded_station: LoadedStation, plan: TrackPlan) -> dict:
    """The drawn recipe's own data with the station's changes for this track."""
    station = loaded_station.station
    loaded = loaded_station.recipes[plan.recipe_index]
    raw, _ = read_yaml(loaded.path)
    data: dict[str, Any] = copy.deepcopy(raw)
    recipe = loaded.recipe
    root = loaded_station.project_root
    data["title"] = f"{recipe.title} #{plan.number}"
    data["seed"] = plan.seed
    data["tempo"] = plan.tempo
    data["key"] = plan.key
    wanted = _bars_wanted(station, recipe.beats_per_bar, plan.tempo)
    if wanted is not None:
        if recipe.sections:
            data["sections"] = arrangement(data.get("sections"), wanted)
            data.pop("length", None)
        else:
            data["length"] = f"{wanted} bars"
    for name, track in data.get("tracks", {}).items():
        spec = recipe.tracks[name]
        track.pop("seed", None)  # the track's notes derive from the new master seed...
        if isinstance(track.get("generate"), dict):
            track["generate"].pop("seed", None)  # ...and so do the models' samples
            track["generate"]["model"] = _project_relative(
                loaded, track["generate"]["model"], ("tracks", name, "generate", "model"), root
            )
        if spec.part == "chords" and spec.progression is not None and plan.transpose:
            track["progression"] = theory.transpose_progression(spec.progression, plan.transpose)
        if spec.part == "midi":
            track["file"] = _project_relative(loaded, track["file"], ("tracks", name, "file"), root)
            if plan.transpose:
                track["transpose"] = max(-48, min(48, spec.transpose + plan.transpose))
        if name in plan.patterns:
            track["pattern"] = plan.patterns[name]
        if name in plan.presets:
            soundfont = spec.instrument.soundfont if spec.instrument else "FluidR3_GM.sf2"
            track["instrument"] = {"soundfont": soundfont, "preset": plan.presets[name]}
    for index, overlay in enumerate(data.get("overlays") or []):
        if isinstance(overlay, dict) and overlay.get("file"):
            overlay["file"] = _project_relative(loaded, overlay["file"], ("overlays", index, "file"), root)
    master = data.setdefault("master", {}) or {}
    master["loudness_lufs"] = station.loudness_lufs
    data["master"] = master
    # One sample rate for the mixer, one master WAV to play: no other formats, no DAW files.
    data["output"] = {"sample_rate": SAMPLE_RATE, "formats": ["wav"]}
    return data


def _project_relative(loaded: LoadedRecipe, value: str, where: tuple, root: Path) -> str:
    """A path as the project sees it, so the track's recipe finds it from recipes/."""
    return loaded.resolve_path(value, where).relative_to(root).as_posix()


def track_recipe_text(loaded_station: LoadedStation, plan: TrackPlan) -> str:
    """The YAML text of track N's recipe: what the producer builds and `keep` writes."""
    data = track_recipe_data(loaded_station, plan)
    station_file = loaded_station.path.resolve().relative_to(loaded_station.project_root).as_posix()
    header = (
        f"# Track {plan.number} of the station {loaded_station.station.title!r} ({station_file}),\n"
        f"# drawn from {loaded_station.recipes[plan.recipe_index].path.name}: key {plan.key} "
        f"({plan.camelot}), {plan.tempo:g} BPM, seed {plan.seed}.\n"
        f"# Written by `lofictl radio keep`; `lofictl build` on it rebuilds the track byte for byte.\n"
    )
    return header + yaml.dump(
        data, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None
    )


class _PlainDumper(yaml.SafeDumper):
    """No &anchors / *aliases: a recipe a person reads spells every value out."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def track_recipe_path(loaded_station: LoadedStation, plan: TrackPlan) -> Path:
    """Where `keep` writes track N: recipes/<recipe>-<N>.yaml in the station's project."""
    return loaded_station.project_root / "recipes" / f"{plan.name}.yaml"


def load_track_recipe(loaded_station: LoadedStation, plan: TrackPlan) -> LoadedRecipe:
    """Track N's recipe, checked, as if it were already kept at its path (nothing is written)."""
    return parse_recipe_text(track_recipe_text(loaded_station, plan), track_recipe_path(loaded_station, plan))
