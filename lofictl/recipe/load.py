"""Recipe format v1: the project file, as a pydantic schema read from YAML with line numbers.

`load_recipe(path)` returns a `LoadedRecipe`: the validated `Recipe`, where it lives, and the
line of every field, so any later stage can report `file:line: field: message`.
"""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lofictl.compose import drums, theory
from lofictl.errors import LofictlError, LofictlErrors, all_errors, did_you_mean, raise_all, suggestions
from lofictl.recipe.yamlfile import FieldPath, Positions, parse_yaml, read_yaml
from lofictl.safety.names import build_name
from lofictl.safety.paths import PathRefused, confine

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
    """A player's feel: timing and velocity spreads, and for chords how far each chord is rolled."""

    timing_ms: float = Field(0.0, ge=0, le=100, description="Spread of note starts (standard deviation, ms)")
    velocity: int = Field(0, ge=0, le=64, description="Spread of velocities (at most this much either way)")
    strum_ms: float | None = Field(None, ge=0, le=250, description="Chords only: time from the lowest to the "
                                   "highest note of each chord (a roll); default a soft roll of 0.015 beat a voice")


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
    humanize: Humanize = Field(default_factory=Humanize, description="Timing and velocity spread, seeded, e.g. "
                               "{timing_ms: 8, velocity: 10}")

    @model_validator(mode="after")
    def _strum_is_for_chords(self) -> "TrackBase":
        if self.humanize.strum_ms is not None and getattr(self, "part", None) != "chords":
            raise ValueError("humanize.strum_ms rolls a chord's notes; only a chords track has it")
        return self


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

    @field_validator("progression")
    @classmethod
    def _progression(cls, value: str | None) -> str | None:
        if value is not None:
            try:  # symbols and durations; a bar's length only fills in durations left out
                theory.parse_progression(value, 4.0)
            except theory.TheoryError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _source(self) -> "ChordsTrack":
        if (self.progression is None) == (self.generate is None):
            raise ValueError("a chords track needs exactly one of progression or generate")
        return self


MELODY_FEEL = Humanize(timing_ms=6, velocity=10)  # the model knows three velocities; a player uses more


class MelodyTrack(TrackBase):
    part: Literal["melody"]
    generate: Generate
    humanize: Humanize = Field(default_factory=lambda: MELODY_FEEL.model_copy(),
                               description="Timing and velocity spread (default {timing_ms: 6, velocity: 10})")
    follow: str | None = Field(None, description="The chords track or MIDI clip whose chords the melody follows "
                               "(default: the recipe's harmony)")
    low: int = Field(62, ge=24, le=108, description="Lowest MIDI note")
    high: int = Field(84, ge=24, le=108, description="Highest MIDI note")

    @model_validator(mode="after")
    def _range(self) -> "MelodyTrack":
        if self.high - self.low < 12:
            raise ValueError(f"low..high must span at least an octave (got {self.low}..{self.high})")
        return self


class BassTrack(TrackBase):
    part: Literal["bass"]
    follow: str | None = Field(None, description="The chords track or MIDI clip whose chords the bass follows "
                               "(default: the recipe's harmony)")
    style: Literal["roots", "walking", "sparse"] = "roots"


class DrumsTrack(TrackBase):
    part: Literal["drums"]
    pattern: str = "boom-bap"
    fills: bool = True
    dynamics: float = Field(0.0, ge=0, le=1, description="Velocity shaping: accented downbeat and backbeat, "
                            "softer off-beat hats, quieter ghost notes (0 as written, 1 strong)")
    laid_back_ms: float = Field(0.0, ge=0, le=60, description="The backbeat (snare, side stick, clap) plays this "
                                "many ms late, each hit give or take a seeded quarter of it")

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        if value not in drums.PATTERNS:
            raise ValueError(f"unknown drum pattern {value!r}{did_you_mean(value, drums.pattern_names())} "
                             f"(patterns: {', '.join(drums.pattern_names())})")
        return value


