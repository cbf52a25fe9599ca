"""POP909 (Wang et al., ISMIR 2020; MIT licence) → Pieces: sung melody, hand-checked chords, keys, bars.

Public API (the evaluation harness uses it too):

* `read_pop909(folder) -> list[Piece]` — every usable piece of the dataset folder (song folders
  `NNN/` with `NNN.mid`, `chord_midi.txt`, `key_audio.txt`, `beat_midi.txt`) or of a derived
  corpus folder (`pop909-corpus.json.gz`, written by `write_derived`).
* `split_of(song) -> "train" | "validation" | "test"` and `split_songs(songs) -> {split: [ids]}`:
  the fixed song-level split, from sha256 of the song id (never list order, never a seed), so
  every model and every evaluation agrees on which songs are held out. `song_of(piece_name)`
  gives the song a piece came from.

How a song becomes pieces:

* Time: MIDI ticks → seconds through the file's tempo map → beats by interpolating the beat
  times of `beat_midi.txt` (the annotation, not the file's nominal tempo, says where beats are).
* Bars: from the downbeat column. Songs whose usual bar is not four beats (28 in 6) are
  skipped. A bar of another length (a 2-beat bar before a chorus) ends a piece and the next
  regular bar starts a new one, so bar lines in a piece always fall every four beats from 0.
* Keys: each row of `key_audio.txt` starts a new piece at the downbeat nearest its start
  (pieces are key-relative: one tonic and mode each).
* Melody: the `MELODY` track, highest note at each onset, onsets snapped to the grid of
  sixteenths and eighth-note triplets (0, 1/4, 1/3, 1/2, 2/3, 3/4 of a beat), ends to
  sixteenths (or triplets, after a triplet onset), velocities kept.
* Chords: every label of `chord_midi.txt`, its quality mapped to tokens.CHORD_QUALITIES (the
  data's own Harte names) and its slash degree (`/3`, `/b7`, ...) kept as the bass; `N` (no
  chord) leaves a gap. Boundaries snap to the nearest half beat.

Pieces are named `pop909:NNN` or, for the second and later pieces of a song, `pop909:NNN/k`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from lofictl.compose import theory
from lofictl.errors import LofictlError
from lofictl.models import tokens
from lofictl.models.train.pieces import MIN_MELODY_NOTES, Piece, SourceSummary, pieces_digest

PREFIX = "pop909"
READER_VERSION = 2  # 2: note ends on sixteenths unless the onset is a triplet
DERIVED_FILE = "pop909-corpus.json.gz"
DERIVED_FORMAT = "lofictl-pop909-corpus"
BEATS_PER_BAR = 4
MIN_BARS = 4  # shorter runs of regular bars (between odd bars or key changes) are too short to learn from

SPLIT_RULE = (
    "song-level: n = int(sha256('pop909-split:' + song id)[:8], 16) % 100; "
    "n < 80 train, 80 <= n < 90 validation, n >= 90 test"
)
SPLITS = ("train", "validation", "test")

CITATION = (
    "Ziyu Wang*, Ke Chen*, Junyan Jiang, Yiyi Zhang, Maoran Xu, Shuqi Dai, Guxian Bin and Gus Xia, "
    '"POP909: A Pop-song Dataset for Music Arrangement Generation", Proceedings of the 21st '
    "International Society for Music Information Retrieval Conference (ISMIR), 2020. "
    "https://github.com/music-x-lab/POP909-Dataset (MIT licence, Copyright (c) 2020 Music X Lab)"
)
LICENSE_NAME = "MIT"

# Harte qualities as POP909 writes them → the vocabulary (identical names; listed so an unknown
# label is an error the summary counts, not a silent guess).
QUALITY_MAP = {name: name for name in tokens.QUALITY_NAMES}
# Harte scale degrees of slash basses → semitones above the chord root.
_DEGREE_SEMITONES = {"1": 0, "2": 2, "3": 4, "4": 5, "5": 7, "6": 9, "7": 11}
# Onset grid inside a beat, in ticks of 1/12 beat: sixteenths and eighth-note triplets.
_GRID = np.array([0, 3, 4, 6, 8, 9, 12])
_SIXTEENTHS = np.array([0, 3, 6, 9, 12])


# --- the split ------------------------------------------------------------------------------


def split_of(song: str) -> str:
    n = int(hashlib.sha256(f"pop909-split:{song}".encode()).hexdigest()[:8], 16) % 100
    return "train" if n < 80 else "validation" if n < 90 else "test"


def split_songs(songs) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    for song in sorted(set(songs)):
        out[split_of(song)].append(song)
    return out


def song_of(piece_name: str) -> str | None:
    """'pop909:012/2' → '012'; None for pieces from other corpora."""
    if not piece_name.startswith(PREFIX + ":"):
        return None
    return piece_name[len(PREFIX) + 1 :].split("/", 1)[0]


def split_json(songs) -> dict:
    """What model.json records about the split: the rule and the song ids on each side."""
    groups = split_songs(songs)
    return {"rule": SPLIT_RULE, "songs": groups, "counts": {k: len(v) for k, v in groups.items()}}


# --- labels ---------------------------------------------------------------------------------


def parse_label(label: str) -> tuple[int, str, int] | None:
    """'F#:maj7/5' → (root pitch class 6, 'maj7', bass 7 semitones above the root); 'N' → None.
    Raises ValueError on a label outside the vocabulary."""
    label = label.strip()
    if label in ("N", "X", ""):
        return None
    match = re.fullmatch(r"([A-G][#b]*):([^/]+)(?:/(b*|#*)(\d+))?", label)
    if not match:
        raise ValueError(f"unreadable chord label {label!r}")
    root = theory.pitch_class(match[1])
    quality = QUALITY_MAP.get(match[2])
    if quality is None:
        raise ValueError(f"chord quality {match[2]!r} is not in the vocabulary")
    bass = 0
    if match[4]:
        degree = _DEGREE_SEMITONES.get(str((int(match[4]) - 1) % 7 + 1))
        if degree is None:
            raise ValueError(f"bad bass degree in {label!r}")
        bass = (degree - match[3].count("b") + match[3].count("#")) % 12
    return root, quality, bass


def parse_key_label(label: str) -> tuple[int, str]:
    """'Gb:maj' → (6, 'major')."""
    tonic, _, mode = label.strip().partition(":")
    modes = {"maj": "major", "min": "minor", "major": "major", "minor": "minor"}
    if mode not in modes:
        raise ValueError(f"unknown key {label!r}")
    return theory.pitch_class(tonic), modes[mode]


# --- reading one song -----------------------------------------------------------------------


def _rows(path: Path) -> list[list[str]]:
    return [
        line.split("\t") if "\t" in line else line.split() for line in path.read_text().splitlines() if line.strip()
    ]


def _tempo_seconds(mid):
    """A function ticks → seconds over the file's tempo map (all tracks' set_tempo events)."""
    import mido

    changes = []
    for track in mid.tracks:
        now = 0
        for msg in track:
            now += msg.time
            if msg.type == "set_tempo":
                changes.append((now, msg.tempo))
    changes.sort()
    ticks, seconds, tempos = [0], [0.0], [500000]
    for tick, tempo in changes:
        if tick == ticks[-1]:
            tempos[-1] = tempo
            continue
        seconds.append(seconds[-1] + mido.tick2second(tick - ticks[-1], mid.ticks_per_beat, tempos[-1]))
        ticks.append(tick)
        tempos.append(tempo)
    ticks_a, seconds_a, tempos_a = np.array(ticks), np.array(seconds), np.array(tempos, np.float64)

    def convert(tick: int) -> float:
        i = int(np.searchsorted(ticks_a, tick, side="right") - 1)
        return float(seconds_a[i] + (tick - ticks_a[i]) * tempos_a[i] / 1e6 / mid.ticks_per_beat)

    return convert


def _melody_notes(path: Path) -> list[tuple[float, float, int, int]]:
    """(start s, end s, pitch, velocity) of the MELODY track."""
    import mido

    mid = mido.MidiFile(str(path))
    to_seconds = _tempo_seconds(mid)
    track = next((t for t in mid.tracks if t.name.strip().upper() == "MELODY"), None)
    if track is None:
        raise ValueError("no MELODY track")
    notes: list[tuple[float, float, int, int]] = []
    sounding: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (tick, velocity)
    now = 0
    for msg in track:
        now += msg.time
        if msg.type not in ("note_on", "note_off"):
            continue
        key = (msg.channel, msg.note)
        if key in sounding:
            start, velocity = sounding.pop(key)
            if now > start:
                notes.append((to_seconds(start), to_seconds(now), msg.note, velocity))
        if msg.type == "note_on" and msg.velocity > 0:
            sounding[key] = (now, msg.velocity)
    return sorted(notes)


class _BeatClock:
    """Seconds → beats (fractional beat index) by the annotated beat times, extended linearly."""

    def __init__(self, times: np.ndarray):
        self.times = times
        self.index = np.arange(len(times), dtype=np.float64)

    def __call__(self, seconds: float) -> float:
        t = self.times
        if seconds < t[0]:
            return (seconds - t[0]) / (t[1] - t[0])
        if seconds > t[-1]:
            return len(t) - 1 + (seconds - t[-1]) / (t[-1] - t[-2])
        return float(np.interp(seconds, t, self.index))


def snap_beats(beats: float, grid: np.ndarray = _GRID) -> float:
    """A time in beats → the nearest grid position (by default a sixteenth or eighth-triplet), in beats."""
    whole = np.floor(beats)
    ticks = (beats - whole) * tokens.TICKS_PER_BEAT
    return float(whole + grid[int(np.argmin(np.abs(grid - ticks)))] / tokens.TICKS_PER_BEAT)


def _is_triplet(beats: float) -> bool:
    return round((beats % 1) * tokens.TICKS_PER_BEAT) in (4, 8)


def _segments(downbeats: list[int], key_starts: list[int]) -> list[tuple[int, int]]:
    """(first beat, end beat) of each run of regular bars, cut at key changes (beat indices)."""
    cuts = set(key_starts)
    runs, start = [], None
    for a, b in zip(downbeats, downbeats[1:]):
        regular = b - a == BEATS_PER_BAR
        if start is not None and (not regular or a in cuts):
            runs.append((start, a))
            start = None
        if regular and start is None:
            start = a
    if start is not None:
        runs.append((start, downbeats[-1]))
    return [(a, b) for a, b in runs if (b - a) // BEATS_PER_BAR >= MIN_BARS]


def read_song(folder: Path, summary: SourceSummary | None = None) -> list[Piece]:
    """The pieces of one song folder; raises ValueError (with the reason) when it cannot be used."""
    song = folder.name
    beats = np.array([[float(x) for x in row[:3]] for row in _rows(folder / "beat_midi.txt")])
    if len(beats) < 2 * BEATS_PER_BAR:
        raise ValueError("too few beats")
    clock = _BeatClock(beats[:, 0])
    downbeats = [int(i) for i in np.flatnonzero(beats[:, 2] == 1.0)]
    if len(downbeats) < 2:
        raise ValueError("no bars")
    if Counter(np.diff(downbeats).tolist()).most_common(1)[0][0] != BEATS_PER_BAR:
        raise ValueError("not 4/4")
    keys = []
    for row in _rows(folder / "key_audio.txt"):
        tonic, mode = parse_key_label(row[2])
        start = clock(float(row[0]))
        nearest = min(downbeats, key=lambda d: (abs(d - start), d))
        keys.append((nearest, tonic, mode))
    if not keys:
        raise ValueError("no key")
    keys.sort()
    chords = []
    for row in _rows(folder / "chord_midi.txt"):
        parsed = parse_label(row[2])  # ValueError on labels outside the vocabulary
        if parsed is None:
            continue
        start, end = (round(clock(float(x)) * 2) / 2 for x in row[:2])
        if end > start:
            chords.append((start, end, *parsed))
    melody = []
    for start_s, end_s, pitch, velocity in _melody_notes(folder / f"{song}.mid"):
        start = snap_beats(clock(start_s))
        # A release is looser than an attack: it takes the triplet grid only after a triplet
        # onset, so a sixteenth note let go a little late is not read as a triplet.
        end = snap_beats(clock(end_s), _GRID if _is_triplet(start) else _SIXTEENTHS)
        melody.append((start, max(end, start + (1 / 3 if _is_triplet(start) else 0.25)), pitch, velocity))
    # Highest note at each onset (the odd double stop), each cut where the next begins.
    by_onset: dict[float, tuple] = {}
    for note in melody:
        if note[0] not in by_onset or note[2] > by_onset[note[0]][2]:
            by_onset[note[0]] = note
    line = [by_onset[s] for s in sorted(by_onset)]
    line = [(s, min(e, line[i + 1][0]) if i + 1 < len(line) else e, p, v) for i, (s, e, p, v) in enumerate(line)]

    key_starts = [k[0] for k in keys[1:]]
    pieces: list[Piece] = []
    for first, end in _segments(downbeats, key_starts):
        _, tonic, mode = max((k for k in keys if k[0] <= first), default=keys[0])
        # Durations rounded to the 1/12-beat grid they lie on (a difference of snapped floats).
        notes = tuple((s - first, round(min(e, end) - s, 6), p, v) for s, e, p, v in line if first <= s < end)
        harmony = tuple(
            (max(s, first) - first, min(e, end) - max(s, first), r, q, b)
            for s, e, r, q, b in chords
            if s < end and e > first and min(e, end) > max(s, first)
        )
        if len(notes) < MIN_MELODY_NOTES or len(harmony) < 2:
            if summary is not None:
                summary.skip("piece without melody or chords")
            continue
        name = f"{PREFIX}:{song}" if not pieces else f"{PREFIX}:{song}/{len(pieces)}"
        pieces.append(Piece(name, tonic, mode, float(BEATS_PER_BAR), notes, harmony))
    if not pieces:
        raise ValueError("no piece with melody and chords")
    return pieces


# --- folders --------------------------------------------------------------------------------


def song_folders(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_dir() and (p / f"{p.name}.mid").is_file())


def read_dataset(folder: Path, limit: int | None = None, summary: SourceSummary | None = None) -> list[Piece]:
    """Pieces from the dataset's song folders; unusable songs are skipped and counted."""
    summary = summary if summary is not None else SourceSummary(f"{PREFIX}:{folder}")
    pieces: list[Piece] = []
    for song in song_folders(folder):
        if limit is not None and summary.files >= limit:
            break
        summary.files += 1
        try:
            pieces.extend(read_song(song, summary))
        except (OSError, ValueError, IndexError, EOFError, KeyError) as e:  # mido and the text files
            summary.skip(str(e) if isinstance(e, ValueError) else "unreadable")
    return pieces


