"""How stems sound, in numbers and pictures: loudness, crest factor, spectra, bed against music.

Used to choose the drum kit, the drum and overlay effects and levels of the example recipes,
and rerun by anyone who changes them:

    python -m lofictl.sound.spectra build/rainy_night                      # table of every stem
    python -m lofictl.sound.spectra build/rainy_night --before /tmp/old \\
        --plot docs/sound/rainy_night.png                                  # before/after spectra

A build's `stems/` hold one WAV per track (`NN_<track>.wav`), per overlay
(`NN_overlay-<i>-<kind>.wav`) and the send bus (`NN_reverb-bus.wav`), printed with their
effects and gains, so their sum is the mix before the master. The *bed* is the sum of the
overlay stems; the *music* is the sum of the others.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lofictl.sound.levels import gain_to_db

# Octave-ish bands a mix engineer talks in (Hz): sub, low, low-mid, mid, presence, air.
BANDS: tuple[tuple[str, float, float], ...] = (
    ("sub", 20, 60),
    ("low", 60, 250),
    ("lowmid", 250, 1000),
    ("mid", 1000, 4000),
    ("presence", 4000, 8000),
    ("air", 8000, 20000),
)
N_FFT = 8192  # 5.4 Hz bins at 44.1 kHz: the kick's fundamental is resolved


@dataclass(frozen=True)
class Measures:
    """One stem's numbers. Levels in dB; `bands` are shares of the power, summing to ~1."""

    lufs: float | None  # integrated loudness, BS.1770
    peak_db: float | None
    rms_db: float | None  # while it plays (active_rms)
    crest_db: float | None  # peak over RMS: how punchy (drums) or squashed a stem is
    centroid_hz: float | None  # power-weighted mean frequency: brightness
    rolloff_hz: float | None  # below it lies 85% of the power
    bands: dict[str, float]


def mono(audio: np.ndarray) -> np.ndarray:
    """The mid signal of a (channels, n) array, as float64."""
    audio = np.asarray(audio, dtype=np.float64)
    return audio.mean(axis=0) if audio.ndim == 2 else audio


def power_spectrum(audio: np.ndarray, sample_rate: int, n_fft: int = N_FFT) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, mean power per bin) by Welch's method over the whole stem (Hann, 50%)."""
    from scipy import signal

    x = mono(audio)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    freqs, power = signal.welch(
        x, fs=sample_rate, nperseg=n_fft, noverlap=n_fft // 2, scaling="spectrum", detrend=False
    )
    return freqs, power


def spectral_centroid(freqs: np.ndarray, power: np.ndarray) -> float | None:
    total = power.sum()
    return float((freqs * power).sum() / total) if total > 0 else None


def band_shares(freqs: np.ndarray, power: np.ndarray) -> dict[str, float]:
    total = power[(freqs >= BANDS[0][1]) & (freqs < BANDS[-1][2])].sum()
    if total <= 0:
        return {name: 0.0 for name, _, _ in BANDS}
    return {name: float(power[(freqs >= low) & (freqs < high)].sum() / total) for name, low, high in BANDS}


def band_levels_db(freqs: np.ndarray, power: np.ndarray) -> dict[str, float | None]:
    """Power per band in dB (relative to full scale), for comparing two stems band by band."""
    out = {}
    for name, low, high in BANDS:
        level = power[(freqs >= low) & (freqs < high)].sum()
        out[name] = 10 * math.log10(level) if level > 0 else None
    return out


