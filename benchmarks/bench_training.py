"""Training throughput in tokens per second for each layout, side by side in one run, at the
shipped models' sizes, on a synthetic corpus (no parsing). Compilation is excluded.

    python benchmarks/bench_training.py [--steps 30] [--hidden 128] [--batch-size 32] [--seq-len 64]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from lofictl.models import tokens
from lofictl.models.nn import modules
from lofictl.models.train import corpus, loop
from lofictl.seeds import derive_seed


def throughput(kind: str, arch: str, args) -> float:
    config = loop.TrainConfig(
        kind=kind,
        arch=arch,
        steps=args.steps,
        batch_size=args.batch_size,
        hidden=args.hidden,
        embed=args.embed,
        layers=args.layers,
        seq_len=args.seq_len,
    )
    prepared = loop.prepare(corpus.synthetic_pieces(64, bars=32), config)
    model, optimizer, train_step, _, init = loop.cached_steps(config, prepared.heads)
    params = init(jax.random.key(0), modules.dummy_inputs(model), modules.zero_carry(model, 1))
    opt_state = optimizer.init(params)
    batches = [
        prepared.train.batch(
            np.random.default_rng([derive_seed(0, "bench"), i]).integers(0, len(prepared.train), config.batch_size)
        )
        for i in range(args.steps + 1)
    ]
    params, opt_state, loss = train_step(params, opt_state, batches[0])  # compile
    loss.block_until_ready()
    start = time.perf_counter()
    for batch in batches[1:]:
        params, opt_state, loss = train_step(params, opt_state, batch)
    loss.block_until_ready()
    return args.steps * config.batch_size * config.seq_len / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    args = parser.parse_args()
    print(
        f"hidden {args.hidden}, {args.layers} layers, batch {args.batch_size} x {args.seq_len} tokens, "
        f"{args.steps} timed steps each"
    )
    rates = {}
    for kind, arch in [("melody", a) for a in tokens.LAYOUTS] + [("chords", loop.CHORD_ARCH)]:
        rates[arch] = throughput(kind, arch, args)
    base = rates["three-embeddings"]
    for arch, rate in rates.items():
        print(f"  {arch:18s} {rate:9.0f} tokens/s  ({rate / base:.2f}x three-embeddings)")


if __name__ == "__main__":
    main()
