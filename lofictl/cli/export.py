"""`inspect`: the provenance written into a built file."""

from __future__ import annotations

from pathlib import Path

import typer

from lofictl.cli.common import app, esc, out, user_errors


@app.command()
@user_errors
def inspect(
    file: Path = typer.Argument(..., help="A WAV, FLAC, MP3 or MIDI file made by lofictl.", show_default=False),
) -> None:
    """Print the provenance written into a file: recipe, seed, stage key, models, and its tags."""
    from lofictl.pipeline.verify import read_provenance

    info = read_provenance(file)
    for key in sorted(info):
        out.print(f"{esc(key)}: {esc(info[key])}")