def active_rms(x: np.ndarray, sample_rate: int, floor_db: float = 50.0) -> float:
    """RMS over the 100 ms blocks within `floor_db` of the loudest one: the level while the stem
    plays, so the bars a part sits out do not make its crest factor look punchier than it is."""
    block = max(1, sample_rate // 10)
    count = x.size // block
    if count == 0:
        return float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    power = (x[: count * block].reshape(count, block) ** 2).mean(axis=1)
    loud = power[power >= power.max() * 10 ** (-floor_db / 10)]
    return float(np.sqrt(loud.mean())) if loud.size and loud.max() > 0 else 0.0


def measure(audio: np.ndarray, sample_rate: int) -> Measures:
    from lofictl.sound.mix import integrated_loudness

    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    freqs, power = power_spectrum(audio, sample_rate)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    rms = active_rms(mono(audio), sample_rate)
    cumulative = np.cumsum(power)
    rolloff = float(freqs[np.searchsorted(cumulative, 0.85 * cumulative[-1])]) if cumulative[-1] > 0 else None
    peak_db, rms_db = gain_to_db(peak), gain_to_db(rms)
    return Measures(
        lufs=integrated_loudness(audio, sample_rate)
        if audio.shape[0] == 2
        else integrated_loudness(np.repeat(audio, 2, axis=0), sample_rate),
        peak_db=peak_db,
        rms_db=rms_db,
        crest_db=peak_db - rms_db if peak_db is not None and rms_db is not None else None,
        centroid_hz=spectral_centroid(freqs, power),
        rolloff_hz=rolloff,
        bands=band_shares(freqs, power),
    )


def bed_against_music(bed: np.ndarray, music: np.ndarray, sample_rate: int) -> dict:
    """How the ambience bed sits under the music: loudness gap (LU) and band-by-band gaps (dB).

    A positive `below_lu` means the bed is that much quieter than the music; a band gap is the
    music's power in the band minus the bed's, so a small or negative gap is where the bed
    would be heard over (or mask) the music.
    """
    from lofictl.sound.mix import integrated_loudness

    bed_lufs, music_lufs = integrated_loudness(bed, sample_rate), integrated_loudness(music, sample_rate)
    fb, pb = power_spectrum(bed, sample_rate)
    fm, pm = power_spectrum(music, sample_rate)
    bed_bands, music_bands = band_levels_db(fb, pb), band_levels_db(fm, pm)
    gaps = {
        name: (
            None
            if bed_bands[name] is None or music_bands[name] is None
            else round(music_bands[name] - bed_bands[name], 1)
        )
        for name, _, _ in BANDS
    }
    return {
        "bed_lufs": bed_lufs,
        "music_lufs": music_lufs,
        "below_lu": None if bed_lufs is None or music_lufs is None else music_lufs - bed_lufs,
        "bed_centroid_hz": spectral_centroid(fb, pb),
        "music_centroid_hz": spectral_centroid(fm, pm),
        "band_gap_db": gaps,
    }


@dataclass(frozen=True)
class Hit:
    """The shape of one drum hit: level, brightness, attack and decay."""

    peak_db: float | None
    centroid_hz: float | None
    low_share: float  # power below 250 Hz
    attack_ms: float  # envelope from 10% to 90% of its peak
    decay_ms: float  # from the peak until the envelope stays 20 dB under it


def hit_measures(audio: np.ndarray, sample_rate: int) -> Hit:
    """Measures of a single hit that starts at sample 0 (a 1 ms RMS envelope gives the shape)."""
    x = mono(audio)
    window = max(1, sample_rate // 1000)
    envelope = np.sqrt(np.convolve(x**2, np.ones(window) / window, mode="same"))
    top = float(envelope.max()) if x.size else 0.0
    if top <= 0:
        return Hit(None, None, 0.0, 0.0, 0.0)
    at_peak = int(np.argmax(envelope))
    rise = envelope[: at_peak + 1]
    attack = (np.argmax(rise >= 0.9 * top) - np.argmax(rise >= 0.1 * top)) / sample_rate
    above = np.nonzero(envelope[at_peak:] >= top * 0.1)[0]
    decay = (above[-1] if above.size else 0) / sample_rate
    freqs, power = power_spectrum(x[: min(x.size, sample_rate)], sample_rate, n_fft=4096)
    total = power.sum()
    return Hit(
        gain_to_db(float(np.abs(x).max())),
        spectral_centroid(freqs, power),
        float(power[freqs < 250].sum() / total) if total > 0 else 0.0,
        round(1000 * attack, 2),
        round(1000 * decay, 1),
    )


# --- stems of a build -------------------------------------------------------------------------


def stem_role(path: Path) -> str:
    """'bed' for overlays, 'bus' for the send bus, else 'track' (from the stem's file name)."""
    name = path.stem.split("_", 1)[-1]
    if name.startswith("overlay-"):
        return "bed"
    if name == "reverb-bus":
        return "bus"
    return "track"


def read_stems(build_dir: Path) -> dict[str, tuple[np.ndarray, int]]:
    """Stem name (without number) → (audio, sample rate), in file order."""
    from lofictl.errors import LofictlError
    from lofictl.sound.audio_io import read_audio

    folder = Path(build_dir) / "stems"
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise LofictlError(f"{folder} has no stems (build the recipe first)")
    return {path.stem.split("_", 1)[-1]: read_audio(path) for path in files}


def _sum(parts: list[np.ndarray]) -> np.ndarray:
    length = max(p.shape[1] for p in parts)
    out = np.zeros((2, length), dtype=np.float64)
    for part in parts:
        out[:, : part.shape[1]] += part
    return out.astype(np.float32)


def build_report(build_dir: Path, *, master: bool = True) -> dict:
    """Measures of every stem, of the bed and the music, of the bed against the music and each
    overlay under it, and (with `master`) of the mastered WAV."""
    stems = read_stems(build_dir)
    rate = next(iter(stems.values()))[1]
    report: dict = {"sample_rate": rate, "stems": {}}
    bed, music = [], []
    for name, (audio, _) in stems.items():
        report["stems"][name] = measure(audio, rate)
        (bed if name.startswith("overlay-") else music).append(audio)
    bed_sum = _sum(bed) if bed else None
    music_sum = _sum(music) if music else None
    if music_sum is not None:
        report["music"] = measure(music_sum, rate)
    if bed_sum is not None:
        report["bed"] = measure(bed_sum, rate)
    if bed_sum is not None and music_sum is not None:
        report["bed_vs_music"] = bed_against_music(bed_sum, music_sum, rate)
        music_lufs = report["music"].lufs  # is the crackle heard, is the rain too loud?
        report["overlays_below_lu"] = {
            name: None if m.lufs is None or music_lufs is None else music_lufs - m.lufs
            for name, m in report["stems"].items()
            if name.startswith("overlay-")
        }
    mastered = _master_audio(build_dir) if master else None
    if mastered is not None:  # the mastered mix, after the master chain and the loudness target
        report["master"] = measure(mastered, rate)
    report["_audio"] = {
        "bed": bed_sum,
        "music": music_sum,
        **{name: audio for name, (audio, _) in stems.items()},
        "master": mastered,
    }
    return report


def _master_audio(build_dir: Path) -> np.ndarray | None:
    """The build's mastered WAV (`<name>.wav` beside `stems/`), if it wrote one."""
    from lofictl.sound.audio_io import read_audio

    found = sorted(Path(build_dir).glob("*.wav"))
    return read_audio(found[0])[0] if len(found) == 1 else None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(report: dict, label: str = "") -> str:
    head = f"{'stem':<22} {'LUFS':>6} {'peak':>6} {'crest':>6} {'centroid':>9} " + " ".join(
        f"{name:>8}" for name, _, _ in BANDS
    )
    lines = [f"== {label}" if label else "", head]
    rows = list(report["stems"].items()) + [(k, report[k]) for k in ("music", "bed", "master") if k in report]
    for name, m in rows:
        lines.append(
            f"{name:<22} {_fmt(m.lufs):>6} {_fmt(m.peak_db):>6} {_fmt(m.crest_db):>6} "
            f"{_fmt(m.centroid_hz, 0):>9} " + " ".join(f"{100 * m.bands[b]:>7.1f}%" for b, _, _ in BANDS)
        )
    vs = report.get("bed_vs_music")
    if vs:
        gaps = " ".join(f"{b} {_fmt(g)}" for b, g in vs["band_gap_db"].items())
        lines.append(f"bed {_fmt(vs['below_lu'])} LU below the music; music minus bed per band (dB): {gaps}")
        each = ", ".join(f"{name} {_fmt(lu)}" for name, lu in report.get("overlays_below_lu", {}).items())
        lines.append(f"LU below the music, each overlay: {each}")
    return "\n".join(line for line in lines if line != "" or label)


def smoothed_db(freqs: np.ndarray, power: np.ndarray, fraction: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """The spectrum in dB on a log-frequency grid, averaged over 1/`fraction`-octave bands."""
    centres = 20.0 * 2 ** (np.arange(0, 10 * fraction + 1) / fraction)
    centres = centres[centres < freqs[-1]]
    half = 2 ** (0.5 / fraction)
    values = []
    for c in centres:
        inside = (freqs >= c / half) & (freqs < c * half)
        level = power[inside].mean() if inside.any() else power[np.argmin(np.abs(freqs - c))]
        values.append(10 * math.log10(level) if level > 0 else -150.0)
    return centres, np.asarray(values)


def plot_spectra(panels: dict[str, dict[str, np.ndarray]], sample_rate: int, path: Path, title: str = "") -> Path:
    """One panel per entry (e.g. 'drums', 'bed'); in each, one log-frequency curve per label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.2 * len(panels)), squeeze=False)
    for ax, (panel, curves) in zip(axes[:, 0], panels.items()):
        for label, audio in curves.items():
            if audio is None:
                continue
            f, p = power_spectrum(audio, sample_rate)
            x, y = smoothed_db(f, p)
            ax.semilogx(x, y, label=label, linewidth=1.4)
        ax.set_xlim(20, 20000)
        ax.set_title(panel, loc="left", fontsize=10)
        ax.set_ylabel("power (dB, 1/6 oct)")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=8, loc="lower left")
    axes[-1, 0].set_xlabel("frequency (Hz)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    """Print the measures of a build's stems; with --plot, draw drums, bed and music spectra."""
    parser = argparse.ArgumentParser(prog="python -m lofictl.sound.spectra", description=main.__doc__)
    parser.add_argument("build", type=Path, help="a build folder (holding stems/)")
    parser.add_argument("--before", type=Path, help="an earlier build of the same recipe, to compare")
    parser.add_argument("--plot", type=Path, help="write the spectra to this PNG")
    args = parser.parse_args(argv)
    from lofictl.errors import LofictlError

    try:
        after = build_report(args.build)
        before = build_report(args.before) if args.before else None
    except LofictlError as exc:
        raise SystemExit(f"error: {exc.message}") from None
    if before:
        print(format_table(before, f"before: {args.before}"))
    print(format_table(after, f"after: {args.build}" if before else str(args.build)))
    if args.plot:
        panels: dict[str, dict[str, np.ndarray]] = {}
        builds = [("before", before), ("after", after)] if before else [("", after)]
        names = [n for n in after["stems"] if stem_role(Path(f"00_{n}")) == "track"]
        for panel in ["drums" if "drums" in names else None, "bed", "music", "master"]:
            if panel is None or after["_audio"].get(panel) is None:
                continue
            panels[panel] = {f"{panel} {label}".strip(): rep["_audio"].get(panel) for label, rep in builds}
        if after["_audio"]["bed"] is not None:  # the bed drawn under the music, at their mix levels
            panels["bed under the music"] = {
                f"{part} {label}".strip(): rep["_audio"][part] for label, rep in builds for part in ("music", "bed")
            }
        print(f"wrote {plot_spectra(panels, after['sample_rate'], args.plot, title=args.build.name)}")


if __name__ == "__main__":
    main()
