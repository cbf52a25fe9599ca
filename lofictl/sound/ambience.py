"""Ambience overlays: seeded procedural rain, vinyl crackle and tape hiss, and audio-file beds.

The generators build sound from filtered noise and filtered impulse trains, in fixed-size
chunks with the filter state carried across, so memory stays bounded for long tracks and a
longer render starts with exactly the samples of a shorter one. At gain 0 dB rain and hiss sit
near -20 dBFS RMS (peaks near -5); vinyl, mostly quiet between its clicks, peaks near -1.5 dBFS
at about -39 dBFS RMS. The recipe's `gain_db` sets the level in the mix.

    python -m lofictl.sound.ambience rain effects/rain.flac --seconds 12 --seed 1
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import signal

from lofictl.errors import LofictlError

KINDS = ("rain", "vinyl", "hiss")
CHUNK = 1 << 16  # samples generated at a time


class _Filter:
    """A stereo IIR filter (second-order sections) that keeps its state between chunks."""

    def __init__(self, sos: np.ndarray):
        self.sos = np.atleast_2d(sos)
        self.state = np.zeros((self.sos.shape[0], 2, 2))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y, self.state = signal.sosfilt(self.sos, x, axis=-1, zi=self.state)
        return y


class _Drift:
    """Smooth random motion: values drawn every `hop` samples, cosine-interpolated between."""

    def __init__(self, rng: np.random.Generator, hop: int, low: float, high: float):
        self.rng, self.hop, self.low, self.high = rng, hop, low, high
        self.points = [rng.uniform(low, high), rng.uniform(low, high)]
        self.position = 0

    def __call__(self, n: int) -> np.ndarray:
        index = self.position + np.arange(n)
        needed = index[-1] // self.hop + 2
        while len(self.points) < needed:
            self.points.append(self.rng.uniform(self.low, self.high))
        points = np.asarray(self.points)
        k, frac = np.divmod(index, self.hop)
        weight = 0.5 - 0.5 * np.cos(np.pi * frac / self.hop)
        self.position += n
        return points[k] * (1 - weight) + points[k + 1] * weight


def _impulses(
    rng: np.random.Generator,
    n: int,
    rate: float,
    sample_rate: int,
    amplitude: Callable[[int], np.ndarray],
    spread: float,
) -> np.ndarray:
    """A stereo train of Poisson-timed impulses; `spread` (0..1) sets how far each is panned."""
    out = np.zeros((2, n))
    count = rng.poisson(rate * n / sample_rate)
    if count:
        where = rng.integers(0, n, count)
        size = amplitude(count)
        pan = rng.uniform(-spread, spread, count)
        np.add.at(out[0], where, size * np.sqrt(0.5 * (1 - pan)))
        np.add.at(out[1], where, size * np.sqrt(0.5 * (1 + pan)))
    return out


def _band(low: float | None, high: float | None, sample_rate: int, order: int = 2) -> _Filter:
    nyquist = sample_rate / 2
    if low and high:
        sos = signal.butter(order, [low, min(high, 0.45 * sample_rate)], "bandpass", fs=sample_rate, output="sos")
    elif low:
        sos = signal.butter(order, low, "highpass", fs=sample_rate, output="sos")
    else:
        sos = signal.butter(order, min(high, 0.9 * nyquist), "lowpass", fs=sample_rate, output="sos")
    return _Filter(sos)


def _resonator(freq: float, q: float, sample_rate: int) -> _Filter:
    b, a = signal.iirpeak(min(freq, 0.45 * sample_rate), q, fs=sample_rate)
    return _Filter(signal.tf2sos(b, a))


def _streams(seed: int, count: int) -> list[np.random.Generator]:
    """Independent generators per component, so adding one never shifts another's randomness."""
    return [np.random.default_rng(child) for child in np.random.SeedSequence(int(seed)).spawn(count)]


