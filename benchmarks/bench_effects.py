"""lofictl.sound.effects.apply_chain vs the same Pedalboard chain called directly, side by side.

    .venv/bin/python benchmarks/bench_effects.py [--seconds 120]

Both process the same stereo noise through the same plugins (a typical stem chain, and one
with a latency plugin that apply_chain runs as separate segments); rounds are interleaved and
the best times compared (target: <= 1.1x).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pedalboard

from lofictl.sound.effects import apply_chain, build_chain

SR = 44100
CHAINS = {
    "stem chain": [
        {"LowpassFilter": {"cutoff_frequency_hz": 3200}},
        {"Chorus": {"rate_hz": 0.6, "depth": 0.2, "mix": 0.3}},
        {"Compressor": {"threshold_db": -18, "ratio": 2.5}},
        {"Reverb": {"room_size": 0.4, "wet_level": 0.2}},
    ],
    "tape + dusty (with Resample)": ["tape", "dusty"],
}


def best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    audio = (np.random.default_rng(0).standard_normal((2, int(args.seconds * SR))) * 0.1).astype(np.float32)
    for label, spec in CHAINS.items():
        plugins = list(build_chain(spec))
        bare_board = pedalboard.Pedalboard(plugins)
        ours_board = build_chain(spec)
        bare_times, our_times, block_times = [], [], []
        for _ in range(args.rounds):  # interleave so drift hits both alike
            bare_times.append(best(lambda: bare_board(audio, SR), 1))
            our_times.append(best(lambda: apply_chain(audio, SR, ours_board), 1))
            block_times.append(best(lambda: apply_chain(audio, SR, ours_board, block_size=8192), 1))
        bare, ours, blocks = min(bare_times), min(our_times), min(block_times)
        print(f"{label}: {args.seconds:.0f} s of audio")
        print(f"  bare Pedalboard:         {bare:.3f} s")
        print(f"  lofictl apply_chain:     {ours:.3f} s  ratio {ours / bare:.2f}x (target <= 1.1x)")
        print(f"  apply_chain, 8192 blocks: {blocks:.3f} s  ratio {blocks / bare:.2f}x")


if __name__ == "__main__":
    main()
