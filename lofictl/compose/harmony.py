"""Chords from notes: what a MIDI clip of your own plays, as symbols the band can follow.

A template matcher over the chord qualities the parser knows (theory.QUALITIES, so a quality
added there is found too). For each window (a bar, half a bar or a beat) the sounding pitch
classes are weighted by how long they sound; every root × quality is scored by the share of
that weight its tones explain, minus a penalty for each of its tones not heard (by the tone's
function: a missing 3rd or 7th costs more than a missing 5th), minus a little for each tone
(simpler chords win ties), plus a nudge when the bass note is the root. A bass note is a lowest note that stands apart
(an octave below the rest, or a fifth below them and under C3, or alone below G3): the lowest
note of a keyboard voicing (lofictl's own spread `lofi` voicings start on F3 with a 7th above)
is an inversion, not a bass line. A bass note that is another chord tone makes a slash chord
(C/E), so the bass track plays what the clip does.
A window with nothing sounding holds the chord before it; neighbours that agree are merged.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

from lofictl.compose import theory
from lofictl.compose.score import ChordEvent, Note

CHANGES = {"bar": 1.0, "half-bar": 0.5, "beat": None}  # window: bars (or a beat)
HEARD = 0.05  # a pitch class counts as heard from this share of the window's weight
MISSING = {
    "root": 0.2,
    "third": 0.2,
    "sus": 0.2,
    "seventh": 0.15,
    "sixth": 0.15,
    "altered fifth": 0.15,
    "fifth": 0.03,
    "named extension": 0.12,
    "extension": 0.04,
}  # the 9 under an 11 is optional
PER_TONE = 0.03
BASS_IS_ROOT = 0.12  # a bass note apart from the voicing names the root...
LOWEST_IS_ROOT = 0.04  # ...and, less surely, the bottom note of a voicing without one
SLASH = 0.05  # a chord over another of its tones is the less likely reading
IN_KEY = 0.02
HOLD = 0.04  # a window leans to the chord before it: fewer flickering changes
BASS_GAP = 7  # semitones between the lowest note and the next for it to be a bass line...
BASS_BELOW = 48  # ...when it is under C3; higher up only an octave's gap sets it apart
LOW_ALONE = 55  # a note sounding alone below G3 is a bass note


@lru_cache(maxsize=1)
def _templates() -> tuple[tuple[str, tuple[tuple[int, float], ...]], ...]:
    """(quality, ((interval mod 12, penalty if missing), ...)) once per distinct set of tones."""
    seen: set[frozenset[int]] = set()
    out = []
    for quality, intervals in theory.QUALITIES.items():
        tones = frozenset(i % 12 for i in intervals)
        if tones in seen:
            continue  # 'maj' is '', 'min' is 'm': the first spelling names it
        seen.add(tones)
        chord = theory.Chord(quality, 0, quality, intervals)
        roles = {interval % 12: MISSING[role] for interval, role in theory.chord_tones(chord)}
        out.append((quality, tuple(sorted(roles.items()))))
    return tuple(out)


def name_chord(
    weights: Sequence[float],
    bass_pc: int | None = None,
    key: theory.Key | None = None,
    previous: str | None = None,
    lowest_pc: int | None = None,
) -> str | None:
    """The chord symbol that best explains twelve pitch-class weights (None when silent).

    `bass_pc` is a bass note apart from the rest (it may make a slash chord); `lowest_pc` the
    bottom note when there is no such bass.
    """
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if total <= 0:
        return None
    w = w / total
    heard = w >= HEARD
    scale = set(key.scale) if key is not None else set()
    best: tuple[int, str, tuple[tuple[int, float], ...]] | None = None
    best_score = -math.inf
    for root in range(12):
        for quality, tones in _templates():
            covered, missing = 0.0, 0.0
            for interval, penalty in tones:
                pc = (root + interval) % 12
                covered += w[pc]
                missing += 0.0 if heard[pc] else penalty
            score = covered - missing - PER_TONE * len(tones) + (IN_KEY if root in scale else 0.0)
            if bass_pc is not None:
                score += BASS_IS_ROOT if bass_pc == root else -SLASH
            elif lowest_pc is not None and lowest_pc == root:
                score += LOWEST_IS_ROOT
            symbol = theory.NOTE_NAMES[root] + quality
            if previous is not None and symbol == previous.split("/")[0]:
                score += HOLD
            if score > best_score + 1e-12:
                best, best_score = (root, quality, tones), score
    assert best is not None  # every template scores above -inf
    root, quality, tones = best
    symbol = theory.NOTE_NAMES[root] + quality
    if (
        bass_pc is not None
        and bass_pc != root
        and heard[bass_pc]
        and any((root + interval) % 12 == bass_pc for interval, _ in tones)
    ):
        symbol += "/" + theory.NOTE_NAMES[bass_pc]
    return symbol


def detect_chords(
    notes: Sequence[Note], total_beats: float, beats_per_bar: float, changes: str = "bar", key: theory.Key | None = None
) -> list[ChordEvent]:
    """The chords of `notes`, one per window (see CHANGES), equal neighbours merged."""
    bars_per_window = CHANGES[changes]
    step = beats_per_bar * bars_per_window if bars_per_window is not None else 1.0
    n_windows = max(1, math.ceil(total_beats / step - 1e-9))
    weights = np.zeros((n_windows, 12))
    apart = np.zeros((n_windows, 128))  # time each pitch sounds as a bass note apart from the rest
    lowest = np.zeros((n_windows, 128))  # time each pitch is the lowest sounding
    for note in notes:
        first = max(0, int(note.start // step))
        last = min(n_windows, math.ceil(note.end / step - 1e-9))
        for window in range(first, last):
            overlap = min(note.end, (window + 1) * step) - max(note.start, window * step)
            if overlap > 1e-9:
                weights[window, note.pitch % 12] += overlap
    for window, (start, end) in enumerate((w * step, (w + 1) * step) for w in range(n_windows)):
        sounding = [n for n in notes if n.start < end - 1e-9 and n.end > start + 1e-9]
        for edge_start, edge_end in _slices(sounding, start, end):
            pitches = sorted({n.pitch for n in sounding if n.start < edge_end - 1e-9 and n.end > edge_start + 1e-9})
            if not pitches:
                continue
            lowest[window, pitches[0]] += edge_end - edge_start
            if _bass_apart(pitches):
                apart[window, pitches[0]] += edge_end - edge_start
    events: list[ChordEvent] = []
    previous = None
    for window in range(n_windows):
        bass = int(np.argmax(apart[window])) % 12 if apart[window].any() else None
        bottom = int(np.argmax(lowest[window])) % 12 if lowest[window].any() else None
        symbol = name_chord(weights[window], bass, key, previous, bottom) or previous
        start = window * step
        duration = min(step, total_beats - start)
        if symbol is None or duration <= 1e-9:
            continue
        if events and events[-1].symbol == symbol:
            events[-1] = ChordEvent(events[-1].start, round(events[-1].duration + duration, 6), symbol)
        else:
            events.append(ChordEvent(round(start, 6), round(duration, 6), symbol))
        previous = symbol
    if events and events[0].start > 0:  # silence at the start: the first chord takes it
        opening = events[0]
        events[0] = ChordEvent(0.0, round(opening.end, 6), opening.symbol)
    return events


def _bass_apart(pitches: list[int]) -> bool:
    """Whether the lowest of the sounding pitches (ascending) is a bass note, not a voicing's bottom."""
    if len(pitches) == 1:
        return pitches[0] < LOW_ALONE
    gap = pitches[1] - pitches[0]
    return gap >= 12 or (gap >= BASS_GAP and pitches[0] < BASS_BELOW)


def _slices(notes: Sequence[Note], start: float, end: float) -> list[tuple[float, float]]:
    """The window cut at every note start and end inside it."""
    edges = sorted(
        {start, end, *(n.start for n in notes if start < n.start < end), *(n.end for n in notes if start < n.end < end)}
    )
    return list(zip(edges, edges[1:]))
