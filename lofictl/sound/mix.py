"""Mixing: gain and pan, mute/solo, ducking under the kick, and the measures the master stage
uses (true-peak envelope, BS.1770 loudness via pyloudnorm, the limiter's timing).

The streamed master (sound.master) and the whole-array one the tests compare it with
(sound.reference.master) share these pieces; the limiter's design is described in
sound.reference.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from lofictl.sound.levels import db_to_gain

OVERSAMPLE = 4  # true peak per ITU-R BS.1770-4 Annex 2: at least 4x at 44.1/48 kHz
LIMITER_LOOKAHEAD_S = 0.005  # gain starts to fall this long before a peak...
LIMITER_RELEASE_S = 0.040  # ...and is held, then recovers, over this long after it
_PEAK_CHUNK = 1 << 18  # samples oversampled at a time (bounded memory for long tracks)
_PEAK_MARGIN = 64  # input samples of context each side of a chunk; the FIR spans about 20


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan, -1 hard left .. 1 hard right, unity at the centre.

    left**2 + right**2 == 2 for every position, so a panned sound keeps its loudness; at the
    centre both sides pass unchanged (the -3 dB centre of the sine law is made up).
    """
    if not -1.0 <= pan <= 1.0:
        raise ValueError(f"pan must be between -1 and 1, got {pan}")
    angle = (pan + 1.0) * math.pi / 4.0
    left, right = math.sqrt(2.0) * math.cos(angle), math.sqrt(2.0) * math.sin(angle)
    return (left if left > 1e-12 else 0.0), (right if right > 1e-12 else 0.0)  # hard pan: exact 0


def apply_gain_pan(audio: np.ndarray, gain_db: float = 0.0, pan: float = 0.0) -> np.ndarray:
    """A new (2, n) float32 array: the audio at gain_db, panned (a balance control for stereo)."""
    left, right = pan_gains(pan)
    gain = db_to_gain(gain_db)
    out = np.empty(audio.shape, dtype=np.float32)
    np.multiply(audio[0], np.float32(gain * left), out=out[0])
    np.multiply(audio[1], np.float32(gain * right), out=out[1])
    return out


def audible(names: Sequence[str], mute: Iterable[str] = (), solo: Iterable[str] = ()) -> list[str]:
    """The tracks heard: the soloed ones if any are, otherwise all; a muted track never is."""
    mute, solo = set(mute), set(solo)
    unknown = (mute | solo) - set(names)
    if unknown:
        raise ValueError(f"no tracks named {', '.join(sorted(unknown))}")
    return [name for name in names if (not solo or name in solo) and name not in mute]


DUCK_ATTACK_S = 0.004  # a short ramp into the dip, so it does not click


def kick_duck_gain(
    kicks: np.ndarray, start: int, count: int, sample_rate: int, depth_db: float, release_ms: float
) -> np.ndarray:
    """Gain for samples [start, start + count) of a track ducked under kick onsets (sample indices).

    Keyed from the kick *notes* rather than the drum audio, so the dip is exact, the same in
    every block, and needs no look-ahead: down by depth_db in a few ms, back with release_ms.
    """
    t = np.arange(start, start + count, dtype=np.int64)
    gain = np.ones(count, dtype=np.float64)
    if len(kicks) == 0 or depth_db <= 0:
        return gain.astype(np.float32)
    floor = db_to_gain(-depth_db)
    attack = max(1, round(DUCK_ATTACK_S * sample_rate))
    release = max(1.0, release_ms / 1000 * sample_rate)
    last = np.searchsorted(kicks, t, side="right") - 1  # the latest kick at or before each sample
    has = last >= 0
    since = np.where(has, t - kicks[np.maximum(last, 0)], 0).astype(np.float64)
    amount = np.where(since < attack, since / attack, np.exp(-(since - attack) / release))
    gain[has] = 1.0 - (1.0 - floor) * amount[has]
    return gain.astype(np.float32)


def _shift_filter(filt, x: np.ndarray, back: int, ahead: int, fill: float) -> np.ndarray:
    """filt over the window [n - back, n + ahead] for every n (scipy centres its windows)."""
    size = back + ahead + 1
    # scipy's window for `size` and origin o covers [n - size//2 - o, ...] (checked in tests).
    origin = back - size // 2
    return filt(x, size=size, mode="constant", cval=fill, origin=origin)


def true_peak_envelope(audio: np.ndarray) -> np.ndarray:
    """Per sample, the largest 4x-oversampled magnitude around it, over both channels."""
    n = audio.shape[1]
    envelope = np.abs(audio).max(axis=0).astype(np.float32)
    for start in range(0, n, _PEAK_CHUNK):
        lo, hi = max(0, start - _PEAK_MARGIN), min(n, start + _PEAK_CHUNK + _PEAK_MARGIN)
        from scipy import signal  # imported here: gain, pan and mute/solo stay light to import

        up = signal.resample_poly(audio[:, lo:hi].astype(np.float64), OVERSAMPLE, 1, axis=1)
        frames = np.abs(up).max(axis=0).reshape(-1, OVERSAMPLE).max(axis=1)
        keep = slice(start - lo, start - lo + min(_PEAK_CHUNK, n - start))
        np.maximum(
            envelope[start : start + _PEAK_CHUNK],
            frames[keep].astype(np.float32),
            out=envelope[start : start + _PEAK_CHUNK],
        )
    return envelope


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness in LUFS (BS.1770-4 gating), or None for silence or under 0.4 s."""
    if audio.shape[1] < int(0.4 * sample_rate) + 1:
        return None
    import pyloudnorm

    value = pyloudnorm.Meter(sample_rate).integrated_loudness(audio.T.astype(np.float64))
    return float(value) if np.isfinite(value) else None


def _round(value: float | None) -> float | None:
    """Stats go into the lock file as JSON: finite, rounded, None for minus infinity."""
    return None if value is None else round(float(value), 3)
