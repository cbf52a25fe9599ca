"""`lofictl new`: a few questions, then a commented recipe that validates and builds.

The research tool this replaces had an interactive mode whose product vanished when it
closed; here the product is a file that can be versioned. Four layers:

* recipe/moods.py: the moods (starting points) and `WizardAnswers`;
* recipe/answers.py: each answer checked on its own;
* recipe/template.py: `recipe_text(answers)`, a pure function from `WizardAnswers` to commented YAML;
* here, `run_wizard(...)`: fills in whatever was not given, by asking (with the prompt it is
  given: `lofictl new` passes Typer's) or, with `yes=True` or no prompt, from the mood's
  defaults, and checks the answers against the SoundFonts found;
  `write_recipe` writes `recipes/<slug>.yaml`, never over an existing file unless `force`.

The command itself, `lofictl new`, is cli/new.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from lofictl.errors import LofictlError
from lofictl.recipe.answers import (
    check_effects,
    check_key,
    check_mood,
    check_overlays,
    check_pattern,
    check_tempo,
    check_title,
    length_bars,
    slug,
)
from lofictl.recipe.moods import (
    AMBIENCES,
    DEFAULT_TITLE,
    EFFECT_PRESETS,
    MELODY_MODEL,
    MOODS,
    SUGGESTED_PRESETS,
    WizardAnswers,
)
from lofictl.recipe.template import recipe_text
from lofictl.safety import atomic

# --- asking ---------------------------------------------------------------------------------


def _find_soundfonts(recipe_dir: Path) -> list[Path]:
    from lofictl.sound import soundfonts

    fonts = soundfonts.list_all_soundfonts(recipe_dir)
    if not fonts:
        raise LofictlError(
            "no SoundFont found on the search path; install fluid-soundfont-gm, put an .sf2 in "
            "sf2/, or set $LOFICTL_SF2_PATH (see `lofictl doctor`)",
            field="soundfont",
        )
    return fonts


def _check_preset(font: Path, name: str, field: str) -> str:
    from lofictl.sound import soundfonts

    try:
        soundfonts.resolve_preset(font, name)
    except LofictlError as exc:
        raise LofictlError(exc.message, field=field) from None
    return name


def _available(font: Path) -> list[str]:
    """The suggested presets this SoundFont has (by its own or the GM name)."""
    from lofictl.sound import soundfonts

    found = []
    for name in SUGGESTED_PRESETS:
        try:
            soundfonts.resolve_preset(font, name)
        except LofictlError:
            continue
        found.append(name)
    return found


def run_wizard(
    *,
    title: str | None = None,
    mood: str | None = None,
    tempo: float | None = None,
    key: str | None = None,
    length: str | None = None,
    soundfont: str | None = None,
    chords: str | None = None,
    bass: str | None = None,
    drums: str | None = None,
    overlays: list[str] | tuple[str, ...] | None = None,
    effects: str | None = None,
    seed: int | None = None,
    melody: str | None = None,
    yes: bool = False,
    recipe_dir: Path | None = None,
    prompt: Callable[..., str] | None = None,
    echo: Callable[[str], object] = print,
) -> WizardAnswers:
    """Answers from the arguments, asking for each one not given (or taking defaults if `yes`).

    Interactively a wrong answer is explained and asked again; with `yes` it is an error.
    `prompt(question, default=...)` asks (`lofictl new` passes Typer's); without one, every
    answer not given is the default, as with `yes`.
    """
    recipe_dir = Path(recipe_dir) if recipe_dir is not None else Path.cwd() / "recipes"
    interactive = prompt is not None and not yes

    def ask(question: str, given, default, check: Callable):
        if given is not None:
            return check(given)
        if not interactive:
            return check(default)
        while True:
            # a number's default as text: click would otherwise take only answers of its type (no 72.5)
            assert prompt is not None  # interactive
            answer = prompt(question, default=str(default) if isinstance(default, (int, float)) else default)
            try:
                return check(answer)
            except LofictlError as exc:
                echo(f"  {exc.message}")

    title = ask("Title", title, default_title(recipe_dir), check_title)
    if mood is None and interactive:
        echo("Moods: " + "; ".join(f"{name} ({m.blurb})" for name, m in MOODS.items()))
    mood = ask("Mood", mood, "rainy", check_mood)
    chosen = MOODS[mood]
    tempo = ask("Tempo (BPM)", tempo, chosen.tempo, check_tempo)
    key = ask("Key", key, chosen.key, check_key)
    length = ask(
        "Length (bars, or a duration like 2m30s)", length, "32 bars", lambda v: (length_bars(str(v), tempo), str(v))[1]
    )

    fonts = _find_soundfonts(recipe_dir)
    by_name = {font.name: font for font in fonts}
    preferred = "FluidR3_GM.sf2" if "FluidR3_GM.sf2" in by_name else fonts[0].name

    def check_font(name: str) -> str:
        from lofictl.sound import soundfonts

        try:
            soundfonts.find_soundfont(name, recipe_dir)
        except LofictlError as exc:
            raise LofictlError(exc.message, field="soundfont") from None
        return name

    if soundfont is None and interactive:
        echo("SoundFonts found: " + ", ".join(by_name))
    soundfont = ask("SoundFont", soundfont, preferred, check_font)
    from lofictl.sound import soundfonts as sf

    font_path = sf.find_soundfont(soundfont, recipe_dir)
    if (chords is None or bass is None) and interactive:
        offered = _available(font_path)
        if offered:
            echo(
                "Some presets that suit lo-fi (any preset works; `lofictl instruments` lists all): "
                + ", ".join(offered)
            )
    chords = ask("Chords instrument", chords, chosen.chords_preset, lambda v: _check_preset(font_path, v, "chords"))
    bass = ask(
        "Bass instrument (or none)",
        bass,
        chosen.bass_preset,
        lambda v: v if v.strip().lower() == "none" else _check_preset(font_path, v, "bass"),
    )
    drums = ask("Drum pattern (or none)", drums, chosen.pattern, check_pattern)
    overlay_default = " ".join(chosen.overlays) or "none"
    overlays_text = " ".join(overlays) if overlays else None
    overlays_chosen = ask(
        f"Ambience ({', '.join(AMBIENCES)}; several or none)",
        overlays_text,
        overlay_default,
        lambda v: check_overlays([v]),
    )
    effects = ask(f"Effects preset ({', '.join(EFFECT_PRESETS)})", effects, chosen.effects, check_effects)
    model_found = melody_model_found(recipe_dir)

    def check_melody(answer: str) -> str:
        if answer.strip().lower() == "none":
            return "none"
        if not model_found:
            raise LofictlError(
                f"a melody needs the melody model at {MELODY_MODEL} (not found in this project; "
                "train one with `lofictl train melody`), or answer none",
                field="melody",
            )
        return _check_preset(font_path, answer, "melody")

    if melody is None and not model_found:
        melody = "none"  # nothing to sample with: say so in the recipe's comments instead of asking
    melody = ask(f"Melody instrument, sampled by {MELODY_MODEL} (or none)", melody, chosen.melody_preset, check_melody)
    return WizardAnswers(
        title=title,
        mood=mood,
        tempo=tempo,
        key=key,
        length=length,
        soundfont=soundfont,
        chords=chords,
        bass=bass,
        drums=drums,
        overlays=overlays_chosen,
        effects=effects,
        seed=seed,
        melody=melody,
    )


def melody_model_found(recipe_dir: Path) -> bool:
    """Whether the project a recipe in `recipe_dir` belongs to has the shipped melody model."""
    from lofictl.models.nn.meta import read_meta
    from lofictl.recipe.load import project_root_for

    model = project_root_for(Path(recipe_dir) / "recipe.yaml") / MELODY_MODEL
    try:
        return read_meta(model)["kind"] == "melody"
    except LofictlError:
        return False


def default_title(recipe_dir: Path) -> str:
    """'Untitled', or 'Untitled 2', 3, ... when that recipe file exists already."""
    title, number = DEFAULT_TITLE, 2
    while (Path(recipe_dir) / f"{slug(title)}.yaml").exists():
        title, number = f"{DEFAULT_TITLE} {number}", number + 1
    return title


def write_recipe(answers: WizardAnswers, folder: Path, *, force: bool = False) -> Path:
    """Write `<folder>/<slug>.yaml` after checking that the text parses as a valid recipe."""
    from lofictl.recipe.load import parse_recipe_text

    name = slug(answers.title)
    path = Path(folder) / f"{name}.yaml"
    if path.exists() and not force:
        raise LofictlError(f"{path} already exists; pick another --title, or pass --force to replace it")
    text = recipe_text(answers, path_hint=path.as_posix())
    parse_recipe_text(text, path)  # a wizard that writes a broken recipe is a bug: fail before writing
    try:
        atomic.write_text(path, text)
    except OSError as exc:
        raise LofictlError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
