"""Issue 23's targets on built tracks: the example recipes over seeds, measured by `lofictl analyze`.

    python benchmarks/sound_targets.py                      # the four example recipes, seeds 1-5
    python benchmarks/sound_targets.py recipes/rainy_night.yaml --seeds 3 --keep /tmp/targets

Not a timing benchmark: it builds each recipe with `--set seed=S` (full builds: the stems are
measured too) and prints, per build, the figures the targets are stated in (`lofictl analyze`'s
several-targets table), then per recipe the off-beat flam pooled over its seeds: each part's
off-beat 8th onsets gathered across the seeds, their mean position compared part against part
(one seed's humanize moves a part's mean by a few ms; the pocket is what stays).

Targets (issue 23): off-beats of any two parts within 5 ms; backbeat snare median velocity
<= 105; melody under a chord note <= 20% of its time; drum stem 1-8 kHz share >= 10%; the
crackle <= 28 LU under the music.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lofictl.analysis import notes as note_measures  # noqa: E402
from lofictl.analysis.source import part_tracks, read_build  # noqa: E402
from lofictl.analysis.track import analyze, format_summary  # noqa: E402

EXAMPLES = ("rainy_night", "sunday_morning", "own_chords", "night_drive")


def build(recipe: Path, seed: int, out: Path) -> Path:
    folder = out / f"{recipe.stem}-{seed}"
    subprocess.run(
        [sys.executable, "-m", "lofictl", "build", str(recipe), "--set", f"seed={seed}", "--out", str(folder), "-q"],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    return folder


def pooled_flams(folders: list[Path]) -> tuple[float, dict[str, float]]:
    """The widest pooled flam (ms) and every pair's, over the builds of one recipe."""
    fractions: dict[str, list[float]] = {}
    bpm = 0.0
    for folder in folders:
        source = read_build(folder)
        bpm = source.score.tempo
        for part in ("melody", "bass", "chords", "midi"):
            for track in part_tracks(source.score, part):
                fractions.setdefault(track.name, []).extend(note_measures.offbeat_fractions(track.notes))
        for track in part_tracks(source.score, "drums"):
            hats = [n for n in track.notes if n.pitch in (42, 44, 46, 51)]  # the timekeeper
            fractions.setdefault("hats", []).extend(note_measures.offbeat_fractions(hats))
    means = {name: sum(v) / len(v) for name, v in fractions.items() if len(v) >= 8}
    pairs = note_measures.flams(means, bpm)
    return (max(pairs.values()) if pairs else 0.0), pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", type=Path)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build into this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    recipes = args.recipes or [REPO / "recipes" / f"{name}.yaml" for name in EXAMPLES]
    with tempfile.TemporaryDirectory(prefix="lofictl-targets-") as scratch:
        out = args.keep or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        reports, pooled = [], {}
        for recipe in recipes:
            folders = [build(recipe, seed, out) for seed in range(1, args.seeds + 1)]
            reports += [analyze(folder) for folder in folders]
            pooled[recipe.stem] = pooled_flams(folders)
            print(f"built {recipe.stem} x{len(folders)}", file=sys.stderr, flush=True)
        print(format_summary(reports))
        print("off-beat flam pooled over the seeds (ms; target <= 5):")
        for name, (widest, pairs) in pooled.items():
            shown = ", ".join(f"{pair} {ms:.1f}" for pair, ms in sorted(pairs.items(), key=lambda kv: -kv[1])[:4])
            print(f"  {name:16s} widest {widest:4.1f}   {shown}")


if __name__ == "__main__":
    main()
