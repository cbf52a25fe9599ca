"""Training corpora → Pieces (melody + chords + key) → token arrays.

Sources, named in a comma-separated spec such as `music21:bach,music21:essen,~/midi`:

* `music21:bach` — the chorales bundled with music21: melody = soprano; chords = the four
  voices sounding in each beat, named by template matching (what `chordify` gives, computed
  directly because it is much faster). The soprano takes part in naming the chord because
  with three voices passing tones too often read as aug or sus chords.
* `music21:essen`, `music21:ryans` — Essen and Ryan's Mammoth folk tunes (melody only). Their
  chords are *inferred* one per bar from the melody's own notes among the key's diatonic
  chords (duration-weighted, downbeats counted double), rather than left as "no chord": the
  melody model is always given chords when it generates, so it should learn from tunes paired
  with plausible harmony.
* `pop909:DIR` — POP909's songs (train/pop909.py): the sung melody with its hand-checked chord
  labels, keys and downbeats; DIR is the dataset or the derived corpus shipped in `data/pop909`.
  Its train/validation/test split is fixed per song (`pop909.split_of`), whatever the seed.
* a folder — every `.mid`/`.midi` file under it (read with mido): melody = the top line of the
  most melodic non-drum track; chords = every other note sounding in each beat.

Keys are estimated with the Krumhansl–Kessler profiles on the duration-weighted pitch classes
(the final melody note counted extra), the same way for every source. Files that cannot be read
are skipped and counted; a source that yields nothing is a LofictlError.

ABC collections (Essen) are split into tunes and parsed one by one, several times faster than
music21's Opus parse. Parsing still takes minutes (Bach ~1, Essen ~5), so parsed Pieces are cached as JSON (never pickle)
in `$LOFICTL_CACHE_DIR` or `~/.cache/lofictl/corpus`, keyed by the source, the limit, the file
list and this reader's version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lofictl.errors import LofictlError
from lofictl.models import tokens
from lofictl.models.train.pieces import MIN_MELODY_NOTES, Piece, SourceSummary, pieces_digest
from lofictl.safety import atomic
from lofictl.seeds import derive_seed

READER_VERSION = 3  # 3: chords carry their bass; the POP909 quality set
MUSIC21_SOURCES = {"music21:bach": "bach", "music21:essen": "essenFolksong", "music21:ryans": "ryansMammoth"}

# Krumhansl–Kessler key profiles, tonic first.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


# --- key and chord estimation ---------------------------------------------------------------


def estimate_key(pc_weights: np.ndarray) -> tuple[int, str]:
    """(tonic pitch class, 'major'|'minor') by correlation with the rotated profiles."""
    best = (0, "major")
    best_r = -np.inf
    if pc_weights.sum() <= 0:
        return best
    for tonic in range(12):
        for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
            r = np.corrcoef(pc_weights, np.roll(profile, tonic))[0, 1]
            if r > best_r + 1e-12:
                best, best_r = (tonic, mode), r
    return best


def _pc_weights(notes) -> np.ndarray:
    w = np.zeros(12)
    for start, end, pitch in notes:
        w[pitch % 12] += max(end - start, 0.0)
    return w


def harmony_per_beat(
    notes: list[tuple[float, float, int]], total_beats: float
) -> list[tuple[float, float, int, str, int]]:
    """Chord events from the (start, end, pitch) notes sounding in each beat; equal neighbours
    merged, silent beats left out."""
    n_beats = int(np.ceil(total_beats - 1e-9))
    weights = np.zeros((max(n_beats, 0), 12))
    bass = np.full(max(n_beats, 0), 1000)
    for start, end, pitch in notes:
        for b in range(max(int(np.floor(start)), 0), min(int(np.ceil(end - 1e-9)), n_beats)):
            overlap = min(end, b + 1) - max(start, b)
            if overlap > 0:
                weights[b, pitch % 12] += overlap
                bass[b] = min(bass[b], pitch)
    chords: list[tuple[float, float, int, str, int]] = []
    for b in range(n_beats):
        bass_pc = int(bass[b]) % 12 if bass[b] < 1000 else None
        found = tokens.identify_chord(weights[b], bass_pc)
        if found is None:
            continue
        root, quality = found
        # The lowest voice names the inversion when it is a chord tone (C/E), else root position.
        inversion = tokens.inversion_of(quality, None if bass_pc is None else bass_pc - root)
        below = tokens.chord_tones(quality)[inversion]
        if chords and chords[-1][2:] == (root, quality, below) and abs(chords[-1][0] + chords[-1][1] - b) < 1e-9:
            s, d = chords[-1][:2]
            chords[-1] = (s, d + 1.0, root, quality, below)
        else:
            chords.append((float(b), 1.0, root, quality, below))
    return chords


def harmony_from_melody(
    melody, tonic: int, mode: str, beats_per_bar: float
) -> list[tuple[float, float, int, str, int]]:
    """One diatonic chord per bar that best explains the bar's melody notes."""
    if not melody:
        return []
    candidates = [((tonic + r) % 12, q) for r, q in tokens.diatonic_chords(mode)]
    end = max(s + d for s, d, _, _ in melody)
    n_bars = int(np.ceil(end / beats_per_bar - 1e-9))
    weights = np.zeros((n_bars, 12))
    for start, dur, pitch, _ in melody:
        bar = int(start // beats_per_bar)
        if 0 <= bar < n_bars:
            downbeat = abs(start - bar * beats_per_bar) < 1e-6
            weights[bar, pitch % 12] += dur * (2.0 if downbeat else 1.0)
    chords: list[tuple[float, float, int, str, int]] = []
    for bar in range(n_bars):
        found = tokens.identify_chord(weights[bar], None, candidates)
        if found is None:
            continue
        start = bar * beats_per_bar
        if chords and chords[-1][2:4] == found and abs(chords[-1][0] + chords[-1][1] - start) < 1e-9:
            s, d, r, q, b = chords[-1]
            chords[-1] = (s, d + beats_per_bar, r, q, b)
        else:
            chords.append((start, beats_per_bar, found[0], found[1], 0))
    return chords


def make_piece(name: str, melody, harmony_notes, beats_per_bar: float, infer_chords: bool) -> Piece | None:
    """Melody (start, dur, pitch, velocity) and accompaniment (start, end, pitch) → a Piece
    with its key; None when the melody is too short to learn from."""
    melody = sorted(m for m in melody if m[1] > 0)
    if len(melody) < MIN_MELODY_NOTES:
        return None
    mel_notes = [(s, s + d, p) for s, d, p, _ in melody]
    weights = _pc_weights(mel_notes) + _pc_weights(harmony_notes)
    weights[melody[-1][2] % 12] += 2.0 * beats_per_bar  # tunes end on their tonic
    tonic, mode = estimate_key(weights)
    if infer_chords:
        chords = harmony_from_melody(melody, tonic, mode, beats_per_bar)
    else:
        total = max(max(e for _, e, _ in mel_notes), max((e for _, e, _ in harmony_notes), default=0.0))
        chords = harmony_per_beat(harmony_notes, total)
    return Piece(name, tonic, mode, float(beats_per_bar), tuple(melody), tuple(chords))


# --- music21 --------------------------------------------------------------------------------


def _m21_bar_and_shift(part) -> tuple[float, float]:
    """Beats per bar and the pickup shift that puts bar lines at multiples of the bar."""
    from music21 import meter, stream

    signatures = list(part.recurse().getElementsByClass(meter.TimeSignature))
    bar = float(signatures[0].barDuration.quarterLength) if signatures else 4.0
    measures = list(part.getElementsByClass(stream.Measure))
    shift = 0.0
    if measures:
        first = float(measures[0].duration.quarterLength)
        if 0 < first < bar - 1e-6:
            shift = bar - first
    return bar, shift


def _m21_line(part, shift: float, top: bool = True) -> list[tuple[float, float, int, int | None]]:
    notes: list[tuple[float, float, int, int | None]] = []
    for n in part.stripTies().flatten().notes:
        dur = float(n.duration.quarterLength)
        if dur <= 0:  # grace notes take no time
            continue
        pitches = [p.midi for p in n.pitches]
        notes.append((float(n.offset) + shift, dur, max(pitches) if top else min(pitches), None))
    return notes


def _m21_notes(part, shift: float) -> list[tuple[float, float, int]]:
    out: list[tuple[float, float, int]] = []
    for n in part.stripTies().flatten().notes:
        dur = float(n.duration.quarterLength)
        if dur > 0:
            start = float(n.offset) + shift
            out.extend((start, start + dur, p.midi) for p in n.pitches)
    return out


def _m21_scores(parsed):
    from music21 import stream

    if isinstance(parsed, stream.Opus):
        return list(parsed.scores)
    return [parsed]


def _abc_tunes(path: Path) -> list[str]:
    """The tunes of an ABC file, each from its `X:` line (the header before the first is
    file-wide notes, not music)."""
    text = path.read_bytes().decode("latin-1")  # never fails; ABC music is ASCII
    chunks = re.split(r"(?m)^(?=X:)", text)
    return [chunk for chunk in chunks[1:] if chunk.strip()] or [text]


def _read_music21(spec: str, limit: int | None, summary: SourceSummary) -> list[Piece]:
    from music21 import converter
    from music21 import corpus as m21corpus

    name = MUSIC21_SOURCES[spec]
    paths = sorted(Path(p) for p in m21corpus.getComposer(name))
    if name == "bach":
        paths = [p for p in paths if p.suffix in (".mxl", ".xml", ".krn")]  # .rntxt are analyses
    pieces: list[Piece] = []
    for path in paths:
        if limit is not None and len(pieces) >= limit:
            break
        summary.files += 1
        if path.suffix == ".abc":
            # One tune at a time: parsing a whole Essen collection as an Opus is many times
            # slower than its tunes one by one, and a bad tune then costs only itself.
            tunes: list[str | None] = [*_abc_tunes(path)]
        else:
            tunes = [None]
        for i, tune in enumerate(tunes):
            if limit is not None and len(pieces) >= limit:
                break
            label = f"{spec}:{path.stem}" + (f"#{i}" if len(tunes) > 1 else "")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if tune is None:
                        parsed = m21corpus.parse(str(path))
                    else:
                        parsed = converter.parse(tune, format="abc")
                score = _m21_scores(parsed)[0]
            except Exception:  # music21 raises many types on odd files; skip and count, never crash
                summary.skip("unreadable")
                continue
            try:
                parts = list(score.parts)
                if not parts:
                    summary.skip("no parts")
                    continue
                if name == "bach":
                    # Chorales with obbligato instruments name their voices; keep only those.
                    voices = {(part.partName or "").strip().lower(): part for part in parts}
                    if not {"soprano", "alto", "tenor", "bass"} <= set(voices):
                        summary.skip("not four named voices")
                        continue
                    bar, shift = _m21_bar_and_shift(voices["soprano"])
                    melody = _m21_line(voices["soprano"], shift)
                    # All four voices name the chord (as chordify would): with the soprano left
                    # out, passing tones in three voices are too often read as aug or sus chords.
                    lower = [n for v in ("soprano", "alto", "tenor", "bass") for n in _m21_notes(voices[v], shift)]
                    piece = make_piece(label, melody, lower, bar, infer_chords=False)
                else:
                    bar, shift = _m21_bar_and_shift(parts[0])
                    piece = make_piece(label, _m21_line(parts[0], shift), [], bar, infer_chords=True)
            except Exception:  # a malformed tune inside a good file: skip and count
                summary.skip("unreadable")
                continue
            if piece is None:
                summary.skip("too short")
                continue
            pieces.append(piece)
    return pieces


# --- MIDI folders ---------------------------------------------------------------------------


def read_midi_file(path: Path, name: str) -> Piece | None:
    """A MIDI file → Piece; raises on unreadable files, None when there is no usable melody."""
    import mido

    mid = mido.MidiFile(str(path))
    tpb = mid.ticks_per_beat
    if not tpb or tpb <= 0:
        raise ValueError("bad ticks per beat")
    beats_per_bar = None
    groups: dict[tuple[int, int], list[tuple[float, float, int, int]]] = {}
    for ti, track in enumerate(mid.tracks):
        now = 0
        sounding: dict[tuple[int, int], tuple[int, int]] = {}
        for msg in track:
            now += msg.time
            if msg.type == "time_signature" and beats_per_bar is None:
                beats_per_bar = msg.numerator * 4.0 / msg.denominator
            elif msg.type in ("note_on", "note_off"):
                if msg.channel == 9:  # drums are not melody or harmony
                    continue
                k = (msg.channel, msg.note)
                if k in sounding:
                    start, vel = sounding.pop(k)
                    if now > start:
                        groups.setdefault((ti, msg.channel), []).append((start / tpb, now / tpb, msg.note, vel))
                if msg.type == "note_on" and msg.velocity > 0:
                    sounding[k] = (now, msg.velocity)
    beats_per_bar = beats_per_bar or 4.0
    if not groups:
        return None

    def melodic_score(notes):
        onsets: dict[float, int] = {}
        for s, _, _, _ in notes:
            onsets[s] = onsets.get(s, 0) + 1
        mono = sum(1 for c in onsets.values() if c == 1) / len(onsets)
        mean_pitch = sum(p for _, _, p, _ in notes) / len(notes)
        return (len(notes) >= MIN_MELODY_NOTES, mono >= 0.5, mean_pitch)

    chosen = max(sorted(groups), key=lambda g: melodic_score(groups[g]))
    # Skyline: the highest note at each onset, cut where the next onset begins.
    by_onset: dict[float, tuple[float, float, int, int]] = {}
    for note in groups[chosen]:
        if note[0] not in by_onset or note[2] > by_onset[note[0]][2]:
            by_onset[note[0]] = note
    starts = sorted(by_onset)
    melody, top = [], set()
    for i, s in enumerate(starts):
        _, end, pitch, vel = by_onset[s]
        if i + 1 < len(starts):
            end = min(end, starts[i + 1])
        melody.append((s, end - s, pitch, vel))
        top.add((s, pitch))
    harmony = [(s, e, p) for g, notes in groups.items() for s, e, p, _ in notes if g != chosen or (s, p) not in top]
    return make_piece(name, melody, harmony, beats_per_bar, infer_chords=not harmony)


def _read_folder(folder: Path, spec: str, limit: int | None, summary: SourceSummary) -> list[Piece]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())
    if not files:
        raise LofictlError(f"no .mid or .midi files in {folder}", field="corpus")
    pieces: list[Piece] = []
    for path in files:
        if limit is not None and len(pieces) >= limit:
            break
        summary.files += 1
        try:
            piece = read_midi_file(path, f"{path.relative_to(folder)}")
        except Exception:  # mido raises OSError/EOFError/ValueError/KeyError on broken files
            summary.skip("unreadable")
            continue
        if piece is None:
            summary.skip("no melody")
            continue
        pieces.append(piece)
    if not pieces:
        raise LofictlError(
            f"none of the {len(files)} MIDI files in {folder} could be used "
            f"(skipped: {', '.join(f'{n} {r}' for r, n in sorted(summary.skipped.items()))})",
            field="corpus",
        )
    return pieces


