"""Phrases around the melody model: a motif stated and developed, breaths, cadences, restatements.

The melody model writes bar after bar over the chords with no idea of a phrase, so its lines
are busy (six or seven notes a bar where people sing four or five), rarely breathe, lean on
the 9ths the voicing adds and seldom bring a rhythm back. These pure functions take the
model's notes for one section and build the phrase on them:

- `develop`: the first one or two bars are the *motif*; later bars of each four-bar phrase
  restate it (its rhythm, its pitches moved onto the new chord's tones: a sequence), vary its
  rhythm, or keep the model's own bar; the last bar of a phrase is a *cadence* (a long chord
  tone, then a breath). Notes on strong beats and long notes land on the chord's own tones.
- `restate`: a section whose phrase comes back plays it again with variation: the opening
  kept, an ornament or two, and a changed ending (new bars from another sample, another
  cadence note), so it sounds the same and is not a copy.

Measures of what these make (and of human melodies), used by tests and benchmarks:
`rhythm_repetition`, `phrase_similarity`, `core_tone_share`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np

from lofictl.compose import theory
from lofictl.compose.score import ChordEvent, Note
from lofictl.seeds import rng

CELL = 0.25  # the 16th-note grid, in beats
PHRASE_BARS = 4  # development and cadences work in four-bar phrases (most of POP909's)
CORE_ROLES = frozenset({"root", "third", "sus", "fifth", "altered fifth", "seventh", "sixth"})
EPS = 1e-6


# --- measures -----------------------------------------------------------------------------------


def core_tones(symbol: str) -> frozenset[int]:
    """The chord's own pitch classes: root, 3rd (or sus), 5th, 6th/7th; not its extensions."""
    chord = theory.parse_chord(symbol)
    return frozenset((chord.root + i) % 12 for i, role in theory.chord_tones(chord) if role in CORE_ROLES)


def core_tone_share(notes: Sequence[Note], chords: Sequence[ChordEvent]) -> float | None:
    """Of the melody time sounding under a chord, the share on the chord's own tones."""
    from lofictl.models import measures  # the measure's one walk (models imports compose, not back)

    return measures.chord_tone_share(notes, chords, core_tones)


def bar_rhythms(notes: Sequence[Note], bars: int, beats_per_bar: float) -> list[tuple[int, ...]]:
    """Each bar's onsets as 16th-grid positions within the bar."""
    cells = int(round(beats_per_bar / CELL))
    out: list[set[int]] = [set() for _ in range(bars)]
    for note in notes:
        cell = int(round(note.start / CELL))
        bar = cell // cells
        if 0 <= bar < bars:
            out[bar].add(cell % cells)
    return [tuple(sorted(onsets)) for onsets in out]


def rhythm_repetition(notes: Sequence[Note], bars: int, beats_per_bar: float, window: int = 7) -> float | None:
    """Share of bars with notes whose onset rhythm comes back exactly within the next `window` bars."""
    rhythms = bar_rhythms(notes, bars, beats_per_bar)
    played = [i for i, r in enumerate(rhythms) if r]
    if not played:
        return None
    back = sum(any(rhythms[j] == rhythms[i] for j in range(i + 1, min(bars, i + 1 + window))) for i in played)
    return back / len(played)


def phrase_similarity(a: Sequence[Note], b: Sequence[Note]) -> float | None:
    """Jaccard similarity of two phrases' (16th onset, pitch) events: 1 a copy, 0 nothing shared."""
    events_a = {(int(round(n.start / CELL)), n.pitch) for n in a}
    events_b = {(int(round(n.start / CELL)), n.pitch) for n in b}
    union = events_a | events_b
    return len(events_a & events_b) / len(union) if union else None


# --- building blocks ----------------------------------------------------------------------------


def _chord_at(chords: Sequence[ChordEvent], beat: float) -> ChordEvent | None:
    for chord in chords:
        if chord.start - EPS <= beat < chord.end - EPS:
            return chord
    return None


