"""`lofictl eval`: what models make, measured against held-out human songs as distributions.

The held-out songs (by default the POP909 test split; or the held-out split of a corpus) are
cut into passages of `length` bars, from each song's first melody bar on, keeping passages with
at least a note a bar (instrumental breaks are not melodies). The songs are split in two halves
by name:

* **prompts** — their keys and chords are what every melody model is given, one passage per
  sample, so all rows answer the same questions; their own melodies are the *human* row;
* **reference** — what every row is measured against (measures.compare_sets).

So the human row (held-out melodies against other held-out melodies) is the ceiling, and a
model row differs from it only in who wrote the melodies. Rows:

* a melody model folder: sampled as a build samples (or `raw`: the bare model), over the
  prompts' chords — or over a chord model's (`chord_model`) in the prompts' keys;
* a chord model folder: progressions of `length` bars in the prompts' keys and metres,
  measured as progressions (loops per section, chord-quality shares);
* `baseline:random` — random melodies over the prompts' chords (lengths uniform over the
  model durations, one event in four a rest, pitches uniform in the range) and random
  progressions (a random chord of any quality every bar or half bar), the floor;
* `baseline:human` — the prompts' own melodies and chords, the ceiling.

Every melody row also gets the original research's measures (evaluate.measure_notes:
repetitiveness, training overlap, chord tones, scale, entropy, density). Samples are seeded
by name (derive_seed(seed, "eval", i)), so a report is the same for the same inputs and seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lofictl.compose import score as score_mod
from lofictl.compose import theory
from lofictl.errors import LofictlError
from lofictl.models import measures, report, tokens
from lofictl.models.quality_tables import melody_table, progression_table, write_outputs
from lofictl.seeds import derive_seed
from lofictl.seeds import rng as named_rng

REPORT_FORMAT = "lofictl-eval"
REPORT_VERSION = 2
BASELINES = ("baseline:random", "baseline:human")
REFERENCE_CAP = 256  # reference passages at most (intra-set pairs grow with the square)
MIN_NOTES_PER_BAR = 1.0
MELODY_LOW, MELODY_HIGH = 60, 84  # generate_melody's default range
TARGETS = {"mean_overlap": 0.80, "silent_share": 0.5, "loop_share": 0.5}


# --- the human side ------------------------------------------------------------------------


def song_of(piece_name: str) -> str:
    """Pieces of one song (POP909 splits songs at key changes) stay on one side of every split."""
    from lofictl.models.train import pop909

    return pop909.song_of(piece_name) or piece_name


def _symbol(root: int, quality: str, bass: int = 0) -> str:
    return tokens.chord_symbol(root, quality, tokens.inversion_of(quality, bass))


def piece_passages(piece, bars: int, min_notes_per_bar: float = MIN_NOTES_PER_BAR) -> list[measures.Passage]:
    """A corpus piece cut into whole `bars`-bar passages from its first melody bar, each with
    the notes that start in it (cut at its end) and its chords, times from its first bar line."""
    if not piece.melody:
        return []
    bpb = piece.beats_per_bar
    span = bars * bpb
    first_bar = int(min(s for s, *_ in piece.melody) // bpb + 1e-9)
    end = max(max(s + d for s, d, *_ in piece.melody), max((c[0] + c[1] for c in piece.chords), default=0.0))
    out = []
    start = first_bar * bpb
    while start + span <= end + 1e-9:
        notes = tuple(
            score_mod.Note(s - start, min(d, start + span - s), p, v if v is not None else 80)
            for s, d, p, v in piece.melody
            if start - 1e-9 <= s < start + span - 1e-9
        )
        chords = tuple(
            score_mod.ChordEvent(max(s, start) - start, min(s + d, start + span) - max(s, start), _symbol(r, q, b))
            for s, d, r, q, b in piece.chords
            if s + d > start + 1e-9 and s < start + span - 1e-9
        )
        if len(notes) >= min_notes_per_bar * bars:
            out.append(
                measures.Passage(
                    f"{piece.name}@{int(round(start / bpb))}", notes, chords, piece.tonic, piece.mode, bars, bpb
                )
            )
        start += span
    return out


@dataclass(frozen=True)
class Reference:
    """The held-out side of an evaluation (module doc)."""

    what: str
    prompts: tuple[measures.Passage, ...]
    reference: tuple[measures.Passage, ...]
    songs: tuple[int, int]  # songs on the prompt side, on the reference side


def split_reference(pieces, bars: int, samples: int, seed: int, what: str) -> Reference:
    """Held-out pieces → prompts (one per sample, repeating when there are fewer) and reference
    passages, the songs halved by a hash of their names and the seed."""
    halves: dict[int, list] = {0: [], 1: []}
    songs = sorted({song_of(p.name) for p in pieces})
    side = {s: derive_seed(seed, "eval-half", s) % 2 for s in songs}
    if len(songs) >= 2 and len(set(side.values())) < 2:  # every song hashed to one side
        side[min(songs, key=lambda s: derive_seed(seed, "eval-flip", s))] ^= 1
    for piece in pieces:
        halves[side[song_of(piece.name)]].extend(piece_passages(piece, bars))
    if not halves[0] or not halves[1]:
        raise LofictlError(
            f"{what} has too few held-out songs with {bars}-bar passages of melody to measure "
            f"against (found {len(halves[0]) + len(halves[1])} passages in {len(songs)} songs); "
            "give a shorter --length or another --reference",
            field="reference",
        )
    order = lambda ps: sorted(ps, key=lambda p: (derive_seed(seed, "eval-pick", p.name), p.name))  # noqa: E731
    # Songs interleaved, so a few long songs do not fill the prompts: each song's first passage, then seconds...
    prompts = _round_robin(order(halves[0]))
    reference = order(halves[1])[:REFERENCE_CAP]
    chosen = tuple(prompts[i % len(prompts)] for i in range(samples))
    n_songs = [len({song_of(p.name.rsplit("@", 1)[0]) for p in half}) for half in (halves[0], halves[1])]
    return Reference(what, chosen, tuple(reference), (n_songs[0], n_songs[1]))


def _round_robin(passages: list[measures.Passage]) -> list[measures.Passage]:
    by_song: dict[str, list] = {}
    for p in passages:
        by_song.setdefault(song_of(p.name.rsplit("@", 1)[0]), []).append(p)
    queues = list(by_song.values())
    out: list[measures.Passage] = []
    for depth in range(max(len(q) for q in queues)):
        out.extend(q[depth] for q in queues if depth < len(q))
    return out


# --- rows: what is measured ----------------------------------------------------------------


@dataclass
class Row:
    """One row of the table: a model or a baseline and what it made for the prompts."""

    name: str
    kind: str  # "melody", "chords" or "baseline"
    passages: list[measures.Passage] = field(default_factory=list)  # melodies over chords
    progressions: list[list[score_mod.ChordEvent]] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)


def _key_of(passage: measures.Passage) -> theory.Key:
    return theory.Key(passage.tonic, "minor" if passage.mode == "minor" else "major")


def sample_seed(seed: int, i: int) -> int:
    return derive_seed(seed, "eval", i)


def _events(pairs: list[tuple[str, float]]) -> list[score_mod.ChordEvent]:
    out, at = [], 0.0
    for symbol, dur in pairs:
        out.append(score_mod.ChordEvent(at, dur, symbol))
        at += dur
    return out


def chord_model_progressions(
    chord_model: Path, prompts, seed: int, temperature: float = 1.0, loop_bars: int | None = None
) -> list[list[score_mod.ChordEvent]]:
    """A chord model's progression for each prompt, in its key and metre and of its length, as
    a recipe's chords track samples one (through-composed, or looping `loop_bars` bars)."""
    from lofictl.models import generate

    return [
        _events(
            generate.generate_chords(
                chord_model,
                _key_of(p),
                p.beats,
                p.beats_per_bar,
                sample_seed(seed, i),
                temperature,
                loop_bars=loop_bars,
            )
        )
        for i, p in enumerate(prompts)
    ]


