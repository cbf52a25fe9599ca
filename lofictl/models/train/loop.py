"""Training with Optax: windows of token sequences, pure jitted train/eval steps, early stopping.

Deterministic: the split, the initial weights and every batch derive from the seed by name (a
batch from the seed and its step number), so the same data and seed give the same weights on
the same machine, and a resumed run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lofictl.errors import LofictlError
from lofictl.models import tokens
from lofictl.models.nn import checkpoint, modules
from lofictl.models.train import corpus as corpus_mod
from lofictl.seeds import derive_seed

CHORD_ARCH = "chord-lstm"
ARCHS = {"melody": tokens.LAYOUTS, "chords": (CHORD_ARCH,)}

# Template pitch classes of every chord token, as the model sees them while training.
PCS_TABLE = np.stack(
    [
        tokens.pcs_mask(tokens.chord_pitch_classes(t)) if t >= 2 else np.zeros(12, np.float32)
        for t in range(tokens.N_CHORD)
    ]
)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    kind: str = "melody"
    arch: str = "three-embeddings"
    steps: int = 3000
    batch_size: int = 32
    hidden: int = 192
    layers: int = 2
    embed: int = 96
    seq_len: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    clip: float = 1.0
    seed: int = 0
    eval_every: int = 100
    patience: int = 6  # evaluations without a better validation loss before stopping
    val_fraction: float = 0.1
    augment: bool = True  # octave-shifted copies of training melodies

    def check(self) -> None:
        if self.kind not in ARCHS:
            raise LofictlError(f"unknown model kind {self.kind!r}; use melody or chords", field="kind")
        if self.arch not in ARCHS[self.kind]:
            raise LofictlError(
                f"unknown {self.kind} layout {self.arch!r}; use one of {', '.join(ARCHS[self.kind])}", field="arch"
            )
        for name in ("steps", "batch_size", "hidden", "layers", "embed", "seq_len", "eval_every", "patience"):
            if getattr(self, name) < 1:
                raise LofictlError(f"must be at least 1, got {getattr(self, name)}", field=name.replace("_", "-"))
        if not self.lr > 0:
            raise LofictlError(f"learning rate must be more than 0, got {self.lr}", field="lr")


@dataclass
class Dataset:
    """Windows of length seq_len: inputs are the targets shifted right behind a BOS."""

    tokens_in: np.ndarray  # (N, T, H)
    targets: np.ndarray  # (N, T, H)
    mask: np.ndarray  # (N, T) 1.0 where the target is real
    position: np.ndarray  # (N, T)
    phrase: np.ndarray  # (N, T)
    mode: np.ndarray  # (N,)
    chord: np.ndarray | None = None  # (N, T) melody only

    def __len__(self) -> int:
        return len(self.mode)

    def batch(self, idx: np.ndarray) -> dict:
        out = {
            "tokens": self.tokens_in[idx],
            "targets": self.targets[idx],
            "mask": self.mask[idx],
            "position": self.position[idx],
            "phrase": self.phrase[idx],
            "mode": self.mode[idx],
        }
        if self.chord is not None:
            out["chord"] = self.chord[idx]
            out["pcs"] = PCS_TABLE[self.chord[idx]]
        return out


@dataclass
class Prepared:
    train: Dataset
    val: Dataset
    heads: tuple[int, ...]
    vocab: dict
    summary: dict = field(default_factory=dict)


def _windows(
    seqs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, int]], seq_len: int, n_heads: int
) -> Dataset:
    """seqs: (tokens (n, H), position (n,), phrase (n,), chord (n,) or None, mode) per piece."""
    rows_in, rows_out, masks, positions, phrases, modes = [], [], [], [], [], []
    chords: list[np.ndarray] = []  # empty when the sequences have no chord input (chord models)
    for toks, pos, phrase, chord, mode in seqs:
        shifted = np.concatenate([np.zeros((1, n_heads), np.int32), toks[:-1]], axis=0)
        for start in range(0, len(toks), seq_len):
            stop = min(start + seq_len, len(toks))
            pad = seq_len - (stop - start)

            def cut(a, fill=0):
                part = a[start:stop]
                return np.concatenate([part, np.full((pad,) + part.shape[1:], fill, part.dtype)]) if pad else part

            rows_in.append(cut(shifted))
            rows_out.append(cut(toks))
            masks.append(np.concatenate([np.ones(stop - start, np.float32), np.zeros(pad, np.float32)]))
            positions.append(cut(pos))
            phrases.append(cut(phrase))
            if chord is not None:
                chords.append(cut(chord))
            modes.append(mode)
    if not rows_in:
        return Dataset(
            np.zeros((0, seq_len, n_heads), np.int32),
            np.zeros((0, seq_len, n_heads), np.int32),
            np.zeros((0, seq_len), np.float32),
            np.zeros((0, seq_len), np.int32),
            np.zeros((0, seq_len), np.int32),
            np.zeros((0,), np.int32),
            None if seqs and seqs[0][3] is None else np.zeros((0, seq_len), np.int32),
        )
    return Dataset(
        np.stack(rows_in).astype(np.int32),
        np.stack(rows_out).astype(np.int32),
        np.stack(masks),
        np.stack(positions).astype(np.int32),
        np.stack(phrases).astype(np.int32),
        np.array(modes, np.int32),
        np.stack(chords).astype(np.int32) if chords else None,
    )


def prepare(pieces: list[corpus_mod.Piece], config: TrainConfig) -> Prepared:
    """Tokenise, split (corpus_mod.split_pieces: by song for POP909, so no song is on two sides
    and the test songs are left out), augment, window."""
    if not pieces:
        raise LofictlError("the corpus has no pieces", field="corpus")
    sides = corpus_mod.split_pieces(pieces, config.seed, config.val_fraction)
    train_pieces, val_pieces = sides["train"], sides["validation"]
    splits = corpus_mod.assign_splits([p.name for p in pieces], config.seed, config.val_fraction)  # for model.json

    if config.kind == "chords":

        def chord_seqs(ps):
            out = []
            for p in ps:
                seq = corpus_mod.chord_tokens(p)
                if len(seq.chord) >= 2:
                    out.append((np.stack([seq.chord, seq.duration], -1), seq.position, seq.phrase, None, seq.mode))
            return out

        train_seqs, val_seqs = chord_seqs(train_pieces), chord_seqs(val_pieces)
        heads: tuple[int, ...] = (tokens.N_CHORD, tokens.N_CHORD_DURATION)
        vocab = {"chords": tokens.chord_vocab_json()}
    else:

        def melody_seqs(ps, augment):
            out: list[tuple[np.ndarray, corpus_mod.MelodySeq, str]] = []
            for p in ps:
                seq = corpus_mod.melody_tokens(p)
                if len(seq.pitch) < 2:
                    continue
                variants = [seq.pitch]
                if augment:
                    for shift in (-12, 12):
                        moved = tokens.transpose_pitch_tokens(seq.pitch, shift)
                        if moved is not None:
                            variants.append(moved)
                out.extend((pitch, seq, p.name) for pitch in variants)
            return out

        train_raw = melody_seqs(train_pieces, config.augment)
        val_raw = melody_seqs(val_pieces, False)
        seen = np.concatenate([np.stack([pitch, s.duration, s.velocity], -1) for pitch, s, _ in train_raw + val_raw])
        mvocab = tokens.melody_vocab(config.arch, seen)

        def encode(raw):
            return [
                (mvocab.encode(pitch, s.duration, s.velocity), s.position, s.phrase, s.chord, s.mode)
                for pitch, s, _ in raw
            ]

        train_seqs, val_seqs = encode(train_raw), encode(val_raw)
        heads = mvocab.heads
        vocab = {
            "melody": mvocab.to_json(),
            "factors": tokens.melody_factor_json(),
            "chords": tokens.chord_vocab_json(),
        }
    if not train_seqs:
        raise LofictlError("the corpus has no sequences long enough to train on", field="corpus")
    train = _windows(train_seqs, config.seq_len, len(heads))
    val = _windows(val_seqs, config.seq_len, len(heads)) if val_seqs else train
    summary = {
        "split": corpus_mod.split_summary(splits),
        "train_pieces": len(train_pieces),
        "val_pieces": len(val_pieces),
        "train_events": int(train.mask.sum()),
        "val_events": int(val.mask.sum()),
        "train_windows": len(train),
        "val_windows": len(val),
    }
    return Prepared(train, val, heads, vocab, summary)


def model_config(config: TrainConfig, heads: tuple[int, ...]) -> dict:
    return {
        "heads": list(heads),
        "hidden": config.hidden,
        "layers": config.layers,
        "embed": config.embed,
        "chord_vocab": tokens.N_CHORD if config.kind == "melody" else 0,
        "positions": tokens.N_POSITION,
        "modes": tokens.N_MODE,
        "phrases": tokens.PHRASE_BARS,
    }


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    warmup = min(100, max(config.steps // 10, 1))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.lr, warmup, max(config.steps, warmup + 1), end_value=config.lr * 0.05
    )
    return optax.chain(optax.clip_by_global_norm(config.clip), optax.adamw(schedule, weight_decay=config.weight_decay))


_STEPS_CACHE: dict[str, tuple] = {}


def cached_steps(config: TrainConfig, heads: tuple[int, ...]):
    """(model, optimizer, train_step, eval_step, init) shared by runs that differ only in seed or data,
    so repeated runs in one process (tests, benchmarks, sweeps) compile once."""
    key = repr((model_config(config, heads), config.steps, config.lr, config.weight_decay, config.clip))
    if key not in _STEPS_CACHE:
        model = modules.build(model_config(config, heads))
        optimizer = make_optimizer(config)
        _STEPS_CACHE[key] = (model, optimizer, *make_steps(model, optimizer), jax.jit(model.init))
    return _STEPS_CACHE[key]


def make_steps(model: modules.TokenLSTM, optimizer: optax.GradientTransformation):
    """Pure (train_step, eval_step), jitted."""

    def losses(params, batch):
        carry = modules.zero_carry(model, batch["mode"].shape[0])
        logits, _ = model.apply(params, batch, carry)
        mask = batch["mask"]
        per_head = []
        for h, head_logits in enumerate(logits):
            ce = optax.softmax_cross_entropy_with_integer_labels(head_logits, batch["targets"][..., h])
            per_head.append((ce * mask).sum())
        return jnp.stack(per_head), mask.sum()

    def loss_fn(params, batch):
        per_head, count = losses(params, batch)
        return per_head.sum() / jnp.maximum(count, 1.0)

    @jax.jit
    def train_step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def eval_step(params, batch):
        return losses(params, batch)

    return train_step, eval_step


def evaluate(eval_step, params, data: Dataset, batch_size: int) -> tuple[float, list[float]]:
    """Mean loss per event over the whole set, and per head; fixed batch shape (padded)."""
    totals: np.ndarray | None = None
    count = 0.0
    for start in range(0, len(data), batch_size):
        idx = np.arange(start, min(start + batch_size, len(data)))
        batch = data.batch(idx)
        if len(idx) < batch_size:  # pad with masked copies so the shape (and compile) stays the same
            fill = np.concatenate([idx, np.full(batch_size - len(idx), idx[0])])
            batch = data.batch(fill)
            batch["mask"][len(idx) :] = 0.0
        per_head, n = eval_step(params, batch)
        per_head = np.asarray(per_head, np.float64)
        totals = per_head if totals is None else totals + per_head
        count += float(n)
    assert totals is not None  # a set with no rows has no loss to measure
    per = (totals / max(count, 1.0)).tolist()
    return float(sum(per)), per


def train(
    pieces: list[corpus_mod.Piece],
    data_summary: dict,
    config: TrainConfig,
    out_dir: Path,
    command: str,
    resume: bool = False,
    console=None,
    progress: bool = True,
    stop_at: int | None = None,
) -> dict:
    """Train and write the checkpoint folder; returns the model.json written.

    `stop_at` ends the run at that step as an interruption would (the state is saved, and
    `resume=True` continues it); the step budget and its schedule stay those of `config`."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    config.check()
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    prepared = prepare(pieces, config)
    with console.status("indexing the training melodies (for the originality gate)"):
        index_facts = index_training_pieces(pieces, config, out_dir, data_summary)
    model, optimizer, train_step, eval_step, init = cached_steps(config, prepared.heads)

    params = init(
        jax.random.key(derive_seed(config.seed, "init")), modules.dummy_inputs(model), modules.zero_carry(model, 1)
    )
    opt_state = optimizer.init(params)
    state = {
        "params": params,
        "opt_state": opt_state,
        "step": 0,
        "best_val": float("inf"),
        "best_step": 0,
        "bad": 0,
        "seconds": 0.0,
    }
    best_params = params
    if resume:
        state = checkpoint.load_train_state(out_dir, state)
        state["step"] = int(state["step"])
        _, best_params = checkpoint.load(out_dir, config.kind)
        state["history"] = checkpoint.read_meta(out_dir).get("metrics", {}).get("val_history", [])
        console.print(f"resuming {out_dir} at step {state['step']}")
    params, opt_state = state["params"], state["opt_state"]

    meta_base = {
        "kind": config.kind,
        "arch": config.arch,
        "config": model_config(config, prepared.heads),
        "vocab": prepared.vocab,
        "training": {"command": command, **asdict(config)},
        "data": {**data_summary, **prepared.summary, **index_facts},
    }
    batch_seed = derive_seed(config.seed, "batches")
    tokens_per_step = config.batch_size * config.seq_len
    started = time.perf_counter()
    seconds_before = float(state["seconds"])
    train_loss = float("nan")
    step = state["step"]
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]} val {task.fields[val]}"),
        TimeElapsedColumn(),
    ]
    metrics: dict = {}
    with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"train {config.kind}", total=config.steps, completed=step, loss="-", val="-")
        last = config.steps if stop_at is None else min(stop_at, config.steps)
        while step < last and state["bad"] < config.patience:
            rng = np.random.default_rng([batch_seed, step])
            batch = prepared.train.batch(rng.integers(0, len(prepared.train), config.batch_size))
            params, opt_state, loss = train_step(params, opt_state, batch)
            step += 1
            if step % 10 == 0 or step == config.steps:
                train_loss = float(loss)
                bar.update(task, completed=step, loss=f"{train_loss:.3f}")
            else:
                bar.update(task, completed=step)
            if step % config.eval_every == 0 or step == last:
                val_loss, per_head = evaluate(eval_step, params, prepared.val, config.batch_size)
                state["history"] = list(state.get("history", [])) + [[step, round(val_loss, 4)]]
                if val_loss < state["best_val"] - 1e-4:
                    state.update(best_val=val_loss, best_step=step, bad=0)
                    best_params = params
                    metrics = {
                        "val_loss": val_loss,
                        "val_loss_per_head": per_head,
                        "train_loss": train_loss,
                        "best_step": step,
                    }
                else:
                    state["bad"] = int(state["bad"]) + 1
                bar.update(
                    task, val=f"{val_loss:.3f} (best {float(state['best_val']):.3f} @ {int(state['best_step'])})"
                )
                if not progress:  # logs and background runs still see how training goes
                    console.print(
                        f"step {step}: loss {train_loss:.3f} val {val_loss:.3f} "
                        f"(best {float(state['best_val']):.3f} @ {int(state['best_step'])})"
                    )
                elapsed = seconds_before + time.perf_counter() - started
                state.update(params=params, opt_state=opt_state, step=step, seconds=elapsed)
                done = {
                    "steps_done": step,
                    "stopped_early": bool(state["bad"] >= config.patience),
                    "val_history": state["history"],
                    "wall_seconds": round(elapsed, 1),
                    "tokens_per_second": round(tokens_per_step * step / max(elapsed, 1e-9), 1),
                }
                checkpoint.save(out_dir, best_params, {**meta_base, "metrics": {**metrics, **done}})
                checkpoint.save_train_state(out_dir, {k: v for k, v in state.items() if k != "history"})
    # Every path out of the loop has just saved (an evaluation precedes any stop); a resumed
    # run whose budget was already spent leaves the checkpoint as it was.
    return checkpoint.read_meta(out_dir)


