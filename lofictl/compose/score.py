"""The Score: one plain value for the music, read by every stage after compose.

Times are in beats (quarter notes) from the start of the piece; the tempo turns them into
seconds. Everything here is immutable so stages can share a Score without copying it.
"""

from __future__ import annotations

import bisect
import functools
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
class PlacedSection:
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
class TempoMap:
    """Beats → seconds: (beat, seconds per beat) points, each holding until the next.

    A ramp is written as many small steps (one a beat), so the MIDI file, the audio, the DAW
    projects and the sidecar all use the same map and agree to the sample. With one point the
    arithmetic is exactly `beat * seconds_per_beat`, as for a piece in one tempo.
    """

    points: tuple[tuple[float, float], ...]  # the first at beat 0

    @classmethod
    def constant(cls, seconds_per_beat: float) -> "TempoMap":
        return cls(((0.0, seconds_per_beat),))

    @functools.cached_property
    def _beats(self) -> list[float]:
        return [b for b, _ in self.points]

    def _segment(self, beat: float) -> int:
        return max(0, bisect.bisect_right(self._beats, beat) - 1)

    @functools.lru_cache(maxsize=8)  # noqa: B019 - a few maps live at a time; they are small
    def _starts(self, scale: float) -> list[float]:
        """Where each segment starts, in seconds × scale (samples when scale is a sample rate)."""
        starts = [0.0]
        for (b0, spb), (b1, _) in zip(self.points, self.points[1:]):
            starts.append(starts[-1] + (b1 - b0) * (spb * scale))
        return starts

    def seconds(self, beat: float) -> float:
        return self.samples(beat, 1.0)

    def samples(self, beat: float, sample_rate: float) -> float:
        """The position of a beat in samples (unrounded)."""
        index = self._segment(beat)
        start_beat, spb = self.points[index]
        return self._starts(sample_rate)[index] + (beat - start_beat) * (spb * sample_rate)

    def beat_at(self, seconds: float) -> float:
        """The beat at a time in seconds (past the last point, at its tempo)."""
        starts = self._starts(1.0)
        index = max(0, bisect.bisect_right(starts, seconds) - 1)
        start_beat, spb = self.points[index]
        return start_beat + (seconds - starts[index]) / spb

    def bpm_at(self, beat: float) -> float:
        return 60.0 / self.points[self._segment(beat)][1]

    @property
    def is_constant(self) -> bool:
        return len(self.points) == 1


@dataclass(frozen=True)
class Score:
    tempo: float  # beats per minute
    numerator: int
    denominator: int
    key: str  # e.g. "D minor"
    total_beats: float
    tracks: tuple[Track, ...]
    chords: tuple[ChordEvent, ...] = ()
    sections: tuple[PlacedSection, ...] = field(default=())
    tempo_changes: tuple[tuple[float, float], ...] = ()  # (beat, BPM) after the start, in order

    @property
    def seconds_per_beat(self) -> float:
        """At the start; with tempo changes, `tempo_map` turns beats into seconds."""
        return 60.0 / self.tempo

    @property
    def tempo_map(self) -> TempoMap:
        return TempoMap(((0.0, self.seconds_per_beat),) + tuple((b, 60.0 / bpm) for b, bpm in self.tempo_changes))

    @property
    def tempo_range(self) -> tuple[float, float]:
        """The slowest and fastest tempo, to 0.1 BPM (for showing)."""
        tempos = [self.tempo, *(bpm for _, bpm in self.tempo_changes)]
        return round(min(tempos), 1), round(max(tempos), 1)

    @property
    def beats_per_bar(self) -> float:
        return self.numerator * 4.0 / self.denominator

    @property
    def duration_seconds(self) -> float:
        return self.beat_to_seconds(self.total_beats)

    def beat_to_seconds(self, beat: float) -> float:
        if not self.tempo_changes:
            return beat * self.seconds_per_beat
        return self.tempo_map.seconds(beat)

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
        "tempo": score.tempo,
        "numerator": score.numerator,
        "denominator": score.denominator,
        "key": score.key,
        "total_beats": score.total_beats,
        "tracks": [
            {
                "name": t.name,
                "part": t.part,
                "program": t.program,
                "bank": t.bank,
                "is_drums": t.is_drums,
                "channel": t.channel,
                "notes": [[n.start, n.duration, n.pitch, n.velocity] for n in t.notes],
            }
            for t in score.tracks
        ],
        "chords": [[c.start, c.duration, c.symbol] for c in score.chords],
        "sections": [[s.name, s.start_bar, s.bars, list(s.tracks)] for s in score.sections],
        # only when there are changes, so a piece in one tempo hashes as it always did
        **({"tempo_changes": [list(change) for change in score.tempo_changes]} if score.tempo_changes else {}),
    }


def score_from_dict(data: dict) -> Score:
    tracks = tuple(
        Track(
            t["name"],
            t["part"],
            tuple(Note(*n) for n in t["notes"]),
            t["program"],
            t["bank"],
            t["is_drums"],
            t["channel"],
        )
        for t in data["tracks"]
    )
    return Score(
        data["tempo"],
        data["numerator"],
        data["denominator"],
        data["key"],
        data["total_beats"],
        tracks,
        tuple(ChordEvent(*c) for c in data["chords"]),
        tuple(PlacedSection(s[0], s[1], s[2], tuple(s[3])) for s in data["sections"]),
        tuple(tuple(change) for change in data.get("tempo_changes", ())),
    )
