"""How progressions move: generated chords in each style next to held-out POP909 (issue 24).

    python benchmarks/harmony_stats.py recipe recipes/rainy_night.yaml --seeds 10
    python benchmarks/harmony_stats.py recipe recipes/rainy_night.yaml --set tracks.chords.loop=8
    python benchmarks/harmony_stats.py human          # the POP909 test split, 8-bar windows

Not a timing benchmark. `recipe` samples the recipe's generated chords tracks through the
composer's own code path (arrangement._model_chord_source, then track_chord_events) for master
and chord seeds 1..N, once per style (plain = the model as sampled, before this issue's
reharmoniser), and measures each 8-bar section's material once:

- fifth_windows: share of 4-bar windows (bars 1-4 and 5-8 of a section) holding a root move
  down a fifth (a perfect fifth down or fourth up between neighbouring chords); fifth_windows_any
  counts every 4-bar window starting on a bar of the section;
- ii_V, ii_V_I: root motions 2→5 and 2→5→1 relative to the key, per section;
- tonic_share, major_V_share: chords on the tonic; chords on the fifth degree with a major third;
- quality: chords as the `lofi` voicing plays them (theory.lofi_colour on top of the symbol);
  triad, seventh and extended shares of the symbols as written.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lofictl.compose import theory  # noqa: E402
from lofictl.compose.score import ChordEvent  # noqa: E402
from lofictl.models import measures, tokens  # noqa: E402

STYLES = ("plain", "pop", "jazz", "neo-soul")


def _roots(chords: list[ChordEvent]) -> list[tuple[float, int, str]]:
    """(start, root, kind) of each chord change (repeats merged)."""
    out: list[tuple[float, int, str]] = []
    for c in chords:
        chord = theory.parse_chord(c.symbol)
        if out and out[-1][1] == chord.root and out[-1][2] == theory.chord_kind(chord):
            continue
        out.append((c.start, chord.root, theory.chord_kind(chord)))
    return out


def fifth_in(changes: list[tuple[float, int, str]], start: float, end: float) -> bool:
    """A root falls a fifth between two chords both starting inside [start, end)."""
    inside = [(t, r) for t, r, _ in changes if start - 1e-9 <= t < end - 1e-9]
    return any((a - b) % 12 == 7 for (_, a), (_, b) in zip(inside, inside[1:]))


def progression_figures(sections: list[list[ChordEvent]], keys: list[theory.Key]) -> dict:
    n = tonic = major_v = triads = sevenths = extended = ii_v = ii_v_i = 0
    windows = fifth = windows_any = fifth_any = 0
    voiced: collections.Counter[str] = collections.Counter()
    for chords, key in zip(sections, keys):
        for c in chords:
            chord = theory.parse_chord(c.symbol)
            n += 1
            degree = (chord.root - key.tonic) % 12
            tonic += degree == 0
            major_v += degree == 7 and 4 in chord.intervals
            size = len({i % 12 for i in chord.intervals})
            triads += size <= 3
            sevenths += size == 4
            extended += size >= 5
            voiced[theory.lofi_colour(chord, key).quality] += 1
        changes = _roots(chords)
        degrees = [(r - key.tonic) % 12 for _, r, _ in changes]
        ii_v += sum(1 for a, b in zip(degrees, degrees[1:]) if (a, b) == (2, 7))
        ii_v_i += sum(1 for a, b, c in zip(degrees, degrees[1:], degrees[2:]) if (a, b, c) == (2, 7, 0))
        for start in (0.0, 16.0):
            windows += 1
            fifth += fifth_in(changes, start, start + 16.0)
        for bar in range(5):
            windows_any += 1
            fifth_any += fifth_in(changes, 4.0 * bar, 4.0 * bar + 16.0)
    loops = measures.loop_summary([measures.loop_period(c, 8, 4) for c in sections])
    return {
        "sections": len(sections),
        "chords": n,
        "fifth_windows": fifth / windows,
        "fifth_windows_any": fifth_any / windows_any,
        "ii_V_per_section": ii_v / len(sections),
        "ii_V_I_per_section": ii_v_i / len(sections),
        "ii_V": ii_v,
        "ii_V_I": ii_v_i,
        "tonic_share": tonic / n,
        "major_V_share": major_v / n,
        "triad_share": triads / n,
        "seventh_share": sevenths / n,
        "extended_share": extended / n,
        "loop_share": loops["loop_share"],
        "voiced_qualities": {q or "maj": round(k / n, 3) for q, k in voiced.most_common(8)},
    }


def recipe_figures(path: Path, seeds: int, styles: tuple[str, ...], overrides: tuple[str, ...] = ()) -> dict:
    from lofictl.compose.arrangement import _model_chord_source, arrangement, track_chord_events
    from lofictl.models.generate import load_track_model
    from lofictl.recipe.load import load_recipe
    from lofictl.recipe.schema import ChordsTrack

    loaded = load_recipe(path)
    names = [n for n, t in loaded.recipe.tracks.items() if isinstance(t, ChordsTrack) and t.generate is not None]
    if not names:
        raise SystemExit(f"{path}: no generated chords track")
    models = {
        n: load_track_model(loaded.resolve_path(loaded.recipe.tracks[n].generate.model, ("tracks", n))) for n in names
    }
    out = {}
    for style in styles:
        sections, keys = [], []
        for seed in range(1, seeds + 1):
            sets = [*overrides, f"seed={seed}"]
            sets += [f"tracks.{n}.generate.seed={seed}" for n in names]
            sets += [f"tracks.{n}.style={style}" for n in names]
            recipe = load_recipe(path, sets).recipe
            key = theory.parse_key(recipe.key)
            bpb = recipe.beats_per_bar
            blocks = arrangement(recipe)
            for name in names:
                track = recipe.tracks[name]
                source = _model_chord_source(models[name].network, key, bpb, track)
                timeline = track_chord_events(recipe, blocks, source, name, track.generate.seed)
                seen = set()
                for block in blocks:
                    if block.bars != 8 or (block.material, block.variation) in seen:
                        continue
                    seen.add((block.material, block.variation))
                    start = block.start_bar * bpb
                    sections.append(
                        [
                            ChordEvent(c.start - start, c.duration, c.symbol)
                            for c in timeline
                            if start <= c.start < start + 8 * bpb
                        ]
                    )
                    keys.append(key)
        out[style] = progression_figures(sections, keys)
    return out


def human_figures() -> dict:
    from lofictl.models.train import pop909

    root = Path(__file__).resolve().parents[1] / "data" / "pop909"
    sections, keys = [], []
    for p in pop909.read_pop909(root):
        if pop909.split_of(pop909.song_of(p.name)) != "test":
            continue
        t = int(p.melody[0][0] // 4) * 4
        end = max(s + d for s, d, _, _ in p.melody)
        key = theory.Key(p.tonic, p.mode)
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
                keys.append(key)
            t += 32
    return {"human": progression_figures(sections, keys)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["recipe", "human"])
    parser.add_argument("path", nargs="?", help="the recipe (recipe)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--set", action="append", default=[], help="a recipe override, as lofictl build --set")
    args = parser.parse_args()
    if args.what == "recipe":
        result = recipe_figures(Path(args.path), args.seeds, tuple(args.styles.split(",")), tuple(args.set))
    else:
        result = human_figures()
    print(json.dumps(_rounded(result), indent=1))


def _rounded(value):
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    main()
