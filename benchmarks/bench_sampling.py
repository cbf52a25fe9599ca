"""Sampling speed: the jit+scan sampler against a per-step Python loop calling the same jitted
single-step function once per note (the original research's approach), side by side in one
run. Then the melody's fit to its chords: duration-weighted share of chord tones over seeds,
against random pitches.

    python benchmarks/bench_sampling.py [--model models/lofi-melody] [--beats 256] [--seeds 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from lofictl.compose import score, theory
from lofictl.models import generate, tokens
from lofictl.models.nn import sample
from lofictl.seeds import derive_seed

PROGRESSION = ["Dm9", "G13", "Cmaj9", "A7b9"]


def timeline(n_beats: float) -> list[score.ChordEvent]:
    return [score.ChordEvent(float(b), 4.0, PROGRESSION[(b // 4) % 4]) for b in range(0, int(n_beats), 4)]


def conditions(model_dir: Path, key: theory.Key, n_beats: float):
    total = int(n_beats * tokens.TICKS_PER_BEAT)
    tl = generate.chord_timeline(timeline(n_beats), key, total)
    base = generate.pitch_base(key, 60, 84)
    scale = tokens.pcs_mask((pc - key.tonic) % 12 for pc in key.scale)
    cond = sample.melody_conditions(
        tl.starts,
        tl.tokens,
        tl.pcs,
        total,
        48,
        tokens.mode_token(key.mode),
        generate.range_mask(base, 60, 84),
        scale,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        scale_strength=generate.DEFAULT_SCALE_STRENGTH,
        loop_strength=generate.DEFAULT_LOOP_STRENGTH,
    )
    return cond, total


def bench_speed(model_dir: Path, n_beats: float, repeats: int) -> None:
    key = theory.parse_key("D minor")
    model = generate.load_model(model_dir)
    sampler = model.sampler
    cond, total = conditions(model_dir, key, n_beats)
    n_steps = sample.bucket(-(-total // min(tokens.DURATION_TICKS)) + 1, 64)
    rng = jax.random.key(derive_seed(0, "bench"))

    def scan_once(batch: int) -> int:
        factors, ticks, valid = sampler.run(model.params, rng, cond, n_steps=n_steps, batch=batch)
        return int(np.asarray(valid).sum())

    def loop_once() -> int:
        state = sampler.initial_state(1)
        notes = 0
        for i in range(n_steps):
            state, (_, tick, _) = sampler.step(model.params, state, jax.random.fold_in(rng, i), cond)
            if int(tick[0]) >= total:  # the host decides when the piece is full, once per note
                break
            notes += 1
        return notes

    scan_once(1), scan_once(8), loop_once()  # compile all three first
    results = {}
    for name, fn in (
        ("scan, 1 candidate", lambda: scan_once(1)),
        ("scan, 8 candidates", lambda: scan_once(8)),
        ("python loop, 1 candidate", loop_once),
    ):
        notes, seconds = 0, 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            notes += fn()
            seconds += time.perf_counter() - start
        results[name] = notes / seconds
    print(
        f"model {model_dir} ({model.arch}, hidden {model.meta['config']['hidden']}), {n_beats:g} beats, "
        f"{n_steps} scan steps, {repeats} repeats"
    )
    for name, rate in results.items():
        print(f"  {name:26s} {rate:10.0f} notes/s")
    loop = results["python loop, 1 candidate"]
    print(
        f"  scan vs loop: {results['scan, 1 candidate'] / loop:.1f}x (1 candidate), "
        f"{results['scan, 8 candidates'] / loop:.1f}x (8 candidates)"
    )


def random_share(notes: list[score.Note], chords: list[score.ChordEvent], pool: list[int]) -> float:
    """Expected chord-tone share if each note's pitch were drawn uniformly from `pool`."""
    parsed = [(c.start, c.end, theory.parse_chord(c.symbol).pitch_classes) for c in chords]
    on = total = 0.0
    for note in notes:
        for start, end, pcs in parsed:
            if start <= note.start < end:
                on += note.duration * sum(1 for p in pool if p % 12 in pcs) / len(pool)
                total += note.duration
                break
    return on / total


def bench_fit(model_dir: Path, seeds: int, n_beats: float) -> None:
    key = theory.parse_key("D minor")
    chords = timeline(n_beats)
    in_range = list(range(60, 85))
    in_scale = [p for p in in_range if p % 12 in key.scale]
    settings = {
        "model alone (1 candidate, no scale/loop guard)": dict(candidates=1, scale_strength=0.0, loop_strength=0.0),
        "1 candidate, defaults": dict(candidates=1),
        "defaults (best of 8)": dict(),
    }
    print(
        f"\nchord-tone share over {seeds} seeds, {' '.join(PROGRESSION)} x {int(n_beats) // 16}, D minor, range 60..84"
    )
    baseline = {"uniform random pitch in range": [], "uniform random pitch in the D minor scale": []}
    for label, kwargs in settings.items():
        shares, counts = [], []
        for seed in range(seeds):
            notes = generate.generate_melody(model_dir, key, chords, n_beats, seed=seed, **kwargs)
            shares.append(generate.onset_chord_tone_share(notes, chords))
            counts.append(len(notes))
            if label.startswith("defaults"):
                baseline["uniform random pitch in range"].append(random_share(notes, chords, in_range))
                baseline["uniform random pitch in the D minor scale"].append(random_share(notes, chords, in_scale))
        print(
            f"  {label:50s} {np.mean(shares):.3f} (min {np.min(shares):.3f}, max {np.max(shares):.3f}), "
            f"{np.mean(counts):.0f} notes"
        )
    for label, values in baseline.items():
        print(f"  chance: {label:42s} {np.mean(values):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path(__file__).resolve().parent.parent / "models" / "lofi-melody")
    parser.add_argument("--beats", type=float, default=256.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    bench_speed(args.model, args.beats, args.repeats)
    bench_fit(args.model, args.seeds, 32.0)


if __name__ == "__main__":
    main()