def derived_path(folder: Path) -> Path:
    return Path(folder) / DERIVED_FILE


def read_pop909(folder: Path | str, limit: int | None = None, summary: SourceSummary | None = None) -> list[Piece]:
    """Every piece of a POP909 dataset folder or derived corpus folder (see the module doc)."""
    folder = Path(folder).expanduser()
    if derived_path(folder).is_file():
        return read_derived(folder, limit, summary)
    if not folder.is_dir() or not song_folders(folder):
        raise LofictlError(
            f"{folder} holds neither POP909 song folders (NNN/NNN.mid) nor {DERIVED_FILE}", field="corpus"
        )
    pieces = read_dataset(folder, limit, summary)
    if not pieces:
        raise LofictlError(f"no usable POP909 songs in {folder}", field="corpus")
    return pieces


# --- the derived corpus (what ships in data/pop909/) ----------------------------------------


def _dataset_digest(folder: Path) -> str:
    """sha256 over the four files of every song (names and bytes), in order."""
    digest = hashlib.sha256()
    for song in song_folders(folder):
        for name in (f"{song.name}.mid", "chord_midi.txt", "key_audio.txt", "beat_midi.txt"):
            path = song / name
            digest.update(f"{song.name}/{name}\0".encode())
            digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()


def write_derived(dataset: Path | str, out: Path | str) -> dict:
    """Read the dataset and write `out/pop909-corpus.json.gz` (pieces as JSON, gzip without a
    timestamp so the bytes depend only on the data), the dataset's LICENSE and a README with the
    citation and the command. Returns the corpus header."""
    dataset, out = Path(dataset).expanduser(), Path(out)
    if not dataset.is_dir() or not song_folders(dataset):
        raise LofictlError(
            f"{dataset} is not the POP909 dataset (song folders 001/ ... 909/, each with NNN.mid "
            f"and the chord, key and beat annotations)",
            field="dataset",
        )
    summary = SourceSummary(f"{PREFIX}:{dataset}")
    pieces = read_dataset(dataset, summary=summary)
    if not pieces:
        raise LofictlError(f"no usable POP909 songs in {dataset}", field="dataset")
    summary.pieces = len(pieces)
    songs = sorted({song for p in pieces if (song := song_of(p.name)) is not None})
    header = {
        "format": DERIVED_FORMAT,
        "reader_version": READER_VERSION,
        "licence": LICENSE_NAME,
        "citation": CITATION,
        "command": f"lofictl train pop909-corpus {dataset} --out {out}",
        "dataset_sha256": _dataset_digest(dataset),
        "pieces_sha256": pieces_digest(pieces),
        "summary": summary.to_json(),
        "songs": len(songs),
        "split": split_json(songs)["counts"],
    }
    out.mkdir(parents=True, exist_ok=True)
    body = json.dumps({**header, "pieces": [p.to_json() for p in pieces]}, separators=(",", ":")).encode()
    tmp = out / f".{DERIVED_FILE}.tmp{os.getpid()}"
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(body)
    tmp.replace(derived_path(out))
    licence = dataset / "LICENSE"
    if licence.is_file():
        shutil.copyfile(licence, out / "LICENSE")
    (out / "README.md").write_text(_derived_readme(header))
    return header


