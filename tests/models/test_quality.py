"""`lofictl eval`: each measure on hand-made notes with known answers, the KDE overlap against
known cases (and scipy), loops and chord qualities, and the harness end to end on tiny models."""

import json
import math

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from lofictl.compose import theory
from lofictl.compose.score import ChordEvent, Note
from lofictl.models import generate
from lofictl.models import measures as m
from lofictl.models import quality as q
from lofictl.models.train import corpus, loop
from support import SMALL_NET, write_song


def line(pitches, duration=1.0, start=0.0):
    return [Note(start + i * duration, duration, p, 80) for i, p in enumerate(pitches)]


def chords(text, bar=4.0):
    """'Am F C G' (a bar each) or 'Am:2 F:2' (beats) → chord events from 0."""
    out, at = [], 0.0
    for token in text.split():
        symbol, _, beats = token.partition(":")
        dur = float(beats) if beats else bar
        out.append(ChordEvent(at, dur, symbol))
        at += dur
    return out


# --- features ------------------------------------------------------------------------------


def test_pitch_class_histogram_counts_notes_relative_to_the_tonic():
    c_major = line([60, 64, 67, 72])
    assert m.pitch_class_histogram(c_major, 0).tolist() == [0.5, 0, 0, 0, 0.25, 0, 0, 0.25, 0, 0, 0, 0]
    d_major = line([62, 66, 69, 74])  # the same tune a tone up, in D: the same histogram
    assert m.pitch_class_histogram(d_major, 2).tolist() == m.pitch_class_histogram(c_major, 0).tolist()
    assert m.pitch_class_histogram([], 0) is None


def test_interval_histogram_clips_at_an_octave():
    h = m.interval_histogram(line([60, 62, 60, 72, 48]))  # +2, -2, +12, -24 (counts as -12)
    expected = np.zeros(25)
    expected[[14, 10, 24, 0]] = 0.25
    assert h.tolist() == expected.tolist()
    assert m.interval_histogram(line([60])) is None


def test_onset_intervals_and_note_lengths_fall_in_their_classes():
    notes = [Note(0, 0.5, 60, 80), Note(1, 0.25, 62, 80), Note(1.5, 1 / 3, 64, 80), Note(3.5, 6.0, 65, 80)]
    ioi = m.onset_interval_histogram(notes)  # 1 beat, half a beat, two beats
    classes = list(m.LENGTH_CLASSES)
    assert ioi[classes.index(12)] == pytest.approx(1 / 3) and ioi[classes.index(6)] == pytest.approx(1 / 3)
    assert ioi[classes.index(24)] == pytest.approx(1 / 3)
    lengths = m.note_length_histogram(notes)  # 8th, 16th, triplet 8th, 1.5 bars → the 2-bar class
    for ticks in (6, 3, 4, 96):
        assert lengths[classes.index(ticks)] == pytest.approx(0.25)
    assert m.length_class([0.3]).tolist() == [classes.index(4)]  # nearer 1/3 than 1/4 on a log scale


def test_notes_per_bar_range_and_silent_share():
    notes = line([60, 64, 67, 72], duration=0.5)  # two beats of 8ths in a 4/4 bar
    assert m.notes_per_bar(notes, 1) == 4.0 and m.pitch_range(notes) == 12.0
    assert m.silent_share(notes, 4.0) == 0.5
    assert m.silent_share([Note(0, 1.0, 60, 80)], 4.0) == 0.75  # a quarter note in a bar: 12 of 16 cells silent
    assert m.silent_share([Note(0.5, 0.5, 60, 80)], 4.0) == 14 / 16  # covers the midpoints of cells 2 and 3
    assert m.silent_share([], 8.0) == 1.0 and m.silent_share(notes, 0) is None


def test_chord_tone_share_is_duration_weighted_and_split_at_changes():
    assert m.chord_tone_share([Note(1.0, 2.0, 64, 80)], chords("C:2 F:2")) == 0.5  # E: on C, off F
    assert m.chord_tone_share(line([60, 64, 67, 71]), chords("Cmaj7")) == 1.0
    assert m.chord_tone_share(line([61]), []) is None