# --- specs and cache ------------------------------------------------------------------------


def cache_dir() -> Path:
    env = os.environ.get("LOFICTL_CACHE_DIR")
    return Path(env).expanduser() / "corpus" if env else Path.home() / ".cache" / "lofictl" / "corpus"


def _fingerprint(spec: str, limit: int | None) -> str:
    if spec.startswith("pop909:"):
        from lofictl.models.train import pop909

        folder = Path(spec[len("pop909:") :]).expanduser().resolve()
        derived = pop909.derived_path(folder)
        if derived.is_file():
            files = [[derived.name, derived.stat().st_size, derived.stat().st_mtime_ns]]
        else:
            files = [
                [str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns]
                for song in pop909.song_folders(folder)
                for p in sorted(song.iterdir())
                if p.is_file()
            ]
        basis = {"spec": str(folder), "files": files, "pop909_reader": pop909.READER_VERSION}
    elif spec in MUSIC21_SOURCES:
        import music21
        from music21 import corpus as m21corpus

        names = sorted(Path(p).name for p in m21corpus.getComposer(MUSIC21_SOURCES[spec]))
        basis = {"spec": spec, "music21": music21.__version__, "files": names}
    else:
        folder = Path(spec).expanduser().resolve()
        midi_files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())
        basis = {
            "spec": str(folder),
            "files": [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in midi_files],
        }
    basis.update(reader=READER_VERSION, limit=limit)
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


