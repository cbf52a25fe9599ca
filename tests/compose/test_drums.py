"""Drum patterns: the grids, seeded variation, fills, swing, humanize, meters, errors."""

from __future__ import annotations

import numpy as np
import pytest

from lofictl.compose import drums
from lofictl.compose.drums import DRUM_NOTE_BEATS, KIT, PATTERNS, drum_notes, pattern_names
from lofictl.errors import LofictlError
from lofictl.seeds import rng

SPB = 60 / 72  # seconds per beat at 72 BPM


def notes(pattern="boom-bap", start_bar=0, bars=4, beats_per_bar=4.0, seed=1, **kw):
    kw.setdefault("seconds_per_beat", SPB)
    return drum_notes(pattern, start_bar, bars, beats_per_bar, seed, **kw)


def hits(result, pitch):
    return [n.start for n in result if n.pitch == pitch]


def test_library_has_the_named_patterns_and_they_all_parse():
    assert {"boom-bap", "lazy", "half-time", "brushes"} <= set(PATTERNS)
    assert pattern_names() == sorted(PATTERNS)
    for name in pattern_names():
        assert notes(name, bars=2, fill_last_bar=True), name
    for name in drums.FILLS:
        assert drums._fill_hits(name)


def test_pattern_without_variation_is_the_written_grid():
    # boom-bap bar 1: kick "X... ...x ..X. ....", snare ".... X... .... X...", hats on 8ths.
    bar = notes(bars=1, variation=0)
    assert hits(bar, KIT["kick"]) == [0.0, 1.75, 2.5]
    assert hits(bar, KIT["snare"]) == [1.0, 3.0]
    assert hits(bar, KIT["hat"]) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert [n.velocity for n in bar if n.pitch == KIT["kick"]] == [100, 86, 100]  # X x X: the middle layers


def test_same_seed_same_notes_different_seed_different_notes():
    a = notes(bars=8, seed=5, humanize_timing_ms=10, humanize_velocity=10)
    assert a == notes(bars=8, seed=5, humanize_timing_ms=10, humanize_velocity=10)
    assert a != notes(bars=8, seed=6, humanize_timing_ms=10, humanize_velocity=10)
    # Variation alone (no humanize) also follows the seed.
    assert notes(bars=8, seed=5, variation=0.5) != notes(bars=8, seed=6, variation=0.5)


def test_a_bars_variation_depends_on_its_number_not_on_the_bars_before_it():
    run = notes(start_bar=0, bars=6, variation=0.6, humanize_timing_ms=8, humanize_velocity=6)
    alone = notes(start_bar=3, bars=1, variation=0.6, humanize_timing_ms=8, humanize_velocity=6)
    assert tuple(n for n in run if 12 <= n.start < 16) == alone


def test_fill_changes_only_the_last_bar():
    plain = notes(bars=4, seed=3)
    filled = notes(bars=4, seed=3, fill_last_bar=True)
    assert [n for n in filled if n.start < 12] == [n for n in plain if n.start < 12]
    assert [n for n in filled if n.start >= 12] != [n for n in plain if n.start >= 12]


@pytest.mark.parametrize("swing", [0.5, 0.58, 0.66, 0.75])
def test_16th_swing_delays_only_the_off_beat_16ths_by_the_stated_amount(swing):
    straight = notes("dilla", bars=2, variation=0)
    swung = notes("dilla", bars=2, variation=0, swing=swing, swing_unit="16th")
    assert len(straight) == len(swung)
    delay = (swing - 0.5) * 2 * 0.25
    odd_seen = False
    for a, b in zip(straight, swung):
        step = round(a.start / 0.25)
        assert a.pitch == b.pitch and a.velocity == b.velocity
        expected = delay if step % 2 == 1 else 0.0
        odd_seen |= step % 2 == 1
        assert b.start - a.start == pytest.approx(expected)
    assert odd_seen