def test_passage_features_read_the_top_line():
    p = m.Passage("p", (Note(0, 1, 60, 80), Note(0, 1, 67, 80), Note(1, 1, 64, 80)), tuple(chords("C")), 0, "major", 1)
    f = m.passage_features(p)
    assert f["notes_per_bar"] == 2.0 and f["pitch_range"] == 3.0 and f["chord_tones"] == 1.0
    assert set(f) == set(m.FEATURES)


# --- sets against sets ---------------------------------------------------------------------


def test_kde_overlap_known_cases_and_scipy():
    from scipy import stats

    r = np.random.default_rng(0)
    a, b = r.normal(0, 1, 400), r.normal(0.5, 1.3, 600)
    assert m.kde_overlap(a, a) == pytest.approx(1.0, abs=1e-9)
    assert m.kde_overlap(a, a + 50) == pytest.approx(0.0, abs=1e-9)
    grid = np.linspace(-8, 10, 20001)
    exact = np.minimum(stats.gaussian_kde(a)(grid), stats.gaussian_kde(b)(grid)).sum() * (grid[1] - grid[0])
    assert m.kde_overlap(a, b) == pytest.approx(exact, abs=2e-3)
    assert m.kde_overlap([2.0, 2.0, 2.0], [2.0, 2.0]) == pytest.approx(1.0)  # one point mass, twice
    assert m.kde_overlap([1.0, 1.0], [3.0, 3.0]) == pytest.approx(0.0, abs=1e-9)
    assert m.kde_overlap([], [1.0]) is None
    assert m.kl_divergence(a, a) == pytest.approx(0.0, abs=1e-9) and m.kl_divergence(a, b) > 0


def test_distances_within_and_between_sets():
    values = [np.array([0.0, 0.0]), np.array([3.0, 4.0]), None, 1.0 * np.array([0.0, 1.0])]
    assert sorted(m.intra_distances(values).tolist()) == [1.0, math.sqrt(18), 5.0]
    assert sorted(m.inter_distances([1.0, 2.0], [4.0]).tolist()) == [2.0, 3.0]


def _features(rng, n, shift=0.0):
    return [{"x": rng.normal(shift, 1.0), "h": np.abs(rng.normal(shift, 1.0, 4))} for _ in range(n)]


def test_identical_sets_overlap_about_one_and_disjoint_ones_about_zero():
    rng = np.random.default_rng(1)
    ref = _features(rng, 60)
    same = m.compare_sets(ref, ref, features=("x", "h"))
    assert same["mean_overlap"] > 0.9
    alike = m.compare_sets(_features(rng, 60), ref, features=("x", "h"))  # other draws, same distribution
    assert alike["mean_overlap"] > 0.8
    far = m.compare_sets(_features(rng, 60, shift=40.0), ref, features=("x", "h"))
    assert far["mean_overlap"] < 0.01
    assert far["features"]["x"]["n"] == [60, 60] and far["features"]["x"]["generated"]["mean"] > 30


def test_value_overlap_shows_a_shift_the_distances_hide():
    rng = np.random.default_rng(2)
    humans = list(rng.uniform(0.0, 0.6, 200))  # silences of 0-60%
    always_4_percent = [0.04 + 0.005 * rng.standard_normal() for _ in range(200)]
    result = m.compare_feature(always_4_percent, humans)
    assert result["overlap"] > 0.6 and result["value_overlap"] < 0.2
    assert result["overlap_generated"] < 0.1  # its own spread is nothing like its distance to the humans
    assert m.compare_feature([np.ones(3)], [np.ones(3)])["value_overlap"] is None  # histograms: no value overlap


def test_undefined_values_drop_out():
    result = m.compare_feature([None, None], [1.0, 2.0])
    assert result["overlap"] is None and result["n"] == [0, 2]


# --- progressions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, period, static",
    [
        ("Am F C G Am F C G", 4, False),
        ("Am F Am F Am F Am F", 2, False),
        ("Am F C G Am F C E7", 4, False),  # a turnaround in the last bar still loops
        ("Am:2 F:2 " * 8, 1, False),
        ("Am F C G Dm E Bb A", None, False),  # through-composed
        ("Am " * 8, None, True),
        ("Am F Am F C G C G", None, False),  # the second half differs: no loop of 2 or 4
    ],
)
def test_loop_period(text, period, static):
    assert m.loop_period(chords(text), 8, 4.0) == {"period": period, "static": static}