def _nearest(pitch: int, classes: Collection[int], low: int, high: int) -> int:
    """The pitch in [low, high] with a class in `classes` closest to `pitch` (ties go down)."""
    best = None
    for candidate in range(max(low, pitch - 12), min(high, pitch + 12) + 1):
        if candidate % 12 in classes and (best is None or abs(candidate - pitch) < abs(best - pitch)):
            best = candidate
    return best if best is not None else min(high, max(low, pitch))


def _strong(start: float, beats_per_bar: float) -> bool:
    """On a strong beat: the downbeat, or the bar's middle in an even meter."""
    offset = start % beats_per_bar
    middle = beats_per_bar / 2 if beats_per_bar % 2 == 0 else None
    return abs(offset) < EPS or (middle is not None and abs(offset - middle) < EPS)


def fit_to_chords(
    notes: Sequence[Note], chords: Sequence[ChordEvent], key: theory.Key, low: int, high: int, beats_per_bar: float
) -> list[Note]:
    """Notes on the downbeat onto the chord's own tones, the rest onto the scale."""
    out = []
    for note in notes:
        chord = _chord_at(chords, note.start)
        if chord is not None and abs(note.start % beats_per_bar) < EPS:
            pitch = _nearest(note.pitch, core_tones(chord.symbol), low, high)
        elif note.pitch % 12 in key.scale or (chord is not None and note.pitch % 12 in core_tones(chord.symbol)):
            pitch = note.pitch
        else:
            pitch = _nearest(note.pitch, key.scale, low, high)
        out.append(note.copy(pitch=pitch))
    return out


def thin(notes: Sequence[Note], bars: int, beats_per_bar: float, generator: np.random.Generator) -> list[Note]:
    """About 4.7 notes a bar, as POP909's sung melodies hold (the model writes 6-7): a busy bar loses its shortest off-beat notes, leaving rests
    (breaths), not longer notes."""
    by_bar: list[list[Note]] = [[] for _ in range(bars)]
    for note in notes:
        bar = int(math.floor(note.start / beats_per_bar + EPS))
        if 0 <= bar < bars:
            by_bar[bar].append(note)
    kept: list[Note] = []
    most = int(generator.integers(5, 8))  # at most 5..7 a bar: a mean near what people sing
    for bar_notes in by_bar:
        # the same rhythm thins the same way, so a rhythm that came back still does
        ranked = sorted(
            bar_notes,
            key=lambda n: (
                _strong(n.start, beats_per_bar),
                abs(n.start * 2 - round(n.start * 2)) < EPS,
                n.duration,
                n.start % beats_per_bar,
            ),
        )
        drop = {id(n) for n in ranked[: max(0, len(bar_notes) - most)]}
        kept.extend(n for n in bar_notes if id(n) not in drop)
    return sorted(kept, key=lambda n: n.start)


def _bar(notes: Sequence[Note], bar: int, beats_per_bar: float) -> list[Note]:
    start = bar * beats_per_bar
    return [
        n.copy(start=round(n.start - start, 6)) for n in notes if start - EPS <= n.start < start + beats_per_bar - EPS
    ]


def _place(notes: Sequence[Note], bar: int, beats_per_bar: float) -> list[Note]:
    """Bar-local notes moved to `bar`, each cut at the bar's end."""
    start = bar * beats_per_bar
    return [
        n.copy(start=round(n.start + start, 6), duration=round(min(n.duration, beats_per_bar - n.start), 6))
        for n in notes
        if n.start < beats_per_bar - EPS
    ]


def sequence(
    motif: Sequence[Note], chords: Sequence[ChordEvent], at_bar: int, key: theory.Key, low: int, high: int, bpb: float
) -> list[Note]:
    """The motif's rhythm and contour moved to `at_bar`: its first note onto the nearest chord tone
    there, the rest following by the same intervals, then fitted to the chords."""
    if not motif:
        return []
    placed = _place(motif, at_bar, bpb)
    chord = _chord_at(chords, placed[0].start)
    if chord is None:
        return placed
    shift = _nearest(placed[0].pitch, core_tones(chord.symbol), low, high) - placed[0].pitch
    moved = [n.copy(pitch=n.pitch + shift) for n in placed]
    if any(not low <= n.pitch <= high for n in moved):  # out of range: the octave that fits best
        middle = (low + high) / 2 - np.mean([n.pitch for n in moved])
        moved = [n.copy(pitch=int(min(high, max(low, n.pitch + 12 * round(middle / 12))))) for n in moved]
    return fit_to_chords(moved, chords, key, low, high, bpb)


