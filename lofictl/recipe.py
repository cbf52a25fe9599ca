"""Recipe format v1: the project file, as a pydantic schema read from YAML with line numbers.

`load_recipe(path)` returns a `LoadedRecipe`: the validated `Recipe`, where it lives, and the
line of every field, so any later stage can report `file:line: field: message`.
"""

from __future__ import annotations

import difflib
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import drums, theory
from .errors import LofictlError
from .safety.names import build_name
from .safety.paths import PathRefused, confine
from .yamlfile import FieldPath, Positions, parse_yaml, read_yaml

FORMAT_VERSION = 1
SAMPLE_RATES = (44100, 48000)
PARTS = ("chords", "melody", "bass", "drums", "midi")
MAX_BARS = 10000
MAX_SECONDS = 24 * 3600  # what any one track may last, whatever its bars and tempo

_DURATION_RE = re.compile(r"^\s*(?:(?P<h>\d+(?:\.\d+)?)h)?\s*(?:(?P<m>\d+(?:\.\d+)?)m(?!s))?\s*"
                          r"(?:(?P<s>\d+(?:\.\d+)?)s)?\s*(?:(?P<ms>\d+(?:\.\d+)?)ms)?\s*$")
_BARS_RE = re.compile(r"^\s*(?P<n>-?\d+)\s*(?:bars?)?\s*$")


def parse_seconds(value: Any) -> float:
    """'4s', '2m30s', '1h', '500ms' or a plain number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 4s or 2m30s")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value))
        if not match or not any(match.groupdict().values()):
            raise ValueError(f"{value!r} is not a duration (write it like 4s, 1.5s, 500ms or 2m30s)")
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        seconds = (parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)
                   + parts.get("ms", 0) / 1000)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration cannot be negative (got {value!r})")
    return seconds


Seconds = Annotated[float, Field(ge=0, le=24 * 3600)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Length(Strict):
    """Either a number of bars or a duration in seconds (rounded up to whole bars)."""

    bars: int | None = None
    seconds: float | None = None


class Instrument(Strict):
    soundfont: str = Field("FluidR3_GM.sf2", description="SoundFont file name, found on the search path")
    preset: str | None = Field(None, description="Preset name as the SoundFont spells it (case-insensitive)")
    bank: int | None = Field(None, ge=0, le=128)
    program: int | None = Field(None, ge=0, le=127)

    @model_validator(mode="after")
    def _preset_or_program(self) -> "Instrument":
        if self.preset is not None and self.program is not None:
            raise ValueError("give either preset (a name) or program (with an optional bank), not both")
        return self


class Generate(Strict):
    model: str = Field(description="Model folder, e.g. models/lofi-melody")
    temperature: float = Field(1.0, gt=0, le=5)
    top_k: int = Field(0, ge=0, le=1000, description="0 means no top-k cut")
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = Field(None, ge=0, description="Defaults to a seed derived from the master seed")
    max_overlap_15: float | None = Field(
        None, ge=0, le=1, description="Originality gate (melody): the largest share of 15-note windows the melody "
        "may share with the model's training data; over it, re-sample with the next derived seed")


class Humanize(Strict):
    timing_ms: float = Field(0.0, ge=0, le=100)
    velocity: int = Field(0, ge=0, le=64)


# An effect is a preset name ("tape") or {PluginName: {parameter: value}}; effects.py checks
# names and values against Pedalboard itself, so the schema stays open here.
EffectSpec = Union[str, dict[str, Union[dict[str, Any], None]]]


class Duck(Strict):
    """Sidechain-style ducking under the kick drum's notes (the classic lo-fi pump)."""

    depth_db: float = Field(6.0, gt=0, le=40)
    release_ms: float = Field(180.0, ge=10, le=2000)


