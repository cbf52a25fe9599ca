"""The wizard's starting points: moods (tempo, key, swing, drum pattern, chord progression,
effects preset, ambience), the presets it suggests, and `WizardAnswers`, every choice of
`lofictl new` (recipe/wizard.py asks, recipe/template.py writes the recipe)."""

from __future__ import annotations

from dataclasses import dataclass, replace

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
