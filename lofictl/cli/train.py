"""`lofictl train chords|melody`: thin Typer wrappers over corpus loading and the training loop.

Registered on the main app as the `train` group; each command wears `user_errors` (a
LofictlError is one line and exit 2).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from lofictl.cli.common import add_group

if TYPE_CHECKING:
    from lofictl.models.train.loop import TrainConfig

train_app = typer.Typer(
    help="Train the chord and melody models on POP909, music21's corpus or a folder of MIDI files.",
    no_args_is_help=True,
)

_CORPUS_HELP = (
    "Comma-separated sources: pop909:DIR (the POP909 dataset, or data/pop909 which ships derived from it), "
    "music21:bach, music21:essen, music21:ryans, or a folder of .mid files."
)
DEFAULT_CORPUS = "pop909:data/pop909"


def canonical_command(kind: str, options: dict) -> str:
    """The full command with every option spelled out, so model.json says exactly what ran."""
    parts = ["lofictl", "train", kind]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + name.replace("_", "-"))
        elif value is not None:
            parts.extend([flag, str(value)])
    return shlex.join(parts)


@dataclass(frozen=True, kw_only=True)
class TrainRun:
    """What a training command reads and writes, beside its TrainConfig (how the model trains)."""

    corpus: str
    out: Path
    limit: int | None = None
    resume: bool = False
    cache: bool = True  # reuse parsed corpora
    progress: bool = True


def _options(config: TrainConfig, run: TrainRun) -> dict:
    """The command's options in the order model.json's command spells them."""
    options = {
        "corpus": run.corpus,
        "out": run.out,
        **{name: getattr(config, name) for name in ("steps", "batch_size", "hidden", "layers", "embed", "seq_len")},
        **{"lr": config.lr, "seed": config.seed, "limit": run.limit},
        **{"patience": config.patience, "eval_every": config.eval_every, "augment": config.augment},
    }
    if config.kind == "melody":
        return {"arch": config.arch, **options}
    del options["augment"]  # octave copies apply to melodies only
    return options


def _run(config: TrainConfig, run: TrainRun) -> None:
    from lofictl.models.train import corpus as corpus_mod  # JAX and music21 load only when training runs
    from lofictl.models.train import loop

    console = Console(stderr=True, markup=False)  # corpus specs and paths are user text
    config.check()
    command = canonical_command(config.kind, _options(config, run))
    with console.status(f"reading {run.corpus}"):
        pieces, summary = corpus_mod.load_corpus(run.corpus, limit=run.limit, use_cache=run.cache)
    for source in summary["sources"]:
        skipped = f", skipped {source['skipped_total']} ({source['skipped']})" if source["skipped_total"] else ""
        console.print(f"{source['spec']}: {source['pieces']} pieces from {source['files']} files{skipped}")
    meta = loop.train(
        pieces, summary, config, run.out, command, resume=run.resume, console=console, progress=run.progress
    )
    m = meta["metrics"]
    console.print(
        f"wrote {run.out}: val loss {m.get('val_loss', float('nan')):.3f} at step {m.get('best_step')}, "
        f"{m['steps_done']} steps in {m['wall_seconds']} s ({m['tokens_per_second']:.0f} tokens/s)"
    )


@train_app.command("chords")
def chords(
    out: Path = typer.Option(..., "--out", help="Model folder to write (model.json + weights.msgpack)."),
    corpus: str = typer.Option(DEFAULT_CORPUS, "--corpus", help=_CORPUS_HELP),
    steps: int = typer.Option(3000, help="Step budget."),
    batch_size: int = typer.Option(32, "--batch-size"),
    hidden: int = typer.Option(192, help="LSTM width."),
    layers: int = typer.Option(2, help="LSTM layers."),
    embed: int = typer.Option(96, help="Embedding width."),
    seq_len: int = typer.Option(64, "--seq-len", help="Training window in events."),
    lr: float = typer.Option(3e-3, help="Peak learning rate (warm-up then cosine decay)."),
    seed: int = typer.Option(0, help="Seed for the split, initial weights and batches."),
    limit: int = typer.Option(None, help="At most this many pieces per corpus source."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in --out."),
    patience: int = typer.Option(6, help="Evaluations without improvement before stopping early."),
    eval_every: int = typer.Option(100, "--eval-every", help="Steps between validation passes."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse parsed corpora from the cache folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Train the chord model: an LSTM over key-relative chord tokens with durations."""
    from lofictl.models.train.loop import TrainConfig  # JAX loads only when a command trains

    config = TrainConfig(
        kind="chords",
        arch="chord-lstm",
        steps=steps,
        batch_size=batch_size,
        hidden=hidden,
        layers=layers,
        embed=embed,
        seq_len=seq_len,
        lr=lr,
        seed=seed,
        patience=patience,
        eval_every=eval_every,
        augment=False,
    )
    _run(config, TrainRun(corpus=corpus, out=out, limit=limit, resume=resume, cache=cache, progress=progress))


