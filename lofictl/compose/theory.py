"""Keys, scales, chord symbols and voicings: pure music theory, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lofictl.errors import suggestions

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
        raise TheoryError(
            f"unknown chord symbol {symbol!r} (a root A-G, optional #/b, then a quality such as m7 or maj9)"
        )
    quality = match["quality"]
    if quality not in QUALITIES:
        close = suggestions(quality, QUALITIES, n=3)
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
            raise TheoryError(f"cannot read chord {symbol!r}")
        bass = f"/{shifted(match['bass'])}" if match["bass"] else ""
        items.append(f"{shifted(match['root'] + match['accidental'])}{match['quality']}{bass}{sep}{beats}")
    return " ".join(items)


# --- voicings -------------------------------------------------------------------------------
#
# Every chord tone has a function, read from its interval above the root, so a quality added to
# QUALITIES is voiced by the same rules without touching this code. A voicing style is a row of
# VOICING_RULES: how many notes it has room for and which functions it keeps. When a chord has
# more tones than room, tones go by rank: root, 3rd (or the sus tone), 7th (or 6th), an altered
# 5th, the named extensions (the highest one and any altered one: the 13 of G13, the b9 of A7b9),
# then the implied extensions (the 9 under a 13), and the perfect 5th last.

ROLE_RANK = {
    "root": 0,
    "third": 1,
    "sus": 1,
    "seventh": 2,
    "sixth": 2,
    "altered fifth": 3,
    "named extension": 4,
    "extension": 5,
    "fifth": 6,
}
_ALTERED_EXTENSIONS = frozenset({13, 15, 18, 20})  # b9, #9, #11, b13: always written in the symbol


def tone_role(interval: int, intervals: tuple[int, ...]) -> str:
    """The function of one tone of a chord: 'root', 'third', 'seventh', 'named extension', ..."""
    has_third = 3 in intervals or 4 in intervals
    has_seventh = 10 in intervals or 11 in intervals
    if interval == 0:
        return "root"
    if interval in (3, 4):
        return "third"
    if interval in (2, 5) and not has_third:
        return "sus"
    if interval == 7:
        return "fifth"
    if interval in (6, 8) and 7 not in intervals:
        return "altered fifth"
    if interval in (10, 11):
        return "seventh"
    if interval == 9:  # the bb7 of a diminished seventh chord, else a 6th
        return "seventh" if {3, 6} <= set(intervals) and not has_seventh else "sixth"
    extensions = [i for i in intervals if i >= 12 or (i in (2, 5) and has_third) or (i in (6, 8) and 7 in intervals)]
    height = interval if interval >= 12 else interval + 12
    if (
        interval in _ALTERED_EXTENSIONS
        or height in _ALTERED_EXTENSIONS
        or height == max(i if i >= 12 else i + 12 for i in extensions)
    ):
        return "named extension"
    return "extension"


def chord_tones(chord: Chord) -> list[tuple[int, str]]:
    """(interval, function) of every tone, most important first (see ROLE_RANK)."""
    tones = [(interval, tone_role(interval, chord.intervals)) for interval in chord.intervals]
    order = {interval: index for index, interval in enumerate(chord.intervals)}
    return sorted(tones, key=lambda tone: (ROLE_RANK[tone[1]], order[tone[0]]))


@dataclass(frozen=True)
class VoicingRule:
    notes: int  # room: the most notes the voicing plays
    rootless: bool = False  # leave the root to the bass (chords with a 7th or 6th only)
    triad: bool = False  # only the root, 3rd (or sus) and 5th: the chord simplified on purpose
    drop2: bool = False  # the second voice from the top goes down an octave
    description: str = ""


VOICING_RULES: dict[str, VoicingRule] = {
    "lofi": VoicingRule(4, description="root, 3rd, 7th and the named extension (the 5th goes first)"),
    "close": VoicingRule(5, description="up to five chord tones stacked within an octave"),
    "drop2": VoicingRule(5, drop2=True, description="close, with the second voice from the top an octave down"),
    "rootless": VoicingRule(
        4, rootless=True, description="3rd, 7th and extensions; the bass plays the root (triads keep theirs)"
    ),
    "triad": VoicingRule(
        3, triad=True, description="the chord's triad: root, 3rd (or sus) and 5th; 7ths and extensions are left out"
    ),
}
VOICINGS = tuple(VOICING_RULES)


def voicing_intervals(chord: Chord, style: str) -> tuple[int, ...]:
    """The chord tones a style plays, as intervals above the root, most important first."""
    rule = VOICING_RULES[style]
    tones = chord_tones(chord)
    if rule.triad:
        core = [t for t in tones if t[1] in ("root", "third", "sus", "fifth", "altered fifth")]
        rest = [t for t in tones if t not in core]
        tones = core + rest  # a chord without a 5th (none in the table yet) takes its next tone
    elif rule.rootless and any(role in ("seventh", "sixth") for _, role in tones):
        tones = [t for t in tones if t[1] != "root"]
    return tuple(interval for interval, _ in tones[: rule.notes])


def _candidate_voicings(chord: Chord, style: str, low: int, high: int) -> list[tuple[int, ...]]:
    """Every voicing of the style's tones in [low, high], as sorted MIDI pitches.

    Two stackings, each from every tone upward: close (the tones in pitch order within an
    octave) and open (in the order of their intervals, so a 9th or 13th sits above the 7th as
    it is named), each then dropped to drop-2 for that style.
    """
    intervals = voicing_intervals(chord, style)
    close = sorted({(chord.root + i) % 12 for i in intervals}, key=lambda pc: (pc - chord.root) % 12)
    opened = list(dict.fromkeys((chord.root + i) % 12 for i in sorted(intervals)))
    orders = {tuple(pcs[r:] + pcs[:r]) for pcs in (close, opened) for r in range(len(pcs))}
    candidates: set[tuple[int, ...]] = set()
    for ordered in sorted(orders):
        for base in range(low, high + 1):
            if base % 12 != ordered[0]:
                continue
            voicing = [base]
            for pc in ordered[1:]:
                voicing.append(voicing[-1] + ((pc - voicing[-1]) % 12 or 12))
            if VOICING_RULES[style].drop2 and len(voicing) >= 4:
                voicing = sorted(voicing[:-2] + [voicing[-2] - 12, voicing[-1]])
            if voicing[0] >= low and voicing[-1] <= high:
                candidates.add(tuple(voicing))
    return sorted(candidates)


def chord_kind(chord: Chord) -> str:
    """A chord's family by its tones: maj, min, dom, hdim, dim, or other (sus, aug, power chords)."""
    tones = {i % 12 for i in chord.intervals}
    if 4 in tones:
        if 8 in tones and 7 not in tones:
            return "other"  # augmented
        return "dom" if 10 in tones else "maj"
    if 3 in tones:
        if 6 in tones and 7 not in tones:
            return "hdim" if 10 in tones else "dim"
        return "min"
    return "other"


