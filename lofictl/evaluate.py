"""Measuring the music: the original research's measures, an n-gram index of the training data,
`lofictl eval` (one model or several side by side) and `lofictl eval-midi` (any MIDI file).

Every measure is a pure function of a note list (score.Note, times in beats) and, where it
needs them, a chord timeline (score.ChordEvent) or a key. Definitions, precisely:

* **Notes as the model sees them.** A melody is first put through the training corpus's own
  quantisation (`train.corpus.melody_tokens`): each note becomes (pitch, duration token), the
  duration being the note's length on the model's grid (legato gaps shorter than a 16th belong
  to the note); rests become separate events and are dropped here. Generated notes come back
  unchanged; notes from any MIDI file are quantised exactly as a training piece would be.
* **Repetitiveness** (the research's measure): at note x (x ≥ 20), the share of the ten notes
  x-10..x-1 whose (pitch, duration) also *occurs* among the ten notes x-20..x-11. "Occurs"
  means the same MIDI pitch (octave counts) and the same duration token; onset and velocity
  do not count. The curve runs along the song note by note; its mean is the headline figure.
  A loop of ten notes or fewer scores exactly 1.0.
* **Training overlap** for n = 8, 12, 15: the share of the melody's n-note windows whose
  n-gram occurs in the training data. An n-gram is transposition-free: the first note's
  duration, then for each following note its interval from the previous note and its duration
  (rests between notes are skipped, as above). "15+" is the 15-gram share: any longer copy
  contains copied 15-grams. `copied_15` is the share of notes covered by a copied 15-gram.
  The training data is the model's *training split* only (the held-out pieces are not in it),
  hashed to a sorted uint64 array (`.npy`, no pickle) searched with np.searchsorted.
* **Chord-tone share**: of the note time that sounds under a chord, the share whose pitch class
  is in the chord sounding at that moment (a note held across a chord change is split);
  duration-weighted; None without chords.
* **In-scale share**: duration-weighted share of note time in the key's scale.
* **Pitch-class entropy**: Shannon entropy in bits of the pitch-class histogram, counting notes
  (MusPy's convention); 12 equally used pitch classes give log2(12).
* **Note density**: notes per beat over the span measured (0 to the end of the last note, or
  the length given).
* **Validation loss / perplexity**: the training run's own figure on its held-out split, from
  model.json (nats per event, summed over the layout's heads, so all three layouts give the
  joint -log p(pitch, duration, velocity) and compare directly); perplexity = exp(loss).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer

from . import score as score_mod
from . import theory, tokens
from .errors import LofictlError
from .seeds import derive_seed

WINDOW = 10  # the research's window: notes x-10..x-1 against x-20..x-11
REPORT_LENGTHS = (8, 12, 15)
INDEX_LENGTHS = (15,)  # a model folder's index: the gate's length only (~2.3 MB for Bach + Essen)
EVAL_LENGTHS = (4, 6, 8, 10, 12, 15, 20)  # eval's cached index: enough points for the overlap plot
GATE_LENGTH = 15
INDEX_FORMAT = "lofictl-ngrams"
HASH_VERSION = 1  # bump when the element definition or the hash changes: old indexes then refuse to load
INDEX_FILE, INDEX_META = "ngrams.npy", "ngrams.json"
REPORT_FORMAT = "lofictl-eval"
MEASURES = ("repetitiveness", "overlap_8", "overlap_12", "overlap_15", "copied_15", "chord_tone_share",
            "in_scale_share", "pitch_class_entropy", "note_density", "notes")


# --- notes → elements -----------------------------------------------------------------------

def top_line(notes) -> list[score_mod.Note]:
    """The highest note at each onset (a melody from a part that has the odd double stop)."""
    by_onset: dict[float, score_mod.Note] = {}
    for note in notes:
        if note.duration <= 0:
            continue
        kept = by_onset.get(note.start)
        if kept is None or note.pitch > kept.pitch:
            by_onset[note.start] = note
    return [by_onset[s] for s in sorted(by_onset)]


def note_elements(notes, beats_per_bar: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(MIDI pitches, duration tokens) of a melody's notes, quantised as the training corpus is."""
    from .train import corpus as corpus_mod
    line = top_line(notes)
    if not line:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Tonic 0: the pitch tokens are then MIDI pitch - 60 (folded only beyond two octaves).
    piece = corpus_mod.Piece("notes", 0, "major", float(beats_per_bar),
                             tuple((n.start, n.duration, n.pitch, n.velocity) for n in line), ())
    return _piece_elements(piece)


def _piece_elements(piece) -> tuple[np.ndarray, np.ndarray]:
    """Pitches (relative to the tonic base, or MIDI when the tonic is 0) and duration tokens of a
    corpus piece's notes, rests dropped."""
    from .train import corpus as corpus_mod
    seq = corpus_mod.melody_tokens(piece)
    keep = seq.pitch != tokens.REST
    pitch = seq.pitch[keep].astype(np.int64) - 2 + tokens.PITCH_LOW + tokens.tonic_base(piece.tonic)
    return pitch, seq.duration[keep].astype(np.int64)


# --- n-gram hashing -------------------------------------------------------------------------

_MUL = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads the polynomial hash over all 64 bits."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def ngram_hashes(pitch: np.ndarray, duration: np.ndarray, n: int) -> np.ndarray:
    """uint64 hash of every n-note window (first duration, then interval+duration per step);
    windows of different n never share a hash value by construction of the seed."""
    pitch = np.asarray(pitch, np.int64)
    duration = np.asarray(duration, np.int64)
    count = len(pitch) - n + 1
    if count <= 0:
        return np.zeros(0, np.uint64)
    step = np.zeros(len(pitch), np.int64)
    step[1:] = (np.clip(np.diff(pitch), -127, 127) + 128) * 16 + duration[1:]  # < 2^13, exact
    with np.errstate(over="ignore"):
        h = np.full(count, np.uint64(n) * np.uint64(0xD6E8FEB86659FD93), np.uint64)
        h = h * _MUL + duration[:count].astype(np.uint64)
        for j in range(1, n):
            h = h * _MUL + step[j:j + count].astype(np.uint64)
        return _mix(h)


