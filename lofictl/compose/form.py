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

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lofictl.compose.score import TempoMap
from lofictl.errors import LofictlError
from lofictl.recipe.limits import MAX_BARS
from lofictl.seeds import rng

if TYPE_CHECKING:  # read, never built here: recipe.schema itself plans its sections with this module
    from lofictl.recipe.schema import Recipe, Section

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


def section_blocks(recipe: Recipe, plan: list[tuple[Section, int]]) -> list[Block]:
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
    length = recipe.length
    assert length is not None  # planned_sections fills out a length only
    if length.bars is not None:
        return sum(section.bars for section, _ in plan) >= length.bars
    assert length.seconds is not None  # a Length is bars or seconds
    return plan_seconds(recipe, plan) >= length.seconds - 1e-6


def plan_seconds(recipe: Recipe, plan: list[tuple[Section, int]]) -> float:
    """How long the planned sections last, at their tempos."""
    blocks = section_blocks(recipe, plan)
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


# --- song form: `form: i4A8B8A8o4` and forms sampled from POP909's labelled songs -------------

MIN_FORM_BARS = 16  # shorter than this, a length plays one phrase through
FORMS_FILE = Path(__file__).resolve().parents[2] / "data" / "pop909-structure" / "forms.json"
FORMS_FORMAT = "lofictl-pop909-forms"
MAX_PHRASE_BARS = 64
PHRASE_TOKEN = re.compile(r"([A-Za-z])(\d+)")  # a letter and its bars: `A8`
INSTRUMENTAL_NAMES = {"i": "intro", "o": "outro"}


@dataclass(frozen=True)
class Phrase:
    """One phrase of a form: its letter (the same letter comes back) and its length in bars."""

    letter: str
    bars: int

    @property
    def melodic(self) -> bool:
        """Capital letters carry the melody; lowercase ones (i, o, b, x, ...) are instrumental."""
        return self.letter.isupper()


def parse_form(text: str) -> list[Phrase]:
    """'i4A8B8A8o4' → phrases; a ValueError that says what is wrong and where otherwise."""
    compact = re.sub(r"\s+", "", str(text))
    if not compact:
        raise ValueError("a form is letters with bar counts, like i4A8B8A8B8o4")
    phrases: list[Phrase] = []
    position = 0
    for match in PHRASE_TOKEN.finditer(compact):
        if match.start() != position:
            break
        phrases.append(Phrase(match[1], int(match[2])))
        position = match.end()
    if position != len(compact):
        bad = compact[position:]
        hint = "a letter needs a bar count after it" if bad[0].isalpha() else "a bar count needs a letter before it"
        raise ValueError(
            f"cannot read {bad!r} at character {position + 1} of {compact!r}: {hint} "
            "(a form is letters with bar counts, like i4A8B8A8B8o4)"
        )
    lengths: dict[str, int] = {}
    for index, phrase in enumerate(phrases):
        if not 1 <= phrase.bars <= MAX_PHRASE_BARS:
            raise ValueError(f"phrase {phrase.letter}{phrase.bars}: a phrase lasts 1 to {MAX_PHRASE_BARS} bars")
        if phrase.letter == "i" and index != 0:
            raise ValueError(f"the intro (i) comes first, not as phrase {index + 1}")
        if phrase.letter == "o" and index != len(phrases) - 1:
            raise ValueError(f"the outro (o) comes last, not as phrase {index + 1}")
        first = lengths.setdefault(phrase.letter, phrase.bars)
        if phrase.bars != first:
            raise ValueError(
                f"{phrase.letter} comes back with {phrase.bars} bars but first had {first}; "
                "a phrase that comes back keeps its length (use another letter for a new phrase)"
            )
    if not any(phrase.melodic for phrase in phrases):
        raise ValueError(f"{compact!r} has no melodic phrase (capital letters carry the melody; i, o, b, x do not)")
    return phrases


def form_text(phrases: list[Phrase]) -> str:
    return "".join(f"{p.letter}{p.bars}" for p in phrases)


def form_sections(phrases: list[Phrase], parts: dict[str, str]) -> list[dict]:
    """The sections a form stands for, as recipe data: a letter's first phrase is its material,
    each return a `repeat` of it (restated with variation); instrumental phrases leave the melody
    tracks out. `parts`: track name → part."""
    instrumental = [name for name, part in parts.items() if part != "melody"]
    seen: dict[str, int] = {}
    sections = []
    for phrase in phrases:
        name = INSTRUMENTAL_NAMES.get(phrase.letter, phrase.letter)
        count = seen.get(phrase.letter, 0) + 1
        seen[phrase.letter] = count
        section: dict = {"name": name if count == 1 else f"{name}{count}", "bars": phrase.bars}
        if count > 1:
            section["repeat"] = name
        if not phrase.melodic:
            section["tracks"] = instrumental
        sections.append(section)
    return sections


@functools.lru_cache(maxsize=1)
def form_table(path: Path = FORMS_FILE) -> tuple[tuple[str, int], ...]:
    """(form, songs) from data/pop909-structure/forms.json (`lofictl train pop909-forms`)."""
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMS_FORMAT:
            raise ValueError(f"not a {FORMS_FORMAT} file")
        return tuple((str(form), int(count)) for form, count in data["forms"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LofictlError(
            f"{path}: cannot read the table of song forms ({exc}); restore it from the repository or "
            "rebuild it with `lofictl train pop909-forms DATASET`"
        ) from None


def sample_form(table: tuple[tuple[str, int], ...], seed: int) -> list[Phrase]:
    """A form drawn from the table, as often as the labelled songs use it."""
    counts = np.array([count for _, count in table], np.float64)
    choice = int(rng(seed, "form").choice(len(table), p=counts / counts.sum()))
    return parse_form(table[choice][0])


def fit_form(phrases: list[Phrase], bars: int) -> list[Phrase]:
    """The form laid over exactly `bars` bars: its intro and outro kept when they take at most an
    eighth of it each, its body played in order (and again, as a band takes another chorus) until
    the outro; the phrase that would overrun is cut short and, being shorter, is a new letter."""
    intro = phrases[:1] if phrases[0].letter == "i" and phrases[0].bars * 8 <= bars else []
    outro = phrases[-1:] if phrases[-1].letter == "o" and phrases[-1].bars * 8 <= bars else []
    body = [p for p in phrases if p.letter not in ("i", "o")]
    room = bars - sum(p.bars for p in intro + outro)
    laid: list[Phrase] = []
    used = 0
    index = 0
    while used < room:
        phrase = body[index % len(body)]
        if used + phrase.bars > room:
            letters = {p.letter for p in phrases + laid}
            spares = "YZWVUTSRQPNMLKJHGFEDCBA" if phrase.melodic else "yzwvutsrqpnmlkjhgfedcba"
            spare = next(c for c in spares if c not in letters)
            phrase = Phrase(spare, room - used)
        laid.append(phrase)
        used += phrase.bars
        index += 1
    return intro + laid + outro
