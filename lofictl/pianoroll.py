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
from pathlib import Path

import matplotlib.style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from lofictl.drums import DRUM_NAMES
from lofictl.score import Note, Score
from lofictl.theory import NOTE_NAMES

WIDTH_IN, HEIGHT_IN, DPI = 16.0, 8.0, 100
# Colour-blind-safe, distinct on white (Okabe-Ito, then a few of tab10).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B", "#7F7F7F",
           "#BCBD22", "#17BECF")
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


def _bar_ticks(ax, score: Score, end: float) -> None:
    bars = max(1, int(round(end / score.beats_per_bar)))
    every = next(step for step in (1, 2, 4, 8, 16, 32, 64, 10**9) if bars / step <= 32)
    major = [b * score.beats_per_bar for b in range(0, bars + 1, every)]
    ax.set_xticks(major, [str(int(round(x / score.beats_per_bar)) + 1) for x in major])
    # Short pieces get a line per beat, long ones a line per bar.
    compound = score.denominator == 8 and score.numerator % 3 == 0 and score.numerator >= 6
    beat = 1.5 if compound else 4.0 / score.denominator
    minor = score.beats_per_bar if bars > 16 else beat
    ax.set_xticks([i * minor for i in range(int(end / minor) + 1)], minor=True)
    ax.set_xlabel("bar")


def _sections(axes, score: Score, top) -> None:
    for index, section in enumerate(sorted(score.sections, key=lambda s: s.start_bar)):
        x0 = section.start_bar * score.beats_per_bar
        x1 = x0 + section.bars * score.beats_per_bar
        for ax in axes:
            ax.axvspan(x0, x1, color=SECTION_SHADES[index % 2], zorder=0, lw=0)
            ax.axvline(x0, color="#555555", lw=1.0, zorder=1)
        top.add_patch(Rectangle((x0, 2.0), x1 - x0, 1.0, facecolor="#DDDDDD" if index % 2 == 0 else "#C8C8C8",
                                edgecolor="white", lw=1.5))
        top.text(x0 + 0.3, 2.5, f"{section.name}  ({section.bars} bars{_section_tempo(score, x0, x1)})",
                 va="center", ha="left", fontsize=9, fontweight="bold", clip_on=True)


def _section_tempo(score: Score, start: float, end: float) -> str:
    """', 84 BPM' or ', 72→84 BPM' for a piece whose tempo changes; nothing otherwise."""
    if not score.tempo_changes:
        return ""
    timing = score.tempo_map
    inside = [beat for beat, _ in score.tempo_changes if start - 1e-6 <= beat < end - 1e-6]
    if len(inside) <= 1:  # one tempo all through the section
        return f", {timing.bpm_at(start):g} BPM"
    # a ramp: from the tempo before it to where it arrives, at the section's end
    before = timing.bpm_at(start - 1e-6) if start > 0 else score.tempo
    return f", {before:g}→{timing.bpm_at(end):g} BPM"


def _chords(top, score: Score, end: float) -> None:
    # Repeated symbols in a row are one label; many chords are staggered over two rows.
    merged: list[list] = []
    for chord in sorted(score.chords, key=lambda c: c.start):
        if merged and merged[-1][2] == chord.symbol and abs(merged[-1][1] - chord.start) < 1e-9:
            merged[-1][1] = chord.end
        else:
            merged.append([chord.start, chord.end, chord.symbol])
    beats_per_label = 2.2 * end / 64.0  # about the width of "Cmaj9" at this size and figure width
    crowded = any(c[1] - c[0] < beats_per_label for c in merged)
    for index, (start, stop, symbol) in enumerate(merged):
        row = (index % 2) if crowded else 0
        y0, h = (1.0 - row, 1.0) if crowded else (0.0, 2.0)
        top.add_patch(Rectangle((start, y0), stop - start, h, facecolor="#FFF5D6" if index % 2 == 0 else "#FBE8B0",
                                edgecolor="#B89B4A", lw=0.6))
        top.text(start + 0.15, y0 + h / 2, symbol, va="center", ha="left", fontsize=8, clip_on=True)


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