@dataclass(frozen=True)
class NgramIndex:
    hashes: np.ndarray  # sorted, unique uint64
    lengths: tuple[int, ...]
    meta: dict

    def contains(self, queries: np.ndarray) -> np.ndarray:
        """Boolean per query: binary search, O(q log N)."""
        queries = np.asarray(queries, np.uint64)
        if len(self.hashes) == 0 or len(queries) == 0:
            return np.zeros(len(queries), bool)
        pos = np.searchsorted(self.hashes, queries)
        pos = np.minimum(pos, len(self.hashes) - 1)
        return self.hashes[pos] == queries


def index_hashes(sequences, lengths) -> np.ndarray:
    """Sorted unique hashes of every n-gram (n in lengths) of (pitch, duration) sequences."""
    parts = [ngram_hashes(p, d, n) for p, d in sequences for n in lengths]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)


def ngram_overlap(notes, index: NgramIndex | None, lengths=None, beats_per_bar: float = 4.0,
                  elements: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """{n: share of n-note windows found in the index}, plus `copied_15` (share of notes inside a
    found 15-gram) and the window counts. A melody shorter than n notes has no n-windows: 0.0."""
    if index is None:
        return {}
    lengths = tuple(lengths or index.lengths)
    pitch, duration = elements if elements is not None else note_elements(notes, beats_per_bar)
    out: dict = {"shares": {}, "windows": {}}
    for n in lengths:
        if n not in index.lengths:
            raise LofictlError(f"the n-gram index holds lengths {list(index.lengths)}, not {n}", field="lengths")
        found = index.contains(ngram_hashes(pitch, duration, n))
        out["shares"][n] = float(found.mean()) if len(found) else 0.0
        out["windows"][n] = int(len(found))
        if n == GATE_LENGTH:
            covered = np.zeros(len(pitch), bool)
            for start in np.flatnonzero(found):
                covered[start:start + n] = True
            out["copied_15"] = float(covered.mean()) if len(pitch) else 0.0
    return out


# --- the measures ---------------------------------------------------------------------------

def repetitiveness(notes, window: int = WINDOW, beats_per_bar: float = 4.0,
                   elements: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """{"mean", "curve", "at_beat"}: the research's measure at each note x ≥ 2·window (see the
    module doc); mean None when the melody has fewer than 2·window notes."""
    pitch, duration = elements if elements is not None else note_elements(notes, beats_per_bar)
    keys = list(zip(pitch.tolist(), duration.tolist()))
    starts = [n.start for n in top_line(notes)]  # one element per top-line note
    curve, at = [], []
    for x in range(2 * window, len(keys) + 1):
        earlier = set(keys[x - 2 * window:x - window])
        curve.append(sum(1 for k in keys[x - window:x] if k in earlier) / window)
        at.append(starts[x - 1] if x - 1 < len(starts) else float("nan"))
    return {"mean": float(np.mean(curve)) if curve else None, "curve": curve, "at_beat": at}


def _pcs_of(symbol: str, where) -> frozenset[int]:
    try:
        return theory.parse_chord(symbol).pitch_classes
    except theory.TheoryError as e:
        raise LofictlError(str(e), field=where) from None


def chord_tone_share(notes, chords) -> float | None:
    """Of the note time sounding under a chord, the share on the chord's pitch classes."""
    spans = sorted((c.start, c.end, _pcs_of(c.symbol, ("chords", i))) for i, c in enumerate(chords))
    on = total = 0.0
    for note in notes:
        for start, end, pcs in spans:
            overlap = min(note.end, end) - max(note.start, start)
            if overlap > 0:
                total += overlap
                if note.pitch % 12 in pcs:
                    on += overlap
    return on / total if total > 0 else None


def in_scale_share(notes, key: theory.Key | str) -> float | None:
    key = _key(key)
    scale = set(key.scale)
    total = sum(n.duration for n in notes if n.duration > 0)
    on = sum(n.duration for n in notes if n.duration > 0 and n.pitch % 12 in scale)
    return on / total if total > 0 else None


def pitch_class_entropy(notes) -> float | None:
    counts = np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(np.float64)
    if counts.sum() == 0:
        return None
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: one pitch class gives 0.0, not -0.0


def note_density(notes, total_beats: float | None = None) -> float | None:
    span = total_beats if total_beats is not None else max((n.end for n in notes), default=0.0)
    return len(notes) / span if span and span > 0 else None


def _key(key) -> theory.Key:
    if isinstance(key, theory.Key):
        return key
    try:
        return theory.parse_key(str(key))
    except theory.TheoryError as e:
        raise LofictlError(str(e), field="key") from None


def measure_notes(notes, chords, key, index: NgramIndex | None = None, total_beats: float | None = None,
                  beats_per_bar: float = 4.0, lengths=REPORT_LENGTHS) -> dict:
    """Every measure of one melody, JSON-ready (None where a measure is undefined)."""
    line = top_line(notes)
    elements = note_elements(line, beats_per_bar)
    rep = repetitiveness(line, elements=elements)
    result = {"notes": len(line), "repetitiveness": rep["mean"],
              "chord_tone_share": chord_tone_share(line, chords) if chords else None,
              "in_scale_share": in_scale_share(line, key), "pitch_class_entropy": pitch_class_entropy(line),
              "note_density": note_density(line, total_beats)}
    if index is not None:
        # Lengths the index lacks (a model folder holds 15-grams only by default) read None.
        result.update({f"overlap_{n}": None for n in lengths if n not in index.lengths})
        overlap = ngram_overlap(line, index, tuple(n for n in lengths if n in index.lengths) or index.lengths,
                                elements=elements)
        for n, share in overlap["shares"].items():
            result[f"overlap_{n}"] = share
        result["copied_15"] = overlap.get("copied_15")
        result["windows"] = {str(n): w for n, w in overlap["windows"].items()}
    result["repetition_curve"] = rep["curve"]
    return result


# --- the index in a model folder ------------------------------------------------------------

def split_pieces(pieces, seed: int, val_fraction: float):
    """(training, held-out) exactly as `train.loop.prepare` splits a corpus for a seed (held out:
    validation and, for POP909, test pieces)."""
    from .train import corpus as corpus_mod
    splits = corpus_mod.assign_splits([p.name for p in pieces], seed, val_fraction)
    return [p for p in pieces if splits[p.name] == "train"], [p for p in pieces if splits[p.name] != "train"]


def _training_facts(model_dir: Path) -> dict:
    from .nn import checkpoint
    meta = checkpoint.read_meta(model_dir)
    if meta["kind"] != "melody":
        raise LofictlError(f"{model_dir} holds a {meta['kind']} model; eval measures melody models", field="model")
    training = meta.get("training", {})
    return {"meta": meta, "corpus": meta.get("data", {}).get("corpus"), "seed": int(training.get("seed", 0)),
            "val_fraction": float(training.get("val_fraction", 0.1))}


def _fingerprint(pieces) -> str:
    """What the index depends on: every training piece's name and notes."""
    digest = hashlib.sha256()
    for p in sorted(pieces, key=lambda p: p.name):
        digest.update(json.dumps([p.name, p.tonic, p.beats_per_bar, p.melody]).encode())
    return digest.hexdigest()


def _training_sequences(pieces) -> list[tuple[np.ndarray, np.ndarray]]:
    return [_piece_elements(p) for p in pieces]


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)
    tmp.replace(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_ngram_index(model_dir: Path | str, corpus: str | None = None, lengths=INDEX_LENGTHS) -> dict:
    """Write `ngrams.npy` (sorted uint64 hashes of the training split's n-grams) and `ngrams.json`
    (what it was built from, its sha256) into a melody model folder; returns the JSON written.
    The corpus defaults to the one the model was trained on; the split is the model's own."""
    from .train import corpus as corpus_mod
    model_dir = Path(model_dir)
    facts = _training_facts(model_dir)
    spec = corpus or facts["corpus"]
    if not spec:
        raise LofictlError(f"{model_dir}/model.json does not say which corpus trained it; pass --corpus", field="corpus")
    lengths = tuple(sorted({int(n) for n in lengths}))
    if not lengths or lengths[0] < 2:
        raise LofictlError(f"n-gram lengths must be 2 or more, got {list(lengths)}", field="lengths")
    pieces, _ = corpus_mod.load_corpus(spec)
    train, _ = split_pieces(pieces, facts["seed"], facts["val_fraction"])
    hashes = index_hashes(_training_sequences(train), lengths)
    _save_npy(model_dir / INDEX_FILE, hashes)
    meta = {"format": INDEX_FORMAT, "version": HASH_VERSION, "file": INDEX_FILE, "lengths": list(lengths),
            "corpus": spec, "split": {"seed": facts["seed"], "val_fraction": facts["val_fraction"],
                                      "training_pieces": len(train)},
            "entries": int(len(hashes)), "bytes": (model_dir / INDEX_FILE).stat().st_size,
            "sha256": _sha256(model_dir / INDEX_FILE), "pieces_sha256": _fingerprint(train),
            "elements": "n-gram = first note's duration token, then (interval, duration token) per note; "
                        "notes quantised by train.corpus.melody_tokens, rests skipped; hash: polynomial mod 2^64 "
                        "+ splitmix64 finaliser, seeded by n"}
    tmp = model_dir / f".{INDEX_META}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    tmp.replace(model_dir / INDEX_META)
    return meta


_INDEX_CACHE: dict[tuple, NgramIndex] = {}


def _read_index(npy: Path, meta: dict, where: str) -> NgramIndex:
    if meta.get("format") != INDEX_FORMAT or meta.get("version") != HASH_VERSION:
        raise LofictlError(f"{where} is not a version-{HASH_VERSION} n-gram index; rebuild it", field="model")
    stat = npy.stat()
    key = (str(npy.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _INDEX_CACHE:
        return _INDEX_CACHE[key]
    if meta.get("sha256") and _sha256(npy) != meta["sha256"]:
        raise LofictlError(f"{npy} does not match the sha256 in {where} (damaged or replaced); rebuild it", field="model")
    try:
        hashes = np.load(npy, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise LofictlError(f"{npy} is not a readable .npy index ({e}); rebuild it", field="model") from None
    if hashes.dtype != np.uint64 or hashes.ndim != 1:
        raise LofictlError(f"{npy} is not a 1-d uint64 index; rebuild it", field="model")
    index = NgramIndex(hashes, tuple(int(n) for n in meta["lengths"]), meta)
    _INDEX_CACHE[key] = index
    return index


def load_ngram_index(model_dir: Path | str) -> NgramIndex | None:
    """The index in a model folder, checked; None when the folder has none."""
    model_dir = Path(model_dir)
    npy, meta_path = model_dir / INDEX_FILE, model_dir / INDEX_META
    if not npy.is_file() or not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise LofictlError(f"{meta_path} is not valid JSON ({e}); rebuild the index", field="model") from None
    facts = _training_facts(model_dir)
    split = meta.get("split", {})
    if split.get("seed") != facts["seed"] or split.get("val_fraction") != facts["val_fraction"] or \
            (facts["corpus"] and meta.get("corpus") != facts["corpus"]):
        raise LofictlError(f"{meta_path} was built for another training run (corpus or split differs from "
                           f"model.json); rebuild it with build_ngram_index", field="model")
    return _read_index(npy, meta, str(meta_path))


def cached_training_index(model_dir: Path | str, lengths=EVAL_LENGTHS) -> NgramIndex:
    """An index with more lengths than a model folder carries, for eval's plots; built once per
    training corpus and split, kept in the corpus cache folder."""
    from .train import corpus as corpus_mod
    facts = _training_facts(Path(model_dir))
    if not facts["corpus"]:
        raise LofictlError(f"{model_dir}/model.json does not say which corpus trained it", field="corpus")
    pieces, _ = corpus_mod.load_corpus(facts["corpus"])
    train, _ = split_pieces(pieces, facts["seed"], facts["val_fraction"])
    lengths = tuple(sorted(set(lengths)))
    fingerprint = _fingerprint(train)
    name = hashlib.sha256(json.dumps([HASH_VERSION, list(lengths), fingerprint]).encode()).hexdigest()[:24]
    folder = corpus_mod.cache_dir().parent / "ngrams"
    npy = folder / f"{name}.npy"
    meta = {"format": INDEX_FORMAT, "version": HASH_VERSION, "lengths": list(lengths), "corpus": facts["corpus"],
            "split": {"seed": facts["seed"], "val_fraction": facts["val_fraction"], "training_pieces": len(train)},
            "pieces_sha256": fingerprint}
    if not npy.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        _save_npy(npy, index_hashes(_training_sequences(train), lengths))
    try:
        return _read_index(npy, meta, str(npy))
    except LofictlError:  # a damaged cache entry: rebuild once
        _save_npy(npy, index_hashes(_training_sequences(train), lengths))
        return _read_index(npy, meta, str(npy))


# --- builds ---------------------------------------------------------------------------------

def melody_measures(notes, chords, key, model_dir: Path | str | None, total_beats: float | None = None,
                    beats_per_bar: float = 4.0) -> dict:
    """The measures a build records for its melody (fast: one index lookup, no model run).
    Overlap figures come from the model folder's `ngrams.npy`; without one they are None."""
    index = load_ngram_index(model_dir) if model_dir is not None else None
    result = measure_notes(notes, chords, key, index, total_beats, beats_per_bar)
    del result["repetition_curve"]  # a lock file wants figures, not curves
    if index is None:
        result.update({f"overlap_{n}": None for n in REPORT_LENGTHS}, copied_15=None)
    result["ngram_index"] = None if index is None else {"sha256": index.meta.get("sha256"),
                                                        "corpus": index.meta.get("corpus")}
    return _rounded(result)


def originality_gate(measures: dict, max_overlap_15: float) -> bool:
    """True when the melody copies at most `max_overlap_15` of its 15-note windows from the
    training data. A melody measured without an index cannot pass a gate: that is an error."""
    if not isinstance(max_overlap_15, (int, float)) or not 0 <= max_overlap_15 <= 1:
        raise LofictlError(f"must be a share between 0 and 1, got {max_overlap_15!r}", field="max_overlap_15")
    share = measures.get("overlap_15")
    if share is None:
        raise LofictlError("the melody model folder has no n-gram index (ngrams.npy), so max_overlap_15 cannot "
                           "be checked; build one with `lofictl eval-index MODEL_DIR`", field="max_overlap_15")
    return share <= max_overlap_15


# --- eval -----------------------------------------------------------------------------------

def _symbol(root: int, quality: str, bass: int = 0) -> str:
    return tokens.chord_symbol(root, quality, tokens.inversion_of(quality, bass))


def progression(piece, bars: int) -> list[score_mod.ChordEvent]:
    """A held-out piece's chords over `bars` bars, its progression looped when it is shorter."""
    bpb = piece.beats_per_bar
    total = bars * bpb
    if not piece.chords:
        return []
    span = math.ceil(max(c[0] + c[1] for c in piece.chords) / bpb - 1e-9) * bpb
    events, offset = [], 0.0
    while offset < total - 1e-9:
        for start, dur, root, quality, bass in piece.chords:
            s = start + offset
            if s >= total - 1e-9:
                break
            events.append(score_mod.ChordEvent(s, min(dur, total - s), _symbol(root, quality, bass)))
        offset += span
    return events


def _held_out_melody(piece, bars: int) -> tuple[list[score_mod.Note], float]:
    total = bars * piece.beats_per_bar
    notes = [score_mod.Note(s, min(d, total - s), p, v if v is not None else 80)
             for s, d, p, v in piece.melody if s < total - 1e-9]
    return notes, min(total, max(n.end for n in notes))


def spread(values) -> dict:
    """mean, std (population), min, max over the defined values, and how many there were."""
    vals = np.array([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], np.float64)
    if len(vals) == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {"mean": float(vals.mean()), "std": float(vals.std()), "min": float(vals.min()), "max": float(vals.max()),
            "n": int(len(vals))}


def _curve_spread(curves: list[list[float]]) -> dict:
    longest = max((len(c) for c in curves), default=0)
    mean, std, count = [], [], []
    for i in range(longest):
        vals = [c[i] for c in curves if i < len(c)]
        mean.append(float(np.mean(vals)))
        std.append(float(np.std(vals)))
        count.append(len(vals))
    return {"first_note": 2 * WINDOW, "mean": mean, "std": std, "n": count}


def _rounded(value, digits: int = 6):
    """Floats rounded (stable JSON across machines' last-bit noise), NaN → None."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, digits)
    if isinstance(value, dict):
        return {str(k): _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v, digits) for v in value]
    if isinstance(value, np.generic):
        return _rounded(value.item(), digits)
    return value


def validation_metrics(meta: dict) -> dict:
    m = meta.get("metrics", {})
    loss = m.get("val_loss")
    training = meta.get("training", {})
    return {"val_loss": loss, "perplexity": math.exp(loss) if loss is not None else None,
            "bits_per_event": loss / math.log(2) if loss is not None else None,
            "val_loss_per_head": m.get("val_loss_per_head"), "best_step": m.get("best_step"),
            "steps_done": m.get("steps_done"), "step_budget": training.get("steps"),
            "train_seconds": m.get("wall_seconds"),
            "source": "model.json: the training run's held-out split, nats per event (note or rest), summed over heads"}


RAW_SAMPLING = {"temperature": 1.0, "top_p": 1.0, "candidates": 1, "scale_strength": 0.0, "loop_strength": 0.0}
BUILD_SAMPLING = {"temperature": 1.0, "top_p": 1.0}  # generate_melody's defaults: 8 candidates, guards on


def _check_counts(samples, length) -> None:
    for name, value in (("samples", samples), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise LofictlError(f"must be a whole number more than 0, got {value!r}", field=name)


@dataclass
class _Context:
    """What several evaluations of models trained on the same data share."""
    index: NgramIndex
    held: list
    corpus: str


def _context(model_dir: Path, corpus: str | None, seed: int) -> _Context:
    from .train import corpus as corpus_mod
    facts = _training_facts(model_dir)
    spec = corpus or facts["corpus"]
    if not spec:
        raise LofictlError(f"{model_dir}/model.json does not say which corpus trained it; pass --corpus", field="corpus")
    corpus_mod.parse_specs(spec)  # unknown names and missing folders: clear errors before any work
    index = cached_training_index(model_dir)
    trained_pieces, _ = corpus_mod.load_corpus(facts["corpus"]) if facts["corpus"] else ([], None)
    trained, _ = split_pieces(trained_pieces, facts["seed"], facts["val_fraction"]) if trained_pieces else ([], [])
    seen = {p.name for p in trained}
    pieces, _ = corpus_mod.load_corpus(spec)
    # Held out: never trained on; with chords to follow and enough notes to measure repetition.
    held = [p for p in pieces if p.name not in seen and p.chords and len(p.melody) >= 2 * WINDOW]
    if not held:
        raise LofictlError(f"corpus {spec} has no held-out pieces with chords (all were used for training)",
                           field="corpus")
    held.sort(key=lambda p: (derive_seed(seed, "eval-pick", p.name), p.name))
    return _Context(index, held, spec)


def eval_model(model_dir: Path | str, corpus: str | None = None, samples: int = 20, length: int = 16, seed: int = 0,
               out: Path | str | None = None, *, raw: bool = False, chord_model: Path | str | None = None,
               temperature: float = 1.0, _context_cache: dict | None = None) -> dict:
    """Sample `samples` melodies of `length` bars over held-out progressions and measure them.

    Progressions come from held-out pieces of `corpus` (default: the model's own corpus, its
    validation split), or are generated by `chord_model` in the held-out pieces' keys. `raw`
    samples the model bare (one candidate, no scale or anti-loop guard) as the research did;
    otherwise as a build does; `temperature` applies to either. The held-out pieces' own melodies over the same bars are
    measured too, as a human reference. Writes report.json and plots to `out` if given.
    """
    from . import generate
    _check_counts(samples, length)
    generate.check_sampling(temperature, 0, 1.0)
    model_dir = Path(model_dir)
    facts = _training_facts(model_dir)
    cache = _context_cache if _context_cache is not None else {}
    ctx_key = (facts["corpus"], facts["seed"], facts["val_fraction"], corpus, seed)
    if ctx_key not in cache:
        cache[ctx_key] = _context(model_dir, corpus, seed)
    ctx: _Context = cache[ctx_key]
    sampling = {**(RAW_SAMPLING if raw else BUILD_SAMPLING), "temperature": float(temperature)}
    per_sample, reference = [], []
    for i in range(samples):
        piece = ctx.held[i % len(ctx.held)]
        key = theory.Key(piece.tonic, "minor" if piece.mode == "minor" else "major")
        bpb = piece.beats_per_bar
        n_beats = length * bpb
        sample_seed = derive_seed(seed, "eval", i)
        if chord_model is not None:
            chords, at = [], 0.0
            for symbol, dur in generate.generate_chords(Path(chord_model), key, n_beats, bpb, sample_seed):
                chords.append(score_mod.ChordEvent(at, dur, symbol))
                at += dur
        else:
            chords = progression(piece, length)
        notes = generate.generate_melody(model_dir, key, chords, n_beats, sample_seed, beats_per_bar=bpb, **sampling)
        m = measure_notes(notes, chords, key, ctx.index, n_beats, bpb, lengths=EVAL_LENGTHS)
        per_sample.append({"piece": piece.name, "key": key.name, "seed": sample_seed, **m})
        human, span = _held_out_melody(piece, length)
        reference.append(measure_notes(human, progression(piece, length), key, ctx.index, span, bpb,
                                       lengths=EVAL_LENGTHS))
    report = {
        "format": REPORT_FORMAT, "version": 1,
        "model": {"path": str(model_dir), "arch": facts["meta"]["arch"], "kind": "melody",
                  "weights_sha256": facts["meta"]["weights"].get("sha256"),
                  "training_command": facts["meta"].get("training", {}).get("command")},
        "settings": {"corpus": ctx.corpus, "samples": samples, "length_bars": length, "seed": seed,
                     "sampling": "raw" if raw else "as built", "sampling_options": sampling,
                     "chords": str(chord_model) if chord_model is not None else "held-out corpus progressions",
                     "held_out_pieces": len(ctx.held)},
        "index": {"corpus": ctx.index.meta.get("corpus"), "lengths": list(ctx.index.lengths),
                  "entries": int(len(ctx.index.hashes)), "split": ctx.index.meta.get("split")},
        "validation": validation_metrics(facts["meta"]),
        "measures": _summary(per_sample),
        "overlap_by_length": {str(n): spread([s.get(f"overlap_{n}") for s in per_sample]) for n in EVAL_LENGTHS},
        "repetition_curve": _curve_spread([s["repetition_curve"] for s in per_sample]),
        "reference": {"what": "the held-out pieces' own melodies over the same bars",
                      "measures": _summary(reference),
                      "overlap_by_length": {str(n): spread([s.get(f"overlap_{n}") for s in reference])
                                            for n in EVAL_LENGTHS},
                      "repetition_curve": _curve_spread([s["repetition_curve"] for s in reference])},
        "per_sample": [{k: v for k, v in s.items() if k != "repetition_curve"} for s in per_sample],
    }
    report = _rounded(report)
    if out is not None:
        write_report(report, Path(out))
    return report


def _summary(rows: list[dict]) -> dict:
    return {name: spread([r.get(name) for r in rows]) for name in MEASURES}


# --- plots and files ------------------------------------------------------------------------

def _png(draw) -> bytes:
    """A figure drawn by `draw(fig)` as PNG bytes: Agg canvas, default style, no metadata that
    varies (so the same numbers give the same bytes)."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    with matplotlib.style.context("default"):
        fig = Figure(figsize=(8, 4.5), dpi=100)
        FigureCanvasAgg(fig)
        draw(fig)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def repetition_plot(series: list[tuple[str, dict]]) -> bytes:
    """Mean repetitiveness along the song (± one std across samples), one line per series."""
    def draw(fig):
        ax = fig.add_subplot()
        for label, curve in series:
            mean = np.array([np.nan if v is None else v for v in curve["mean"]], float)
            std = np.array([np.nan if v is None else v for v in curve["std"]], float)
            # Past the point where most melodies have ended, the mean is of a few: not shown.
            count = np.array(curve["n"], float)
            thin = count < max(count.max(initial=0) / 2, 1)
            mean[thin], std[thin] = np.nan, np.nan
            x = np.arange(len(mean)) + curve["first_note"]
            dashed = label.startswith("held-out")
            line, = ax.plot(x, mean, label=label, linestyle="--" if dashed else "-")
            if not dashed:
                ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_xlabel("note x")
        ax.set_ylabel("share of notes x-10..x-1 also in x-20..x-11")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("Repetitiveness along the song")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    return _png(draw)


def overlap_plot(series: list[tuple[str, dict]]) -> bytes:
    """Share of n-note windows found in the training data, by n (mean; band: ± one std)."""
    def draw(fig):
        ax = fig.add_subplot()
        for label, by_length in series:
            ns = sorted(int(n) for n in by_length)
            mean = np.array([by_length[str(n)]["mean"] or 0.0 for n in ns])
            std = np.array([by_length[str(n)]["std"] or 0.0 for n in ns])
            line, = ax.plot(ns, mean, marker="o", label=label, linestyle="--" if label.startswith("held-out") else "-")
            ax.fill_between(ns, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), color=line.get_color(),
                            alpha=0.12, linewidth=0)
        ax.set_xlabel("n (notes in the sequence)")
        ax.set_ylabel("share of n-note windows in the training data")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("Training overlap by sequence length")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    return _png(draw)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


def _json_bytes(data) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def write_report(report: dict, out: Path, plots: bool = True) -> None:
    label = f"{report['model']['arch']} ({Path(report['model']['path']).name})"
    _write(out / "report.json", _json_bytes(report))
    if not plots:
        return
    _write(out / "repetition.png", repetition_plot([(label, report["repetition_curve"]),
                                                    ("held-out melodies", report["reference"]["repetition_curve"])]))
    _write(out / "overlap.png", overlap_plot([(label, report["overlap_by_length"]),
                                              ("held-out melodies", report["reference"]["overlap_by_length"])]))


def _cell(stat: dict | None, digits: int = 2, percent: bool = False) -> str:
    if not stat or stat.get("mean") is None:
        return "–"
    scale = 100.0 if percent else 1.0
    if percent:
        return f"{stat['mean'] * scale:.{max(digits - 2, 0)}f}% ± {stat['std'] * scale:.{max(digits - 2, 0)}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


TABLE_COLUMNS = (("repetitiveness", "repetitiveness", 2, False), ("overlap_8", "overlap 8", 3, True),
                 ("overlap_12", "overlap 12", 3, True), ("overlap_15", "overlap 15", 3, True),
                 ("copied_15", "notes in copied 15-grams", 3, True),
                 ("chord_tone_share", "chord tones", 3, True), ("in_scale_share", "in scale", 3, True),
                 ("pitch_class_entropy", "pc entropy (bits)", 2, False), ("note_density", "notes/beat", 2, False))


def comparison_table(reports: list[dict]) -> str:
    """Markdown: one row per model (mean ± std across samples) and the held-out reference."""
    head = ["model", "layout", "val loss (nats/event)", "perplexity", *(c[1] for c in TABLE_COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        v = r["validation"]
        cells = [Path(r["model"]["path"]).name, r["model"]["arch"],
                 f"{v['val_loss']:.3f}" if v["val_loss"] is not None else "–",
                 f"{v['perplexity']:.2f}" if v["perplexity"] is not None else "–"]
        cells += [_cell(r["measures"].get(name), d, p) for name, _, d, p in TABLE_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    ref = reports[0]["reference"]["measures"]
    cells = ["held-out melodies", "(human)", "–", "–"] + [_cell(ref.get(name), d, p) for name, _, d, p in TABLE_COLUMNS]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def compare(model_dirs, corpus: str | None = None, samples: int = 20, length: int = 16, seed: int = 0,
            out: Path | str | None = None, *, raw: bool = False, chord_model=None, temperature: float = 1.0) -> dict:
    """Several models over the same held-out progressions and seeds: one table, one set of plots.
    Writes `out/<model>/` reports, `out/comparison.md`, `out/comparison.json` and the plots."""
    model_dirs = [Path(d) for d in model_dirs]
    if not model_dirs:
        raise LofictlError("give at least one model folder to compare", field="compare")
    _check_counts(samples, length)
    for d in model_dirs:
        _training_facts(d)  # every folder checked before the long part starts
    cache: dict = {}
    reports, names = [], []
    for d in model_dirs:
        name = d.name
        while name in names:
            name += "_"
        names.append(name)
        report = eval_model(d, corpus, samples, length, seed, raw=raw, chord_model=chord_model,
                            temperature=temperature, _context_cache=cache)
        if out is not None:  # per-model figures live in the shared plots; the full report beside them
            write_report(report, Path(out) / name, plots=False)
        reports.append(report)
    table = comparison_table(reports)
    summary = _rounded({"format": REPORT_FORMAT + "-comparison", "version": 1,
                        "settings": reports[0]["settings"],
                        "models": [{"name": n, "model": r["model"], "validation": r["validation"],
                                    "measures": r["measures"], "overlap_by_length": r["overlap_by_length"]}
                                   for n, r in zip(names, reports)],
                        "reference": {k: reports[0]["reference"][k] for k in ("what", "measures", "overlap_by_length")},
                        "table": table})
    if out is not None:
        out = Path(out)
        st = reports[0]["settings"]
        preface = (f"{st['samples']} melodies of {st['length_bars']} bars per model, sampling {st['sampling']} "
                   f"(temperature {st['sampling_options']['temperature']:g}), seed {st['seed']}, chords: "
                   f"{st['chords']} of {st['corpus']}; mean ± std across melodies.\n\n")
        _write(out / "comparison.md", (preface + table).encode())
        _write(out / "comparison.json", _json_bytes(summary))
        labels = [f"{r['model']['arch']}" for r in reports]
        _write(out / "repetition.png", repetition_plot(
            [(lab, r["repetition_curve"]) for lab, r in zip(labels, reports)]
            + [("held-out melodies", reports[0]["reference"]["repetition_curve"])]))
        _write(out / "overlap.png", overlap_plot(
            [(lab, r["overlap_by_length"]) for lab, r in zip(labels, reports)]
            + [("held-out melodies", reports[0]["reference"]["overlap_by_length"])]))
    return summary


# --- any MIDI file --------------------------------------------------------------------------

def _melodic_rank(notes) -> tuple:
    """As the corpus reader ranks tracks: long enough, mostly one note at a time, then highest."""
    onsets: dict[float, int] = {}
    for n in notes:
        onsets[n.start] = onsets.get(n.start, 0) + 1
    mono = sum(1 for c in onsets.values() if c == 1) / max(len(onsets), 1)
    return (len(notes) >= 8, mono >= 0.5, float(np.mean([n.pitch for n in notes])))


def estimate_chords(notes, total_beats: float, step: float) -> list[score_mod.ChordEvent]:
    """One chord per `step` beats named by template matching (tokens.identify_chord) of the notes
    sounding in it, the lowest note nudging the root; equal neighbours merged, silence left out."""
    n_steps = max(int(math.ceil(total_beats / step - 1e-9)), 0)
    weights = np.zeros((n_steps, 12))
    bass = np.full(n_steps, 1000)
    for n in notes:
        first, last = int(n.start // step), int(math.ceil(n.end / step - 1e-9))
        for b in range(max(first, 0), min(last, n_steps)):
            overlap = min(n.end, (b + 1) * step) - max(n.start, b * step)
            if overlap > 0:
                weights[b, n.pitch % 12] += overlap
                bass[b] = min(bass[b], n.pitch)
    events: list[score_mod.ChordEvent] = []
    for b in range(n_steps):
        found = tokens.identify_chord(weights[b], int(bass[b]) % 12 if bass[b] < 1000 else None)
        if found is None:
            continue
        symbol = _symbol(*found)
        if events and events[-1].symbol == symbol and abs(events[-1].end - b * step) < 1e-9:
            events[-1] = score_mod.ChordEvent(events[-1].start, events[-1].duration + step, symbol)
        else:
            events.append(score_mod.ChordEvent(b * step, step, symbol))
    return events


def _estimate_key(melody, harmony, beats_per_bar: float) -> theory.Key:
    from .train import corpus as corpus_mod
    weights = np.zeros(12)
    for n in list(melody) + list(harmony):
        weights[n.pitch % 12] += n.duration
    if melody:
        weights[melody[-1].pitch % 12] += 2.0 * beats_per_bar  # tunes end on their tonic
    tonic, mode = corpus_mod.estimate_key(weights)
    return theory.Key(tonic, mode)


def eval_midi(file: Path | str, chords_file: Path | str | None = None, model_dir: Path | str | None = None) -> dict:
    """The same measures for any MIDI file: melody = top line of the most melodic track; chords
    from `chords_file` (one per beat), else from the other tracks (one per bar), else omitted;
    key estimated (Krumhansl–Kessler); overlap against `model_dir`'s n-gram index if given."""
    from . import midi as midi_mod
    song = midi_mod.midi_to_score(Path(file) if not isinstance(file, Path) else file)
    tracks = [t for t in song.tracks if not t.is_drums and t.notes]
    if not tracks:
        raise LofictlError("the MIDI file has no pitched notes to measure", file=str(file))
    chosen = max(tracks, key=lambda t: (_melodic_rank(t.notes), -song.tracks.index(t)))
    melody = top_line(chosen.notes)
    bpb = song.beats_per_bar
    total = max(song.total_beats, max(n.end for n in melody))
    kept = {(n.start, n.pitch) for n in melody}
    if chords_file is not None:
        chord_song = midi_mod.midi_to_score(Path(chords_file))
        harmony = [n for t in chord_song.tracks if not t.is_drums for n in t.notes]
        if not harmony:
            raise LofictlError("the chords MIDI file has no pitched notes", file=str(chords_file))
        chords = estimate_chords(harmony, max(total, chord_song.total_beats), 1.0)
        source = f"{chords_file} (one chord per beat)"
    else:
        harmony = [n for t in tracks for n in t.notes if t is not chosen or (n.start, n.pitch) not in kept]
        chords = estimate_chords(harmony, total, bpb) if harmony else []
        source = "the other tracks (one chord per bar)" if harmony else None
    key = _estimate_key(melody, harmony, bpb)
    index = load_ngram_index(model_dir) if model_dir is not None else None
    m = measure_notes(melody, chords, key, index, total, bpb)
    del m["repetition_curve"]
    return _rounded({"file": str(file), "melody_track": chosen.name, "key": key.name, "chords_from": source,
                     "chords": len(chords), "beats": total, "ngram_index": None if index is None else
                     {"model": str(model_dir), "corpus": index.meta.get("corpus")}, "measures": m})


# --- Typer command functions (registered by cli.py) -----------------------------------------


_MEASURE_LABELS = (("notes", "notes"), ("repetitiveness", "repetitiveness"), ("overlap_8", "overlap 8"),
                   ("overlap_12", "overlap 12"), ("overlap_15", "overlap 15"), ("copied_15", "copied 15+ (notes)"),
                   ("chord_tone_share", "chord-tone share"), ("in_scale_share", "in-scale share"),
                   ("pitch_class_entropy", "pitch-class entropy (bits)"), ("note_density", "notes per beat"))


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


def eval_command(
    model_dir: list[Path] = typer.Argument(None, help="Melody model folder(s) to evaluate.", show_default=False),
    corpus: str = typer.Option(None, "--corpus", help="Source of held-out progressions (default: the model's own "
                               "corpus, its validation split)."),
    samples: int = typer.Option(20, "--samples", help="Melodies to sample (one per held-out progression)."),
    length: int = typer.Option(16, "--length", help="Length of each melody in bars."),
    out: Path = typer.Option(Path("eval"), "--out", help="Folder for report.json and the PNG plots."),
    compare: list[Path] = typer.Option(None, "--compare", help="Models side by side in one table and one set of "
                                       "plots: `--compare A B C`."),
    seed: int = typer.Option(0, "--seed", help="Seed for the choice of progressions and the sampling."),
    raw: bool = typer.Option(False, "--raw", help="Sample the bare model (one candidate, no scale or anti-loop "
                             "guard), as the original research did; default: as a build samples."),
    chord_model: Path = typer.Option(None, "--chord-model", help="Chord model to generate the progressions with "
                                     "(in the held-out pieces' keys) instead of taking the pieces' own."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature (lower: safer, and more "
                                      "likely to repeat and to copy)."),
) -> None:
    """Measure a melody model: repetitiveness, training overlap, chord tones, scale, entropy, density, loss."""
    dirs = list(compare or []) + list(model_dir or [])
    if not dirs:
        raise LofictlError("give a model folder, e.g. `lofictl eval models/lofi-melody`", field="model")
    _check_counts(samples, length)
    if compare or len(dirs) > 1:
        summary = compare_fn(dirs, corpus, samples, length, seed, out, raw=raw, chord_model=chord_model,
                             temperature=temperature)
        _print([summary["table"].rstrip(), f"wrote {out}/comparison.md, comparison.json, repetition.png, overlap.png"])
        return
    report = eval_model(dirs[0], corpus, samples, length, seed, out, raw=raw, chord_model=chord_model,
                        temperature=temperature)
    lines = [f"{dirs[0]} ({report['model']['arch']}), {samples} melodies of {length} bars, "
             f"sampling {report['settings']['sampling']}"]
    v = report["validation"]
    if v["val_loss"] is not None:
        lines.append(f"  {'validation loss':28s} {v['val_loss']:.3f} nats/event (perplexity {v['perplexity']:.2f})")
    for name, label in _MEASURE_LABELS:
        lines.append(f"  {label:28s} {_fmt(report['measures'].get(name))}")
    lines.append(f"wrote {out}/report.json, repetition.png, overlap.png")
    _print(lines)


compare_fn = compare  # the command's `compare` option shadows the function's name inside it


def eval_midi_command(
    file: Path = typer.Argument(..., help="MIDI file to measure.", show_default=False),
    chords: Path = typer.Argument(None, help="Optional MIDI file holding the chords under the melody.",
                                  show_default=False),
    model: Path = typer.Option(Path("models/lofi-melody"), "--model", help="Model folder whose n-gram index "
                               "(ngrams.npy) gives the training overlap; skipped when it has none."),
    as_json: bool = typer.Option(False, "--json", help="Print the measures as JSON."),
) -> None:
    """Measure any MIDI file's melody with the same measures as `lofictl eval`."""
    model_dir = model if model is not None and (Path(model) / INDEX_FILE).is_file() else None
    result = eval_midi(file, chords, model_dir)
    if as_json:
        typer.echo(json.dumps(result, indent=1, sort_keys=True))
        return
    lines = [f"{file}: melody from track {result['melody_track']!r}, key {result['key']}, "
             f"chords from {result['chords_from'] or 'nowhere (none found)'}"]
    for name, label in _MEASURE_LABELS:
        lines.append(f"  {label:28s} {_fmt(result['measures'].get(name))}")
    if model_dir is None:
        lines.append(f"  (no n-gram index in {model}: training overlap not measured)")
    _print(lines)


def eval_index_command(
    model_dir: Path = typer.Argument(..., help="Melody model folder to write ngrams.npy/ngrams.json into.",
                                     show_default=False),
    corpus: str = typer.Option(None, "--corpus", help="Training corpus (default: the one in model.json)."),
    lengths: list[int] = typer.Option(list(INDEX_LENGTHS), "--length", help="n-gram lengths to index (repeat the "
                                      "option; each adds ~2.3 MB for Bach + Essen)."),
) -> None:
    """Build the n-gram index of a melody model's training data (for builds' originality gate)."""
    meta = build_ngram_index(model_dir, corpus, lengths)
    _print([f"wrote {Path(model_dir) / INDEX_FILE}: {meta['entries']} n-grams (n = "
            f"{', '.join(map(str, meta['lengths']))}) of {meta['split']['training_pieces']} training pieces, "
            f"{meta['bytes'] / 1e6:.1f} MB"])