def parse_specs(text: str) -> list[str]:
    """'music21:bach, ~/midi' → checked specs; unknown names and missing folders are errors."""
    specs = [s.strip() for s in text.split(",") if s.strip()]
    if not specs:
        raise LofictlError(
            "no corpus given (e.g. --corpus music21:bach,music21:essen or a folder of MIDI files)", field="corpus"
        )
    for spec in specs:
        if spec.startswith("pop909:"):
            folder = Path(spec[len("pop909:") :]).expanduser()
            if not folder.is_dir():
                raise LofictlError(
                    f"corpus {spec!r}: {folder} is not a folder (give the POP909 dataset or "
                    f"data/pop909, which ships with lofictl)",
                    field="corpus",
                )
        elif spec.startswith("music21:"):
            if spec not in MUSIC21_SOURCES:
                raise LofictlError(
                    f"unknown corpus {spec!r}; known: {', '.join(MUSIC21_SOURCES)}, or a folder of MIDI files",
                    field="corpus",
                )
        else:
            folder = Path(spec).expanduser()
            if not folder.is_dir():
                raise LofictlError(
                    f"corpus {spec!r} is neither a music21 corpus ({', '.join(MUSIC21_SOURCES)}) "
                    f"nor an existing folder",
                    field="corpus",
                )
    return specs


