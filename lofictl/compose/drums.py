"""Drum patterns on the General MIDI kit, written as step grids, and the bars they make.

A pattern is a set of lanes, one per kit piece, each a string of 16 steps per 4/4 bar (16th
notes). Bars are separated by `|`; spaces are only for reading. A step is one of

    X accent   x normal   o soft   g ghost   . rest

`drum_notes` turns a pattern into notes for a run of bars: it fits the grid to the meter, adds
seeded per-bar variation, phrase moves (fills, drops, a thinned or half-time bar at the ends of
4- and 8-bar phrases and of the section), velocities played by lane and role, the band's feel
(feel.py: swing, the lanes' places in the pocket) and humanize. Each bar draws from its own
random streams, named by its bar number, so one bar's variation never shifts another.

Other meters. The grid is always 16th notes (a step is 0.25 beat).
* Simple meters (2/4, 3/4, 5/4, 7/8, ...) have `beats_per_bar * 4` steps: a shorter bar takes
  the pattern's first steps, a longer one repeats the pattern's second half (beats 3-4) for the
  extra beats, so the backbeat keeps falling on snare beats.
* Compound meters (6/8, 9/8, 12/8; pass `meter=(6, 8)`) have dotted-quarter pulses of six
  16ths. Pulse n plays beat n of the 4/4 pattern, read with a triplet feel: the 4/4 16th
  positions 0, 1, 2, 3 of a beat land on 16ths 0, 2, 4, 5 of the pulse (the "and" becomes the
  third eighth). So 6/8 gets kick on 1 and the backbeat on 4. Swing is not applied there — the
  grid already swings.

Swing is the band's (feel.py): the same warp the bass, keys and melody go through, by 8ths (the
default: the "and" moves, the 16ths inside an 8th move with it) or by 16ths (the odd 16ths move,
as an MPC's swing does).

Velocities (letters X x o g = 100, 86, 64, 36) sit where a beat-maker plays a sampled kit: the
backbeat and the kick in the middle layers (85-100), the top layer (ACCENT) kept for the last
hit of a fill and a seeded accent at the end of a phrase; hats breathe (a seeded drift of the
hand across the bar, and accents) instead of two fixed levels; ghost notes stay under 50.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lofictl.compose.feel import DEFAULT_SWING_UNIT, SWING_UNITS, Feel, hat_lean_ms, is_compound
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

LEVELS: dict[str, int] = {"X": 100, "x": 86, "o": 64, "g": 36}
ACCENT = 116  # the kit's top layer: a fill's last hit, a phrase's last backbeat, never the groove
FILL_LEVELS: dict[str, int] = {**LEVELS, "X": ACCENT}


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
    hits: list[tuple[int, int, int]] = []
    for lane, grid in FILLS[name].items():
        cells = grid.replace(" ", "")
        if len(cells) != 8 or any(c not in LEVELS and c != "." for c in cells):
            raise ValueError(f"fill {name}.{lane}: needs 8 steps of X x o g .")
        hits.extend((step, KIT[lane], FILL_LEVELS[c]) for step, c in enumerate(cells) if c != ".")
    return tuple(sorted(hits))


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
    energy: float = 0.0,
) -> None:
    """Seeded per-bar variation, in place: ghost notes, thinned or doubled hats, kick pickups.

    `energy` (-1..1) is a section's character on top of `amount`: below 0 the timekeeper thins
    out, above 0 it fills in with 16ths, so sections of one pattern differ in how busy they are.
    Every bar draws the same number of numbers in the same order whatever it contains, so the
    amount of variation changes how many things happen, not which random number goes where.
    """
    u_ghost, u_drop, u_add, u_pick, u_vel = gen.random((5, n_steps))
    u_open = gen.random()
    if amount <= 0 and energy == 0:
        return
    pulse = 6 if compound else 4
    kick, ghost, keeper = KIT["kick"], KIT[pattern.ghost], KIT[pattern.timekeeper]
    backbeat = {KIT["snare"], KIT["stick"], KIT["clap"], ghost}
    thin = amount * 0.25 + max(0.0, -energy) * 0.35
    busy = amount * 0.25 + max(0.0, energy) * 0.3
    for step in range(n_steps):
        hits = grid.get(step, {})
        strong = step % pulse == 0
        if step % 2 == 1 and not backbeat & hits.keys() and u_ghost[step] < amount * 0.35:
            grid.setdefault(step, {})[ghost] = 28 + int(u_vel[step] * 18)
        if not strong and keeper in hits and u_drop[step] < thin:
            del hits[keeper]
        if step % 2 == 1 and keeper not in hits and keeper in grid.get(step - 1, {}) and u_add[step] < busy:
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


def _apply_fill(
    grid: dict[int, dict[int, int]],
    pattern: DrumPattern,
    n_steps: int,
    gen: np.random.Generator,
    steps: int = 8,
    name: str | None = None,
) -> None:
    """Replace the end of the bar with one of the pattern's fills (chosen by the bar's seed, or
    `name`): its last `steps` 16ths (8: two beats; 4: a one-beat turnaround)."""
    name = (
        name or pattern.fills[int(gen.integers(len(pattern.fills)))]
    )  # the bar's own stream: nothing else draws from it
    length = min(steps, n_steps // 2)
    first = n_steps - length
    for step in range(first, n_steps):
        grid.pop(step, None)
    for step, pitch, velocity in _fill_hits(name):
        if step >= 8 - length:
            scaled = max(1, min(127, round(velocity * pattern.fill_scale)))
            grid.setdefault(first + step - (8 - length), {})[pitch] = scaled


# --- phrase moves: what a beat-maker does at the end of 4 and 8 bars and before a new section ----

# (move, weight) by where the bar falls. groove: the pattern; fill: two beats of a fill; turn: a
# one-beat turnaround; drop: the last two beats fall away; out: the drums stop after the downbeat
# kick; thin: kick and on-beat hats only; half: a half-time bar (the snare once, mid-bar).
SECTION_END_MOVES = (("fill", 0.5), ("out", 0.15), ("thin", 0.15), ("half", 0.2))
LONG_PHRASE_END_MOVES = (("fill", 0.4), ("drop", 0.15), ("half", 0.2), ("thin", 0.1), ("groove", 0.15))
PHRASE_END_MOVES = (("turn", 0.45), ("drop", 0.1), ("half", 0.1), ("groove", 0.35))
SECTION_ENERGY = ((-1.0, 0.3), (0.0, 0.4), (1.0, 0.3))  # thinner, as written, busier hats


def _pick(table: tuple[tuple, ...], u: float):
    total = 0.0
    for choice, weight in table:
        total += weight
        if u < total:
            return choice
    return table[-1][0]


def bar_move(index: int, bars: int, phrase_bars: int, section_end: bool, u: float) -> str:
    """What bar `index` of a section of `bars` plays, from its seeded draw `u` (0..1).

    With `phrase_bars` 0 only a section's last bar moves (a fill, when `section_end`). Otherwise
    the last bar of each phrase of `phrase_bars` bars turns around, of each two phrases fills or
    drops, and the section's last bar (when another section follows) fills, stops, thins or
    halves the time.
    """
    last = index == bars - 1
    if section_end and last:
        return _pick(SECTION_END_MOVES, u) if phrase_bars > 0 else "fill"
    if phrase_bars <= 0:
        return "groove"
    if (index + 1) % (2 * phrase_bars) == 0:
        return _pick(LONG_PHRASE_END_MOVES, u)
    if (index + 1) % phrase_bars == 0:
        return _pick(PHRASE_END_MOVES, u)
    return "groove"


def _drums_out(grid: dict[int, dict[int, int]]) -> None:
    """The drums stop after the downbeat kick (which lands the phrase before)."""
    kick = grid.get(0, {}).get(KIT["kick"])
    grid.clear()
    if kick:
        grid[0] = {KIT["kick"]: kick}


def _thin(grid: dict[int, dict[int, int]], pulse: int) -> None:
    """Only the kick and the timekeeper on the beat: the band's floor drops away."""
    for step, hits in list(grid.items()):
        for pitch in list(hits):
            if not (pitch == KIT["kick"] or (pitch in TIMEKEEPERS and step % pulse == 0)):
                del hits[pitch]
        if not hits:
            del grid[step]


