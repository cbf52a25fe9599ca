"""The whole-array renders: the oracles the streamed code is tested against.

The builds never call these. Each renders a stem, an overlay or the master as one array, the
plain way, and the streamed code (sound.stems, sound.master) must give their bytes, for any block
size, in bounded memory; the tests compare the two. They hold the whole signal, so a 60-minute
track costs gigabytes here (benchmarks/bench_long.py measures the difference).

The true-peak limiter is a look-ahead gain curve computed for the whole signal at once: the
gain each sample needs (from 4x-oversampled peaks) is spread by a minimum filter and smoothed by
a box filter of matching span, which provably never lets the gain rise above what any sample
needs. A final static trim covers the last rounding, so the master never exceeds the ceiling.
master._limit_pass computes the same curve frame by frame.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lofictl.sound.effects import apply_chain
from lofictl.sound.levels import db_to_gain, gain_to_db
from lofictl.sound.mix import (
    LIMITER_LOOKAHEAD_S,
    LIMITER_RELEASE_S,
    _round,
    _shift_filter,
    apply_gain_pan,
    integrated_loudness,
    true_peak_envelope,
)
from lofictl.sound.stems import Overlay, Stem, source_audio
from lofictl.sound.stream import fit_length


def render_stem(stem: Stem) -> np.ndarray:
    """One stem as one array: FluidSynth (or its kit), its effect chain, gain and pan (the ducking
    aside: mix.kick_duck_gain, a gain curve tested on its own).

    stems.render_stem_to_wav gives these bytes (through audio_io.write_wav) in bounded memory.
    """
    audio = source_audio(
        stem.track, stem.timing, stem.soundfont, stem.preset, stem.sample_rate, stem.n_samples, kit=stem.kit
    )
    if stem.effects:
        audio = apply_chain(audio, stem.sample_rate, stem.effects)
        audio = fit_length(audio, stem.n_samples)
    return apply_gain_pan(audio, stem.gain_db, stem.pan)


def render_overlay(overlay: Overlay, sample_rate: int, n_samples: int) -> np.ndarray:
    """An overlay as one array: source, placed and faded, at its gain, through its effects, panned.

    stems.render_overlay_to_wav gives these bytes in blocks.
    """
    from lofictl.sound import ambience

    if overlay.file is not None:
        source = ambience.load_overlay(overlay.file, sample_rate)
    else:
        kind, seed = overlay.generator()
        length = n_samples if not overlay.loop else min(n_samples, 20 * sample_rate)
        source = ambience.generate(kind, length, sample_rate, seed)
    audio = ambience.place_overlay(
        source,
        n_samples,
        sample_rate,
        loop=overlay.loop,
        fade_in_s=overlay.fade_in_s,
        fade_out_s=overlay.fade_out_s,
        start_s=overlay.start_s,
        gain_db=overlay.gain_db,
    )
    if overlay.effects:
        audio = fit_length(apply_chain(audio, sample_rate, overlay.effects), n_samples)
    return apply_gain_pan(audio, 0.0, overlay.pan)


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
