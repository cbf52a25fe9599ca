"""Recipe format v1: the project file as a pydantic schema (every field, its default, its range).

`lofictl schema` prints it as JSON Schema; recipe.load reads YAML into it with line numbers.
Every field is marked with the stages whose key it is part of (`reaches`, recipe.reach): the
stages' inputs (pipeline.inputs) take the recipe's fields from these marks."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lofictl.compose import drums, reharm, theory
from lofictl.compose.form import form_sections, form_text, parse_form, planned_sections
from lofictl.errors import did_you_mean
from lofictl.recipe.limits import MAX_BARS
from lofictl.recipe.reach import reaches
from lofictl.stage_names import BUS, COMPOSE, DRY, EXPORT, MIDI, MIX, OVERLAYS, STEM

FORMAT_VERSION = 1
SAMPLE_RATES = (44100, 48000)
PARTS = ("chords", "melody", "bass", "drums", "midi")

_DURATION_RE = re.compile(
    r"^\s*(?:(?P<h>\d+(?:\.\d+)?)h)?\s*(?:(?P<m>\d+(?:\.\d+)?)m(?!s))?\s*"
    r"(?:(?P<s>\d+(?:\.\d+)?)s)?\s*(?:(?P<ms>\d+(?:\.\d+)?)ms)?\s*$"
)
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
        seconds = parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0) + parts.get("ms", 0) / 1000
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


DEFAULT_SOUNDFONT = "FluidR3_GM.sf2"


class Instrument(Strict):
    # the notes' General MIDI program reaches compose; the sound source, the stems
    soundfont: Annotated[str, reaches(STEM, DRY)] = Field(
        DEFAULT_SOUNDFONT, description="SoundFont file name, found on the search path"
    )
    preset: Annotated[str | None, reaches(COMPOSE, STEM, DRY)] = Field(
        None,
        description="Preset name as the SoundFont spells it or by its General MIDI name (case-insensitive), "
        "or 'bank:program' as `lofictl instruments` prints it",
    )
    bank: Annotated[int | None, reaches(COMPOSE, STEM, DRY)] = Field(None, ge=0, le=128)
    program: Annotated[int | None, reaches(COMPOSE, STEM, DRY)] = Field(None, ge=0, le=127)
    kit: Annotated[str | None, reaches(STEM, DRY)] = Field(
        None,
        description="A drum kit lofictl makes itself instead of a SoundFont (drums and midi tracks), e.g. dusty",
    )

    @field_validator("preset", mode="before")
    @classmethod
    def _preset_text(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 reads 128:0 as a base-60 number
            raise ValueError("write a bank:program in quotes, e.g. preset: '128:0' (YAML reads 128:0 as a number)")
        return value

    @model_validator(mode="after")
    def _preset_or_program(self) -> "Instrument":
        if self.preset is not None and self.program is not None:
            raise ValueError("give either preset (a name) or program (with an optional bank), not both")
        # (the default soundfont is let through, so a dumped recipe reads back)
        others = (self.preset, self.bank, self.program, None if self.soundfont == DEFAULT_SOUNDFONT else self.soundfont)
        if self.kit is not None and any(value is not None for value in others):
            raise ValueError(
                "a kit is the whole instrument: give kit alone, without soundfont, preset, bank or program"
            )
        return self


class Generate(Strict):
    model: str = Field(description="Model folder, e.g. models/lofi-melody")
    temperature: float = Field(1.0, gt=0, le=5)
    top_k: int = Field(0, ge=0, le=1000, description="0 means no top-k cut")
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = Field(None, ge=0, description="Defaults to a seed derived from the master seed")
    max_overlap_15: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Originality gate (melody): the largest share of 15-note windows the melody "
        "may share with the model's training data; over it, re-sample with the next derived seed",
    )


class Humanize(Strict):
    """A player's feel: timing and velocity spreads, and for chords how far each chord is rolled."""

    timing_ms: float = Field(0.0, ge=0, le=100, description="Spread of note starts (standard deviation, ms)")
    velocity: int = Field(0, ge=0, le=64, description="Spread of velocities (at most this much either way)")
    strum_ms: float | None = Field(
        None,
        ge=0,
        le=250,
        description="Chords only: time from the lowest to the "
        "highest note of each chord (a roll); default a soft roll of 0.015 beat a voice",
    )