def _rain(sample_rate: int, seed: int):
    noise, gusts, drops, heavy, width = _streams(seed, 5)
    sheet = _band(500, 9000, sample_rate)
    sheet_air = _band(6000, None, sample_rate, 1)
    gust = _Drift(gusts, int(1.7 * sample_rate), 0.55, 1.0)
    plinks = [_resonator(f, q, sample_rate) for f, q in ((1500, 6), (2300, 7), (3400, 8), (4700, 9))]
    taps = _band(2500, None, sample_rate, 2)
    thuds = _resonator(350, 3, sample_rate)
    mix_lr = width.uniform(0.25, 0.35)  # partly shared noise: a wide but coherent bed

    def chunk(n: int) -> np.ndarray:
        white = noise.standard_normal((3, n))
        bed = np.stack([white[0] + mix_lr * white[2], white[1] + mix_lr * white[2]])
        bed = sheet(bed) * 0.6 + sheet_air(bed) * 0.12
        out = bed * gust(n)
        for plink in plinks:  # droplets: short ringing plinks at a few pitches
            out += 0.9 * plink(_impulses(drops, n, 9.0, sample_rate, lambda k: drops.exponential(0.5, k), 0.9))
        out += 0.35 * taps(_impulses(drops, n, 60.0, sample_rate, lambda k: drops.exponential(0.5, k), 1.0))
        out += 0.5 * thuds(_impulses(heavy, n, 2.5, sample_rate, lambda k: heavy.uniform(0.2, 1.0, k), 0.6))
        return out * 0.335

    return chunk


def _vinyl(sample_rate: int, seed: int):
    ticks_rng, pops_rng, rumble_rng, surface_rng = _streams(seed, 4)
    tick_shape = _band(1800, None, sample_rate, 2)
    pop_body = _resonator(900, 2.0, sample_rate)
    pop_click = _band(3000, None, sample_rate, 1)
    rumble = _band(None, 35, sample_rate, 2)
    surface = _band(1000, 7000, sample_rate, 2)
    rpm = 100 / 3 / 60  # 33 1/3 turns a minute: the surface noise swells once a turn
    position = [0]

    def chunk(n: int) -> np.ndarray:
        t = (position[0] + np.arange(n)) / sample_rate
        position[0] += n
        turn = 1.0 + 0.35 * np.sin(2 * np.pi * rpm * t)
        ticks = tick_shape(
            _impulses(
                ticks_rng, n, 14.0, sample_rate, lambda k: np.minimum(ticks_rng.pareto(2.5, k) * 0.35, 1.5) + 0.05, 0.3
            )
        )
        pop_train = _impulses(pops_rng, n, 0.7, sample_rate, lambda k: pops_rng.uniform(0.5, 1.0, k), 0.2)
        pops = 0.25 * pop_body(pop_train) + 0.6 * pop_click(pop_train)
        low = rumble(rumble_rng.standard_normal((1, n)).repeat(2, axis=0)) * turn * 1.2
        grain = surface_rng.standard_normal((3, n))  # mostly shared: a record is nearly mono
        hush = surface(np.stack([grain[0] + 0.3 * grain[1], grain[0] + 0.3 * grain[2]])) * turn * 0.01
        return (ticks + pops) * 0.8 + low * 0.09 + hush * 1.8

    return chunk


def _hiss(sample_rate: int, seed: int):
    noise, drift_rng = _streams(seed, 2)
    tilt = _band(900, None, sample_rate, 1)  # tape hiss rises with frequency...
    top = _band(None, 15000, sample_rate, 2)  # ...and the head rolls off the very top
    presence = _resonator(5500, 0.9, sample_rate)
    wobble = _Drift(drift_rng, int(0.9 * sample_rate), 0.92, 1.0)

    def chunk(n: int) -> np.ndarray:
        white = noise.standard_normal((3, n))
        bed = np.stack([white[0] + 0.4 * white[2], white[1] + 0.4 * white[2]])
        shaped = top(tilt(bed)) + 0.6 * presence(bed)
        return shaped * wobble(n) * 0.089

    return chunk


_GENERATORS = {"rain": _rain, "vinyl": _vinyl, "hiss": _hiss}


def generate(kind: str, n_samples: int, sample_rate: int, seed: int) -> np.ndarray:
    """`n_samples` of a procedural ambience as float32 (2, n); the same seed gives the same bytes."""
    if kind not in _GENERATORS:
        raise LofictlError(f"unknown ambience {kind!r}; choose one of {', '.join(KINDS)}")
    make_chunk = _GENERATORS[kind](int(sample_rate), int(seed))
    out = np.zeros((2, n_samples), dtype=np.float32)
    for start in range(0, n_samples, CHUNK):
        # Always whole chunks (the last one cut), so a prefix never depends on the total length.
        out[:, start : start + CHUNK] = make_chunk(CHUNK)[:, : n_samples - start]
    return out


