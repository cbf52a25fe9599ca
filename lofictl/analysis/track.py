"""`lofictl analyze`: one report for a build folder, a reference WAV or a reference MIDI file.

* a build folder: the note measures (analysis/notes.py) from its MIDI and build.json, and, when
  it has stems (a full build), every stem's loudness (LUFS), crest and band shares, the music
  against the bed (sound/spectra.py);
* a WAV (or FLAC, MP3...) a user likes: its loudness, crest and band shares;
* a MIDI file a user likes: the note measures, parts guessed from track names and notes.
"""

from __future__ import annotations

from pathlib import Path

from lofictl.analysis import notes as note_measures
from lofictl.analysis.source import TrackSource, part_tracks, read_build, read_midi
from lofictl.errors import LofictlError

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif")
MIDI_SUFFIXES = (".mid", ".midi")
MIN_OFFBEATS = 4  # off-beat onsets a part needs for its flam against the others to be reported


def score_report(source: TrackSource) -> dict:
    """The note measures of a score (module doc of analysis/notes.py)."""
    from lofictl.compose.drums import DRUM_NAMES

    score = source.score
    melody = [n for t in part_tracks(score, "melody")[:1] for n in t.notes]
    chord_notes = [n for t in part_tracks(score, "chords") for n in t.notes]
    drums = [n for t in score.tracks if t.is_drums or t.part == "drums" for n in t.notes]
    positions: dict[str, dict] = {}
    for part in ("melody", "chords", "bass", "midi"):
        for track in part_tracks(score, part):
            positions[track.name] = note_measures.offbeat_position(track.notes)
    for key in sorted({n.pitch for n in drums}):
        lane = [n for n in drums if n.pitch == key]
        found = note_measures.offbeat_position(lane)
        if found["n"]:
            positions[f"drums:{DRUM_NAMES.get(key, key)}"] = found
    # A lane with a stray off-beat (a fill's tom) says nothing about the feel: pairs need a few onsets each.
    steady = {k: v["mean"] for k, v in positions.items() if v["n"] >= MIN_OFFBEATS}
    flams = note_measures.flams(steady, score.tempo)
    spread = note_measures.velocity_spread(drums)
    sections = [(s.name, s.start_bar, s.bars) for s in source.sections] or [
        ("whole", 0, max(1, round(score.total_beats / score.beats_per_bar)))
    ]
    return {
        "tempo_bpm": score.tempo,
        "key": score.key,
        "bars": round(score.total_beats / score.beats_per_bar, 2),
        "parts": {t.name: t.part for t in score.tracks},
        "melody_under_chords": note_measures.melody_under_chords(melody, chord_notes)
        if melody and chord_notes
        else None,
        "offbeat_positions": positions,
        "flam_ms": flams,
        "max_flam_ms": max(flams.values()) if flams else None,
        "drum_velocity": {f"{key} {DRUM_NAMES.get(key, '')}".strip(): v for key, v in spread.items()},
        "hits_per_bar": note_measures.hits_per_bar(drums, sections, score.beats_per_bar) if drums else {},
    }


def _audio_measures(m) -> dict:
    return {
        "lufs": m.lufs,
        "peak_db": m.peak_db,
        "crest_db": m.crest_db,
        "centroid_hz": m.centroid_hz,
        "bands": m.bands,
        "share_1k_8k": m.bands.get("mid", 0.0) + m.bands.get("presence", 0.0),  # snare crack, hats, consonants
    }


