"""`validate`, `schema`, `build`, `verify`, `diff`: a recipe checked, built and compared with its lock."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from lofictl.cli.cache import auto_prune
from lofictl.cli.common import app, console, esc, out, user_errors
from lofictl.errors import EXIT_USER_ERROR, LofictlError


@app.command()
@user_errors
def validate(recipes: list[Path] = typer.Argument(..., help="Recipe files to check.", show_default=False)) -> None:
    """Check recipes (and station or album files) without building: schema, chords, SoundFonts,
    presets, effects, files.

    Every problem in every recipe is reported (one line each); exit 2 if there was any.
    """
    from lofictl.album.schema import is_album_file, load_album
    from lofictl.build.runner import prepare
    from lofictl.errors import all_errors
    from lofictl.radio.station import is_station_file, load_station
    from lofictl.recipe.load import read_recipe_problems

    failed = False
    for path in recipes:
        if is_station_file(path) or is_album_file(path):
            try:
                if is_station_file(path):
                    station = load_station(path).station
                    out.print(
                        f"[green]ok[/] {esc(path)}: station {esc(repr(station.title))}, {len(station.recipes)} recipes"
                    )
                else:
                    from lofictl.album.plan import plan_album

                    loaded_album = load_album(path)
                    planned = plan_album(loaded_album)  # what `lofictl album` checks: recipes, set:, names
                    out.print(
                        f"[green]ok[/] {esc(path)}: album {esc(repr(loaded_album.album.title))}, {len(planned)} tracks"
                    )
            except LofictlError as exc:
                failed = True
                for problem in all_errors(exc):
                    console.print(f"[bold red]error:[/] {esc(problem)}", soft_wrap=True, markup=True, highlight=False)
            continue
        loaded, problems = read_recipe_problems(path)
        if loaded is not None:
            try:
                prepare(loaded, deep=True)
            except LofictlError as exc:
                problems += all_errors(exc)
        if problems:
            failed = True
            for problem in sorted(problems, key=lambda p: p.line or 0):
                console.print(f"[bold red]error:[/] {esc(problem)}", soft_wrap=True, markup=True, highlight=False)
            continue
        recipe = loaded.recipe
        out.print(
            f"[green]ok[/] {esc(path)}: {esc(repr(recipe.title))}, {recipe.total_bars} bars, "
            f"{len(recipe.tracks)} tracks"
        )
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
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every stage; don't read or write the cache."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout instead of a table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Build recipes: MIDI, stems, mastered track, piano roll and the lock file beside the recipe."""
    from lofictl.build.batch import build_many

    recipes = _without_stations(recipes)
    if out_dir is not None and len(recipes) > 1:
        raise LofictlError("--out names one folder, so it works with one recipe at a time")
    results = build_many(
        recipes,
        overrides=set_,
        out_dir=out_dir,
        midi_only=midi_only,
        jobs=jobs,
        use_cache=not no_cache,
        quiet=quiet or json_out,
        scheduler=scheduler,
    )
    from lofictl.build.cache import CACHE_DIR_NAME
    from lofictl.recipe.load import project_root_for

    for root in sorted({project_root_for(path) / CACHE_DIR_NAME for path in recipes}):
        auto_prune(root)
    if json_out:
        summary = [r.summary() for r in results]
        sys.stdout.write(json.dumps(summary[0] if len(summary) == 1 else summary, indent=2, sort_keys=True) + "\n")
        return
    for result in results:
        _print_summary(result)


def loudness_words(loudness: dict | None) -> str:
    """'; master -14.0 LUFS, true peak -1.2 dBTP', or what there is of it (a silent master has none)."""
    if loudness is None:
        return ""
    lufs, peak = loudness.get("integrated_lufs"), loudness.get("true_peak_dbtp")
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


def _print_summary(result) -> None:
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
    for rel, size in result.outputs:
        table.add_row(esc(rel), f"{size / 1024:,.0f} KiB")
    out.print(table)
    tempo = f"{result.tempo:g}" if not result.tempo_range else "{:g}–{:g}".format(*result.tempo_range)
    # One rule everywhere: the music is the bars at their tempo; audio files add the release tail.
    tail = result.duration_s - result.music_s
    files = f" (audio {result.duration_s:.1f} s with the {tail:g} s release tail)" if tail > 1e-6 else ""
    line = (
        f"{result.bars} bars, {result.music_s:.1f} s of music{files} at {tempo} BPM; "
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
    from lofictl.album.schema import is_album_file
    from lofictl.build.verify import verify_recipe
    from lofictl.cluster import cpu_threads

    def check(path: Path) -> dict:
        if is_album_file(path):
            from lofictl.album.run import verify_album

            return verify_album(path, jobs=jobs or 1, scheduler=scheduler, quiet=quiet or json_out)
        return verify_recipe(path, jobs=jobs or cpu_threads(), quiet=quiet or json_out)

    reports = [check(path) for path in _without_stations(recipes)]
    if json_out:
        sys.stdout.write(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2, sort_keys=True) + "\n")
    else:
        for report in reports:
            if report["identical"]:
                out.print(
                    f"[green]identical[/] {esc(report['recipe'])}: {len(report['checked'])} outputs match the lock"
                )
            else:
                out.print(f"[red]different[/] {esc(report['recipe'])}: {len(report['differences'])} output(s) differ")
                for rel in report["differences"]:
                    out.print(f"    {esc(rel)}")
                out.print(f"  first stage that differs: {esc(report['first_stage'])}")
                for cause in report["likely_causes"]:
                    out.print(f"  likely cause: {esc(cause)}")
    if not all(report["identical"] for report in reports):
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
    from lofictl.build import verify as v

    if len(targets) == 1 and targets[0].is_file():
        report = v.diff_recipe(targets[0], set_)
        if json_out:
            sys.stdout.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
            return
        if not report["rerun"]:
            out.print("nothing changed since the lock: a build would restore everything")
        for stage in report["stages"]:
            if stage["rerun"]:
                why = ", ".join(stage["changed"]) or "an upstream stage changed"
                out.print(f"[yellow]{esc(stage['stage'])}[/]: {esc(why)}")
        if report["rerun"]:
            out.print("will re-run: " + esc(", ".join(report["rerun"])))
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
