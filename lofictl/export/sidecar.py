"""The stems sidecar: `<name>.stems.json`, what a DAW user needs to line the stems up without a
project file (tempo or tempo map, meter, key, sections, and each stem with its gain and pan).

Written for every build with stems, whether or not the recipe asks for a project file; sorted
keys and fixed rounding, so the same build gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

from lofictl.compose.score import Score
from lofictl.export.daw import StemInfo, tempo_points


def stems_sidecar(
    score: Score, sample_rate: int, stems: list[StemInfo] | tuple[StemInfo, ...], *, title: str | None = None
) -> dict:
    """What a DAW user needs to line the stems up without a project file (JSON-ready)."""
    sections = [
        {
            "name": s.name,
            "start_bar": s.start_bar + 1,  # bars counted from 1, as DAWs show them
            "bars": s.bars,
            "start_beat": s.start_bar * score.beats_per_bar,
            "start_seconds": round(score.beat_to_seconds(s.start_bar * score.beats_per_bar), 6),
        }
        for s in sorted(score.sections, key=lambda s: (s.start_bar, s.name))
    ]
    listed = [
        {
            "file": Path(stem.path).as_posix(),
            "track": stem.track,
            "kind": stem.kind,
            "gain_db": stem.gain_db,
            "pan": stem.pan,
            "muted": stem.muted,
        }
        for stem in stems
        if stem.kind != "mix"
    ]
    mixes = [Path(stem.path).as_posix() for stem in stems if stem.kind == "mix"]
    data = {
        "lofictl_stems": 1,
        "title": title,
        "tempo_bpm": score.tempo,
        "time_signature": f"{score.numerator}/{score.denominator}",
        "key": score.key,
        "sample_rate": sample_rate,
        "length_beats": score.total_beats,
        "length_seconds": round(score.duration_seconds, 6),
        "start": "every stem starts at bar 1 (0 s) and runs the full length",
        "sections": sections,
        "stems": listed,
        "mix": mixes[0] if mixes else None,
    }
    if score.tempo_changes:  # each tempo holds until the next; a ramp is a step a beat
        data["tempo_map"] = [
            {
                "beat": beat,
                "bar": round(beat / score.beats_per_bar + 1, 6),
                "seconds": round(score.beat_to_seconds(beat), 6),
                "bpm": bpm,
            }
            for beat, bpm in tempo_points(score)
        ]
    return data


def sidecar_text(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


__all__ = ["sidecar_text", "stems_sidecar"]
