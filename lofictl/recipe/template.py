"""The pure part of `lofictl new`: `WizardAnswers` → a commented recipe (YAML text), with the
mood written out in full so every choice can be changed afterwards."""

from __future__ import annotations

import json
import re

from lofictl.errors import LofictlError
from lofictl.recipe.answers import (
    check_effects,
    check_key,
    check_mood,
    check_overlays,
    check_pattern,
    check_tempo,
    check_title,
    default_seed,
    length_bars,
    slug,
)
from lofictl.recipe.moods import _AMBIENCE_LINES, MELODY_MODEL, METER, MINOR_MODES, MOODS, Mood, WizardAnswers


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
