"""The command line: a thin Typer layer over plain functions.

Every LofictlError becomes one line on stderr and exit code 2; heavy libraries (JAX,
FluidSynth, Pedalboard) are imported inside commands so `lofictl --help` stays quick.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape

from . import __version__
from .errors import EXIT_USER_ERROR, LofictlError

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
        from .safety import interrupts

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
            if isinstance(exc, LofictlError):
                console.print(f"[bold red]error:[/] {esc(exc)}", soft_wrap=True, markup=True, highlight=False)
                raise typer.Exit(EXIT_USER_ERROR) from None
            if isinstance(exc, OSError):  # the environment (a full disk, a read-only folder), not the recipe
                from .build import describe_os_error

                console.print(f"[bold red]error:[/] {esc(describe_os_error(exc))}", soft_wrap=True)
                raise typer.Exit(EXIT_USER_ERROR) from None
            raise

    return wrapper


def _version(value: bool) -> None:
    if value:
        out.print(f"lofictl {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """lofictl builds a finished lo-fi track from a recipe: MIDI, stems, master, lock file."""


@app.command()
@user_errors
def validate(recipes: list[Path] = typer.Argument(..., help="Recipe files to check.", show_default=False)) -> None:
    """Check recipes without building: schema, chords, SoundFonts, presets, effects, files."""
    from .build import prepare
    from .recipe import load_recipe

    for path in recipes:
        plan = prepare(load_recipe(path), deep=True)
        out.print(f"[green]ok[/] {esc(path)}: {esc(repr(plan.loaded.recipe.title))}, {plan.loaded.recipe.total_bars} bars, "
                  f"{len(plan.loaded.recipe.tracks)} tracks")


@app.command()
@user_errors
def schema() -> None:
    """Print the recipe JSON Schema (for yaml-language-server autocompletion)."""
    from .recipe import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command()
@user_errors
def build(
    recipes: list[Path] = typer.Argument(..., help="Recipe files to build.", show_default=False),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: the recipe's output.dir); "
                                           "the lock file is then not updated."),
    set_: list[str] = typer.Option([], "--set", help="Override a recipe field, e.g. --set tempo=80 (repeatable)."),
    midi_only: bool = typer.Option(False, "--midi-only", help="Stop after writing MIDI and the piano roll."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=64, help="Parallel processes: stems of a recipe, "
                             "or recipes of a batch."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every stage; don't read or write the cache."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout instead of a table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Build recipes: MIDI, stems, mastered track, piano roll and the lock file beside the recipe."""
    from .batch import build_many

    if out_dir is not None and len(recipes) > 1:
        raise LofictlError("--out names one folder, so it works with one recipe at a time")
    results = build_many(recipes, overrides=set_, out_dir=out_dir, midi_only=midi_only, jobs=jobs,
                         use_cache=not no_cache, quiet=quiet or json_out)
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


def _print_summary(result) -> None:
    from rich.table import Table

    if result.up_to_date:
        out.print(f"[green]up to date[/] {esc(result.title)} → {esc(result.out_dir)} ({result.elapsed_s:.1f} s; nothing changed "
                  "since the lock)")
        return
    for reason in result.reasons:
        out.print(f"  [dim]re-ran {esc(reason)}[/]")
    table = Table(title=esc(f"{result.title} → {result.out_dir}"), show_header=True, header_style="bold")
    table.add_column("output")
    table.add_column("size", justify="right")
    for rel, size in result.outputs:
        table.add_row(esc(rel), f"{size / 1024:,.0f} KiB")
    out.print(table)
    line = (f"{result.bars} bars, {result.duration_s:.1f} s of music at {result.tempo:g} BPM; "
            f"built in {result.elapsed_s:.1f} s ({len(result.ran)} stages ran, {len(result.restored)} from cache)")
    out.print(line + loudness_words(result.loudness))
    if result.lock_path:
        out.print(f"lock: {esc(result.lock_path)}")


