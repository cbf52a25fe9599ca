"""Vocabularies between music and model tokens: key-relative pitch, duration, velocity, chords.

Everything is relative to the key's tonic, so one melody in D minor and the same melody in
G minor are the same token sequence: normalising to the key *is* transposition to all keys.
What is left for augmentation is the register (octave shifts, `transpose_pitch_tokens`).

Time is counted in ticks of 1/12 beat, the smallest grid that holds both 16ths (3 ticks) and
triplet eighths (4 ticks) as whole numbers, so positions add up exactly.

Index 0 of every vocabulary is BOS (start of sequence, also used as padding input): it is an
input only and is never sampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lofictl.compose import theory

TICKS_PER_BEAT = 12
BOS = 0

# --- pitch ----------------------------------------------------------------------------------
# Semitones from the tonic in octave 4 (MIDI 60 + tonic pitch class), two octaves either way.
PITCH_LOW, PITCH_HIGH = -24, 24
REST = 1
N_PITCH = 2 + (PITCH_HIGH - PITCH_LOW + 1)  # BOS, REST, then each relative pitch


def tonic_base(tonic: int) -> int:
    """MIDI pitch that relative pitch 0 stands for."""
    return 60 + tonic % 12


def fold_relative(rel: int) -> int:
    """Bring a relative pitch into [PITCH_LOW, PITCH_HIGH] by whole octaves."""
    while rel < PITCH_LOW:
        rel += 12
    while rel > PITCH_HIGH:
        rel -= 12
    return rel


def encode_pitch(midi: int | None, tonic: int) -> int:
    """MIDI pitch (None for a rest) → pitch token; out-of-range pitches fold by octaves."""
    if midi is None:
        return REST
    return 2 + fold_relative(midi - tonic_base(tonic)) - PITCH_LOW


def decode_pitch(token: int, tonic: int) -> int | None:
    """Pitch token → MIDI pitch, None for a rest."""
    if token == REST:
        return None
    if not 2 <= token < N_PITCH:
        raise ValueError(f"pitch token {token} is not a note or rest")
    return tonic_base(tonic) + token - 2 + PITCH_LOW


def relative_of_token(token: int) -> int | None:
    return None if token == REST else token - 2 + PITCH_LOW


def transpose_pitch_tokens(tokens: np.ndarray, semitones: int) -> np.ndarray | None:
    """Shift pitch tokens (rests stay rests); None when a note would leave the range.

    With key-relative tokens only octave shifts keep the meaning (scale degrees); other
    shifts are a modulation and are allowed for callers who want exactly that.
    """
    tokens = np.asarray(tokens)
    notes = tokens >= 2
    shifted = np.where(notes, tokens + semitones, tokens)
    if np.any(shifted[notes] < 2) or np.any(shifted[notes] >= N_PITCH):
        return None
    return shifted


# --- duration -------------------------------------------------------------------------------
# 16th, triplet 8th, 8th, triplet quarter, dotted 8th, quarter, triplet half, dotted quarter,
# half, dotted half, whole — in ticks.
DURATION_TICKS: tuple[int, ...] = (3, 4, 6, 8, 9, 12, 16, 18, 24, 36, 48)
N_DURATION = 1 + len(DURATION_TICKS)


def encode_duration(beats: float) -> int:
    """Nearest duration in the set (on a log scale, so 0.3 beats is nearer 1/3 than 1/4)."""
    if beats <= 0:
        raise ValueError(f"duration must be more than 0 beats, got {beats}")
    ticks = beats * TICKS_PER_BEAT
    best = min(range(len(DURATION_TICKS)), key=lambda i: (abs(math.log(ticks / DURATION_TICKS[i])), i))
    return 1 + best


def decode_duration(token: int) -> float:
    return DURATION_TICKS[token - 1] / TICKS_PER_BEAT


def duration_ticks(token: int) -> int:
    return DURATION_TICKS[token - 1]


def split_ticks(ticks: int, allowed: tuple[int, ...] = DURATION_TICKS) -> list[int]:
    """Greedy split of a span into allowed lengths, longest first; a remainder shorter than
    the shortest length is dropped (it is at most 2 ticks, 1/6 beat)."""
    parts = []
    for length in sorted(allowed, reverse=True):
        while ticks >= length:
            # Avoid leaving an unrepresentable sliver when a shorter split would fit exactly.
            if ticks - length in (1, 2) and any(ticks % a == 0 for a in allowed if a < length):
                break
            parts.append(length)
            ticks -= length
    return parts


# --- velocity -------------------------------------------------------------------------------
VELOCITIES: tuple[int, ...] = (48, 64, 80, 100)
N_VELOCITY = 1 + len(VELOCITIES)


def encode_velocity(velocity: int) -> int:
    return 1 + min(range(len(VELOCITIES)), key=lambda i: (abs(VELOCITIES[i] - velocity), i))


def decode_velocity(token: int) -> int:
    return VELOCITIES[token - 1]


def metric_velocity(position_ticks: int, bar_ticks: int) -> int:
    """A velocity from beat strength, for corpora without dynamics (music21's chorales and folk
    tunes): downbeats loud, beats medium, off-beats softer — the accent a player would give."""
    pos = position_ticks % max(bar_ticks, 1)
    if pos == 0:
        return 100
    if pos % TICKS_PER_BEAT == 0:
        return 80
    if pos % (TICKS_PER_BEAT // 2) == 0:
        return 64
    return 48


# --- position in bar ------------------------------------------------------------------------
N_POSITION = 8 * TICKS_PER_BEAT  # bars up to 8 beats long


def encode_position(ticks_from_bar_start: int) -> int:
    return min(max(int(ticks_from_bar_start), 0), N_POSITION - 1)


# --- position in the phrase -----------------------------------------------------------------
# Bars counted from the start of the piece (training) or section (generation), modulo an
# eight-bar phrase: pop phrases are four or eight bars, and they breathe at their ends.
PHRASE_BARS = 8


def encode_phrase(bar_index: int) -> int:
    return int(bar_index) % PHRASE_BARS


# --- modes ----------------------------------------------------------------------------------
MODE_FAMILY = {"major": 0, "lydian": 0, "mixolydian": 0, "minor": 1, "dorian": 1, "phrygian": 1, "harmonic minor": 1}
N_MODE = 2


def mode_token(mode: str) -> int:
    return MODE_FAMILY.get(mode, 0)


# --- chords ---------------------------------------------------------------------------------
# The chord vocabulary: POP909's label qualities (Harte names) → (template intervals, suffix
# written back in symbols, so theory.parse_chord reads every generated chord).
CHORD_QUALITIES: dict[str, tuple[frozenset[int], str]] = {
    "maj": (frozenset({0, 4, 7}), ""),
    "min": (frozenset({0, 3, 7}), "m"),
    "7": (frozenset({0, 4, 7, 10}), "7"),
    "maj7": (frozenset({0, 4, 7, 11}), "maj7"),
    "min7": (frozenset({0, 3, 7, 10}), "m7"),
    "sus2": (frozenset({0, 2, 7}), "sus2"),
    "sus4": (frozenset({0, 5, 7}), "sus4"),
    "sus4(b7)": (frozenset({0, 5, 7, 10}), "7sus4"),
    "maj6": (frozenset({0, 4, 7, 9}), "6"),
    "min6": (frozenset({0, 3, 7, 9}), "m6"),
    "dim": (frozenset({0, 3, 6}), "dim"),
    "dim7": (frozenset({0, 3, 6, 9}), "dim7"),
    "hdim7": (frozenset({0, 3, 6, 10}), "m7b5"),
    "aug": (frozenset({0, 4, 8}), "aug"),
    "minmaj7": (frozenset({0, 3, 7, 11}), "mmaj7"),
}
QUALITY_NAMES: tuple[str, ...] = tuple(CHORD_QUALITIES)
# The qualities music21's chorales are named with (template matching over the sounding notes):
# the sixths and sus2 would too often explain a passing tone, so the baseline keeps its set.
CLASSIC_QUALITIES: tuple[str, ...] = ("maj", "min", "7", "maj7", "min7", "dim", "hdim7", "dim7", "aug", "sus4")
# Slash basses: which chord tone is in the bass (0 root position, 1 the third or sus tone,
# 2 the fifth, 3 the seventh or sixth), counted up the template's intervals.
N_INVERSION = 4
NO_CHORD = 1
N_CHORD = 2 + 12 * len(QUALITY_NAMES) * N_INVERSION  # BOS, NO_CHORD, then root × quality × bass
CHORD_VOCAB_VERSION = 2  # 1: ten reduced qualities, no slash basses (models trained before POP909)

# Chord durations in ticks: half beat up to two bars of 4/4.
CHORD_DURATION_TICKS: tuple[int, ...] = (6, 12, 18, 24, 36, 48, 72, 96)
N_CHORD_DURATION = 1 + len(CHORD_DURATION_TICKS)


def chord_tones(quality: str) -> tuple[int, ...]:
    """The template's intervals, ascending (the order inversions count in)."""
    return tuple(sorted(CHORD_QUALITIES[quality][0]))


