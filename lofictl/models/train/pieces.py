"""The values a training corpus is made of: a Piece (one tune: melody, chords, key), the summary
of what a source yielded, and the digest a model.json records. The readers (train/corpus.py,
train/pop909.py) make them; the training loop and the measures read them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

MIN_MELODY_NOTES = 8  # a tune with fewer melody notes is skipped


@dataclass(frozen=True)
class Piece:
    """One tune in absolute pitch, bar lines at multiples of beats_per_bar from time 0."""

    name: str
    tonic: int
    mode: str  # "major" or "minor"
    beats_per_bar: float
    melody: tuple[tuple[float, float, int, int | None], ...]  # start, duration, MIDI pitch, velocity or None
    # start, duration, root pitch class, quality (tokens.CHORD_QUALITIES), bass in semitones above
    # the root (0: root position; 4 in a C major chord is C/E)
    chords: tuple[tuple[float, float, int, str, int], ...]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "tonic": self.tonic,
            "mode": self.mode,
            "beats_per_bar": self.beats_per_bar,
            "melody": [list(n) for n in self.melody],
            "chords": [list(c) for c in self.chords],
        }

    @classmethod
    def from_json(cls, d: dict) -> "Piece":
        return cls(
            d["name"],
            int(d["tonic"]),
            d["mode"],
            float(d["beats_per_bar"]),
            tuple((float(a), float(b), int(p), None if v is None else int(v)) for a, b, p, v in d["melody"]),
            tuple(
                (float(c[0]), float(c[1]), int(c[2]), str(c[3]), int(c[4]) if len(c) > 4 else 0) for c in d["chords"]
            ),
        )


@dataclass
class SourceSummary:
    spec: str
    files: int = 0
    pieces: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    cached: bool = False

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def to_json(self) -> dict:
        return {
            "spec": self.spec,
            "files": self.files,
            "pieces": self.pieces,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": sum(self.skipped.values()),
        }


def pieces_digest(pieces: list[Piece]) -> str:
    """sha256 of the pieces' canonical JSON, in order: the data hash a model.json records."""
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(json.dumps(piece.to_json(), sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()
