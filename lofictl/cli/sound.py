"""`doctor`, `instruments`, `effects`: the sound set-up, SoundFont presets, effect plugins and presets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lofictl.cli.common import app, esc, out, user_errors
from lofictl.errors import LofictlError


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
    search: Optional[str] = typer.Option(
        None, "--search", "-s", help="Only presets whose name (the SoundFont's or General MIDI's) contains this."
    ),
) -> None:
    """List the presets of SoundFonts: bank:program, the SoundFont's name and the General MIDI name.

    A recipe's `preset:` takes any of the three."""
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
            standard = soundfonts.gm_name(preset)
            also = (
                f"  [dim](General MIDI: {esc(standard)})[/]"
                if standard and soundfonts.comparable_name(standard) != soundfonts.comparable_name(preset.name)
                else ""
            )
            out.print(f"  {preset.bank:3d}:{preset.program:<3d}  {esc(preset.name)}{also}")
            shown += 1
    from lofictl.sound import kits

    made = [k for k in kits.kit_names() if not search or search.lower() in k]
    if made:  # lofictl's own kits: `instrument: {kit: NAME}` on a drums track
        out.print("[bold]lofictl kits[/] (instrument: {kit: NAME})")
        for name in made:
            out.print(f"  {esc(name):<8}  {esc(kits.KIT_DESCRIPTIONS[name])}; keys {esc(kits.key_ranges(name))}")
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
