"""The `lofictl eval` report as people read it: the Markdown tables (melody rows, progression
rows, feature means), report.md, and the plots beside report.json (models/report.py draws them).
models/quality.py measures the rows; models/built.py reuses the tables for built tracks."""

from __future__ import annotations

from pathlib import Path

from lofictl.models import measures, report

SHORT = {
    "pitch_classes": "pitch cl.",
    "intervals": "intervals",
    "onset_intervals": "onsets",
    "note_lengths": "lengths",
    "notes_per_bar": "notes/bar",
    "silent_share": "silent",
    "pitch_range": "range",
    "chord_tones": "chord tones",
}


def num(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def melody_table(rows: list[dict]) -> str:
    """Markdown: overlap per feature, the mean, and two of the research's measures per row."""
    head = ["row", *(SHORT[f] for f in measures.FEATURES), "**mean**", "repetitiveness", "overlap 15"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        comparison = r.get("comparison")
        if not comparison:
            continue
        research = r.get("research", {}).get("measures", {})
        cells = [r["name"]] + [num(comparison["features"][f]["overlap"]) for f in measures.FEATURES]
        cells.append(f"**{num(comparison['mean_overlap'])}**")
        cells.append(num((research.get("repetitiveness") or {}).get("mean")))
        overlap = (research.get("overlap_15") or {}).get("mean")
        cells.append("–" if overlap is None else f"{overlap:.1%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def progression_table(rows: list[dict], data: dict | None = None) -> str:
    """Markdown: loops per 8-bar section and chord qualities, per row that made progressions."""
    head = [
        "row",
        "8-bar sections",
        "loop",
        "1-bar",
        "2-bar",
        "4-bar",
        "one chord",
        "through",
        "chords/bar",
        "quality overlap",
        "top qualities",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    reference = None
    for r in rows:
        prog = r.get("progressions")
        if not prog:
            continue
        reference = reference or prog
        loops = prog["loops"]
        top = ", ".join(f"{q} {share:.0%}" for q, share in list(prog["quality_shares"].items())[:4])
        lines.append(
            "| "
            + " | ".join(
                [
                    r["name"],
                    str(loops["sections"]),
                    _pct(loops["loop_share"]),
                    *(_pct(loops["by_period"].get(str(p))) for p in measures.LOOP_PERIODS),
                    _pct(loops["static_share"]),
                    _pct(loops["through_share"]),
                    num(prog["chords_per_bar"]),
                    num(prog["quality_overlap"]),
                    top,
                ]
            )
            + " |"
        )
    if reference is None:
        return ""
    loops = reference["reference_loops"]
    top = ", ".join(f"{q} {share:.0%}" for q, share in list(reference["reference_quality_shares"].items())[:4])
    lines.append(
        "| "
        + " | ".join(
            [
                "reference half (human)",
                str(loops["sections"]),
                _pct(loops["loop_share"]),
                *(_pct(loops["by_period"].get(str(p))) for p in measures.LOOP_PERIODS),
                _pct(loops["static_share"]),
                _pct(loops["through_share"]),
                "–",
                "1.00",
                top,
            ]
        )
        + " |"
    )
    return "\n".join(lines) + "\n"


def _pct(value) -> str:
    return "–" if value is None else f"{value:.0%}"


SCALARS = ("notes_per_bar", "silent_share", "pitch_range", "chord_tones")


def feature_means_table(data: dict) -> str:
    """Markdown: the scalar features' means per row beside the reference's, and the overlap of
    the values' densities (value_overlap) in brackets."""
    head = ["row", *(f"{measures.FEATURE_LABELS[f]} (value overlap)" for f in SCALARS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in data["rows"]:
        if r.get("comparison"):
            features = r["comparison"]["features"]
            lines.append(
                "| "
                + " | ".join(
                    [r["name"]]
                    + [
                        f"{num(features[f]['generated'].get('mean'))} ({num(features[f].get('value_overlap'))})"
                        for f in SCALARS
                    ]
                )
                + " |"
            )
    ref = data["reference"]["features"]
    lines.append("| " + " | ".join(["reference half (human)"] + [num(ref[f].get("mean")) for f in SCALARS]) + " |")
    return "\n".join(lines) + "\n"


def markdown(data: dict) -> str:
    st, ref = data["settings"], data["reference"]
    parts = [
        f"# lofictl eval\n\n{st['samples']} samples of {st['length_bars']} bars per row, sampling {st['sampling']} "
        f"(temperature {st['temperature']:g}), seed {st['seed']}; chords: {st['chords']}.\n"
        f"Measured against {ref['reference_passages']} passages of {ref['reference_songs']} songs "
        f"({ref['what']}); prompts from {ref['prompt_passages']} passages of {ref['prompt_songs']} other songs.\n"
    ]
    if data["table"]:
        parts.append("## Melodies: overlap with the held-out songs (1.0 = indistinguishable)\n\n" + data["table"])
        parts.append("## Feature means\n\n" + feature_means_table(data))
    if data["progression_table"]:
        parts.append("## Progressions: loops per 8-bar section, chord qualities\n\n" + data["progression_table"])
    lines = []
    for r in data["rows"]:
        met = ", ".join(f"{k} {'met' if v else 'missed'}" for k, v in r["targets"].items() if v is not None)
        if met:
            lines.append(f"- {r['name']}: {met}")
    if lines:
        t = data["targets"]
        parts.append(
            f"## Targets (mean overlap ≥ {t['mean_overlap']}, silent-grid overlap ≥ {t['silent_share']}, "
            f"≥ {t['loop_share']:.0%} of 8-bar sections loop)\n\n" + "\n".join(lines) + "\n"
        )
    return "\n".join(parts)


def write_outputs(data: dict, results: list[dict], reference_features, out: Path) -> list[str]:
    """report.json, report.md and the plots (densities, overlap bars, repetition, training overlap);
    the names of the files written."""
    report.write_file(out / "report.json", report.json_bytes(data))
    report.write_file(out / "report.md", markdown(data).encode())
    written = ["report.json", "report.md"]
    melodic = [r for r in results if r.get("_features")]
    if not melodic:
        return written
    ref_curves: dict[str, tuple] = {}
    rows: list = []
    for r in melodic:
        curves = {}
        for name in measures.FEATURES:
            intra, inter = measures.distance_samples(r["_features"], reference_features, name)
            found = measures.density_curves(intra, inter)
            if found is not None:
                grid, p, q = found
                ref_curves.setdefault(name, (grid, p))
                curves[name] = (grid, q, r["comparison"]["features"][name]["overlap"])
        rows.append((r["name"], curves))
    features = list(measures.FEATURES)
    report.write_file(out / "densities.png", report.density_plot(features, measures.FEATURE_LABELS, ref_curves, rows))
    written += ["densities.png", "feature-overlap.png", "repetition.png"]
    report.write_file(
        out / "feature-overlap.png",
        report.overlap_bars(
            features,
            measures.FEATURE_LABELS,
            [(r["name"], {f: r["comparison"]["features"][f]["overlap"] for f in features}) for r in melodic],
        ),
    )
    report.write_file(
        out / "repetition.png",
        report.repetition_plot([(r["name"], r["research"]["repetition_curve"]) for r in melodic]),
    )
    if any(r["research"]["overlap_by_length"] for r in melodic):
        report.write_file(
            out / "training-overlap.png",
            report.training_overlap_plot([(r["name"], r["research"]["overlap_by_length"]) for r in melodic]),
        )
        written.append("training-overlap.png")
    return written