def load_source(spec: str, limit: int | None = None, use_cache: bool = True) -> tuple[list[Piece], SourceSummary]:
    summary = SourceSummary(spec)
    key = _fingerprint(spec, limit)
    stem = (
        spec.replace("music21:", "m21-")
        if spec in MUSIC21_SOURCES
        else "pop909"
        if spec.startswith("pop909:")
        else "dir"
    )
    path = cache_dir() / f"{stem}-{key[:20]}.json"
    if use_cache and path.is_file():
        try:
            data = json.loads(path.read_text())
            pieces = [Piece.from_json(p) for p in data["pieces"]]
            saved = data["summary"]
            summary = SourceSummary(spec, saved["files"], saved["pieces"], dict(saved["skipped"]), cached=True)
            return pieces, summary
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is rebuilt below
    if spec.startswith("pop909:"):
        from lofictl.models.train import pop909

        pieces = pop909.read_pop909(spec[len("pop909:") :], limit, summary)
    elif spec in MUSIC21_SOURCES:
        pieces = _read_music21(spec, limit, summary)
        if not pieces:
            raise LofictlError(f"corpus {spec} gave no usable pieces", field="corpus")
    else:
        pieces = _read_folder(Path(spec).expanduser(), spec, limit, summary)
    summary.pieces = len(pieces)
    if use_cache:
        atomic.write_text(path, json.dumps({"summary": summary.to_json(), "pieces": [p.to_json() for p in pieces]}))
    return pieces, summary


