"""Into the DAW: what the REAPER and DAWproject writers and the stems sidecar share.

A build hands over a `DawExport`: the Score, and the stem WAV files it wrote. Each stem says
what is printed into it (`kind`), and `mixer_settings` turns that into a track's fader, pan
and mute, so the recipe's gain and pan reach every signal path exactly once:

    wet      effects, gain and pan printed      unity fader, centre, plays (unless muted in the recipe)
    overlay  ambience with its gain printed     unity fader, centre, plays
    dry      the instrument alone               the recipe's gain and pan on the fader, muted
    mix      the mastered full mix              unity, muted (a reference to A/B against)

So opening the project plays the same pre-master mix lofictl made, and un-muting a dry stem
(after muting its wet twin) starts from the recipe's balance with the effects left to redo.
The MIDI of each Score track goes on its own muted track.

The writers are export.reaper (.rpp) and export.dawproject (.dawproject); export.sidecar writes
the stems JSON. Both project formats are written from plain text / XML with fixed ordering (and
fixed zip timestamps), so the same inputs give the same bytes; the stable numbers (`num`), the
track order (`lane_order`), the section markers and the tempo points they share are here, with the
stem file-name conventions.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lofictl.compose.score import Score, Track
from lofictl.errors import LofictlError

StemKind = Literal["wet", "dry", "overlay", "mix"]
STEM_KINDS = ("wet", "dry", "overlay", "mix")


@dataclass(frozen=True)
class StemInfo:
    """One audio file of a build as the DAW should see it."""

    track: str  # the track (or overlay) it came from, as named in the recipe
    path: Path  # the WAV; relative paths are relative to the project file's folder
    kind: StemKind = "wet"
    gain_db: float = 0.0  # the recipe's gain and pan; used on the fader only for dry stems
    pan: float = 0.0
    muted: bool = False  # muted (or not soloed) in the recipe, so not in the mix

    def __post_init__(self) -> None:
        if self.kind not in STEM_KINDS:
            raise LofictlError(f"stem kind must be one of {', '.join(STEM_KINDS)} (got {self.kind!r})")


@dataclass(frozen=True)
class DawExport:
    """Everything a project file holds: the music, the stems, and the names to show."""

    title: str
    score: Score
    stems: tuple[StemInfo, ...]
    sample_rate: int


@dataclass(frozen=True)
class Media:
    """What the project needs to know about an audio file."""

    seconds: float
    channels: int
    sample_rate: int


# --- shared rules ---------------------------------------------------------------------------


def mixer_settings(stem: StemInfo) -> tuple[float, float, bool]:
    """(fader dB, pan, muted) for a stem's track; see the table in the module docstring."""
    if stem.kind == "dry":
        return stem.gain_db, stem.pan, True
    if stem.kind == "mix":
        return 0.0, 0.0, True
    return 0.0, 0.0, stem.muted


def display_name(stem: StemInfo) -> str:
    if stem.kind == "dry":
        return f"{stem.track} (dry)"
    if stem.kind == "mix":
        return f"{stem.track} (mix reference)"
    return stem.track


def lane_order(export: DawExport) -> list[StemInfo | Track]:
    """Track order in both formats: stems (audio) as given, then the MIDI parts (score Tracks),
    the mix last."""
    audio: list[StemInfo | Track] = [stem for stem in export.stems if stem.kind != "mix"]
    parts: list[StemInfo | Track] = list(export.score.tracks)
    mixes: list[StemInfo | Track] = [stem for stem in export.stems if stem.kind == "mix"]
    return audio + parts + mixes


def num(value: float) -> str:
    """A stable, short decimal: at most 9 places, no trailing zeros, never '-0'."""
    if not math.isfinite(value):
        raise LofictlError(f"cannot write the number {value} into a project file")
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def section_markers(score: Score) -> list[tuple[str, float]]:
    """(name, start in beats) of every section, in time order."""
    return [
        (section.name, section.start_bar * score.beats_per_bar)
        for section in sorted(score.sections, key=lambda s: (s.start_bar, s.name))
    ]


def probe_media(path: Path) -> Media:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError) as exc:  # soundfile raises RuntimeError for unreadable files
        raise LofictlError(f"cannot read stem {path} for the project file: {exc}") from None
    return Media(info.frames / info.samplerate, info.channels, info.samplerate)


def resolve_stem(project_dir: Path, stem: StemInfo) -> Path:
    return stem.path if Path(stem.path).is_absolute() else project_dir / stem.path


def relative_stem(project_dir: Path, stem: StemInfo) -> str:
    """The stem as the project file names it: relative to the project's folder, '/' separated."""
    target = resolve_stem(project_dir, stem)
    return Path(os.path.relpath(target, project_dir)).as_posix()


# --- stem conventions -----------------------------------------------------------------------


def _safe_field(text: str, fallback: str) -> str:
    """Letters, digits, '.', '-' only: '_' separates the fields of a stem name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = ascii_text.replace("#", "sharp")
    cleaned = re.sub(r"[^A-Za-z0-9.]+", "-", ascii_text).strip("-.")
    return cleaned or fallback


def _key_field(key: str) -> str:
    """'D minor' → 'Dmin', 'F# major' → 'Fsharpmaj', 'E dorian' → 'Edorian'."""
    parts = key.split()
    tonic = parts[0] if parts else "C"
    mode = " ".join(parts[1:]).lower() if len(parts) > 1 else "major"
    mode = {"minor": "min", "major": "maj"}.get(mode, mode)
    return _safe_field(tonic + mode, "key")


def stem_file_name(title: str, number: int, track: str, key: str, bpm: float) -> str:
    """`<Title>_<NN>_<Track>_<Key>_<BPM>bpm.wav`, as stem-delivery guides ask, in safe characters.

    >>> stem_file_name("Rainy Night", 1, "chords", "D minor", 72)
    'Rainy-Night_01_chords_Dmin_72bpm.wav'
    """
    if number < 0:
        raise LofictlError(f"a stem number cannot be negative (got {number})")
    return (
        f"{_safe_field(title, 'untitled')}_{number:02d}_{_safe_field(track, 'track')}_"
        f"{_key_field(key)}_{num(round(bpm, 3))}bpm.wav"
    )


def tempo_points(score: Score) -> list[tuple[float, float]]:
    """(beat, BPM) of the tempo map, from the start: what the DAW's tempo track gets."""
    return [(0.0, score.tempo), *score.tempo_changes]


__all__ = [
    "STEM_KINDS",
    "DawExport",
    "Media",
    "StemInfo",
    "display_name",
    "lane_order",
    "mixer_settings",
    "num",
    "probe_media",
    "relative_stem",
    "resolve_stem",
    "section_markers",
    "stem_file_name",
    "tempo_points",
]