@pytest.mark.parametrize("swing", [0.58, 0.66])
def test_8th_swing_moves_the_and_and_carries_the_16ths_with_it(swing):
    straight = notes("dilla", bars=2, variation=0)
    swung = notes("dilla", bars=2, variation=0, swing=swing)  # 8th is the default unit
    for a, b in zip(straight, swung):
        position = round(a.start % 1, 3)
        expected = {0.0: 0.0, 0.25: swing / 2, 0.5: swing, 0.75: swing + (1 - swing) / 2}[position]
        assert b.start - (a.start - position) == pytest.approx(expected)


def test_a_bad_swing_unit_names_its_field():
    with pytest.raises(LofictlError) as info:
        notes(swing=0.6, swing_unit="32nd")
    assert info.value.field == "swing_unit"


@pytest.mark.parametrize("pattern", ["boom-bap", "dilla", "brushes"])
def test_humanize_stays_in_the_bar_keeps_order_and_clips_velocity(pattern):
    kw = dict(variation=0.5, swing=0.7, fill_last_bar=True)
    grid = notes(pattern, bars=16, **kw)
    human = notes(pattern, bars=16, humanize_timing_ms=200, humanize_velocity=127, **kw)
    assert len(grid) == len(human)
    assert all(n.start >= 0 and n.duration > 0 for n in human)
    assert all(1 <= n.velocity <= 127 for n in human)
    for bar in range(16):
        inside = [n for n in human if bar * 4 <= n.start < bar * 4 + 4]
        assert all(n.end <= bar * 4 + 4 + 1e-9 for n in inside)
    # Hits never change places: the same (pitch) sequence in time order, per drum.
    for pitch in {n.pitch for n in grid}:
        g, h = hits(grid, pitch), hits(human, pitch)
        assert len(g) == len(h) and h == sorted(h)
    assert any(a.start != b.start for a, b in zip(grid, human))


def test_hits_are_short_and_never_overlap_the_same_drum():
    result = notes("dilla", bars=8, humanize_timing_ms=40, swing=0.75, variation=1.0)
    last_end: dict[int, float] = {}
    for note in result:
        assert 0 < note.duration <= DRUM_NOTE_BEATS
        assert note.start >= last_end.get(note.pitch, -1.0)
        last_end[note.pitch] = note.end


def test_three_four_takes_the_first_three_beats():
    bar = notes(bars=2, beats_per_bar=3.0, variation=0)
    assert all(n.start < 6 for n in bar)
    assert hits(bar, KIT["kick"])[:3] == [0.0, 1.75, 2.5]
    assert hits(bar, KIT["snare"]) == [1.0, 4.0]


def test_six_eight_puts_the_backbeat_on_the_second_pulse():
    bar = notes(bars=1, beats_per_bar=3.0, meter=(6, 8), variation=0, swing=0.66)
    assert hits(bar, KIT["snare"]) == [1.5]
    assert hits(bar, KIT["kick"]) == [0.0, 2.75]
    assert hits(bar, KIT["hat"]) == [0.0, 1.0, 1.5, 2.5]  # swing leaves the triplet grid alone


def test_five_four_repeats_the_second_half_for_the_extra_beat():
    bar = notes("half-time", bars=1, beats_per_bar=5.0, variation=0)
    assert hits(bar, KIT["snare"]) == [2.0, 4.0]
    assert max(n.start for n in bar) < 5


def test_unknown_pattern_suggests_the_nearest_name():
    with pytest.raises(LofictlError, match=r"did you mean 'boom-bap'") as info:
        notes("boombap")
    assert info.value.field == "pattern"


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"swing": 0.4}, "swing"),
        ({"swing": 0.9}, "swing"),
        ({"humanize_timing_ms": -1}, "humanize.timing_ms"),
        ({"variation": 2}, "variation"),
        ({"seconds_per_beat": 0}, "tempo"),
    ],
)
def test_bad_settings_name_their_field(kw, field):
    with pytest.raises(LofictlError) as info:
        notes(**kw)
    assert info.value.field == field


def test_zero_bars_is_no_notes():
    assert notes(bars=0) == ()


def _split(result):
    backbeat = [n for n in result if n.pitch in drums.BACKBEAT]
    return backbeat, [n for n in result if n.pitch not in drums.BACKBEAT]


