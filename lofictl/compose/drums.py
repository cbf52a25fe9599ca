"""Drum patterns on the General MIDI kit, written as step grids, and the bars they make.

A pattern is a set of lanes, one per kit piece, each a string of 16 steps per 4/4 bar (16th
notes). Bars are separated by `|`; spaces are only for reading. A step is one of

    X accent   x normal   o soft   g ghost   . rest

`drum_notes` turns a pattern into notes for a run of bars: it fits the grid to the meter, adds
seeded per-bar variation, an optional fill in the last bar, swing, and humanize. Each bar draws
from its own random stream, named by its bar number, so one bar's variation never shifts another.

Other meters. The grid is always 16th notes (a step is 0.25 beat).
* Simple meters (2/4, 3/4, 5/4, 7/8, ...) have `beats_per_bar * 4` steps: a shorter bar takes
  the pattern's first steps, a longer one repeats the pattern's second half (beats 3-4) for the
  extra beats, so the backbeat keeps falling on snare beats.
* Compound meters (6/8, 9/8, 12/8; pass `meter=(6, 8)`) have dotted-quarter pulses of six
  16ths. Pulse n plays beat n of the 4/4 pattern, read with a triplet feel: the 4/4 16th
  positions 0, 1, 2, 3 of a beat land on 16ths 0, 2, 4, 5 of the pulse (the "and" becomes the
  third eighth). So 6/8 gets kick on 1 and the backbeat on 4. Swing is not applied there — the
  grid already swings.

Swing acts on the off-beat 16ths (odd steps), as an MPC does: 0.5 is straight, 0.66 is close
to triplet feel. An odd step moves later by (swing - 0.5) * 2 of a step, i.e. to `swing` of the
way through its 8th-note pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lofictl.compose.score import Note
from lofictl.errors import LofictlError, suggestions
from lofictl.seeds import rng

STEPS_PER_BEAT = 4  # 16th-note grid
STEP_BEATS = 1.0 / STEPS_PER_BEAT
DRUM_NOTE_BEATS = 0.125  # drums are one-shots; a 32nd keeps same-pitch hits from touching
SWING_RANGE = (0.5, 0.75)  # an MPC's range; past 0.75 the off-beat crowds the next step

# General MIDI percussion key map (channel 10), by the names the grids use.
KIT: dict[str, int] = {
    "kick": 36,
    "stick": 37,  # side stick / rim click
    "snare": 38,
    "clap": 39,
    "snare-soft": 40,  # electric snare: a second, softer snare used for brush swirls
    "tom-lo": 41,
    "hat": 42,
    "tom-mid": 45,
    "pedal-hat": 44,
    "open-hat": 46,
    "tom-hi": 48,
    "crash": 49,
    "ride": 51,
    "ride-bell": 53,
    "shaker": 70,
}

# Names a reader of a piano roll knows, for every pitch the kit uses (and a few more GM ones).
DRUM_NAMES: dict[int, str] = {
    35: "Kick 2",
    36: "Kick",
    37: "Side stick",
    38: "Snare",
    39: "Clap",
    40: "Snare 2",
    41: "Low tom",
    42: "Closed hat",
    43: "Floor tom",
    44: "Pedal hat",
    45: "Mid tom",
    46: "Open hat",
    47: "Low-mid tom",
    48: "High tom",
    49: "Crash",
    50: "High tom 2",
    51: "Ride",
    52: "China",
    53: "Ride bell",
    54: "Tambourine",
    55: "Splash",
    56: "Cowbell",
    57: "Crash 2",
    59: "Ride 2",
    69: "Cabasa",
    70: "Shaker",
    75: "Claves",
    76: "Wood block",
}

LEVELS: dict[str, int] = {"X": 112, "x": 92, "o": 68, "g": 40}


@dataclass(frozen=True)
class DrumPattern:
    name: str
    description: str
    lanes: dict[str, str]  # kit piece → step grid
    timekeeper: str = "hat"  # the lane variation thins out or fills in
    ghost: str = "snare"  # the lane ghost notes go on
    fills: tuple[str, ...] = ("snare-roll", "toms", "stutter", "drop")
    fill_scale: float = 1.0  # fill velocities relative to the written levels


PATTERNS: dict[str, DrumPattern] = {
    p.name: p
    for p in (
        DrumPattern(
            "boom-bap",
            "90s hip-hop: hard kick and snare, 8th hats with a lilt",
            {
                "kick": "X... ...x ..X. .... | X... ...x ..X. .x..",
                "snare": ".... X... .... X... | .... X... .... X...",
                "hat": "x.o. x.o. x.o. x.o. | x.o. x.o. x.o. x.oo",
            },
        ),
        DrumPattern(
            "lazy",
            "laid-back lo-fi: soft kick, side-stick backbeat, quiet hats and shaker",
            {
                "kick": "x... .... .x.. .... | x... .... .x.. ..o.",
                "stick": ".... x... .... x... | .... x... .... x...",
                "hat": "o.g. o.g. o.g. o.g. | o.g. o.g. o.g. o.g.",
                "shaker": "..g. ..g. ..g. ..g. | ..g. ..g. ..g. ..g.",
            },
            ghost="stick",
            fills=("drop", "stutter", "toms-soft"),
            fill_scale=0.8,
        ),
        DrumPattern(
            "half-time",
            "snare on beat 3 only, a slow heavy sway",
            {
                "kick": "X... .... .... ..x. | X... ..x. .... ....",
                "snare": ".... .... X... .... | .... .... X... ....",
                "hat": "x.o. x.o. x.o. x.o. | x.o. x.o. x.o. x.o.",
            },
        ),
        DrumPattern(
            "brushes",
            "jazz brushes: feathered kick, brush swirl, ride pattern, pedal hat on 2 and 4",
            {
                "kick": "o... .... o... .... ",
                "snare": ".... o... .... o... ",
                "snare-soft": "g.g. g.g. g.g. g.g. ",
                "ride": "x... x..o x... x..o ",
                "pedal-hat": ".... o... .... o... ",
            },
            timekeeper="ride",
            ghost="snare-soft",
            fills=("brush-swirl", "drop"),
            fill_scale=0.6,
        ),
        DrumPattern(
            "dilla",
            "lopsided neo-soul: kick pushed off the beat, uneven 16th hats (pair with swing)",
            {
                "kick": "X... ...x .x.. .... | X..x .... .x.. ..x.",
                "snare": ".... X... .... X..g | .... X... ..g. X...",
                "hat": "x.xo .x.x x.xo .x.x | x.xo .x.x x.xo .xox",
            },
            fills=("stutter", "drop", "snare-roll"),
        ),
        DrumPattern(
            "four-on-floor",
            "house pulse: kick on every beat, clap on 2 and 4, open hat on the off-beats",
            {
                "kick": "X... X... X... X...",
                "clap": ".... x... .... x...",
                "hat": "o.o. o.o. o.o. o.o.",
                "open-hat": "..x. ..x. ..x. ..x.",
            },
            fills=("snare-roll", "drop"),
        ),
        DrumPattern(
            "bossa",
            "bossa nova: kick on 1 and 3 with pickups, rim clave, soft 8th hats",
            {
                "kick": "x..o x..o x..o x..o",
                "stick": "x..x ..x. ..x. .x..",
                "hat": "o.g. o.g. o.g. o.g.",
            },
            ghost="stick",
            fills=("drop", "toms-soft"),
            fill_scale=0.8,
        ),
    )
}

# Fills cover the last two beats (8 steps); a shorter bar takes the template's tail.
FILLS: dict[str, dict[str, str]] = {
    "snare-roll": {"kick": "X... ....", "snare": "..go oxxX"},
    "toms": {
        "kick": "X... ....",
        "snare": "..x. ....",
        "tom-hi": "...x x...",
        "tom-mid": ".... .xx.",
        "tom-lo": ".... ...X",
    },
    "toms-soft": {"kick": "x... ....", "tom-hi": "..o. o...", "tom-mid": ".... .o..", "tom-lo": ".... ..o."},
    "stutter": {"kick": "X..x ..x.", "snare": ".... x.gX", "hat": "x.x. x..."},
    "drop": {"kick": "x... ....", "hat": "x... ...."},  # the beat falls away before the next section
    "brush-swirl": {"kick": "o... ....", "snare-soft": "gogo gogo", "snare": ".... ...x"},
}


def pattern_names() -> list[str]:
    return sorted(PATTERNS)


def _parse_lane(text: str, where: str) -> tuple[tuple[int, ...], ...]:
    """'x... ..o. | ...' → per bar, the velocity of each of the 16 steps (0 = rest)."""
    bars = []
    for bar in text.split("|"):
        cells = bar.replace(" ", "")
        if len(cells) != 16 or any(c not in LEVELS and c != "." for c in cells):
            raise ValueError(f"{where}: each bar needs 16 steps of X x o g . (got {bar.strip()!r})")
        bars.append(tuple(LEVELS.get(c, 0) for c in cells))
    return tuple(bars)


@lru_cache(maxsize=None)
def _pattern_bars(name: str) -> tuple[tuple[tuple[int, int, int], ...], ...]:
    """Per pattern bar, the (step, pitch, velocity) hits; lanes shorter than the pattern loop."""
    pattern = PATTERNS[name]
    lanes = {lane: _parse_lane(grid, f"{name}.{lane}") for lane, grid in pattern.lanes.items()}
    length = max(len(bars) for bars in lanes.values())
    out = []
    for bar in range(length):
        hits = [
            (step, KIT[lane], bars[bar % len(bars)][step])
            for lane, bars in lanes.items()
            for step in range(16)
            if bars[bar % len(bars)][step]
        ]
        out.append(tuple(sorted(hits)))
    return tuple(out)


@lru_cache(maxsize=None)
def _fill_hits(name: str) -> tuple[tuple[int, int, int], ...]:
    """(step from the end of the template's 8, pitch, velocity) for a fill."""
    hits = []
    for lane, grid in FILLS[name].items():
        cells = grid.replace(" ", "")
        if len(cells) != 8 or any(c not in LEVELS and c != "." for c in cells):
            raise ValueError(f"fill {name}.{lane}: needs 8 steps of X x o g .")
        hits.extend((step, KIT[lane], LEVELS[c]) for step, c in enumerate(cells) if c != ".")
    return tuple(sorted(hits))


def _compound(meter: tuple[int, int] | None) -> bool:
    return meter is not None and meter[1] == 8 and meter[0] % 3 == 0 and meter[0] >= 6


_COMPOUND_POS = (0, 2, 4, 5)  # a 4/4 beat's 16ths → 16ths of a dotted-quarter pulse


def _fit_to_meter(hits: tuple[tuple[int, int, int], ...], n_steps: int, compound: bool) -> dict[int, dict[int, int]]:
    """Place one 16-step pattern bar on a bar of `n_steps` 16ths: step → {pitch: velocity}."""
    by_step: dict[int, list[tuple[int, int]]] = {}
    for step, pitch, velocity in hits:
        by_step.setdefault(step, []).append((pitch, velocity))
    grid: dict[int, dict[int, int]] = {}
    if compound:
        for pulse in range(n_steps // 6):
            beat = pulse if pulse < 4 else 2 + (pulse - 4) % 2
            for sub, pos in enumerate(_COMPOUND_POS):
                for pitch, velocity in by_step.get(beat * 4 + sub, ()):
                    grid.setdefault(pulse * 6 + pos, {})[pitch] = velocity
    else:
        for step in range(n_steps):
            source = step if step < 16 else 8 + (step - 16) % 8
            for pitch, velocity in by_step.get(source, ()):
                grid.setdefault(step, {})[pitch] = velocity
    return grid


def _vary(
    grid: dict[int, dict[int, int]],
    pattern: DrumPattern,
    n_steps: int,
    compound: bool,
    amount: float,
    gen: np.random.Generator,
) -> None:
    """Seeded per-bar variation, in place: ghost notes, thinned or doubled hats, kick pickups.

    Every bar draws the same number of numbers in the same order whatever it contains, so the
    amount of variation changes how many things happen, not which random number goes where.
    """
    u_ghost, u_drop, u_add, u_pick, u_vel = gen.random((5, n_steps))
    u_open = gen.random()
    if amount <= 0:
        return
    pulse = 6 if compound else 4
    kick, ghost, keeper = KIT["kick"], KIT[pattern.ghost], KIT[pattern.timekeeper]
    backbeat = {KIT["snare"], KIT["stick"], KIT["clap"], ghost}
    for step in range(n_steps):
        hits = grid.get(step, {})
        strong = step % pulse == 0
        if step % 2 == 1 and not backbeat & hits.keys() and u_ghost[step] < amount * 0.35:
            grid.setdefault(step, {})[ghost] = 28 + int(u_vel[step] * 18)
        if not strong and keeper in hits and u_drop[step] < amount * 0.25:
            del hits[keeper]
        if step % 2 == 1 and keeper not in hits and keeper in grid.get(step - 1, {}) and u_add[step] < amount * 0.25:
            grid.setdefault(step, {})[keeper] = 36 + int(u_vel[step] * 20)
        next_strong = (step + 1) % pulse == 0
        lands_on_kick = kick in grid.get((step + 1) % n_steps, {})
        if next_strong and lands_on_kick and kick not in hits and u_pick[step] < amount * 0.5:
            grid.setdefault(step, {})[kick] = 58 + int(u_vel[step] * 22)
    # Open the last off-beat closed hat now and then: a breath at the end of the bar.
    if keeper == KIT["hat"] and u_open < amount * 0.5:
        offbeats = [s for s in grid if s % pulse == pulse // 2 and KIT["hat"] in grid[s]]
        if offbeats:
            last = max(offbeats)
            grid[last][KIT["open-hat"]] = grid[last].pop(KIT["hat"])
    for step in [s for s, hits in grid.items() if not hits]:
        del grid[step]


def _apply_fill(grid: dict[int, dict[int, int]], pattern: DrumPattern, n_steps: int, gen: np.random.Generator) -> None:
    """Replace the end of the bar with one of the pattern's fills, chosen by the bar's seed."""
    name = pattern.fills[int(gen.integers(len(pattern.fills)))]
    length = min(8, n_steps // 2)
    first = n_steps - length
    for step in range(first, n_steps):
        grid.pop(step, None)
    for step, pitch, velocity in _fill_hits(name):
        if step >= 8 - length:
            scaled = max(1, min(127, round(velocity * pattern.fill_scale)))
            grid.setdefault(first + step - (8 - length), {})[pitch] = scaled


# --- beat-music feel: velocity shaping and the laid-back backbeat -----------------------------

BACKBEAT = frozenset({KIT["snare"], KIT["stick"], KIT["clap"], KIT["snare-soft"]})  # what lays back
TIMEKEEPERS = frozenset({KIT["hat"], KIT["pedal-hat"], KIT["open-hat"], KIT["ride"], KIT["shaker"]})


def shape_velocities(
    grid: dict[int, dict[int, int]], n_steps: int, compound: bool, amount: float, gen: np.random.Generator
) -> None:
    """Velocity shaping as a drummer plays a groove, in place; `amount` 0 leaves the grid as written.

    The bar's downbeat kick and the backbeat get an accent; kicks between beats are played
    softer; the timekeeper (hats, ride, shaker) is strong on the beat, softer on the off-beat
    8th and softest on the 16ths in between; ghost notes sink further so they are felt, not
    heard. On top, each bar's hand rises or falls a little across the bar (a seeded tilt of up
    to 6 steps of velocity at full amount). Every bar draws the same two numbers whatever it holds.
    """
    tilt, lift = gen.uniform(-1.0, 1.0, 2)
    if amount <= 0:
        return
    pulse = 6 if compound else 4
    for step, hits in grid.items():
        on_beat = step % pulse == 0
        eighth = step % 2 == 0
        for pitch, velocity in hits.items():
            if pitch in TIMEKEEPERS:
                scale = 1.0 if on_beat else (1 - 0.22 * amount if eighth else 1 - 0.4 * amount)
                change = velocity * (scale - 1)
            elif pitch in BACKBEAT and velocity < LEVELS["o"]:  # a ghost note
                change = -velocity * 0.3 * amount
            elif pitch in BACKBEAT and on_beat:
                change = 10 * amount
            elif pitch == KIT["kick"]:
                change = 8 * amount if step == 0 else (0.0 if on_beat else -velocity * 0.15 * amount)
            else:
                change = 0.0
            change += amount * (6 * tilt * (step / max(1, n_steps - 1) - 0.5) + 2 * lift)
            hits[pitch] = int(min(127, max(1, round(velocity + change))))


def laid_back_shifts(
    pitches: list[int], laid_back_ms: float, seconds_per_beat: float, gen: np.random.Generator
) -> np.ndarray:
    """Per hit, how many beats later it plays: backbeat hits `laid_back_ms` late, give or take a
    seeded quarter of that (gaussian, clipped at half), every other hit 0.

    One number is drawn per hit whatever its pitch, so laying back changes only the backbeat.
    """
    draws = np.clip(gen.normal(0.0, 0.25, len(pitches)), -0.5, 0.5)
    late = np.array([pitch in BACKBEAT for pitch in pitches], dtype=bool)
    return np.where(late, laid_back_ms * (1.0 + draws) / 1000.0 / seconds_per_beat, 0.0)


def _check(name: str, value: float, low: float, high: float | None, field: str, why: str = "") -> None:
    if not np.isfinite(value) or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise LofictlError(f"{name} must be {span}{why} (got {value})", field=field)


def drum_notes(
    pattern: str,
    start_bar: int,
    bars: int,
    beats_per_bar: float,
    seed: int,
    *,
    swing: float = 0.5,
    humanize_timing_ms: float = 0.0,
    humanize_velocity: int = 0,
    seconds_per_beat: float,
    fill_last_bar: bool = False,
    variation: float = 0.15,
    meter: tuple[int, int] | None = None,
    dynamics: float = 0.0,
    laid_back_ms: float = 0.0,
) -> tuple[Note, ...]:
    """Drum notes (GM kit pitches, times in beats from the piece's start) for `bars` bars.

    Bar `start_bar + i` draws its variation, fill and humanize from streams named by that bar
    number, so the same bar gets the same drums whatever is played around it. `meter` (e.g.
    (6, 8)) is needed only to tell compound meters from simple ones of the same length.

    Hits are placed on the grid (with swing) first, then humanized: timing is gaussian with a
    standard deviation of `humanize_timing_ms`, clipped to just under half the smallest gap
    between grid positions (so hits never change order) and to the bar (a downbeat is never
    pushed into the bar before); velocity is gaussian with sd `humanize_velocity / 2`, clipped
    to ±`humanize_velocity` and to 1..127.

    `dynamics` (0..1) shapes velocities on the grid (shape_velocities); `laid_back_ms` plays the
    backbeat late (laid_back_shifts), after humanize and free of its clip, but never past the
    bar's end. Both draw from their own streams, so turning them on changes nothing else.
    """
    if pattern not in PATTERNS:
        close = suggestions(pattern, PATTERNS, n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise LofictlError(
            f"unknown drum pattern {pattern!r}{hint} (known: {', '.join(pattern_names())})", field="pattern"
        )
    _check("start_bar", start_bar, 0, None, "start_bar")
    _check("bars", bars, 0, None, "bars")
    _check("beats per bar", beats_per_bar, STEP_BEATS, None, "time_signature")
    _check("swing", swing, *SWING_RANGE, "swing", " (0.5 is straight, 0.66 close to triplets)")
    _check("humanize timing", humanize_timing_ms, 0, 200, "humanize.timing_ms", " ms")
    _check("humanize velocity", humanize_velocity, 0, 127, "humanize.velocity")
    _check("variation", variation, 0, 1, "variation")
    _check("dynamics", dynamics, 0, 1, "dynamics")
    _check("laid back", laid_back_ms, 0, 60, "laid_back_ms", " ms")
    _check("seconds per beat", seconds_per_beat, 1e-6, None, "tempo")
    compound = _compound(meter)
    if meter is not None and abs(meter[0] * 4 / meter[1] - beats_per_bar) > 1e-9:
        raise LofictlError(
            f"meter {meter[0]}/{meter[1]} does not have {beats_per_bar} beats per bar", field="time_signature"
        )
    n_steps = int(beats_per_bar * STEPS_PER_BEAT + 1e-9)  # whole 16ths; a 6/8 bar has 12
    source = _pattern_bars(pattern)
    spec = PATTERNS[pattern]

    delay = 0.0 if compound else (swing - 0.5) * 2 * STEP_BEATS
    # Humanize may move a hit up to just under half the smallest gap between grid positions,
    # so hits never swap places; the spread in ms becomes beats through the tempo.
    smallest_gap = STEP_BEATS - delay
    max_shift = 0.45 * smallest_gap
    sigma_beats = humanize_timing_ms / 1000.0 / seconds_per_beat

    notes: list[Note] = []
    for i in range(bars):
        bar = start_bar + i
        grid = _fit_to_meter(source[bar % len(source)], n_steps, compound)
        _vary(grid, spec, n_steps, compound, variation, rng(seed, "drums", "variation", bar))
        if fill_last_bar and i == bars - 1:
            _apply_fill(grid, spec, n_steps, rng(seed, "drums", "fill", bar))
        shape_velocities(grid, n_steps, compound, dynamics, rng(seed, "drums", "dynamics", bar))
        hits = sorted(
            (step, pitch, velocity) for step, by_pitch in grid.items() for pitch, velocity in by_pitch.items()
        )
        gen = rng(seed, "drums", "humanize", bar)
        shifts = np.clip(gen.normal(0.0, 1.0, len(hits)) * sigma_beats, -max_shift, max_shift)
        spreads = np.clip(
            np.rint(gen.normal(0.0, humanize_velocity / 2.0, len(hits))), -humanize_velocity, humanize_velocity
        )
        late = laid_back_shifts(
            [pitch for _, pitch, _ in hits], laid_back_ms, seconds_per_beat, rng(seed, "drums", "laid-back", bar)
        )
        bar_start = bar * beats_per_bar
        bar_end = bar_start + beats_per_bar
        for (step, pitch, velocity), shift, spread, lag in zip(hits, shifts, spreads, late):
            grid_time = step * STEP_BEATS + (delay if step % 2 == 1 else 0.0)  # quantised first
            start = min(max(bar_start + grid_time + float(shift), bar_start) + float(lag), bar_end - DRUM_NOTE_BEATS)
            notes.append(Note(start, DRUM_NOTE_BEATS, pitch, int(min(127, max(1, velocity + spread)))))
    return _no_self_overlap(sorted(notes))


def _no_self_overlap(notes: list[Note]) -> tuple[Note, ...]:
    """Shorten a hit that would still sound when the same drum is struck again."""
    out = list(notes)
    last: dict[int, int] = {}
    for index, note in enumerate(out):
        previous = last.get(note.pitch)
        if previous is not None and out[previous].end > note.start:
            out[previous] = out[previous].copy(duration=note.start - out[previous].start)
        last[note.pitch] = index
    return tuple(sorted(out))
