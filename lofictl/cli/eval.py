"""`lofictl eval`, `eval-midi`, `eval-index`: the models measured against held-out human songs
(models/quality.py, models/built.py for built tracks), any MIDI file's melody measured
(models/evaluate.py), and a melody model's n-gram index written (models/ngrams.py)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from lofictl.cli.common import app, user_errors
from lofictl.models.evaluate import eval_midi
from lofictl.models.ngrams import INDEX_FILE, INDEX_LENGTHS, build_ngram_index
from lofictl.models.quality import POP909_TEST, Settings, evaluate
from lofictl.models.quality_tables import markdown


def _persistent_compilation_cache() -> None:
    """Keep JAX's compiled sampling programs between runs (in the cache folder beside the parsed
    corpora): a second `lofictl eval` then skips XLA compilation, most of its time. The cache
    is keyed by the program and the JAX version, so it never serves another program."""
    import jax

    from lofictl.models.train import corpus as corpus_mod

    jax.config.update("jax_compilation_cache_dir", str(corpus_mod.cache_dir().parent / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@app.command("eval")
@user_errors
def eval_command(
    models: list[str] = typer.Argument(
        None,
        help="Model folders (melody or chords) and baselines "
        "(baseline:random, baseline:human) to measure, one row each.",
        show_default=False,
    ),
    compare: list[str] = typer.Option(
        None, "--compare", help="More rows, as `--compare A B C` (the same as listing them)."
    ),
    reference: str = typer.Option(
        POP909_TEST,
        "--reference",
        help="Held-out human songs to measure against: "
        "pop909:test (data/pop909's test split) or a corpus spec (its pieces the "
        "melody models did not train on).",
    ),
    samples: int = typer.Option(
        None,
        "--samples",
        help="Samples per row (one per held-out prompt passage); default 8, 32 with --recipe/--build.",
        show_default=False,
    ),
    length: int = typer.Option(16, "--length", help="Length of each sample (and passage) in bars."),
    out: Path = typer.Option(Path("eval"), "--out", help="Folder for report.json, report.md and the PNG plots."),
    seed: int = typer.Option(0, "--seed", help="Seed for the halves, the prompts and the sampling."),
    raw: bool = typer.Option(
        False,
        "--raw",
        help="Sample melody models bare (one candidate, no scale or anti-loop "
        "guard), as the original research did; default: as a build samples.",
    ),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature of every model row."),
    chord_model: Path = typer.Option(
        None,
        "--chord-model",
        help="Melodies over this chord model's progressions "
        "(in the prompts' keys) instead of the prompt songs' own chords.",
    ),
    chord_loop: int = typer.Option(
        None,
        "--chord-loop",
        help="Chord models loop a progression of this many bars "
        "(1, 2, 4, 8), as a recipe's `loop:` asks; default: through-composed.",
    ),
    overlap_curve: bool = typer.Option(
        False,
        "--overlap-curve",
        help="Training overlap for n = 4..20 (reads the "
        "training corpus once, then cached); default: the model folder's 15-grams.",
    ),
    recipe: list[Path] = typer.Option(
        None,
        "--recipe",
        help="Score built tracks instead: this recipe composed at master seeds 1..--seeds "
        "(the compose stage only, no audio), against the held-out songs, beside bare samples, "
        "the old models, random and human halves (repeatable).",
    ),
    seeds: int = typer.Option(10, "--seeds", help="With --recipe: how many master seeds (1..N)."),
    build: list[Path] = typer.Option(
        None, "--build", help="Score built tracks from build folders (their MIDI and build.json; repeatable)."
    ),
    no_models: bool = typer.Option(
        False, "--no-models", help="With --recipe/--build: only the built rows and the human reference."
    ),
) -> None:
    """Measure models against held-out human songs: feature distributions (Yang & Lerch 2020), loops per section,
    chord qualities, and the original research's repetitiveness and training overlap."""
    from rich.console import Console

    console = Console(stderr=True)
    _persistent_compilation_cache()
    if recipe or build:
        from lofictl.models import built

        with console.status("eval") as status:
            data = built.evaluate_built(
                list(recipe or []),
                seeds,
                list(build or []),
                samples=32 if samples is None else samples,
                seed=seed,
                with_models=not no_models,
                out=out,
                progress=lambda text: status.update(text),
            )
        typer.echo(built.markdown(data).split("\n", 2)[2].rstrip() + f"\n\nwrote {out}/report.json, report.md")
        return
    names = list(models or []) + list(compare or [])
    settings = Settings(
        8 if samples is None else samples, length, seed, raw, temperature, chord_model, chord_loop, overlap_curve
    )
    with console.status("eval") as status:
        written: list[str] = []
        data = evaluate(names, reference, settings, out, progress=lambda text: status.update(text), written=written)
    lines = [
        markdown(data).split("\n", 2)[2].rstrip(),
        "",
        f"wrote {out}/" + ", ".join(written),
    ]
    typer.echo("\n".join(lines))


