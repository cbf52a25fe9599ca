"""The n-gram index of a melody model's training data: what "copies the training data" means.

* **Elements.** A melody goes through the training corpus's own quantisation
  (`train.corpus.melody_tokens`): each note becomes (pitch, duration token), the duration being
  the note's length on the model's grid (legato gaps shorter than a 16th belong to the note);
  rests become separate events and are dropped here. Generated notes come back unchanged;
  notes from any MIDI file are quantised exactly as a training piece would be.
* **n-grams** are transposition-free: the first note's duration, then for each following note
  its interval from the previous note and its duration (rests between notes skipped). Hashed
  to uint64 (polynomial mod 2^64, splitmix64's finaliser, seeded by n so lengths never meet),
  kept sorted in a `.npy` (no pickle) and searched with np.searchsorted.
* **Which pieces.** Exactly the pieces the model trained on: `lofictl train melody` writes the
  index beside the weights from the same piece list it trained on (`write_index`), and records
  their fingerprint in model.json (`data.train_pieces_sha256`); loading refuses an index whose
  fingerprint differs. Models trained before that get theirs from `lofictl eval-index`, which
  re-reads the corpus with the model's own `--limit` and split (`build_ngram_index`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lofictl.errors import LofictlError
from lofictl.models import tokens
from lofictl.models.measures import top_line
from lofictl.safety import atomic

INDEX_LENGTHS = (15,)  # a model folder's index: the gate's length only (~2.3 MB for Bach + Essen)
EVAL_LENGTHS = (4, 6, 8, 10, 12, 15, 20)  # eval's cached index: enough points for the overlap plot
GATE_LENGTH = 15
INDEX_FORMAT = "lofictl-ngrams"
HASH_VERSION = 1  # bump when the element definition or the hash changes: old indexes then refuse to load
INDEX_FILE, INDEX_META = "ngrams.npy", "ngrams.json"
ELEMENTS = (
    "n-gram = first note's duration token, then (interval, duration token) per note; notes quantised by "
    "train.corpus.melody_tokens, rests skipped; hash: polynomial mod 2^64 + splitmix64 finaliser, seeded by n"
)


# --- notes → elements -----------------------------------------------------------------------


def note_elements(notes, beats_per_bar: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(MIDI pitches, duration tokens) of a melody's notes, quantised as the training corpus is."""
    from lofictl.models.train import corpus as corpus_mod

    line = top_line(notes)
    if not line:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Tonic 0: the pitch tokens are then MIDI pitch - 60 (folded only beyond two octaves).
    piece = corpus_mod.Piece(
        "notes", 0, "major", float(beats_per_bar), tuple((n.start, n.duration, n.pitch, n.velocity) for n in line), ()
    )
    return piece_elements(piece)


def piece_elements(piece) -> tuple[np.ndarray, np.ndarray]:
    """Pitches (relative to the tonic base, or MIDI when the tonic is 0) and duration tokens of a
    corpus piece's notes, rests dropped."""
    from lofictl.models.train import corpus as corpus_mod

    seq = corpus_mod.melody_tokens(piece)
    keep = seq.pitch != tokens.REST
    pitch = seq.pitch[keep].astype(np.int64) - 2 + tokens.PITCH_LOW + tokens.tonic_base(piece.tonic)
    return pitch, seq.duration[keep].astype(np.int64)


# --- hashing --------------------------------------------------------------------------------

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
            h = h * _MUL + step[j : j + count].astype(np.uint64)
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


