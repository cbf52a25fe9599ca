"""The listening test's statistics against cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from lofictl.audition import stats


def test_mm_reaches_the_bradley_terry_maximum_likelihood():
    wins = np.array([[0, 7, 9, 4], [3, 0, 6, 5], [1, 4, 0, 6], [2, 5, 4, 0]], dtype=float)
    p = stats.bradley_terry(wins, prior=0.0)

    def negative_log_likelihood(theta):
        theta = np.concatenate([[0.0], theta])  # strengths up to a scale: fix the first
        diff = theta[:, None] - theta[None, :]
        return -(wins * (diff - np.logaddexp(0, diff))).sum()

    best = minimize(negative_log_likelihood, np.zeros(3), method="BFGS").x
    expected = np.exp(np.concatenate([[0.0], best]))
    np.testing.assert_allclose(p, expected / expected.sum(), rtol=1e-4)
    assert list(np.argsort(-p)) == [0, 1, 3, 2]


def test_a_synthetic_vote_set_recovers_the_known_order_with_intervals_that_hold_the_truth():
    truth = {"best": 0.45, "good": 0.3, "fair": 0.17, "poor": 0.08}
    names = list(truth)
    rng = np.random.default_rng(1)
    votes = []
    for listener in range(24):
        for _ in range(30):
            i, j = rng.choice(4, 2, replace=False)
            a, b = names[i], names[j]
            a_wins = rng.random() < truth[a] / (truth[a] + truth[b])
            votes.append(stats.Vote(f"L{listener}", a if a_wins else b, b if a_wins else a))
    result = stats.pairwise(votes, names[::-1], resamples=400)
    assert [row["system"] for row in result["systems"]] == names
    assert result["listeners"] == 24 and result["votes"] == 720
    for row in result["systems"]:
        assert row["low"] <= truth[row["system"]] <= row["high"], row
        assert row["low"] <= row["strength"] <= row["high"]
    # more listeners, narrower intervals: the bootstrap is over listeners
    few = stats.pairwise([v for v in votes if int(v.listener[1:]) < 6], names, resamples=400)
    width = {r["system"]: r["high"] - r["low"] for r in result["systems"]}
    assert all(r["high"] - r["low"] > width[r["system"]] for r in few["systems"])


def test_a_system_that_never_won_gets_a_small_strength_not_a_failed_fit():
    votes = [stats.Vote("x", "a", "b")] * 5
    result = stats.pairwise(votes, ["a", "b"], resamples=50)
    strengths = {row["system"]: row["strength"] for row in result["systems"]}
    assert 0 < strengths["b"] < 0.05 and strengths["a"] > 0.95


def _mushra_scores(listener, ref, anchor, systems, trials=10):
    out = []
    for t in range(trials):
        out.append(stats.Score(listener, str(t), "ref", "reference", ref[t] if isinstance(ref, list) else ref))
        out.append(stats.Score(listener, str(t), "ref", "anchor", anchor))
        for name, value in systems.items():
            out.append(stats.Score(listener, str(t), name, "system", value))
    return out


def test_mushra_means_and_post_screening_of_listeners_who_miss_the_hidden_reference():
    scores = []
    for i, shift in enumerate((-4, 0, 3, 5)):
        scores += _mushra_scores(f"ok{i}", 100, 20 + shift, {"ref": 100, "lstm": 70 + shift, "markov": 50 + shift})
    # two of ten trials (20 %) with the hidden reference under 90: excluded
    scores += _mushra_scores("careless", [80, 85] + [100] * 8, 90, {"ref": 100, "lstm": 10, "markov": 95})
    # one of ten (10 %): kept
    scores += _mushra_scores("once", [80] + [100] * 9, 20, {"ref": 100, "lstm": 71, "markov": 51})
    assert stats.screen(scores) == ["careless"]
    result = stats.mushra(scores, ["ref", "lstm", "markov"], resamples=300)
    assert result["excluded"] == ["careless"] and result["listeners"] == 5
    rows = {row["system"]: row for row in result["systems"]}
    assert [row["system"] for row in result["systems"]][:2] == ["ref", "hidden reference"]
    assert rows["lstm"]["mean"] == pytest.approx((66 + 70 + 73 + 75 + 71) / 5)
    assert rows["lstm"]["low"] < rows["lstm"]["mean"] < rows["lstm"]["high"]
    assert rows["markov"]["high"] < rows["lstm"]["low"]  # clearly apart
    assert rows["anchor"]["mean"] == pytest.approx((16 + 20 + 23 + 25 + 20) / 5)
