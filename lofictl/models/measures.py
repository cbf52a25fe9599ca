"""Pure measures of melodies and progressions, and a set of pieces against another set.

The comparison follows Yang & Lerch 2020 ("On the evaluation of generative models in music",
Neural Computing and Applications 32): every piece gets a few features; for each feature the
*intra-set* distances (every pair of pieces within the human reference set) and the
*inter-set* distances (every generated piece against every reference piece) are two
distributions, smoothed by a Gaussian kernel density estimate; their **overlap area** is the
figure (1.0: a generated piece is as far from the humans as the humans are from each other;
0.0: nothing alike). The KL divergence of the same two densities is kept too, as the paper
reports both.

A *passage* is the unit measured: a melody over its chords, `bars` bars long, times in beats
from the passage's first bar line. Features (undefined ones are None and drop out of the sets):

* `pitch_classes` — histogram of the notes' pitch classes *relative to the tonic* (12 bins,
  counting notes, summing to 1). Relative, unlike the paper's absolute histogram, because the
  reference songs are in every key and a key change is not a difference in style.
* `intervals` — histogram of the steps between consecutive notes in semitones, -12..+12
  (25 bins; an octave or more counts as ±12).
* `onset_intervals` — histogram of the times between consecutive onsets (rests included),
  each put in the nearest of LENGTH_CLASSES on a log scale (12 bins: 16th … whole, 2 bars+).
* `note_lengths` — the same histogram of the notes' own lengths.
* `notes_per_bar` — notes / bars.
* `silent_share` — share of the passage's 16th-note cells in which no note sounds (a cell
  sounds when a note holds across its midpoint): the breaths between phrases.
* `pitch_range` — highest minus lowest pitch, semitones.
* `chord_tones` — duration-weighted share of note time on the sounding chord's pitch classes
  (a note held across a change is split; time under no chord is left out).

For the scalar features the overlap of the values' own densities is kept too (`value_overlap`):
the distance distributions can overlap well while the values sit apart (compare_feature).

Distances: Euclidean between histograms, absolute difference between scalars.

Melodies are read as one line: where notes start together only the highest counts.

Progressions: `loop_period` asks whether a section repeats a 1-, 2- or 4-bar pattern of chords.
Bars are compared by their *steps*: in each half bar the chord sounding longest, read as its
root and third (major, minor, or none for sus chords, which match either) — so Am and Am9 are
the same step, a change pushed a beat ahead of the bar line or a passing chord is not a
different bar, and spelling does not matter. Every bar from the second time round must match
the bar a period earlier, except the section's last bar (a turnaround). A section on one chord
throughout is *static*, not a loop.
`quality_shares` gives the share of chord time per reduced quality (tokens.reduce_intervals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lofictl.compose import theory
from lofictl.compose.score import ChordEvent, Note
from lofictl.models import tokens

FEATURES = (
    "pitch_classes",
    "intervals",
    "onset_intervals",
    "note_lengths",
    "notes_per_bar",
    "silent_share",
    "pitch_range",
    "chord_tones",
)
FEATURE_LABELS = {
    "pitch_classes": "pitch-class histogram",
    "intervals": "interval histogram",
    "onset_intervals": "inter-onset intervals",
    "note_lengths": "note lengths",
    "notes_per_bar": "notes per bar",
    "silent_share": "silent share of the grid",
    "pitch_range": "pitch range",
    "chord_tones": "chord-tone share",
}
# Onset-interval and note-length classes in ticks of 1/12 beat: the model's durations, then
# two bars (anything longer falls in it too).
LENGTH_CLASSES = tokens.DURATION_TICKS + (96,)
MAX_INTERVAL = 12
CELLS_PER_BEAT = 4  # the silent-share grid: 16ths
KDE_POINTS = 2048
SECTION_BARS = 8
LOOP_PERIODS = (1, 2, 4)


@dataclass(frozen=True)
class Passage:
    """What is measured: a melody over chords, `bars` bars of `beats_per_bar` beats."""

    name: str
    notes: tuple[Note, ...]
    chords: tuple[ChordEvent, ...]
    tonic: int
    mode: str
    bars: int
    beats_per_bar: float = 4.0

    @property
    def beats(self) -> float:
        return self.bars * self.beats_per_bar


def top_line(notes) -> list[Note]:
    """The highest note at each onset, in time order; notes of no length dropped."""
    by_onset: dict[float, Note] = {}
    for note in notes:
        if note.duration > 0 and (note.start not in by_onset or note.pitch > by_onset[note.start].pitch):
            by_onset[note.start] = note
    return [by_onset[s] for s in sorted(by_onset)]


# --- features of one passage ---------------------------------------------------------------


def pitch_class_histogram(notes, tonic: int) -> np.ndarray | None:
    if not notes:
        return None
    counts = np.bincount([(n.pitch - tonic) % 12 for n in notes], minlength=12).astype(np.float64)
    return counts / counts.sum()


def interval_histogram(notes) -> np.ndarray | None:
    if len(notes) < 2:
        return None
    steps = np.clip(np.diff([n.pitch for n in notes]), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    counts = np.bincount(steps, minlength=2 * MAX_INTERVAL + 1).astype(np.float64)
    return counts / counts.sum()


def length_class(beats) -> np.ndarray:
    """Index into LENGTH_CLASSES of each length in beats: nearest on a log scale."""
    ticks = np.maximum(np.asarray(beats, np.float64) * tokens.TICKS_PER_BEAT, 1e-9)
    classes = np.log(np.array(LENGTH_CLASSES, np.float64))
    return np.argmin(np.abs(np.log(ticks)[:, None] - classes[None, :]), axis=1)


def _length_histogram(lengths) -> np.ndarray | None:
    if len(lengths) == 0:
        return None
    counts = np.bincount(length_class(lengths), minlength=len(LENGTH_CLASSES)).astype(np.float64)
    return counts / counts.sum()


def onset_interval_histogram(notes) -> np.ndarray | None:
    return _length_histogram(np.diff([n.start for n in notes])) if len(notes) >= 2 else None


def note_length_histogram(notes) -> np.ndarray | None:
    return _length_histogram([n.duration for n in notes])


def notes_per_bar(notes, bars: int) -> float | None:
    return len(notes) / bars if bars > 0 else None


def silent_share(notes, beats: float) -> float | None:
    """Share of 16th cells over [0, beats) with no note sounding at the cell's midpoint."""
    cells = int(round(beats * CELLS_PER_BEAT))
    if cells <= 0:
        return None
    sounding = np.zeros(cells + 1, np.int64)
    for n in notes:
        # Cells whose midpoint (i + 0.5) / CELLS_PER_BEAT lies in [start, end).
        first = max(math.ceil(n.start * CELLS_PER_BEAT - 0.5 - 1e-9), 0)
        last = min(math.ceil(n.end * CELLS_PER_BEAT - 0.5 - 1e-9), cells)
        if last > first:
            sounding[first] += 1
            sounding[last] -= 1
    return float(np.mean(np.cumsum(sounding)[:cells] == 0))


