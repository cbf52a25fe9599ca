"""The Score: one plain value for the music, read by every stage after compose.

Times are in beats (quarter notes) from the start of the piece; the tempo turns them into
seconds. Everything here is immutable so stages can share a Score without copying it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

DRUM_CHANNEL = 9  # MIDI channel 10, counted from zero
KICK_PITCHES = (35, 36)  # GM acoustic and bass drum 1: the key for ducking


@dataclass(frozen=True, order=True)
class Note:
    start: float  # beats
    duration: float  # beats
    pitch: int  # MIDI note number 0..127
    velocity: int  # 1..127

    @property
    def end(self) -> float:
        return self.start + self.duration

    def copy(self, **changes) -> "Note":
        return replace(self, **changes)


@dataclass(frozen=True)
class ChordEvent:
    start: float  # beats
    duration: float  # beats
    symbol: str  # as written, e.g. "Dm9"

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Section:
    name: str
    start_bar: int
    bars: int
    tracks: tuple[str, ...]  # names of the tracks that play in this section


@dataclass(frozen=True)
class Track:
    name: str
    part: str  # chords | melody | bass | drums | midi
    notes: tuple[Note, ...]
    program: int = 0  # GM program 0..127, for the MIDI file; the sound comes from the instrument
    bank: int = 0
    is_drums: bool = False
    channel: int = 0

    def copy(self, **changes) -> "Track":
        return replace(self, **changes)


@dataclass(frozen=True)
class Score:
    tempo: float  # beats per minute
    numerator: int
    denominator: int
    key: str  # e.g. "D minor"
    total_beats: float
    tracks: tuple[Track, ...]
    chords: tuple[ChordEvent, ...] = ()
    sections: tuple[Section, ...] = field(default=())

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo

    @property
    def beats_per_bar(self) -> float:
        return self.numerator * 4.0 / self.denominator

    @property
    def duration_seconds(self) -> float:
        return self.total_beats * self.seconds_per_beat

    def beat_to_seconds(self, beat: float) -> float:
        return beat * self.seconds_per_beat

    def track(self, name: str) -> Track:
        for track in self.tracks:
            if track.name == name:
                return track
        raise KeyError(name)

    def copy(self, **changes) -> "Score":
        return replace(self, **changes)


# --- plain JSON, for the stage cache ------------------------------------------------------------


def score_to_dict(score: Score) -> dict:
    return {
        "tempo": score.tempo, "numerator": score.numerator, "denominator": score.denominator,
        "key": score.key, "total_beats": score.total_beats,
        "tracks": [{"name": t.name, "part": t.part, "program": t.program, "bank": t.bank,
                    "is_drums": t.is_drums, "channel": t.channel,
                    "notes": [[n.start, n.duration, n.pitch, n.velocity] for n in t.notes]}
                   for t in score.tracks],
        "chords": [[c.start, c.duration, c.symbol] for c in score.chords],
        "sections": [[s.name, s.start_bar, s.bars, list(s.tracks)] for s in score.sections],
    }


def score_from_dict(data: dict) -> Score:
    tracks = tuple(Track(t["name"], t["part"], tuple(Note(*n) for n in t["notes"]), t["program"], t["bank"],
                         t["is_drums"], t["channel"]) for t in data["tracks"])
    return Score(data["tempo"], data["numerator"], data["denominator"], data["key"], data["total_beats"], tracks,
                 tuple(ChordEvent(*c) for c in data["chords"]),
                 tuple(Section(s[0], s[1], s[2], tuple(s[3])) for s in data["sections"]))