@pytest.mark.parametrize("pattern", ["boom-bap", "lazy", "dilla", "brushes"])
def test_laid_back_moves_the_backbeat_late_the_hats_a_little_ahead_and_nothing_else(pattern):
    plain = notes(pattern, bars=8, fill_last_bar=True, humanize_timing_ms=6, humanize_velocity=6)
    late = notes(pattern, bars=8, fill_last_bar=True, humanize_timing_ms=6, humanize_velocity=6, laid_back_ms=20)
    (plain_bb, plain_rest), (late_bb, late_rest) = _split(plain), _split(late)
    keeps = lambda hits: [n for n in hits if n.pitch in drums.TIMEKEEPERS]  # noqa: E731
    others = lambda hits: [n for n in hits if n.pitch not in drums.TIMEKEEPERS]  # noqa: E731
    assert others(late_rest) == others(plain_rest) and len(late_bb) == len(plain_bb) > 0
    lean = 3.0 / 1000 / SPB  # a fifth of 20 ms ahead, at most 3 ms, never before the bar line
    assert len(keeps(late_rest)) == len(keeps(plain_rest)) > 0
    for a, b in zip(keeps(plain_rest), keeps(late_rest)):
        assert b.start == pytest.approx(max(a.start - lean, a.start // 4 * 4))
    by_pitch = lambda hits: sorted(hits, key=lambda n: (n.pitch, n.start))  # noqa: E731
    pairs = list(zip(by_pitch(plain_bb), by_pitch(late_bb)))
    assert all(a.pitch == b.pitch and a.velocity == b.velocity for a, b in pairs)
    ms = [(b.start - a.start) * SPB * 1000 for a, b in pairs]
    at_bar_end = [abs(b.start % 4 - (4 - DRUM_NOTE_BEATS)) < 1e-9 for _, b in pairs]  # clipped to the bar
    assert all(9.9 <= shift <= 30.1 or (end and 0 <= shift) for shift, end in zip(ms, at_bar_end))
    assert 15 < sum(ms) / len(ms) < 25  # about the asked-for 20 ms, give or take its seeded spread
    assert notes(pattern, bars=8, laid_back_ms=20) == notes(pattern, bars=8, laid_back_ms=20)
    assert _split(notes(pattern, bars=8, laid_back_ms=20, seed=2))[0] != _split(notes(pattern, bars=8, seed=2))[0]


def test_dynamics_shape_velocities_in_range_by_the_metre_and_by_seed():
    written = notes(bars=8, variation=0)
    shaped = notes(bars=8, variation=0, dynamics=1.0)
    assert [(n.start, n.pitch) for n in shaped] == [(n.start, n.pitch) for n in written]  # only velocities
    assert all(1 <= n.velocity <= 127 for n in shaped)
    assert notes(bars=8, variation=0, dynamics=0.0) == written
    assert shaped == notes(bars=8, variation=0, dynamics=1.0)
    assert shaped != notes(bars=8, variation=0, dynamics=1.0, seed=2)  # each bar's hand is seeded

    def mean_velocity(result, pitch, where):
        values = [n.velocity for n in result if n.pitch == pitch and where(round(n.start % 1, 3))]
        return sum(values) / len(values)

    on_beat = lambda pos: pos == 0.0  # noqa: E731
    off_beat = lambda pos: pos == 0.5  # noqa: E731
    # Written hats are x.o. (92 on the beat, 68 off): shaping widens the gap.
    written_gap = mean_velocity(written, KIT["hat"], on_beat) - mean_velocity(written, KIT["hat"], off_beat)
    shaped_gap = mean_velocity(shaped, KIT["hat"], on_beat) - mean_velocity(shaped, KIT["hat"], off_beat)
    assert shaped_gap > written_gap + 8
    # The backbeat stays in the middle layers it is written in (no push into the top layer).
    assert abs(mean_velocity(shaped, KIT["snare"], on_beat) - mean_velocity(written, KIT["snare"], on_beat)) < 8
    ghosts = notes(bars=8, variation=1.0, dynamics=1.0), notes(bars=8, variation=1.0)
    soft = [[n.velocity for n in result if n.pitch == KIT["snare"] and n.velocity < 50] for result in ghosts]
    assert soft[0] and sum(soft[0]) / len(soft[0]) < sum(soft[1]) / len(soft[1])  # ghost notes sink


@pytest.mark.parametrize(
    "kw, field",
    [({"dynamics": 1.5}, "dynamics"), ({"laid_back_ms": 90}, "laid_back_ms"), ({"laid_back_ms": -1}, "laid_back_ms")],
)
def test_bad_feel_settings_name_their_field(kw, field):
    with pytest.raises(LofictlError) as err:
        notes(**kw)
    assert err.value.field == field


# --- played like beat music: velocities by lane and role, phrase moves, sections ---------------


def _backbeat(result, beats_per_bar=4):
    """Velocities of the backbeat: snare, stick or clap on a beat other than the downbeat."""
    return [
        n.velocity
        for n in result
        if n.pitch in drums.MAIN_BACKBEAT
        and n.velocity >= 60
        and round(n.start % 1, 3) in (0.0,)
        and n.start % beats_per_bar >= 1
    ]


@pytest.mark.parametrize("pattern", ["boom-bap", "lazy", "dilla", "half-time"])
def test_the_backbeat_sits_in_the_middle_layers_and_the_top_is_kept_for_accents(pattern):
    for seed in range(5):
        result = notes(
            pattern, bars=16, seed=seed, dynamics=0.6, humanize_velocity=6, fill_last_bar=True, phrase_bars=4
        )
        backbeat = sorted(_backbeat(result))
        assert backbeat and 80 <= backbeat[len(backbeat) // 2] <= 105, (pattern, seed, backbeat)
        loud = [n for n in result if n.velocity >= 110]
        assert len(loud) <= 0.08 * len(result)  # accents are rare...
        kicks = sorted(n.velocity for n in result if n.pitch == KIT["kick"])
        assert kicks[len(kicks) // 2] <= 105  # ...and the kick plays in the middle layers too


def test_hats_vary_continuously_and_accent_with_dynamics():
    def spread_within(result, position):
        values = [n.velocity for n in result if n.pitch == KIT["hat"] and round(n.start % 1, 3) == position]
        return float(np.std(values)), len(set(values))

    written = notes(bars=16, variation=0)
    shaped = notes(bars=16, variation=0, dynamics=0.6)
    for position in (0.0, 0.5):
        assert spread_within(written, position)[0] == 0  # as written: one level per place
        sd, levels = spread_within(shaped, position)
        assert sd > 4 and levels >= 8, (position, sd, levels)  # a hand, not two fixed levels
    offbeat = [n.velocity for n in shaped if n.pitch == KIT["hat"] and round(n.start % 1, 3) == 0.5]
    onbeat = [n.velocity for n in shaped if n.pitch == KIT["hat"] and round(n.start % 1, 3) == 0.0]
    assert np.median(offbeat) < np.median(onbeat) - 15  # the "and" lighter than the beat...
    assert max(offbeat) > np.median(offbeat) + 12  # ...but now and then leaned on


def test_ghost_notes_sit_well_under_the_backbeat():
    result = notes(bars=16, variation=0.8, dynamics=0.6)
    ghosts = [n.velocity for n in result if n.pitch == KIT["snare"] and n.velocity < 60]
    backbeat = _backbeat(result)
    assert len(ghosts) >= 8 and max(ghosts) < 50 and max(ghosts) < min(backbeat) - 30


def test_phrase_moves_fall_on_phrase_ends_and_are_seeded_by_bar():
    moves = {drums.bar_move(i, 16, 4, True, u) for i in (3, 7, 11, 15) for u in np.linspace(0, 0.999, 50)}
    assert {"turn", "fill", "drop", "half", "thin", "out"} <= moves
    assert {drums.bar_move(i, 16, 4, True, u) for i in (0, 1, 2, 4, 5, 6, 8) for u in np.linspace(0, 1, 50)} == {
        "groove"
    }
    assert drums.bar_move(15, 16, 0, True, 0.3) == "fill" and drums.bar_move(7, 16, 0, True, 0.3) == "groove"
    # In a section played as written (energy 0), the phrase ends move, the one after each
    # 8 bars lands in the top layer, and every other bar plays the groove as written.
    seed = next(s for s in range(50) if drums._pick(drums.SECTION_ENERGY, rng(s, "drums", "section").random()) == 0)
    plain = notes(bars=16, seed=seed, variation=0)
    phrased = notes(bars=16, seed=seed, variation=0, phrase_bars=4, fill_last_bar=True)
    changed = {int(n.start // 4) for n in set(plain) ^ set(phrased)}
    assert {3, 7, 11, 15} & changed and changed <= {0, 3, 7, 8, 11, 15}
    for bar in (0, 8):
        (one,) = [n for n in phrased if n.start == bar * 4 and n.pitch == KIT["kick"]]
        assert one.velocity == drums.ACCENT
    assert phrased == notes(bars=16, seed=seed, variation=0, phrase_bars=4, fill_last_bar=True)


@pytest.mark.parametrize("pattern", ["boom-bap", "lazy", "brushes", "dilla"])
def test_every_move_plays_in_every_pattern(pattern, monkeypatch):
    counts = {}
    for move in ("fill", "turn", "drop", "out", "thin", "half"):
        monkeypatch.setattr(drums, "bar_move", lambda i, bars, phrase, end, u, move=move: move if i == 1 else "groove")
        result = notes(pattern, bars=2, variation=0, phrase_bars=4)
        counts[move] = sum(1 for n in result if n.start >= 4)
        assert all(1 <= n.velocity <= 127 and n.start < 8 for n in result)
    groove = sum(1 for n in notes(pattern, bars=2, variation=0) if n.start >= 4)
    assert counts["out"] <= 1 and counts["thin"] < groove  # the drums stop, or thin out
    half = notes(pattern, bars=2, variation=0, phrase_bars=4)
    assert half  # the patterns still play around the moves


def test_half_time_bar_plays_the_backbeat_once_mid_bar():
    grid = drums._fit_to_meter(drums._pattern_bars("boom-bap")[0], 16, False)
    drums._half_time(grid, 16, 4)
    backbeat = sorted(step for step, hits in grid.items() if KIT["snare"] in hits)
    assert backbeat == [8] and grid[8][KIT["snare"]] == drums.LEVELS["X"]
    assert all(step % 2 == 0 for step, hits in grid.items() if KIT["hat"] in hits)


def test_sections_differ_in_energy_and_a_repeat_plays_the_same_bars():
    busy = {
        seed: sum(1 for n in notes(bars=8, seed=seed, phrase_bars=4) if n.pitch in drums.TIMEKEEPERS)
        for seed in range(12)
    }
    assert max(busy.values()) - min(busy.values()) >= 12  # thinner and busier sections
    again = notes(start_bar=8, bars=8, seed=3, phrase_bars=4, fill_last_bar=True, humanize_timing_ms=8)
    assert again == notes(start_bar=8, bars=8, seed=3, phrase_bars=4, fill_last_bar=True, humanize_timing_ms=8)


@pytest.mark.parametrize("meter", [(3, 4), (5, 4), (7, 8), (6, 8), (12, 8)])
@pytest.mark.parametrize("pattern", ["boom-bap", "brushes", "dilla"])
def test_phrase_moves_and_the_feel_keep_to_every_meter(meter, pattern):
    beats = meter[0] * 4 / meter[1]
    kw = dict(beats_per_bar=beats, meter=meter, swing=0.62, phrase_bars=4, fill_last_bar=True, dynamics=0.6)
    for unit in ("8th", "16th"):
        result = notes(pattern, bars=16, seed=2, swing_unit=unit, humanize_timing_ms=20, laid_back_ms=15, **kw)
        assert result and all(1 <= n.velocity <= 127 for n in result)
        for bar in range(16):  # every hit inside its bar
            inside = [n for n in result if bar * beats <= n.start < (bar + 1) * beats]
            assert all(n.end <= (bar + 1) * beats + 1e-9 for n in inside)