def pitch_range(notes) -> float | None:
    return float(max(n.pitch for n in notes) - min(n.pitch for n in notes)) if notes else None


def chord_tone_share(notes, chords, tones=None) -> float | None:
    """Of the note time sounding under a chord, the share on the chord's pitch classes (or on
    `tones(symbol)`, e.g. only its own tones)."""
    tones = tones or (lambda symbol: theory.parse_chord(symbol).pitch_classes)
    on = total = 0.0
    spans = [(c.start, c.end, tones(c.symbol)) for c in chords]
    for note in notes:
        for start, end, pcs in spans:
            overlap = min(note.end, end) - max(note.start, start)
            if overlap > 0:
                total += overlap
                if note.pitch % 12 in pcs:
                    on += overlap
    return on / total if total > 0 else None


def passage_features(passage: Passage) -> dict:
    """Every feature of one passage (module doc); None where undefined."""
    line = top_line(passage.notes)
    return {
        "pitch_classes": pitch_class_histogram(line, passage.tonic),
        "intervals": interval_histogram(line),
        "onset_intervals": onset_interval_histogram(line),
        "note_lengths": note_length_histogram(line),
        "notes_per_bar": notes_per_bar(line, passage.bars) if line else None,
        "silent_share": silent_share(line, passage.beats),
        "pitch_range": pitch_range(line),
        "chord_tones": chord_tone_share(line, passage.chords) if passage.chords else None,
    }


# --- sets against sets ---------------------------------------------------------------------


def _matrix(values) -> np.ndarray:
    """Defined values of one feature as an (n, d) array (scalars: d = 1)."""
    rows = [np.atleast_1d(np.asarray(v, np.float64)) for v in values if v is not None]
    return np.stack(rows) if rows else np.zeros((0, 1))


def intra_distances(values) -> np.ndarray:
    """Distances between every pair of a set's pieces (each pair once)."""
    x = _matrix(values)
    i, j = np.triu_indices(len(x), k=1)
    return np.linalg.norm(x[i] - x[j], axis=1)


def inter_distances(values_a, values_b) -> np.ndarray:
    """Distances from every piece of one set to every piece of the other."""
    a, b = _matrix(values_a), _matrix(values_b)
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0)
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2).ravel()


def _bandwidth(x: np.ndarray, floor: float) -> float:
    """Scott's rule (what scipy.stats.gaussian_kde uses), never below `floor`."""
    if len(x) < 2:
        return floor
    return max(float(np.std(x, ddof=1)) * len(x) ** -0.2, floor)


