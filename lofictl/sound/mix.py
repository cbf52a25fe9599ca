"""Mixing and mastering: gain and pan, mute/solo, ducking under the kick, and a master
stage that reaches a loudness target (ITU-R BS.1770 via pyloudnorm) under a true-peak ceiling.

The true-peak limiter is a look-ahead gain curve computed for the whole signal at once: the
gain each sample needs (from 4x-oversampled peaks) is spread by a minimum filter and smoothed by
a box filter of matching span, which provably never lets the gain rise above what any sample
needs. A final static trim covers the last rounding, so the master never exceeds the ceiling.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from lofictl.sound.effects import apply_chain
from lofictl.sound.levels import db_to_gain, gain_to_db

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


def true_peak(audio: np.ndarray) -> float:
    """The true peak (linear) of (2, n) audio."""
    return float(true_peak_envelope(audio).max()) if audio.shape[1] else 0.0


def limit_true_peak(audio: np.ndarray, sample_rate: int, ceiling_db: float = -1.0) -> tuple[np.ndarray, float]:
    """(audio with its true peak at or below ceiling_db, largest gain reduction in dB)."""
    ceiling = db_to_gain(ceiling_db)
    envelope = true_peak_envelope(audio)
    if envelope.size == 0 or envelope.max() <= ceiling:
        return audio, 0.0
    needed = np.minimum(1.0, ceiling / np.maximum(envelope, 1e-12))
    ahead = max(1, round(LIMITER_LOOKAHEAD_S * sample_rate))
    back = max(1, round(LIMITER_RELEASE_S * sample_rate))
    # Min over [n-back, n+ahead], then average over [n-ahead, n+back]: every value averaged
    # into gain[n] is a minimum over a window containing n, so gain[n] <= needed[n].
    from scipy import ndimage

    held = _shift_filter(ndimage.minimum_filter1d, needed.astype(np.float64), back, ahead, 1.0)
    gain = _shift_filter(ndimage.uniform_filter1d, held, ahead, back, 1.0)
    gain = np.minimum(gain, needed)  # guards against the box filter's float rounding
    limited = (audio * gain.astype(np.float32)).astype(np.float32)
    reduction = float(-20.0 * np.log10(gain.min()))
    # Oversampled peaks between samples can still poke over by a hair: trim them statically.
    for _ in range(3):
        peak = true_peak(limited)
        if peak <= ceiling:
            break
        limited = (limited * np.float32(ceiling / peak * (1 - 1e-6))).astype(np.float32)
    return limited, reduction


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness in LUFS (BS.1770-4 gating), or None for silence or under 0.4 s."""
    if audio.shape[1] < int(0.4 * sample_rate) + 1:
        return None
    import pyloudnorm

    value = pyloudnorm.Meter(sample_rate).integrated_loudness(audio.T.astype(np.float64))
    return float(value) if np.isfinite(value) else None


def master(
    mix: np.ndarray,
    sample_rate: int,
    chain_spec: Sequence | None = None,
    loudness_lufs: float | None = -14.0,
    true_peak_db: float = -1.0,
) -> tuple[np.ndarray, dict]:
    """The master: chain, then gain to the loudness target, then the true-peak ceiling.

    When the limiter takes loudness away, the gain is raised and the limiter run again (a few
    times at most), so the result lands within 0.5 LU of the target unless the ceiling forbids
    it; `stats` reports what was reached.
    """
    processed = apply_chain(mix, sample_rate, chain_spec) if chain_spec else np.asarray(mix, np.float32)
    measured = integrated_loudness(processed, sample_rate)
    gain_db = 0.0
    if loudness_lufs is not None and measured is not None:
        gain_db = loudness_lufs - measured
    reduction = 0.0
    out = processed
    for _ in range(4):
        out, reduction = limit_true_peak(apply_gain_pan(processed, gain_db, 0.0), sample_rate, true_peak_db)
        reached = integrated_loudness(out, sample_rate)
        if loudness_lufs is None or reached is None or reduction == 0.0 or abs(reached - loudness_lufs) <= 0.1:
            break
        gain_db += loudness_lufs - reached
    final_lufs = integrated_loudness(out, sample_rate)
    peak = true_peak(out)
    sample_peak = float(np.abs(out).max()) if out.size else 0.0
    stats = {
        "input_lufs": _round(measured),
        "integrated_lufs": _round(final_lufs),
        "target_lufs": loudness_lufs,
        "gain_db": _round(gain_db),
        "true_peak_dbtp": _round(gain_to_db(peak)),
        "true_peak_ceiling_db": true_peak_db,
        "sample_peak_dbfs": _round(gain_to_db(sample_peak)),
        "limiter_reduction_db": _round(reduction),
    }
    return out, stats


def _round(value: float | None) -> float | None:
    """Stats go into the lock file as JSON: finite, rounded, None for minus infinity."""
    return None if value is None else round(float(value), 3)