# The bare model, as the original research sampled it: one candidate, no scale or anti-loop guard.
RAW_CANDIDATES, RAW_SCALE_STRENGTH, RAW_LOOP_STRENGTH = 1, 0.0, 0.0


def melody_row(
    model_dir: Path,
    prompts,
    seed: int,
    *,
    raw: bool = False,
    temperature: float = 1.0,
    progressions=None,
    first: int = 0,
) -> Row:
    """A melody model's samples: one melody per prompt (sample `first + i` for prompt i), over
    the prompt's chords (or the given progressions), in one batched run."""
    from lofictl.models import generate

    progressions = progressions if progressions is not None else [list(p.chords) for p in prompts]
    requests = [
        generate.MelodyRequest(_key_of(p), tuple(chords), p.beats, sample_seed(seed, first + i), p.beats_per_bar)
        for i, (p, chords) in enumerate(zip(prompts, progressions))
    ]
    options = generate.MelodyOptions(temperature=temperature, low=MELODY_LOW, high=MELODY_HIGH)
    if raw:
        options = generate.MelodyOptions(
            temperature=temperature,
            low=MELODY_LOW,
            high=MELODY_HIGH,
            candidates=RAW_CANDIDATES,
            scale_strength=RAW_SCALE_STRENGTH,
            loop_strength=RAW_LOOP_STRENGTH,
        )
    melodies = generate.generate_melodies(model_dir, requests, options)
    passages = [
        measures.Passage(f"sample {first + i}", tuple(notes), tuple(chords), p.tonic, p.mode, p.bars, p.beats_per_bar)
        for i, (p, chords, notes) in enumerate(zip(prompts, progressions, melodies))
    ]
    return Row(
        Path(model_dir).name, "melody", passages, [list(c) for c in progressions], seeds=[r.seed for r in requests]
    )