def inversion_of(quality: str, bass_interval: int | None) -> int:
    """Semitones from the root to the bass → inversion index; 0 when the bass is the root, is
    not given, or is not a chord tone (then the chord is read in root position)."""
    if bass_interval is None:
        return 0
    tones = chord_tones(quality)
    b = bass_interval % 12
    return tones.index(b) if b in tones and tones.index(b) < N_INVERSION else 0


def reduce_intervals(intervals) -> str:
    """Intervals above a root (any octave) → the vocabulary's quality; the order of the tests
    decides extended chords (7#9 holds both thirds: it is a dominant; C13 is a 7, C69 a maj6)."""
    s = {i % 12 for i in intervals}
    third = 4 if 4 in s else 3 if 3 in s else None
    if third == 3 and 6 in s and 7 not in s:
        if 9 in s and 10 not in s:
            return "dim7"
        return "hdim7" if 10 in s else "dim"
    if third == 4 and 8 in s and 7 not in s:
        return "aug"
    if third is None:
        if 5 in s:
            return "sus4(b7)" if 10 in s else "sus4"
        if 2 in s:
            return "sus2"
        return "maj"  # a bare fifth: a power chord sits best under major
    if third == 4:
        if 10 in s:
            return "7"
        if 11 in s:
            return "maj7"
        return "maj6" if 9 in s else "maj"
    if 10 in s:
        return "min7"
    if 11 in s:
        return "minmaj7"
    return "min6" if 9 in s else "min"