def _density(x: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian KDE of x on an even grid, by linear binning then a sampled-kernel convolution
    (exact up to the grid step; fast for tens of thousands of distances)."""
    step = grid[1] - grid[0]
    pos = (x - grid[0]) / step
    low = np.clip(np.floor(pos).astype(np.int64), 0, len(grid) - 2)
    frac = np.clip(pos - low, 0.0, 1.0)
    weights = np.bincount(low, 1.0 - frac, len(grid)) + np.bincount(low + 1, frac, len(grid))
    half = int(min(math.ceil(4 * bandwidth / step), len(grid) - 1))
    offsets = np.arange(-half, half + 1) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2)
    density = np.convolve(weights, kernel / kernel.sum())[half : half + len(grid)]
    return density / (density.sum() * step)


def _densities(x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) == 0 or len(y) == 0:
        return None
    both = np.concatenate([x, y])
    # Two sets of equal constants are one point mass: any small width shows them identical.
    floor = max(0.02 * float(both.std()), 1e-9)
    bx, by = _bandwidth(x, floor), _bandwidth(y, floor)
    reach = 4 * max(bx, by)
    grid = np.linspace(both.min() - reach, both.max() + reach, KDE_POINTS)
    return grid, _density(x, grid, bx), _density(y, grid, by), float(grid[1] - grid[0])


def kde_overlap(x, y) -> float | None:
    """Overlap area of the two samples' Gaussian KDEs: ∫ min(p, q); None if either is empty."""
    found = _densities(x, y)
    if found is None:
        return None
    _, p, q, step = found
    return float(min(max(np.minimum(p, q).sum() * step, 0.0), 1.0))


def kl_divergence(x, y) -> float | None:
    """KL(p ‖ q) of the two samples' KDEs on the shared grid, in nats (q floored at 1e-12)."""
    found = _densities(x, y)
    if found is None:
        return None
    _, p, q, step = found
    keep = p > 0
    return float(np.sum(p[keep] * np.log(p[keep] / np.maximum(q[keep], 1e-12))) * step)


def compare_feature(generated, reference) -> dict:
    """One feature's values (None = undefined) in the two sets → the overlap and its inputs.

    `overlap`: reference intra-set distances against inter-set distances (the headline);
    `overlap_generated`: the generated set's own intra-set distances against the inter-set
    ones (low when the generated pieces are all alike or all over the place);
    `value_overlap` (scalar features): the densities of the values themselves. Distances can
    hide a shift where the humans vary a lot — a set whose every passage is 4% silent sits
    at distances from the humans much like theirs from each other (silences of 0–60%) — so
    the value overlap is reported beside them."""
    ref_intra = intra_distances(reference)
    gen_intra = intra_distances(generated)
    inter = inter_distances(generated, reference)
    gen_m, ref_m = _matrix(generated), _matrix(reference)
    scalar = gen_m.shape[1] == 1 and ref_m.shape[1] == 1
    return {
        "overlap": kde_overlap(ref_intra, inter),
        "kl": kl_divergence(ref_intra, inter),
        "overlap_generated": kde_overlap(gen_intra, inter),
        "value_overlap": kde_overlap(gen_m[:, 0], ref_m[:, 0]) if scalar else None,
        "n": [int(len(gen_m)), int(len(ref_m))],
        "generated": _describe(gen_m, scalar),
        "reference": _describe(ref_m, scalar),
        "intra_reference": _spread(ref_intra),
        "intra_generated": _spread(gen_intra),
        "inter": _spread(inter),
    }


def _spread(x) -> dict:
    x = np.asarray(x, np.float64)
    if len(x) == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(x.mean()), "std": float(x.std()), "n": int(len(x))}


def _describe(m: np.ndarray, scalar: bool) -> dict:
    """A scalar feature's mean and std; a histogram's mean bins."""
    if len(m) == 0:
        return {"mean": None}
    if scalar:
        return {"mean": float(m[:, 0].mean()), "std": float(m[:, 0].std())}
    return {"mean": m.mean(axis=0).tolist()}


def compare_sets(generated: list[dict], reference: list[dict], features=FEATURES) -> dict:
    """Feature dicts of two sets (passage_features) → per-feature comparison and the mean
    overlap over the features both sets define."""
    per = {name: compare_feature([f[name] for f in generated], [f[name] for f in reference]) for name in features}
    overlaps = [per[n]["overlap"] for n in features if per[n]["overlap"] is not None]
    return {"features": per, "mean_overlap": float(np.mean(overlaps)) if overlaps else None}


