"""The API compose calls: chords and melodies from trained checkpoints.

Seeds are turned into JAX keys by name (`derive_seed(seed, "chords")`), so the same model and
seed give the same music in any process. Models are loaded once per process and cached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from lofictl.compose import score, theory
from lofictl.digests import canonical_json, sha256_bytes
from lofictl.errors import LofictlError
from lofictl.models import ngrams, tokens
from lofictl.models.nn import checkpoint, modules, sample
from lofictl.models.nn.meta import check_sampling_meta
from lofictl.seeds import derive_seed

DEFAULT_CANDIDATES = 8
DEFAULT_SCALE_STRENGTH = 1.5  # logits taken from pitches outside both the scale and the chord
DEFAULT_LOOP_STRENGTH = 2.0  # logits taken per earlier occurrence of a repeated 4-gram
DEFAULT_ANCHOR_STRENGTH = 10.0  # register anchor (sample.MelodySampler): tilt per octave of drift from home
DEFAULT_ECHO_BARS = 4  # motif echo: a phrase may come back this many bars later (pop's AA')
BREATH = 0.28  # the share of time a candidate melody should rest: what POP909's sung melodies leave silent
DEFAULT_ECHO_STRENGTH = (
    1.5  # logits given to the pitch heard echo_bars before (its duration: sample.RHYTHM_ECHO times that)
)


@dataclass
class LoadedModel:
    path: Path
    meta: dict
    params: dict
    module: modules.TokenLSTM
    sampler: object  # sample.MelodySampler or sample.ChordSampler

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def arch(self) -> str:
        return self.meta["arch"]


_CACHE: dict[tuple, LoadedModel] = {}


def _cache_key(model_dir: Path) -> tuple:
    stats = []
    for name in (checkpoint.META, checkpoint.WEIGHTS):
        path = model_dir / name
        st = path.stat() if path.exists() else None
        stats.append((st.st_size, st.st_mtime_ns) if st else None)
    return (str(model_dir.resolve()), *stats)


def load_model(model_dir: Path | str) -> LoadedModel:
    """The checked model in a folder, cached per process (reloaded if its files change)."""
    model_dir = Path(model_dir)
    checkpoint.read_meta(model_dir)  # clear errors for missing or foreign folders first
    key = _cache_key(model_dir)
    if key in _CACHE:
        return _CACHE[key]
    vocab = check_sampling_meta(model_dir, checkpoint.read_meta(model_dir))
    meta, params = checkpoint.load(model_dir)
    module = modules.build(meta["config"])
    # The model's identity for its kept sampling programs: model.json holds its config,
    # vocabularies and the weights' sha256.
    fingerprint = sha256_bytes(canonical_json(meta).encode())
    if vocab is not None:
        sampler = sample.MelodySampler(module, vocab.tables, fingerprint=fingerprint)
    else:
        sampler = sample.ChordSampler(module, fingerprint=fingerprint)
    loaded = LoadedModel(model_dir, meta, params, module, sampler)
    _CACHE[key] = loaded
    return loaded


def model_info(model_dir: Path | str) -> dict:
    """What a lock file records about a model folder."""
    from lofictl.models.nn.meta import model_summary

    return model_summary(Path(model_dir))


@dataclass(frozen=True)
class TrackModel:
    """What composing samples one track from, loaded before it starts (compose reads no files):
    the network and, for a melody model, the n-gram index of its training melodies (the
    originality gate and the lock's overlap measures; None when the folder has none)."""

    network: LoadedModel
    index: ngrams.NgramIndex | None = None


def load_track_model(model_dir: Path | str, *, index_field: str = "model") -> TrackModel:
    """A model folder as compose takes it. A missing, stale or damaged n-gram index is an error
    at `index_field` (a build with the originality gate on points it at `max_overlap_15`)."""
    network = load_model(model_dir)
    if network.kind != "melody":
        return TrackModel(network)
    try:
        index = ngrams.load_ngram_index(model_dir)
    except LofictlError as exc:
        raise LofictlError(exc.message, field=index_field) from None
    return TrackModel(network, index)


def _need(model: LoadedModel | Path | str, kind: str) -> LoadedModel:
    """A loaded model of this kind: the one given, or the one in the folder given."""
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    if loaded.kind != kind:
        raise LofictlError(
            f"{loaded.path} holds a {loaded.kind} model ({loaded.arch}); a {kind} model is needed here", field="model"
        )
    return loaded


def check_sampling(temperature: float, top_k: int, top_p: float) -> None:
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise LofictlError(
            f"must be a number more than 0 (1.0 samples as trained, lower is safer), got {temperature!r}",
            field="temperature",
        )
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise LofictlError(f"must be a whole number 0 or more (0 turns it off), got {top_k!r}", field="top_k")
    if not isinstance(top_p, (int, float)) or not (0 < top_p <= 1):
        raise LofictlError(f"must be in (0, 1] (1 turns it off), got {top_p!r}", field="top_p")


def _check_beats(value: float, field: str) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise LofictlError(f"must be a number of beats more than 0, got {value!r}", field=field)


def _key(seed: int, name: str):
    return jax.random.key(derive_seed(seed, name))


# --- chords ---------------------------------------------------------------------------------


def tonic_qualities(key: theory.Key) -> list[str]:
    """Qualities the closing tonic chord may take in the key's mode."""
    steps = set(theory.MODES[key.mode])
    if 4 in steps:
        return (
            ["maj"]
            + (["maj7"] if 11 in steps else [])
            + (["7"] if 10 in steps else [])
            + (["maj6"] if 9 in steps else [])
        )
    return ["min"] + (["min7"] if 10 in steps else [])


def _chord_grid(bar_ticks: int) -> int:
    """Half bars if chord durations fit them, else bars, else beats."""
    for grid in (bar_ticks // 2 if bar_ticks % 2 == 0 else 0, bar_ticks, tokens.TICKS_PER_BEAT):
        if grid > 0 and any(d % grid == 0 for d in tokens.CHORD_DURATION_TICKS):
            return grid
    return tokens.TICKS_PER_BEAT


LOOP_BARS = (1, 2, 4, 8)
LOOP_CANDIDATES = 4  # loops sampled in one batch; the one the model best expects to hear again wins


def generate_chords(
    model_dir: LoadedModel | Path,
    key: theory.Key,
    n_beats: float,
    beats_per_bar: float,
    seed: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    *,
    grid_beats: float | None = None,
    loop_bars: int | None = None,
    candidates: int = LOOP_CANDIDATES,
) -> list[tuple[str, float]]:
    """Chord symbols in absolute pitch with durations in beats summing to n_beats.

    Durations are multiples of `grid_beats` — by default half a bar (a bar, or a beat, when
    half bars do not fit the duration vocabulary); pass beats_per_bar for one chord a bar or
    more.

    Through-composed (`loop_bars` None): one progression over the whole span, whose last bar
    (or the whole span, if shorter) is the tonic. Looped (`loop_bars` 1, 2, 4 or 8): a
    progression of that many bars, repeated to fill the span, its end left free so it can lead
    back to its start. `candidates` loops are sampled at once and the one whose second time
    round the model finds most likely (mean log-probability per chord) is kept: the model has
    heard pop songs cycle their progressions, so this picks the loops that sound like loops.
    """
    check_sampling(temperature, top_k, top_p)
    _check_beats(n_beats, "n_beats")
    _check_beats(beats_per_bar, "beats_per_bar")
    if loop_bars is not None and loop_bars not in LOOP_BARS:
        raise LofictlError(f"must be one of {', '.join(map(str, LOOP_BARS))} bars, got {loop_bars!r}", field="loop")
    if isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= 64:
        raise LofictlError(f"must be a whole number 1..64, got {candidates!r}", field="candidates")
    model = _need(model_dir, "chords")
    tpb = tokens.TICKS_PER_BEAT
    total = int(math.floor(n_beats * tpb + 1e-9))
    bar = max(int(round(beats_per_bar * tpb)), 1)
    if grid_beats is None:
        grid = _chord_grid(bar)
    else:
        _check_beats(grid_beats, "grid_beats")
        grid = int(round(grid_beats * tpb))
        if grid <= 0 or not any(d % grid == 0 for d in tokens.CHORD_DURATION_TICKS):
            allowed = sorted({d / tpb for d in tokens.CHORD_DURATION_TICKS})
            raise LofictlError(
                f"no chord duration is a multiple of {grid_beats:g} beats; chords last one of "
                f"{', '.join(f'{a:g}' for a in allowed)} beats",
                field="grid_beats",
            )
    tonic = [tokens.chord_token(0, q) for q in tonic_qualities(key)]
    tonic_mask = np.zeros(tokens.N_CHORD, bool)
    tonic_mask[tonic] = True
    looped = loop_bars is not None
    span = min(loop_bars * bar, total) if looped else total
    cond = {
        "total_ticks": np.int32(span),
        "final_ticks": np.int32(0 if looped else min(bar, span)),
        "grid_ticks": np.int32(grid),
        "bar_ticks": np.int32(bar),
        "mode": np.int32(tokens.mode_token(key.mode)),
        "tonic_mask": tonic_mask,
        "temperature": np.float32(temperature),
        "top_k": np.int32(top_k),
        "top_p": np.float32(top_p),
    }
    # One compiled program serves loops and through-composed sections up to 15 bars: the step
    # count has a floor of 32 and the batch is always `candidates` (a through-composed section
    # keeps the first).
    n_steps = sample.bucket(-(-span // grid) + 2, 32)
    batch = candidates
    chords, lengths, _, valid = (
        np.asarray(a) for a in model.sampler.run(model.params, _key(seed, "chords"), cond, n_steps=n_steps, batch=batch)
    )
    events = [[(int(c), int(n)) for c, n, ok in zip(chords[b], lengths[b], valid[b]) if ok] for b in range(batch)]
    best = _best_loop(model, events, span, cond) if looped else 0
    chosen = events[best]
    if looped:  # repeat the loop to fill the span, the last time cut short where the span ends
        cycle, chosen, tick = chosen, [], 0
        while tick < total:
            for token, length in cycle:
                if tick >= total:
                    break
                chosen.append((token, min(length, total - tick)))
                tick += length
    result: list[list] = []
    for token, length in chosen:
        symbol = tokens.decode_chord(token, key)
        if result and result[-1][0] == symbol:
            result[-1][1] += length
        else:
            result.append([symbol, length])
    if not result:  # a piece shorter than one tick: the tonic alone
        return [(tokens.decode_chord(tonic[0], key), float(n_beats))]
    out = [(symbol, ticks / tpb) for symbol, ticks in result[:-1]]
    out.append((result[-1][0], n_beats - math.fsum(d for _, d in out)))
    return out


def _best_loop(model: LoadedModel, events: list[list[tuple[int, int]]], span: int, cond: dict) -> int:
    """Index of the candidate loop whose repetition the model expects most: each is played
    twice and the second pass scored (mean log p per chord). A loop of one chord only counts
    when every candidate is one (a loop should move)."""
    longest = max(len(e) for e in events)
    size = sample.bucket(2 * longest, 32)
    targets = np.zeros((len(events), size, 2), np.int32)
    ticks = np.zeros((len(events), size), np.int32)
    mask = np.zeros((len(events), size), np.float32)
    for b, loop in enumerate(events):
        tick = 0
        for i, (token, length) in enumerate(loop + loop):
            targets[b, i] = (token, 1 + int(np.argmin(np.abs(sample.CHORD_DURATION_TICKS[1:] - length))))
            ticks[b, i] = tick
            mask[b, i] = 1.0 if i >= len(loop) else 0.0
            tick += length
    scores = np.asarray(model.sampler.score(model.params, targets, ticks, mask, cond)) / np.maximum(mask.sum(1), 1)
    moving = np.array([len({t for t, _ in loop}) > 1 for loop in events])
    if moving.any():
        scores = np.where(moving, scores, -np.inf)
    return int(np.argmax(scores))  # first of equals: deterministic


# --- melody ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChordTimeline:
    starts: np.ndarray  # ticks, first is 0
    tokens: np.ndarray
    pcs: np.ndarray  # (n, 12) relative to the key
    ends: np.ndarray


def chord_timeline(chords: list[score.ChordEvent], key: theory.Key, total_ticks: int) -> ChordTimeline:
    """Chord events → contiguous arrays from tick 0, gaps filled with "no chord"."""
    tpb = tokens.TICKS_PER_BEAT
    events = []
    for i, event in enumerate(sorted(chords, key=lambda c: (c.start, c.duration))):
        try:
            chord = theory.parse_chord(event.symbol)
        except theory.TheoryError as e:
            raise LofictlError(str(e), field=("chords", i)) from None
        start, end = int(round(event.start * tpb)), int(round(event.end * tpb))
        if end <= start or end <= 0 or start >= total_ticks:
            continue
        rel = tokens.pcs_mask((pc - key.tonic) % 12 for pc in chord.pitch_classes)
        events.append((max(start, 0), min(end, total_ticks), tokens.chord_of(chord, key), rel))
    starts: list[int] = []
    toks: list[int] = []
    pcs: list[np.ndarray] = []
    ends: list[int] = []

    def span(begin: int, token: int, chord_pcs: np.ndarray, stop: int) -> None:
        starts.append(begin)
        toks.append(token)
        pcs.append(chord_pcs)
        ends.append(stop)

    cursor = 0
    for start, end, token, rel in events:
        if start < cursor:  # overlapping events: the later one takes over
            start = cursor
            if start >= end:
                continue
        if start > cursor:
            span(cursor, tokens.NO_CHORD, np.zeros(12, np.float32), start)
        span(start, token, rel, end)
        cursor = end
    if cursor < total_ticks or not starts:
        span(cursor, tokens.NO_CHORD, np.zeros(12, np.float32), max(total_ticks, cursor + 1))
    return ChordTimeline(
        np.array(starts, np.int32), np.array(toks, np.int32), np.stack(pcs).astype(np.float32), np.array(ends, np.int32)
    )


def pitch_base(key: theory.Key, low: int, high: int) -> int:
    """The MIDI pitch relative pitch 0 stands for, an octave of the tonic chosen so the range
    sits where the corpus melodies sit (about a fifth above the tonic)."""
    base = tokens.tonic_base(key.tonic)
    return base + 12 * int(round(((low + high) / 2 - base - 7) / 12))


def range_mask(base: int, low: int, high: int) -> np.ndarray:
    mask = np.full(tokens.N_PITCH, sample.NEG, np.float32)
    mask[tokens.REST] = 0.0
    for t in range(2, tokens.N_PITCH):
        if low <= base + tokens.relative_of_token(t) <= high:
            mask[t] = 0.0
    return mask


def onset_chord_tone_share(notes: list[score.Note], chords: list[score.ChordEvent]) -> float:
    """Duration-weighted share of notes whose pitch class is in the chord sounding at their onset
    (notes where no chord sounds are left out); nan without such notes."""
    parsed = [(c.start, c.end, theory.parse_chord(c.symbol).pitch_classes) for c in chords]
    on, total = 0.0, 0.0
    for note in notes:
        for start, end, pcs in parsed:
            if start <= note.start < end:
                total += note.duration
                on += note.duration if note.pitch % 12 in pcs else 0.0
                break
    return on / total if total else float("nan")


def _candidate_score(
    factors: np.ndarray, ticks: np.ndarray, valid: np.ndarray, timeline: ChordTimeline, total: int
) -> float:
    """Chord-tone fit (duration-weighted), variety (distinct pitch 4-grams, up to a point) and not
    too many rests."""
    pitches, on, sounding, rests = [], 0.0, 0.0, 0.0
    for (p, d, _), tick, ok in zip(factors, ticks, valid):
        if not ok:
            break
        length = min(sample.DURATION_TICKS[d], total - tick)
        if p == tokens.REST:
            rests += length
            continue
        pitches.append(int(p))
        i = int(np.searchsorted(timeline.starts, tick, side="right") - 1)
        pc = tokens.relative_of_token(int(p)) % 12
        if timeline.tokens[i] != tokens.NO_CHORD:
            sounding += length
            on += length * timeline.pcs[i][pc]
    if len(pitches) < 2:
        return -1e9
    grams = [tuple(pitches[i : i + 4]) for i in range(len(pitches) - 3)]
    # Variety saturates where human pop melodies sit (a sixth of their 4-note figures recur):
    # motifs that come back are welcome, a melody stuck on one figure is not.
    variety = min(len(set(grams)) / len(grams) / 0.8, 1.0) if grams else 1.0
    fit = on / sounding if sounding else 0.5
    return fit + 0.5 * variety - 0.5 * abs(rests / max(total, 1) - BREATH)


def generate_melody(
    model_dir: LoadedModel | Path,
    key: theory.Key,
    chords: list[score.ChordEvent],
    n_beats: float,
    seed: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    low: int = 60,
    high: int = 84,
    *,
    beats_per_bar: float = 4.0,
    candidates: int = DEFAULT_CANDIDATES,
    scale_strength: float = DEFAULT_SCALE_STRENGTH,
    loop_strength: float = DEFAULT_LOOP_STRENGTH,
    anchor_strength: float = DEFAULT_ANCHOR_STRENGTH,
    echo_bars: int = DEFAULT_ECHO_BARS,
    echo_strength: float = DEFAULT_ECHO_STRENGTH,
) -> list[score.Note]:
    """Notes inside [0, n_beats) with pitches in [low, high], following the chord timeline.

    `candidates` melodies are sampled in one batch and the best by chord-tone fit, variety and
    rest share is returned. `scale_strength` 0 turns the key constraint off; `loop_strength` 0
    turns the anti-loop guard off; `anchor_strength` 0 lets the register wander (otherwise it
    is pulled back towards where the melody began); `echo_strength` 0 turns the motif echo
    off (otherwise what was played `echo_bars` bars earlier is favoured at the same place).
    """
    options = MelodyOptions(
        temperature,
        top_k,
        top_p,
        low,
        high,
        candidates,
        scale_strength,
        loop_strength,
        anchor_strength,
        echo_bars,
        echo_strength,
    )
    job = _melody_job(MelodyRequest(key, tuple(chords), n_beats, seed, beats_per_bar), options)
    model = _need(model_dir, "melody")
    if job.total <= 0:
        return []
    factors, ticks, valid = (
        np.asarray(a)
        for a in model.sampler.run(model.params, _key(seed, "melody"), job.cond, n_steps=job.n_steps, batch=candidates)
    )
    return _best_candidate(job, factors, ticks, valid, options)


@dataclass(frozen=True)
class MelodyOptions:
    """How melodies are sampled (generate_melody's keyword arguments), checked on creation."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    low: int = 60
    high: int = 84
    candidates: int = DEFAULT_CANDIDATES
    scale_strength: float = DEFAULT_SCALE_STRENGTH
    loop_strength: float = DEFAULT_LOOP_STRENGTH
    anchor_strength: float = DEFAULT_ANCHOR_STRENGTH
    echo_bars: int = DEFAULT_ECHO_BARS
    echo_strength: float = DEFAULT_ECHO_STRENGTH

    def __post_init__(self):
        check_sampling(self.temperature, self.top_k, self.top_p)
        for name, value in (("low", self.low), ("high", self.high)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 127:
                raise LofictlError(f"must be a MIDI pitch 0..127, got {value!r}", field=name)
        if self.high - self.low < 5:
            raise LofictlError(
                f"the melody range {self.low}..{self.high} is too narrow; give at least 5 semitones", field="high"
            )
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or not 1 <= self.candidates <= 64:
            raise LofictlError(f"must be a whole number 1..64, got {self.candidates!r}", field="candidates")
        for name in ("scale_strength", "loop_strength", "anchor_strength", "echo_strength"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise LofictlError(f"must be a number 0 or more, got {value!r}", field=name)
        if isinstance(self.echo_bars, bool) or not isinstance(self.echo_bars, int) or not 1 <= self.echo_bars <= 64:
            raise LofictlError(f"must be a whole number of bars 1..64, got {self.echo_bars!r}", field="echo_bars")


@dataclass(frozen=True)
class MelodyRequest:
    """One melody to sample: its key, chords, length and seed."""

    key: theory.Key
    chords: tuple[score.ChordEvent, ...]
    n_beats: float
    seed: int
    beats_per_bar: float = 4.0


@dataclass(frozen=True)
class _MelodyJob:
    """A request's traced inputs and what decoding it needs."""

    cond: dict
    timeline: ChordTimeline
    base: int
    total: int
    n_steps: int


def _melody_job(request: MelodyRequest, options: MelodyOptions) -> _MelodyJob:
    _check_beats(request.n_beats, "n_beats")
    _check_beats(request.beats_per_bar, "beats_per_bar")
    tpb = tokens.TICKS_PER_BEAT
    key, low, high = request.key, options.low, options.high
    total = int(math.floor(request.n_beats * tpb + 1e-9))
    timeline = chord_timeline(list(request.chords), key, max(total, 1))
    base = pitch_base(key, low, high)
    scale = tokens.pcs_mask((pc - key.tonic) % 12 for pc in key.scale)
    cond = sample.melody_conditions(
        timeline.starts,
        timeline.tokens,
        timeline.pcs,
        total,
        int(round(request.beats_per_bar * tpb)),
        tokens.mode_token(key.mode),
        range_mask(base, low, high),
        scale,
        temperature=options.temperature,
        top_k=options.top_k,
        top_p=options.top_p,
        scale_strength=options.scale_strength,
        loop_strength=options.loop_strength,
        anchor_strength=options.anchor_strength,
        echo_ticks=int(round(options.echo_bars * request.beats_per_bar * tpb)),
        echo_strength=options.echo_strength,
    )
    n_steps = sample.bucket(-(-total // min(tokens.DURATION_TICKS)) + 1, 64)
    return _MelodyJob(cond, timeline, base, total, n_steps)


def _best_candidate(
    job: _MelodyJob, factors: np.ndarray, ticks: np.ndarray, valid: np.ndarray, options: MelodyOptions
) -> list[score.Note]:
    scores = [_candidate_score(factors[b], ticks[b], valid[b], job.timeline, job.total) for b in range(len(factors))]
    best = int(np.argmax(scores))  # first of equals: deterministic
    return decode_melody(factors[best], ticks[best], valid[best], job.base, options.low, options.high, job.total)


def _stacked(conds: list[dict]) -> dict:
    """Per-request conditions → one dict with a leading request axis; chord arrays padded to the
    longest with starts past the end (as melody_conditions pads)."""
    size = max(len(c["chord_starts"]) for c in conds)
    far = np.iinfo(np.int32).max // 2

    def pad(c: dict) -> dict:
        extra = size - len(c["chord_starts"])
        if not extra:
            return c
        return {
            **c,
            "chord_starts": np.concatenate([c["chord_starts"], np.full(extra, far, np.int32)]),
            "chord_tokens": np.concatenate([c["chord_tokens"], np.full(extra, tokens.NO_CHORD, np.int32)]),
            "chord_pcs": np.concatenate([c["chord_pcs"], np.zeros((extra, 12), np.float32)]),
        }

    padded = [pad(c) for c in conds]
    return {name: np.stack([c[name] for c in padded]) for name in padded[0]}


def generate_melodies(
    model_dir: Path, requests: list[MelodyRequest], options: MelodyOptions = MelodyOptions()
) -> list[list[score.Note]]:
    """Many melodies in one compiled run (`lofictl eval`): each request is sampled and its
    candidate chosen exactly as generate_melody would (same keys, so the same notes), with the
    candidates of every request in one batch."""
    if not requests:
        return []
    jobs = [_melody_job(r, options) for r in requests]
    model = _need(model_dir, "melody")
    keys = jax.numpy.stack([_key(r.seed, "melody") for r in requests])
    factors, ticks, valid = (
        np.asarray(a)
        for a in model.sampler.run_many(
            model.params,
            keys,
            _stacked([j.cond for j in jobs]),
            n_steps=max(j.n_steps for j in jobs),
            batch=options.candidates,
        )
    )
    return [
        _best_candidate(job, factors[i], ticks[i], valid[i], options) if job.total > 0 else []
        for i, job in enumerate(jobs)
    ]


def decode_melody(
    factors: np.ndarray, ticks: np.ndarray, valid: np.ndarray, base: int, low: int, high: int, total: int
) -> list[score.Note]:
    tpb = tokens.TICKS_PER_BEAT
    notes = []
    for (p, d, v), tick, ok in zip(factors, ticks, valid):
        if not ok:
            break
        if p == tokens.REST:
            continue
        pitch = base + tokens.relative_of_token(int(p))
        while pitch < low:  # the range mask keeps pitches inside; this guards the edges
            pitch += 12
        while pitch > high:
            pitch -= 12
        length = min(int(sample.DURATION_TICKS[d]), total - int(tick))
        notes.append(score.Note(int(tick) / tpb, length / tpb, int(pitch), tokens.decode_velocity(int(v))))
    return notes