def quality_of_suffix(suffix: str) -> str:
    """A theory.QUALITIES suffix ('m9', '7b9', 'ø', ...) → the reduced quality."""
    if suffix not in theory.QUALITIES:
        raise ValueError(f"unknown chord quality {suffix!r}")
    return reduce_intervals(theory.QUALITIES[suffix])


def chord_token(root_rel: int, quality: str, inversion: int = 0) -> int:
    if not 0 <= inversion < N_INVERSION or (inversion and inversion >= len(CHORD_QUALITIES[quality][0])):
        raise ValueError(f"a {quality} chord has no inversion {inversion}")
    return 2 + ((root_rel % 12) * len(QUALITY_NAMES) + QUALITY_NAMES.index(quality)) * N_INVERSION + inversion


def chord_parts(token: int) -> tuple[int, str, int] | None:
    """Chord token → (root relative to the key, quality, inversion), None for no chord."""
    if token == NO_CHORD:
        return None
    if not 2 <= token < N_CHORD:
        raise ValueError(f"chord token {token} is not a chord")
    rest, inversion = divmod(token - 2, N_INVERSION)
    root, q = divmod(rest, len(QUALITY_NAMES))
    return root, QUALITY_NAMES[q], inversion


def valid_chord_tokens() -> np.ndarray:
    """(N_CHORD,) bool: real chords (a triad has no third inversion); BOS and no-chord are not."""
    valid = np.zeros(N_CHORD, bool)
    for token in range(2, N_CHORD):
        parts = chord_parts(token)
        assert parts is not None  # tokens from 2 on are chords
        _, quality, inversion = parts
        valid[token] = inversion < len(CHORD_QUALITIES[quality][0])
    return valid


def chord_pitch_classes(token: int) -> frozenset[int]:
    """Pitch classes relative to the key of a chord token's template."""
    parts = chord_parts(token)
    if parts is None:
        return frozenset()
    root, quality, _ = parts
    return frozenset((root + i) % 12 for i in CHORD_QUALITIES[quality][0])


