"""`lofictl new`: a few questions, then a commented recipe that validates and builds.

The research tool this replaces had an interactive mode whose product vanished when it
closed; here the product is a file that can be versioned. Three layers:

* `recipe_text(answers)`: a pure function from `WizardAnswers` to commented YAML;
* `run_wizard(...)`: fills in whatever was not given, by asking (Typer prompts) or, with
  `yes=True`, from the mood's defaults; checks the answers against the SoundFonts found;
* `new_command(...)`: the Typer command; writes `recipes/<slug>.yaml`, never over an existing
  file unless `--force`.

A mood is a starting point (tempo, key, swing, drum pattern, chord progression, effects
preset, ambience), written out in full so the user can change any of it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import typer

from lofictl.errors import LofictlError, did_you_mean
from lofictl.safety import atomic

AMBIENCES = ("rain", "vinyl", "hiss")
EFFECT_PRESETS = ("tape", "vinyl", "radio", "dusty", "none")  # the presets in effects.PRESETS, or none
METER = "4/4"
BEATS_PER_BAR = 4.0
_AMBIENCE_LINES = {  # gain and fades that sit under a lo-fi mix without masking it
    "rain": "{ambience: rain, gain_db: -22, fade_in: 4s, fade_out: 4s}",
    "vinyl": "{ambience: vinyl, gain_db: -28}",
    "hiss": "{ambience: hiss, gain_db: -34}",
}
MINOR_MODES = ("minor", "dorian", "phrygian", "harmonic minor")

# Chords as (semitones above the tonic, quality), one a bar, for keys with a minor or major third.
Progression = tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Mood:
    blurb: str
    tempo: float
    key: str
    swing: float
    pattern: str
    effects: str
    overlays: tuple[str, ...]
    chords_preset: str
    bass_preset: str
    bass_style: str
    minor: Progression
    major: Progression
    melody_preset: str = "Vibraphone"


MOODS: dict[str, Mood] = {
    "rainy": Mood(
        "slow, dusty, minor; rain on the window",
        72,
        "D minor",
        0.56,
        "boom-bap",
        "tape",
        ("rain", "vinyl"),
        "Electric Piano 1",
        "Acoustic Bass",
        "roots",
        ((0, "m9"), (5, "13"), (10, "maj9"), (7, "7b9")),
        ((0, "maj9"), (9, "m9"), (2, "m9"), (7, "13")),
    ),
    "chill": Mood(
        "laid back, warm, major",
        80,
        "F major",
        0.58,
        "lazy",
        "vinyl",
        ("vinyl",),
        "Electric Piano 2",
        "Electric Bass (finger)",
        "sparse",
        ((0, "m9"), (8, "maj7"), (3, "maj7"), (7, "7#9")),
        ((0, "maj9"), (9, "m9"), (2, "m9"), (7, "13")),
        "Flute",
    ),
    "sunny": Mood(
        "brighter, a little faster, brushes",
        88,
        "G major",
        0.6,
        "brushes",
        "tape",
        ("vinyl",),
        "Acoustic Grand Piano",
        "Acoustic Bass",
        "walking",
        ((0, "m7"), (5, "m9"), (10, "7"), (3, "maj9")),
        ((0, "maj7"), (4, "m7"), (5, "maj9"), (7, "13")),
        "Nylon String Guitar",
    ),
    "night": Mood(
        "late, hazy, behind the beat",
        70,
        "C minor",
        0.62,
        "dilla",
        "dusty",
        ("hiss", "vinyl"),
        "Vibraphone",
        "Fretless Bass",
        "roots",
        ((0, "m7"), (8, "maj7"), (5, "m9"), (7, "7#9")),
        ((0, "maj9"), (5, "maj9"), (4, "m7"), (9, "m9")),
        "Muted Trumpet",
    ),
    "jazzy": Mood(
        "ii-V-I changes, bossa feel",
        92,
        "Bb major",
        0.55,
        "bossa",
        "vinyl",
        ("vinyl",),
        "Electric Guitar (jazz)",
        "Acoustic Bass",
        "walking",
        ((5, "m9"), (10, "13"), (3, "maj9"), (7, "7b9")),
        ((2, "m9"), (7, "13"), (0, "maj9"), (9, "7b9")),
    ),
}
# Offered first when asking for an instrument; any preset of the SoundFont is accepted.
SUGGESTED_PRESETS = (
    "Electric Piano 1",
    "Electric Piano 2",
    "Acoustic Grand Piano",
    "Vibraphone",
    "Electric Guitar (jazz)",
    "Pad 2 (warm)",
    "Acoustic Bass",
    "Electric Bass (finger)",
    "Fretless Bass",
    "Synth Bass 1",
    "Flute",
    "Muted Trumpet",
    "Nylon String Guitar",
)
MELODY_MODEL = "models/lofi-melody"  # the shipped melody model, relative to the project
DEFAULT_TITLE = "Untitled"


@dataclass(frozen=True)
class WizardAnswers:
    """Every choice of the wizard; None means 'the mood decides'."""

    title: str
    mood: str = "rainy"
    tempo: float | None = None
    key: str | None = None
    length: str = "32 bars"
    soundfont: str = "FluidR3_GM.sf2"
    chords: str | None = None  # preset names
    bass: str | None = None  # a preset, or "none" for no bass track
    drums: str | None = None  # a drum pattern, or "none" for no drums
    overlays: tuple[str, ...] | None = None  # ambience names; () for none
    effects: str | None = None  # an effects preset, or "none"
    seed: int | None = None
    melody: str | None = None  # a preset for a melody track from the shipped model; None or "none": no melody

    def copy(self, **changes) -> "WizardAnswers":
        return replace(self, **changes)


# --- checking single answers ----------------------------------------------------------------


def check_title(title: str) -> str:
    title = " ".join(str(title).split())
    if not title:
        raise LofictlError("the title cannot be empty", field="title")
    if len(title) > 200:
        raise LofictlError(f"the title is {len(title)} characters; keep it to 200", field="title")
    return title


def check_mood(mood: str) -> str:
    mood = mood.strip().lower()
    if mood not in MOODS:
        raise LofictlError(
            f"unknown mood {mood!r}{did_you_mean(mood, MOODS)} (moods: {', '.join(MOODS)})", field="mood"
        )
    return mood


def check_tempo(tempo: float | str) -> float:
    if isinstance(tempo, str):  # typed at the prompt: 72, 72.5
        try:
            tempo = float(tempo)
        except ValueError:
            raise LofictlError(
                f"tempo must be a number of BPM, e.g. 72 or 72.5 (got {tempo!r})", field="tempo"
            ) from None
    if not (isinstance(tempo, (int, float)) and math.isfinite(tempo) and 20 <= tempo <= 300):
        raise LofictlError(f"tempo must be from 20 to 300 BPM (got {tempo})", field="tempo")
    return float(tempo)


def check_key(key: str) -> str:
    from lofictl.compose.theory import TheoryError, parse_key

    try:
        return parse_key(key).name
    except TheoryError as exc:
        raise LofictlError(str(exc), field="key") from None


def length_bars(length: str, tempo: float) -> int:
    """'32 bars', '32' or a duration such as '2m30s' (rounded up to whole 4/4 bars)."""
    from lofictl.recipe.schema import parse_seconds

    text = str(length).strip()
    match = re.fullmatch(r"(\d+)\s*(?:bars?)?", text)
    if match:
        bars = int(match[1])
    else:
        try:
            seconds = parse_seconds(text)
        except ValueError as exc:
            raise LofictlError(f"{exc}; or give bars, like '32 bars'", field="length") from None
        bars = math.ceil(seconds / (BEATS_PER_BAR * 60.0 / tempo) - 1e-9)
    if not 1 <= bars <= 10000:
        raise LofictlError(f"the length must be from 1 to 10000 bars (got {bars})", field="length")
    return bars


def check_pattern(pattern: str) -> str:
    from lofictl.compose.drums import pattern_names

    pattern = pattern.strip().lower()
    if pattern != "none" and pattern not in pattern_names():
        raise LofictlError(
            f"unknown drum pattern {pattern!r}{did_you_mean(pattern, pattern_names())} "
            f"(patterns: {', '.join(pattern_names())}, or none)",
            field="drums",
        )
    return pattern


def check_overlays(names) -> tuple[str, ...]:
    chosen: list[str] = []
    for name in names:
        for part in str(name).replace(",", " ").split():
            part = part.lower()
            if part == "none":
                continue
            if part not in AMBIENCES:
                raise LofictlError(
                    f"unknown ambience {part!r}{did_you_mean(part, AMBIENCES)} "
                    f"(ambiences: {', '.join(AMBIENCES)}, or none)",
                    field="overlays",
                )
            if part not in chosen:
                chosen.append(part)
    return tuple(chosen)


def check_effects(effects: str) -> str:
    effects = effects.strip().lower()
    if effects not in EFFECT_PRESETS:
        raise LofictlError(
            f"unknown effects preset {effects!r}{did_you_mean(effects, EFFECT_PRESETS)} "
            f"(presets: {', '.join(EFFECT_PRESETS)})",
            field="effects",
        )
    return effects


def default_seed(title: str) -> int:
    """A seed from the title, so `new --yes` twice gives the same recipe."""
    return int(hashlib.sha256(title.encode("utf-8")).hexdigest()[:8], 16)


def slug(title: str) -> str:
    """The recipe file name: 'Rainy Night!' → 'rainy_night'."""
    import unicodedata

    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "_", ascii_title.lower()).strip("_")
    return text[:60].rstrip("_") or "untitled"


# --- the pure part: answers → recipe text ---------------------------------------------------


def progression_for(mood: Mood, key: str) -> str:
    from lofictl.compose.theory import NOTE_NAMES, parse_key

    parsed = parse_key(key)
    chords = mood.minor if parsed.mode in MINOR_MODES else mood.major
    return " ".join(f"{NOTE_NAMES[(parsed.tonic + offset) % 12]}{quality}" for offset, quality in chords)


PHRASE = 8  # bars: two turns of a 4-bar loop (a section of another length would cut the loop mid-cycle)


def arrangement(bars: int, has_bass: bool) -> list[tuple[str, int, list[str] | None, str | None]]:
    """(name, bars, tracks or None for all, the section it repeats) per section: an intro, 8-bar
    phrases A B A2 B2 ... (a 4-bar one where 8 do not fill the length) and an outro, so every
    phrase holds whole turns of a 2- or 4-bar loop; bars left over lengthen the outro."""
    if bars < 16:
        return [("A", bars, None, None)]
    edge = 4 if bars >= 24 else 2
    body = bars - 2 * edge
    lengths = [PHRASE] * (body // PHRASE) + ([4] if body % PHRASE >= 4 else [])
    outro_bars = edge + body % 4
    sections: list[tuple[str, int, list[str] | None, str | None]] = [("intro", edge, ["keys"], None)]
    letters = iter("ABCDEFGH")
    originals: list[str] = []  # the 8-bar phrases with material of their own, in order
    passes: dict[str, int] = {}
    for index, length in enumerate(lengths):
        if length == PHRASE and len(originals) == 2:  # A and B come back, in turn
            original = originals[index % 2]
            passes[original] = passes.get(original, 1) + 1
            sections.append((f"{original}{passes[original]}", length, None, original))
            continue
        name = next(letters)
        if length == PHRASE:
            originals.append(name)
        sections.append((name, length, None, None))
    sections.append(("outro", outro_bars, ["keys", "bass"] if has_bass else ["keys"], None))
    return sections


def _q(text: str) -> str:
    """A YAML string: JSON's double-quoted form is valid YAML and never ambiguous."""
    return json.dumps(text, ensure_ascii=False)


