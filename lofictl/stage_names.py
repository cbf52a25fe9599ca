"""The names of a build's stages, as the lock, the cache and the recipe's field marks spell them.

The stages themselves (what each reads, its code version and modules, the step that runs it) are
rows of pipeline.stages.STAGES; the names live here, below everything, so that the recipe schema
can mark each field with the stages it reaches without importing the build.
"""

from __future__ import annotations

COMPOSE = "compose"  # chords, melody, bass, drums → score.json
MIDI = "midi"  # score → MIDI files and the piano roll
STEM = "stem"  # one per track: stem:<track>
OVERLAYS = "overlays"
BUS = "bus"  # the shared reverb send
MIX = "mix"  # the master
DRY = "dry"  # one per track: dry:<track>
EXPORT = "export"  # the output folder's audio files and DAW projects

ALL = (COMPOSE, MIDI, STEM, OVERLAYS, BUS, MIX, DRY, EXPORT)


def of_track(kind: str, track: str) -> str:
    """The name of a per-track stage's instance in the lock: stem:<track>, dry:<track>."""
    return f"{kind}:{track}"


def kind_of(name: str) -> str:
    """The stage a lock's stage name belongs to: stem:chords → stem."""
    return name.split(":")[0]
