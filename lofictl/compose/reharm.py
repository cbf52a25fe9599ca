"""Reharmonise: functional motion and colour on top of the chord model's progressions.

The chord model (models/lofi-chords, learnt from POP909) writes pop triads in aeolian loops
that rarely move by fifths. A style rewrites a loop's chords the way a lo-fi or jazz player
would, keeping the model's first chord (the loop's identity) and as much of the rest as the
style allows:

- a turnaround: the loop's last bar leads back to its first chord by a fifth (its V7, or ii–V
  in one bar when the harmonic rhythm allows half bars); a through-composed section cadences
  into its final tonic the same way, or by the backdoor iv–bVII–I;
- a pre-dominant: the bar before that V becomes ii of the target (iiø7 before a minor one),
  and the bar before the ii may become vi (VI7 in jazz): vi–ii–V–I;
- an 8-bar loop (or a long through section) also cadences into each 4-bar phrase;
- secondary dominants: a change to another chord is approached by that chord's V7 (a held
  chord makes room for it); in jazz a secondary dominant may be its tritone substitute;
- colour by function: maj9 or 6/9 on major tonics, m9/m11 on minor chords, 13 on dominants
  (7b9 before a minor chord, 7#11 on tritone substitutes), m7b5 on ii of a minor target.

The loop is reharmonised once and repeated, so a loop stays a loop. Every choice comes from a
stream named for it (seeds.rng(seed, "reharm", style, what, bar)), so the same seed gives the
same chords.

Why a reharmoniser rather than biasing the model: the model has heard almost no ii–V–I, 7b9
or tritone substitute in POP909 (95% of its chords are triads), so no bias on its logits can
make it write them well, and a bias strong enough to force fifths would push it off what it
learnt everywhere else. A rule on its output keeps what the model is good at (which chord
opens the loop, the loop's colour and length), is exact about the functional moves a style
names, works in every key and mode without retraining, and is a pure function a test can pin.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from lofictl.compose import theory
from lofictl.compose.phrase import PHRASE_BARS  # an 8-bar loop or a long through section cadences inside too
from lofictl.seeds import rng

DEFAULT_STYLE = "neo-soul"  # generated chords with no `style:` (a written progression plays as written)


@dataclass(frozen=True)
class StyleRule:
    predominant: float  # the bar before the cadence's V becomes ii of the target
    keep_subdominant: float  # ...unless the model put IV/iv there and this keeps it (IV–V–I)
    sixth: float  # the bar before the ii becomes vi (VI7 in jazz): vi–ii–V–I
    sixth_dominant: bool  # vi as V7/ii (VI7) rather than the diatonic chord
    one_bar_ii_v: float  # with half-bar changes: the turnaround bar plays ii–V
    secondary: float  # a change to another chord is approached by its V7
    tritone: float  # a secondary dominant becomes its tritone substitute (bII7)
    backdoor: float  # a cadence into the tonic goes iv–bVII–I instead of ii–V–I (not at a loop's end)
    sixnine: float  # a major tonic is 6/9 rather than maj9
    eleventh: float  # a minor chord is m11 rather than m9 (where the key has the 11th)
    sharp_eleven: float  # a major chord off the tonic is maj7#11 (where the key has the #11)
    description: str


STYLE_RULES: dict[str, StyleRule] = {
    "pop": StyleRule(
        predominant=0.6,
        keep_subdominant=0.5,
        sixth=0.25,
        sixth_dominant=False,
        one_bar_ii_v=0.3,
        secondary=0.35,
        tritone=0.0,
        backdoor=0.35,
        sixnine=0.5,
        eleventh=0.15,
        sharp_eleven=0.2,
        description="V7 turnarounds, IV–V or ii–V cadences, a few secondary dominants, the backdoor iv–bVII–I",
    ),
    "jazz": StyleRule(
        predominant=1.0,
        keep_subdominant=0.0,
        sixth=0.6,
        sixth_dominant=True,
        one_bar_ii_v=0.7,
        secondary=0.6,
        tritone=0.4,
        backdoor=0.1,
        sixnine=0.5,
        eleventh=0.2,
        sharp_eleven=0.3,
        description="ii–V–I everywhere, VI7–ii–V–I, secondary dominants and their tritone substitutes",
    ),
    "neo-soul": StyleRule(
        predominant=0.85,
        keep_subdominant=0.25,
        sixth=0.4,
        sixth_dominant=False,
        one_bar_ii_v=0.5,
        secondary=0.45,
        tritone=0.15,
        backdoor=0.4,
        sixnine=0.35,
        eleventh=0.5,
        sharp_eleven=0.4,
        description="ii–V–I and vi–ii–V–I, secondary dominants, the backdoor iv–bVII–I, m11 and maj7#11",
    ),
}
STYLES = ("plain", *STYLE_RULES)  # plain: the model's chords as sampled


@dataclass(frozen=True)
class Cell:
    """One slot of the harmonic grid (a bar or half a bar): a chord by function."""

    root: int  # pitch class
    kind: str  # maj, min, dom, hdim, dim, or other (sus, aug, power chords: kept as written)
    symbol: str | None = None  # the source's own symbol, kept when nothing here changes the chord
    bass: int | None = None  # the source's slash bass
    placed: bool = False  # set by a move: later moves leave it alone
    tritone: bool = False  # a tritone substitute (coloured 7#11)


def reharmonise(
    chords: Sequence[tuple[str, float]],
    key: theory.Key,
    style: str,
    seed: int,
    *,
    loop_bars: int | None,
    beats_per_bar: float,
    half_bars: bool,
) -> list[tuple[str, float]]:
    """The chords of one section (symbols with durations in beats) in `style`.

    loop_bars: the section loops a progression of that many bars (its first bars are the loop);
    None: composed through, ending on its last bar's chord. half_bars: chords may change every
    half bar (else once a bar at most). Chords that do not fall on that grid, or a section that
    is not whole bars, come back as they were; style "plain" changes nothing.
    """
    if style not in STYLES:
        raise ValueError(f"unknown chord style {style!r}; known: {', '.join(STYLES)}")
    if style == "plain" or not chords:
        return list(chords)
    rule = STYLE_RULES[style]
    per_bar = 2 if half_bars and _whole(beats_per_bar / 2) else 1
    step = beats_per_bar / per_bar
    cells = _cells(chords, step)
    if cells is None or len(cells) % per_bar:
        return list(chords)
    span = len(cells)
    length = min(loop_bars * per_bar, span) if loop_bars is not None else span
    cycle = cells[:length]
    names = (seed, "reharm", style)
    cycle = _moves(cycle, key, rule, names, per_bar, looped=loop_bars is not None)
    symbols = _coloured(cycle, key, rule, names)
    tiled = [symbols[i % length] for i in range(span)]
    out: list[list] = []
    for symbol in tiled:
        if out and out[-1][0] == symbol:
            out[-1][1] += step
        else:
            out.append([symbol, step])
    return [(symbol, beats) for symbol, beats in out]


def _whole(value: float) -> bool:
    return value > 0 and abs(value - round(value * 4) / 4) < 1e-9


def _cells(chords: Sequence[tuple[str, float]], step: float) -> list[Cell] | None:
    cells: list[Cell] = []
    for symbol, beats in chords:
        count = beats / step
        if abs(count - round(count)) > 1e-6 or round(count) < 1:
            return None
        chord = theory.parse_chord(symbol)
        cells.extend([Cell(chord.root, theory.chord_kind(chord), symbol, chord.bass)] * int(round(count)))
    return cells


# --- the moves --------------------------------------------------------------------------------


def _moves(cells: list[Cell], key: theory.Key, rule: StyleRule, names: tuple, per_bar: int, looped: bool) -> list[Cell]:
    """The cadences (the section's own end first, then each inner phrase's, last to first),
    then secondary dominants where room is left."""
    cells = list(cells)
    n_bars = len(cells) // per_bar
    if looped:
        _cadence(cells, cells[0], n_bars, key, rule, names, per_bar, loop_end=True)
        last = n_bars
    elif n_bars >= 2:  # through-composed: cadence into the final chord (the model's tonic)
        _cadence(cells, cells[-per_bar], n_bars - 1, key, rule, names, per_bar, loop_end=False)
        last = n_bars - 1
    else:
        last = 0
    for bar in range((last - 1) // PHRASE_BARS * PHRASE_BARS, 0, -PHRASE_BARS):
        if last - bar >= 2:  # an inner phrase's end, with a phrase's room after it
            _cadence(cells, cells[bar * per_bar], bar, key, rule, names, per_bar, loop_end=False)
    _secondary_dominants(cells, rule, names, per_bar)
    return cells


def _dominant(target: Cell) -> Cell:
    return Cell((target.root + 7) % 12, "dom", placed=True)


def _two(target: Cell) -> Cell:
    return Cell((target.root + 2) % 12, "hdim" if target.kind in ("min", "hdim", "dim") else "min", placed=True)


def _free(cells: list[Cell], first: int, last: int) -> bool:
    return first >= 1 and all(not c.placed for c in cells[first:last])


def _cadence(
    cells: list[Cell],
    target: Cell,
    end_bar: int,
    key: theory.Key,
    rule: StyleRule,
    names: tuple,
    per_bar: int,
    loop_end: bool,
) -> None:
    """Lead into `target` (at bar `end_bar`, or the loop's start) from the bars before it."""
    draw = rng(*names, "cadence", end_bar)
    end = end_bar * per_bar
    # the arrival stays what it is (later moves leave it alone): the cadence is into it
    cells[end : end + per_bar] = [replace(c, placed=True) for c in cells[end : end + per_bar]]
    if target.kind not in ("maj", "min", "dom"):
        return  # a sus or diminished target: nothing functional to lead into
    v_bar = end - per_bar
    if v_bar < 0:
        return
    tonic_target = target.root == key.tonic
    if not loop_end and tonic_target and end_bar >= 3 and draw.random() < rule.backdoor:
        # iv–bVII–I: the minor iv and the flat-seven dominant a whole step below the tonic
        if _free(cells, v_bar - per_bar, end):
            cells[v_bar - per_bar : v_bar] = [Cell((target.root + 5) % 12, "min", placed=True)] * per_bar
            cells[v_bar:end] = [Cell((target.root + 10) % 12, "dom", placed=True)] * per_bar
            return
    if v_bar == 0:  # a one-bar loop: only its second half can turn around
        if per_bar == 2:
            cells[1] = _dominant(target)
        return
    if not _free(cells, v_bar, end):
        return
    one_bar = per_bar == 2 and draw.random() < rule.one_bar_ii_v
    if one_bar:
        cells[v_bar] = _two(target)
        cells[v_bar + 1] = _dominant(target)
        ii_bar = v_bar
    else:
        cells[v_bar:end] = [_dominant(target)] * per_bar
        ii_bar = v_bar - per_bar
        if ii_bar < per_bar or not _free(cells, ii_bar, v_bar):
            return  # the bar before is the loop's first: it stays the model's
        there = cells[ii_bar]
        subdominant = all(c.root == (target.root + 5) % 12 and c.kind in ("maj", "min") for c in cells[ii_bar:v_bar])
        if subdominant and draw.random() < rule.keep_subdominant:
            return  # IV–V–I (iv–V–i): the model's own pre-dominant
        if draw.random() >= rule.predominant:
            return
        if there.root == (target.root + 2) % 12 and there.kind in ("min", "hdim"):
            cells[ii_bar:v_bar] = [replace(c, placed=True) for c in cells[ii_bar:v_bar]]
        else:
            cells[ii_bar:v_bar] = [_two(target)] * per_bar
    vi_bar = ii_bar - per_bar
    if vi_bar >= per_bar and _free(cells, vi_bar, ii_bar) and draw.random() < rule.sixth:
        two = cells[ii_bar]
        six: Cell | None
        if rule.sixth_dominant:
            six = Cell((two.root + 7) % 12, "dom", placed=True)  # VI7: the V of ii
        else:  # the key's chord a diatonic fifth above ii: vi in major, bVI in minor
            six = _diatonic_fifth_above(two.root, key)
        if six is not None:
            cells[vi_bar:ii_bar] = [six] * per_bar


def _diatonic_fifth_above(root: int, key: theory.Key) -> Cell | None:
    """The key's own chord a diatonic fifth above `root` (A minor over D in C major, F major over
    B in A minor); None when `root` is not in the key or that chord is diminished."""
    scale = key.scale
    if root not in scale:
        return None
    up = scale[(scale.index(root) + 4) % len(scale)]
    third = 3 if (up + 3) % 12 in scale else 4
    if (up + 7) % 12 not in scale:
        return None
    return Cell(up, "min" if third == 3 else "maj", placed=True)


def _secondary_dominants(cells: list[Cell], rule: StyleRule, names: tuple, per_bar: int) -> None:
    """Approach a change to another chord by its V7: in the held bar before it, or in the second
    half of that bar when chords may change every half bar. The loop's first chord stays."""
    for index in range(per_bar, len(cells)):
        target, before = cells[index], cells[index - 1]
        if target.placed or target.kind not in ("maj", "min") or _same(target, before):
            continue
        if before.kind == "dom" and (before.root - target.root) % 12 == 7:
            continue  # already its dominant
        draw = rng(*names, "secondary", index)
        if draw.random() >= rule.secondary:
            continue
        if per_bar == 2 and index % 2 == 0 and not before.placed and _same(before, cells[index - 2]):
            span = [index - 1]  # the second half of a bar that holds one chord
        elif index % per_bar == 0 and index >= 2 * per_bar and _free(cells, index - per_bar, index):
            held = _same(cells[index - per_bar], cells[index - per_bar - 1])
            if not held and draw.random() >= 0.5:
                continue  # a bar of its own chord is replaced less often than a held one
            span = list(range(index - per_bar, index))
        else:
            continue
        tritone = draw.random() < rule.tritone
        root = (target.root + (1 if tritone else 7)) % 12
        for i in span:
            cells[i] = Cell(root, "dom", placed=True, tritone=tritone)


def _same(a: Cell, b: Cell) -> bool:
    """The same chord by function (a placed ii on the model's own ii is one chord held on)."""
    same = (a.root, a.kind, a.bass, a.tritone) == (b.root, b.kind, b.bass, b.tritone)
    return same and (a.kind != "other" or a.symbol == b.symbol)  # sus and aug chords by name


# --- colour -----------------------------------------------------------------------------------


def _coloured(cells: list[Cell], key: theory.Key, rule: StyleRule, names: tuple) -> list[str]:
    """Every cell's symbol, its extension chosen by its function. Equal chords in a row share one
    choice (a held chord keeps its colour)."""
    out: list[str] = []
    for index, cell in enumerate(cells):
        if index and _same(cell, cells[index - 1]):
            out.append(out[-1])
            continue
        following = next((c for c in cells[index + 1 :] + cells[:index] if not _same(c, cell)), cell)
        draw = rng(*names, "colour", index)
        out.append(_symbol(cell, following, key, rule, draw))
    return out


def _symbol(cell: Cell, following: Cell, key: theory.Key, rule: StyleRule, draw: np.random.Generator) -> str:
    quality = theory.colour_quality(
        cell.root,
        cell.kind,
        key,
        (following.root, following.kind),
        sixnine=draw.random() < rule.sixnine,
        eleventh=draw.random() < rule.eleventh,
        sharp_eleven=draw.random() < rule.sharp_eleven,
        tritone=cell.tritone,
    )
    if quality is None:
        return cell.symbol or theory.NOTE_NAMES[cell.root]
    bass = f"/{theory.NOTE_NAMES[cell.bass]}" if cell.bass is not None and cell.symbol is not None else ""
    return f"{theory.NOTE_NAMES[cell.root]}{quality}{bass}"