@train_app.command("melody")
def melody(
    out: Path = typer.Option(..., "--out", help="Model folder to write (model.json + weights.msgpack)."),
    corpus: str = typer.Option(DEFAULT_CORPUS, "--corpus", help=_CORPUS_HELP),
    arch: str = typer.Option("three-embeddings", help="one-embedding | two-embeddings | three-embeddings."),
    steps: int = typer.Option(3000, help="Step budget."),
    batch_size: int = typer.Option(32, "--batch-size"),
    hidden: int = typer.Option(192, help="LSTM width."),
    layers: int = typer.Option(2, help="LSTM layers."),
    embed: int = typer.Option(96, help="Embedding width."),
    seq_len: int = typer.Option(64, "--seq-len", help="Training window in notes."),
    lr: float = typer.Option(3e-3, help="Peak learning rate (warm-up then cosine decay)."),
    seed: int = typer.Option(0, help="Seed for the split, initial weights and batches."),
    limit: int = typer.Option(None, help="At most this many pieces per corpus source."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in --out."),
    patience: int = typer.Option(6, help="Evaluations without improvement before stopping early."),
    eval_every: int = typer.Option(100, "--eval-every", help="Steps between validation passes."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Add octave-shifted copies of the melodies."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse parsed corpora from the cache folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Train the melody model, conditioned on the chord sounding at each note."""
    from lofictl.models.train.loop import TrainConfig  # JAX loads only when a command trains

    config = TrainConfig(
        kind="melody",
        arch=arch,
        steps=steps,
        batch_size=batch_size,
        hidden=hidden,
        layers=layers,
        embed=embed,
        seq_len=seq_len,
        lr=lr,
        seed=seed,
        patience=patience,
        eval_every=eval_every,
        augment=augment,
    )
    _run(config, TrainRun(corpus=corpus, out=out, limit=limit, resume=resume, cache=cache, progress=progress))


@train_app.command("pop909-corpus")
def pop909_corpus(
    dataset: Path = typer.Argument(..., help="The POP909 dataset folder (song folders 001/ ... 909/)."),
    out: Path = typer.Option(
        Path("data/pop909"), "--out", help="Folder to write pop909-corpus.json.gz, LICENSE, README.md."
    ),
) -> None:
    """Read POP909 once and write the compact corpus `--corpus pop909:OUT` trains from (what ships in data/pop909)."""
    from lofictl.models.train import pop909

    console = Console(stderr=True)
    with console.status(f"reading {dataset}"):
        header = pop909.write_derived(dataset, out)
    s = header["summary"]
    console.print(
        f"wrote {out / pop909.DERIVED_FILE}: {header['songs']} songs, {s['pieces']} pieces "
        f"(skipped {s['skipped_total']}: {s['skipped']}); split {header['split']}"
    )


@train_app.command("pop909-forms")
def pop909_forms(
    dataset: Path = typer.Argument(..., help="The POP909 phrase-structure dataset folder (song folders 001/ ...)."),
    out: Path = typer.Option(
        Path("data/pop909-structure"), "--out", help="Folder to write forms.json, LICENSE, README.md."
    ),
) -> None:
    """Read the POP909 phrase-structure labels and write the table of song forms a recipe with only
    a length samples from (what ships in data/pop909-structure)."""
    from lofictl.models.train import forms

    data = forms.write_forms(dataset, out)
    Console(stderr=True).print(
        f"wrote {out / forms.FORMS_FILE}: {len(data['forms'])} forms from {data['songs']} songs "
        f"(skipped {data['skipped']})"
    )


add_group(train_app, "train")
