"""`analyze`: what a built track (or a reference file) does, in numbers a producer reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from lofictl.cli.common import app, out, user_errors


@app.command()
@user_errors
def analyze(
    targets: list[Path] = typer.Argument(
        ...,
        help="A build folder, or a reference track you like: a WAV/FLAC/MP3 or a MIDI file. "
        "Several: one line each, side by side.",
        show_default=False,
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Per-stem loudness and band shares, the melody under the keys, off-beat positions and the
    flam between parts, drum velocities per lane, hits per bar per section."""
    from lofictl.analysis.track import analyze as run
    from lofictl.analysis.track import format_report, format_summary
    from lofictl.models.report import rounded

    reports = [rounded(run(target)) for target in targets]  # every target read before anything is printed
    if json_out:
        sys.stdout.write(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2, sort_keys=True) + "\n")
    elif len(reports) == 1:
        out.print(format_report(reports[0]), end="", markup=False)
    else:
        out.print(format_summary(reports), end="", markup=False)
