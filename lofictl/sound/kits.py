"""Drum kits lofictl makes itself: seeded procedural one-shots played on the General MIDI keys.

Why a made kit: the installed SoundFont kits are acoustic rock and jazz kits (AVL Black Pearl,
FluidR3's Standard/Room/Jazz/Brush) or an 808 that is half sub; measured on the boom-bap pattern
through the `sampler` chain, their 1-8 kHz share is 2.7-5.4% (the 808's 13%, with 57% under
60 Hz), and none has the short, saturated, roomy hits of a kit sampled off records. `dusty` is
built for that: a short pitch-dropping kick with a beater tick, a snare of tone and wires with a
crack, metallic hats, all through a little saturation and a small dark room, each one-shot
carrying the hiss and crackle of the record it might have been sampled from.

How it plays:
- Each hit plays a one-shot drawn for its key, velocity layer (16 across 1..127) and round-robin
  variant (four per key, never the same twice in a row), from noise seeded by the kit, key and
  variant alone, at its exact velocity's level. Velocity changes the timbre, not only the level:
  a harder kick has a louder beater and a higher pitch drop, a harder snare brighter, longer
  wires and a crack, a harder hat a brighter top and a longer decay.
- A hat hit chokes a ringing open hat (4 ms fade), as on a real hi-hat and on samplers.
- Hits start on the exact sample of their note (rounded); note lengths are ignored (one-shots).
  Keys the kit does not have are silent, as with a SoundFont kit that lacks them.
- The output is float32 (2, n_samples); the bytes do not depend on the block size, and repeat
  across processes (NumPy's seeded generators and SciPy's filters only).

    python -m lofictl.sound.kits dusty /tmp/dusty.wav      # every key at three velocities
"""

from __future__ import annotations

import argparse
import bisect
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from lofictl.compose.score import TempoMap, Track
from lofictl.errors import LofictlError, did_you_mean
from lofictl.seeds import rng

KIT_VERSION = 1  # bump whenever a kit's sound changes: it is part of the stem's cache key
VARIANTS = 4  # round-robin one-shots per key and velocity layer
VELOCITY_LAYERS = 16  # one-shots drawn per key across the velocity range (each a little brighter)
HAT_KEYS = (42, 44, 46)  # closed, pedal, open: one hi-hat, so each hit chokes a ringing open hat
CHOKED_KEYS = (46,)
CHOKE_FADE_S = 0.004
DEFAULT_BLOCK_SIZE = 8192
# The stem's level: a boom-bap bar at the pattern's velocities then measures about -23 LUFS, as the
# SoundFont kits do through FluidSynth at render.DEFAULT_GAIN (AVL Black Pearl -23.7), so a
# recipe's gain_db means the same with either.
KIT_TRIM_DB = -4.0


# --- building blocks ------------------------------------------------------------------------------


def _times(seconds: float, sample_rate: int) -> np.ndarray:
    return np.arange(max(1, round(seconds * sample_rate))) / sample_rate


def _env(t: np.ndarray, attack: float, decay: float) -> np.ndarray:
    """A linear rise over `attack` seconds, then an exponential fall with time constant `decay`."""
    envelope = np.exp(-t / decay)
    return envelope * np.minimum(1.0, t / attack) if attack > 0 else envelope


def _sweep(t: np.ndarray, start_hz: float, end_hz: float, tau: float, sample_rate: int):
    """A sine whose pitch falls from start_hz to end_hz with time constant tau (a drum head)."""
    freq = end_hz + (start_hz - end_hz) * np.exp(-t / tau)
    return np.sin(2 * np.pi * np.cumsum(freq) / sample_rate)


def _filter(x: np.ndarray, sample_rate: int, low: float, high: float) -> np.ndarray:
    """A second-order Butterworth band-pass from `low` to `high`, its edges kept under Nyquist."""
    from scipy import signal  # here, not at the top: planning a build checks kits without SciPy

    top = 0.45 * sample_rate
    sos = _bandpass(sample_rate, min(low, 0.9 * top), min(high, top)).copy()  # a copy: the cached design stays as made
    return signal.sosfilt(sos, x)


@functools.lru_cache(maxsize=1024)
def _bandpass(sample_rate: int, low: float, high: float) -> np.ndarray:
    """The band-pass's coefficients, designed once per edges: SciPy's design is pure Python and
    took a third of a kit's render (most one-shots share their dust's and their voice's edges)."""
    from scipy import signal

    return signal.butter(2, [low, high], "bandpass", fs=sample_rate, output="sos")