def _figure(score: Score) -> Figure:
    pitched = [t for t in score.tracks if not t.is_drums]
    drums = [t for t in score.tracks if t.is_drums and t.notes]
    colour = {t.name: COLOURS[i % len(COLOURS)] for i, t in enumerate(score.tracks)}
    all_notes = [n for t in score.tracks for n in t.notes]
    end = max([score.total_beats, *(n.end for n in all_notes)]) or score.beats_per_bar
    drum_pitches = sorted({n.pitch for t in drums for n in t.notes})

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ratios = [0.55, 5.0] + ([0.35 + 0.22 * len(drum_pitches)] if drums else [])
    axes = fig.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios, "hspace": 0.04})
    top, roll = axes[0], axes[1]
    lanes = list(axes[1:])
    fig.subplots_adjust(left=0.075, right=0.985, top=0.93, bottom=0.07)

    top.set_ylim(0, 3)
    top.set_yticks([0.9, 2.5], ["chords", "sections"])
    top.tick_params(axis="y", length=0, labelsize=8)
    top.tick_params(axis="x", which="both", bottom=False)
    for spine in top.spines.values():
        spine.set_visible(False)
    _sections(lanes, score, top)
    _chords(top, score, end)

    pitched_notes = [n for t in pitched for n in t.notes]
    if pitched_notes:
        low = min(n.pitch for n in pitched_notes) - 2
        high = max(n.pitch for n in pitched_notes) + 2
    else:
        low, high = 48, 72
    roll.set_ylim(low - 0.5, high + 0.5)
    _pitch_ticks(roll, low, high)
    for track in pitched:
        roll.add_collection(_bars(track.notes, lambda n: n.pitch, colour[track.name], 0.8))
    roll.tick_params(axis="y", labelsize=8)
    roll.set_ylabel("pitch")
    if not all_notes:
        roll.text(end / 2, (low + high) / 2, "no notes", ha="center", va="center", fontsize=14, color="#888888")

    if drums:
        lane = axes[2]
        row = {pitch: i for i, pitch in enumerate(drum_pitches)}
        for track in drums:
            lane.add_collection(_bars(track.notes, lambda n: row[n.pitch], colour[track.name], 0.7))
        lane.set_ylim(-0.6, len(drum_pitches) - 0.4)
        lane.set_yticks(range(len(drum_pitches)), [DRUM_NAMES.get(p, f"drum {p}") for p in drum_pitches])
        lane.tick_params(axis="y", labelsize=7)
        lane.set_ylabel("drums")
    bottom = axes[-1]
    bottom.set_xlim(0, end)
    _bar_ticks(bottom, score, end)
    for ax in lanes:
        ax.grid(axis="x", which="major", color="#BBBBBB", lw=0.6, zorder=0.7)
        ax.grid(axis="x", which="minor", color="#E2E2E2", lw=0.4, zorder=0.7)
        ax.set_axisbelow(True)

    handles = [Patch(color=colour[t.name], label=f"{t.name} ({len(t.notes)} notes)") for t in score.tracks]
    if handles:
        fig.legend(handles=handles, loc="upper right", ncol=min(len(handles), 6), fontsize=9,
                   frameon=False, bbox_to_anchor=(0.985, 0.995))
    bars = int(round(score.total_beats / score.beats_per_bar))
    low, high = score.tempo_range
    tempo = f"{score.tempo:g} BPM" if low == high else f"{low:g}–{high:g} BPM"
    fig.text(0.075, 0.965, f"{score.key} · {tempo} · {score.numerator}/{score.denominator} · {bars} bars",
             fontsize=11, fontweight="bold", va="center")
    return fig


def pianoroll_png(score: Score) -> bytes:
    """The picture as PNG bytes; the same Score always gives the same bytes."""
    with matplotlib.style.context("default"):
        fig = _figure(score)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def render_pianoroll(score: Score, path: str | Path) -> bytes:
    """Write the piano roll PNG to `path` and return its bytes (for the lock file's hash)."""
    data = pianoroll_png(score)
    Path(path).write_bytes(data)
    return data
