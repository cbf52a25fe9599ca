"""Pure measures of whole songs: hooks, restated phrases, form and how progressions move.

What `lofictl eval --recipe/--build` adds to the passage features of measures.py (docs/model-quality.md,
"Built tracks"). Times are in beats from the song's first bar line; a *cell* is a 16th.

* `rhythm_repetition` — share of bars whose onset rhythm (the set of 16th cells with an onset)
  comes back exactly in one of the next 7 bars. Bars without onsets and bars without 7 bars after
  them are not counted, so a melody whose rhythm repeats every 2 bars scores 1.0.
* `fifth_motion_share` — share of 4-bar windows in which a chord root moves down a fifth (a new
  chord starting in the window whose root is 7 semitones under the one before, any octave).
* `own_chord_tone_share` — duration-weighted share of melody time on the chord *symbol's own*
  tones: root, third (or the sus tone), fifth, seventh — not the 9ths/11ths/13ths/6ths a symbol
  or a voicing adds.
* `phrase_similarity` — how much two phrases share: Dice overlap of their (16th cell, pitch)
  onset sets, over the shorter one's bars (1.0 a copy, 0.0 nothing at the same place).
* `restated_similarity` / `contrast` — phrase_similarity of each later phrase with a letter to
  that letter's first phrase / between the first phrases of different letters.
* `form_skeleton` / `form_similarity` — a form (`i4A8B8A8o4`) as its sequence of phrase letters,
  runs of one letter merged and letters renamed by first appearance; similarity is one minus
  the edit distance over the longer sequence's length.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lofictl.compose import theory
from lofictl.compose.form import PHRASE_TOKEN
from lofictl.compose.score import ChordEvent, Note
from lofictl.models import measures

CELLS_PER_BEAT = 4
REPEAT_WINDOW = 7  # bars after a bar in which its rhythm may come back (8 bars in all)
FIFTH_WINDOW = 4  # bars
OWN_ROLES = frozenset({"root", "third", "sus", "fifth", "altered fifth", "seventh"})


@dataclass(frozen=True)
class Phrase:
    """A labelled span of a song: `letter` (capital: melodic; i/o intro and outro; lower case
    instrumental), from `start_bar` for `bars` bars."""

    letter: str
    start_bar: int
    bars: int


# --- rhythm -------------------------------------------------------------------------------------


def _cell(beat: float) -> int:
    return int(math.floor(beat * CELLS_PER_BEAT + 0.5))


def bar_rhythms(notes, bars: int, beats_per_bar: float) -> list[frozenset[int] | None]:
    """Per bar, the 16th cells of the bar holding an onset (None: no onset in the bar)."""
    per_bar = max(1, int(round(beats_per_bar * CELLS_PER_BEAT)))
    cells: list[set[int]] = [set() for _ in range(bars)]
    for note in notes:
        bar, pos = divmod(_cell(note.start), per_bar)
        if 0 <= bar < bars:
            cells[bar].add(pos)
    return [frozenset(c) if c else None for c in cells]


def rhythm_repetition(notes, bars: int, beats_per_bar: float, window: int = REPEAT_WINDOW) -> float | None:
    """Share of bars (with onsets and `window` bars after them) whose rhythm recurs within them."""
    rhythms = bar_rhythms(notes, bars, beats_per_bar)
    counted = [i for i in range(bars - window) if rhythms[i] is not None]
    if not counted:
        return None
    back = sum(1 for i in counted if any(rhythms[j] == rhythms[i] for j in range(i + 1, i + window + 1)))
    return back / len(counted)


# --- harmony ------------------------------------------------------------------------------------


def own_tones(symbol: str) -> frozenset[int]:
    """Pitch classes of a chord symbol's root, third (or sus tone), fifth and seventh."""
    chord = theory.parse_chord(symbol)
    return frozenset(
        (chord.root + i) % 12 for i in chord.intervals if theory.tone_role(i, chord.intervals) in OWN_ROLES
    )