def chords_row(model_dir: Path, prompts, seed: int, temperature: float = 1.0, loop_bars: int | None = None) -> Row:
    progressions = chord_model_progressions(model_dir, prompts, seed, temperature, loop_bars)
    return Row(
        Path(model_dir).name, "chords", [], progressions, seeds=[sample_seed(seed, i) for i in range(len(prompts))]
    )


def validation_metrics(meta: dict) -> dict:
    """The training run's own held-out loss, from model.json (nats per event, summed over the
    layout's heads, so every layout gives the joint -log p and they compare directly)."""
    m = meta.get("metrics", {})
    loss = m.get("val_loss")
    return {
        "val_loss": loss,
        "perplexity": math.exp(loss) if loss is not None else None,
        "best_step": m.get("best_step"),
        "steps_done": m.get("steps_done"),
        "train_seconds": m.get("wall_seconds"),
    }


def random_melody(passage: measures.Passage, seed: int, low: int = MELODY_LOW, high: int = MELODY_HIGH):
    """The floor: lengths uniform over the model durations, one event in four a rest, pitches
    uniform in [low, high]."""
    r = named_rng(seed, "random-melody")
    tpb = tokens.TICKS_PER_BEAT
    total, tick, notes = int(round(passage.beats * tpb)), 0, []
    while tick < total:
        length = min(int(r.choice(tokens.DURATION_TICKS)), total - tick)
        if r.random() >= 0.25:
            notes.append(score_mod.Note(tick / tpb, length / tpb, int(r.integers(low, high + 1)), 80))
        tick += length
    return tuple(notes)


def random_progression(passage: measures.Passage, seed: int) -> list[score_mod.ChordEvent]:
    """The floor for chords: every bar or half bar (a coin toss) a chord of random root and quality."""
    r = named_rng(seed, "random-chords")
    bpb, out, at = passage.beats_per_bar, [], 0.0
    while at < passage.beats - 1e-9:
        dur = min(bpb if r.random() < 0.5 else bpb / 2, passage.beats - at)
        out.append(
            score_mod.ChordEvent(
                at, dur, _symbol(int(r.integers(12)), tokens.QUALITY_NAMES[int(r.integers(len(tokens.QUALITY_NAMES)))])
            )
        )
        at += dur
    return out