# An effect is a preset name ("tape") or {PluginName: {parameter: value}}; effects.py checks
# names and values against Pedalboard itself, so the schema stays open here.
EffectSpec = Union[str, dict[str, Union[dict[str, Any], None]]]
AudioFormat = Literal["wav", "flac", "mp3"]


class Duck(Strict):
    """Sidechain-style ducking under the kick drum's notes (the classic lo-fi pump)."""

    depth_db: float = Field(6.0, gt=0, le=40)
    release_ms: float = Field(180.0, ge=10, le=2000)


class TrackBase(Strict):
    # The fields every part has; what a part adds (ChordsTrack, ...) shapes its notes: compose.
    __reaches__ = reaches(COMPOSE)

    instrument: Annotated[Instrument | None, reaches(COMPOSE, STEM, DRY)] = Field(
        None, description="Defaults to a fitting GM preset"
    )
    gain_db: Annotated[float, reaches(STEM, EXPORT)] = Field(0.0, ge=-60, le=24)  # export: the DAW's faders
    pan: Annotated[float, reaches(STEM, EXPORT)] = Field(0.0, ge=-1, le=1)
    mute: Annotated[bool, reaches(BUS, MIX, EXPORT)] = False
    solo: Annotated[bool, reaches(BUS, MIX, EXPORT)] = False
    effects: Annotated[list[EffectSpec], reaches(STEM)] = Field(default_factory=list)
    send_db: Annotated[float | None, reaches(BUS)] = Field(
        None, ge=-60, le=12, description="Level sent to the shared reverb bus (master.bus)"
    )
    duck: Annotated[Duck | None, reaches(STEM)] = Field(
        None, description="Dip under the kick drum, e.g. {depth_db: 6, release_ms: 180}"
    )
    seed: Annotated[int | None, reaches(COMPOSE)] = Field(
        None, ge=0, description="Defaults to a seed derived from the master seed and track name"
    )
    humanize: Annotated[Humanize, reaches(COMPOSE)] = Field(
        default_factory=Humanize, description="Timing and velocity spread, seeded, e.g. {timing_ms: 8, velocity: 10}"
    )

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
    changes: Literal["bar", "half-bar"] = Field(
        "bar",
        description="How often generated chords may change (harmonic rhythm): once a bar at most, or every half bar",
    )
    loop: Loop = Field(
        4,
        description="Generated chords: a progression of 1, 2, 4 or 8 bars looped through each "
        "section, or 'through' to compose each section through (ending on the tonic)",
    )
    style: Literal[reharm.STYLES] | None = Field(  # type: ignore[valid-type]
        None,
        description="Reharmonise the chords in a style ("
        + "; ".join(f"{name}: {rule.description}" for name, rule in reharm.STYLE_RULES.items())
        + "; plain: as sampled), with extensions by function. Default: neo-soul for generated chords; "
        "a written progression plays as written unless a style is given",
    )
    under_melody: bool = Field(
        True,
        description="Keep the chords under the melody: a note at or above a melody note sounding "
        "with it goes down an octave (the chord and its voice count stay)",
    )

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
    humanize: Humanize = Field(
        default_factory=lambda: MELODY_FEEL.model_copy(),
        description="Timing and velocity spread (default {timing_ms: 6, velocity: 10})",
    )
    follow: str | None = Field(
        None,
        description="The chords track or MIDI clip whose chords the melody follows (default: the recipe's harmony)",
    )
    low: int = Field(
        62,
        ge=24,
        le=108,
        description="Lowest MIDI note. Unless low or high is given, a melody among the keys is played an octave up",
    )
    high: int = Field(84, ge=24, le=108, description="Highest MIDI note (see low)")

    @model_validator(mode="after")
    def _range(self) -> "MelodyTrack":
        if self.high - self.low < 12:
            raise ValueError(f"low..high must span at least an octave (got {self.low}..{self.high})")
        return self