def load_corpus(text: str, limit: int | None = None, use_cache: bool = True) -> tuple[list[Piece], dict]:
    """Every piece of every source in the spec, and a JSON-ready summary."""
    pieces: list[Piece] = []
    sources = []
    for spec in parse_specs(text):
        got, summary = load_source(spec, limit, use_cache)
        pieces.extend(got)
        source = {**summary.to_json(), "pieces_sha256": pieces_digest(got)}
        if spec.startswith("pop909:"):
            from lofictl.models.train import pop909

            source.update(licence=pop909.LICENSE_NAME, citation=pop909.CITATION)
        sources.append(source)
    return pieces, {"corpus": text, "limit": limit, "sources": sources, "pieces": len(pieces)}


# --- the train / validation / test split ---------------------------------------------------


def assign_splits(names, seed: int, val_fraction: float) -> dict[str, str]:
    """Piece name → "train", "validation" or "test".

    POP909 pieces take their song's fixed split (pop909.split_of), so the test songs are never
    trained on or used to pick a model, whatever the seed. Other corpora have no test split:
    a share `val_fraction` of pieces, chosen by sha256 of (seed, name), validates; a corpus of
    one piece validates on what it trains on."""
    from lofictl.models.train import pop909

    out: dict[str, str] = {}
    others = []
    for name in sorted(set(names)):
        song = pop909.song_of(name)
        if song is not None:
            out[name] = pop909.split_of(song)
        else:
            others.append(name)
    threshold = int(val_fraction * 1000)
    val = {n for n in others if derive_seed(seed, "split", n) % 1000 < threshold}
    if not val and len(others) > 1:
        val = {min(others, key=lambda n: derive_seed(seed, "split", n))}
    for name in others:
        out[name] = "validation" if name in val else "train"
    if len(out) == 1:
        out = {name: "train" for name in out}
    return out