def _derived_readme(header: dict) -> str:
    s = header["summary"]
    return f"""# POP909, as lofictl reads it

`{DERIVED_FILE}` holds the melodies, chords, keys and bars of the POP909 songs, read by
`lofictl/train/pop909.py` (reader version {header["reader_version"]}) and stored as JSON: {header["songs"]}
songs, {s["pieces"]} pieces (a song is split at key changes and at bars that are not four beats
long). Retrain the shipped models from it with `lofictl train chords --corpus pop909:data/pop909`
(and `train melody`); the exact commands are in each model's `model.json`.

Made from the dataset with:

    {header["command"]}

Dataset sha256 (all song files): `{header["dataset_sha256"]}`
Pieces sha256: `{header["pieces_sha256"]}`
Split ({SPLIT_RULE}): {header["split"]}

## Licence and citation

POP909 is released under the MIT licence (`LICENSE` here, Copyright (c) 2020 Music X Lab);
keep it and this citation with anything derived from it:

{CITATION}
"""


def read_derived(folder: Path, limit: int | None = None, summary: SourceSummary | None = None) -> list[Piece]:
    path = derived_path(folder)
    try:
        with gzip.open(path, "rb") as f:
            data = json.loads(f.read())
    except (OSError, EOFError, ValueError) as e:
        raise LofictlError(
            f"{path} is not a readable derived corpus ({e}); rebuild it with "
            f"`lofictl train pop909-corpus DATASET --out {folder}`",
            field="corpus",
        ) from None
    if not isinstance(data, dict) or data.get("format") != DERIVED_FORMAT:
        raise LofictlError(f"{path} is not a {DERIVED_FORMAT} file", field="corpus")
    if data.get("reader_version") != READER_VERSION:
        raise LofictlError(
            f"{path} was made by POP909 reader version {data.get('reader_version')}; this lofictl "
            f"reads version {READER_VERSION}: rebuild it with `{data.get('command')}`",
            field="corpus",
        )
    pieces = [Piece.from_json(p) for p in data["pieces"]]
    if pieces_digest(pieces) != data.get("pieces_sha256"):
        raise LofictlError(
            f"{path}: the pieces do not match the sha256 in its header (damaged); rebuild it", field="corpus"
        )
    if limit is not None:
        songs = sorted({song for p in pieces if (song := song_of(p.name)) is not None})[:limit]
        pieces = [p for p in pieces if song_of(p.name) in set(songs)]
    if summary is not None:
        saved = data.get("summary", {})
        summary.files = len({song_of(p.name) for p in pieces}) if limit is not None else saved.get("files", 0)
        summary.skipped.update(saved.get("skipped", {}) if limit is None else {})
    return pieces
