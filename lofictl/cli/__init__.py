"""The command line: a thin Typer layer over plain functions.

Every LofictlError becomes one line on stderr and exit code 2; heavy libraries (JAX,
FluidSynth, Pedalboard) are imported inside commands so `lofictl --help` stays quick.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape

from lofictl import __version__
from lofictl.errors import EXIT_USER_ERROR, LofictlError

console = Console(stderr=True, highlight=False)


def esc(value: object) -> str:
    """User text (titles, keys, paths, messages) as rich shows it literally: `[/]` is not markup."""
    return escape(str(value))


out = Console(highlight=False)

app = typer.Typer(
    name="lofictl",
    help="Reproducible lo-fi tracks from YAML recipes: compose, render stems, mix and master.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def user_errors(command: Callable) -> Callable:
    """Turn a LofictlError into `error: file:line: field: message` and exit code 2, and an
    interrupt (Ctrl-C, SIGTERM: remembered however a library wraps it) into one line and 130/143."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from lofictl.safety import interrupts

        try:
            with interrupts.guard():
                return command(*args, **kwargs)
        except typer.Exit:
            raise
        except BaseException as exc:
            if interrupts.pending() or isinstance(exc, KeyboardInterrupt):
                console.print("[yellow]interrupted:[/] stopped; earlier outputs and locks are unchanged")
                # Leave without interpreter teardown: JAX's threads can crash it (SIGSEGV) after a stop.
                interrupts.quiet_exit(interrupts.exit_code())
            if isinstance(exc, LofictlError):  # several mistakes: a line each
                for line in str(exc).splitlines() or [""]:
                    console.print(f"[bold red]error:[/] {esc(line)}", soft_wrap=True, markup=True, highlight=False)
                raise typer.Exit(EXIT_USER_ERROR) from None
            if isinstance(exc, OSError):  # the environment (a full disk, a read-only folder), not the recipe
                from lofictl.build.runner import describe_os_error

                console.print(f"[bold red]error:[/] {esc(describe_os_error(exc))}", soft_wrap=True)
                raise typer.Exit(EXIT_USER_ERROR) from None
            raise

    return wrapper


