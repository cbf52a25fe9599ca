"""`lofictl new`: the recipe wizard's questions as flags (recipe/wizard.py asks and writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lofictl.cli.common import app, user_errors
from lofictl.recipe.moods import EFFECT_PRESETS, MELODY_MODEL, MOODS
from lofictl.recipe.wizard import run_wizard, write_recipe


@app.command("new")
@user_errors
def new_command(
    title: Optional[str] = typer.Option(
        None, "--title", "-t", help="Title; also names the recipe file (default: Untitled, numbered when taken)."
    ),
    mood: Optional[str] = typer.Option(None, "--mood", help=f"Starting point: {', '.join(MOODS)}."),
    tempo: Optional[float] = typer.Option(None, "--tempo", help="Beats per minute (default: the mood's)."),
    key: Optional[str] = typer.Option(None, "--key", help="e.g. 'D minor' (default: the mood's)."),
    length: Optional[str] = typer.Option(None, "--length", help="'32 bars' or a duration like 2m30s."),
    soundfont: Optional[str] = typer.Option(None, "--soundfont", help="A SoundFont on the search path."),
    chords: Optional[str] = typer.Option(None, "--chords", help="Preset for the chords track."),
    bass: Optional[str] = typer.Option(None, "--bass", help="Preset for the bass track, or none."),
    drums: Optional[str] = typer.Option(None, "--drums", help="Drum pattern, or none."),
    overlay: Optional[list[str]] = typer.Option(
        None, "--overlay", help="Ambience: rain, vinyl, hiss or none (repeatable)."
    ),
    effects: Optional[str] = typer.Option(None, "--effects", help=f"Effects preset: {', '.join(EFFECT_PRESETS)}."),
    melody: Optional[str] = typer.Option(
        None,
        "--melody",
        help=f"Preset for a melody track sampled by {MELODY_MODEL}, "
        "or none (default: the mood's, when the model is in the project).",
    ),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Master seed (default: from the title)."),
    folder: Path = typer.Option(Path("recipes"), "--dir", help="Where the recipe is written."),
    force: bool = typer.Option(False, "--force", help="Replace a recipe of the same name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Ask nothing: take the mood's defaults."),
) -> None:
    """Write a new commented recipe by answering a few questions (every one is also a flag)."""
    folder = Path(folder)
    answers = run_wizard(
        title=title,
        mood=mood,
        tempo=tempo,
        key=key,
        length=length,
        soundfont=soundfont,
        chords=chords,
        bass=bass,
        drums=drums,
        overlays=overlay or None,
        effects=effects,
        seed=seed,
        melody=melody,
        yes=yes,
        recipe_dir=folder.resolve(),
        prompt=typer.prompt,
        echo=typer.echo,
    )
    path = write_recipe(answers, folder, force=force)
    typer.echo(f"wrote {path}")
    typer.echo(f"build it with:  lofictl build {path}")