def vary_rhythm(notes: Sequence[Note], generator: np.random.Generator, beats_per_bar: float) -> list[Note]:
    """The same bar with one rhythmic change: a long note split in two, or two notes joined."""
    notes = list(notes)
    longs = [i for i, n in enumerate(notes) if n.duration >= 1.0 - EPS]
    if longs and (len(notes) < 3 or generator.random() < 0.5):
        i = longs[int(generator.integers(len(longs)))]
        n = notes[i]
        half = round(n.duration / 2 / CELL) * CELL
        step = 1 if generator.random() < 0.5 else -1  # a neighbour note: the ornament people sing
        notes[i : i + 1] = [n.copy(duration=half), n.copy(start=n.start + half, duration=n.duration - half)]
        notes[i] = notes[i].copy(pitch=n.pitch + step * 2)
    elif len(notes) >= 2:
        i = int(generator.integers(len(notes) - 1))
        a, b = notes[i], notes[i + 1]
        notes[i : i + 2] = [a.copy(duration=min(b.end - a.start, beats_per_bar - a.start))]
    return notes


def cadence(
    notes: Sequence[Note],
    chords: Sequence[ChordEvent],
    bar: int,
    key: theory.Key,
    low: int,
    high: int,
    bpb: float,
    generator: np.random.Generator,
) -> list[Note]:
    """The phrase's last bar: its first notes, then a long chord tone (root or 3rd), then a breath."""
    local = _bar(notes, bar, bpb)
    chord = _chord_at(chords, bar * bpb)
    lead = [n for n in local if n.start < bpb / 2 - EPS][:2]
    land = lead[-1].end if lead else 0.0
    land = min(bpb / 2, math.ceil(land / 0.5 - EPS) * 0.5)
    previous = lead[-1].pitch if lead else (local[0].pitch if local else (low + high) // 2)
    if chord is None:
        return _place(lead, bar, bpb)
    parsed = theory.parse_chord(chord.symbol)
    third = next((i for i in parsed.intervals if i in (3, 4)), 7)
    goal = (parsed.root, (parsed.root + third) % 12)[int(generator.random() < 0.4)]
    pitch = _nearest(previous, (goal,), low, high)
    length = bpb - land - (1.0 if generator.random() < 0.6 else 0.5)  # a beat or half a beat to breathe
    velocity = lead[-1].velocity if lead else 80
    held = Note(land, max(0.5, round(length, 6)), pitch, velocity)
    return _place([n.copy(duration=min(n.duration, land - n.start)) for n in lead] + [held], bar, bpb)


# --- a section's melody -------------------------------------------------------------------------

# Plans for a four-bar phrase, one drawn per phrase: what each bar plays. "motif" restates the
# motif's bar at that place (sequenced onto the chords), "varied" the same with a rhythmic change,
# "model" keeps the model's bar, "cadence" closes the phrase. The section's first bars state the
# motif itself.
PLANS_TWO_BAR = (
    ("motif", "motif", "model", "cadence"),
    ("motif", "motif", "varied", "cadence"),
    ("motif", "varied", "model", "cadence"),
)
PLANS_ONE_BAR = (
    ("motif", "motif", "model", "cadence"),
    ("motif", "model", "motif", "cadence"),
    ("motif", "varied", "motif", "cadence"),
)


def develop(
    notes: Sequence[Note],
    chords: Sequence[ChordEvent],
    bars: int,
    key: theory.Key,
    low: int,
    high: int,
    beats_per_bar: float,
    seed: int,
) -> list[Note]:
    """A section's melody built on the model's notes: a motif of one or two bars stated at the
    start, developed through each four-bar phrase, each phrase ending on a cadence and a breath."""
    if bars < 2 or not notes:
        return list(notes)
    generator = rng(seed, "phrase", "develop")
    bpb = beats_per_bar
    base = fit_to_chords(thin(notes, bars, bpb, rng(seed, "phrase", "thin")), chords, key, low, high, bpb)
    motif_bars = 2 if bars >= 4 and generator.random() < 0.6 else 1
    motif = [_bar(base, b, bpb) for b in range(motif_bars)]
    if not any(motif):
        return base
    plans = PLANS_TWO_BAR if motif_bars == 2 else PLANS_ONE_BAR
    out: list[Note] = []
    for bar in range(bars):
        phrase, in_phrase = divmod(bar, PHRASE_BARS)
        plan = plans[int(rng(seed, "phrase", "plan", phrase).integers(len(plans)))]
        if phrase == 0 and bar < motif_bars:
            role = "model"  # the statement itself
        elif in_phrase == PHRASE_BARS - 1 or bar == bars - 1:
            role = "cadence"
        else:
            role = plan[in_phrase]
        source = motif[in_phrase % motif_bars]
        if role == "motif" and source:
            out.extend(sequence(source, chords, bar, key, low, high, bpb))
        elif role == "varied" and source:
            varied = vary_rhythm(source, rng(seed, "phrase", "vary", bar), bpb)
            out.extend(sequence(varied, chords, bar, key, low, high, bpb))
        elif role == "cadence":
            out.extend(cadence(base, chords, bar, key, low, high, bpb, rng(seed, "phrase", "cadence", bar)))
        else:
            out.extend(_place(_bar(base, bar, bpb), bar, bpb))
    return _tidy(out, bars * bpb)


def restate(
    original: Sequence[Note],
    fresh: Sequence[Note],
    chords: Sequence[ChordEvent],
    bars: int,
    key: theory.Key,
    low: int,
    high: int,
    beats_per_bar: float,
    seed: int,
) -> list[Note]:
    """A phrase coming back, varied as people vary one (POP909: the opening half restated nearly
    as it was, the last bar most often changed): its bars as they were with an ornament here and
    there, an inner phrase's cadence landing on another chord tone, and a changed ending (its
    last two bars from `fresh`, another developed sample over the same chords)."""
    bpb = beats_per_bar
    out: list[Note] = []
    ending = bars - 2 if bars >= PHRASE_BARS else bars - 1
    for bar in range(bars):
        generator = rng(seed, "phrase", "restate", bar)
        if bar >= ending:
            out.extend(_place(_bar(fresh, bar, bpb), bar, bpb))
            continue
        kept = _bar(original, bar, bpb)
        if kept and bar % PHRASE_BARS == PHRASE_BARS - 1:  # an inner cadence, on another tone
            kept = _other_cadence(kept, chords, bar * bpb, low, high)
        elif kept and generator.random() < ORNAMENT_SHARE:
            kept = vary_rhythm(kept, generator, bpb)
        out.extend(fit_to_chords(_place(kept, bar, bpb), chords, key, low, high, bpb))
    return _tidy(out, bars * bpb)


ORNAMENT_SHARE = 0.3  # of the restated bars, those that take an ornament


def _other_cadence(bar_notes: list[Note], chords: Sequence[ChordEvent], at: float, low: int, high: int) -> list[Note]:
    """The bar with its last note moved to the nearest other tone of the chord it lands on."""
    last = bar_notes[-1]
    chord = _chord_at(chords, at + last.start)
    if chord is None:
        return bar_notes
    others = core_tones(chord.symbol) - {last.pitch % 12}
    return bar_notes[:-1] + [last.copy(pitch=_nearest(last.pitch, others, low, high))] if others else bar_notes


def _tidy(notes: Sequence[Note], total: float) -> list[Note]:
    """Sorted, one note at a time (each cut at the next onset), inside [0, total), grid-rounded."""
    ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
    out: list[Note] = []
    for note in ordered:
        if out and abs(out[-1].start - note.start) < EPS:
            continue  # one voice: the first at an onset wins
        if note.start >= total - EPS:
            continue
        out.append(note)
    tidy = []
    for i, note in enumerate(out):
        end = min(note.end, out[i + 1].start if i + 1 < len(out) else total, total)
        if end - note.start > EPS:
            tidy.append(note.copy(start=round(note.start, 6), duration=round(end - note.start, 6)))
    return tidy