class BassTrack(TrackBase):
    part: Literal["bass"]
    follow: str | None = Field(
        None, description="The chords track or MIDI clip whose chords the bass follows (default: the recipe's harmony)"
    )
    style: Literal["roots", "walking", "sparse"] = "roots"


class DrumsTrack(TrackBase):
    part: Literal["drums"]
    pattern: str = "boom-bap"
    fills: bool = Field(
        True,
        description="Phrase moves: turnarounds, fills, drops and half-time bars at the ends of 4- and 8-bar "
        "phrases and before a new section (false: the pattern looped as written)",
    )
    dynamics: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Velocity shaping: a leaning downbeat, softer off-beat hats that drift and accent, "
        "quieter ghost notes (0 as written, 1 strong)",
    )
    laid_back_ms: float = Field(
        0.0,
        ge=0,
        le=60,
        description="The pocket: the backbeat (snare, side stick, clap) plays this many ms late, each "
        "hit give or take a seeded quarter of it; the hats lean ahead by a fifth of it (at most 3 ms)",
    )

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        if value not in drums.PATTERNS:
            raise ValueError(
                f"unknown drum pattern {value!r}{did_you_mean(value, drums.pattern_names())} "
                f"(patterns: {', '.join(drums.pattern_names())})"
            )
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
        "bar", description="How often the clip's chords are read, when melody or bass follow it"
    )
    under_melody: bool = Field(
        False,
        description="Move the clip's notes at or above a melody note sounding with them down an "
        "octave, as a chords track does (off: the clip plays as written)",
    )
    swing: bool = Field(True, description="Play the clip with the recipe's swing (false: as it is, e.g. already swung)")


RecipeTrack = Annotated[Union[ChordsTrack, MelodyTrack, BassTrack, DrumsTrack, MidiTrack], Field(discriminator="part")]


class Section(Strict):
    name: str = Field(min_length=1)
    bars: int = Field(ge=1, le=10000)
    tracks: list[str] | None = Field(None, description="Tracks that play (default: all)")
    repeat: str | None = Field(
        None,
        description="Play an earlier section's material again: its chords, bass and drums note for "
        "note, its melody restated with variation",
    )
    seed: int | None = Field(None, ge=0, description="A new seed varies the material of a section")
    loop: Loop | None = Field(
        None,
        description="Generated chords in this section: loop 1, 2, 4 or 8 bars, or "
        "'through' (default: the chords track's loop)",
    )
    tempo: float | None = Field(
        None,
        ge=20,
        le=300,
        description="The section's tempo in BPM; it holds until a "
        "later section sets another (a repeat plays the notes, not the tempo)",
    )
    ramp: bool = Field(False, description="Reach `tempo` gradually across the section, from the tempo before it")

    @model_validator(mode="after")
    def _ramp_needs_tempo(self) -> "Section":
        if self.ramp and self.tempo is None:
            raise ValueError("ramp: true needs a tempo to ramp to, e.g. {tempo: 84, ramp: true}")
        return self