def test_loops_compare_chords_not_spellings_and_count_sections():
    assert m.loop_period(chords("C#m A C#m A Dbm A Dbm A"), 8, 4.0)["period"] == 2
    # colour (Am7, Cmaj7, Dsus4 for D), a change pushed a beat early: still the same 4-bar loop
    pushed = chords("Am:4 F:4 C:4 G:3 Am7:5 F:4 Cmaj7:4 Gsus4:4")
    assert m.loop_period(pushed, 8, 4.0)["period"] == 4
    assert m.loop_period(chords("A F C G Am F C G"), 8, 4.0)["period"] is None  # A is not Am
    sections = m.section_loops(chords("Am F C G " * 2 + "Dm E Bb A C D Eb F"), 16, 4.0)
    assert [s["period"] for s in sections] == [4, None]
    summary = m.loop_summary(sections + [{"period": None, "static": True}])
    assert summary["loop_share"] == pytest.approx(1 / 3) and summary["static_share"] == pytest.approx(1 / 3)
    assert summary["by_period"]["4"] == pytest.approx(1 / 3)


def test_quality_shares_weigh_chord_time():
    shares = m.quality_shares([chords("Am7:4 Fmaj7:2 G:2"), chords("C:8")])
    assert shares == {"maj": pytest.approx(10 / 16), "min7": pytest.approx(4 / 16), "maj7": pytest.approx(2 / 16)}
    assert m.share_overlap(shares, shares) == pytest.approx(1.0)
    assert m.share_overlap({"maj": 1.0}, {"min": 1.0}) == 0.0


