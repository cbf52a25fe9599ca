"""The statistics of a listening test, with numpy alone.

Pairwise (A/B) preferences: the Bradley-Terry model, P(i beats j) = p_i / (p_i + p_j), fitted
by Hunter's MM algorithm (2004), p_i <- W_i / sum_j n_ij / (p_i + p_j), the strengths scaled to
sum to 1 (so a system's strength reads as its share of the preference). Every pair that was
compared also gets PRIOR_WINS virtual wins each way, so a system that never won has a small
strength instead of zero and the fit always exists (it pulls the estimates slightly together).

MUSHRA (ITU-R BS.1534-3): per-system means of the 0-100 scores. Post-screening (its section
4.1.2): a listener who rates the hidden reference below 90 in more than 15 % of the trials is
excluded from the results.

Confidence intervals: percentile bootstrap over listeners (listeners are the unit that was
sampled; their answers are not independent of each other), BOOTSTRAP resamples, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIOR_WINS = 0.1
BOOTSTRAP = 2000
LEVEL = 0.95
REFERENCE_MIN = 90.0  # BS.1534-3 post-screening: the hidden reference rated below this ...
REFERENCE_FAIL_SHARE = 0.15  # ... in more than this share of trials excludes the listener


def bradley_terry(
    wins: np.ndarray, *, prior: float = PRIOR_WINS, tol: float = 1e-10, max_iter: int = 10_000
) -> np.ndarray:
    """Strengths (summing to 1) from `wins[i, j]`, how often i beat j."""
    wins = np.asarray(wins, dtype=float)
    n = wins.shape[0]
    games = wins + wins.T
    wins = wins + prior * (games > 0)
    games = wins + wins.T
    total = wins.sum(axis=1)
    p = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        denominator = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denominator > 0, total / np.where(denominator > 0, denominator, 1.0), p)
        new /= new.sum()
        if np.max(np.abs(new - p)) < tol:
            return new
        p = new
    return p


@dataclass(frozen=True)
class Vote:
    listener: str
    winner: str
    loser: str


@dataclass(frozen=True)
class Score:
    listener: str
    trial: str
    system: str
    role: str  # "system", "reference" (the hidden reference) or "anchor"
    score: float


def _interval(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - LEVEL) / 2 * 100
    return np.percentile(samples, tail, axis=0), np.percentile(samples, 100 - tail, axis=0)


def _win_matrix(votes: list[Vote], index: dict[str, int]) -> np.ndarray:
    wins = np.zeros((len(index), len(index)))
    for vote in votes:
        wins[index[vote.winner], index[vote.loser]] += 1
    return wins


def pairwise(votes: list[Vote], systems: list[str], *, seed: int = 0, resamples: int = BOOTSTRAP) -> dict:
    """Bradley-Terry strengths with bootstrap intervals over listeners, wins and comparisons."""
    index = {name: i for i, name in enumerate(systems)}
    by_listener: dict[str, np.ndarray] = {}
    for vote in votes:
        matrix = by_listener.setdefault(vote.listener, np.zeros((len(systems), len(systems))))
        matrix[index[vote.winner], index[vote.loser]] += 1
    listeners = sorted(by_listener)
    wins = sum(by_listener.values(), np.zeros((len(systems), len(systems))))
    strength = bradley_terry(wins) if votes else np.full(len(systems), 1 / max(1, len(systems)))
    low = high = None  # an interval over listeners needs two of them
    if len(listeners) > 1:
        stacked = np.stack([by_listener[name] for name in listeners])
        rng = np.random.default_rng(seed)
        draws = np.empty((resamples, len(systems)))
        for b in range(resamples):
            pick = rng.integers(0, len(listeners), len(listeners))
            draws[b] = bradley_terry(stacked[pick].sum(axis=0))
        low, high = _interval(draws)
    rows = [
        {
            "system": name,
            "strength": float(strength[i]),
            "low": None if low is None else float(low[i]),
            "high": None if high is None else float(high[i]),
            "wins": int(wins[i].sum()),
            "comparisons": int(wins[i].sum() + wins[:, i].sum()),
        }
        for name, i in index.items()
    ]
    rows.sort(key=lambda row: -float(row["strength"]))  # type: ignore[arg-type]
    return {"design": "ab", "listeners": len(listeners), "excluded": [], "votes": len(votes), "systems": rows}


def screen(scores: list[Score]) -> list[str]:
    """Listeners BS.1534-3's post-screening excludes: the hidden reference below 90 in more than
    15 % of the trials they rated it in."""
    rated: dict[str, list[float]] = {}
    for score in scores:
        if score.role == "reference":
            rated.setdefault(score.listener, []).append(score.score)
    return sorted(
        listener
        for listener, values in rated.items()
        if np.mean(np.asarray(values) < REFERENCE_MIN) > REFERENCE_FAIL_SHARE
    )


def mushra(scores: list[Score], systems: list[str], *, seed: int = 0, resamples: int = BOOTSTRAP) -> dict:
    """Mean score per system (the hidden reference and the anchor as their own rows), with
    bootstrap intervals over the listeners left after post-screening."""
    excluded = set(screen(scores))
    kept = [s for s in scores if s.listener not in excluded]
    names = list(systems)
    for extra in ("hidden reference", "anchor"):
        if any(_row_name(s) == extra for s in kept) and extra not in names:
            names.append(extra)
    index = {name: i for i, name in enumerate(names)}
    listeners = sorted({s.listener for s in kept})
    sums = np.zeros((len(listeners), len(names)))
    counts = np.zeros((len(listeners), len(names)))
    where = {name: i for i, name in enumerate(listeners)}
    for s in kept:
        sums[where[s.listener], index[_row_name(s)]] += s.score
        counts[where[s.listener], index[_row_name(s)]] += 1

    def means(rows: np.ndarray) -> np.ndarray:
        total, count = sums[rows].sum(axis=0), counts[rows].sum(axis=0)
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)

    everyone = np.arange(len(listeners))
    mean = means(everyone)
    low = high = np.full(len(names), np.nan)  # an interval over listeners needs two of them
    if len(listeners) > 1:
        rng = np.random.default_rng(seed)
        draws = np.stack([means(rng.integers(0, len(listeners), len(listeners))) for _ in range(resamples)])
        low, high = (np.nanpercentile(draws, q, axis=0) for q in ((1 - LEVEL) / 2 * 100, (1 + LEVEL) / 2 * 100))
    rows = [
        {
            "system": name,
            "mean": None if np.isnan(mean[i]) else float(mean[i]),
            "low": None if np.isnan(low[i]) else float(low[i]),
            "high": None if np.isnan(high[i]) else float(high[i]),
            "ratings": int(counts[:, i].sum()),
        }
        for name, i in index.items()
    ]
    rows.sort(key=lambda row: -(row["mean"] if isinstance(row["mean"], float) else -1.0))
    return {
        "design": "mushra",
        "listeners": len(listeners),
        "excluded": sorted(excluded),
        "ratings": len(kept),
        "systems": rows,
    }


def _row_name(score: Score) -> str:
    return {"reference": "hidden reference", "anchor": "anchor"}.get(score.role, score.system)