class TrackBase(Strict):
    instrument: Instrument | None = Field(None, description="Defaults to a fitting GM preset")
    gain_db: float = Field(0.0, ge=-60, le=24)
    pan: float = Field(0.0, ge=-1, le=1)
    mute: bool = False
    solo: bool = False
    effects: list[EffectSpec] = Field(default_factory=list)
    send_db: float | None = Field(None, ge=-60, le=12, description="Level sent to the shared reverb bus (master.bus)")
    duck: Duck | None = Field(None, description="Dip under the kick drum, e.g. {depth_db: 6, release_ms: 180}")
    seed: int | None = Field(None, ge=0, description="Defaults to a seed derived from the master seed and track name")


LOOP_CHOICES = (1, 2, 4, 8, "through")
Loop = Literal[LOOP_CHOICES]  # type: ignore[valid-type]


class ChordsTrack(TrackBase):
    part: Literal["chords"]
    progression: str | None = Field(None, description="Chord symbols, one a bar, or with beats: 'Dm9:2 G13:2'")
    generate: Generate | None = None
    voicing: Literal[theory.VOICINGS] = "lofi"  # type: ignore[valid-type]
    rhythm: Literal["sustain", "stabs", "arp"] = "sustain"
    changes: Literal["bar", "half-bar"] = Field("bar", description="How often generated chords may change "
                                                "(harmonic rhythm): once a bar at most, or every half bar")
    loop: Loop = Field(4, description="Generated chords: a progression of 1, 2, 4 or 8 bars looped through each "
                       "section, or 'through' to compose each section through (ending on the tonic)")

    @model_validator(mode="after")
    def _source(self) -> "ChordsTrack":
        if (self.progression is None) == (self.generate is None):
            raise ValueError("a chords track needs exactly one of progression or generate")
        return self


class MelodyTrack(TrackBase):
    part: Literal["melody"]
    generate: Generate
    follow: str | None = Field(None, description="The chords track the melody follows (default: the first)")
    low: int = Field(62, ge=24, le=108, description="Lowest MIDI note")
    high: int = Field(84, ge=24, le=108, description="Highest MIDI note")

    @model_validator(mode="after")
    def _range(self) -> "MelodyTrack":
        if self.high - self.low < 12:
            raise ValueError(f"low..high must span at least an octave (got {self.low}..{self.high})")
        return self


class BassTrack(TrackBase):
    part: Literal["bass"]
    follow: str | None = None
    style: Literal["roots", "walking", "sparse"] = "roots"


class DrumsTrack(TrackBase):
    part: Literal["drums"]
    pattern: str = "boom-bap"
    humanize: Humanize = Field(default_factory=Humanize)
    fills: bool = True


class MidiTrack(TrackBase):
    """A clip played or written elsewhere, brought in from a MIDI file (times kept in beats)."""

    part: Literal["midi"]
    file: str = Field(description="A .mid file, relative to the project")
    track: Union[int, str, None] = Field(None, description="Track in the file, by name or 0-based index (default: all)")
    channel: int | None = Field(None, ge=0, le=15, description="Only this MIDI channel, 0-15 (default: all)")
    loop: bool = Field(True, description="Repeat the clip (rounded up to whole bars) through each section")
    transpose: int = Field(0, ge=-48, le=48, description="Semitones")


Track = Annotated[Union[ChordsTrack, MelodyTrack, BassTrack, DrumsTrack, MidiTrack], Field(discriminator="part")]


class Section(Strict):
    name: str = Field(min_length=1)
    bars: int = Field(ge=1, le=10000)
    tracks: list[str] | None = Field(None, description="Tracks that play (default: all)")
    repeat: str | None = Field(None, description="Play an earlier section's material again, note for note")
    seed: int | None = Field(None, ge=0, description="A new seed varies the material of a section")
    loop: Loop | None = Field(None, description="Generated chords in this section: loop 1, 2, 4 or 8 bars, or "
                              "'through' (default: the chords track's loop)")