class MidiTrack(TrackBase):
    """A clip played or written elsewhere, brought in from a MIDI file (times kept in beats)."""

    part: Literal["midi"]
    file: str = Field(description="A .mid file, relative to the project")
    track: Union[int, str, None] = Field(None, description="Track in the file, by name or 0-based index (default: all)")
    channel: int | None = Field(None, ge=0, le=15, description="Only this MIDI channel, 0-15 (default: all)")
    loop: bool = Field(True, description="Repeat the clip (rounded up to whole bars) through each section")
    transpose: int = Field(0, ge=-48, le=48, description="Semitones")
    changes: Literal["bar", "half-bar", "beat"] = Field(
        "bar", description="How often the clip's chords are read, when melody or bass follow it")


RecipeTrack = Annotated[Union[ChordsTrack, MelodyTrack, BassTrack, DrumsTrack, MidiTrack], Field(discriminator="part")]


class Section(Strict):
    name: str = Field(min_length=1)
    bars: int = Field(ge=1, le=10000)
    tracks: list[str] | None = Field(None, description="Tracks that play (default: all)")
    repeat: str | None = Field(None, description="Play an earlier section's material again, note for note")
    seed: int | None = Field(None, ge=0, description="A new seed varies the material of a section")
    loop: Loop | None = Field(None, description="Generated chords in this section: loop 1, 2, 4 or 8 bars, or "
                              "'through' (default: the chords track's loop)")
    tempo: float | None = Field(None, ge=20, le=300, description="The section's tempo in BPM; it holds until a "
                                "later section sets another (a repeat plays the notes, not the tempo)")
    ramp: bool = Field(False, description="Reach `tempo` gradually across the section, from the tempo before it")

    @model_validator(mode="after")
    def _ramp_needs_tempo(self) -> "Section":
        if self.ramp and self.tempo is None:
            raise ValueError("ramp: true needs a tempo to ramp to, e.g. {tempo: 84, ramp: true}")
        return self


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
    effects: list[EffectSpec] = Field(default_factory=list, description="A Pedalboard chain run on the overlay "
                                      "at its gain, e.g. band-limiting so the bed sits under the music")

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
    harmony: str | None = Field(None, description="The track whose chords lead: a chords track, or a MIDI clip whose "
                                "chords are read from its notes. Melody and bass follow it, the piano roll shows it "
                                "(default: the first chords track, else the first MIDI clip)")
    sections: list[Section] | None = None
    tracks: dict[str, RecipeTrack] = Field(min_length=1)
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
        if self.sections:  # a length longer than the sections plays them again (compose.form)
            from lofictl.compose.form import planned_sections

            return sum(section.bars for section, _ in planned_sections(self))
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
    # sha256 of the text when the recipe was parsed from text not (yet) on disk, e.g. a radio
    # station's track: the lock records it instead of hashing the file.
    source_sha256: str | None = None

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
        if isinstance(exc, LofictlErrors):
            return LofictlErrors([self.locate(error) for error in exc.errors])
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
    """The project a recipe (or album) belongs to: its folder, or the parent of a `recipes/` or
    `albums/` folder."""
    folder = recipe_path.resolve().parent
    return folder.parent if folder.name in ("recipes", "albums") else folder


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
    """A recipe from text, as if it were the file at `path` (which need not exist)."""
    import dataclasses
    import hashlib

    data, positions = parse_yaml(text, path)
    loaded = validate_data(data, positions, path, [])
    return dataclasses.replace(loaded, source_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def read_recipe_problems(path: Path) -> tuple[LoadedRecipe | None, list[LofictlError]]:
    """For `validate`: every problem found in the recipe, the cross-field ones included, instead
    of stopping at the first; and the recipe to check resources with (with the fields that failed
    set aside), or None where the failures leave nothing to check."""
    problems: list[LofictlError] = []
    try:
        data, positions = read_yaml(path)
        loaded = validate_data(data, positions, path, [], problems)
    except LofictlError as exc:
        return None, problems + all_errors(exc)
    return loaded, problems


def validate_data(data: Any, positions: Positions, path: Path, overrides: list[str],
                  problems: list[LofictlError] | None = None) -> LoadedRecipe:
    """The validated recipe; cross-field problems are raised, or added to `problems` if given."""
    if not isinstance(data, dict):
        raise LofictlError("a recipe is a mapping of keys such as title, tempo and tracks", file=path, line=1)
    if "station" in data and "lofictl" not in data:
        raise LofictlError("this is a radio station file, not a recipe; play it with `lofictl radio "
                           f"{path}`", file=path, line=positions.line_of(("station",)), field="station")
    data = apply_overrides(data, overrides, path)
    if "lofictl" in data and data["lofictl"] != FORMAT_VERSION and isinstance(data["lofictl"], int):
        newer = "a newer" if data["lofictl"] > FORMAT_VERSION else "an unknown"
        raise LofictlError(f"format version {data['lofictl']} is {newer} version; this lofictl reads "
                           f"version {FORMAT_VERSION}", file=path, line=positions.line_of(("lofictl",)),
                           field="lofictl")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        errors = _all_errors(exc, positions, path, data)
        stand_in = _stand_in(data, exc) if problems is not None else None
        if stand_in is None:
            raise_all(errors)
        # Go on with the failed fields set aside, so the later checks can report too.
        problems.extend(errors)
        loaded = LoadedRecipe(stand_in, path, positions, tuple(overrides))
        problems.extend(e for e in check_arrangement(loaded) if str(e) not in {str(x) for x in errors})
        return loaded
    loaded = LoadedRecipe(recipe, path, positions, tuple(overrides))
    if problems is None:
        raise_all(check_arrangement(loaded))
    else:
        problems.extend(check_arrangement(loaded))
    return loaded


def check_arrangement(loaded: LoadedRecipe) -> list[LofictlError]:
    """Checks that involve several fields at once (sections, references between tracks): every
    problem found, in the order of the file."""
    recipe = loaded.recipe
    names = list(recipe.tracks)
    problems: list[LofictlError] = []
    if recipe.sections is None and recipe.length is None:
        problems.append(loaded.error("give a length (like '64 bars' or '2m30s') or a list of sections", ("length",)))
    if recipe.sections:
        seen: list[str] = []
        for index, section in enumerate(recipe.sections):
            where = ("sections", index)
            if section.name in seen:
                problems.append(loaded.error(f"section name {section.name!r} is used twice", where + ("name",)))
            if section.repeat is not None:
                if section.repeat == section.name:
                    problems.append(loaded.error(f"section {section.name!r} cannot repeat itself", where + ("repeat",)))
                elif section.repeat not in seen:
                    hint = did_you_mean(section.repeat, seen)
                    problems.append(loaded.error(f"repeats {section.repeat!r}, which is not an earlier section"
                                                 f"{hint or ' (earlier: ' + (', '.join(seen) or 'none') + ')'}",
                                                 where + ("repeat",)))
                else:
                    if section.loop is not None:
                        problems.append(loaded.error(f"a repeat plays {section.repeat!r} again, chords and all; set "
                                                     f"loop on {section.repeat!r} instead", where + ("loop",)))
                    original = next(s for s in recipe.sections if s.name == section.repeat)
                    if section.bars != original.bars:
                        problems.append(loaded.error(f"a repeat plays {original.name!r} again, which has "
                                                     f"{original.bars} bars (this section says {section.bars})",
                                                     where + ("bars",)))
            for position, track in enumerate(section.tracks or []):
                if track not in recipe.tracks:
                    problems.append(loaded.error(f"no track named {track!r}{did_you_mean(track, names)} "
                                                 f"(tracks: {', '.join(names)})", where + ("tracks", position)))
            seen.append(section.name)
            if section.loop is not None and not any(t.part == "chords" and t.generate is not None
                                                    for t in recipe.tracks.values()):
                problems.append(loaded.error("loop sets how generated chords repeat, and no chords track generates "
                                             "(give one a generate: model)", where + ("loop",)))
        if recipe.length is not None and not problems:
            problems.extend(_check_filled_length(loaded))
    if not problems:  # the arrangement is sound, so its length can be measured
        problems.extend(_check_limits(loaded))
    leaders = [name for name, track in recipe.tracks.items() if track.part in ("chords", "midi")]
    if recipe.harmony is not None and recipe.harmony not in leaders:
        problems.append(loaded.error(f"{recipe.harmony!r} is not a chords track or a MIDI clip"
                                     f"{did_you_mean(recipe.harmony, leaders)} (those here: "
                                     f"{', '.join(leaders) or 'none'})", ("harmony",)))
    for name, track in recipe.tracks.items():
        follow = getattr(track, "follow", None)
        if track.part in ("melody", "bass"):
            if follow is not None and follow not in leaders:
                problems.append(loaded.error(f"follows {follow!r}, which is not a chords track or a MIDI clip"
                                             f"{did_you_mean(follow, leaders)}", ("tracks", name, "follow")))
            elif not leaders:
                problems.append(loaded.error(f"a {track.part} track needs chords to follow: add a chords track "
                                             "with a progression, or a MIDI clip (part: midi) of your own chords",
                                             ("tracks", name, "part")))
        if track.part == "chords" and track.progression is not None and "loop" in track.model_fields_set:
            problems.append(loaded.error("loop applies to generated chords (generate:); a written progression "
                                         "already cycles through each section", ("tracks", name, "loop")))
        if isinstance(track, MelodyTrack) and track.low >= track.high:
            problems.append(loaded.error("low must be below high", ("tracks", name, "low")))
    return sorted(problems, key=lambda error: error.line or 0)


_STAND_INS = {"lofictl": FORMAT_VERSION, "title": "-", "seed": 0, "tempo": 120.0}


def _stand_in(data: dict, exc: ValidationError) -> Recipe | None:
    """The recipe with each field that failed its schema dropped (fields with a default) or
    replaced by a valid stand-in, so the checks across fields can still run; None if the
    failures are where those checks look (the sections, or a track's part)."""
    import copy

    data = copy.deepcopy(data)
    for _ in range(6):
        for error in exc.errors():
            path = _clean_loc(error["loc"])
            if not path:
                return None
            if len(path) == 1 and path[0] in _STAND_INS:
                data[path[0]] = _STAND_INS[path[0]]
                continue
            if path[-1] == "progression" and len(path) == 3:  # a chords track needs one
                data["tracks"][path[1]]["progression"] = "C"
                continue
            if path[0] == "sections" or path[-1] == "part" or error["type"].startswith("union_tag"):
                return None
            model = _model_at(path[:-1], data)
            field = model.model_fields.get(path[-1]) if model is not None and isinstance(path[-1], str) else None
            node: Any = data
            for part in path[:-1]:
                node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else None
            if field is None or field.is_required() or not isinstance(node, dict) or path[-1] not in node:
                return None
            del node[path[-1]]
        try:
            return Recipe.model_validate(data)
        except ValidationError as again:
            exc = again
    return None


def _has(node: dict | list, key: str | int) -> bool:
    return key in node if isinstance(node, dict) else isinstance(key, int) and 0 <= key < len(node)


def _check_limits(loaded: LoadedRecipe) -> list[LofictlError]:
    """At most MAX_BARS bars and MAX_SECONDS of music, at the sections' tempos."""
    recipe = loaded.recipe
    where = ("sections",) if recipe.sections else ("length",)
    if recipe.total_bars > MAX_BARS:
        return [loaded.error(f"the track is {recipe.total_bars} bars long; at most {MAX_BARS} are allowed", where)]
    if recipe.sections:
        from lofictl.compose import form

        seconds = form.plan_seconds(recipe, form.planned_sections(recipe))
    else:
        seconds = recipe.total_bars * recipe.seconds_per_bar
    if seconds > MAX_SECONDS:
        return [loaded.error(f"the track would last {seconds / 3600:.1f} hours; at most {MAX_SECONDS // 3600} "
                             "are allowed", where)]
    return []


def _check_filled_length(loaded: LoadedRecipe) -> list[LofictlError]:
    """A length with sections fills the arrangement out (compose.form); it cannot be shorter."""
    from lofictl.compose import form

    recipe = loaded.recipe
    written = [(section, 1) for section in recipe.sections]
    bars = sum(section.bars for section, _ in written)
    if recipe.length.bars is not None:
        short, asked, have = recipe.length.bars < bars, f"{recipe.length.bars} bars", f"{bars} bars"
    else:
        seconds = form.plan_seconds(recipe, written)
        short = recipe.length.seconds < seconds - 1e-6
        asked, have = _clock(recipe.length.seconds), f"{bars} bars, {_clock(seconds)}"
    if short:
        return [loaded.error(f"length {asked} is shorter than the sections ({have}); a length fills the "
                             "arrangement out by playing it again, it does not cut it: remove length or "
                             "shorten the sections", ("length",))]
    filled = sum(section.bars for section, _ in form.planned_sections(recipe))
    if filled > MAX_BARS:
        return [loaded.error(f"filling {asked} takes {filled} bars; at most {MAX_BARS}", ("length",))]
    return []


def _clock(seconds: float) -> str:
    """4.5s, 2m05.0s, 1h02m05.0s."""
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    if hours:
        return f"{int(hours)}h{int(minutes):02d}m{rest:04.1f}s"
    return f"{int(minutes)}m{rest:04.1f}s" if minutes else f"{rest:.1f}s"


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


def _model_at(path: FieldPath, data: Any, root: type[BaseModel] | None = None) -> type[BaseModel] | None:
    """The pydantic model a field path points into, so unknown keys can suggest real ones.

    `data` is the raw recipe, walked alongside, so a track's `part` picks its model.
    """
    annotation: Any = root or Recipe
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
    if typing.get_origin(annotation) in (Union, types.UnionType):  # Optional[X] and X | None
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


def _range_text(path: FieldPath, data: Any, root: type[BaseModel] | None = None) -> str | None:
    """'from 20 to 300' for a field with both bounds, from the schema's own constraints."""
    if not path:
        return None
    model = _model_at(path[:-1], data, root)
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


def validation_error(exc: ValidationError, positions: Positions, file: Path, data: Any,
                     root: type[BaseModel] | None = None) -> LofictlError:
    """pydantic's errors as one line, `file:line: field: message` (the first in the file), for a
    recipe or any schema written in the same style (`root`, default Recipe: a station file or an
    album file uses its own)."""
    return _all_errors(exc, positions, file, data, root)[0]


def _all_errors(exc: ValidationError, positions: Positions, file: Path, data: Any,
                root: type[BaseModel] | None = None) -> list[LofictlError]:
    """Every schema error as one line each, in the order of the file (an unknown key before the
    other complaints on its line: a misspelt key also makes the real one "missing")."""
    def order(error: dict) -> tuple[int, bool, int]:
        return (positions.line_of(_clean_loc(error["loc"])) or 0, error["type"] != "extra_forbidden",
                len(error["loc"]))

    errors = exc.errors()
    misspelt = set()  # 'titel' (unknown) makes 'title' missing: report only the first
    for error in errors:
        if error["type"] == "extra_forbidden":
            path = _clean_loc(error["loc"])
            model = _model_at(path[:-1], data, root)
            close = suggestions(path[-1], list(model.model_fields) if model else [])
            misspelt.update(path[:-1] + (name,) for name in close)
    lines: list[LofictlError] = []
    for error in sorted(errors, key=order):
        if error["type"] == "missing" and _clean_loc(error["loc"]) in misspelt:
            continue
        line = _error_line(error, positions, file, data, root)
        if str(line) not in {str(seen) for seen in lines}:
            lines.append(line)
    return lines


def _error_line(error: dict, positions: Positions, file: Path, data: Any,
                root: type[BaseModel] | None = None) -> LofictlError:
    path = _clean_loc(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        model = _model_at(path[:-1], data, root)
        options = list(model.model_fields) if model else []
        message = f"unknown key {path[-1]!r}{did_you_mean(str(path[-1]), options)}"
        if options and not did_you_mean(str(path[-1]), options):
            message += f" (allowed here: {', '.join(options)})"
    elif kind == "missing":
        message = "is required here"
        if path and path[-1] == "part":
            message = f"is required: one of {', '.join(PARTS)}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        allowed = _range_text(path, data, root)
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
