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

from .. import score as score_mod
from .. import theory, tokens
from ..errors import LofictlError
from ..seeds import derive_seed, rng as named_rng
from . import measures

REPORT_FORMAT = "lofictl-eval"
REPORT_VERSION = 2
BASELINES = ("baseline:random", "baseline:human")
REFERENCE_CAP = 256  # reference passages at most (intra-set pairs grow with the square)
MIN_NOTES_PER_BAR = 1.0
MELODY_LOW, MELODY_HIGH = 60, 84  # generate_melody's default range
TARGETS = {"mean_overlap": 0.80, "silent_share": 0.5, "loop_share": 0.5}


# --- the human side ------------------------------------------------------------------------

def song_of(piece_name: str) -> str:
    """Pieces of one song (split at key changes: 'name#2') stay on one side of every split."""
    return piece_name.split("#", 1)[0]


def _symbol(root: int, quality: str) -> str:
    return theory.NOTE_NAMES[root % 12] + tokens.CHORD_QUALITIES[quality][1]


def piece_passages(piece, bars: int, min_notes_per_bar: float = MIN_NOTES_PER_BAR) -> list[measures.Passage]:
    """A corpus piece cut into whole `bars`-bar passages from its first melody bar, each with
    the notes that start in it (cut at its end) and its chords, times from its first bar line."""
    if not piece.melody:
        return []
    bpb = piece.beats_per_bar
    span = bars * bpb
    first_bar = int(min(s for s, *_ in piece.melody) // bpb + 1e-9)
    end = max(max(s + d for s, d, *_ in piece.melody), max((s + d for s, d, *_ in piece.chords), default=0.0))
    out = []
    start = first_bar * bpb
    while start + span <= end + 1e-9:
        notes = tuple(score_mod.Note(s - start, min(d, start + span - s), p, v if v is not None else 80)
                      for s, d, p, v in piece.melody if start - 1e-9 <= s < start + span - 1e-9)
        chords = tuple(score_mod.ChordEvent(max(s, start) - start, min(s + d, start + span) - max(s, start),
                                            _symbol(r, q))
                       for s, d, r, q in piece.chords if s + d > start + 1e-9 and s < start + span - 1e-9)
        if len(notes) >= min_notes_per_bar * bars:
            out.append(measures.Passage(f"{piece.name}@{int(round(start / bpb))}", notes, chords, piece.tonic,
                                        piece.mode, bars, bpb))
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
        raise LofictlError(f"{what} has too few held-out songs with {bars}-bar passages of melody to measure "
                           f"against (found {len(halves[0]) + len(halves[1])} passages in {len(songs)} songs); "
                           "give a shorter --length or another --reference", field="reference")
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
    out = []
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


def chord_model_progressions(chord_model: Path, prompts, seed: int, temperature: float = 1.0):
    from .. import generate
    requests = [(_key_of(p), p.beats, p.beats_per_bar, sample_seed(seed, i)) for i, p in enumerate(prompts)]
    return [_events(pairs) for pairs in generate.generate_progressions(chord_model, requests, temperature)]


RAW_SAMPLING = {"candidates": 1, "scale_strength": 0.0, "loop_strength": 0.0}


def melody_row(model_dir: Path, prompts, seed: int, *, raw: bool = False, temperature: float = 1.0,
               progressions=None) -> Row:
    """A melody model's samples: one melody per prompt, over the prompt's chords (or the given
    progressions), in one batched run."""
    from .. import generate
    progressions = progressions if progressions is not None else [list(p.chords) for p in prompts]
    requests = [generate.MelodyRequest(_key_of(p), tuple(chords), p.beats, sample_seed(seed, i), p.beats_per_bar)
                for i, (p, chords) in enumerate(zip(prompts, progressions))]
    melodies = generate.generate_melodies(model_dir, requests, temperature=temperature,
                                          **(RAW_SAMPLING if raw else {}))
    passages = [measures.Passage(f"sample {i}", tuple(notes), tuple(chords), p.tonic, p.mode, p.bars, p.beats_per_bar)
                for i, (p, chords, notes) in enumerate(zip(prompts, progressions, melodies))]
    return Row(Path(model_dir).name, "melody", passages, [list(c) for c in progressions],
               seeds=[r.seed for r in requests])


def chords_row(model_dir: Path, prompts, seed: int, temperature: float = 1.0) -> Row:
    progressions = chord_model_progressions(model_dir, prompts, seed, temperature)
    return Row(Path(model_dir).name, "chords", [], progressions, seeds=[sample_seed(seed, i) for i in range(len(prompts))])


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
        out.append(score_mod.ChordEvent(at, dur, _symbol(int(r.integers(12)),
                                                         tokens.QUALITY_NAMES[int(r.integers(len(tokens.QUALITY_NAMES)))])))
        at += dur
    return out


def baseline_row(name: str, prompts, seed: int) -> Row:
    if name == "baseline:human":
        return Row("human", "baseline", list(prompts), [list(p.chords) for p in prompts],
                   info={"what": "the prompt half's own melodies and chords (held-out human songs)"})
    seeds = [sample_seed(seed, i) for i in range(len(prompts))]
    passages = [measures.Passage(f"random {i}", random_melody(p, s), p.chords, p.tonic, p.mode, p.bars,
                                 p.beats_per_bar) for i, (p, s) in enumerate(zip(prompts, seeds))]
    return Row("random", "baseline", passages, [random_progression(p, s) for p, s in zip(prompts, seeds)],
               info={"what": "random melodies over the prompts' chords; random progressions"}, seeds=seeds)


# --- measuring rows ------------------------------------------------------------------------

def melody_comparison(passages, reference) -> dict:
    gen = [measures.passage_features(p) for p in passages]
    ref = [measures.passage_features(p) for p in reference]
    return measures.compare_sets(gen, ref)


def progression_measures(progressions, prompts, reference) -> dict:
    """Loops per 8-bar section and chord-quality shares, against the reference's."""
    sections = [s for chords, p in zip(progressions, prompts)
                for s in measures.section_loops(chords, p.bars, p.beats_per_bar)]
    ref_sections = [s for p in reference for s in measures.section_loops(list(p.chords), p.bars, p.beats_per_bar)]
    shares = measures.quality_shares(progressions)
    ref_shares = measures.quality_shares([list(p.chords) for p in reference])
    changes = [len(chords) / max(p.bars, 1) for chords, p in zip(progressions, prompts)]
    return {"loops": measures.loop_summary(sections), "reference_loops": measures.loop_summary(ref_sections),
            "quality_shares": shares, "reference_quality_shares": ref_shares,
            "quality_overlap": measures.share_overlap(shares, ref_shares),
            "chords_per_bar": float(np.mean(changes)) if changes else None}


def research_measures(row: Row, index) -> dict:
    """The original research's measures per melody (evaluate.measure_notes), summarised."""
    from .. import evaluate
    lengths = index.lengths if index is not None else ()
    per = []
    for p in row.passages:
        m = evaluate.measure_notes(list(p.notes), list(p.chords), _key_of(p), index, p.beats, p.beats_per_bar,
                                   lengths=lengths or evaluate.REPORT_LENGTHS)
        per.append(m)
    summary = {name: evaluate.spread([m.get(name) for m in per]) for name in evaluate.MEASURES}
    return {"measures": summary,
            "overlap_by_length": {str(n): evaluate.spread([m.get(f"overlap_{n}") for m in per]) for n in lengths},
            "repetition_curve": evaluate._curve_spread([m["repetition_curve"] for m in per]),
            "per_sample": [{k: v for k, v in m.items() if k != "repetition_curve"} for m in per]}