def _saturate(x: np.ndarray, drive: float) -> np.ndarray:
    peak = float(np.abs(x).max())
    return np.tanh(drive * x / peak) * peak / np.tanh(drive) if peak > 0 else x


# 808-style cymbal oscillators (Hz): six detuned square waves give the metallic, inharmonic hats.
_METAL_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)


def _metal(t: np.ndarray, scale: float, gen: np.random.Generator) -> np.ndarray:
    phases = gen.uniform(0, 2 * np.pi, len(_METAL_HZ))
    return sum(np.sign(np.sin(2 * np.pi * f * scale * t + p)) for f, p in zip(_METAL_HZ, phases)) / len(_METAL_HZ)


# --- the voices: (velocity 0..1, detune, generator, sample rate) → mono one-shot -----------------


def _kick(deep: bool) -> Callable:
    def voice(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
        t = _times(1.0 if deep else 0.6, sr)
        low = (47 if deep else 56) * detune
        decay = (0.13 if deep else 0.07) + 0.035 * v
        body = _sweep(t, (110 + 110 * v) * detune, low, 0.025, sr) * _env(t, 0.0008, decay)
        tick = _filter(gen.standard_normal(t.size), sr, 1500, 4000 + 4000 * v) * _env(t, 0, 0.004)
        knock = np.sin(2 * np.pi * 180 * detune * t) * _env(t, 0, 0.015)
        return _saturate(body + (0.15 + 0.9 * v * v) * tick + 0.35 * v * knock, 1.8 + 1.8 * v)

    return voice


def _snare(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
    t = _times(0.85, sr)
    tone = 0.65 * _sweep(t, 250 * detune, 188 * detune, 0.015, sr) + 0.3 * np.sin(
        2 * np.pi * 335 * detune * t + gen.uniform(0, 6.3)
    )
    tone *= _env(t, 0.0005, 0.05)
    wires = _filter(gen.standard_normal(t.size), sr, 700, 3000 + 6000 * v) * _env(t, 0.0008, 0.07 + 0.06 * v)
    shell = _filter(gen.standard_normal(t.size), sr, 300, 1200) * _env(t, 0.0005, 0.03)  # the thwack
    crack = _filter(gen.standard_normal(t.size), sr, 2000, 7000) * _env(t, 0, 0.004)
    return _saturate(tone + 2.0 * shell + (0.55 + 0.6 * v) * 1.5 * wires + 1.2 * v * v * crack, 1.4 + 1.6 * v)


def _brush_snare(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
    t = _times(0.7, sr)
    swish = _filter(gen.standard_normal(t.size), sr, 600, 2500 + 3500 * v) * _env(t, 0.006, 0.06 + 0.05 * v)
    tone = np.sin(2 * np.pi * 200 * detune * t) * _env(t, 0.001, 0.04)
    return _saturate(2.0 * swish + 0.3 * tone, 1.3)


def _rim(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
    t = _times(0.15, sr)
    wood = np.sin(2 * np.pi * 1650 * detune * t) * _env(t, 0, 0.016) + 0.7 * np.sin(
        2 * np.pi * 520 * detune * t
    ) * _env(t, 0, 0.028)
    click = _filter(gen.standard_normal(t.size), sr, 2000, 6000 + 4000 * v) * _env(t, 0, 0.003)
    return _saturate(wood + (0.4 + 0.8 * v) * click, 1.5)


def _clap(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
    t = _times(0.7, sr)
    noise = _filter(gen.standard_normal(t.size), sr, 900, 2600 + 3000 * v)
    envelope = np.zeros_like(t)
    for delay in (0.0, 0.010 * detune, 0.021, 0.030):  # several hands, a few ms apart
        late = np.maximum(t - delay, 0)
        envelope += (t >= delay) * _env(late, 0.0005, 0.006)
    late = np.maximum(t - 0.030, 0)
    envelope += (t >= 0.030) * 0.8 * _env(late, 0.001, 0.07 + 0.04 * v)
    return _saturate(noise * envelope, 1.5)


def _hat(decay: float, grow: float, low: float, pedal: bool = False) -> Callable:
    def voice(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
        t = _times(min(1.6, 6 * (decay + grow)), sr)
        source = 0.6 * _metal(t, 1.9 * detune, gen) + 0.5 * gen.standard_normal(t.size)
        top = 6000 + 7000 * v  # a harder hit: a brighter top and a longer ring
        y = _filter(source, sr, low, top) * _env(t, 0.0004, decay + grow * v)
        if pedal:  # the foot's chick: a dull thud of the two cymbals closing
            y += 0.5 * _filter(gen.standard_normal(t.size), sr, 700, 2500) * _env(t, 0.002, 0.008)
        return _saturate(y, 1.3)

    return voice


def _cymbal(decay: float, low: float, bell: float = 0.0, drive: float = 1.2) -> Callable:
    def voice(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
        t = _times(min(4.0, 6 * decay), sr)
        wash = (
            0.5 * _metal(t, 2.6 * detune, gen) + 0.5 * _metal(t, 3.7 * detune, gen) + 0.6 * gen.standard_normal(t.size)
        )
        y = _filter(wash, sr, low, 9000 + 5000 * v) * _env(t, 0.0015, decay * (0.8 + 0.4 * v))
        if bell:
            partials = (1.0, 2.16, 2.95, 4.1, 5.4)
            ring = sum(
                np.sin(2 * np.pi * 470 * detune * k * t + gen.uniform(0, 6.3)) / (1 + i) for i, k in enumerate(partials)
            )
            y += bell * 0.2 * ring * _env(t, 0.0005, 0.9 * decay)
        return _saturate(y, drive)

    return voice


def _tom(hz: float) -> Callable:
    def voice(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
        t = _times(1.5, sr)
        body = _sweep(t, hz * (1.45 + 0.2 * v) * detune, hz * detune, 0.05, sr) * _env(t, 0.001, 0.14 + 12.0 / hz)
        stick = _filter(gen.standard_normal(t.size), sr, 400, 3000 + 3000 * v) * _env(t, 0, 0.012)
        return _saturate(body + 0.3 * (0.3 + v) * stick, 1.4 + v)

    return voice


def _shaker(low: float, attack: float) -> Callable:
    def voice(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
        t = _times(0.45, sr)
        return _filter(gen.standard_normal(t.size), sr, low, 7500 + 4000 * v) * _env(t, attack, 0.04 + 0.03 * v)

    return voice


def _tambourine(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
    t = _times(0.8, sr)
    jingles = _filter(0.7 * _metal(t, 3.1 * detune, gen) + 0.5 * gen.standard_normal(t.size), sr, 5500, 12000)
    envelope = _env(t, 0.001, 0.09 + 0.05 * v) + 0.6 * (t >= 0.012) * _env(np.maximum(t - 0.012, 0), 0.001, 0.05)
    return jingles * envelope


def _cowbell(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
    t = _times(0.8, sr)
    tone = np.sign(np.sin(2 * np.pi * 540 * detune * t)) + np.sign(np.sin(2 * np.pi * 800 * detune * t))
    return _filter(tone, sr, 450, 2500 + 2000 * v) * (0.6 * _env(t, 0.0005, 0.02) + 0.4 * _env(t, 0.0005, 0.12))


def _claves(v: float, detune: float, gen: np.random.Generator, sr: int) -> np.ndarray:
    t = _times(0.12, sr)
    return np.sin(2 * np.pi * 2500 * detune * t) * _env(t, 0.0003, 0.022)


@dataclass(frozen=True)
class Voice:
    """One key of a kit: how its one-shot is made, its peak level at velocity 127, where it sits."""

    name: str
    make: Callable[[float, float, np.random.Generator, int], np.ndarray]
    level_db: float
    pan: float = 0.0  # -1 left .. 1 right, from the listener's seat
    room: float = 0.2  # how much of the small room it excites


# The dusty kit: GM percussion keys → voices. Levels put the backbeat snare and the kick on top,
# the hats well under them (the player's dynamics do the rest).
DUSTY: dict[int, Voice] = {
    35: Voice("deep kick", _kick(deep=True), -7.0, 0.0, 0.08),
    36: Voice("kick", _kick(deep=False), -7.0, 0.0, 0.1),
    37: Voice("rim", _rim, -12.0, 0.05, 0.35),
    38: Voice("snare", _snare, -11.0, 0.03, 0.4),
    39: Voice("clap", _clap, -10.0, -0.05, 0.45),
    40: Voice("brush snare", _brush_snare, -12.0, 0.03, 0.3),
    41: Voice("low floor tom", _tom(82), -10.0, -0.35, 0.3),
    42: Voice("closed hat", _hat(0.022, 0.03, 3200), -10.5, 0.3, 0.15),
    43: Voice("floor tom", _tom(96), -10.0, -0.3, 0.3),
    44: Voice("pedal hat", _hat(0.018, 0.008, 2500, pedal=True), -13.5, 0.3, 0.1),
    45: Voice("low tom", _tom(118), -10.5, -0.1, 0.3),
    46: Voice("open hat", _hat(0.22, 0.25, 3000), -11.5, 0.3, 0.2),
    47: Voice("low-mid tom", _tom(136), -10.5, 0.0, 0.3),
    48: Voice("high tom", _tom(158), -11.0, 0.15, 0.3),
    49: Voice("crash", _cymbal(0.9, 2800), -17.0, -0.35, 0.15),
    50: Voice("high tom 2", _tom(182), -11.0, 0.25, 0.3),
    51: Voice("ride", _cymbal(0.75, 4200, bell=0.35, drive=1.1), -21.0, 0.4, 0.12),
    52: Voice("china", _cymbal(0.7, 1800, drive=2.5), -18.0, 0.45, 0.15),
    53: Voice("ride bell", _cymbal(0.6, 3500, bell=1.2, drive=1.1), -20.0, 0.4, 0.12),
    54: Voice("tambourine", _tambourine, -20.0, -0.4, 0.2),
    55: Voice("splash", _cymbal(0.35, 3500), -19.0, 0.35, 0.15),
    56: Voice("cowbell", _cowbell, -19.0, -0.3, 0.2),
    57: Voice("crash 2", _cymbal(1.1, 2400), -17.0, 0.4, 0.15),
    59: Voice("ride 2", _cymbal(0.9, 3800, bell=0.25, drive=1.1), -21.0, -0.4, 0.12),
    69: Voice("cabasa", _shaker(5000, 0.004), -18.0, -0.35, 0.15),
    70: Voice("shaker", _shaker(3500, 0.012), -17.0, -0.35, 0.15),
    75: Voice("claves", _claves, -20.0, 0.3, 0.25),
}

KITS: dict[str, dict[int, Voice]] = {"dusty": DUSTY}
KIT_DESCRIPTIONS = {"dusty": "a procedurally made boom-bap kit: short kick, cracking snare, dusty room"}


def kit_names() -> list[str]:
    return sorted(KITS)


def check_kit(name: str) -> dict[int, Voice]:
    """The kit's voices, or an error that names the kits (and the closest one)."""
    if name not in KITS:
        raise LofictlError(f"unknown kit {name!r}{did_you_mean(name, KITS)} (kits: {', '.join(kit_names())})")
    return KITS[name]


def kit_keys(name: str) -> tuple[int, ...]:
    """The GM keys the kit plays."""
    return tuple(sorted(check_kit(name)))


def key_ranges(name: str) -> str:
    """The kit's keys as runs, e.g. "35-57, 59, 69-70, 75"."""
    runs: list[list[int]] = []
    for key in kit_keys(name):
        if runs and key == runs[-1][-1] + 1:
            runs[-1].append(key)
        else:
            runs.append([key])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def kit_identity(name: str) -> str:
    """What the kit's sound depends on, for the stem's cache key and the lock ("dusty v1")."""
    check_kit(name)
    return f"{name} v{KIT_VERSION}"


# --- one-shots ------------------------------------------------------------------------------------


def velocity_layer(velocity: int) -> int:
    """Which of the VELOCITY_LAYERS one-shots a velocity (1..127) plays: 0 the softest."""
    return (min(max(velocity, 1), 127) - 1) * VELOCITY_LAYERS // 127


def _velocity_gain(velocity: int) -> float:
    """Level by velocity: about -5 dB at 90, -11 at 60, -21 at 30 (a sampler's usual curve)."""
    return (velocity / 127) ** 1.6


DUST_DB = -30.0  # the record's noise under a one-shot, against the hit's peak at velocity 127


def _dust(n: int, level: float, sample_rate: int, gen: np.random.Generator) -> np.ndarray:
    """The record a hit was sampled from: its hiss and a few crackles, as long as the one-shot
    (so it comes and goes with the drums, as a sampled break's noise does)."""
    hiss = 0.25 * _filter(gen.standard_normal((2, n)), sample_rate, 1500, 9000)
    ticks = np.zeros((2, n))
    count = gen.poisson(6.0 * n / sample_rate)
    ticks[:, gen.integers(0, n, count)] = gen.uniform(-1, 1, (1, count)) * gen.uniform(0.5, 1.5, (2, count))
    return (hiss + _filter(ticks, sample_rate, 1000, 7000)) * level * 10 ** (DUST_DB / 20)


@functools.lru_cache(maxsize=16)
def _room(sample_rate: int) -> np.ndarray:
    """A small, dark, stereo room (120 ms): early reflections and a short diffuse tail."""
    gen = rng(0, "kit", "room")
    t = _times(0.12, sample_rate)
    tail = gen.standard_normal((2, t.size)) * np.exp(-t / 0.028) * (t >= 0.004)
    for delay, gain in ((0.0071, 0.5), (0.0113, 0.4), (0.0167, 0.3), (0.0229, 0.25)):
        index = round(delay * sample_rate)
        tail[0, index] += gain
        tail[1, min(t.size - 1, index + round(0.0013 * sample_rate))] += gain
    tail = _filter(tail, sample_rate, 180, 5500)
    return tail / np.sqrt((tail**2).sum(axis=1, keepdims=True))


# At most this many one-shots are kept (a few hundred kB each): a long track's memory stays
# bounded while a groove's few keys, layers and variants are drawn once.
ONE_SHOTS_KEPT = 384


@functools.lru_cache(maxsize=ONE_SHOTS_KEPT)
def one_shot(kit: str, key: int, layer: int, variant: int, sample_rate: int) -> np.ndarray:
    """One velocity layer's one-shot, float32 (2, n), at the level of velocity 127: the key's
    voice drawn at the layer's middle velocity, for this round-robin variant."""
    from scipy import signal

    voice = check_kit(kit)[key]
    gen = rng(0, "kit", kit, KIT_VERSION, key, variant)  # the same noise in every layer
    detune = 1.0 + gen.uniform(-0.012, 0.012)
    level = 10 ** ((voice.level_db + KIT_TRIM_DB + gen.uniform(-0.4, 0.4)) / 20)
    dry = voice.make((layer + 0.5) / VELOCITY_LAYERS, detune, gen, sample_rate)
    dry = dry / np.abs(dry).max() * level
    angle = (voice.pan + 1) * np.pi / 4  # constant-power pan
    stereo = np.stack([np.cos(angle) * dry, np.sin(angle) * dry]) * np.sqrt(2)
    room = _room(sample_rate)
    wet = np.stack([signal.fftconvolve(dry, room[0]), signal.fftconvolve(dry, room[1])])
    out = np.zeros((2, wet.shape[1]))
    out[:, : dry.size] = stereo
    out += voice.room * wet
    out += _dust(out.shape[1], level, sample_rate, rng(0, "kit", kit, KIT_VERSION, key, variant, "dust"))
    fade = min(out.shape[1], round(0.01 * sample_rate))  # the one-shot's end, without a click
    out[:, -fade:] *= np.linspace(1, 0, fade)
    result = out.astype(np.float32)
    result.flags.writeable = False
    return result


# --- playing a track ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    start: int  # sample of the onset
    key: int
    velocity: int
    variant: int
    stop: int | None  # a choke: the hit fades out here (None: it rings out)


def hits(track: Track, timing: float | TempoMap, kit: str, sample_rate: int, n_samples: int) -> list[Hit]:
    """The track's notes as kit hits, sorted, with round-robin variants and hi-hat chokes."""
    voices = check_kit(kit)
    tempo = timing if isinstance(timing, TempoMap) else TempoMap.constant(timing)
    onsets = []
    for note in track.notes:
        if not 0 <= note.pitch <= 127:
            raise LofictlError(f"note pitch {note.pitch} is outside MIDI's 0..127", field=("tracks", track.name))
        start = round(tempo.samples(note.start, sample_rate))
        if 0 <= start < n_samples and note.pitch in voices:
            onsets.append((start, note.pitch, min(max(int(note.velocity), 1), 127)))
    onsets.sort()
    choose = rng(0, "kit", kit, "round-robin")
    last: dict[int, int] = {}
    variants = []
    for _, key, _ in onsets:  # never the same one-shot twice in a row on a key
        step = 1 + int(choose.integers(0, VARIANTS - 1))
        last[key] = (last[key] + step) % VARIANTS if key in last else int(choose.integers(0, VARIANTS))
        variants.append(last[key])
    hat_starts = sorted({start for start, key, _ in onsets if key in HAT_KEYS})
    result = []
    for (start, key, velocity), variant in zip(onsets, variants):
        stop = None
        if key in CHOKED_KEYS:
            later = bisect.bisect_right(hat_starts, start)
            stop = int(hat_starts[later]) if later < len(hat_starts) else None
        result.append(Hit(start, key, velocity, variant, stop))
    return result


def hit_sound(kit: str, key: int, velocity: int, variant: int, sample_rate: int) -> np.ndarray:
    """One hit at its velocity (1..127): its layer's one-shot at the velocity's level."""
    return one_shot(kit, key, velocity_layer(velocity), variant, sample_rate) * np.float32(_velocity_gain(velocity))


def _sound(kit: str, hit: Hit, sample_rate: int) -> np.ndarray:
    audio = hit_sound(kit, hit.key, hit.velocity, hit.variant, sample_rate)
    if hit.stop is None or hit.stop - hit.start >= audio.shape[1]:
        return audio
    fade = round(CHOKE_FADE_S * sample_rate)
    keep = hit.stop - hit.start
    choked = audio[:, : keep + fade]
    tail = choked.shape[1] - keep
    choked[:, keep:] *= np.linspace(1, 0, tail + 1, dtype=np.float32)[1:]
    return choked


def iter_render_kit(
    track: Track,
    timing: float | TempoMap,
    kit: str,
    sample_rate: int,
    n_samples: int,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Iterator[np.ndarray]:
    """The track played by the kit as float32 (2, block_size) blocks (the last shorter).

    Each sample sums the hits sounding there in the same order whatever the block size, so the
    bytes never depend on it. Sounds still ringing at n_samples are cut there.
    """
    if block_size < 1:
        raise ValueError("block_size must be at least 1")
    played = hits(track, timing, kit, sample_rate, n_samples)
    sounding: list[tuple[Hit, np.ndarray]] = []
    index = 0
    for block_start in range(0, n_samples, block_size):
        block_end = min(block_start + block_size, n_samples)
        while index < len(played) and played[index].start < block_end:
            sounding.append((played[index], _sound(kit, played[index], sample_rate)))
            index += 1
        block = np.zeros((2, block_end - block_start), dtype=np.float32)
        for hit, audio in sounding:
            a = max(hit.start, block_start)
            b = min(hit.start + audio.shape[1], block_end)
            if a < b:
                block[:, a - block_start : b - block_start] += audio[:, a - hit.start : b - hit.start]
        sounding = [(hit, audio) for hit, audio in sounding if hit.start + audio.shape[1] > block_end]
        yield block


def render_kit(
    track: Track,
    timing: float | TempoMap,
    kit: str,
    sample_rate: int,
    n_samples: int,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> np.ndarray:
    """iter_render_kit as one float32 (2, n_samples) array."""
    blocks = list(iter_render_kit(track, timing, kit, sample_rate, n_samples, block_size=block_size))
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((2, 0), dtype=np.float32)


@functools.cache
def kit_digest(name: str, sample_rate: int = 44100) -> str:
    """sha256 over a one-shot of every key of the kit (velocity 100): changes when its sound does,
    and differs on a platform whose NumPy or SciPy draws it otherwise (the lock records it)."""
    digest = hashlib.sha256(kit_identity(name).encode())
    for key in kit_keys(name):
        digest.update(one_shot(name, key, velocity_layer(100), 0, sample_rate).tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    """Write every key of a kit at velocities 40, 90 and 127, a second apart, to a WAV to hear."""
    from lofictl.compose.score import Note
    from lofictl.sound.audio_io import write_wav

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("kit", choices=kit_names())
    parser.add_argument("out", type=Path)
    parser.add_argument("--sample-rate", type=int, default=44100)
    args = parser.parse_args(argv)
    notes = [
        Note(start=2.0 * (3 * i + j), duration=0.25, pitch=key, velocity=velocity)
        for i, key in enumerate(kit_keys(args.kit))
        for j, velocity in enumerate((40, 90, 127))
    ]
    track = Track(name="drums", part="drums", notes=tuple(notes), is_drums=True)
    n = round((notes[-1].start + 3.0) * 0.5 * args.sample_rate)
    write_wav(args.out, render_kit(track, 0.5, args.kit, args.sample_rate, n), args.sample_rate, "float32")
    print(f"wrote {args.out}: {', '.join(f'{k} {check_kit(args.kit)[k].name}' for k in kit_keys(args.kit))}")


if __name__ == "__main__":
    main()

__all__ = [
    "KITS",
    "KIT_VERSION",
    "check_kit",
    "hit_sound",
    "iter_render_kit",
    "kit_identity",
    "kit_keys",
    "one_shot",
    "render_kit",
]
