"""One feel for the whole band: where a note written on the grid is played.

Every part goes through the same timing function (drums in drums.py, chords, bass, melody and
MIDI clips in arrangement.py), so parts that play the same grid position land together.

Swing. The recipe states an amount (`swing`, 0.5 straight to 0.75; 0.66 is a triplet feel) and a
subdivision (`swing_unit`, "8th" or "16th"). The bar is cut into pairs of that unit from its
downbeat; the second of each pair is played `swing` of the way through the pair instead of half
way. Everything inside a pair moves with it: the warp is piecewise linear, the first half of the
pair stretched to `swing` of its length and the second half squeezed into the rest. So with 8th
swing a 16th written at 0.25 of a beat plays at swing / 2 and one at 0.75 at
swing + (1 - swing) / 2: notes keep their order and a run of 16ths leans the way the 8ths do.
Pair boundaries (the beat with 8th swing, every 8th with 16th swing) never move, nor does a
note's place relative to them, so a note is where it was written whenever the pair is straight.

Why 8th by default: the example recipes' drums keep time in 8ths (boom-bap, lazy, half-time hats,
the brushes ride) under bass lines, comping and melodies that move in 8ths. Swinging 8ths moves
the hats' "and" to the same place as the keys' and bass's "and", and carries the 16th ghost notes,
kick pickups and melody 16ths along in proportion. A 16th swing would leave every 8th note straight
(the swing only heard in 16th hats and ghosts): right for a 16th-hat groove such as `dilla` with
straight 8th keys on top, so a recipe that wants it says `swing_unit: 16th`.

Compound meters (6/8, 9/8, 12/8) already swing: their 8ths are the triplets of the dotted-quarter
pulse. The warp leaves them alone for every part.

A pair that does not fit before the bar's end (the last 8th of a 7/8 bar with 8th swing) is
played straight, so nothing is pushed over the bar line.

Lanes. On top of the grid each lane sits in its own place in the pocket, in milliseconds (turned
into beats at the section's tempo): the backbeat lays back by the drums' `laid_back_ms`, the hats
lean ahead by a fifth of that (at most 3 ms), the kick and the bass sit on the grid together:
a bass note written with a kick plays when that kick is played (sit_with), humanize and all.
Humanize (seeded, gaussian, in ms) comes after: drums.py draws it per bar, humanize.py per part and
section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lofictl.compose.score import Note

SWING_UNITS: dict[str, float] = {"8th": 0.5, "16th": 0.25}  # unit → its length in beats
DEFAULT_SWING_UNIT = "8th"
HAT_LEAN = 0.2  # hats play ahead by this share of the backbeat's lay-back...
HAT_LEAN_MAX_MS = 3.0  # ...but never more than this: a little ahead, not early
EPS = 1e-9


def is_compound(meter: tuple[int, int] | None) -> bool:
    """6/8, 9/8, 12/8...: dotted-quarter pulses of three 8ths (their grid already swings)."""
    return meter is not None and meter[1] == 8 and meter[0] % 3 == 0 and meter[0] >= 6


@dataclass(frozen=True)
class Feel:
    """The band's shared timing: swing amount and unit in bars of `beats_per_bar` beats."""

    swing: float = 0.5
    unit: str = DEFAULT_SWING_UNIT
    beats_per_bar: float = 4.0
    compound: bool = False

    def __post_init__(self) -> None:
        if self.unit not in SWING_UNITS:
            raise ValueError(f"swing unit must be one of {', '.join(SWING_UNITS)} (got {self.unit!r})")

    @property
    def straight(self) -> bool:
        return self.compound or abs(self.swing - 0.5) < EPS

    def time(self, beat: float) -> float:
        """Where a note written at `beat` (from the piece's start) is played, in beats."""
        if self.straight:
            return beat
        bar_start = self._bar_start(beat)
        return bar_start + self.in_bar(beat - bar_start)

    def in_bar(self, position: float) -> float:
        """The warp of a position inside one bar (0 ≤ position < beats_per_bar)."""
        pair = self._pair(position)
        if pair is None:
            return position
        start, unit, split = pair
        offset = max(0.0, position - start)
        if offset < unit:
            return start + offset * split / unit
        return start + split + (offset - unit) * (2 * unit - split) / unit

    def written(self, beat: float) -> float:
        """Where a note played at `beat` was written: the inverse of `time` (for measuring what
        was composed rather than how it is played)."""
        if self.straight:
            return beat
        bar_start = self._bar_start(beat)
        position = beat - bar_start
        pair = self._pair(position)
        if pair is None:
            return beat
        start, unit, split = pair
        offset = max(0.0, position - start)
        if offset < split:
            return bar_start + start + offset * unit / split
        return bar_start + start + unit + (offset - split) * unit / (2 * unit - split)

    def _bar_start(self, beat: float) -> float:
        return math.floor(beat / self.beats_per_bar + EPS) * self.beats_per_bar

    def _pair(self, position: float) -> tuple[float, float, float] | None:
        """The swing pair a position in a bar falls in: (its start, the unit, where its second
        half is played from its start), or None where it plays as written (straight, or a pair
        cut short by the bar line)."""
        if self.straight:
            return None
        unit = SWING_UNITS[self.unit]
        start = math.floor(position / (2 * unit) + EPS) * (2 * unit)
        if start + 2 * unit > self.beats_per_bar + EPS:
            return None
        return start, unit, 2 * unit * self.swing

    def smallest_gap(self, step_beats: float) -> float:
        """The shortest distance between two neighbouring grid steps of `step_beats` once swung."""
        steps = int(round(self.beats_per_bar / step_beats))
        played = [self.in_bar(i * step_beats) for i in range(steps)] + [self.beats_per_bar]
        return min(b - a for a, b in zip(played, played[1:]))


