"""Melody phrase figures of issue 24 for a recipe over many seeds, or for held-out POP909.

    python benchmarks/phrase_stats.py recipe recipes/rainy_night.yaml --seeds 10
    python benchmarks/phrase_stats.py human       # the POP909 test split, 8-bar windows

Not a timing benchmark: what the composer's melodies do next to what people sing. Per 8-bar
window of melody: notes per bar, silent share of the 16th grid, the share of melody time on
the chord's own tones (root, 3rd, 5th, 7th; not extensions), and the share of bars whose
rhythm comes back within the next 7 bars (also over the whole song: rhythm_repetition_song). For a recipe also the similarity of a restated
phrase to its first statement (compose.phrase.phrase_similarity), and how many builds
differ from the first seed's melody (variety by seed). Each seed is passed as `--set seed=S`
only: generate seeds derive from it unless the recipe pins them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))  # PYTHONPATH first: measure another checkout

try:
    from lofictl.compose import phrase  # noqa: E402
except ImportError:  # an older checkout on PYTHONPATH (a "before" figure): the measures from this one
    import importlib.util

    _spec = importlib.util.spec_from_file_location(
        "phrase", Path(__file__).resolve().parents[1] / "lofictl/compose/phrase.py"
    )
    phrase = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(phrase)
from lofictl.compose.score import ChordEvent, Note  # noqa: E402
from lofictl.models import measures, tokens  # noqa: E402

WINDOW_BARS = 8


def window_figures(notes: list[Note], chords: list[ChordEvent], bars: int, bpb: float) -> dict:
    line = measures.top_line(notes)
    return {
        "notes_per_bar": len(line) / bars,
        "silent_share": measures.silent_share(line, bars * bpb),
        "core_tone_share": phrase.core_tone_share(line, chords),
        "rhythm_repetition": phrase.rhythm_repetition(line, bars, bpb),
    }


def summary(rows: list[dict]) -> dict:
    keys = sorted({k for row in rows for k in row})
    out = {}
    for k in keys:
        values = [row[k] for row in rows if row.get(k) is not None]
        out[k] = round(float(np.mean(values)), 3) if values else None
    out["windows"] = len(rows)
    return out


def _local(items, start: float, end: float):
    return [x.copy(start=round(x.start - start, 6)) for x in items if start - 1e-9 <= x.start < end - 1e-9]


def recipe_figures(path: Path, seeds: int) -> dict:
    from lofictl.compose.arrangement import arrangement, compose
    from lofictl.models.generate import load_track_model
    from lofictl.recipe.load import load_recipe

    rows, similarities, melodies, songs = [], [], [], []
    for seed in range(seeds):
        loaded = load_recipe(path, [f"seed={seed}"])
        recipe = loaded.recipe
        models = {
            name: load_track_model(loaded.resolve_path(t.generate.model, ("tracks", name, "generate", "model")))
            for name, t in recipe.tracks.items()
            if getattr(t, "generate", None) is not None
        }
        score = compose(recipe, models=models).score
        bpb = recipe.beats_per_bar
        track = next(t for t in score.tracks if t.part == "melody")
        chords = [ChordEvent(c.start, c.duration, c.symbol) for c in score.chords]
        melodies.append(tuple(n.pitch for n in track.notes))  # humanized timing differs by seed anyway
        songs.append(phrase.rhythm_repetition(track.notes, recipe.total_bars, bpb))
        first: dict[tuple, list[Note]] = {}
        for block in arrangement(recipe):
            if track.name not in block.tracks:
                continue
            start, end = block.start_bar * bpb, (block.start_bar + block.bars) * bpb
            notes = _local(track.notes, start, end)
            for w in range(0, block.bars - WINDOW_BARS + 1, WINDOW_BARS):
                ws, we = w * bpb, (w + WINDOW_BARS) * bpb
                chords_here = [
                    ChordEvent(c.start - start - ws, c.duration, c.symbol)
                    for c in chords
                    if start + ws <= c.start < start + we
                ]
                rows.append(window_figures(_local(notes, ws, we), chords_here, WINDOW_BARS, bpb))
            material = (block.material, block.variation, block.take)
            if material in first:
                similarities.append(phrase.phrase_similarity(first[material], notes))
            else:
                first[material] = notes
    out = summary(rows)
    out["restated_similarity"] = round(float(np.mean(similarities)), 3) if similarities else None
    out["restated_pairs"] = len(similarities)
    out["rhythm_repetition_song"] = round(float(np.mean([x for x in songs if x is not None])), 3)
    out["distinct_melodies"] = len(set(melodies))
    out["builds"] = seeds
    return out


def human_figures() -> dict:
    from lofictl.models.train import pop909

    root = Path(__file__).resolve().parents[1] / "data" / "pop909"
    rows, songs = [], []
    for p in pop909.read_pop909(root):
        if pop909.split_of(pop909.song_of(p.name)) != "test":
            continue
        t = int(p.melody[0][0] // 4) * 4
        end = max(s + d for s, d, _, _ in p.melody)
        span = WINDOW_BARS * 4
        while t + span <= end:
            chords = [
                ChordEvent(
                    max(s, t) - t,
                    min(s + d, t + span) - max(s, t),
                    tokens.chord_symbol(r, q, tokens.inversion_of(q, b)),
                )
                for s, d, r, q, b in p.chords
                if s < t + span and s + d > t
            ]
            notes = [Note(s - t, min(d, t + span - s), pi, v) for s, d, pi, v in p.melody if t <= s < t + span]
            if notes:
                rows.append(window_figures(notes, chords, WINDOW_BARS, 4.0))
            t += span
        bars = int(np.ceil((end - p.melody[0][0]) / 4))
        first = int(p.melody[0][0] // 4) * 4
        whole = [Note(s - first, d, pi, v) for s, d, pi, v in p.melody]
        songs.append(phrase.rhythm_repetition(whole, bars, 4.0))
    out = summary(rows)
    out["rhythm_repetition_song"] = round(float(np.mean([x for x in songs if x is not None])), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("recipe")
    r.add_argument("path", type=Path)
    r.add_argument("--seeds", type=int, default=10)
    sub.add_parser("human")
    args = parser.parse_args()
    figures = recipe_figures(args.path, args.seeds) if args.what == "recipe" else human_figures()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
