"""Register: the keys under the melody.

A chord voiced on its own sits where voice leading takes it, and a Rhodes top voice at D5 over a
melody around C4–A4 buries the tune: the ear follows the highest line. Once the melody is known,
each chord the keys strike is re-voiced, if it has to be, so that every note is under the lowest
melody note sounding with it. Only octaves move: the chord's pitch classes and its voice count
stay as composed. Among the ways to do that, the one chosen keeps the chord's lowest pitch class
at the bottom (an extension there reads as another chord), avoids semitones between neighbouring
voices (they smear on an electric piano) and moves as few voices as it can; a chord already under
the melody is left alone, so the voice leading changes only where the melody asks.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

from lofictl.compose.score import Note

FLOOR = 41  # F2: a chord note dropped under this would sit in the bass's octave and muddy it
OVERLAP = 0.05  # beats: a melody note must overlap a chord note by more than this to count
STRIKE = 0.25  # beats: notes starting this close together (a rolled chord) are one strike
MAX_OCTAVES = 3  # the furthest a voice moves down
MUDDY = 48  # C3: a voice moved under this thickens the bass's register
MAX_VOICINGS = 4096  # voicings weighed for one strike; a bigger cluster is placed voice by voice
LIFT_GAP = 5  # semitones the melody's middle should sit over the keys' top line, or it goes up an octave
LIFT_CEILING = 96  # C7: a lifted melody goes no higher


def under_melody(notes: Sequence[Note], melody: Sequence[Note], floor: int = FLOOR) -> list[Note]:
    """`notes` re-voiced, strike by strike, so none sounds at or above a melody note playing
    with it. Voices move down by whole octaves, not under `floor` and not onto a pitch the part
    already plays at that moment; a voice that cannot fit under the melody stays where it was."""
    tune = sorted(melody)
    starts = [n.start for n in tune]
    longest = max((n.duration for n in tune), default=0.0)
    placed = sorted(notes)
    out: list[Note] = []
    for first, last in _strikes(placed):
        strike = placed[first:last]
        ceilings = [_lowest_sounding(tune, starts, longest, n.start, n.end) for n in strike]
        known = [c for c in ceilings if c is not None]
        if not known or max(n.pitch for n in strike) < min(known):
            out.extend(strike)
            continue
        others = [n for n in out[-64:] if n.end > strike[0].start + 1e-6]
        others += [n for n in placed[last : last + 64] if n.start < max(n.end for n in strike) - 1e-6]
        pitches = _revoice([n.pitch for n in strike], min(known), floor, {n.pitch for n in others})
        out.extend(n.copy(pitch=p) for n, p in zip(strike, pitches))
    return sorted(out)


def melody_lift(melody: Sequence[Note], keys: Sequence[Note]) -> int:
    """Semitones to move a melody up (0 or 12): an octave when its middle (the median pitch,
    weighted by time) is not a few semitones over the keys' top line (the median of each strike's
    highest note), as long as it stays under C7. Keys voiced around C4 and a tune around G4 fight
    for the same octave; dropping every chord under such a tune would push it into the bass."""
    if not melody or not keys:
        return 0
    weighted = sorted((n.pitch, n.duration) for n in melody)
    half, seen, middle = sum(d for _, d in weighted) / 2, 0.0, weighted[-1][0]
    for pitch, duration in weighted:
        seen += duration
        if seen >= half:
            middle = pitch
            break
    placed = sorted(keys)
    tops = sorted(max(n.pitch for n in placed[a:b]) for a, b in _strikes(placed))
    top = tops[len(tops) // 2]
    if middle >= top + LIFT_GAP or max(n.pitch for n in melody) + 12 > LIFT_CEILING:
        return 0
    return 12


def _strikes(notes: list[Note]) -> list[tuple[int, int]]:
    """[first, last) index ranges of notes struck together (starts within STRIKE of the first)."""
    ranges = []
    first = 0
    for index in range(1, len(notes) + 1):
        if index == len(notes) or notes[index].start - notes[first].start > STRIKE:
            ranges.append((first, index))
            first = index
    return ranges


def _revoice(pitches: list[int], ceiling: int, floor: int, busy: set[int]) -> list[int]:
    """The strike's pitches, each moved down 0..MAX_OCTAVES octaves to be under `ceiling`; the
    cheapest such voicing (see the module's note)."""
    options: list[list[int]] = []
    for pitch in pitches:
        choices = [pitch - 12 * k for k in range(MAX_OCTAVES + 1)]
        choices = [p for p in choices if floor <= p < ceiling and (p == pitch or p not in busy)]
        options.append(choices or [pitch])  # a voice that cannot fit stays; the others still move
    bottom = min(pitches) % 12

    def cost(voicing: tuple[int, ...]) -> tuple[float, tuple[int, ...]]:
        ordered = sorted(voicing)
        rubs = sum(1 for a, b in zip(ordered, ordered[1:]) if b - a == 1)
        moved = sum(abs(a - b) // 12 for a, b in zip(voicing, pitches))
        new_bottom = ordered[0] % 12 != bottom
        gaps = sum(1 for a, b in zip(ordered, ordered[1:]) if b - a > 12)  # holes read as two parts
        muddy = sum(1 for p in voicing if p < MUDDY and p not in pitches)  # pushed down into the bass
        return (3.0 * rubs + 4.0 * new_bottom + 1.0 * moved + 2.0 * gaps + 2.0 * muddy, voicing)

    if math.prod(len(choices) for choices in options) > MAX_VOICINGS:  # a big cluster: each voice
        return _highest_free(options, pitches)  # its highest octave under the melody instead
    voicings: list[tuple[int, ...]] = [v for v in itertools.product(*options) if len(set(v)) == len(v)]
    if not voicings:
        return list(pitches)
    best = min(voicings, key=cost)
    return list(best)


def _highest_free(options: list[list[int]], pitches: list[int]) -> list[int]:
    """Each voice at its highest choice not taken by a voice before it (or where it was)."""
    taken: set[int] = set()
    out = []
    for choices, pitch in zip(options, pitches):
        free = [p for p in choices if p not in taken]
        out.append(free[0] if free else pitch)
        taken.add(out[-1])
    return out


def _lowest_sounding(tune: list[Note], starts: list[float], longest: float, start: float, end: float) -> int | None:
    """The lowest melody pitch overlapping [start, end) by more than OVERLAP beats, if any."""
    lowest = None
    first = bisect.bisect_left(starts, start - longest)
    last = bisect.bisect_left(starts, end)
    for note in tune[first:last]:
        if min(note.end, end) - max(note.start, start) > OVERLAP and (lowest is None or note.pitch < lowest):
            lowest = note.pitch
    return lowest


def under_melody_share(notes: Sequence[Note], melody: Sequence[Note]) -> float:
    """The share of the melody's time (its notes' durations) during which one of `notes`
    sounds above the melody note: 0 is a melody always on top."""
    total = covered = 0.0
    for tune_note in melody:
        total += tune_note.duration
        spans = sorted(
            (max(n.start, tune_note.start), min(n.end, tune_note.end))
            for n in notes
            if n.pitch > tune_note.pitch and n.start < tune_note.end and n.end > tune_note.start
        )
        edge = tune_note.start
        for a, b in spans:
            a = max(a, edge)
            if b > a:
                covered += b - a
                edge = b
    return covered / total if total else 0.0
