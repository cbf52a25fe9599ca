"""Checking the wizard's answers one at a time: each returns the answer as the recipe spells it,
or raises a LofictlError that names the flag and, where it can, what was meant."""

from __future__ import annotations

import hashlib
import math
import re

from lofictl.errors import LofictlError, did_you_mean
from lofictl.recipe.moods import AMBIENCES, BEATS_PER_BAR, EFFECT_PRESETS, MOODS


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