def encode_chord(symbol: str, key: theory.Key) -> int:
    """'Dm9' in C major → token for (root 2, min7); 'C/E' → (0, maj, first inversion)."""
    return chord_of(theory.parse_chord(symbol), key)


def chord_of(chord: theory.Chord, key: theory.Key) -> int:
    quality = reduce_intervals(chord.intervals)
    bass = None if chord.bass is None else (chord.bass - chord.root) % 12
    return chord_token(chord.root - key.tonic, quality, inversion_of(quality, bass))


def chord_symbol(root_pc: int, quality: str, inversion: int = 0) -> str:
    """(absolute root, quality, inversion) → a symbol theory.parse_chord reads: 'F#maj7/C#'."""
    symbol = theory.NOTE_NAMES[root_pc % 12] + CHORD_QUALITIES[quality][1]
    if inversion:
        symbol += "/" + theory.NOTE_NAMES[(root_pc + chord_tones(quality)[inversion]) % 12]
    return symbol


def decode_chord(token: int, key: theory.Key) -> str:
    """Chord token → a readable symbol in absolute pitch that theory.parse_chord reads."""
    parts = chord_parts(token)
    if parts is None:
        raise ValueError("no-chord token has no symbol")
    root, quality, inversion = parts
    return chord_symbol(key.tonic + root, quality, inversion)


def pcs_mask(pcs) -> np.ndarray:
    """Pitch classes → a 12-long 0/1 float vector (the model's view of the chord's notes)."""
    mask = np.zeros(12, np.float32)
    for pc in pcs:
        mask[pc % 12] = 1.0
    return mask


# Rare qualities must explain the notes clearly better before they are chosen.
_QUALITY_PRIOR = {
    "aug": 0.08,
    "sus4": 0.05,
    "sus2": 0.05,
    "dim": 0.03,
    "dim7": 0.02,
    "maj6": 0.04,
    "min6": 0.04,
    "sus4(b7)": 0.05,
    "minmaj7": 0.06,
}


def identify_chord(
    weights, bass_pc: int | None = None, candidates: list[tuple[int, str]] | None = None
) -> tuple[int, str] | None:
    """The (root pitch class, quality) whose template best explains pitch-class weights.

    Score: share of weight on template tones, minus a little per template tone not heard,
    plus a nudge for the bass note being the root; simpler chords win ties. None when silent.
    """
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if total <= 0:
        return None
    w = w / total
    heard = w > 0
    best, best_score = None, -np.inf
    pool = candidates if candidates is not None else [(r, q) for r in range(12) for q in CLASSIC_QUALITIES]
    for root, quality in pool:
        template = CHORD_QUALITIES[quality][0]
        idx = [(root + i) % 12 for i in template]
        covered = w[idx].sum()
        missing = sum(1 for i in idx if not heard[i])
        score = covered - 0.15 * missing - 0.02 * len(template) - _QUALITY_PRIOR.get(quality, 0.0)
        if bass_pc is not None and bass_pc % 12 == root:
            score += 0.1
        if score > best_score + 1e-12:
            best, best_score = (root, quality), score
    return best


