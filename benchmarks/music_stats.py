"""Progression and rhythm figures of issue 11, for a recipe over many seeds or for held-out POP909.

    python benchmarks/music_stats.py recipe recipes/rainy_night.yaml --seeds 10
    python benchmarks/music_stats.py human            # the POP909 test split, 8-bar windows
    python benchmarks/music_stats.py drift            # mean melody pitch, first vs last 20 of 180 bars

Not a timing benchmark: numbers that say what the composer writes, next to what people write.
Progressions (each 8-bar section's own material once): share of plain triads (maj, min, dim,
aug, sus), share of chords on the tonic, share of sections that loop a 1-, 2- or 4-bar pattern
(lofictl.models.measures.loop_period), ii–V and ii–V–I root motions, chord-quality shares.
Melody: notes per bar, silent share of the 16th grid, off-beat onsets, syncopations (an
off-beat onset held over the next beat), note-length shares, and motif reuse (onsets whose
pitch was heard four bars earlier at the same place).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lofictl.compose import theory  # noqa: E402
from lofictl.compose.score import ChordEvent, Note  # noqa: E402
from lofictl.models import (
    measures,  # noqa: E402
    tokens,
)

TRIADS = {"maj", "min", "dim", "aug", "sus2", "sus4"}
LENGTHS = {
    0.25: "16th",
    1 / 3: "triplet 8th",
    0.5: "8th",
    0.75: "dotted 8th",
    1.0: "quarter",
    1.5: "dotted quarter",
    2.0: "half",
    4.0: "whole",
}


def chord_figures(sections: list[list[ChordEvent]], tonics: list[int]) -> dict:
    n = triads = tonic = ii_v = ii_v_i = 0
    for chords, key_tonic in zip(sections, tonics):
        roots = []
        for c in chords:
            n += 1
            triads += measures.chord_quality(c.symbol) in TRIADS
            root = (theory.parse_chord(c.symbol).root - key_tonic) % 12
            tonic += root == 0
            roots.append(root)
        ii_v += sum(1 for a, b in zip(roots, roots[1:]) if (a, b) == (2, 7))
        ii_v_i += sum(1 for a, b, c in zip(roots, roots[1:], roots[2:]) if (a, b, c) == (2, 7, 0))
    loops = measures.loop_summary([measures.loop_period(c, 8, 4) for c in sections])
    return {
        "sections": len(sections),
        "chords": n,
        "triad_share": triads / n,
        "tonic_share": tonic / n,
        "loop_share": loops["loop_share"],
        "loops_by_period": loops["by_period"],
        "ii_V": ii_v,
        "ii_V_I": ii_v_i,
        "qualities": measures.quality_shares(sections),
    }


def melody_figures(passages: list[tuple[list[Note], float]]) -> dict:
    per = collections.defaultdict(list)
    lengths = collections.Counter()
    for notes, beats in passages:
        line = measures.top_line(notes)
        if not line:
            continue
        off = sum(1 for n in line if abs(n.start - round(n.start)) > 1e-3)
        held = sum(1 for n in line if abs(n.start - round(n.start)) > 1e-3 and n.end > math.floor(n.start) + 1 + 1e-3)
        per["notes_per_bar"].append(len(line) / (beats / 4))
        per["silent_share"].append(measures.silent_share(line, beats))
        per["offbeat_onsets"].append(off / len(line))
        per["syncopated"].append(held / len(line))
        onsets = {round(n.start * 12): n.pitch for n in line}
        later = [t for t in onsets if t >= 4 * 48]
        if later:
            per["echo_4_bars"].append(sum(onsets.get(t - 4 * 48) == onsets[t] for t in later) / len(later))
        for n in line:
            lengths[min(LENGTHS, key=lambda x: abs(math.log(max(n.duration, 0.05) / x)))] += 1
    total = sum(lengths.values())
    out = {k: float(np.mean(v)) for k, v in per.items()}
    out["lengths"] = {LENGTHS[k]: lengths[k] / total for k in sorted(lengths)}
    return out


def recipe_figures(path: Path, seeds: int) -> dict:
    from lofictl.compose.arrangement import arrangement, compose
    from lofictl.models.generate import load_track_model
    from lofictl.recipe.load import load_recipe

    sections, tonics, melodies = [], [], []
    for seed in range(seeds):
        sets = [f"seed={seed}"]
        loaded = load_recipe(path)
        for name, track in loaded.recipe.tracks.items():
            if getattr(track, "generate", None) is not None:
                sets.append(f"tracks.{name}.generate.seed={seed}")
        loaded = load_recipe(path, sets)
        recipe = loaded.recipe
        models = {
            name: loaded.resolve_path(t.generate.model, ("tracks", name, "generate", "model"))
            for name, t in recipe.tracks.items()
            if getattr(t, "generate", None) is not None
        }
        score = compose(recipe, models={name: load_track_model(p) for name, p in models.items()}).score
        tonic = theory.parse_key(recipe.key).tonic
        melody_track = next((t.name for t in score.tracks if t.part == "melody"), None)
        seen = set()
        for block in arrangement(recipe):
            if block.bars != 8 or (block.material, block.variation) in seen:
                continue
            seen.add((block.material, block.variation))
            start, end = block.start_bar * 4.0, (block.start_bar + 8) * 4.0
            sections.append(
                [ChordEvent(c.start - start, c.duration, c.symbol) for c in score.chords if start <= c.start < end]
            )
            tonics.append(tonic)
            if melody_track and melody_track in block.tracks:
                notes = [
                    n.copy(start=n.start - start) for n in score.track(melody_track).notes if start <= n.start < end
                ]
                melodies.append((notes, 32.0))
    return {"chords": chord_figures(sections, tonics), "melody": melody_figures(melodies) if melodies else None}


def human_figures() -> dict:
    from lofictl.models.train import pop909

    root = Path(__file__).resolve().parents[1] / "data" / "pop909"
    sections, tonics, melodies = [], [], []
    for p in pop909.read_pop909(root):
        if pop909.split_of(pop909.song_of(p.name)) != "test":
            continue
        t = int(p.melody[0][0] // 4) * 4
        end = max(s + d for s, d, _, _ in p.melody)
        while t + 32 <= end:
            chords = [
                ChordEvent(
                    max(s, t) - t, min(s + d, t + 32) - max(s, t), tokens.chord_symbol(r, q, tokens.inversion_of(q, b))
                )
                for s, d, r, q, b in p.chords
                if s < t + 32 and s + d > t
            ]
            if chords:
                sections.append(chords)
                tonics.append(p.tonic)
            melodies.append(
                ([Note(s - t, min(d, t + 32 - s), pi, v) for s, d, pi, v in p.melody if t <= s < t + 32], 32.0)
            )
            t += 32
    return {"chords": chord_figures(sections, tonics), "melody": melody_figures(melodies)}


def drift_figures(model: Path, seeds: int) -> dict:
    from lofictl.compose.score import ChordEvent as Event
    from lofictl.models import generate

    key = theory.parse_key("D minor")
    progression = ["Dm9", "Bbmaj7", "Gm7", "A7"]
    firsts, lasts = [], []
    for seed in range(seeds):
        chords = [Event(4 * i, 4, progression[i % 4]) for i in range(180)]
        notes = generate.generate_melody(model, key, chords, 720, seed, low=62, high=84)
        firsts.append(np.mean([n.pitch for n in notes if n.start < 80]))
        lasts.append(np.mean([n.pitch for n in notes if n.start >= 640]))
    return {"first_20_bars": float(np.mean(firsts)), "last_20_bars": float(np.mean(lasts))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["recipe", "human", "drift"])
    parser.add_argument("path", nargs="?", help="the recipe (recipe) or melody model (drift)")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    if args.what == "recipe":
        result = recipe_figures(Path(args.path), args.seeds)
    elif args.what == "human":
        result = human_figures()
    else:
        result = drift_figures(Path(args.path or "models/lofi-melody"), min(args.seeds, 3))
    print(json.dumps(_rounded(result), indent=1))


def _rounded(value):
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    main()
