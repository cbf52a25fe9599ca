"""The arrangement: the recipe's sections laid out in time, its tempo map, and long tracks.

A section plays its own material, or an earlier section's (`repeat`). With a `length` longer
than the written sections, the arrangement is played again to fill it, as a band takes another
chorus: a first section named intro and a last one named outro (or ending, end, coda) play
once, the sections between them repeat in order, and the last pass stops at the first section
boundary that reaches the length. A later pass keeps each section's chords (the song stays the
song) and takes new melody, bass and drum variations: each pass is a *take*, and the seeds of a
take after the first are derived from its number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lofictl.compose.score import TempoMap
from lofictl.recipe.schema import MAX_BARS, Recipe, Section

EPS = 1e-9
INTRO_NAMES = ("intro",)
OUTRO_NAMES = ("outro", "ending", "end", "coda")


@dataclass(frozen=True)
class Block:
    """One section laid out in time, with the name of the material it plays."""

    name: str
    start_bar: int
    bars: int
    tracks: tuple[str, ...]
    material: str  # the section whose notes this one plays (itself unless it repeats)
    variation: int | None  # the section's own seed, if it asks for a variation
    tempo: float | None = None  # the section's own tempo, if it sets one
    ramp: bool = False  # reach `tempo` gradually across the section
    take: int = 1  # the pass through the arrangement: 2, 3, ... fill a length
    loop: int | str | None = None  # the section's chord loop (bars or "through"), if it sets one


def arrangement(recipe: Recipe) -> list[Block]:
    if not recipe.sections:
        return [Block("main", 0, recipe.total_bars, tuple(recipe.tracks), "main", None)]
    return _blocks(recipe, planned_sections(recipe))


def _blocks(recipe: Recipe, plan: list[tuple[Section, int]]) -> list[Block]:
    everything = tuple(recipe.tracks)
    blocks: list[Block] = []
    by_name: dict[tuple[str, int], Block] = {}  # (section, take): a repeat looks in its own take
    start = 0
    for section, take in plan:
        original = by_name.get((section.repeat, take)) if section.repeat else None
        tracks = tuple(section.tracks) if section.tracks is not None else (original.tracks if original else everything)
        material = original.material if original else section.name
        variation = section.seed if section.seed is not None else (original.variation if original else None)
        loop = original.loop if original else section.loop
        name = section.name if take == 1 else f"{section.name} ({take})"
        block = Block(name, start, section.bars, tracks, material, variation, section.tempo, section.ramp, take, loop)
        blocks.append(block)
        by_name[(section.name, take)] = block
        start += section.bars
    return blocks


def split_form(sections: list[Section]) -> tuple[list[Section], list[Section], list[Section]]:
    """(intro, body, outro): the sections that play once at either end, and those that repeat."""
    intro = sections[:1] if len(sections) > 1 and sections[0].name.lower().startswith(INTRO_NAMES) else []
    rest = sections[len(intro) :]
    outro = rest[-1:] if len(rest) > 1 and rest[-1].name.lower().startswith(OUTRO_NAMES) else []
    return intro, rest[: len(rest) - len(outro)], outro


def planned_sections(recipe: Recipe) -> list[tuple[Section, int]]:
    """(section, take) in playing order: the written sections, filled out to `length` if given."""
    sections = list(recipe.sections or [])
    written = [(section, 1) for section in sections]
    if recipe.length is None or not sections or reaches(recipe, written):
        return written
    intro, body, outro = split_form(sections)
    opening = [(section, 1) for section in intro]
    closing = [(section, 1) for section in outro]

    def plan(count: int) -> list[tuple[Section, int]]:  # the first `count` body sections, pass by pass
        return opening + [(body[i % len(body)], 1 + i // len(body)) for i in range(count)] + closing

    # The length grows with every section added: find the fewest that reach it, by bisection
    # (each try measures the whole plan, so a five-hour piece stays quick).
    most = max(len(body), MAX_BARS // max(1, min(s.bars for s in body)) + 1)
    low, high = len(body), len(body)
    while not reaches(recipe, plan(high)) and high < most:
        low, high = high, min(most, high * 2)
    while low < high:
        middle = (low + high) // 2
        if reaches(recipe, plan(middle)):
            high = middle
        else:
            low = middle + 1
    return plan(high)


def reaches(recipe: Recipe, plan: list[tuple[Section, int]]) -> bool:
    """Whether the planned sections last as long as the recipe's `length`."""
    if recipe.length.bars is not None:
        return sum(section.bars for section, _ in plan) >= recipe.length.bars
    return plan_seconds(recipe, plan) >= recipe.length.seconds - 1e-6


def plan_seconds(recipe: Recipe, plan: list[tuple[Section, int]]) -> float:
    """How long the planned sections last, at their tempos."""
    blocks = _blocks(recipe, plan)
    initial, changes = tempo_plan(recipe, blocks)
    timing = TempoMap(((0.0, 60.0 / initial),) + tuple((beat, 60.0 / bpm) for beat, bpm in changes))
    return timing.seconds(sum(block.bars for block in blocks) * recipe.beats_per_bar)


def tempo_plan(recipe: Recipe, blocks: list[Block]) -> tuple[float, tuple[tuple[float, float], ...]]:
    """(tempo at the start, (beat, BPM) changes after it) from the sections' tempos and ramps.

    A tempo holds until a section sets another; a ramp moves there one beat at a time, each beat
    at the tempo it arrives at, so its last beat is at the section's tempo.
    """
    bpb = recipe.beats_per_bar
    current = recipe.tempo
    points: list[tuple[float, float]] = [(0.0, recipe.tempo)]
    for block in blocks:
        if block.tempo is None:
            continue
        start = block.start_bar * bpb
        if block.ramp:
            span = block.bars * bpb
            steps = max(1, int(np.ceil(span - EPS)))
            for step in range(steps):
                points.append((start + step, round(current + (block.tempo - current) * (step + 1) / steps, 3)))
        else:
            points.append((start, block.tempo))
        current = block.tempo
    merged: dict[float, float] = {}
    for beat, bpm in points:  # a later point at the same beat wins
        merged[round(beat, 6)] = float(bpm)
    changes: list[tuple[float, float]] = []
    initial = merged.pop(0.0)
    previous = initial
    for beat in sorted(merged):
        if merged[beat] != previous:
            changes.append((beat, merged[beat]))
            previous = merged[beat]
    return initial, tuple(changes)
