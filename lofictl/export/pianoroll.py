"""A piano-roll picture of a Score, for reading an arrangement at a glance.

Top to bottom: a strip with the sections and the chord names, the pitched tracks on one piano
roll (a colour per track, brightness by velocity), and the drums in a lane of their own with a
row per drum sound. Sections shade the whole height; the x axis counts bars from 1.

The figure is drawn with matplotlib's Agg canvas directly (no pyplot, so no global state) under
the default style (so a user's matplotlibrc cannot change the picture), and saved without the
Software tag, so the same Score gives the same PNG bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib.style
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from lofictl.compose.drums import DRUM_NAMES
from lofictl.compose.score import Note, Score
from lofictl.compose.theory import NOTE_NAMES

WIDTH_IN, HEIGHT_IN, DPI = 16.0, 8.0, 100
ROW_LIMIT_BARS = 64  # up to here one row across the page; longer pieces get rows of
BARS_PER_ROW = 32  # this many bars,
ROWS_PER_PAGE = 8  # this many to a page (pianoroll.png, pianoroll-2.png, ...),
ROW_HEIGHT_IN = 3.4  # each this tall
# Colour-blind-safe, distinct on white (Okabe-Ito, then a few of tab10).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF")
SECTION_SHADES = ("#F2F2F2", "#FFFFFF")


def _alpha(velocity: int) -> float:
    return 0.3 + 0.7 * velocity / 127.0  # soft notes stay visible


def _bars(notes: tuple[Note, ...], row_of, colour: str, height: float) -> PolyCollection:
    verts, faces = [], []
    for note in notes:
        y = row_of(note) - height / 2
        x0, x1 = note.start, note.start + max(note.duration, 0.06)
        verts.append(((x0, y), (x1, y), (x1, y + height), (x0, y + height)))
        faces.append(to_rgba(colour, _alpha(note.velocity)))
    return PolyCollection(verts, facecolors=faces, edgecolors="none", antialiased=False)


def _bar_ticks(ax, score: Score, x0: float, x1: float) -> None:
    first, last = int(round(x0 / score.beats_per_bar)), max(1, int(round(x1 / score.beats_per_bar)))
    bars = last - first
    every = next(step for step in (1, 2, 4, 8, 16, 32, 64, 10**9) if bars / step <= 32)
    major = [b * score.beats_per_bar for b in range(first, last + 1) if (b - first) % every == 0]
    ax.set_xticks(major, [str(int(round(x / score.beats_per_bar)) + 1) for x in major])
    # Short pieces get a line per beat, long ones a line per bar.
    compound = score.denominator == 8 and score.numerator % 3 == 0 and score.numerator >= 6
    beat = 1.5 if compound else 4.0 / score.denominator
    minor = score.beats_per_bar if bars > 16 else beat
    ax.set_xticks([x0 + i * minor for i in range(int((x1 - x0) / minor) + 1)], minor=True)
    ax.set_xlabel("bar")


def _sections(axes, score: Score, top, x0: float, x1: float) -> None:
    for index, section in enumerate(sorted(score.sections, key=lambda s: s.start_bar)):
        s0 = section.start_bar * score.beats_per_bar
        s1 = s0 + section.bars * score.beats_per_bar
        if s1 <= x0 or s0 >= x1:
            continue
        for ax in axes:
            ax.axvspan(s0, s1, color=SECTION_SHADES[index % 2], zorder=0, lw=0)
            ax.axvline(s0, color="#555555", lw=1.0, zorder=1)
        box = Rectangle(
            (s0, 2.0), s1 - s0, 1.0, facecolor="#DDDDDD" if index % 2 == 0 else "#C8C8C8", edgecolor="white", lw=1.5
        )
        top.add_patch(box)
        label = f"{section.name}  ({section.bars} bars{_section_tempo(score, s0, s1)})"
        text = top.text(
            max(s0, x0) + 0.3,
            2.5,
            label if s0 >= x0 else f"{section.name} (cont.)",
            va="center",
            ha="left",
            fontsize=9,
            fontweight="bold",
        )
        text.set_clip_path(box)  # a short section's label stops at its own box, not the next one's


def _section_tempo(score: Score, start: float, end: float) -> str:
    """', 84 BPM' or ', 72→84 BPM' for a piece whose tempo changes; nothing otherwise."""
    if not score.tempo_changes:
        return ""
    timing = score.tempo_map
    inside = [beat for beat, _ in score.tempo_changes if start - 1e-6 <= beat < end - 1e-6]
    if len(inside) <= 1:  # one tempo all through the section
        return f", {timing.bpm_at(start):g} BPM"
    # a ramp: from the tempo before it to the tempo of its last beat
    before = timing.bpm_at(start - 1e-6) if start > 0 else score.tempo
    return f", {before:g}→{timing.bpm_at(end - 1e-6):g} BPM"


def _chords(top, score: Score, x0: float, x1: float) -> None:
    # Repeated symbols in a row are one label; many chords are staggered over two rows.
    merged: list[list] = []
    for chord in sorted(score.chords, key=lambda c: c.start):
        if merged and merged[-1][2] == chord.symbol and abs(merged[-1][1] - chord.start) < 1e-9:
            merged[-1][1] = chord.end
        else:
            merged.append([chord.start, chord.end, chord.symbol])
    beats_per_label = 2.2 * (x1 - x0) / 64.0  # about the width of "Cmaj9" at this size and figure width
    merged = [c for c in merged if c[1] > x0 and c[0] < x1]
    crowded = any(c[1] - c[0] < beats_per_label for c in merged)
    for index, (start, stop, symbol) in enumerate(merged):
        row = (index % 2) if crowded else 0
        y0, h = (1.0 - row, 1.0) if crowded else (0.0, 2.0)
        top.add_patch(
            Rectangle(
                (start, y0),
                stop - start,
                h,
                facecolor="#FFF5D6" if index % 2 == 0 else "#FBE8B0",
                edgecolor="#B89B4A",
                lw=0.6,
            )
        )
        top.text(max(start, x0) + 0.15, y0 + h / 2, symbol, va="center", ha="left", fontsize=8, clip_on=True)


def _pitch_ticks(ax, low: int, high: int) -> None:
    # Fewer labels as the range grows; always on white keys, so a reader can count rows.
    span = high - low
    shown = (0, 2, 4, 5, 7, 9, 11) if span <= 14 else ((0, 4, 7) if span <= 28 else (0, 7))
    ticks = [p for p in range(low, high + 1) if p % 12 in shown]
    ax.set_yticks(ticks, [f"{NOTE_NAMES[p % 12]}{p // 12 - 1}" for p in ticks])
    for pitch in range(low, high + 1):  # black-key rows, as in a DAW's piano roll
        if pitch % 12 in (1, 3, 6, 8, 10):
            ax.axhspan(pitch - 0.5, pitch + 0.5, color="#000000", alpha=0.045, lw=0, zorder=0.5)
        if pitch % 12 == 0:
            ax.axhline(pitch - 0.5, color="#999999", lw=0.5, zorder=0.6)


@dataclass(frozen=True)
class _Layout:
    """What every row of a picture shares: colours, the pitch range, the drum rows."""

    score: Score
    colour: dict[str, str]
    low: int
    high: int
    drum_pitches: tuple[int, ...]
    end: float


def _layout(score: Score) -> _Layout:
    colour = {t.name: COLOURS[i % len(COLOURS)] for i, t in enumerate(score.tracks)}
    all_notes = [n for t in score.tracks for n in t.notes]
    end = max([score.total_beats, *(n.end for n in all_notes)]) or score.beats_per_bar
    pitched_notes = [n for t in score.tracks if not t.is_drums for n in t.notes]
    low, high = (
        (min(n.pitch for n in pitched_notes) - 2, max(n.pitch for n in pitched_notes) + 2)
        if pitched_notes
        else (48, 72)
    )
    drum_pitches = tuple(sorted({n.pitch for t in score.tracks if t.is_drums for n in t.notes}))
    return _Layout(score, colour, low, high, drum_pitches, end)


def _row(layout: _Layout, axes, x0: float, x1: float, *, ticks: bool = True) -> None:
    """One system of the picture: section and chord strip, piano roll, drum lane, for [x0, x1)."""
    score = layout.score
    top, roll = axes[0], axes[1]
    lanes = list(axes[1:])
    top.set_ylim(0, 3)
    top.set_yticks([0.9, 2.5], ["chords", "sections"])
    top.tick_params(axis="y", length=0, labelsize=8)
    top.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    for spine in top.spines.values():
        spine.set_visible(False)
    _sections(lanes, score, top, x0, x1)
    _chords(top, score, x0, x1)

    def visible(notes):
        return tuple(n for n in notes if n.start < x1 and n.end > x0)

    roll.set_ylim(layout.low - 0.5, layout.high + 0.5)
    _pitch_ticks(roll, layout.low, layout.high)
    for track in score.tracks:
        if not track.is_drums:
            roll.add_collection(_bars(visible(track.notes), lambda n: n.pitch, layout.colour[track.name], 0.8))
    roll.tick_params(axis="y", labelsize=8)
    roll.set_ylabel("pitch")
    if not any(t.notes for t in score.tracks):
        roll.text(
            (x0 + x1) / 2,
            (layout.low + layout.high) / 2,
            "no notes",
            ha="center",
            va="center",
            fontsize=14,
            color="#888888",
        )
    if len(axes) > 2:
        lane = axes[2]
        row = {pitch: i for i, pitch in enumerate(layout.drum_pitches)}
        for track in score.tracks:
            if track.is_drums and track.notes:
                lane.add_collection(_bars(visible(track.notes), lambda n: row[n.pitch], layout.colour[track.name], 0.7))
        lane.set_ylim(-0.6, len(layout.drum_pitches) - 0.4)
        lane.set_yticks(range(len(layout.drum_pitches)), [DRUM_NAMES.get(p, f"drum {p}") for p in layout.drum_pitches])
        lane.tick_params(axis="y", labelsize=7)
        lane.set_ylabel("drums")
    for ax in axes:
        ax.set_xlim(x0, x1)
    for ax in lanes[:-1]:
        ax.tick_params(axis="x", which="both", labelbottom=False)
    _bar_ticks(axes[-1], score, x0, x1)
    for ax in lanes:
        ax.grid(axis="x", which="major", color="#BBBBBB", lw=0.6, zorder=0.7)
        ax.grid(axis="x", which="minor", color="#E2E2E2", lw=0.4, zorder=0.7)
        ax.set_axisbelow(True)


def _title(fig: Figure, layout: _Layout, y: float, page: str = "") -> None:
    score = layout.score
    handles = [Patch(color=layout.colour[t.name], label=f"{t.name} ({len(t.notes)} notes)") for t in score.tracks]
    if handles:
        fig.legend(
            handles=handles,
            loc="upper right",
            ncol=min(len(handles), 6),
            fontsize=9,
            frameon=False,
            bbox_to_anchor=(0.985, 1 - (1 - y) * 0.15),
        )
    bars = int(round(score.total_beats / score.beats_per_bar))
    low, high = score.tempo_range
    tempo = f"{score.tempo:g} BPM" if low == high else f"{low:g}–{high:g} BPM"
    fig.text(
        0.075,
        y,
        f"{score.key} · {tempo} · {score.numerator}/{score.denominator} · {bars} bars{page}",
        fontsize=11,
        fontweight="bold",
        va="center",
    )


def _figure(score: Score) -> Figure:
    """A piece up to ROW_LIMIT_BARS long: one row across the whole width."""
    layout = _layout(score)
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ratios = [0.55, 5.0] + ([0.35 + 0.22 * len(layout.drum_pitches)] if layout.drum_pitches else [])
    axes = fig.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios, "hspace": 0.04})
    fig.subplots_adjust(left=0.075, right=0.985, top=0.93, bottom=0.07)
    _row(layout, axes, 0.0, layout.end)
    _title(fig, layout, 0.965)
    return fig


def _whole_bars(beats: float, beats_per_bar: float) -> float:
    return float(np.ceil(beats / beats_per_bar - 1e-9) * beats_per_bar)


def _pages(score: Score) -> list[Figure]:
    """A longer piece: rows of BARS_PER_ROW bars, like systems on a score, ROWS_PER_PAGE a page."""
    if score.total_beats <= ROW_LIMIT_BARS * score.beats_per_bar + 1e-9:
        return [_figure(score)]
    layout = _layout(score)
    row_beats = BARS_PER_ROW * score.beats_per_bar
    starts = [i * row_beats for i in range(int(np.ceil(layout.end / row_beats - 1e-9)))]
    pages = [starts[i : i + ROWS_PER_PAGE] for i in range(0, len(starts), ROWS_PER_PAGE)]
    ratios_one = [0.55, 3.0] + ([0.3 + 0.12 * len(layout.drum_pitches)] if layout.drum_pitches else [])
    figures = []
    for number, rows in enumerate(pages, 1):
        height = ROW_HEIGHT_IN * len(rows) + 0.8
        fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
        FigureCanvasAgg(fig)
        ratios = []
        for index in range(len(rows)):
            ratios += ratios_one + ([0.9] if index < len(rows) - 1 else [])  # a gap between rows
        grid = fig.add_gridspec(len(ratios), 1, height_ratios=ratios, hspace=0.05)
        fig.subplots_adjust(left=0.075, right=0.985, top=1 - 0.7 / height, bottom=0.45 / height)
        position = 0
        for x0 in rows:
            axes = [fig.add_subplot(grid[position + i]) for i in range(len(ratios_one))]
            position += len(ratios_one) + 1
            x1 = min(x0 + row_beats, _whole_bars(layout.end, score.beats_per_bar))
            if x1 < x0 + row_beats:  # the last row stops where the music does, its bars as wide as the others
                for ax in axes:
                    box = ax.get_position()
                    ax.set_position((box.x0, box.y0, box.width * (x1 - x0) / row_beats, box.height))
            _row(layout, axes, x0, x1)
        page = f" · page {number} of {len(pages)}" if len(pages) > 1 else ""
        _title(fig, layout, 1 - 0.35 / height, page)
        figures.append(fig)
    return figures


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def pianoroll_pages(score: Score) -> list[bytes]:
    """The picture as PNG pages (one, unless the piece is long); the same Score, the same bytes."""
    with matplotlib.style.context("default"):
        return [_png(fig) for fig in _pages(score)]


def pianoroll_png(score: Score) -> bytes:
    """The first page as PNG bytes."""
    return pianoroll_pages(score)[0]


def page_names(name: str, pages: int) -> list[str]:
    """'pianoroll.png', then 'pianoroll-2.png', ... for the pages after the first."""
    stem, dot, suffix = name.rpartition(".")
    return [name] + [f"{stem}-{n}{dot}{suffix}" for n in range(2, pages + 1)]


def render_pianoroll(score: Score, path: str | Path) -> list[Path]:
    """Write the piano roll to `path` (and `<stem>-2.png`, ... for more pages): the paths written."""
    path = Path(path)
    pages = pianoroll_pages(score)
    written = []
    for name, data in zip(page_names(path.name, len(pages)), pages):
        (path.parent / name).write_bytes(data)
        written.append(path.parent / name)
    return written