def own_chord_tone_share(notes, chords) -> float | None:
    """Of the melody time under a chord, the share on the chord's own tones (module doc)."""
    return measures.chord_tone_share(notes, chords, own_tones)


def root_moves(chords) -> list[tuple[float, int, int]]:
    """(start of the new chord, root before, root after) for every change of root, in time order."""
    moves, previous = [], None
    for chord in sorted(chords, key=lambda c: c.start):
        if chord.duration <= 0:
            continue
        root = theory.parse_chord(chord.symbol).root
        if previous is not None and root != previous:
            moves.append((chord.start, previous, root))
        previous = root
    return moves


def fifth_motion_share(chords, bars: int, beats_per_bar: float, window: int = FIFTH_WINDOW) -> float | None:
    """Share of whole `window`-bar windows (holding a chord) with a root move down a fifth."""
    moves = root_moves(chords)
    span = window * beats_per_bar
    counted = down = 0
    for w in range(bars // window):
        lo, hi = w * span, (w + 1) * span
        if not any(c.start < hi - 1e-9 and c.end > lo + 1e-9 for c in chords):
            continue
        counted += 1
        if any(lo - 1e-9 <= at < hi - 1e-9 and (before - after) % 12 == 7 for at, before, after in moves):
            down += 1
    return down / counted if counted else None


# --- phrases and form ---------------------------------------------------------------------------


def _onsets(notes, start_beat: float, beats: float) -> set[tuple[int, int]]:
    return {
        (_cell(n.start - start_beat), n.pitch)
        for n in notes
        if start_beat - 1e-6 <= n.start < start_beat + beats - 1e-6 and n.duration > 0
    }


def phrase_similarity(notes, a: Phrase, b: Phrase, beats_per_bar: float) -> float | None:
    """Dice overlap of two phrases' (cell, pitch) onsets over the shorter one's bars; None when
    neither has a note there."""
    beats = min(a.bars, b.bars) * beats_per_bar
    x = _onsets(notes, a.start_bar * beats_per_bar, beats)
    y = _onsets(notes, b.start_bar * beats_per_bar, beats)
    if not x and not y:
        return None
    return 2 * len(x & y) / (len(x) + len(y))


def melodic(phrases) -> list[Phrase]:
    return [p for p in phrases if p.letter.isupper()]


def restated_similarity(notes, phrases, beats_per_bar: float) -> float | None:
    """Mean similarity of every later melodic phrase to the first phrase of its letter."""
    first: dict[str, Phrase] = {}
    values = []
    for phrase in melodic(phrases):
        if phrase.letter in first:
            value = phrase_similarity(notes, first[phrase.letter], phrase, beats_per_bar)
            if value is not None:
                values.append(value)
        else:
            first[phrase.letter] = phrase
    return sum(values) / len(values) if values else None


def contrast(notes, phrases, beats_per_bar: float) -> float | None:
    """Mean similarity between the first phrases of different melodic letters (low: they contrast)."""
    firsts: dict[str, Phrase] = {}
    for phrase in melodic(phrases):
        firsts.setdefault(phrase.letter, phrase)
    heads = list(firsts.values())
    values = [
        v
        for i, a in enumerate(heads)
        for b in heads[i + 1 :]
        if (v := phrase_similarity(notes, a, b, beats_per_bar)) is not None
    ]
    return sum(values) / len(values) if values else None


def parse_form(text: str) -> list[Phrase]:
    """'i4A8B8A8o4' → Phrases, bars counted on from 0; a ValueError names what does not parse."""
    phrases, at, pos = [], 0, 0
    for match in PHRASE_TOKEN.finditer(text):
        if match.start() != pos:
            break
        bars = int(match[2])
        phrases.append(Phrase(match[1], at, bars))
        at += bars
        pos = match.end()
    if pos != len(text) or not phrases:
        raise ValueError(f"form {text!r} is not letters each followed by a number of bars, e.g. i4A8B8A8o4")
    return phrases


def form_skeleton(phrases) -> str:
    """Letters in order, runs of one letter merged, renamed by first appearance (capitals A, B, ...;
    instrumental a, b, ...; i and o kept): the shape of a form, not its names or lengths."""
    names: dict[str, str] = {}
    out: list[str] = []
    for p in phrases:
        letter = p.letter
        if letter not in ("i", "o"):
            if letter not in names:
                upper = letter.isupper()
                n = sum(1 for k in names if k.isupper() == upper and k not in ("i", "o"))
                names[letter] = chr((ord("A") if upper else ord("a")) + n)
            letter = names[letter]
        if not out or out[-1] != letter:
            out.append(letter)
    return "".join(out)


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def form_similarity(a: str, b: str) -> float:
    """1 − edit distance / longer length, between two skeletons (form_skeleton)."""
    longest = max(len(a), len(b))
    return 1.0 - edit_distance(a, b) / longest if longest else 1.0


def restated_share(phrases) -> float | None:
    """Share of melodic phrases (runs merged) whose letter came before: how much of a form returns."""
    skeleton = [c for c in form_skeleton(phrases) if c.isupper()]
    if not skeleton:
        return None
    return sum(1 for i, c in enumerate(skeleton) if c in skeleton[:i]) / len(skeleton)


# --- the sections of a built track --------------------------------------------------------------


def section_letter_names(sections) -> list[str]:
    """Recipe sections (name, repeat) → the name of what each restates: a `repeat:` section its
    source's, else its own name without trailing digits or primes (A2, A' → A)."""
    by_name: dict[str, str] = {}
    out = []
    for name, repeat in sections:
        base = by_name.get(repeat, repeat) if repeat else re.sub(r"[\d'′]+$", "", name) or name
        by_name[name] = base
        out.append(base)
    return out


def built_phrases(sections, melody_notes, beats_per_bar: float) -> list[Phrase]:
    """(name, repeat, start_bar, bars) per section → Phrases: sections with melody get capital
    letters by first appearance of what they restate; those without are i before the first melodic
    section, o after the last, else lower-case letters."""
    sections = list(sections)
    names = section_letter_names([(name, repeat) for name, repeat, _, _ in sections])
    has_melody = [
        any(start * beats_per_bar - 1e-6 <= n.start < (start + bars) * beats_per_bar - 1e-6 for n in melody_notes)
        for _, _, start, bars in sections
    ]
    voiced = [i for i, m in enumerate(has_melody) if m]
    letters: dict[tuple[bool, str], str] = {}
    phrases = []
    for i, ((_, _, start, bars), base) in enumerate(zip(sections, names)):
        if not has_melody[i] and (not voiced or i < voiced[0]):
            letter = "i"
        elif not has_melody[i] and i > voiced[-1]:
            letter = "o"
        else:
            key = (has_melody[i], base)
            if key not in letters:
                n = sum(1 for k in letters if k[0] == has_melody[i])
                letters[key] = chr((ord("A") if has_melody[i] else ord("a")) + n)
            letter = letters[key]
        phrases.append(Phrase(letter, start, bars))
    return phrases


def grid_melody(text: str) -> list[Note]:
    """'61:1 63:1 0:4 ...' (pitch:16ths, pitch 0 a rest) → Notes in beats from 0."""
    notes, at = [], 0
    for item in text.split():
        pitch, _, length = item.partition(":")
        p, n = int(pitch), int(length)
        if p > 0 and n > 0:
            notes.append(Note(at / CELLS_PER_BEAT, n / CELLS_PER_BEAT, p, 80))
        at += n
    return notes


def chord_events(pairs) -> list[ChordEvent]:
    """[(symbol, beats), ...] one after another from beat 0 (for tests and hand-made inputs)."""
    out, at = [], 0.0
    for symbol, beats in pairs:
        out.append(ChordEvent(at, beats, symbol))
        at += beats
    return out