class Overlay(Strict):
    file: str | None = Field(None, description="WAV/FLAC/MP3 file, relative to the project")
    ambience: Literal["rain", "vinyl", "hiss"] | None = Field(None, description="A procedural generator")
    gain_db: float = Field(-18.0, ge=-80, le=12)
    loop: bool = True
    fade_in: Seconds = 0.0
    fade_out: Seconds = 0.0
    start: Seconds = 0.0
    pan: float = Field(0.0, ge=-1, le=1)
    duck: Duck | None = Field(None, description="Dip under the kick drum, e.g. {depth_db: 4}")

    @field_validator("fade_in", "fade_out", "start", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        return parse_seconds(value)

    @model_validator(mode="after")
    def _source(self) -> "Overlay":
        if (self.file is None) == (self.ambience is None):
            raise ValueError("an overlay needs exactly one of file or ambience")
        return self


DEFAULT_BUS = [{"Reverb": {"room_size": 0.75, "damping": 0.6, "wet_level": 1.0, "dry_level": 0.0, "width": 1.0}}]


class Master(Strict):
    effects: list[EffectSpec] = Field(default_factory=list)
    bus: list[EffectSpec] = Field(default_factory=lambda: [dict(step) for step in DEFAULT_BUS],
                                  description="The shared send bus (a wet reverb) that tracks reach with send_db")
    loudness_lufs: float | None = Field(-14.0, ge=-40, le=-5, description="Integrated loudness target (BS.1770)")
    true_peak_db: float = Field(-1.0, ge=-12, le=0, description="True-peak ceiling in dBTP")


class Output(Strict):
    dir: str | None = Field(None, description="Default: build/<recipe file name>")
    sample_rate: Literal[SAMPLE_RATES] = 44100  # type: ignore[valid-type]
    formats: list[Literal["wav", "flac", "mp3"]] = Field(default_factory=lambda: ["wav"], min_length=1)
    wav_format: Literal["float32", "24bit"] = "float32"
    daw: list[Literal["reaper", "dawproject"]] = Field(default_factory=list, description="DAW project files to write")
    dry_stems: bool = Field(True, description="With daw: also write stems/dry/ (the instrument alone, no effects)")
    stem_names: Literal["short", "delivery"] = Field(
        "short", description="short: stems/NN_<track>.wav; delivery: <Title>_<NN>_<Track>_<Key>_<BPM>bpm.wav")


class Recipe(Strict):
    lofictl: Literal[1] = Field(description="Recipe format version")
    title: str = Field(min_length=1, max_length=200)
    seed: int = Field(ge=0, le=2**63 - 1, description="Master seed; every random choice derives from it")
    tempo: float = Field(ge=20, le=300, description="Beats per minute")
    time_signature: str = "4/4"
    key: str = "C major"
    length: Length | None = Field(None, description="'64 bars' or a duration like '2m30s'; or give sections")
    swing: float = Field(0.5, ge=0.5, le=0.75, description="0.5 is straight, 0.66 a triplet feel")
    ending: Literal["tonic", "as-written"] = "tonic"
    sections: list[Section] | None = None
    tracks: dict[str, Track] = Field(min_length=1)
    overlays: list[Overlay] = Field(default_factory=list)
    master: Master = Field(default_factory=Master)
    output: Output = Field(default_factory=Output)

    @field_validator("length", mode="before")
    @classmethod
    def _length(cls, value: Any) -> Any:
        if value is None or isinstance(value, dict):
            return value
        if isinstance(value, bool):
            raise ValueError("expected a length like '64 bars' or '2m30s'")
        if isinstance(value, int):
            bars = value
        elif isinstance(value, str) and (match := _BARS_RE.match(value)):
            bars = int(match["n"])
        else:
            seconds = parse_seconds(value)
            if seconds <= 0:
                raise ValueError("must be more than 0 seconds")
            return {"seconds": seconds}
        if bars <= 0:
            raise ValueError(f"must be at least 1 bar (got {bars})")
        if bars > MAX_BARS:
            raise ValueError(f"must be at most {MAX_BARS} bars (got {bars})")
        return {"bars": bars}

    @field_validator("time_signature")
    @classmethod
    def _meter(cls, value: str) -> str:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
        if not match or int(match[2]) not in (2, 4, 8, 16) or not 1 <= int(match[1]) <= 32:
            raise ValueError(f"{value!r} is not a time signature (write it like 4/4, 3/4 or 6/8)")
        return f"{int(match[1])}/{int(match[2])}"

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        try:
            return theory.parse_key(value).name
        except theory.TheoryError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("tracks")
    @classmethod
    def _track_names(cls, tracks: dict[str, Any]) -> dict[str, Any]:
        for name in tracks:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}", name):
                raise ValueError(f"track name {name!r} must be letters, digits, - or _ (up to 40), "
                                 "since it names files")
        return tracks

    # --- derived values used by every stage ---------------------------------------------------

    @property
    def meter(self) -> tuple[int, int]:
        numerator, denominator = self.time_signature.split("/")
        return int(numerator), int(denominator)

    @property
    def beats_per_bar(self) -> float:
        numerator, denominator = self.meter
        return numerator * 4.0 / denominator

    @property
    def seconds_per_bar(self) -> float:
        return self.beats_per_bar * 60.0 / self.tempo

    @property
    def total_bars(self) -> int:
        if self.sections:
            return sum(section.bars for section in self.sections)
        assert self.length is not None  # guaranteed by check_arrangement
        if self.length.bars is not None:
            return self.length.bars
        return max(1, math.ceil(self.length.seconds / self.seconds_per_bar - 1e-9))