def _gap(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def mix_balance(stems: dict, parts: dict[str, str]) -> dict:
    """The levels a producer checks: each stem under the music (LU), the melody over the keys (LU)."""
    music = stems.get("music", {}).get("lufs")
    under = {name: _gap(music, m["lufs"]) for name, m in stems["stems"].items()}
    by_part: dict[str, list[float]] = {}
    for name, part in parts.items():
        lufs = stems["stems"].get(name, {}).get("lufs")
        if lufs is not None:
            by_part.setdefault(part, []).append(lufs)
    loudest = {part: max(values) for part, values in by_part.items()}
    return {
        "under_music_lu": under,
        "melody_over_chords_lu": _gap(loudest.get("melody"), loudest.get("chords")),
    }


def audio_report(path: Path) -> dict:
    from lofictl.sound import spectra
    from lofictl.sound.audio_io import read_audio

    audio, rate = read_audio(path)
    return {"sample_rate": rate, "audio": _audio_measures(spectra.measure(audio, rate))}


def stems_report(build_dir: Path) -> dict | None:
    """Every stem's measures and the bed against the music; None for a build without stems."""
    from lofictl.sound import spectra

    if not sorted((Path(build_dir) / "stems").glob("*.wav")):
        return None
    found = spectra.build_report(build_dir, master=False)  # the note half reads the stems only
    out = {"sample_rate": found["sample_rate"], "stems": {k: _audio_measures(v) for k, v in found["stems"].items()}}
    for name in ("music", "bed"):
        if name in found:
            out[name] = _audio_measures(found[name])
    if "bed_vs_music" in found:
        out["bed_vs_music"] = found["bed_vs_music"]
    return out


def analyze(path: Path) -> dict:
    """A build folder, an audio file or a MIDI file → its report (module doc)."""
    path = Path(path)
    if path.is_dir():
        notes = score_report(read_build(path))
        data: dict = {"what": "build", "path": str(path), "notes": notes}
        stems = stems_report(path)
        if stems is not None:
            stems["balance"] = mix_balance(stems, notes["parts"])
            data["stems"] = stems
        return data
    if not path.exists():
        raise LofictlError(f"{path}: no such build folder or file")
    suffix = path.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        return {"what": "audio", "path": str(path), **audio_report(path)}
    if suffix in MIDI_SUFFIXES:
        return {"what": "midi", "path": str(path), "notes": score_report(read_midi(path))}
    raise LofictlError(f"{path}: not a build folder, an audio file ({', '.join(AUDIO_SUFFIXES)}) or a MIDI file (.mid)")


# --- text ---------------------------------------------------------------------------------------

SUMMARY_HEAD = (
    "target",
    "under keys",
    "max flam ms",
    "snare med",
    "hat IQR",
    "hits/bar",
    "drums 1-8k",
    "mix 1-8k",
    "lead/keys LU",
    "overlays under music LU",
)


def summary_row(data: dict) -> list[str]:
    """One line of the several-targets table: the figures issue targets are stated in."""
    n, stems = data.get("notes") or {}, data.get("stems") or {}
    if data["what"] == "audio":
        a = data["audio"]
        return [Path(data["path"]).name, "-", "-", "-", "-", "-", "-", f"{a['share_1k_8k']:.1%}", "-", "-"]
    velocity = n.get("drum_velocity", {})
    snare = velocity.get("38 Snare", {}).get("median")
    hats = velocity.get("42 Closed hat", {}).get("iqr")
    per_bar = [v for v in n.get("hits_per_bar", {}).values() if v > 0]
    under = n.get("melody_under_chords")
    drums = stems.get("stems", {}).get("drums")
    music = stems.get("music")
    under_music = stems.get("balance", {}).get("under_music_lu", {})
    overlays = [_f(v) for name, v in under_music.items() if name.startswith("overlay-")]
    return [
        Path(data["path"]).name,
        "-" if under is None else f"{under:.0%}",
        _f(n.get("max_flam_ms"), 0),
        _f(snare, 0),
        _f(hats, 0),
        f"{min(per_bar):.1f}-{max(per_bar):.1f}" if per_bar else "-",
        "-" if drums is None else f"{drums['share_1k_8k']:.1%}",
        "-" if music is None else f"{music['share_1k_8k']:.1%}",
        _f(stems.get("balance", {}).get("melody_over_chords_lu")),
        " / ".join(overlays) or "-",
    ]


def format_summary(reports: list[dict]) -> str:
    """Several targets side by side (one line each)."""
    rows = [list(SUMMARY_HEAD)] + [summary_row(r) for r in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(len(SUMMARY_HEAD))]
    return (
        "\n".join(
            "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in rows
        )
        + "\n"
    )


def _f(value, digits: int = 1, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _bands_line(bands: dict) -> str:
    return "  ".join(f"{k} {v:.1%}" for k, v in bands.items())


def format_report(data: dict) -> str:
    lines = [f"{data['what']}: {data['path']}"]
    if data["what"] == "audio":
        a = data["audio"]
        lines.append(f"  loudness {_f(a['lufs'])} LUFS, peak {_f(a['peak_db'])} dBFS, crest {_f(a['crest_db'])} dB")
        lines.append(f"  bands: {_bands_line(a['bands'])}  (1-8 kHz {a['share_1k_8k']:.1%})")
        return "\n".join(lines) + "\n"
    if "stems" in data:
        stems = data["stems"]
        under = stems["balance"]["under_music_lu"]
        lines.append("stems (LUFS, LU under the music, crest dB, 1-8 kHz share; share of power per band)")
        rows = list(stems["stems"].items()) + [(k, stems[k]) for k in ("music", "bed") if k in stems]
        for name, m in rows:
            lines.append(
                f"  {name:<18} {_f(m['lufs']):>6} LUFS {_f(under.get(name)):>5} LU  crest {_f(m['crest_db']):>5}"
                f"  1-8k {m['share_1k_8k']:>5.1%}  {_bands_line(m['bands'])}"
            )
        if "bed_vs_music" in stems:
            lines.append(f"  bed under the music: {_f(stems['bed_vs_music']['below_lu'])} LU")
        lines.append(f"  melody over the keys: {_f(stems['balance']['melody_over_chords_lu'])} LU")
    n = data.get("notes")
    if n:
        lines.append(f"notes ({n['tempo_bpm']:g} BPM, {n['key']}, {n['bars']:g} bars)")
        under = n["melody_under_chords"]
        lines.append(f"  melody under a chord note: {'-' if under is None else f'{under:.0%}'} of its time")
        lines.append("  off-beat 8ths (mean position in the beat, onsets):")
        for name, p in n["offbeat_positions"].items():
            lines.append(f"    {name:<22} {_f(p['mean'], 3):>6}  ({p['n']})")
        if n["flam_ms"]:
            worst = sorted(n["flam_ms"].items(), key=lambda kv: -kv[1])
            lines.append(
                f"  flam between parts (ms, parts with {MIN_OFFBEATS}+ off-beats; widest first): "
                + ", ".join(f"{k} {v:.0f}" for k, v in worst[:6])
                + (f" (+{len(worst) - 6} more in --json)" if len(worst) > 6 else "")
            )
        if n["drum_velocity"]:
            lines.append("  drum velocity (hits, median, IQR, range):")
            for name, v in n["drum_velocity"].items():
                lines.append(
                    f"    {name:<22} {v['hits']:>4}  {v['median']:>5.0f}  {v['iqr']:>4.0f}  {v['min']}-{v['max']}"
                )
        if n["hits_per_bar"]:
            lines.append("  drum hits per bar: " + ", ".join(f"{k} {v:.1f}" for k, v in n["hits_per_bar"].items()))
    return "\n".join(lines) + "\n"
