"""Decibels and linear gain: the one conversion every stage, the DAW export and the measures use.

Amplitude decibels (20·log10), as BS.1770 and every mixer's fader read them. Plain Python
floats, so the numbers written into locks and project files are the same on every machine.
"""

from __future__ import annotations

import math


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float | None:
    """None for silence (a gain of 0 has no level in dB)."""
    return 20.0 * math.log10(gain) if gain > 0 else None