def split_pieces(pieces: list[Piece], seed: int, val_fraction: float) -> dict[str, list[Piece]]:
    """The pieces on each side of assign_splits, in corpus order: {"train", "validation", "test"}.
    Training, its n-gram index and the originality gate all take their sides from here."""
    splits = assign_splits([p.name for p in pieces], seed, val_fraction)
    return {side: [p for p in pieces if splits[p.name] == side] for side in ("train", "validation", "test")}


def split_summary(splits: dict[str, str]) -> dict:
    """model.json's record of a split: the rule, counts and (for POP909) the song ids per side."""
    from lofictl.models.train import pop909

    songs = sorted({song for n in splits if (song := pop909.song_of(n)) is not None})
    out = {"pieces": {k: sum(1 for v in splits.values() if v == k) for k in pop909.SPLITS}}
    if songs:
        out["pop909"] = pop909.split_json(songs)
    return out


# --- Pieces → token arrays ------------------------------------------------------------------


@dataclass(frozen=True)
class MelodySeq:
    """Factor tokens of one piece's melody, each with the chord and bar position at its onset."""

    pitch: np.ndarray
    duration: np.ndarray
    velocity: np.ndarray
    chord: np.ndarray
    pcs: np.ndarray  # (n, 12) chord pitch classes relative to the key
    position: np.ndarray
    mode: int
    phrase: np.ndarray  # bar within the 8-bar phrase (tokens.encode_phrase)


@dataclass(frozen=True)
class ChordSeq:
    chord: np.ndarray
    duration: np.ndarray
    position: np.ndarray
    mode: int
    phrase: np.ndarray


def piece_chord_token(piece: Piece, root: int, quality: str, bass: int) -> int:
    return tokens.chord_token(root - piece.tonic, quality, tokens.inversion_of(quality, bass))


def _chord_at(chords_ticks: list[tuple[int, int, int]], tick: int) -> int:
    for start, end, token in chords_ticks:
        if start <= tick < end:
            return token
    return tokens.NO_CHORD