def _num(value: float) -> str:
    return f"{value:g}"


def _line(text: str, comment: str, width: int = 40) -> str:
    return f"{text.ljust(width - 1)} # {comment}" if len(text) < width - 1 else f"{text}  # {comment}"


def recipe_text(answers: WizardAnswers, *, path_hint: str | None = None) -> str:
    """The commented recipe YAML for the answers (defaults from the mood where None)."""
    title = check_title(answers.title)
    mood_name = check_mood(answers.mood)
    mood = MOODS[mood_name]
    tempo = check_tempo(answers.tempo if answers.tempo is not None else mood.tempo)
    key = check_key(answers.key if answers.key is not None else mood.key)
    bars = length_bars(answers.length, tempo)
    chords_preset = answers.chords or mood.chords_preset
    bass_preset = answers.bass or mood.bass_preset
    has_bass = bass_preset.strip().lower() != "none"
    pattern = check_pattern(answers.drums or mood.pattern)
    overlays = check_overlays(answers.overlays if answers.overlays is not None else mood.overlays)
    effects = check_effects(answers.effects or mood.effects)
    seed = answers.seed if answers.seed is not None else default_seed(title)
    if seed < 0:
        raise LofictlError(f"the seed cannot be negative (got {seed})", field="seed")
    where = path_hint or f"recipes/{slug(title)}.yaml"
    font = _q(answers.soundfont)

    out = [
        f"# {title} — a {mood_name} lo-fi recipe ({mood.blurb}), written by `lofictl new`.",
        f"# Build it with:  lofictl build {where}",
        f"# Check an edit without building:  lofictl validate {where}",
        _line("lofictl: 1", "recipe format version"),
        f"title: {_q(title)}",
        _line(f"seed: {seed}", "master seed: same seed, same track; change it for a variation"),
        _line(f"tempo: {_num(tempo)}", "beats per minute"),
        f"time_signature: {METER}",
        _line(f"key: {key}", "e.g. 'D minor', 'F major', 'E dorian'"),
        _line(f"swing: {mood.swing}", "0.5 is straight, 0.66 a triplet feel"),
    ]
    sections = arrangement(bars, has_bass)
    if len(sections) == 1:
        length_note = (
            f"{answers.length} at {_num(tempo)} BPM"
            if not re.fullmatch(r"\d+\s*(bars?)?", str(answers.length).strip())
            else ""
        )
        out.append(_line(f"length: {bars} bars", length_note or "or a duration such as 2m30s"))
    else:
        out.append(_line("sections:", f"{bars} bars in all; phrases of 8 bars hold whole 4-bar loops"))
        for section_name, section_bars, tracks, repeated in sections:
            fields = [f"name: {section_name}", f"bars: {section_bars}"]
            if tracks is not None:
                fields.append(f"tracks: [{', '.join(tracks)}]")
            if repeated is not None:
                fields.append(f"repeat: {repeated}")
            text = "  - {" + ", ".join(fields) + "}"
            out.append(_line(text, f"{repeated} comes back") if repeated is not None else text)

    out += [
        "tracks:",
        "  keys:",
        "    part: chords",
        _line(f"    progression: {_q(progression_for(mood, key))}", "one chord a bar; 'Dm9:2 G7:2' gives beats"),
        _line("    voicing: lofi", "root, 3rd, 7th and the named extension; smooth voice leading"),
        _line(
            f"    instrument: {{soundfont: {font}, preset: {_q(chords_preset)}}}", "`lofictl instruments` lists presets"
        ),
        "    gain_db: -3",
        "    pan: -0.1",
    ]
    if effects != "none":
        out.append(_line(f"    effects: [{effects}]", "a preset; `lofictl effects` shows what it does"))
    melody_preset = answers.melody if answers.melody and answers.melody.strip().lower() != "none" else None
    if melody_preset:
        out += [
            "  melody:",
            _line("    part: melody", "sampled by the shipped model, over the chords"),
            _line(
                f"    generate: {{model: {MELODY_MODEL}, temperature: 0.9, top_p: 0.92, max_overlap_15: 0.02}}",
                "max_overlap_15: re-sample if it copies the training data",
            ),
            f"    instrument: {{soundfont: {font}, preset: {_q(melody_preset)}}}",
            "    gain_db: -2",
            "    pan: 0.15",
        ]
    if has_bass:
        out += [
            "  bass:",
            "    part: bass",
            _line(f"    style: {mood.bass_style}", "roots, walking or sparse"),
            f"    instrument: {{soundfont: {font}, preset: {_q(bass_preset)}}}",
            "    gain_db: -2",
        ]
    if pattern != "none":
        out += [
            "  drums:",
            "    part: drums",
            _line(f"    pattern: {pattern}", "boom-bap, bossa, brushes, dilla, lazy, ..."),
            "    humanize: {timing_ms: 12, velocity: 10}",
            _line(f"    instrument: {{soundfont: {font}}}", "its drum kit (bank 128)"),
            "    gain_db: -4",
            "    effects:",
            "      - LowpassFilter: {cutoff_frequency_hz: 6500}",
        ]
    if not melody_preset:
        out.append("# A melody from the shipped model (or one you train with `lofictl train melody`):")
        out.append(f"#   melody: {{part: melody, generate: {{model: {MELODY_MODEL}, temperature: 0.9}}}}")
    if overlays:
        out.append(_line("overlays:", "procedural ambience: rain, vinyl or hiss"))
        out += [f"  - {_AMBIENCE_LINES[name]}" for name in overlays]
    out += [
        "master:",
        "  effects:",
        "    - Compressor: {threshold_db: -18, ratio: 2.5}",
        _line("  loudness_lufs: -14", "streaming loudness"),
        _line("output: {sample_rate: 44100, formats: [wav]}", "add flac or mp3 as you like"),
    ]
    return "\n".join(out) + "\n"


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
    prompt: Callable = typer.prompt,
    echo: Callable = typer.echo,
) -> WizardAnswers:
    """Answers from the arguments, asking for each one not given (or taking defaults if `yes`).

    Interactively a wrong answer is explained and asked again; with `yes` it is an error.
    """
    recipe_dir = Path(recipe_dir) if recipe_dir is not None else Path.cwd() / "recipes"

    def ask(question: str, given, default, check: Callable):
        if given is not None:
            return check(given)
        if yes:
            return check(default)
        while True:
            # a number's default as text: click would otherwise take only answers of its type (no 72.5)
            answer = prompt(question, default=str(default) if isinstance(default, (int, float)) else default)
            try:
                return check(answer)
            except LofictlError as exc:
                echo(f"  {exc.message}")

    title = ask("Title", title, default_title(recipe_dir), check_title)
    if mood is None and not yes:
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

    if soundfont is None and not yes:
        echo("SoundFonts found: " + ", ".join(by_name))
    soundfont = ask("SoundFont", soundfont, preferred, check_font)
    from lofictl.sound import soundfonts as sf

    font_path = sf.find_soundfont(soundfont, recipe_dir)
    if (chords is None or bass is None) and not yes:
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