@app.command()
@user_errors
def verify(
    recipes: list[Path] = typer.Argument(..., help="Recipes whose lock files to check.", show_default=False),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=64, help="Stems rendered in parallel."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report on stdout."),
) -> None:
    """Rebuild from scratch (no cache) in a temporary folder and compare every hash with the lock.

    Exit 0 when identical, 1 when something differs, 2 on an error.
    """
    from .verify import verify_recipe

    reports = [verify_recipe(path, jobs=jobs) for path in recipes]
    if json_out:
        sys.stdout.write(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2, sort_keys=True) + "\n")
    else:
        for report in reports:
            if report["identical"]:
                out.print(f"[green]identical[/] {esc(report['recipe'])}: {len(report['checked'])} outputs match the lock")
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
    targets: list[Path] = typer.Argument(..., help="A recipe (compared with its lock), or two build folders.",
                                         show_default=False),
    set_: list[str] = typer.Option([], "--set", help="Overrides, as for build."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report on stdout."),
) -> None:
    """What changed since the lock and which stages a build will re-run; or compare two builds."""
    from . import verify as v

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
            out.print(f"[bold]{esc(name)}[/]: {change['same']} notes the same, {len(change['only_a'])} only in A, "
                      f"{len(change['only_b'])} only in B")
        for name, level in report["audio"].items():
            shown = "identical (null test silent)" if level is None else f"difference at {level:.1f} dBFS RMS"
            out.print(f"[bold]{esc(name)}[/]: {shown}")
    else:
        raise LofictlError("diff takes a recipe, or two build folders")


cache_app = typer.Typer(help="The stage cache (.lofictl-cache in the project).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _cache_for(project: Path):
    from .cache import CACHE_DIR_NAME, Cache

    return Cache(project.resolve() / CACHE_DIR_NAME)


@cache_app.command("info")
@user_errors
def cache_info(project: Path = typer.Option(Path("."), "--project", help="The project folder.")) -> None:
    """Where the cache is and how big."""
    info = _cache_for(project).info()
    out.print(f"{esc(info['path'])}: {info['stages']} stage entries, {info['objects']} objects, "
              f"{info['bytes'] / 1e6:.1f} MB")


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
def inspect(file: Path = typer.Argument(..., help="A WAV or MIDI file made by lofictl.", show_default=False)) -> None:
    """Print the provenance written into a WAV or MIDI file: recipe, seed, stage key, models."""
    from .verify import read_provenance

    info = read_provenance(file)
    for key in sorted(info):
        out.print(f"{esc(key)}: {esc(info[key])}")


@app.command()
@user_errors
def doctor() -> None:
    """Check the set-up: FluidSynth, SoundFonts on the search path, JAX backend, libraries."""
    import importlib.metadata as md

    from . import soundfonts

    ok = True
    try:
        from .render import fluidsynth_version

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

        out.print(f"[green]✓[/] JAX {jax.__version__} on {jax.default_backend()} "
                  f"({', '.join(str(d) for d in jax.devices())})")
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
    from . import soundfonts

    recipe_dir = Path.cwd() / "recipes"
    fonts = [soundfonts.find_soundfont(soundfont, recipe_dir)] if soundfont else soundfonts.list_all_soundfonts(recipe_dir)
    if not fonts:
        raise LofictlError("no SoundFont found on the search path (see `lofictl doctor`)")
    shown = 0
    for font in fonts:
        presets = soundfonts.list_presets(font)
        if search:
            presets = [p for p in presets if search.lower() in p.name.lower()
                       or search.lower() in (soundfonts.gm_name(p) or "").lower()]
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
    from . import effects as fx

    infos = {info.name: info for info in fx.describe_plugins()}
    presets = fx.describe_presets()
    if plugin is not None and plugin not in infos and plugin not in presets:
        from .recipe import _did_you_mean

        raise LofictlError(f"no plugin or preset named {plugin!r}{_did_you_mean(plugin, [*infos, *presets])}")
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
        overlays = sorted(p for p in (Path.cwd() / "effects").glob("*") if p.suffix.lower() in (".wav", ".flac", ".mp3"))
        out.print("[bold]overlay files[/] in effects/: " + esc(", ".join(p.name for p in overlays) or "none"))
        out.print(esc("procedural ambience: rain, vinyl, hiss (overlays: [{ambience: rain}])"))


def _register_extras() -> None:
    """Commands whose code lives with their feature: `new` (wizard) and `train` (models)."""
    from . import evaluate, wizard
    from .models import quality

    app.command("new")(user_errors(wizard.new_command))
    app.command("eval")(user_errors(quality.eval_command))
    app.command("eval-midi")(user_errors(evaluate.eval_midi_command))
    app.command("eval-index")(user_errors(evaluate.eval_index_command))
    try:
        from .train.command import train_app
    except ImportError:  # pragma: no cover - the models package is part of lofictl
        return
    for command in train_app.registered_commands:
        command.callback = user_errors(command.callback)
    app.add_typer(train_app, name="train")


_register_extras()