def swung(notes: list[Note], feel: Feel) -> list[Note]:
    """Notes (score.Note) moved to where the feel plays them: starts and ends both warped, so a
    note keeps its written length in the pocket (an 8th on the "and" gets shorter with swing)."""
    return list(notes) if feel.straight else _moved(notes, feel.time)


def unswung(notes: list[Note], feel: Feel) -> list[Note]:
    """Notes moved back to where they were written (see Feel.written)."""
    return list(notes) if feel.straight else _moved(notes, feel.written)


def _moved(notes: list[Note], to) -> list[Note]:
    out = []
    for note in notes:
        start, end = to(note.start), to(note.end)
        out.append(note.copy(start=round(start, 6), duration=round(max(0.05, end - start), 6)))
    return out


def hat_lean_ms(laid_back_ms: float) -> float:
    """How far ahead of the grid the hats (and ride, shaker) play, in ms."""
    return min(HAT_LEAN_MAX_MS, HAT_LEAN * laid_back_ms)


def sit_with(notes: list[Note], anchors: list[float], feel: Feel, step: float = 0.25) -> tuple[list[Note], list[Note]]:
    """Split `notes` (swung, not yet humanized) into those written where an anchor was written,
    moved to where that anchor is played (each keeping its end), and the rest, as they were.

    The anchors are the kick's played starts: each is put back on its grid step (the nearest
    swung `step` of its bar; the drums' humanize never moves a hit half way to the next step), so
    a bass note on a kick lands with that kick, humanize and all.
    """
    played_at: dict[float, float] = {}
    for anchor in anchors:
        bar_start = math.floor(anchor / feel.beats_per_bar + EPS) * feel.beats_per_bar
        steps = int(round(feel.beats_per_bar / step))
        written = min((bar_start + feel.in_bar(i * step) for i in range(steps + 1)), key=lambda g: abs(g - anchor))
        played_at.setdefault(round(written, 6), anchor)
    locked: list[Note] = []
    free: list[Note] = []
    for note in notes:
        played = played_at.get(round(note.start, 6))
        if played is None:
            free.append(note)
        else:
            locked.append(note.copy(start=round(played, 6), duration=round(max(0.05, note.end - played), 6)))
    return locked, free