def colour_quality(
    root: int,
    kind: str,
    key: Key,
    following: tuple[int, str] | None = None,
    *,
    sixnine: bool = False,
    eleventh: bool = False,
    sharp_eleven: bool = False,
    tritone: bool = False,
) -> str | None:
    """The quality a chord of this family wants by its function in the key (and the chord it
    moves to, root and family, when known); None for families kept as written (sus, aug).

    Major tonics: maj9 (6/9 with `sixnine`). Other major chords: maj9 (maj7#11 with
    `sharp_eleven` where the key has the #11), 9 on the key's flat seven. Dominants, and major
    chords off the tonic with the key's b7 that sit a fifth above the next chord, on the key's V
    or with a third from outside the key (E in C: V of vi): 7b9 before a minor chord, else 13
    (7#11 on a tritone substitute). Minor chords: m9, or m11 where the key has the 11th but not
    the 9th (or with `eleventh`). Half-diminished (and a diminished triad under the key's b7):
    m7b5; diminished: dim7.
    """
    scale = set(key.scale)

    def has(interval: int) -> bool:
        return (root + interval) % 12 in scale

    resolves = following is not None and (root - following[0]) % 12 == 7
    borrowed_third = not has(4)
    if kind == "maj" and root != key.tonic and has(10) and (resolves or root == (key.tonic + 7) % 12 or borrowed_third):
        kind = "dom"  # the key's V, a V of the chord after it, or a V of a degree (E in C): a dominant
    if kind == "dim" and has(10):
        kind = "hdim"  # vii of major, ii of minor: the key's own seventh makes it half-diminished
    if kind == "dom":
        if tritone:
            return "7#11"
        if following is not None and resolves:
            to_minor = following[1] in ("min", "hdim", "dim")
        else:  # it resolves to the key's chord a fifth below: minor when the key has its minor third
            target = (root + 5) % 12
            to_minor = (target + 3) % 12 in scale and (target + 4) % 12 not in scale
        return "7b9" if to_minor else "13"
    if kind == "maj":
        if root == key.tonic:
            return "69" if sixnine else "maj9"
        if has(10) and not has(11):
            return "9"  # the key's flat seven (bVII in minor): a mixolydian colour, not a dominant here
        return "maj7#11" if sharp_eleven and has(6) else "maj9"
    if kind == "min":
        if root != key.tonic and has(5) and has(10) and (eleventh or not has(2)):
            return "m11"
        return "m9" if has(2) or root == key.tonic or not has(10) else "m7"
    if kind == "hdim":
        return "m7b5"
    if kind == "dim":
        return "dim7"
    return None