def index_training_pieces(
    pieces: list[corpus_mod.Piece], config: TrainConfig, out_dir: Path, data_summary: dict
) -> dict:
    """A melody model's n-gram index of exactly the pieces it trains on (models/ngrams.py),
    written into the model folder before training starts, so every checkpoint of the run has
    it; returns what model.json records about those pieces."""
    if config.kind != "melody":
        return {}
    from lofictl.models import ngrams

    trained = corpus_mod.split_pieces(pieces, config.seed, config.val_fraction)["train"]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    meta = ngrams.write_index(
        out_dir,
        trained,
        corpus=data_summary.get("corpus"),
        limit=data_summary.get("limit"),
        seed=config.seed,
        val_fraction=config.val_fraction,
    )
    return {"train_pieces_sha256": meta["pieces_sha256"]}


def write_untrained(
    pieces: list[corpus_mod.Piece], config: TrainConfig, out_dir: Path, data_summary: dict | None = None
) -> dict:
    """A checkpoint with the corpus's vocabulary and freshly initialised weights (and, for
    melody, the n-gram index): no training step is compiled, so tests and benchmarks of loading
    and sampling stay fast. `data_summary` is load_corpus's summary, as train takes it."""
    config.check()
    prepared = prepare(pieces, config)
    index_facts = index_training_pieces(pieces, config, out_dir, data_summary or {})
    model = modules.build(model_config(config, prepared.heads))
    params = jax.jit(model.init)(
        jax.random.key(derive_seed(config.seed, "init")), modules.dummy_inputs(model), modules.zero_carry(model, 1)
    )
    return checkpoint.save(
        out_dir,
        params,
        {
            "kind": config.kind,
            "arch": config.arch,
            "config": model_config(config, prepared.heads),
            "vocab": prepared.vocab,
            "training": {"command": "(untrained)", **asdict(config)},
            "data": {**(data_summary or {}), **prepared.summary, **index_facts},
            "metrics": {},
        },
    )
