"""Keys, scales, chord symbols and voicings: pure music theory, no I/O."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

# Scale steps in semitones from the tonic.
MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
}
_MODE_ALIASES = {"maj": "major", "ionian": "major", "min": "minor", "aeolian": "minor", "m": "minor"}

# Chord qualities: suffix as written after the root → intervals in semitones from the root.
# The order of the tuple is the order of "importance" used when a voicing must drop notes:
# root, third, seventh, then colour tones, fifth last (lo-fi voicings drop the fifth first).
QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7),
    "maj": (0, 4, 7),
    "m": (0, 3, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "+": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "sus": (0, 5, 7),
    "5": (0, 7),
    "6": (0, 4, 9, 7),
    "m6": (0, 3, 9, 7),
    "69": (0, 4, 9, 14, 7),
    "m69": (0, 3, 9, 14, 7),
    "add9": (0, 4, 14, 7),
    "madd9": (0, 3, 14, 7),
    "7": (0, 4, 10, 7),
    "7sus4": (0, 5, 10, 7),
    "7sus2": (0, 2, 10, 7),
    "maj7": (0, 4, 11, 7),
    "M7": (0, 4, 11, 7),
    "m7": (0, 3, 10, 7),
    "min7": (0, 3, 10, 7),
    "mmaj7": (0, 3, 11, 7),
    "m7b5": (0, 3, 10, 6),
    "ø": (0, 3, 10, 6),
    "dim7": (0, 3, 9, 6),
    "o7": (0, 3, 9, 6),
    "9": (0, 4, 10, 14, 7),
    "maj9": (0, 4, 11, 14, 7),
    "m9": (0, 3, 10, 14, 7),
    "7b9": (0, 4, 10, 13, 7),
    "7#9": (0, 4, 10, 15, 7),
    "7#11": (0, 4, 10, 18, 7),
    "7b13": (0, 4, 10, 20, 7),
    "maj7#11": (0, 4, 11, 18, 7),
    "11": (0, 4, 10, 14, 17, 7),
    "m11": (0, 3, 10, 14, 17, 7),
    "13": (0, 4, 10, 14, 21, 7),
    "maj13": (0, 4, 11, 14, 21, 7),
    "m13": (0, 3, 10, 14, 21, 7),
}

_CHORD_RE = re.compile(r"^(?P<root>[A-G])(?P<accidental>[#b]?)(?P<quality>[^/]*)(?:/(?P<bass>[A-G][#b]?))?$")


class TheoryError(ValueError):
    """A key or chord symbol that cannot be read; the message says what would be valid."""


def pitch_class(name: str) -> int:
    """'C#' → 1, 'Bb' → 10."""
    if not name or name[0].upper() not in _LETTER_PC:
        raise TheoryError(f"unknown note name {name!r} (use A-G with an optional # or b)")
    pc = _LETTER_PC[name[0].upper()]
    for accidental in name[1:]:
        if accidental == "#":
            pc += 1
        elif accidental == "b":
            pc -= 1
        else:
            raise TheoryError(f"unknown note name {name!r} (use A-G with an optional # or b)")
    return pc % 12


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class
    mode: str

    @property
    def scale(self) -> tuple[int, ...]:
        """Pitch classes of the scale, starting on the tonic."""
        return tuple((self.tonic + step) % 12 for step in MODES[self.mode])

    @property
    def name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"


def parse_key(text: str) -> Key:
    """'D minor', 'F# dorian', 'Eb' (major) → Key."""
    parts = text.strip().split(None, 1)
    if not parts:
        raise TheoryError("empty key (write it like 'D minor' or 'Eb major')")
    tonic = pitch_class(parts[0])
    mode = parts[1].strip().lower() if len(parts) > 1 else "major"
    mode = _MODE_ALIASES.get(mode, mode)
    if mode not in MODES:
        raise TheoryError(f"unknown mode {mode!r}; known modes: {', '.join(MODES)}")
    return Key(tonic, mode)


@dataclass(frozen=True)
class Chord:
    symbol: str
    root: int  # pitch class
    quality: str  # the suffix as written, a key of QUALITIES
    intervals: tuple[int, ...]  # semitones above the root, most important first
    bass: int | None = None  # slash-chord bass pitch class

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.root + i) % 12 for i in self.intervals)


def parse_chord(symbol: str) -> Chord:
    """Read a chord symbol such as 'Dm9', 'G13', 'Cmaj9', 'A7b9', 'F/A'."""
    match = _CHORD_RE.match(symbol.strip())
    if not match:
        raise TheoryError(f"unknown chord symbol {symbol!r} (a root A-G, optional #/b, then a quality such as m7 or maj9)")
    quality = match["quality"]
    if quality not in QUALITIES:
        close = difflib.get_close_matches(quality, list(QUALITIES), n=3)
        hint = f"; did you mean {', '.join(match['root'] + match['accidental'] + c for c in close)}?" if close else ""
        raise TheoryError(f"unknown chord quality {quality!r} in {symbol!r}{hint}")
    root = pitch_class(match["root"] + match["accidental"])
    bass = pitch_class(match["bass"]) if match["bass"] else None
    return Chord(symbol.strip(), root, quality, QUALITIES[quality], bass)


def parse_progression(text: str, beats_per_bar: float) -> list[tuple[Chord, float]]:
    """'Dm9 G13 Cmaj9 A7b9' → one chord a bar; 'Dm9:2 G7:2' gives durations in beats.

    A bar line '|' may be written for readability and is ignored.
    """
    chords: list[tuple[Chord, float]] = []
    for item in text.replace("|", " ").split():
        symbol, _, beats = item.partition(":")
        if beats:
            try:
                duration = float(beats)
            except ValueError:
                raise TheoryError(f"bad duration {beats!r} in {item!r} (write beats as a number, e.g. Dm9:2)") from None
            if duration <= 0:
                raise TheoryError(f"duration in {item!r} must be more than 0 beats")
        else:
            duration = beats_per_bar
        chords.append((parse_chord(symbol), duration))
    if not chords:
        raise TheoryError("the progression is empty")
    return chords


def transpose_progression(text: str, semitones: int) -> str:
    """The same progression `semitones` higher ('Dm9 G13:2' up 2 → 'Em9 A13:2'); bar lines and
    durations stay as written. Roots are spelt with NOTE_NAMES (sharps for C# and F#, else flats)."""
    def shifted(name: str) -> str:
        return NOTE_NAMES[(pitch_class(name) + semitones) % 12]

    items = []
    for item in text.replace("|", " | ").split():
        if item == "|":
            items.append(item)
            continue
        symbol, sep, beats = item.partition(":")
        match = _CHORD_RE.match(symbol)
        if not match:
            parse_chord(symbol)  # raises the usual message
        bass = f"/{shifted(match['bass'])}" if match["bass"] else ""
        items.append(f"{shifted(match['root'] + match['accidental'])}{match['quality']}{bass}{sep}{beats}")
    return " ".join(items)


# --- voicings -------------------------------------------------------------------------------

VOICINGS = ("lofi", "close", "drop2", "rootless", "triad")


def _candidate_voicings(chord: Chord, style: str, low: int, high: int, max_notes: int) -> list[tuple[int, ...]]:
    """Every voicing of the chord's tones in [low, high] for the style, as sorted MIDI pitches."""
    intervals = list(chord.intervals)
    if style == "triad":
        intervals = intervals[:3] if len(intervals) >= 3 else intervals
    elif style in ("lofi", "rootless") and len(intervals) > max_notes:
        # Drop the fifth first, then the highest extensions: colour stays, mud goes.
        if 7 in intervals:
            intervals.remove(7)
        intervals = intervals[:max_notes]
    if style == "rootless" and len(intervals) > 3:
        intervals = intervals[1:]
    # Stack in pitch order (the table lists tones by importance, not by height).
    pcs = sorted({(chord.root + i) % 12 for i in intervals}, key=lambda pc: (pc - chord.root) % 12)
    candidates: list[tuple[int, ...]] = []
    # Close position: every inversion, stacked upward within an octave and a bit.
    for rotation in range(len(pcs)):
        ordered = pcs[rotation:] + pcs[:rotation]
        for base in range(low, high - 11):
            if base % 12 != ordered[0]:
                continue
            voicing = [base]
            for pc in ordered[1:]:
                nxt = voicing[-1] + ((pc - voicing[-1]) % 12 or 12)
                voicing.append(nxt)
            if style == "drop2" and len(voicing) >= 4:
                second_from_top = voicing[-2] - 12
                voicing = sorted(voicing[:-2] + [second_from_top, voicing[-1]])
            if voicing[0] >= low and voicing[-1] <= high:
                candidates.append(tuple(voicing))
    return candidates


def lofi_colour(chord: Chord, key: Key) -> Chord:
    """Add the colour a lo-fi voicing wants to a plain triad: the diatonic 7th, then the 9th.

    Only tones of the key are added, so a generated "Dm" in C major becomes Dm9 and a "G"
    becomes G9, while a chord that already has a 7th keeps its own colour.
    """
    if len(chord.intervals) < 3 or any(i in chord.intervals for i in (9, 10, 11)):
        return chord
    scale = set(key.scale)
    extra = []
    for seventh in (10, 11):
        if (chord.root + seventh) % 12 in scale:
            extra.append(seventh)
            break
    if (chord.root + 2) % 12 in scale and 6 not in chord.intervals:  # no 9th on diminished chords
        extra.append(14)
    if not extra:
        return chord
    intervals = chord.intervals[:2] + tuple(extra) + chord.intervals[2:]
    return Chord(chord.symbol, chord.root, chord.quality, intervals, chord.bass)


def voice_chord(chord: Chord, previous: tuple[int, ...] | None, style: str = "lofi",
                low: int = 50, high: int = 76, max_notes: int = 4) -> tuple[int, ...]:
    """Pick the voicing nearest the previous one (smooth voice leading) within a register."""
    candidates = _candidate_voicings(chord, style, low, high, max_notes)
    if not candidates:  # a wide chord in a narrow register: widen rather than fail
        candidates = _candidate_voicings(chord, style, low - 12, high + 12, max_notes)
    centre = (low + high) / 2

    def cost(voicing: tuple[int, ...]) -> tuple[float, tuple[int, ...]]:
        if previous:
            movement = sum(min(abs(p - q) for q in previous) for p in voicing)
        else:
            movement = 0.0
        drift = abs(sum(voicing) / len(voicing) - centre)
        return (movement + 0.5 * drift, voicing)  # the voicing itself breaks ties deterministically

    return min(candidates, key=cost)


def chord_bass_pitch(chord: Chord, low: int = 33) -> int:
    """The bass note of the chord (slash bass if given) in the octave starting at `low`."""
    pc = chord.bass if chord.bass is not None else chord.root
    return low + ((pc - low) % 12)