_MEASURE_LABELS = (
    ("notes", "notes"),
    ("repetitiveness", "repetitiveness"),
    ("overlap_8", "overlap 8"),
    ("overlap_12", "overlap 12"),
    ("overlap_15", "overlap 15"),
    ("copied_15", "copied 15+ (notes)"),
    ("chord_tone_share", "chord-tone share"),
    ("in_scale_share", "in-scale share"),
    ("pitch_class_entropy", "pitch-class entropy (bits)"),
    ("note_density", "notes per beat"),
)


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict):
        if value.get("mean") is None:
            return "–"
        return f"{value['mean']:.3f} ± {value['std']:.3f}  [{value['min']:.3f}, {value['max']:.3f}]"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _print(lines: list[str]) -> None:
    typer.echo("\n".join(lines))


@app.command("eval-midi")
@user_errors
def eval_midi_command(
    file: Path = typer.Argument(..., help="MIDI file to measure.", show_default=False),
    chords: Path = typer.Argument(
        None, help="Optional MIDI file holding the chords under the melody.", show_default=False
    ),
    model: Path = typer.Option(
        Path("models/lofi-melody"),
        "--model",
        help="Model folder whose n-gram index (ngrams.npy) gives the training overlap; skipped when it has none.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the measures as JSON."),
) -> None:
    """Measure any MIDI file's melody with the same measures as `lofictl eval`."""
    model_dir = model if model is not None and (Path(model) / INDEX_FILE).is_file() else None
    result = eval_midi(file, chords, model_dir)
    if as_json:
        typer.echo(json.dumps(result, indent=1, sort_keys=True))
        return
    lines = [
        f"{file}: melody from track {result['melody_track']!r}, key {result['key']} ({result['key_from']}), "
        f"chords from {result['chords_from'] or 'nowhere (none found)'}"
    ]
    for name, label in _MEASURE_LABELS:
        lines.append(f"  {label:28s} {_fmt(result['measures'].get(name))}")
    if model_dir is None:
        lines.append(f"  (no n-gram index in {model}: training overlap not measured)")
    _print(lines)


@app.command("eval-index")
@user_errors
def eval_index_command(
    model_dir: Path = typer.Argument(
        ..., help="Melody model folder to write ngrams.npy/ngrams.json into.", show_default=False
    ),
    corpus: str = typer.Option(None, "--corpus", help="Training corpus (default: the one in model.json)."),
    lengths: list[int] = typer.Option(
        list(INDEX_LENGTHS),
        "--length",
        help="n-gram lengths to index (repeat the option; each adds ~2.3 MB for Bach + Essen).",
    ),
) -> None:
    """Build the n-gram index of a melody model's training data, for a model trained before `lofictl train`
    wrote one (the originality gate needs it); the corpus is re-read with the model's own limit and split."""
    meta = build_ngram_index(model_dir, corpus, lengths)
    _print(
        [
            f"wrote {Path(model_dir) / INDEX_FILE}: {meta['entries']} n-grams (n = "
            f"{', '.join(map(str, meta['lengths']))}) of {meta['split']['training_pieces']} training pieces, "
            f"{meta['bytes'] / 1e6:.1f} MB"
        ]
    )