def _half_time(grid: dict[int, dict[int, int]], n_steps: int, pulse: int) -> None:
    """A half-time bar: the backbeat lifted and played once in the middle of the bar, the kick
    cleared around it, the timekeeper in 8ths (ghost notes stay)."""
    played = [(pitch, v) for hits in grid.values() for pitch, v in hits.items() if pitch in MAIN_BACKBEAT]
    strong = [v for _, v in played if v >= LEVELS["o"]]
    snare = played[0][0] if played else KIT["snare"]
    middle = (n_steps // 2) // pulse * pulse
    for step, hits in list(grid.items()):
        for pitch in list(hits):
            backbeat = pitch in BACKBEAT and hits[pitch] >= LEVELS["o"]
            crowding = pitch == KIT["kick"] and step != 0 and middle - 2 <= step < middle + 2
            if backbeat or crowding or (pitch in TIMEKEEPERS and step % 2 == 1):
                del hits[pitch]
        if not hits:
            del grid[step]
    grid.setdefault(middle, {})[snare] = max(strong, default=LEVELS["X"])


# --- beat-music feel: velocity shaping and the laid-back backbeat -----------------------------

BACKBEAT = frozenset({KIT["snare"], KIT["stick"], KIT["clap"], KIT["snare-soft"]})  # what lays back
MAIN_BACKBEAT = (KIT["snare"], KIT["stick"], KIT["clap"])  # what plays 2 and 4
TIMEKEEPERS = frozenset({KIT["hat"], KIT["pedal-hat"], KIT["open-hat"], KIT["ride"], KIT["shaker"]})
HAT_DRIFT = 10.0  # sd of the hand's drift across the bar, velocity steps at full amount
HAT_TOUCH = 4.0  # each stroke's own wobble, at most this many steps either way
HAT_ACCENT = 16  # an off-beat 8th leaned on...
HAT_ACCENT_CHANCE = 0.2  # ...this often at full amount


def shape_velocities(
    grid: dict[int, dict[int, int]], n_steps: int, compound: bool, amount: float, gen: np.random.Generator
) -> None:
    """Velocity shaping as a beat-maker plays a groove, in place; `amount` 0 leaves the grid as written.

    The bar's downbeat kick leans a little; kicks between beats are played softer; the backbeat
    stays in the middle layers as written (the top layer is for accents). The timekeeper (hats,
    ride, shaker) is strong on the beat, softer on the off-beat 8th and softest on the 16ths in
    between, and never at fixed levels: the hand drifts across the bar (a smoothed seeded walk),
    each stroke wobbles, and now and then an off-beat 8th is accented. Ghost notes sink further so
    they are felt, not heard. On top, each bar rises or falls a little across the bar (a seeded
    tilt of up to 6 steps of velocity at full amount). Every bar draws the same numbers whatever
    it holds.
    """
    tilt, lift = gen.uniform(-1.0, 1.0, 2)
    drift, touch, accent = gen.normal(0.0, 1.0, n_steps), gen.uniform(-1.0, 1.0, n_steps), gen.random(n_steps)
    if amount <= 0:
        return
    hand = np.convolve(drift, (0.25, 0.5, 0.25), mode="same") / 0.6124  # smoothed, sd about 1
    pulse = 6 if compound else 4
    for step, hits in grid.items():
        on_beat = step % pulse == 0
        eighth = step % 2 == 0
        for pitch, velocity in hits.items():
            if pitch in TIMEKEEPERS:
                scale = 1.0 if on_beat else (1 - 0.22 * amount if eighth else 1 - 0.4 * amount)
                change = velocity * (scale - 1) + amount * (HAT_DRIFT * hand[step] + HAT_TOUCH * touch[step])
                if eighth and not on_beat and accent[step] < HAT_ACCENT_CHANCE * amount:
                    change += HAT_ACCENT * amount
            elif pitch in BACKBEAT and velocity < LEVELS["o"]:  # a ghost note
                change = -velocity * 0.3 * amount
            elif pitch == KIT["kick"]:
                change = 4 * amount if step == 0 else (0.0 if on_beat else -velocity * 0.15 * amount)
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
    swing_unit: str = DEFAULT_SWING_UNIT,
    humanize_timing_ms: float = 0.0,
    humanize_velocity: int = 0,
    seconds_per_beat: float,
    fill_last_bar: bool = False,
    phrase_bars: int = 0,
    variation: float = 0.15,
    meter: tuple[int, int] | None = None,
    dynamics: float = 0.0,
    laid_back_ms: float = 0.0,
) -> tuple[Note, ...]:
    """Drum notes (GM kit pitches, times in beats from the piece's start) for `bars` bars.

    Bar `start_bar + i` draws its variation, phrase move, fill and humanize from streams named by
    that bar number, so the same bar gets the same drums whatever is played around it. `meter`
    (e.g. (6, 8)) is needed only to tell compound meters from simple ones of the same length.

    `phrase_bars` (0: off) turns on phrasing: the bars are one section, its phrases this many
    bars long; their last bars turn around, fill, drop or play half-time (bar_move), and the
    section gets a seeded energy (thinner or busier hats) from the `seed` alone. Without it only
    the last bar moves, a fill when `fill_last_bar`.

    Hits are placed on the grid, swung by the band's feel (feel.Feel: `swing` by `swing_unit`),
    then humanized: timing is gaussian with a standard deviation of `humanize_timing_ms`, clipped
    to just under half the smallest gap between swung grid positions (so hits never change order)
    and to the bar (a downbeat is never pushed into the bar before); velocity is gaussian with sd
    `humanize_velocity / 2`, clipped to ±`humanize_velocity` and to 1..127.

    `dynamics` (0..1) shapes velocities on the grid (shape_velocities); `laid_back_ms` sets the
    pocket: the backbeat plays late (laid_back_shifts), after humanize and free of its clip but
    never past the bar's end, and the timekeeper leans ahead by feel.hat_lean_ms of it (never
    before the bar). Each draws from its own streams, so turning one on changes nothing else.
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
    if swing_unit not in SWING_UNITS:
        raise LofictlError(
            f"swing unit must be one of {', '.join(SWING_UNITS)} (got {swing_unit!r})", field="swing_unit"
        )
    _check("humanize timing", humanize_timing_ms, 0, 200, "humanize.timing_ms", " ms")
    _check("humanize velocity", humanize_velocity, 0, 127, "humanize.velocity")
    _check("variation", variation, 0, 1, "variation")
    _check("dynamics", dynamics, 0, 1, "dynamics")
    _check("laid back", laid_back_ms, 0, 60, "laid_back_ms", " ms")
    _check("phrase bars", phrase_bars, 0, None, "phrase_bars")
    _check("seconds per beat", seconds_per_beat, 1e-6, None, "tempo")
    compound = is_compound(meter)
    if meter is not None and abs(meter[0] * 4 / meter[1] - beats_per_bar) > 1e-9:
        raise LofictlError(
            f"meter {meter[0]}/{meter[1]} does not have {beats_per_bar} beats per bar", field="time_signature"
        )
    n_steps = int(beats_per_bar * STEPS_PER_BEAT + 1e-9)  # whole 16ths; a 6/8 bar has 12
    pulse = 6 if compound else 4
    source = _pattern_bars(pattern)
    spec = PATTERNS[pattern]
    feel = Feel(swing, swing_unit, beats_per_bar, compound)

    # Humanize may move a hit up to just under half the smallest gap between grid positions,
    # so hits never swap places; the spread in ms becomes beats through the tempo.
    max_shift = 0.45 * feel.smallest_gap(STEP_BEATS)
    sigma_beats = humanize_timing_ms / 1000.0 / seconds_per_beat
    lean = hat_lean_ms(laid_back_ms) / 1000.0 / seconds_per_beat
    energy = _pick(SECTION_ENERGY, rng(seed, "drums", "section").random()) if phrase_bars > 0 else 0.0

    notes: list[Note] = []
    for i in range(bars):
        bar = start_bar + i
        move = bar_move(i, bars, phrase_bars, fill_last_bar, rng(seed, "drums", "move", bar).random())
        if compound and move == "half":
            move = "thin"  # a compound bar's backbeat already falls mid-bar
        grid = _fit_to_meter(source[bar % len(source)], n_steps, compound)
        if move == "half":
            _half_time(grid, n_steps, pulse)
        _vary(grid, spec, n_steps, compound, variation, rng(seed, "drums", "variation", bar), energy)
        if move in ("fill", "turn", "drop"):
            fill = rng(seed, "drums", "fill", bar)
            _apply_fill(
                grid, spec, n_steps, fill, steps=4 if move == "turn" else 8, name="drop" if move == "drop" else None
            )
        elif move == "out":
            _drums_out(grid)
        elif move == "thin":
            _thin(grid, pulse)
        shape_velocities(grid, n_steps, compound, dynamics, rng(seed, "drums", "dynamics", bar))
        if phrase_bars > 0 and i % (2 * phrase_bars) == 0 and KIT["kick"] in grid.get(0, {}):
            grid[0][KIT["kick"]] = ACCENT  # the one after a long phrase lands in the top layer
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
            played = bar_start + feel.in_bar(step * STEP_BEATS) + float(shift)  # the grid swung, then humanized
            if pitch in TIMEKEEPERS:
                played -= lean
            start = min(max(played, bar_start) + float(lag), bar_end - DRUM_NOTE_BEATS)
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