# --- the harness on tiny models ------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Songs a tiny untrained melody model and chord model were made from, and other songs
    (never trained on) as the held-out reference."""
    root = tmp_path_factory.mktemp("quality")
    mp = pytest.MonkeyPatch()
    mp.setenv("LOFICTL_CACHE_DIR", str(root / "cache"))
    trained, held = root / "trained", root / "held"
    trained.mkdir()
    held.mkdir()
    for i, tonic in enumerate((0, 2, 7)):
        write_song(trained / f"t{i}.mid", tonic, variant=i)
    for i, tonic in enumerate((0, 2, 4, 5, 7, 9, 11, 3)):
        write_song(held / f"h{i}.mid", tonic, bars=8, variant=10 + i)
    pieces, summary = corpus.load_corpus(str(trained))
    melody, chord = root / "melody", root / "chords"
    loop.write_untrained(pieces, loop.TrainConfig(kind="melody", **SMALL_NET), melody, summary)
    loop.write_untrained(pieces, loop.TrainConfig(kind="chords", arch="chord-lstm", **SMALL_NET), chord, summary)
    yield {"root": root, "held": held, "melody": melody, "chords": chord}
    mp.undo()


def test_batched_sampling_gives_what_one_melody_at_a_time_gives(lab):
    key = theory.parse_key("A minor")
    requests = [generate.MelodyRequest(key, tuple(chords("Am F C G")), 16.0, seed) for seed in (1, 2)]
    batched = generate.generate_melodies(lab["melody"], requests)
    single = [generate.generate_melody(lab["melody"], key, chords("Am F C G"), 16.0, seed) for seed in (1, 2)]
    assert batched == single and batched[0] != batched[1]


def test_halves_prompts_and_reference_passages(lab):
    pieces, _ = corpus.load_corpus(str(lab["held"]))
    ref = q.split_reference(pieces, 8, 5, 0, "held")
    prompt_songs = {p.name.rsplit("@", 1)[0] for p in ref.prompts}
    reference_songs = {p.name.rsplit("@", 1)[0] for p in ref.reference}
    assert not prompt_songs & reference_songs and len(ref.prompts) == 5
    assert sum(ref.songs) == 8 and all(p.bars == 8 and p.notes for p in ref.prompts)
    again = q.split_reference(pieces, 8, 5, 0, "held")
    assert again == ref and q.split_reference(pieces, 8, 5, 1, "held") != ref
    with pytest.raises(Exception, match="too few held-out songs"):
        q.split_reference(pieces, 64, 5, 0, "held")


def test_eval_end_to_end_is_deterministic(lab):
    out = lab["root"] / "report"
    names = [str(lab["melody"]), str(lab["chords"]), "baseline:random", "baseline:human"]
    settings = q.Settings(samples=4, length=8, seed=3)
    data = q.evaluate(names, str(lab["held"]), settings, out)
    rows = {r["name"]: r for r in data["rows"]}
    human, random = rows["human"]["comparison"], rows["random"]["comparison"]
    assert human["mean_overlap"] > random["mean_overlap"]
    assert set(human["features"]) == set(m.FEATURES) and data["reference"]["reference_passages"] >= 1
    melody = rows[str(lab["melody"])]
    assert melody["research"]["measures"]["overlap_15"]["n"] == 4  # the model folder's own index
    assert "progressions" not in melody  # over the prompts' own chords: nothing of its own to judge
    assert rows[str(lab["chords"])]["progressions"]["loops"]["sections"] == 4
    assert rows["human"]["progressions"]["loops"]["loop_share"] == 1.0  # I vi IV V, round and round
    assert set(rows["human"]["targets"]) == {"mean_overlap", "silent_share", "loop_share"}
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk == data and "| human |" in (out / "report.md").read_text()
    pngs = {name: (out / name).read_bytes() for name in ("densities.png", "feature-overlap.png", "repetition.png")}
    assert all(b.startswith(b"\x89PNG") for b in pngs.values())
    again = q.evaluate(names, str(lab["held"]), settings, lab["root"] / "again")
    assert again == data
    assert all((lab["root"] / "again" / name).read_bytes() == b for name, b in pngs.items())


def test_melodies_over_a_chord_model_judge_its_progressions_too(lab):
    data = q.evaluate(
        [str(lab["melody"])], str(lab["held"]), q.Settings(samples=2, length=8, chord_model=lab["chords"], chord_loop=2)
    )
    row = data["rows"][0]
    assert row["progressions"]["loops"]["by_period"]["2"] + row["progressions"]["loops"]["by_period"]["1"] == 1.0
    assert "looping 2 bars" in data["settings"]["chords"]


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    from lofictl.cli.eval import eval_command  # wearing user_errors already

    app.command("eval")(eval_command)
    app.command("other")(lambda: None)  # more than one command: typer then keeps "eval" as a subcommand
    return app


def test_eval_command_prints_the_table(app, lab, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(lab["melody"]),
            "baseline:human",
            "--reference",
            str(lab["held"]),
            "--samples",
            "2",
            "--length",
            "8",
            "--out",
            str(tmp_path / "e"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| human |" in result.output and "mean" in result.output and (tmp_path / "e" / "report.md").is_file()
    listed = result.output.strip().splitlines()[-1]
    assert listed.startswith(f"wrote {tmp_path / 'e'}/")
    assert sorted(listed.split("/")[-1].split(", ")) == sorted(p.name for p in (tmp_path / "e").iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval"], "give a model folder"),
        (["eval", "baseline:nope"], "unknown baseline"),
        (["eval", "no/such/model"], "does not exist"),
        (["eval", "{melody}", "--samples", "0"], "samples: must be a whole number more than 0"),
        (["eval", "{melody}", "--reference", "music21:nope"], "unknown corpus"),
        (["eval", "{melody}", "--chord-model", "{melody}"], "needs a chords model"),
    ],
)
def test_eval_command_bad_input_exit_2(app, lab, args, message):
    args = [a.format(melody=lab["melody"]) for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_pop909_test_split_is_the_default_reference():
    pieces, what = q.held_out_pieces(None, [])
    from lofictl.models.train import pop909

    songs = {pop909.song_of(p.name) for p in pieces}
    assert what.startswith("POP909 test split") and all(pop909.split_of(s) == "test" for s in songs)
    assert len(songs) > 80