def melody_tokens(piece: Piece) -> MelodySeq:
    tpb = tokens.TICKS_PER_BEAT
    bar = int(round(piece.beats_per_bar * tpb))
    chords_ticks = [
        (int(round(s * tpb)), int(round((s + d) * tpb)), piece_chord_token(piece, r, q, b))
        for s, d, r, q, b in piece.chords
    ]
    events: list[tuple[int, int, int, int]] = []  # pitch, duration, velocity token, onset tick
    notes = [(int(round(s * tpb)), max(int(round(d * tpb)), 1), p, v) for s, d, p, v in piece.melody]
    cursor = (notes[0][0] // bar) * bar  # start at the first note's bar line: leading rests are a pickup
    rest_velocity = tokens.encode_velocity(64)

    def rests(span: int) -> None:
        nonlocal cursor
        for length in tokens.split_ticks(span):
            events.append((tokens.REST, 1 + tokens.DURATION_TICKS.index(length), rest_velocity, cursor))
            cursor += length

    for i, (onset, length, pitch, vel) in enumerate(notes):
        if onset < cursor:  # overlapped by the previous note's rounding: start it now
            onset = cursor
        if onset - cursor >= min(tokens.DURATION_TICKS):
            rests(onset - cursor)
        nxt = notes[i + 1][0] if i + 1 < len(notes) else cursor + length
        ioi = max(nxt - cursor, 1)
        sounding = min(length, ioi)
        if ioi - sounding < min(tokens.DURATION_TICKS):
            sounding = ioi  # legato: a gap too short to be a rest belongs to the note
        fits = [t for t in tokens.DURATION_TICKS if t <= sounding]
        note_len = fits[-1] if fits else tokens.DURATION_TICKS[0]
        velocity = vel if vel is not None else tokens.metric_velocity(cursor, bar)
        events.append(
            (
                tokens.encode_pitch(pitch, piece.tonic),
                1 + tokens.DURATION_TICKS.index(note_len),
                tokens.encode_velocity(velocity),
                cursor,
            )
        )
        cursor += note_len
        if i + 1 == len(notes):
            break
        gap = nxt - cursor
        if gap >= min(tokens.DURATION_TICKS):
            rests(gap)
    onsets = [e[3] for e in events]
    chord = np.array([_chord_at(chords_ticks, t) for t in onsets], np.int32)
    pcs = (
        np.stack([tokens.pcs_mask(tokens.chord_pitch_classes(int(c))) for c in chord])
        if len(chord)
        else np.zeros((0, 12), np.float32)
    )
    return MelodySeq(
        np.array([e[0] for e in events], np.int32),
        np.array([e[1] for e in events], np.int32),
        np.array([e[2] for e in events], np.int32),
        chord,
        pcs,
        np.array([tokens.encode_position(t % bar) for t in onsets], np.int32),
        tokens.mode_token(piece.mode),
        np.array([tokens.encode_phrase(t // bar) for t in onsets], np.int32),
    )


def chord_tokens(piece: Piece) -> ChordSeq:
    tpb = tokens.TICKS_PER_BEAT
    bar = int(round(piece.beats_per_bar * tpb))
    chord, dur, pos, phrase = [], [], [], []
    for start, length, root, quality, bass in piece.chords:
        tick = int(round(start * tpb))
        token = piece_chord_token(piece, root, quality, bass)
        for part in tokens.split_ticks(int(round(length * tpb)), tokens.CHORD_DURATION_TICKS):
            chord.append(token)
            dur.append(1 + tokens.CHORD_DURATION_TICKS.index(part))
            pos.append(tokens.encode_position(tick % bar))
            phrase.append(tokens.encode_phrase(tick // bar))
            tick += part
    return ChordSeq(
        np.array(chord, np.int32),
        np.array(dur, np.int32),
        np.array(pos, np.int32),
        tokens.mode_token(piece.mode),
        np.array(phrase, np.int32),
    )


def synthetic_pieces(n: int, seed: int = 0, bars: int = 8) -> list[Piece]:
    """A tiny corpus made in code (tests, benchmarks): I–vi–IV–V or i–VI–iv–V loops in random
    keys, melodies of chord tones in quarters and eighths with the odd passing tone and rest."""
    from lofictl.seeds import rng as named_rng

    out = []
    for i in range(n):
        r = named_rng(seed, "synthetic", i)
        tonic = int(r.integers(12))
        mode = "major" if i % 2 == 0 else "minor"
        progression = (
            [(0, "maj"), (9, "min"), (5, "maj"), (7, "7")]
            if mode == "major"
            else [(0, "min"), (8, "maj"), (5, "min"), (7, "7")]
        )
        chords, melody = [], []
        for bar in range(bars):
            root, quality = progression[bar % 4]
            chords.append((bar * 4.0, 4.0, (tonic + root) % 12, quality, 0))
            tones = sorted(tokens.CHORD_QUALITIES[quality][0])
            t = bar * 4.0
            while t < bar * 4.0 + 4.0 - 1e-9:
                dur = 1.0 if r.random() < 0.5 else 0.5
                if r.random() < 0.08:
                    t += dur  # a rest
                    continue
                step = int(r.choice(tones)) + (1 if r.random() < 0.1 else 0)
                melody.append(
                    (t, dur, 60 + tonic + root + step if root + step < 12 else 48 + tonic + root + step, None)
                )
                t += dur
        out.append(Piece(f"synthetic:{seed}:{i}", tonic, mode, 4.0, tuple(melody), tuple(chords)))
    return out