def load_overlay(path: str | Path, sample_rate: int) -> np.ndarray:
    """An audio file as float32 (2, n) at `sample_rate` (resampled; mono becomes both sides)."""
    from pedalboard.io import AudioFile

    path = Path(path)
    if not path.is_file():
        raise LofictlError(f"overlay file {path} does not exist")
    try:
        with AudioFile(str(path)) as source:
            channels = source.num_channels
            if channels > 2:
                raise LofictlError(
                    f"{path} has {channels} channels; overlays must be mono or stereo (mix it down to stereo first)"
                )
            with source.resampled_to(float(sample_rate)) as resampled:
                audio = resampled.read(resampled.frames)
    except LofictlError:
        raise
    except (ValueError, RuntimeError, OSError) as exc:
        raise LofictlError(
            f"{path} is not an audio file that can be read "
            f"(WAV, FLAC, MP3, OGG and AIFF can): {' '.join(str(exc).split())[:120]}"
        ) from None
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[1] == 0:
        raise LofictlError(f"{path} holds no audio")
    return np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio


def _fade(length: int) -> np.ndarray:
    """A raised-cosine rise over `length` samples, from 0 towards 1."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(length) + 0.5) / length)).astype(np.float32)


def loop_to_length(audio: np.ndarray, length: int, crossfade: int) -> np.ndarray:
    """`audio` repeated to `length` samples, each seam an equal-power crossfade of `crossfade`.

    The loop unit is the source with its last `crossfade` samples faded over its first ones, so
    every repeat runs on without a click; the first pass starts with the source as it is.
    """
    size = audio.shape[1]
    if length <= size:
        return audio[:, :length].copy()
    crossfade = max(0, min(crossfade, size // 2))
    period = size - crossfade
    unit = audio[:, :period].copy()
    if crossfade:
        angle = np.pi / 2 * (np.arange(crossfade) + 0.5) / crossfade
        unit[:, :crossfade] = audio[:, :crossfade] * np.sin(angle).astype(np.float32) + audio[:, period:] * np.cos(
            angle
        ).astype(np.float32)
    out = np.tile(unit, (1, -(-length // period)))[:, :length]
    out[:, :crossfade] = audio[:, :crossfade]  # nothing precedes the first pass
    return out


def place_overlay(
    audio: np.ndarray,
    n_samples: int,
    sample_rate: int,
    *,
    loop: bool = True,
    crossfade_s: float = 1.0,
    fade_in_s: float = 0.0,
    fade_out_s: float = 0.0,
    start_s: float = 0.0,
    gain_db: float = 0.0,
    pan: float = 0.0,
) -> np.ndarray:
    """The overlay laid into a (2, n_samples) bed: started at `start_s`, looped or played once,
    faded in from its start and out towards where it ends, at `gain_db` and `pan`."""
    from lofictl.sound.mix import apply_gain_pan

    out = np.zeros((2, n_samples), dtype=np.float32)
    start = min(max(0, round(start_s * sample_rate)), n_samples)
    room = n_samples - start
    if room == 0 or audio.shape[1] == 0:
        return out
    if loop:
        body = loop_to_length(audio, room, round(crossfade_s * sample_rate))
    else:
        body = audio[:, :room].copy()
    length = body.shape[1]
    fade_in = min(round(fade_in_s * sample_rate), length)
    fade_out = min(round(fade_out_s * sample_rate), length)
    if fade_in:
        body[:, :fade_in] *= _fade(fade_in)
    if fade_out:
        body[:, length - fade_out :] *= _fade(fade_out)[::-1]
    out[:, start : start + length] = apply_gain_pan(body, gain_db, pan)
    return out


def main(argv: list[str] | None = None) -> None:
    """Write a generated ambience to a file (how the files in effects/ were made)."""
    from lofictl.sound.audio_io import write_audio

    parser = argparse.ArgumentParser(prog="python -m lofictl.sound.ambience", description=main.__doc__)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("output", type=Path, help="a .wav, .flac or .mp3 path")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--bits", type=int, choices=(16, 24), default=16, help="FLAC bit depth")
    args = parser.parse_args(argv)
    audio = generate(args.kind, math.ceil(args.seconds * args.sample_rate), args.sample_rate, args.seed)
    write_audio(
        args.output, audio, args.sample_rate, flac_bits=args.bits, wav_subtype="16bit" if args.bits == 16 else "24bit"
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