# --- reading and checking ---------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedRecipe:
    recipe: Recipe
    path: Path
    positions: Positions
    overrides: tuple[str, ...] = ()  # --set path=value, already applied to `recipe`

    @property
    def file_stem(self) -> str:
        """The recipe file name without .yaml (names the lock file beside it)."""
        return self.path.name.removesuffix(".yaml").removesuffix(".yml")

    @property
    def name(self) -> str:
        """The build name: the file name as a safe slug (else the title's), see safety.names."""
        return build_name(self.file_stem, self.recipe.title)

    @property
    def project_root(self) -> Path:
        return project_root_for(self.path)

    def error(self, message: str, field: FieldPath) -> LofictlError:
        return LofictlError(message, file=self.path, line=self.positions.line_of(field), field=_dotted(field))

    def locate(self, exc: LofictlError) -> LofictlError:
        """Fill in file and line of an error raised with only a field path."""
        if exc.file:
            return exc
        path = tuple(_parse_dotted(exc.field)) if exc.field else ()
        return exc.located(self.path, self.positions.line_of(path))

    def resolve_path(self, value: str, field: FieldPath, *, must_exist: bool = True) -> Path:
        return resolve_project_path(self, value, field, must_exist=must_exist)

    @property
    def output_dir(self) -> Path:
        out = self.recipe.output.dir or f"build/{self.name}"
        return resolve_project_path(self, out, ("output", "dir"), must_exist=False, beside_recipe=False)


def project_root_for(recipe_path: Path) -> Path:
    """The project a recipe belongs to: its folder, or the parent of a `recipes/` folder."""
    folder = recipe_path.resolve().parent
    return folder.parent if folder.name == "recipes" else folder


def resolve_project_path(loaded: LoadedRecipe, value: str, field: FieldPath, *, must_exist: bool,
                         beside_recipe: bool = True) -> Path:
    """A recipe path, looked up beside the recipe first and then from the project root.

    Paths may not leave the project (no absolute paths, no `..` above the root, no symbolic link
    out of it), so a recipe shared in git cannot read or write outside the project it came with.
    """
    root = loaded.project_root
    bases = [loaded.path.resolve().parent, root] if beside_recipe else [root]
    try:
        return confine(value, bases=bases, roots=[root], must_exist=must_exist)
    except PathRefused as exc:
        raise loaded.error(exc.message, field) from None


def load_recipe(path: Path, overrides: list[str] | None = None) -> LoadedRecipe:
    data, positions = read_yaml(path)
    return validate_data(data, positions, path, overrides or [])