def diatonic_chords(mode: str) -> list[tuple[int, str]]:
    """Chords (root relative to the tonic, quality) a folk tune's bar is harmonised from."""
    if mode_token(mode) == 0:
        return [(0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min"), (7, "7")]
    return [(0, "min"), (3, "maj"), (5, "min"), (7, "min"), (7, "maj"), (8, "maj"), (10, "maj"), (7, "7")]


@dataclass(frozen=True)
class MelodyVocab:
    """How a layout's output heads map to (pitch, duration, velocity) tokens.

    `heads[h]` is the size of head h; `tables[h]` is an int array (size, 3) giving, for each
    token of head h, the pitch/duration/velocity token it stands for, or -1 where that head
    does not carry that factor. BOS rows are all 0.
    """

    layout: str
    heads: tuple[int, ...]
    tables: tuple[np.ndarray, ...]

    def to_json(self) -> dict:
        return {"layout": self.layout, "heads": list(self.heads), "tables": [table.tolist() for table in self.tables]}

    @classmethod
    def from_json(cls, data: dict) -> "MelodyVocab":
        tables = tuple(np.asarray(t, dtype=np.int32).reshape(-1, 3) for t in data["tables"])
        return cls(data["layout"], tuple(int(h) for h in data["heads"]), tables)

    def encode(self, pitch: np.ndarray, duration: np.ndarray, velocity: np.ndarray) -> np.ndarray:
        """Factor tokens (…,) each → layout tokens (…, n_heads); unknown joint tokens → -1."""
        sizes = np.array([N_PITCH, N_DURATION, N_VELOCITY])
        triples = np.stack([pitch, duration, velocity], axis=-1).astype(np.int64)
        out = []
        for table in self.tables:
            used = table[0] >= 0  # the BOS row says which factors the head carries (0 or -1)
            # A dense lookup over the used factors' product: at most 50*12*5 entries.
            strides = np.cumprod(np.concatenate([[1], sizes[used][::-1]]))[:-1][::-1]
            lookup = -np.ones(int(np.prod(sizes[used])), np.int32)
            lookup[(table[:, used] * strides).sum(-1)] = np.arange(len(table))
            out.append(lookup[(triples[..., used] * strides).sum(-1)])
        return np.stack(out, axis=-1)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """Layout tokens (…, n_heads) → factor tokens (…, 3)."""
        tokens = np.asarray(tokens)
        result = np.zeros(tokens.shape[:-1] + (3,), np.int32)
        for h, table in enumerate(self.tables):
            rows = table[tokens[..., h]]
            result = np.where(rows >= 0, rows, result)
        return result


LAYOUTS = ("three-embeddings", "two-embeddings", "one-embedding")


def melody_vocab(layout: str, seen: np.ndarray | None = None) -> MelodyVocab:
    """The vocabulary of a layout; joint layouts list only the combinations seen in `seen`
    (an (n, 3) array of pitch/duration/velocity tokens from the corpus), sorted."""
    if layout == "three-embeddings":

        def own(n, col):
            table = -np.ones((n, 3), np.int32)
            table[:, col] = np.arange(n)
            return table

        return MelodyVocab(
            layout, (N_PITCH, N_DURATION, N_VELOCITY), (own(N_PITCH, 0), own(N_DURATION, 1), own(N_VELOCITY, 2))
        )
    if seen is None or len(seen) == 0:
        raise ValueError(f"the {layout} layout builds its vocabulary from corpus tokens; none given")
    seen = np.asarray(seen, np.int32)
    if layout == "two-embeddings":
        pairs = sorted({(int(p), int(d)) for p, d in seen[:, :2]})
        joint = np.array([(0, 0, -1)] + [(p, d, -1) for p, d in pairs], np.int32)
        vel = -np.ones((N_VELOCITY, 3), np.int32)
        vel[:, 2] = np.arange(N_VELOCITY)
        return MelodyVocab(layout, (len(joint), N_VELOCITY), (joint, vel))
    if layout == "one-embedding":
        triples = sorted({(int(p), int(d), int(v)) for p, d, v in seen})
        joint = np.array([(0, 0, 0)] + triples, np.int32)
        return MelodyVocab(layout, (len(joint),), (joint,))
    raise ValueError(f"unknown layout {layout!r}")


def chord_vocab_json() -> dict:
    """The fixed chord-side vocabularies, written into model.json for readers of a checkpoint."""
    return {
        "version": CHORD_VOCAB_VERSION,
        "qualities": {name: [sorted(t), suffix] for name, (t, suffix) in CHORD_QUALITIES.items()},
        "chord_tokens": "0 BOS, 1 no chord, 2 + (root*%d + quality index)*%d + inversion (the chord tone "
        "in the bass, counted up the template)" % (len(QUALITY_NAMES), N_INVERSION),
        "chord_duration_ticks": list(CHORD_DURATION_TICKS),
    }


def melody_factor_json() -> dict:
    return {
        "ticks_per_beat": TICKS_PER_BEAT,
        "pitch_range": [PITCH_LOW, PITCH_HIGH],
        "pitch_tokens": "0 BOS, 1 rest, 2 + semitones above the tonic in octave 4 - PITCH_LOW",
        "duration_ticks": list(DURATION_TICKS),
        "velocities": list(VELOCITIES),
        "positions": N_POSITION,
        "modes": MODE_FAMILY,
    }