def distance_samples(generated: list[dict], reference: list[dict], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(reference intra-set, inter-set) distances of one feature, for plots."""
    ref = [f[name] for f in reference]
    return intra_distances(ref), inter_distances([f[name] for f in generated], ref)


def density_curves(x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(grid, p, q): the two KDEs the overlap is computed from (for plots)."""
    found = _densities(x, y)
    return None if found is None else found[:3]


# --- progressions --------------------------------------------------------------------------


def _chord_label(symbol: str) -> tuple[int, str]:
    """(root, third) — 'M' major third, 'm' minor third, '-' none (sus): what a progression's
    step is, whatever its colour (Cm, Cm7 and Cm9 are one step; C and Cm are two)."""
    chord = theory.parse_chord(symbol)
    steps = {i % 12 for i in chord.intervals}
    return chord.root, "M" if 4 in steps else "m" if 3 in steps else "-"


def _same_step(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a[0] == b[0] and (a[1] == b[1] or "-" in (a[1], b[1]))


def bar_steps(chords, bars: int, beats_per_bar: float) -> list[tuple]:
    """Per bar, the chord sounding longest in each half bar as _chord_label (None: no chord), so a
    change pushed a beat early or a passing chord does not make a bar different."""
    half = beats_per_bar / 2
    labelled = [(c.start, c.end, _chord_label(c.symbol)) for c in chords]
    rows = []
    for bar in range(bars):
        row = []
        for h in range(2):
            lo = bar * beats_per_bar + h * half
            best, longest = None, 1e-9
            for start, end, label in labelled:
                held = min(end, lo + half) - max(start, lo)
                if held > longest + 1e-9:
                    best, longest = label, held
            row.append(best)
        rows.append(tuple(row))
    return rows


def _same_bar(a: tuple, b: tuple) -> bool:
    return all(_same_step(x, y) for x, y in zip(a, b))


def loop_period(chords, bars: int, beats_per_bar: float, periods=LOOP_PERIODS) -> dict:
    """{"period": shortest p in `periods` whose bars repeat, else None; "static": one chord
    throughout}. Bars i and i-p must match for every i ≥ p but the last bar (a turnaround
    may end the section); the section must be long enough for the pattern to come round twice."""
    rows = bar_steps(chords, bars, beats_per_bar)
    labels = {label for row in rows for label in row}
    if len(labels) <= 1:
        return {"period": None, "static": True}
    for p in periods:
        if bars < 2 * p:
            continue
        # Every bar from the second time round on matches the bar p before, the last excepted.
        if all(_same_bar(rows[i], rows[i - p]) for i in range(p, bars - 1)):
            return {"period": p, "static": False}
    return {"period": None, "static": False}


def section_loops(chords, bars: int, beats_per_bar: float, section_bars: int = SECTION_BARS) -> list[dict]:
    """loop_period of each whole `section_bars`-bar section of a progression."""
    out = []
    for first in range(0, bars - section_bars + 1, section_bars):
        start, end = first * beats_per_bar, (first + section_bars) * beats_per_bar
        local = [
            ChordEvent(max(c.start, start) - start, min(c.end, end) - max(c.start, start), c.symbol)
            for c in chords
            if c.end > start + 1e-9 and c.start < end - 1e-9
        ]
        out.append(loop_period(local, section_bars, beats_per_bar))
    return out


def loop_summary(sections: list[dict]) -> dict:
    """Shares of sections that loop (by period), sit on one chord, or run through."""
    n = len(sections)
    if n == 0:
        return {"sections": 0, "loop_share": None, "static_share": None, "through_share": None, "by_period": {}}
    looped = [s for s in sections if s["period"] is not None]
    static = sum(1 for s in sections if s["static"])
    return {
        "sections": n,
        "loop_share": len(looped) / n,
        "static_share": static / n,
        "through_share": (n - len(looped) - static) / n,
        "by_period": {str(p): sum(1 for s in looped if s["period"] == p) / n for p in LOOP_PERIODS},
    }


def chord_quality(symbol: str) -> str:
    return tokens.reduce_intervals(theory.parse_chord(symbol).intervals)


def quality_shares(progressions) -> dict[str, float]:
    """Share of chord time per reduced quality over several progressions (lists of ChordEvent)."""
    time: dict[str, float] = {}
    for chords in progressions:
        for c in chords:
            if c.duration > 0:
                q = chord_quality(c.symbol)
                time[q] = time.get(q, 0.0) + c.duration
    total = sum(time.values())
    return {q: time[q] / total for q in sorted(time, key=lambda q: (-time[q], q))} if total else {}


def share_overlap(a: dict[str, float], b: dict[str, float]) -> float | None:
    """Histogram intersection of two share tables: 1.0 identical, 0.0 nothing in common."""
    if not a or not b:
        return None
    return float(sum(min(a.get(k, 0.0), b.get(k, 0.0)) for k in set(a) | set(b)))
