"""Note-level measures of a track a producer can read: who sits above the melody, where each part
puts its off-beats, how hard each drum is hit, how busy each section is.

Pure functions over Notes (times in beats). Used by `lofictl analyze` (lofictl/analysis/track.py).

* `melody_under_chords` — share of the melody's sounding time during which a chords-track note
  sounds *above* it (higher pitch): the keys' top voice over the tune buries it.
* `offbeat_position` — mean position, as a fraction of the beat, of the onsets that play the
  off-beat 8th (within OFFBEAT_WINDOW of the beat: 0.5 straight, 0.56 at swing 0.56, 0.667 triplet);
  `flam_ms` — the distance between two parts' means in milliseconds at a tempo: parts that play
  the same "and" 50 ms apart sound loose, not swung.
* `velocity_spread` — per drum key (GM note): hits, median velocity, inter-quartile range, range.
* `hits_per_bar` — drum hits per bar in each section.
"""

from __future__ import annotations

import numpy as np

OFFBEAT_WINDOW = (0.375, 0.72)  # the off-beat 8th from straight (0.5) to past triplet swing (0.667)
ROLL_BEATS = 0.1  # notes starting this close after a strike's first note are that strike (a rolled chord)


def _merge(spans: list[tuple[float, float]]) -> float:
    """Total length of the union of (start, end) spans."""
    total, end = 0.0, -np.inf
    for lo, hi in sorted(spans):
        if hi <= end:
            continue
        total += hi - max(lo, end)
        end = hi
    return total


def melody_under_chords(melody, chord_notes) -> float | None:
    """Share of melody time with a chords note sounding above the melody note (None: no melody)."""
    total = covered = 0.0
    chords = sorted(chord_notes, key=lambda n: n.start)
    for note in melody:
        if note.duration <= 0:
            continue
        total += note.duration
        above = [
            (max(c.start, note.start), min(c.end, note.end))
            for c in chords
            if c.pitch > note.pitch and c.start < note.end and c.end > note.start
        ]
        covered += _merge(above)
    return covered / total if total > 0 else None


def offbeat_fractions(notes) -> list[float]:
    """Positions within the beat of the onsets that fall in OFFBEAT_WINDOW (a chord's notes struck
    together, or rolled within ROLL_BEATS, are one onset, at its first note)."""
    lo, hi = OFFBEAT_WINDOW
    out = []
    strikes: list[float] = []  # where each strike starts: a rolled chord counts at its first note
    for start in sorted({note.start for note in notes}):
        if not strikes or start - strikes[-1] > ROLL_BEATS:
            strikes.append(start)
    for start in strikes:
        frac = start - np.floor(start + 1e-9)
        if lo <= frac < hi:
            out.append(float(frac))
    return out


def offbeat_position(notes) -> dict:
    """{"mean": mean off-beat position (fraction of a beat) or None, "n": how many onsets}."""
    fractions = offbeat_fractions(notes)
    return {"mean": float(np.mean(fractions)) if fractions else None, "n": len(fractions)}


def flam_ms(position_a: float, position_b: float, bpm: float) -> float:
    """How far apart two off-beat positions (fractions of a beat) land, in milliseconds at `bpm`."""
    return abs(position_a - position_b) * 60_000.0 / bpm


def flams(positions: dict[str, float | None], bpm: float) -> dict[str, float]:
    """'a / b' → flam_ms for every pair of parts with a position, in name order."""
    named = sorted((k, v) for k, v in positions.items() if v is not None)
    return {f"{a} / {b}": flam_ms(pa, pb, bpm) for i, (a, pa) in enumerate(named) for b, pb in named[i + 1 :]}


def velocity_spread(drum_notes) -> dict[int, dict]:
    """Per GM key: hits, median, IQR (75th − 25th percentile), lowest and highest velocity."""
    by_key: dict[int, list[int]] = {}
    for note in drum_notes:
        by_key.setdefault(note.pitch, []).append(note.velocity)
    out = {}
    for key in sorted(by_key):
        v = np.array(by_key[key], dtype=np.float64)
        q25, q50, q75 = np.percentile(v, [25, 50, 75])
        out[key] = {
            "hits": int(v.size),
            "median": float(q50),
            "iqr": float(q75 - q25),
            "min": int(v.min()),
            "max": int(v.max()),
        }
    return out


def hits_per_bar(drum_notes, sections, beats_per_bar: float) -> dict[str, float]:
    """Section name → drum hits per bar; sections are (name, start_bar, bars), a repeated name
    numbered ('A', 'A #2')."""
    out: dict[str, float] = {}
    for name, start_bar, bars in sections:
        lo, hi = start_bar * beats_per_bar, (start_bar + bars) * beats_per_bar
        hits = sum(1 for n in drum_notes if lo - 1e-6 <= n.start < hi - 1e-6)
        label, k = name, 2
        while label in out:
            label, k = f"{name} #{k}", k + 1
        out[label] = hits / bars if bars > 0 else 0.0
    return out