def lofi_colour(chord: Chord, key: Key) -> Chord:
    """The colour a lo-fi voicing wants on a plain triad, chosen by its function in the key
    (colour_quality): Cmaj9 on a C major tonic, G13 on its V, A7b9 on the V of D minor, Dm9,
    Em11, Bm7b5. A chord written with a 7th or 6th keeps its own colour; sus and augmented
    chords stay as they are.
    """
    if len(chord.intervals) < 3 or any(i in chord.intervals for i in (9, 10, 11)):
        return chord
    quality = colour_quality(chord.root, chord_kind(chord), key)
    if quality is None:
        return chord
    bass = f"/{NOTE_NAMES[chord.bass]}" if chord.bass is not None else ""
    return parse_chord(f"{NOTE_NAMES[chord.root]}{quality}{bass}")


def voice_chord(
    chord: Chord, previous: tuple[int, ...] | None, style: str = "lofi", low: int = 50, high: int = 76
) -> tuple[int, ...]:
    """Pick the voicing nearest the previous one (smooth voice leading) within a register."""
    candidates = _candidate_voicings(chord, style, low, high)
    if not candidates:  # a wide chord in a narrow register: widen rather than fail
        candidates = _candidate_voicings(chord, style, low - 12, high + 12)
    centre = (low + high) / 2
    roles = {(chord.root + interval) % 12: role for interval, role in chord_tones(chord)}

    def cost(voicing: tuple[int, ...]) -> tuple[float, tuple[int, ...]]:
        if previous:
            movement = sum(min(abs(p - q) for q in previous) for p in voicing)
        else:
            movement = 0
        drift = abs(sum(voicing) / len(voicing) - centre)
        # Semitones between neighbouring voices smear on an electric piano; wide gaps low down too.
        rub = sum(1 for a, b in zip(voicing, voicing[1:]) if b - a == 1)
        # An extension as the lowest voice reads as another chord (Dm9 over E): keep it above.
        low_extension = roles[voicing[0] % 12] in ("named extension", "extension")
        return (
            movement + 0.5 * drift + 3.0 * rub + 4.0 * low_extension,
            voicing,
        )  # the voicing itself breaks ties deterministically

    return min(candidates, key=cost)


def chord_bass_pitch(chord: Chord, low: int = 33) -> int:
    """The bass note of the chord (slash bass if given) in the octave starting at `low`."""
    pc = chord.bass if chord.bass is not None else chord.root
    return low + ((pc - low) % 12)