def baseline_row(name: str, prompts, seed: int) -> Row:
    if name == "baseline:human":
        return Row(
            "human",
            "baseline",
            list(prompts),
            [list(p.chords) for p in prompts],
            info={"what": "the prompt half's own melodies and chords (held-out human songs)"},
        )
    seeds = [sample_seed(seed, i) for i in range(len(prompts))]
    passages = [
        measures.Passage(f"random {i}", random_melody(p, s), p.chords, p.tonic, p.mode, p.bars, p.beats_per_bar)
        for i, (p, s) in enumerate(zip(prompts, seeds))
    ]
    return Row(
        "random",
        "baseline",
        passages,
        [random_progression(p, s) for p, s in zip(prompts, seeds)],
        info={"what": "random melodies over the prompts' chords; random progressions"},
        seeds=seeds,
    )


# --- measuring rows ------------------------------------------------------------------------


def progression_measures(progressions, prompts, reference) -> dict:
    """Loops per 8-bar section and chord-quality shares, against the reference's."""
    sections = [
        s for chords, p in zip(progressions, prompts) for s in measures.section_loops(chords, p.bars, p.beats_per_bar)
    ]
    ref_sections = [s for p in reference for s in measures.section_loops(list(p.chords), p.bars, p.beats_per_bar)]
    shares = measures.quality_shares(progressions)
    ref_shares = measures.quality_shares([list(p.chords) for p in reference])
    changes = [len(chords) / max(p.bars, 1) for chords, p in zip(progressions, prompts)]
    return {
        "loops": measures.loop_summary(sections),
        "reference_loops": measures.loop_summary(ref_sections),
        "quality_shares": shares,
        "reference_quality_shares": ref_shares,
        "quality_overlap": measures.share_overlap(shares, ref_shares),
        "chords_per_bar": float(np.mean(changes)) if changes else None,
    }


def research_measures(row: Row, index) -> dict:
    """The original research's measures per melody (evaluate.measure_notes), summarised."""
    from lofictl.models import evaluate

    lengths = index.lengths if index is not None else ()
    per = [
        evaluate.measure_notes(
            list(p.notes),
            list(p.chords),
            _key_of(p),
            index,
            p.beats,
            p.beats_per_bar,
            lengths=lengths or evaluate.REPORT_LENGTHS,
        )
        for p in row.passages
    ]
    return {
        "measures": {name: report.spread([m.get(name) for m in per]) for name in evaluate.MEASURES},
        "overlap_by_length": {str(n): report.spread([m.get(f"overlap_{n}") for m in per]) for n in lengths},
        "repetition_curve": report.curve_spread([m["repetition_curve"] for m in per], 2 * evaluate.WINDOW),
        "per_sample": [{k: v for k, v in m.items() if k != "repetition_curve"} for m in per],
    }


# --- the evaluation ------------------------------------------------------------------------

POP909_TEST = "pop909:test"
CHUNK = 32  # prompts sampled per compiled run (the last chunk padded, so one program serves all)


