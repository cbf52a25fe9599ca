"""Where a track's notes come from: a build folder's MIDI (with its build.json), or a user's MIDI file.

Both give a Score whose tracks carry their *part* (melody, chords, bass, drums), the chords as
symbols and the sections with what each restates, so the measures need not know which it was.
A build folder's parts and `repeat:`s come from its build.json (the resolved recipe); its chord
symbols are read back from the chords tracks' notes (harmony.detect_chords, half-bar windows),
as MIDI does not store them. A user's MIDI file gets its parts guessed from track names, then
from the notes (module functions below).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from lofictl.compose.score import DRUM_CHANNEL, Score, Track
from lofictl.errors import LofictlError

PARTS = ("melody", "chords", "bass", "drums")
_NAME_HINTS = (
    ("drums", re.compile(r"drum|kit|perc|beat", re.I)),
    ("bass", re.compile(r"bass", re.I)),
    ("melody", re.compile(r"melod|lead|vocal|voice|sing|flute|sax|trumpet", re.I)),
    ("chords", re.compile(r"chord|keys|piano|rhodes|pad|organ|guitar|ep\b", re.I)),
)


@dataclass(frozen=True)
class Section:
    """A section of a track: its name, the section it restates (`repeat:`), where and how long."""

    name: str
    repeat: str | None
    start_bar: int
    bars: int


@dataclass(frozen=True)
class TrackSource:
    """A score to measure, with its sections and where it came from."""

    name: str
    score: Score
    sections: tuple[Section, ...]


def read_build(build_dir: Path) -> TrackSource:
    """A build folder (made by `lofictl build`, with or without --midi-only) → its score."""
    from lofictl.compose import theory
    from lofictl.compose.harmony import detect_chords
    from lofictl.export.midi import midi_to_score

    build_dir = Path(build_dir)
    info_path = build_dir / "build.json"
    if not info_path.is_file():
        raise LofictlError(f"{build_dir} is not a build folder (no build.json); build a recipe into it first")
    try:
        info = json.loads(info_path.read_text())
        resolved = info["recipe"]["resolved"]
        parts = {name: spec.get("part", "midi") for name, spec in resolved["tracks"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LofictlError(f"{info_path}: not a lofictl build record (no recipe.resolved.tracks)") from None
    track_names = set(parts)
    files = sorted((build_dir / "midi").glob("*.mid"))
    whole = [f for f in files if f.stem not in track_names]
    if not whole:
        raise LofictlError(f"{build_dir / 'midi'} holds no full-track MIDI file (build the recipe first)")
    score = midi_to_score(whole[0])
    tracks = tuple(t.copy(part=parts.get(t.name, "drums" if t.is_drums else "midi")) for t in score.tracks)
    key = resolved.get("key") or score.key
    score = replace(score, tracks=tracks, key=key)
    chord_notes = sorted(n for t in tracks if t.part == "chords" for n in t.notes)
    if chord_notes:
        parsed = theory.parse_key(key)
        score = replace(
            score, chords=tuple(detect_chords(chord_notes, score.total_beats, score.beats_per_bar, "half-bar", parsed))
        )
    repeats = {s.get("name"): s.get("repeat") for s in resolved.get("sections") or [] if isinstance(s, dict)}
    sections = tuple(Section(s.name, repeats.get(s.name), s.start_bar, s.bars) for s in score.sections)
    return TrackSource(build_dir.name, score, sections)


def guess_part(track: Track, others: list[Track]) -> str:
    """A user's MIDI track → melody, chords, bass, drums or midi: by channel, name, then notes."""
    if track.is_drums or track.channel == DRUM_CHANNEL:
        return "drums"
    for part, pattern in _NAME_HINTS:
        if pattern.search(track.name):
            return part
    if not track.notes:
        return "midi"
    mean = sum(n.pitch for n in track.notes) / len(track.notes)
    onsets = {round(n.start, 3) for n in track.notes}
    chordal = len(track.notes) / max(len(onsets), 1) >= 2.0
    if chordal:
        return "chords"
    pitched = [t for t in others if not t.is_drums and t.notes]
    means = [sum(n.pitch for n in t.notes) / len(t.notes) for t in pitched]
    if means and mean <= min(means) and mean < 55:
        return "bass"
    return "melody"


def read_midi(path: Path) -> TrackSource:
    """A user's MIDI file → its score with guessed parts (one melody: the highest one guessed)."""
    from lofictl.compose import theory
    from lofictl.compose.harmony import detect_chords
    from lofictl.export.midi import midi_to_score

    score = midi_to_score(Path(path))
    tracks = list(score.tracks)
    parts = [guess_part(t, tracks) for t in tracks]
    melodies = [i for i, p in enumerate(parts) if p == "melody"]
    if len(melodies) > 1:  # the highest line is the melody; the others accompany
        top = max(melodies, key=lambda i: sum(n.pitch for n in tracks[i].notes) / len(tracks[i].notes))
        parts = [("midi" if i in melodies and i != top else p) for i, p in enumerate(parts)]
    tracks = [t.copy(part=p) for t, p in zip(tracks, parts)]
    score = replace(score, tracks=tuple(tracks))
    chord_notes = sorted(n for t in tracks if t.part == "chords" for n in t.notes)
    if chord_notes:
        try:
            key = theory.parse_key(score.key)
        except theory.TheoryError:
            key = None
        score = replace(
            score, chords=tuple(detect_chords(chord_notes, score.total_beats, score.beats_per_bar, "half-bar", key))
        )
    sections = tuple(Section(s.name, None, s.start_bar, s.bars) for s in score.sections)
    return TrackSource(Path(path).name, score, sections)


def part_tracks(score: Score, part: str) -> list[Track]:
    return [t for t in score.tracks if t.part == part]
