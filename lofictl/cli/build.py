"""`validate`, `schema`, `build`, `verify`, `diff`: a recipe checked, built and compared with its lock."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from lofictl.cli.cache import auto_prune
from lofictl.cli.common import app, console, esc, out, user_errors
from lofictl.errors import EXIT_USER_ERROR, LofictlError

if TYPE_CHECKING:
    from lofictl.api import Build, Loudness


@app.command()
@user_errors
def validate(recipes: list[Path] = typer.Argument(..., help="Recipe files to check.", show_default=False)) -> None:
    """Check recipes (and station or album files) without building: schema, chords, SoundFonts,
    presets, effects, files.

    Every problem in every recipe is reported (one line each); exit 2 if there was any.
    """
    from lofictl.api import check

    failed = False
    for path in recipes:
        checked = check(path)
        if checked.problems:
            failed = True
            for problem in checked.problems:
                console.print(f"[bold red]error:[/] {esc(problem)}", soft_wrap=True, markup=True, highlight=False)
            continue
        out.print(f"[green]ok[/] {esc(path)}: {esc(checked.description)}")
    if failed:
        raise typer.Exit(EXIT_USER_ERROR)


@app.command()
@user_errors
def schema() -> None:
    """Print the recipe JSON Schema (for yaml-language-server autocompletion)."""
    from lofictl.recipe.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command()
@user_errors
def build(
    recipes: list[Path] = typer.Argument(..., help="Recipe files to build.", show_default=False),
    out_dir: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output folder (default: the recipe's output.dir); the lock file is then not updated."
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a recipe field, e.g. --set tempo=80 (repeatable)."),
    midi_only: bool = typer.Option(False, "--midi-only", help="Stop after writing MIDI and the piano roll."),
    jobs: Optional[int] = typer.Option(
        None,
        "--jobs",
        "-j",
        min=1,
        max=64,
        help="Parallel: stems and encoders of "
        "one recipe (threads; default: the CPU count), or recipes of a batch (a Dask "
        "LocalCluster with this many workers; default: one after another).",
    ),
    scheduler: Optional[str] = typer.Option(
        None,
        "--scheduler",
        help="Build the recipes of a batch on an existing "
        "Dask cluster, e.g. tcp://10.0.0.5:8786 (workers see the project at "
        "the same path).",
    ),
    cache_dir: Optional[str] = typer.Option(
        None,
        "--cache",
        help="The stage cache: a folder (default: .lofictl-cache in the project; a shared one for a "
        "cluster), or an fsspec URL (s3://..., file://...) shared behind the local cache.",
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every stage; don't read or write the cache."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout instead of a table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Build recipes: MIDI, stems, mastered track, piano roll and the lock file beside the recipe."""
    from lofictl.api import build_all
    from lofictl.cluster.shared_cache import is_url

    recipes = _without_stations(recipes)
    results = build_all(
        recipes,
        set=set_,
        out=out_dir,
        midi_only=midi_only,
        jobs=jobs,
        use_cache=not no_cache,
        quiet=quiet or json_out,
        scheduler=scheduler,
        cache=cache_dir,
    )
    from lofictl.pipeline.cache import CACHE_DIR_NAME
    from lofictl.recipe.load import project_root_for

    if cache_dir is not None and not is_url(cache_dir):
        auto_prune(Path(cache_dir))
    else:  # the project's own cache (the local one behind a URL)
        for root in sorted({project_root_for(path) / CACHE_DIR_NAME for path in recipes}):
            auto_prune(root)
    if json_out:
        summary = [r.summary() for r in results]
        sys.stdout.write(json.dumps(summary[0] if len(summary) == 1 else summary, indent=2, sort_keys=True) + "\n")
        return
    for result in results:
        _print_summary(result)


def loudness_words(loudness: Loudness | None) -> str:
    """'; master -14.0 LUFS, true peak -1.2 dBTP', or what there is of it (a silent master has none)."""
    if loudness is None:
        return ""
    lufs, peak = loudness.integrated_lufs, loudness.true_peak_dbtp
    if lufs is None:
        return "; the master is silent (every track muted or quiet)"
    words = f"; master {lufs:.1f} LUFS"
    return words + (f", true peak {peak:.1f} dBTP" if peak is not None else "")


def _without_stations(paths: list[Path]) -> list[Path]:
    """`lofictl build recipes/*.yaml` next to a radio station file: leave the station out, and say
    so. A station given alone stays, so the recipe loader explains what it is."""
    from lofictl.radio.station import is_station_file

    stations = [path for path in paths if is_station_file(path)]
    if not stations or len(stations) == len(paths):
        return paths
    for path in stations:
        console.print(f"skipped {path}: a radio station, not a recipe (play it with `lofictl radio {path}`)")
    return [path for path in paths if path not in stations]


def music_words(seconds: float) -> str:
    """40.0 s; 613.3 s (10m13.3s): the README and the build say a long track's length alike."""
    from lofictl.recipe.load import clock

    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds:.1f} s ({clock(seconds)})"