def ngram_overlap(
    notes,
    index: NgramIndex | None,
    lengths=None,
    beats_per_bar: float = 4.0,
    elements: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
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
                covered[start : start + n] = True
            out["copied_15"] = float(covered.mean()) if len(pitch) else 0.0
    return out


# --- which pieces a model trained on ---------------------------------------------------------


def split_pieces(pieces, seed: int, val_fraction: float):
    """(training, held-out) exactly as `train.loop.prepare` splits a corpus for a seed (held out:
    validation and, for POP909, test pieces)."""
    from lofictl.models.train import corpus as corpus_mod

    train = corpus_mod.split_pieces(pieces, seed, val_fraction)["train"]
    trained = {id(p) for p in train}
    return train, [p for p in pieces if id(p) not in trained]


def pieces_fingerprint(pieces) -> str:
    """What an index depends on: every training piece's name and notes."""
    digest = hashlib.sha256()
    for p in sorted(pieces, key=lambda p: p.name):
        digest.update(json.dumps([p.name, p.tonic, p.beats_per_bar, p.melody]).encode())
    return digest.hexdigest()


def training_facts(model_dir: Path) -> dict:
    """What model.json says about a melody model's training data and split."""
    from lofictl.models.nn.meta import read_meta  # model.json alone: no JAX (a cached build's gate check)

    meta = read_meta(model_dir)
    if meta["kind"] != "melody":
        raise LofictlError(
            f"{model_dir} holds a {meta['kind']} model; n-gram indexes are for melody models", field="model"
        )
    try:
        training, data = meta.get("training", {}), meta.get("data", {})
        return {
            "meta": meta,
            "corpus": data.get("corpus"),
            "limit": data.get("limit"),
            "seed": int(training.get("seed", 0)),
            "val_fraction": float(training.get("val_fraction", 0.1)),
            "pieces_sha256": data.get("train_pieces_sha256"),
        }
    except (AttributeError, TypeError, ValueError):
        raise LofictlError(
            f"{model_dir}/model.json: training or data has the wrong shape; the checkpoint is damaged, retrain it",
            field="model",
        ) from None


def training_pieces(model_dir: Path | str, corpus: str | None = None) -> list:
    """The pieces a model trained on, re-read from its corpus with its own limit and split."""
    from lofictl.models.train import corpus as corpus_mod

    facts = training_facts(Path(model_dir))
    spec = corpus or facts["corpus"]
    if not spec:
        raise LofictlError(
            f"{model_dir}/model.json does not say which corpus trained it; pass --corpus", field="corpus"
        )
    pieces, _ = corpus_mod.load_corpus(spec, limit=facts["limit"])
    train = corpus_mod.split_pieces(pieces, facts["seed"], facts["val_fraction"])["train"]
    if facts["pieces_sha256"] and pieces_fingerprint(train) != facts["pieces_sha256"]:
        raise LofictlError(
            f"{spec} no longer holds the pieces {model_dir} trained on (their fingerprint differs "
            "from model.json's); its n-gram index cannot be rebuilt from it",
            field="corpus",
        )
    return train


# --- files ----------------------------------------------------------------------------------


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic.replacing(path) as temporary, open(temporary, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_index(
    model_dir: Path | str,
    pieces,
    *,
    corpus: str | None,  # None: pieces that came from no named corpus (a test, a synthetic set)
    limit: int | None,
    seed: int,
    val_fraction: float,
    lengths=INDEX_LENGTHS,
) -> dict:
    """Write `ngrams.npy` (sorted uint64 hashes of the pieces' n-grams) and `ngrams.json` (what it
    was built from, its sha256) into a model folder; returns the JSON written. `pieces` are the
    model's training pieces, exactly."""
    model_dir = Path(model_dir)
    lengths = tuple(sorted({int(n) for n in lengths}))
    if not lengths or lengths[0] < 2:
        raise LofictlError(f"n-gram lengths must be 2 or more, got {list(lengths)}", field="lengths")
    hashes = index_hashes([piece_elements(p) for p in pieces], lengths)
    _save_npy(model_dir / INDEX_FILE, hashes)
    meta = {
        "format": INDEX_FORMAT,
        "version": HASH_VERSION,
        "file": INDEX_FILE,
        "lengths": list(lengths),
        "corpus": corpus,
        "limit": limit,
        "split": {"seed": seed, "val_fraction": val_fraction, "training_pieces": len(pieces)},
        "entries": int(len(hashes)),
        "bytes": (model_dir / INDEX_FILE).stat().st_size,
        "sha256": _sha256(model_dir / INDEX_FILE),
        "pieces_sha256": pieces_fingerprint(pieces),
        "elements": ELEMENTS,
    }
    atomic.write_text(model_dir / INDEX_META, json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return meta


def build_ngram_index(model_dir: Path | str, corpus: str | None = None, lengths=INDEX_LENGTHS) -> dict:
    """`lofictl eval-index`: the index of a model trained before training wrote one, from its
    corpus (default: model.json's) re-read with its limit and split."""
    model_dir = Path(model_dir)
    facts = training_facts(model_dir)
    train = training_pieces(model_dir, corpus)
    return write_index(
        model_dir,
        train,
        corpus=corpus or facts["corpus"],
        limit=facts["limit"],
        seed=facts["seed"],
        val_fraction=facts["val_fraction"],
        lengths=lengths,
    )


_INDEX_CACHE: dict[tuple, NgramIndex] = {}


def _read_index(npy: Path, meta: dict, where: str) -> NgramIndex:
    if meta.get("format") != INDEX_FORMAT or meta.get("version") != HASH_VERSION:
        raise LofictlError(f"{where} is not a version-{HASH_VERSION} n-gram index; rebuild it", field="model")
    stat = npy.stat()
    key = (str(npy.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _INDEX_CACHE:
        return _INDEX_CACHE[key]
    if meta.get("sha256") and _sha256(npy) != meta["sha256"]:
        raise LofictlError(
            f"{npy} does not match the sha256 in {where} (damaged or replaced); rebuild it", field="model"
        )
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
    """The index in a model folder, checked against model.json; None when the folder has none."""
    model_dir = Path(model_dir)
    npy, meta_path = model_dir / INDEX_FILE, model_dir / INDEX_META
    if not npy.is_file() or not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise LofictlError(
            f"{meta_path} is not valid JSON ({e}); rebuild it with `lofictl eval-index {model_dir}`", field="model"
        ) from None
    if (
        not isinstance(meta, dict)
        or not isinstance(meta.get("split", {}), dict)
        or not isinstance(meta.get("lengths"), list)
        or not all(isinstance(n, int) for n in meta["lengths"])
    ):
        raise LofictlError(
            f"{meta_path} is not an n-gram index description; rebuild it with `lofictl eval-index {model_dir}`",
            field="model",
        )
    facts = training_facts(model_dir)
    split = meta.get("split", {})
    if facts["pieces_sha256"]:
        stale = meta.get("pieces_sha256") != facts["pieces_sha256"]
    else:  # a model from before training recorded its pieces: the corpus, limit and split must agree
        stale = (
            split.get("seed") != facts["seed"]
            or split.get("val_fraction") != facts["val_fraction"]
            or (facts["corpus"] and meta.get("corpus") != facts["corpus"])
            or meta.get("limit") != facts["limit"]
        )
    if stale:
        raise LofictlError(
            f"{meta_path} was built for other training data than model.json describes (retrained "
            f"since?); rebuild it with `lofictl eval-index {model_dir}`",
            field="model",
        )
    return _read_index(npy, meta, str(meta_path))


def cached_training_index(model_dir: Path | str, lengths=EVAL_LENGTHS) -> NgramIndex:
    """An index with more lengths than a model folder carries, for eval's overlap curve; built
    once per set of training pieces, kept in the corpus cache folder."""
    from lofictl.models.train import corpus as corpus_mod

    train = training_pieces(model_dir)
    facts = training_facts(Path(model_dir))
    lengths = tuple(sorted(set(lengths)))
    fingerprint = pieces_fingerprint(train)
    name = hashlib.sha256(json.dumps([HASH_VERSION, list(lengths), fingerprint]).encode()).hexdigest()[:24]
    folder = corpus_mod.cache_dir().parent / "ngrams"
    npy = folder / f"{name}.npy"
    meta = {
        "format": INDEX_FORMAT,
        "version": HASH_VERSION,
        "lengths": list(lengths),
        "corpus": facts["corpus"],
        "limit": facts["limit"],
        "split": {"seed": facts["seed"], "val_fraction": facts["val_fraction"], "training_pieces": len(train)},
        "pieces_sha256": fingerprint,
    }

    def build() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        _save_npy(npy, index_hashes([piece_elements(p) for p in train], lengths))

    if not npy.is_file():
        build()
    try:
        return _read_index(npy, meta, str(npy))
    except LofictlError:  # a damaged cache entry: rebuild once
        build()
        return _read_index(npy, meta, str(npy))
