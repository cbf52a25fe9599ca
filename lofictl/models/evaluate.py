"""Measuring a melody: the original research's measures, the measures a build records in its
lock, the originality gate, and `lofictl eval-midi` / `lofictl eval-index`.

(`lofictl eval` — models against held-out human songs — is models/quality.py; the n-gram index
of the training data is models/ngrams.py, whose docstring defines the elements and n-grams.)

Every measure is a pure function of a note list (score.Note, times in beats) and, where it
needs them, a chord timeline (score.ChordEvent) or a key. Definitions, precisely:

* **Notes as the model sees them**: the training corpus's quantisation (ngrams.note_elements).
* **Repetitiveness** (the research's measure): at note x (x ≥ 20), the share of the ten notes
  x-10..x-1 whose (pitch, duration) also *occurs* among the ten notes x-20..x-11. "Occurs"
  means the same MIDI pitch (octave counts) and the same duration token; onset and velocity
  do not count. The curve runs along the song note by note; its mean is the headline figure.
  A loop of ten notes or fewer scores exactly 1.0.
* **Training overlap** for n = 8, 12, 15: the share of the melody's n-note windows whose
  transposition-free n-gram occurs in the model's training pieces (ngrams). "15+" is the
  15-gram share: any longer copy contains copied 15-grams. `copied_15` is the share of notes
  covered by a copied 15-gram.
* **Chord-tone share**: of the note time that sounds under a chord, the share whose pitch class
  is in the chord sounding at that moment (a note held across a chord change is split);
  duration-weighted; None without chords.
* **In-scale share**: duration-weighted share of note time in the key's scale.
* **Pitch-class entropy**: Shannon entropy in bits of the pitch-class histogram, counting notes
  (MusPy's convention); 12 equally used pitch classes give log2(12).
* **Note density**: notes per beat over the span measured (0 to the end of the last note, or
  the length given).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lofictl.compose import score as score_mod
from lofictl.compose import theory
from lofictl.errors import LofictlError
from lofictl.models import measures as measures_mod
from lofictl.models import tokens
from lofictl.models.measures import top_line
from lofictl.models.ngrams import (
    NgramIndex,
    load_ngram_index,
    ngram_overlap,
    note_elements,
)
from lofictl.models.report import rounded

WINDOW = 10  # the research's window: notes x-10..x-1 against x-20..x-11
REPORT_LENGTHS = (8, 12, 15)
MEASURES = (
    "repetitiveness",
    "overlap_8",
    "overlap_12",
    "overlap_15",
    "copied_15",
    "chord_tone_share",
    "in_scale_share",
    "pitch_class_entropy",
    "note_density",
    "notes",
)


# --- the measures ---------------------------------------------------------------------------


def repetitiveness(
    notes, window: int = WINDOW, beats_per_bar: float = 4.0, elements: tuple[np.ndarray, np.ndarray] | None = None
) -> dict:
    """{"mean", "curve", "at_beat"}: the research's measure at each note x ≥ 2·window (see the
    module doc); mean None when the melody has fewer than 2·window notes."""
    pitch, duration = elements if elements is not None else note_elements(notes, beats_per_bar)
    keys = list(zip(pitch.tolist(), duration.tolist()))
    starts = [n.start for n in top_line(notes)]  # one element per top-line note
    curve, at = [], []
    for x in range(2 * window, len(keys) + 1):
        earlier = set(keys[x - 2 * window : x - window])
        curve.append(sum(1 for k in keys[x - window : x] if k in earlier) / window)
        at.append(starts[x - 1] if x - 1 < len(starts) else float("nan"))
    return {"mean": float(np.mean(curve)) if curve else None, "curve": curve, "at_beat": at}


def chord_tone_share(notes, chords) -> float | None:
    """Of the note time sounding under a chord, the share on the chord's pitch classes."""
    try:
        return measures_mod.chord_tone_share(notes, chords)
    except theory.TheoryError as e:
        raise LofictlError(str(e), field="chords") from None


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


def measure_notes(
    notes,
    chords,
    key,
    index: NgramIndex | None = None,
    total_beats: float | None = None,
    beats_per_bar: float = 4.0,
    lengths=REPORT_LENGTHS,
) -> dict:
    """Every measure of one melody, JSON-ready (None where a measure is undefined)."""
    line = top_line(notes)
    elements = note_elements(line, beats_per_bar)
    rep = repetitiveness(line, elements=elements)
    result = {
        "notes": len(line),
        "repetitiveness": rep["mean"],
        "chord_tone_share": chord_tone_share(line, chords) if chords else None,
        "in_scale_share": in_scale_share(line, key),
        "pitch_class_entropy": pitch_class_entropy(line),
        "note_density": note_density(line, total_beats),
    }
    if index is not None:
        # Lengths the index lacks (a model folder holds 15-grams only by default) read None.
        result.update({f"overlap_{n}": None for n in lengths if n not in index.lengths})
        overlap = ngram_overlap(
            line, index, tuple(n for n in lengths if n in index.lengths) or index.lengths, elements=elements
        )
        for n, share in overlap["shares"].items():
            result[f"overlap_{n}"] = share
        result["copied_15"] = overlap.get("copied_15")
        result["windows"] = {str(n): w for n, w in overlap["windows"].items()}
    result["repetition_curve"] = rep["curve"]
    return result


