"""Reports of measurements: stable JSON, summaries across samples, and PNG plots whose bytes
depend only on the numbers (Agg canvas, default style, no varying metadata)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

from lofictl.safety import atomic


def rounded(value, digits: int = 6):
    """Floats rounded (stable JSON across machines' last-bit noise), NaN → None."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, digits)
    if isinstance(value, dict):
        return {str(k): rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    if isinstance(value, np.generic):
        return rounded(value.item(), digits)
    if isinstance(value, np.ndarray):
        return rounded(value.tolist(), digits)
    return value


def spread(values) -> dict:
    """mean, std (population), min, max over the defined values, and how many there were."""
    vals = np.array([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], np.float64)
    if len(vals) == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(vals.mean()),
        "std": float(vals.std()),
        "min": float(vals.min()),
        "max": float(vals.max()),
        "n": int(len(vals)),
    }


def curve_spread(curves: list[list[float]], first: int) -> dict:
    """Mean and std at each position of curves of different lengths, and how many reach it."""
    longest = max((len(c) for c in curves), default=0)
    mean, std, count = [], [], []
    for i in range(longest):
        vals = [c[i] for c in curves if i < len(c)]
        mean.append(float(np.mean(vals)))
        std.append(float(np.std(vals)))
        count.append(len(vals))
    return {"first_note": first, "mean": mean, "std": std, "n": count}


def write_file(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename, so a reader never sees half a file."""
    atomic.write_bytes(path, data)


def json_bytes(data) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def png(draw, size=(8, 4.5), tight: bool = True) -> bytes:
    """A figure drawn by `draw(fig)` as PNG bytes."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):
        fig = Figure(figsize=size, dpi=100)
        FigureCanvasAgg(fig)
        draw(fig)
        if tight:
            fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _is_reference(label: str) -> bool:
    return label.startswith("human")


def repetition_plot(series: list[tuple[str, dict]]) -> bytes:
    """Mean repetitiveness along the song (± one std across samples), one line per series."""

    def draw(fig):
        ax = fig.add_subplot()
        for label, curve in series:
            mean = np.array([np.nan if v is None else v for v in curve["mean"]], float)
            std = np.array([np.nan if v is None else v for v in curve["std"]], float)
            # Past the point where most melodies have ended, the mean is of a few: not shown.
            count = np.array(curve["n"], float)
            thin = count < max(count.max(initial=0) / 2, 1)
            mean[thin], std[thin] = np.nan, np.nan
            x = np.arange(len(mean)) + curve["first_note"]
            dashed = _is_reference(label)
            (line,) = ax.plot(x, mean, label=label, linestyle="--" if dashed else "-")
            if not dashed:
                ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_xlabel("note x")
        ax.set_ylabel("share of notes x-10..x-1 also in x-20..x-11")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("Repetitiveness along the song")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)

    return png(draw)


def training_overlap_plot(series: list[tuple[str, dict]]) -> bytes:
    """Share of n-note windows found in the training data, by n (mean; band: ± one std)."""

    def draw(fig):
        ax = fig.add_subplot()
        for label, by_length in series:
            ns = sorted(int(n) for n in by_length)
            if not ns:
                continue
            mean = np.array([by_length[str(n)]["mean"] or 0.0 for n in ns])
            std = np.array([by_length[str(n)]["std"] or 0.0 for n in ns])
            (line,) = ax.plot(ns, mean, marker="o", label=label, linestyle="--" if _is_reference(label) else "-")
            ax.fill_between(
                ns,
                np.clip(mean - std, 0, 1),
                np.clip(mean + std, 0, 1),
                color=line.get_color(),
                alpha=0.12,
                linewidth=0,
            )
        ax.set_xlabel("n (notes in the sequence)")
        ax.set_ylabel("share of n-note windows in the training data")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("Training overlap by sequence length")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)

    return png(draw)


def _thin(grid, density, points: int = 256):
    """A density curve at fewer points for drawing (the overlap was computed on the full grid)."""
    step = max(len(grid) // points, 1)
    return grid[::step], density[::step]


def density_plot(features: list[str], labels: dict[str, str], reference: dict[str, tuple], rows: list[tuple]) -> bytes:
    """One panel per feature: the reference's intra-set distance density (black, dashed) and
    each row's inter-set density; one legend with each row's mean overlap.
    reference: feature → (grid, density); rows: (label, {feature: (grid, density, overlap)})."""

    def draw(fig):
        cols = 4
        handles = {}
        for k, name in enumerate(features):
            ax = fig.add_subplot(math.ceil(len(features) / cols), cols, k + 1)
            if name in reference:
                (handles["human, intra-set"],) = ax.plot(
                    *_thin(*reference[name]), color="black", linestyle="--", linewidth=1.2
                )
            for i, (label, curves) in enumerate(rows):
                if name in curves:
                    grid, density, overlap = curves[name]
                    (handles[label],) = ax.plot(*_thin(grid, density), linewidth=1.0, color=f"C{i}")
                    ax.text(
                        0.98,
                        0.92 - 0.09 * i,
                        f"{overlap:.2f}",
                        color=f"C{i}",
                        fontsize=7,
                        ha="right",
                        transform=ax.transAxes,
                    )
            ax.set_title(labels.get(name, name), fontsize=9)
            ax.tick_params(labelsize=7)
            ax.set_yticks([])
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 5), fontsize=8)
        fig.suptitle(
            "Distance to the held-out songs: human intra-set (dashed) against each row's inter-set; numbers: overlap",
            fontsize=10,
        )
        fig.subplots_adjust(left=0.03, right=0.99, top=0.9, bottom=0.14, wspace=0.15, hspace=0.35)

    return png(draw, size=(14, 6.5), tight=False)


def overlap_bars(features: list[str], labels: dict[str, str], rows: list[tuple[str, dict]]) -> bytes:
    """Grouped bars: each row's overlap per feature (1.0 = indistinguishable from the humans)."""

    def draw(fig):
        ax = fig.add_subplot()
        width = 0.8 / max(len(rows), 1)
        x = np.arange(len(features))
        for i, (label, overlaps) in enumerate(rows):
            values = [overlaps.get(f) if overlaps.get(f) is not None else 0.0 for f in features]
            ax.bar(x + (i - (len(rows) - 1) / 2) * width, values, width, label=label)
        ax.set_xticks(x)
        ax.set_xticklabels([labels.get(f, f) for f in features], rotation=25, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("overlap area with the held-out songs")
        ax.axhline(0.8, color="grey", linewidth=0.8, linestyle=":")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, ncol=min(len(rows), 4), loc="lower left")
        ax.set_title("Overlap per feature (dotted: the 0.80 target)")

    return png(draw, size=(10, 5))
