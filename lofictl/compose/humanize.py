"""Humanize pitched parts: a player's timing and touch on melody, chords, bass and clips.

Drums have their own humanize in drums.py (on the step grid). Here the notes of one section's
material are moved as a player would: each *hit* (a melody or bass note, or a whole chord,
whose notes move together) by a gaussian number of milliseconds, turned into beats at the
section's tempo; each note's velocity by a gaussian spread. The random numbers come from a
stream named by the part, the track and the material, drawn in time order, so a repeat of a
section is humanized exactly as its original, and changing the spread changes how far notes
move, not which way.

A chord's notes can also be rolled: `strum_ms` spreads them from the lowest to the highest.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lofictl.compose.score import Note
from lofictl.seeds import rng

MAX_SIGMAS = 2.5  # a note moves at most this many standard deviations...
MAX_SHIFT_BEATS = 0.125  # ...and never more than a 32nd, so quick figures keep their order


def roll_offsets(
    voices: int, strum_ms: float | None, seconds_per_beat: float, default_beats: float = 0.015
) -> list[float]:
    """Start offsets (beats) of a chord's notes, lowest first: `strum_ms` from lowest to highest,
    or `default_beats` a voice (a soft roll) when it is not given."""
    if strum_ms is None:
        return [default_beats * voice for voice in range(voices)]
    if voices < 2:
        return [0.0] * voices
    total = strum_ms / 1000.0 / seconds_per_beat
    return [total * voice / (voices - 1) for voice in range(voices)]


def humanize_hits(
    hits: Sequence[Sequence[Note]],
    timing_ms: float,
    velocity: int,
    seed: int,
    seconds_per_beat: float,
    *,
    start: float,
    end: float,
    names: Sequence[str | int],
) -> list[Note]:
    """The notes of `hits` (groups that move together), moved and re-voiced, inside [start, end).

    `names` name the random stream (part, track, material...). A hit never moves before
    `start` (a downbeat stays in its section) nor to or past `end`.
    """
    ordered = sorted((list(hit) for hit in hits if hit), key=lambda hit: (min(n.start for n in hit), hit))
    count = sum(len(hit) for hit in ordered)
    generator = rng(seed, "humanize", *names)
    # The same numbers are drawn whatever the spreads, so they scale the moves, not pick them.
    timing_z = generator.normal(0.0, 1.0, len(ordered))
    velocity_z = generator.normal(0.0, 1.0, count)
    sigma = timing_ms / 1000.0 / seconds_per_beat
    limit = min(MAX_SIGMAS * sigma, MAX_SHIFT_BEATS)
    out: list[Note] = []
    index = 0
    for hit, z in zip(ordered, timing_z):
        shift = float(np.clip(z * sigma, -limit, limit))
        first = min(n.start for n in hit)
        shift = max(shift, start - first)  # not before the section
        for note in hit:
            moved = min(note.start + shift, end - 0.01)
            spread = int(np.clip(np.rint(velocity_z[index] * velocity / 2.0), -velocity, velocity))
            index += 1
            out.append(
                note.copy(start=round(max(moved, start), 6), velocity=int(min(127, max(1, note.velocity + spread))))
            )
    return out


def perform(
    notes: Sequence[Note],
    spans: Sequence[tuple[float, float, float, tuple]],
    timing_ms: float,
    velocity: int,
    seed: int,
    names: Sequence[str | int],
    *,
    strum_ms: float | None = None,
    roll: bool = False,
) -> list[Note]:
    """Humanize a part section by section (after swing, so swing sees the written grid).

    `spans` are (start, end, seconds per beat, material names) per section. Notes starting at
    the same beat are one hit; with `roll`, a hit's notes are spread lowest first by
    `strum_ms` (or the soft default roll), each keeping its end.
    """
    out: list[Note] = []
    for start, end, seconds_per_beat, material in spans:
        inside = [n for n in notes if start - 1e-9 <= n.start < end - 1e-9]
        by_start: dict[float, list[Note]] = {}
        for note in inside:
            by_start.setdefault(note.start, []).append(note)
        hits = []
        for onset in sorted(by_start):
            hit = sorted(by_start[onset], key=lambda n: n.pitch)
            if roll and len(hit) > 1:
                offsets = roll_offsets(len(hit), strum_ms, seconds_per_beat)
                hit = [
                    n.copy(start=round(n.start + o, 6), duration=round(max(0.05, n.duration - o), 6))
                    for n, o in zip(hit, offsets)
                ]
            hits.append(hit)
        if timing_ms <= 0 and velocity <= 0:
            out.extend(n for hit in hits for n in hit)
        else:
            out.extend(
                humanize_hits(
                    hits, timing_ms, velocity, seed, seconds_per_beat, start=start, end=end, names=(*names, *material)
                )
            )
    return out