def _version(value: bool) -> None:
    if value:
        out.print(f"lofictl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """lofictl builds a finished lo-fi track from a recipe: MIDI, stems, master, lock file."""


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
                    album = load_album(path).album
                    out.print(f"[green]ok[/] {esc(path)}: album {esc(repr(album.title))}")
            except LofictlError as exc:
                failed = True
                console.print(f"[bold red]error:[/] {esc(exc)}", soft_wrap=True, markup=True, highlight=False)
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
        _auto_prune(root)
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
    line = (
        f"{result.bars} bars, {result.duration_s:.1f} s of music at {tempo} BPM; "
        f"built in {result.elapsed_s:.1f} s ({len(result.ran)} stages ran, {len(result.restored)} from cache)"
    )
    out.print(line + loudness_words(result.loudness))
    if result.lock_path:
        out.print(f"lock: {esc(result.lock_path)}")


@app.command()
@user_errors
def verify(
    recipes: list[Path] = typer.Argument(..., help="Recipes or albums whose lock files to check.", show_default=False),
    jobs: int = typer.Option(
        1, "--jobs", "-j", min=1, max=64, help="Stems rendered in parallel (an album: LocalCluster workers)."
    ),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="An album's tracks on this Dask scheduler."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report on stdout."),
) -> None:
    """Rebuild from scratch (no cache) in a temporary folder and compare every hash with the lock.

    Works on recipes and on album files. Exit 0 when identical, 1 when something differs, 2 on an error.
    """
    from lofictl.album.schema import is_album_file
    from lofictl.build.verify import verify_recipe

    def check(path: Path) -> dict:
        if is_album_file(path):
            from lofictl.album.run import verify_album

            return verify_album(path, jobs=jobs, scheduler=scheduler)
        return verify_recipe(path, jobs=jobs)

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
                f"[bold]{esc(name)}[/]: {change['same']} notes the same, {len(change['only_a'])} only in A, "
                f"{len(change['only_b'])} only in B"
            )
        for name, level in report["audio"].items():
            shown = "identical (null test silent)" if level is None else f"difference at {level:.1f} dBFS RMS"
            out.print(f"[bold]{esc(name)}[/]: {shown}")
    else:
        raise LofictlError("diff takes a recipe, or two build folders")


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


cache_app = typer.Typer(help="The stage cache (.lofictl-cache in the project).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _cache_for(project: Path):
    from lofictl.build.cache import CACHE_DIR_NAME, Cache

    return Cache(project.resolve() / CACHE_DIR_NAME)


@cache_app.command("info")
@user_errors
def cache_info(project: Path = typer.Option(Path("."), "--project", help="The project folder.")) -> None:
    """Where the cache is and how big."""
    info = _cache_for(project).info()
    out.print(
        f"{esc(info['path'])}: {info['stages']} stage entries, {info['objects']} objects, {info['bytes'] / 1e6:.1f} MB"
    )


@cache_app.command("prune")
@user_errors
def cache_prune(
    max_size: str = typer.Option(
        ..., "--max", help="Keep at most this much, e.g. 2GB, 500MB, 1.5GiB.", show_default=False
    ),
    project: Path = typer.Option(Path("."), "--project", help="The project folder."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache", help="A cache folder elsewhere (a shared one)."),
) -> None:
    """Shrink the cache to a size, dropping the least recently used stages first.

    Set LOFICTL_CACHE_MAX (e.g. 2GB) to prune like this after every build and album.
    """
    from lofictl.build.cache import Cache, parse_size

    try:
        limit = parse_size(max_size)
    except ValueError as exc:
        raise LofictlError(str(exc), field="--max") from None
    cache = Cache(cache_dir.resolve()) if cache_dir else _cache_for(project)
    report = cache.prune(limit)
    out.print(
        f"{cache.root}: removed {report['entries_removed']} stage entries and {report['objects_removed']} "
        f"objects ({report['bytes_freed'] / 1e6:.1f} MB); {report['bytes_kept'] / 1e6:.1f} MB kept"
    )


def _auto_prune(root: Path) -> None:
    """After a build: prune to $LOFICTL_CACHE_MAX when it is set."""
    import os

    from lofictl.build.cache import Cache, parse_size

    limit = os.environ.get("LOFICTL_CACHE_MAX")
    if not limit:
        return
    try:
        Cache(root).prune(parse_size(limit))
    except ValueError as exc:
        raise LofictlError(str(exc), field="LOFICTL_CACHE_MAX") from None


@cache_app.command("clear")
@user_errors
def cache_clear(project: Path = typer.Option(Path("."), "--project", help="The project folder.")) -> None:
    """Delete the cache (builds still work; the next one runs every stage)."""
    cache = _cache_for(project)
    info = cache.info()
    cache.clear()
    out.print(f"removed {esc(info['path'])} ({info['bytes'] / 1e6:.1f} MB)")


@app.command()
@user_errors
def inspect(
    file: Path = typer.Argument(..., help="A WAV, FLAC, MP3 or MIDI file made by lofictl.", show_default=False),
) -> None:
    """Print the provenance written into a file: recipe, seed, stage key, models, and its tags."""
    from lofictl.build.verify import read_provenance

    info = read_provenance(file)
    for key in sorted(info):
        out.print(f"{esc(key)}: {esc(info[key])}")


@app.command()
@user_errors
def album(
    album_file: Path = typer.Argument(..., help="An album file (YAML, lofictl_album: 1).", show_default=False),
    jobs: int = typer.Option(
        1,
        "--jobs",
        "-j",
        min=1,
        max=64,
        help="Tracks built on a Dask LocalCluster with this many worker processes (1: in this process).",
    ),
    scheduler: Optional[str] = typer.Option(
        None,
        "--scheduler",
        help="An existing Dask cluster, e.g. "
        "tcp://10.0.0.5:8786; its workers must see the project at the same "
        "path, and share the cache (--cache).",
    ),
    cache_dir: Optional[str] = typer.Option(
        None,
        "--cache",
        help="The stage cache: a folder (default: "
        ".lofictl-cache in the project; a shared one for a cluster), or an "
        "fsspec URL (s3://..., file://...) shared behind the local cache.",
    ),
    out_dir: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output folder (default: the album's output.dir); the lock file is then not updated."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Build everything afresh (an empty cache)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> None:
    """Build an album: every track, tagged files with cover art, the continuous mix, CUE, chapters, video."""
    from lofictl.album.run import build_album

    result = build_album(
        album_file,
        jobs=jobs,
        scheduler=scheduler,
        out_dir=out_dir,
        use_cache=not no_cache,
        cache_dir=cache_dir,
        quiet=quiet or json_out,
    )
    from lofictl.build.cache import CACHE_DIR_NAME
    from lofictl.cluster.shared_cache import is_url
    from lofictl.recipe.load import project_root_for

    local = cache_dir if cache_dir and not is_url(cache_dir) else project_root_for(album_file) / CACHE_DIR_NAME
    _auto_prune(Path(local).resolve())
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if json_out:
        sys.stdout.write(json.dumps(result.summary(), indent=2, sort_keys=True) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"{escape(result.title)} → {result.out_dir}", header_style="bold")
    table.add_column("output")
    table.add_column("size", justify="right")
    for rel, info in result.lock["outputs"].items():
        table.add_row(escape(rel), f"{info['bytes'] / 1024:,.0f} KiB")
    out.print(table)
    minutes, seconds = divmod(round(result.duration_s), 60)
    out.print(
        f"{result.tracks} tracks, {minutes}:{seconds:02d} of music; built in {result.elapsed_s:.1f} s ({result.runner})"
    )
    if result.lock_path:
        out.print(f"lock: {result.lock_path}")


@app.command()
@user_errors
def doctor() -> None:
    """Check the set-up: FluidSynth, SoundFonts on the search path, JAX backend, libraries."""
    import importlib.metadata as md

    from lofictl.sound import soundfonts

    ok = True
    try:
        from lofictl.sound.render import fluidsynth_version

        out.print(f"[green]✓[/] FluidSynth library {fluidsynth_version()}")
    except LofictlError as exc:
        ok = False
        out.print(f"[red]✗[/] {esc(exc)}")
    fonts = soundfonts.list_all_soundfonts(Path.cwd() / "recipes")
    if fonts:
        out.print(f"[green]✓[/] {len(fonts)} SoundFont(s) on the search path:")
        for font in fonts:
            out.print(f"    {esc(font)}")
    else:
        ok = False
        out.print("[red]✗[/] no SoundFont found; install fluid-soundfont-gm or set $LOFICTL_SF2_PATH")
    out.print("    search path: " + esc(", ".join(str(p) for p in soundfonts.search_path(Path.cwd() / "recipes"))))
    try:
        import jax

        out.print(
            f"[green]✓[/] JAX {jax.__version__} on {jax.default_backend()} ({', '.join(str(d) for d in jax.devices())})"
        )
    except Exception as exc:  # noqa: BLE001 - doctor reports whatever is wrong
        ok = False
        out.print(f"[red]✗[/] JAX: {esc(exc)}")
    versions = []
    for package in ("flax", "optax", "pedalboard", "pyfluidsynth", "mido", "numpy", "pydantic"):
        try:
            versions.append(f"{package} {md.version(package)}")
        except md.PackageNotFoundError:
            ok = False
            versions.append(f"{package} MISSING")
    out.print("    " + ", ".join(versions))
    if not ok:
        raise typer.Exit(1)


@app.command()
@user_errors
def instruments(
    soundfont: Optional[str] = typer.Argument(None, help="A SoundFont file name or path (default: all found)."),
    search: Optional[str] = typer.Option(None, "--search", "-s", help="Only presets whose name contains this."),
) -> None:
    """List the presets of SoundFonts (bank:program and name)."""
    from lofictl.sound import soundfonts

    recipe_dir = Path.cwd() / "recipes"
    fonts = (
        [soundfonts.find_soundfont(soundfont, recipe_dir)] if soundfont else soundfonts.list_all_soundfonts(recipe_dir)
    )
    if not fonts:
        raise LofictlError("no SoundFont found on the search path (see `lofictl doctor`)")
    shown = 0
    for font in fonts:
        presets = soundfonts.list_presets(font)
        if search:
            presets = [
                p
                for p in presets
                if search.lower() in p.name.lower() or search.lower() in (soundfonts.gm_name(p) or "").lower()
            ]
        if not presets:
            continue
        out.print(f"[bold]{esc(font)}[/]")
        for preset in presets:
            out.print(f"  {preset.bank:3d}:{preset.program:<3d}  {esc(preset.name)}")
            shown += 1
    if shown == 0:
        raise LofictlError(f"no preset matches {search!r}" if search else "no presets found")


@app.command()
@user_errors
def effects(plugin: Optional[str] = typer.Argument(None, help="Show one plugin or preset in detail.")) -> None:
    """List Pedalboard plugins with their parameters and ranges, lo-fi presets, and overlay files."""
    from lofictl.sound import effects as fx

    infos = {info.name: info for info in fx.describe_plugins()}
    presets = fx.describe_presets()
    if plugin is not None and plugin not in infos and plugin not in presets:
        from lofictl.errors import did_you_mean

        raise LofictlError(f"no plugin or preset named {plugin!r}{did_you_mean(plugin, [*infos, *presets])}")
    for name, info in infos.items():
        if plugin is not None and name != plugin:
            continue
        out.print(f"[bold]{esc(name)}[/]  {esc(info.summary)}")
        for param in info.params:
            detail = ", ".join(param.choices) if param.choices else (param.range or param.kind)
            out.print(f"    {esc(param.name)} = {esc(repr(param.default))}   [dim]({esc(detail)})[/]")
    for name, chain in presets.items():
        if plugin is not None and name != plugin:
            continue
        steps = ", ".join(f"{step_name}{params or ''}" for step in chain for step_name, params in step.items())
        out.print(f"[bold]preset {esc(name)}[/]: {esc(steps)}")
    if plugin is None:
        overlays = sorted(
            p for p in (Path.cwd() / "effects").glob("*") if p.suffix.lower() in (".wav", ".flac", ".mp3")
        )
        out.print("[bold]overlay files[/] in effects/: " + esc(", ".join(p.name for p in overlays) or "none"))
        out.print(esc("procedural ambience: rain, vinyl, hiss (overlays: [{ambience: rain}])"))


def _register_extras() -> None:
    """Commands whose code lives with their feature: `new` (wizard) and `train` (models)."""
    from lofictl.models import evaluate, quality
    from lofictl.recipe import wizard

    app.command("new")(user_errors(wizard.new_command))
    app.command("eval")(user_errors(quality.eval_command))
    app.command("eval-midi")(user_errors(evaluate.eval_midi_command))
    app.command("eval-index")(user_errors(evaluate.eval_index_command))
    try:
        from lofictl.models.train.command import train_app
    except ImportError:  # pragma: no cover - the models package is part of lofictl
        return
    for command in train_app.registered_commands:
        command.callback = user_errors(command.callback)
    app.add_typer(train_app, name="train")


def _register_radio() -> None:
    from lofictl.radio.command import radio_app

    for command in radio_app.registered_commands:
        command.callback = user_errors(command.callback)
    app.add_typer(radio_app, name="radio")


_register_extras()
_register_radio()