def parse_recipe_text(text: str, path: Path) -> LoadedRecipe:
    data, positions = parse_yaml(text, path)
    return validate_data(data, positions, path, [])


def validate_data(data: Any, positions: Positions, path: Path, overrides: list[str]) -> LoadedRecipe:
    if not isinstance(data, dict):
        raise LofictlError("a recipe is a mapping of keys such as title, tempo and tracks", file=path, line=1)
    data = apply_overrides(data, overrides, path)
    if "lofictl" in data and data["lofictl"] != FORMAT_VERSION and isinstance(data["lofictl"], int):
        newer = "a newer" if data["lofictl"] > FORMAT_VERSION else "an unknown"
        raise LofictlError(f"format version {data['lofictl']} is {newer} version; this lofictl reads "
                           f"version {FORMAT_VERSION}", file=path, line=positions.line_of(("lofictl",)),
                           field="lofictl")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, positions, path, data) from None
    loaded = LoadedRecipe(recipe, path, positions, tuple(overrides))
    check_arrangement(loaded)
    return loaded


def check_arrangement(loaded: LoadedRecipe) -> None:
    """Checks that involve several fields at once: sections, references between tracks."""
    recipe = loaded.recipe
    names = list(recipe.tracks)
    if recipe.sections is None and recipe.length is None:
        raise loaded.error("give a length (like '64 bars' or '2m30s') or a list of sections", ("length",))
    if recipe.sections:
        seen: list[str] = []
        for index, section in enumerate(recipe.sections):
            where = ("sections", index)
            if section.name in seen:
                raise loaded.error(f"section name {section.name!r} is used twice", where + ("name",))
            if section.repeat is not None:
                if section.repeat == section.name:
                    raise loaded.error(f"section {section.name!r} cannot repeat itself", where + ("repeat",))
                if section.repeat not in seen:
                    hint = _did_you_mean(section.repeat, seen)
                    raise loaded.error(f"repeats {section.repeat!r}, which is not an earlier section"
                                       f"{hint or ' (earlier: ' + (', '.join(seen) or 'none') + ')'}",
                                       where + ("repeat",))
                if section.loop is not None:
                    raise loaded.error(f"a repeat plays {section.repeat!r} again, chords and all; set loop on "
                                       f"{section.repeat!r} instead", where + ("loop",))
                original = next(s for s in recipe.sections if s.name == section.repeat)
                if section.bars != original.bars:
                    raise loaded.error(f"a repeat plays {original.name!r} again, which has {original.bars} bars "
                                       f"(this section says {section.bars})", where + ("bars",))
            for position, track in enumerate(section.tracks or []):
                if track not in recipe.tracks:
                    raise loaded.error(f"no track named {track!r}{_did_you_mean(track, names)} "
                                       f"(tracks: {', '.join(names)})", where + ("tracks", position))
            seen.append(section.name)
            if section.loop is not None and not any(t.part == "chords" and t.generate is not None
                                                    for t in recipe.tracks.values()):
                raise loaded.error("loop sets how generated chords repeat, and no chords track generates "
                                   "(give one a generate: model)", where + ("loop",))
        total = sum(section.bars for section in recipe.sections)
        if recipe.length is not None:
            length_bars = recipe.length.bars
            if length_bars is None:
                length_bars = max(1, math.ceil(recipe.length.seconds / recipe.seconds_per_bar - 1e-9))
            if length_bars != total:
                raise loaded.error(f"length says {length_bars} bars but the sections add up to {total}; "
                                   "remove length (the sections decide) or make them agree", ("length",))
    if recipe.total_bars > MAX_BARS:
        where = ("sections",) if recipe.sections else ("length",)
        raise loaded.error(f"the track is {recipe.total_bars} bars long; at most {MAX_BARS} are allowed", where)
    if recipe.total_bars * recipe.seconds_per_bar > MAX_SECONDS:
        where = ("sections",) if recipe.sections else ("length",)
        raise loaded.error(f"the track would last {recipe.total_bars * recipe.seconds_per_bar / 3600:.1f} hours; "
                           f"at most {MAX_SECONDS // 3600} are allowed", where)
    chords_tracks = [name for name, track in recipe.tracks.items() if track.part == "chords"]
    for name, track in recipe.tracks.items():
        follow = getattr(track, "follow", None)
        if track.part in ("melody", "bass"):
            if follow is not None and follow not in chords_tracks:
                raise loaded.error(f"follows {follow!r}, which is not a chords track"
                                   f"{_did_you_mean(follow, chords_tracks)}", ("tracks", name, "follow"))
            if not chords_tracks:
                raise loaded.error(f"a {track.part} track needs a chords track to follow; add one with a "
                                   "progression", ("tracks", name, "part"))
        if track.part == "chords" and track.progression is not None and "loop" in track.model_fields_set:
            raise loaded.error("loop applies to generated chords (generate:); a written progression already "
                               "cycles through each section", ("tracks", name, "loop"))
        if track.part == "chords" and track.progression is not None:
            try:
                theory.parse_progression(track.progression, recipe.beats_per_bar)
            except theory.TheoryError as exc:
                raise loaded.error(str(exc), ("tracks", name, "progression")) from None
        if isinstance(track, DrumsTrack) and track.pattern not in drums.PATTERNS:
            raise loaded.error(f"unknown drum pattern {track.pattern!r}"
                               f"{_did_you_mean(track.pattern, drums.pattern_names())} "
                               f"(patterns: {', '.join(drums.pattern_names())})", ("tracks", name, "pattern"))
        if isinstance(track, MelodyTrack) and track.low >= track.high:
            raise loaded.error("low must be below high", ("tracks", name, "low"))


