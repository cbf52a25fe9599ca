"""Builders the tests share: where the repository and the test data are, the small recipe most
tests build, tiny projects' files (MIDI clips and songs, noise), and running lofictl in-process
or as a fresh process. Written once here so a test folder never imports another test module.

`support.stage` holds the golden stage test's project, `support.radio` a live station's helpers;
both import from here. The tests find this package because pytest puts tests/ on sys.path
(`pythonpath` in pyproject's [tool.pytest.ini_options]).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import mido
import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"  # checked-in fixtures: DAW projects, POP909 excerpts, the stage golden file


def data_path(*parts: str) -> Path:
    """A file or folder in tests/data/ (which stays put whatever folder a test sits in)."""
    return DATA.joinpath(*parts)


SMALL_RECIPE = """\
lofictl: 1
title: Test Loop
seed: 7
tempo: 90
time_signature: 4/4
key: D minor
length: 4 bars
swing: 0.55
tracks:
  chords:
    part: chords
    progression: "Dm9 G13 Cmaj9 A7b9"
    instrument: {soundfont: FluidR3_GM.sf2, preset: Electric Piano 1}
    effects:
      - LowpassFilter: {cutoff_frequency_hz: 3200}
  bass:
    part: bass
    instrument: {soundfont: FluidR3_GM.sf2, preset: Acoustic Bass}
  drums:
    part: drums
    pattern: boom-bap
    humanize: {timing_ms: 8, velocity: 8}
master:
  loudness_lufs: -16
output: {formats: [wav]}
"""

# A network small enough to write untrained (or train a few steps) in a second.
SMALL_NET = dict(hidden=16, layers=1, embed=8, seq_len=16, batch_size=4)


# --- albums ----------------------------------------------------------------------------------

# The tiny recipe write_album puts in recipes/tiny.yaml, and an album of three tracks of it
# (`{extra}` takes more album fields).
ALBUM_RECIPE = """\
lofictl: 1
title: Tiny Loop
seed: 5
tempo: 120
key: A minor
length: 2 bars
tracks:
  chords: {part: chords, progression: "Am7 Dm7"}
  drums: {part: drums, pattern: boom-bap}
output: {formats: [wav]}
"""

ALBUM = """\
lofictl_album: 1
title: Test Album
artist: Test Artist
year: 2026
genre: Lo-Fi
seed: 11
crossfade: 1 bar
output: {{formats: [flac, mp3], video: {{width: 320, height: 240}}}}
tracks:
  - {{recipe: recipes/tiny.yaml, isrc: US-ABC-26-00001}}
  - {{recipe: recipes/tiny.yaml, count: 2, title: "Loop {{n}}", set: {{tempo: 100}}}}
{extra}"""


def write_album(project: Path, text: str = ALBUM.format(extra=""), name: str = "test") -> Path:
    (project / "recipes").mkdir(exist_ok=True)
    (project / "recipes" / "tiny.yaml").write_text(ALBUM_RECIPE)
    (project / "albums").mkdir(exist_ok=True)
    path = project / "albums" / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# --- files --------------------------------------------------------------------------------------


def file_hashes(folder: Path, *, skip_symlinks: bool = False) -> dict[str, str]:
    """Every file below `folder` (relative POSIX path) with its sha256."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not (skip_symlinks and p.is_symlink())
    }


def write_clip(path: Path, notes: Sequence[int] = (62,), *, ticks_per_beat: int = 480, beats: float = 1.0) -> None:
    """A one-track MIDI clip: `notes` one after another, each `beats` long."""
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    track = mido.MidiTrack()
    for pitch in notes:
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=int(ticks_per_beat * beats)))
    midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(path))


def write_song(
    path: Path,
    tonic: int,
    bars: int = 8,
    variant: int = 0,
    chords_only: bool = False,
    melody_only: bool = False,
    *,
    lead: str | None = "lead",
    steps: Sequence[int] | None = None,
) -> None:
    """A melody of chord tones in quarters on channel 0 over I vi IV V block chords on channel 1, 4/4.

    Each bar's four quarters play chord tones `steps` (indexes into the chord), or, without
    `steps`, tones picked at random seeded by `variant`. `lead` names the melody's track (None:
    no name)."""
    rng = np.random.default_rng(variant)
    mid = mido.MidiFile(ticks_per_beat=96)
    meta = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    melody = mido.MidiTrack([mido.MetaMessage("track_name", name=lead, time=0)] if lead is not None else [])
    chords = mido.MidiTrack()
    mid.tracks += [meta] + ([] if chords_only else [melody]) + ([] if melody_only else [chords])
    progression = [(0, (0, 4, 7)), (9, (0, 3, 7)), (5, (0, 4, 7)), (7, (0, 4, 7))]
    for bar in range(bars):
        root, shape = progression[bar % 4]
        notes = [48 + tonic + root + i for i in shape]
        for n in notes:
            chords.append(mido.Message("note_on", channel=1, note=n, velocity=60, time=0))
        for i, n in enumerate(notes):
            chords.append(mido.Message("note_off", channel=1, note=n, velocity=0, time=384 if i == 0 else 0))
        for step in steps if steps is not None else rng.integers(0, 3, 4):
            pitch = 72 + tonic + root + shape[step] - 12 * (root > 5)
            melody.append(mido.Message("note_on", channel=0, note=pitch, velocity=90, time=0))
            melody.append(mido.Message("note_off", channel=0, note=pitch, velocity=0, time=96))
    mid.save(str(path))


def white_noise(frames: int, level: float, seed: int = 0, channels: int = 2) -> np.ndarray:
    """White noise, float32 (channels, frames), `level` times a standard normal."""
    return (np.random.default_rng(seed).standard_normal((channels, frames)) * level).astype(np.float32)


# --- running lofictl --------------------------------------------------------------------------


def invoke(*args):
    """lofictl's command line in this process (typer's CliRunner); arguments may be paths."""
    from typer.testing import CliRunner

    from lofictl.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def run_lofictl(
    *args, cwd: Path | None = None, env: dict | None = None, timeout: float = 240, check: bool = False
) -> subprocess.CompletedProcess:
    """`python -m lofictl ARGS` in a fresh process, text output captured; `env` adds to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "lofictl", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=check,
    )