# --- builds ---------------------------------------------------------------------------------


def measure_melody(
    notes, chords, key, index: NgramIndex | None, total_beats: float | None = None, beats_per_bar: float = 4.0
) -> dict:
    """The measures a build records for its melody (fast: one index lookup, no model run).
    Overlap figures come from the training melodies' n-gram index; without one they are None."""
    result = measure_notes(notes, chords, key, index, total_beats, beats_per_bar)
    del result["repetition_curve"]  # a lock file wants figures, not curves
    if index is None:
        result.update({f"overlap_{n}": None for n in REPORT_LENGTHS}, copied_15=None)
    result["ngram_index"] = (
        None if index is None else {"sha256": index.meta.get("sha256"), "corpus": index.meta.get("corpus")}
    )
    return rounded(result)


def originality_gate(measures: dict, max_overlap_15: float) -> bool:
    """True when the melody copies at most `max_overlap_15` of its 15-note windows from the
    training data. A melody measured without an index cannot pass a gate: that is an error."""
    if not isinstance(max_overlap_15, (int, float)) or not 0 <= max_overlap_15 <= 1:
        raise LofictlError(f"must be a share between 0 and 1, got {max_overlap_15!r}", field="max_overlap_15")
    share = measures.get("overlap_15")
    if share is None:
        raise LofictlError(
            "the melody model folder has no n-gram index (ngrams.npy), so max_overlap_15 cannot "
            "be checked; build one with `lofictl eval-index MODEL_DIR`",
            field="max_overlap_15",
        )
    return share <= max_overlap_15


# --- any MIDI file --------------------------------------------------------------------------


def _melodic_rank(notes) -> tuple:
    """As the corpus reader ranks tracks: long enough, mostly one note at a time, then highest."""
    onsets: dict[float, int] = {}
    for n in notes:
        onsets[n.start] = onsets.get(n.start, 0) + 1
    mono = sum(1 for c in onsets.values() if c == 1) / max(len(onsets), 1)
    return (len(notes) >= 8, mono >= 0.5, float(np.mean([n.pitch for n in notes])))


def _symbol(root: int, quality: str, bass: int = 0) -> str:
    return tokens.chord_symbol(root, quality, tokens.inversion_of(quality, bass))


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
    from lofictl.models.train import corpus as corpus_mod

    weights = np.zeros(12)
    for n in list(melody) + list(harmony):
        weights[n.pitch % 12] += n.duration
    if melody:
        weights[melody[-1].pitch % 12] += 2.0 * beats_per_bar  # tunes end on their tonic
    tonic, mode = corpus_mod.estimate_key(weights)
    return theory.Key(tonic, mode)


def declared_key(file: Path | str) -> theory.Key | None:
    """The key the file itself states: lofictl's key text (it keeps modes) or else the first
    key signature; None when it states none (a standard MIDI file need not)."""
    import mido

    from lofictl.export import midi as midi_mod

    signature = None
    for track in mido.MidiFile(str(file)).tracks:
        for message in track:
            if message.type == "text" and message.text.startswith(midi_mod.KEY_TEXT_PREFIX):
                try:
                    return theory.parse_key(message.text[len(midi_mod.KEY_TEXT_PREFIX) :])
                except theory.TheoryError:
                    continue  # a damaged text: the signature still says something
            if message.type == "key_signature" and signature is None:
                signature = message.key
    if signature is None:
        return None
    # mido names keys 'Bb' (major) and 'Dm' (minor)
    return theory.parse_key(f"{signature[:-1]} minor" if signature.endswith("m") else f"{signature} major")


def eval_midi(file: Path | str, chords_file: Path | str | None = None, model_dir: Path | str | None = None) -> dict:
    """The same measures for any MIDI file: melody = top line of the most melodic track; chords
    from `chords_file` (one per beat), else from the other tracks (one per bar), else omitted;
    key from the file's key signature, estimated (Krumhansl–Kessler) only when it has none;
    overlap against `model_dir`'s n-gram index if given."""
    from lofictl.export import midi as midi_mod

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
        source: str | None = f"{chords_file} (one chord per beat)"
    else:
        harmony = [n for t in tracks for n in t.notes if t is not chosen or (n.start, n.pitch) not in kept]
        chords = estimate_chords(harmony, total, bpb) if harmony else []
        source = "the other tracks (one chord per bar)" if harmony else None
    key = declared_key(file)
    key_from = "key signature"
    if key is None:
        key, key_from = _estimate_key(melody, harmony, bpb), "estimated: the file has no key signature"
    index = load_ngram_index(model_dir) if model_dir is not None else None
    m = measure_notes(melody, chords, key, index, total, bpb)
    del m["repetition_curve"]
    return rounded(
        {
            "file": str(file),
            "melody_track": chosen.name,
            "key": key.name,
            "key_from": key_from,
            "chords_from": source,
            "chords": len(chords),
            "beats": total,
            "ngram_index": None if index is None else {"model": str(model_dir), "corpus": index.meta.get("corpus")},
            "measures": m,
        }
    )