class Overlay(Strict):
    __reaches__ = reaches(OVERLAYS)

    file: str | None = Field(None, description="WAV/FLAC/MP3 file, relative to the project")
    ambience: Literal["rain", "vinyl", "hiss"] | None = Field(None, description="A procedural generator")
    gain_db: float = Field(-18.0, ge=-80, le=12)
    loop: bool = True
    fade_in: Seconds = 0.0
    fade_out: Seconds = 0.0
    start: Seconds = 0.0
    pan: float = Field(0.0, ge=-1, le=1)
    duck: Duck | None = Field(None, description="Dip under the kick drum, e.g. {depth_db: 4}")
    effects: list[EffectSpec] = Field(
        default_factory=list,
        description="A Pedalboard chain run on the overlay "
        "at its gain, e.g. band-limiting so the bed sits under the music",
    )

    @field_validator("fade_in", "fade_out", "start", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        return parse_seconds(value)

    @model_validator(mode="after")
    def _source(self) -> "Overlay":
        if (self.file is None) == (self.ambience is None):
            raise ValueError("an overlay needs exactly one of file or ambience")
        return self


DEFAULT_BUS: list[dict[str, dict[str, Any] | None]] = [
    {"Reverb": {"room_size": 0.75, "damping": 0.6, "wet_level": 1.0, "dry_level": 0.0, "width": 1.0}}
]


def _default_bus() -> list[EffectSpec]:
    """DEFAULT_BUS, a fresh copy for each recipe."""
    bus: list[EffectSpec] = []
    for step in DEFAULT_BUS:
        bus.append(dict(step))
    return bus


class Master(Strict):
    effects: Annotated[list[EffectSpec], reaches(MIX)] = Field(default_factory=list)
    bus: Annotated[list[EffectSpec], reaches(BUS)] = Field(
        default_factory=_default_bus,
        description="The shared send bus (a wet reverb) that tracks reach with send_db",
    )
    loudness_lufs: Annotated[float | None, reaches(MIX)] = Field(
        -14.0, ge=-40, le=-5, description="Integrated loudness target (BS.1770)"
    )
    true_peak_db: Annotated[float, reaches(MIX)] = Field(-1.0, ge=-12, le=0, description="True-peak ceiling in dBTP")


class Output(Strict):
    dir: Annotated[str | None, reaches(why="where the files go, not what they hold")] = Field(
        None, description="Default: build/<recipe file name>"
    )
    sample_rate: Annotated[Literal[SAMPLE_RATES], reaches(STEM, DRY, OVERLAYS, BUS, MIX)] = 44100  # type: ignore[valid-type]
    formats: Annotated[list[AudioFormat], reaches(EXPORT)] = Field(
        default_factory=lambda: list[AudioFormat](["wav"]), min_length=1
    )
    wav_format: Annotated[Literal["float32", "24bit"], reaches(EXPORT)] = Field(
        "24bit", description="The master WAV: 24-bit PCM (default; it is limited under the ceiling), or float32"
    )
    daw: Annotated[list[Literal["reaper", "dawproject"]], reaches(EXPORT)] = Field(
        default_factory=list, description="DAW project files to write"
    )
    dry_stems: Annotated[bool, reaches(EXPORT)] = Field(
        True, description="With daw: also write stems/dry/ (the instrument alone, no effects)"
    )
    stem_names: Annotated[Literal["short", "delivery"], reaches(EXPORT)] = Field(
        "short", description="short: stems/NN_<track>.wav; delivery: <Title>_<NN>_<Track>_<Key>_<BPM>bpm.wav"
    )
    stems: Annotated[bool, reaches(EXPORT)] = Field(
        True,
        description="Write stems/ (each track with its effects, the overlays, the reverb bus); "
        "false: the mix alone, a seventh of the disk",
    )

    @model_validator(mode="after")
    def _daw_plays_stems(self) -> "Output":
        if self.daw and not self.stems:
            raise ValueError("a DAW project plays the stems: drop daw, or keep stems: true")
        return self


class Recipe(Strict):
    lofictl: Annotated[Literal[1], reaches(why="the format version: one value")] = Field(
        description="Recipe format version"
    )
    # the title, seed and recipe are in every file's provenance
    title: Annotated[str, reaches(MIDI, STEM, DRY, EXPORT)] = Field(min_length=1, max_length=200)
    seed: Annotated[int, reaches(COMPOSE, MIDI, STEM, DRY, OVERLAYS, EXPORT)] = Field(
        ge=0, le=2**63 - 1, description="Master seed; every random choice derives from it"
    )
    tempo: Annotated[float, reaches(COMPOSE, STEM, DRY, EXPORT)] = Field(ge=20, le=300, description="Beats per minute")
    time_signature: Annotated[str, reaches(COMPOSE)] = "4/4"
    key: Annotated[str, reaches(COMPOSE, EXPORT)] = "C major"
    length: Annotated[Length | None, reaches(COMPOSE)] = Field(
        None, description="'64 bars' or a duration like '2m30s'; or give sections"
    )
    swing: Annotated[float, reaches(COMPOSE)] = Field(
        0.5, ge=0.5, le=0.75, description="0.5 is straight, 0.66 a triplet feel"
    )
    swing_unit: Annotated[Literal["8th", "16th"], reaches(COMPOSE)] = Field(
        "8th",
        description="What swings, for every part alike: 8th (the 'and' of each beat, 16ths inside moving "
        "with it) or 16th (every second 16th, MPC style; 8th notes stay straight)",
    )
    ending: Annotated[Literal["tonic", "as-written"] | None, reaches(COMPOSE)] = Field(
        None,
        description="The piece's last chord: 'tonic' makes it the key's tonic, 'as-written' keeps it. "
        "Default: tonic for generated chords, as written for a written progression (or clip)",
    )
    harmony: Annotated[str | None, reaches(COMPOSE)] = Field(
        None,
        description="The track whose chords lead: a chords track, or a MIDI clip whose "
        "chords are read from its notes. Melody and bass follow it, the piano roll shows it "
        "(default: the first chords track, else the first MIDI clip)",
    )
    sections: Annotated[list[Section] | None, reaches(COMPOSE)] = None
    form: Annotated[str | None, reaches(COMPOSE)] = Field(
        None,
        description="The song's form instead of sections, e.g. 'i4A8B8A8B8o4': phrases as a letter "
        "and bars; a letter that comes back restates its phrase with variation; capitals carry the "
        "melody, lowercase letters are instrumental (i intro, o outro). With neither form nor "
        "sections, a length of 16 bars or more samples a form from POP909's labelled songs",
    )
    tracks: dict[str, RecipeTrack] = Field(min_length=1)  # each field of a track is marked
    overlays: list[Overlay] = Field(default_factory=list)  # so is each of an overlay's
    master: Master = Field(default_factory=Master)
    output: Output = Field(default_factory=Output)

    @model_validator(mode="before")
    @classmethod
    def _form_sections(cls, data: Any) -> Any:
        """A form stands for its sections (compose.form.form_sections); a form that does not read is
        left to the `form` field's own check, and a form beside sections to recipe.load's."""
        if not isinstance(data, dict) or not isinstance(data.get("form"), str) or data.get("sections") is not None:
            return data
        tracks = data.get("tracks")
        if not isinstance(tracks, dict) or not all(isinstance(t, dict) for t in tracks.values()):
            return data
        try:
            phrases = parse_form(data["form"])
        except ValueError:
            return data
        return {**data, "sections": form_sections(phrases, {name: t.get("part") for name, t in tracks.items()})}

    @field_validator("form")
    @classmethod
    def _form(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return form_text(parse_form(value))

    @field_validator("title")
    @classmethod
    def _one_line_title(cls, value: str) -> str:
        from lofictl.safety.names import one_line_title

        return one_line_title(value)  # it reaches tags, chapters, CUE sheets and stream titles

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
                raise ValueError(
                    f"track name {name!r} must be letters, digits, - or _ (up to 40), since it names files"
                )
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
            return sum(section.bars for section, _ in planned_sections(self))
        assert self.length is not None  # guaranteed by check_arrangement
        if self.length.bars is not None:
            return self.length.bars
        assert self.length.seconds is not None  # a Length is bars or seconds
        return max(1, math.ceil(self.length.seconds / self.seconds_per_bar - 1e-9))


def json_schema() -> dict:
    schema = Recipe.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lofictl recipe v1"
    return schema