# --- overrides: --set path=value ---------------------------------------------------------------


def apply_overrides(data: dict, overrides: list[str], path: Path) -> dict:
    """Apply `--set a.b.c=value` (value read as YAML) to a copy of the raw recipe data."""
    import copy

    import yaml

    data = copy.deepcopy(data)
    for item in overrides:
        dotted, sep, text = item.partition("=")
        if not sep or not dotted.strip():
            raise LofictlError(f"--set {item!r}: write it as path=value, e.g. --set tempo=80")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        keys = _parse_dotted(dotted.strip())
        node: Any = data
        for depth, key in enumerate(keys[:-1]):
            if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
                node = node[key]
            elif isinstance(node, dict):
                node = node.setdefault(key, {})
            else:
                raise LofictlError(f"--set {dotted}: {_dotted(keys[:depth + 1])} is not a mapping or list")
        last = keys[-1]
        if isinstance(node, list):
            if not isinstance(last, int) or not 0 <= last < len(node):
                raise LofictlError(f"--set {dotted}: index {last} is outside the list")
            node[last] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise LofictlError(f"--set {dotted}: cannot set a key inside a plain value")
    return data


# --- turning pydantic errors into one readable line --------------------------------------------


def _dotted(path: FieldPath) -> str:
    return ".".join(str(part) for part in path)


def _parse_dotted(text: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in text.split(".")]


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _model_at(path: FieldPath, data: Any) -> type[BaseModel] | None:
    """The pydantic model a field path points into, so unknown keys can suggest real ones.

    `data` is the raw recipe, walked alongside, so a track's `part` picks its model.
    """
    annotation: Any = Recipe
    for part in path:
        model = _as_model(annotation, data)
        if model is not None and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        else:  # a dict key or list index: step into the value type
            annotation = _container_value(annotation)
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            data = None
    return _as_model(annotation, data)