@dataclass(frozen=True)
class Settings:
    samples: int = 8
    length: int = 16
    seed: int = 0
    raw: bool = False
    temperature: float = 1.0
    chord_model: Path | None = None
    chord_loop: int | None = None
    overlap_curve: bool = False

    def check(self) -> None:
        for name in ("samples", "length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise LofictlError(f"must be a whole number more than 0, got {value!r}", field=name)
        if self.length < measures.SECTION_BARS and self.chord_loop is not None:
            raise LofictlError(
                f"loops are counted per {measures.SECTION_BARS}-bar section; give --length "
                f"{measures.SECTION_BARS} or more",
                field="length",
            )


def _shipped_pop909() -> Path:
    """data/pop909 of the project: the working folder's, else the one beside this package."""
    here = Path("data/pop909")
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "data" / "pop909"


def held_out_pieces(reference: str | None, melody_dirs: list[Path]) -> tuple[list, str]:
    """(pieces, description) to measure against.

    `pop909:test` (the default) is the test split of the POP909 corpus shipped in data/pop909;
    any other corpus spec gives its pieces no evaluated melody model trained on (for POP909
    specs: the test songs only, as model selection has seen the validation songs)."""
    from lofictl.models import ngrams
    from lofictl.models.train import corpus as corpus_mod
    from lofictl.models.train import pop909

    spec = reference or POP909_TEST
    if spec == POP909_TEST:
        spec = f"pop909:{_shipped_pop909()}"
        what = "POP909 test split (data/pop909)"
    else:
        what = f"{spec}, held out"
    try:  # unknown names and missing folders: a clear error before any work
        specs = corpus_mod.parse_specs(spec)
        pieces, _ = corpus_mod.load_corpus(spec)
    except LofictlError as exc:
        raise LofictlError(exc.message, field="reference") from None
    trained: set[str] = set()
    if not all(s.startswith("pop909:") for s in specs):  # POP909's test songs are held out by construction
        for d in melody_dirs:
            facts = ngrams.training_facts(d)
            if facts["corpus"] and set(corpus_mod.parse_specs(facts["corpus"])) & set(specs):
                trained |= {p.name for p in ngrams.training_pieces(d)}
    held = [
        p
        for p in pieces
        if p.name not in trained
        and p.chords
        and ((song := pop909.song_of(p.name)) is None or pop909.split_of(song) == "test")
    ]
    if not held:
        raise LofictlError(f"{spec} has no held-out pieces with chords to measure against", field="reference")
    return held, what


def _candidate(name: str):
    """'baseline:random' | 'baseline:human' | a model folder → (name, kind, path or None, meta)."""
    from lofictl.models.nn.meta import read_meta

    if name in BASELINES:
        return name, "baseline", None, None
    if name.startswith("baseline:"):
        raise LofictlError(f"unknown baseline {name!r}; use {' or '.join(BASELINES)}", field="model")
    path = Path(name)
    meta = read_meta(path)
    return name, meta["kind"], path, meta


def _chunked_melodies(model_dir: Path, prompts, seed: int, settings: Settings, progressions) -> Row:
    """melody_row in fixed-size chunks: bounded memory, one compiled program."""
    rows = []
    for at in range(0, len(prompts), CHUNK):
        part = list(prompts[at : at + CHUNK])
        chords = list(progressions[at : at + CHUNK])
        real = len(part)
        while len(part) < min(CHUNK, len(prompts)):  # pad the last chunk to the chunk shape
            part.append(part[-1])
            chords.append(chords[-1])
        row = melody_row(
            model_dir, part, seed, raw=settings.raw, temperature=settings.temperature, progressions=chords, first=at
        )
        rows.append((row, real))
    out = rows[0][0]
    out.passages = [p for row, real in rows for p in row.passages[:real]]
    out.progressions = [c for row, real in rows for c in row.progressions[:real]]
    out.seeds = [s for row, real in rows for s in row.seeds[:real]]
    return out


def evaluate(
    names: list[str],
    reference: str | None = None,
    settings: Settings = Settings(),
    out: Path | None = None,
    progress=None,
    written: list[str] | None = None,
) -> dict:
    """Every named model or baseline against the held-out songs: one report (module doc), written
    to `out` when given (the names of the files written are added to `written`)."""
    from lofictl.models import ngrams

    settings.check()
    if not names:
        raise LofictlError("give a model folder, e.g. `lofictl eval models/lofi-melody`", field="model")
    candidates = [_candidate(n) for n in names]
    if settings.chord_model is not None:
        _, kind, _, _ = _candidate(str(settings.chord_model))
        if kind != "chords":
            raise LofictlError(
                f"{settings.chord_model} holds a {kind} model; --chord-model needs a chords model", field="chord_model"
            )
    melody_dirs = [path for _, kind, path, _ in candidates if kind == "melody"]
    say = progress or (lambda text: None)
    say("reading the held-out songs")
    pieces, what = held_out_pieces(reference, melody_dirs)
    ref = split_reference(pieces, settings.length, settings.samples, settings.seed, what)
    prompts = list(ref.prompts)
    progressions = [list(p.chords) for p in prompts]
    chord_source = "the prompt songs' own chords"
    if settings.chord_model is not None:
        say(f"sampling progressions from {settings.chord_model}")
        progressions = chord_model_progressions(
            settings.chord_model, prompts, settings.seed, settings.temperature, settings.chord_loop
        )
        chord_source = f"{settings.chord_model}" + (
            f" (looping {settings.chord_loop} bars)" if settings.chord_loop else " (through-composed)"
        )
    reference_features = [measures.passage_features(p) for p in ref.reference]
    rows = []
    first_index = None
    for name, kind, path, meta in candidates:
        say(f"sampling {name}")
        if kind == "melody":
            row = _chunked_melodies(path, prompts, settings.seed, settings, progressions)
            row.name, row.info = (
                name,
                {
                    "arch": meta["arch"],
                    "chords": chord_source,
                    "weights_sha256": meta["weights"].get("sha256"),
                    "validation": validation_metrics(meta),
                    "training_command": meta.get("training", {}).get("command"),
                },
            )
            index = ngrams.cached_training_index(path) if settings.overlap_curve else ngrams.load_ngram_index(path)
            first_index = first_index or index
            row.info["index"] = (
                None if index is None else {"lengths": list(index.lengths), "entries": int(len(index.hashes))}
            )
        elif kind == "chords":
            row = chords_row(path, prompts, settings.seed, settings.temperature, settings.chord_loop)
            row.name, row.info = (
                name,
                {
                    "arch": meta["arch"],
                    "validation": validation_metrics(meta),
                    "weights_sha256": meta["weights"].get("sha256"),
                    "loop_bars": settings.chord_loop,
                    "training_command": meta.get("training", {}).get("command"),
                },
            )
            index = None
        else:
            row = baseline_row(name, prompts, settings.seed)
            index = None
        rows.append((row, index))
    say("measuring")
    results = []
    for row, index in rows:
        result = {"name": row.name, "kind": row.kind, "info": row.info, "seeds": row.seeds}
        if row.passages:
            gen = [measures.passage_features(p) for p in row.passages]
            result["comparison"] = measures.compare_sets(gen, reference_features)
            result["research"] = research_measures(row, index if row.kind == "melody" else first_index)
            result["_features"] = gen
        generated_chords = row.kind in ("chords", "baseline") or (row.kind == "melody" and settings.chord_model)
        if row.progressions and generated_chords:
            result["progressions"] = progression_measures(row.progressions, prompts, ref.reference)
        results.append(result)
    report = _report(results, ref, reference_features, settings, reference, chord_source)
    if out is not None:
        names_written = write_outputs(report, results, reference_features, Path(out))
        if written is not None:  # for the command to list what it wrote
            written.extend(names_written)
    return report


# --- the report ----------------------------------------------------------------------------


def _targets(result: dict) -> dict:
    """Which of the issue's targets a row meets (None where it does not apply)."""
    out = {}
    comparison = result.get("comparison")
    if comparison:
        mean = comparison["mean_overlap"]
        silent = comparison["features"]["silent_share"]["overlap"]
        out["mean_overlap"] = None if mean is None else mean >= TARGETS["mean_overlap"]
        out["silent_share"] = None if silent is None else silent >= TARGETS["silent_share"]
    prog = result.get("progressions")
    if prog and prog["loops"]["loop_share"] is not None:
        out["loop_share"] = prog["loops"]["loop_share"] >= TARGETS["loop_share"]
    return out


def _report(results, ref: Reference, reference_features, settings: Settings, reference_spec, chord_source) -> dict:
    ref_desc = {
        name: measures._describe(
            measures._matrix([f[name] for f in reference_features]),
            name not in ("pitch_classes", "intervals", "onset_intervals", "note_lengths"),
        )
        for name in measures.FEATURES
    }
    rows = []
    for r in results:
        row = {k: v for k, v in r.items() if not k.startswith("_")}
        row["targets"] = _targets(r)
        rows.append(row)
    data = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "settings": {
            "reference": reference_spec or POP909_TEST,
            "samples": settings.samples,
            "length_bars": settings.length,
            "seed": settings.seed,
            "sampling": "raw" if settings.raw else "as built",
            "temperature": settings.temperature,
            "chords": chord_source,
            "chord_loop": settings.chord_loop,
        },
        "reference": {
            "what": ref.what,
            "prompt_passages": len(ref.prompts),
            "prompt_songs": ref.songs[0],
            "reference_passages": len(ref.reference),
            "reference_songs": ref.songs[1],
            "features": ref_desc,
            "passages": [p.name for p in ref.reference],
        },
        "prompts": [p.name for p in ref.prompts],
        "targets": TARGETS,
        "rows": rows,
    }
    data = report.rounded(data)
    data["table"] = melody_table(data["rows"])
    data["progression_table"] = progression_table(data["rows"], data)
    return data
