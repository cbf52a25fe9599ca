"""What listeners keep and skip, by recipe and by setting: rows for a table, and a plot.

Pure aggregation over `Ratings.track_rows()`; the command prints and plots the result.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

DIMENSIONS = ("recipe", "tempo", "key", "pattern", "preset")
TEMPO_BUCKET = 4  # BPM


def _values(row: dict, dimension: str) -> list[str]:
    """The value(s) a track has for a dimension (a track with two presets counts under both)."""
    if dimension == "recipe":
        return [row["recipe"] or "?"]
    if dimension == "tempo":
        low = int(row["tempo"] // TEMPO_BUCKET * TEMPO_BUCKET)
        return [f"{low}-{low + TEMPO_BUCKET - 1} BPM"]
    if dimension == "key":
        return [row["key"] or "?"]
    field = {"pattern": "patterns", "preset": "presets"}[dimension]
    pairs = [item.split("=", 1)[1] for item in (row[field] or "").split(",") if "=" in item]
    return sorted(set(pairs)) or ["(recipe's own)"]


def summarize(rows: list[dict], dimension: str) -> list[dict]:
    """Per value of the dimension: tracks, plays, likes, skips, rates and listening time."""
    groups: dict[str, dict] = defaultdict(
        lambda: {"tracks": 0, "plays": 0, "likes": 0, "skips": 0, "skip_positions": [], "listened_s": 0.0}
    )
    for row in rows:
        for value in _values(row, dimension):
            group = groups[value]
            group["tracks"] += 1
            group["plays"] += row["plays"] or 0
            group["likes"] += row["likes"] or 0
            group["skips"] += row["skips"] or 0
            group["listened_s"] += row["listened_s"] or 0.0
            if row["skip_at"] is not None:
                group["skip_positions"].append(row["skip_at"])
    result = []
    for value, group in groups.items():
        plays = group["plays"]
        positions = group.pop("skip_positions")
        result.append(
            {
                dimension: value,
                **group,
                "like_rate": group["likes"] / plays if plays else 0.0,
                "skip_rate": group["skips"] / plays if plays else 0.0,
                "mean_skip_s": sum(positions) / len(positions) if positions else None,
            }
        )
    return sorted(result, key=lambda g: (-g["like_rate"], g["skip_rate"], str(g[dimension])))


def plot(summaries: dict[str, list[dict]], path: Path, title: str) -> Path:
    """Likes and skips per play, one panel per dimension, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {d: s for d, s in summaries.items() if s}
    figure, axes = plt.subplots(
        len(shown) or 1, 1, figsize=(8, 1.2 + sum(0.35 * len(s) + 0.8 for s in shown.values())), squeeze=False
    )
    for axis, (dimension, groups) in zip(axes[:, 0], shown.items()):
        labels = [str(g[dimension]) for g in groups]
        positions = range(len(groups))
        axis.barh(
            [p - 0.2 for p in positions],
            [g["like_rate"] for g in groups],
            height=0.4,
            color="#e27d9b",
            label="likes per play",
        )
        axis.barh(
            [p + 0.2 for p in positions],
            [g["skip_rate"] for g in groups],
            height=0.4,
            color="#7c8ce8",
            label="skips per play",
        )
        axis.set_yticks(list(positions), labels)
        axis.invert_yaxis()
        axis.set_title(f"by {dimension}", loc="left", fontsize=10)
        axis.grid(axis="x", alpha=0.3)
    axes[0, 0].legend(loc="lower right", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