def _as_model(annotation: Any, data: Any) -> type[BaseModel] | None:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is Union:
        models = [m for m in (_as_model(arg, data) for arg in typing.get_args(annotation)) if m]
        tag = data.get("part") if isinstance(data, dict) else None
        for model in models:  # a discriminated union: the part names the model
            field = model.model_fields.get("part")
            if field is not None and tag in typing.get_args(field.annotation):
                return model
        return models[0] if models else None
    return None


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _container_value(annotation: Any) -> Any:
    annotation = _strip(annotation)
    for candidate in [annotation, *typing.get_args(annotation)]:
        candidate = _strip(candidate)
        origin = typing.get_origin(candidate)
        if origin in (list, tuple):
            return typing.get_args(candidate)[0]
        if origin is dict:
            return typing.get_args(candidate)[1]
    return annotation


def _clean_loc(loc: tuple, data_is_track_union: bool = True) -> FieldPath:
    """Drop pydantic's union tags ('chords', 'function-after[...]') that are not in the file."""
    cleaned: list[str | int] = []
    for index, part in enumerate(loc):
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        # tracks.<name>.<part tag>.field: the tag repeats the part name
        if len(cleaned) == 2 and cleaned[0] == "tracks" and part in PARTS and index == 2:
            continue
        cleaned.append(part)
    return tuple(cleaned)


def _range_text(path: FieldPath, data: Any) -> str | None:
    """'from 20 to 300' for a field with both bounds, from the schema's own constraints."""
    if not path:
        return None
    model = _model_at(path[:-1], data)
    if model is None or path[-1] not in model.model_fields:
        return None
    low = high = None
    for meta in model.model_fields[path[-1]].metadata:
        for attr in ("ge", "gt"):
            if getattr(meta, attr, None) is not None:
                low = (attr, getattr(meta, attr))
        for attr in ("le", "lt"):
            if getattr(meta, attr, None) is not None:
                high = (attr, getattr(meta, attr))
    if low and high:
        left = "from" if low[0] == "ge" else "above"
        right = "to" if high[0] == "le" else "below"
        return f"{left} {low[1]} {right} {high[1]}"
    return None


def _first_error(exc: ValidationError, positions: Positions, file: Path, data: Any) -> LofictlError:
    errors = exc.errors()
    # Unknown keys first (a misspelt key also makes the real one "missing"), then the error
    # nearest the top of the file: it is the one the user reads first.
    def order(error: dict) -> tuple[bool, int, int]:
        return (error["type"] != "extra_forbidden", positions.line_of(_clean_loc(error["loc"])) or 0,
                len(error["loc"]))

    error = min(errors, key=order)
    path = _clean_loc(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        model = _model_at(path[:-1], data)
        options = list(model.model_fields) if model else []
        message = f"unknown key {path[-1]!r}{_did_you_mean(str(path[-1]), options)}"
        if options and not _did_you_mean(str(path[-1]), options):
            message += f" (allowed here: {', '.join(options)})"
    elif kind == "missing":
        message = "is required here"
        if path and path[-1] == "part":
            message = f"is required: one of {', '.join(PARTS)}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        allowed = _range_text(path, data)
        message = f"must be {allowed} (got {value!r})" if allowed else error["msg"].replace("Input should", "must") + f" (got {value!r})"
    elif kind == "literal_error":
        message = f"must be {error['ctx']['expected']} (got {value!r})"
    elif kind == "union_tag_invalid":
        message = f"part must be one of {', '.join(PARTS)} (got {error['ctx'].get('tag')!r})"
        path = path + ("part",)
    elif kind == "union_tag_not_found":
        message = f"needs a part: one of {', '.join(PARTS)}"
    elif kind in ("value_error", "assertion_error"):
        message = str(error["ctx"].get("error", error["msg"])) if error.get("ctx") else error["msg"]
        message = message.removeprefix("Value error, ")
    else:
        message = error["msg"].replace("Input should be", "must be")
        if value is not None and not isinstance(value, (dict, list)):
            message += f" (got {value!r})"
    return LofictlError(message, file=file, line=positions.line_of(path), field=_dotted(path) or None)


def json_schema() -> dict:
    schema = Recipe.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lofictl recipe v1"
    return schema