def _print_summary(result: Build) -> None:
    from rich.table import Table

    if result.up_to_date:
        out.print(
            f"[green]up to date[/] {esc(result.title)} → {esc(result.out_dir)} ({result.elapsed_s:.1f} s; nothing changed "
            "since the lock)"
        )
        return
    for reason in result.reasons:
        out.print(f"  [dim]re-ran {esc(reason)}[/]")
    table = Table(title=esc(f"{result.title} → {result.out_dir}"), show_header=True, header_style="bold")
    table.add_column("output")
    table.add_column("size", justify="right")
    for item in result.outputs:
        table.add_row(esc(item.name), f"{item.bytes / 1024:,.0f} KiB")
    out.print(table)
    tempo = f"{result.tempo:g}" if not result.tempo_range else "{:g}–{:g}".format(*result.tempo_range)
    # One rule everywhere: the music is the bars at their tempo; audio files add the release tail.
    tail = result.duration_s - result.music_s
    files = f" (audio {result.duration_s:.1f} s with the {tail:g} s release tail)" if tail > 1e-6 else ""
    line = (
        f"{result.bars} bars, {music_words(result.music_s)} of music{files} at {tempo} BPM; "
        f"built in {result.elapsed_s:.1f} s ({len(result.ran)} stages ran, {len(result.restored)} from cache)"
    )
    out.print(line + loudness_words(result.loudness))
    if result.lock_path:
        out.print(f"lock: {esc(result.lock_path)}")


@app.command()
@user_errors
def verify(
    recipes: list[Path] = typer.Argument(..., help="Recipes or albums whose lock files to check.", show_default=False),
    jobs: Optional[int] = typer.Option(
        None,
        "--jobs",
        "-j",
        min=1,
        max=64,
        help="As for build and album: a recipe's stems and encoders in threads (default: the CPU count); an "
        "album's tracks on a LocalCluster with this many workers (default: 1, in this process).",
    ),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="An album's tracks on this Dask scheduler."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Rebuild from scratch (no cache) in a temporary folder and compare every hash with the lock.

    Works on recipes and on album files. Exit 0 when identical, 1 when something differs, 2 on an error.
    """
    from lofictl.api import verify as verify_one

    results = [
        verify_one(path, jobs=jobs, scheduler=scheduler, quiet=quiet or json_out) for path in _without_stations(recipes)
    ]
    if json_out:
        reports = [result.report() for result in results]
        sys.stdout.write(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2, sort_keys=True) + "\n")
    else:
        for result in results:
            if result.identical:
                out.print(f"[green]identical[/] {esc(result.recipe)}: {len(result.checked)} outputs match the lock")
            else:
                out.print(f"[red]different[/] {esc(result.recipe)}: {len(result.differences)} output(s) differ")
                for rel in result.differences:
                    out.print(f"    {esc(rel)}")
                out.print(f"  first stage that differs: {esc(result.first_stage)}")
                for cause in result.likely_causes:
                    out.print(f"  likely cause: {esc(cause)}")
    if not all(result.identical for result in results):
        raise typer.Exit(1)


@app.command()
@user_errors
def diff(
    targets: list[Path] = typer.Argument(
        ..., help="A recipe (compared with its lock), or two build folders.", show_default=False
    ),
    set_: list[str] = typer.Option([], "--set", help="Overrides, as for build."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report on stdout."),
) -> None:
    """What changed since the lock and which stages a build will re-run; or compare two builds."""
    from lofictl.api import diff as diff_recipe
    from lofictl.pipeline import verify as v

    if len(targets) == 1 and targets[0].is_file():
        changes = diff_recipe(targets[0], set=set_)
        if json_out:
            sys.stdout.write(json.dumps(changes.report(), indent=2, sort_keys=True) + "\n")
            return
        if not changes.rerun:
            out.print("nothing changed since the lock: a build would restore everything")
        for stage in changes.stages:
            if stage.rerun:
                why = ", ".join(stage.changed) or "an upstream stage changed"
                out.print(f"[yellow]{esc(stage.stage)}[/]: {esc(why)}")
        if changes.rerun:
            out.print("will re-run: " + esc(", ".join(changes.rerun)))
    elif len(targets) == 2:
        report = v.diff_builds(targets[0], targets[1])
        if json_out:
            sys.stdout.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
            return
        for name, change in report["midi"].items():
            out.print(
                f"[bold]{esc(name)}[/]: {change['same']} notes the same, {change['count_a']} only in A, "
                f"{change['count_b']} only in B"
            )
        for name, level in report["audio"].items():
            shown = "identical (null test silent)" if level is None else f"difference at {level:.1f} dBFS RMS"
            out.print(f"[bold]{esc(name)}[/]: {shown}")
    else:
        raise LofictlError("diff takes a recipe, or two build folders")
