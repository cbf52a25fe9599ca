"""`chords`: the chords a MIDI clip plays, as a recipe's melody and bass would follow them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from lofictl.cli.common import app, out, user_errors
from lofictl.errors import LofictlError


@app.command()
@user_errors
def chords(
    clip: Path = typer.Argument(..., help="A MIDI file of your own chords.", show_default=False),
    changes: str = typer.Option("bar", "--changes", help="How often chords are read: bar, half-bar or beat."),
    track: Optional[str] = typer.Option(None, "--track", help="One track, by name or 0-based number."),
    key: Optional[str] = typer.Option(None, "--key", help="The key, for close calls (default: the file's)."),
) -> None:
    """The chords a MIDI clip plays, as a recipe's melody and bass would follow them."""
    from lofictl.compose import theory
    from lofictl.compose.harmony import CHANGES, detect_chords
    from lofictl.export import midi

    if changes not in CHANGES:
        raise LofictlError(f"--changes must be one of {', '.join(CHANGES)} (got {changes!r})")
    picked = int(track) if track is not None and track.isdigit() else track
    notes = midi.read_midi_clip(clip, picked)
    facts = midi.midi_to_score(clip)
    try:
        parsed = theory.parse_key(key or facts.key)
    except theory.TheoryError as exc:
        raise LofictlError(str(exc), field="key") from None
    bpb = facts.beats_per_bar
    bars = max(1, math.ceil(max(n.end for n in notes) / bpb - 1e-9))  # the clip, in whole bars
    events = detect_chords(notes, bars * bpb, bpb, changes, parsed)
    for event in events:
        bar, beat = divmod(event.start, bpb)
        at = f"bar {int(bar) + 1}" + (f" beat {beat + 1:g}" if beat > 1e-9 else "")
        out.print(f"{at:>16}  {event.symbol:<10} {event.duration:g} beats")
    out.print("as a progression: " + " ".join(f"{e.symbol}:{e.duration:g}" for e in events))
