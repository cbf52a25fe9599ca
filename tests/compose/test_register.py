"""Register: the chords re-voiced under the melody (compose/register.py), alone and in compose."""

from lofictl.compose.arrangement import compose
from lofictl.compose.register import FLOOR, under_melody, under_melody_share
from lofictl.compose.score import Note
from lofictl.models.generate import load_track_model
from lofictl.recipe.load import load_recipe
from support import REPO


def chord(start, pitches, length=4.0):
    return [Note(start, length - 0.05, p, 64) for p in pitches]


def sounding_with(notes, tune_note):
    return [n for n in notes if n.start < tune_note.end and n.end > tune_note.start]


def test_voices_above_the_melody_go_under_it_and_the_chord_stays():
    # Dm7 with C4, E4 and A4 at or above a melody at D4 then F4; then a G7 under a G4.
    chords = chord(0.0, [53, 60, 64, 69]) + chord(4.0, [55, 59, 62, 65])  # Dm9-ish, then G7
    melody = [Note(0.0, 2.0, 62, 90), Note(2.0, 2.0, 65, 90), Note(4.0, 4.0, 67, 90)]
    assert under_melody_share(chords, melody) > 0.4  # the keys on top for the first chord: the rule must act
    moved = under_melody(chords, melody)
    assert len(moved) == len(chords)  # voice count kept
    assert under_melody_share(moved, melody) == 0.0
    for tune_note in melody:
        assert all(n.pitch < tune_note.pitch for n in sounding_with(moved, tune_note))
    for start in (0.0, 4.0):  # the same chord: pitch classes kept, octaves only, no doubled key
        before = [n.pitch for n in chords if n.start == start]
        after = [n.pitch for n in moved if n.start == start]
        assert sorted(p % 12 for p in after) == sorted(p % 12 for p in before)
        assert all(a <= next(b for b in before if b % 12 == a % 12) for a in after)  # moved down, if at all
        assert len(set(after)) == len(after)
    # G7 (55 59 62 65) already sat under G4: left exactly as it was.
    assert [n.pitch for n in moved if n.start == 4.0] == [55, 59, 62, 65]


def test_no_semitone_rub_and_the_bottom_kept():
    # Fmaj7 (53 57 60 64) under a melody at C4: the C and the E must go down.
    chords = chord(0.0, [53, 57, 60, 64])
    moved = sorted(n.pitch for n in under_melody(chords, [Note(0.0, 4.0, 60, 90)]))
    assert max(moved) < 60 and moved[0] % 12 == 53 % 12  # F still the lowest voice
    assert all(b - a != 1 for a, b in zip(moved, moved[1:]))


def test_notes_without_a_melody_over_them_are_untouched():
    chords = chord(0.0, [57, 64, 72]) + chord(4.0, [57, 64, 72])
    melody = [Note(4.0, 1.0, 67, 90)]
    moved = under_melody(chords, melody)
    assert [n.pitch for n in moved if n.start == 0.0] == [57, 64, 72]  # silent melody: as voiced
    assert all(n.pitch < 67 for n in moved if n.start == 4.0)


def test_a_voice_that_cannot_fit_above_the_floor_stays():
    chords = chord(0.0, [FLOOR + 2, 60])
    moved = under_melody(chords, [Note(0.0, 4.0, FLOOR + 1, 90)])
    assert sorted(n.pitch for n in moved) == [FLOOR + 2, 60]  # 60 → 48, 36 all above or under the floor


RECIPE = """\
lofictl: 1
title: Register
seed: 7
tempo: 80
key: D minor
length: 8 bars
tracks:
  chords:
    part: chords
    progression: "Dm9 G13 Cmaj9 A7b9"
  melody:
    part: melody
    generate: {model: models/lofi-melody, seed: 3}
    low: 60
    high: 72
"""


def test_compose_keeps_the_chords_under_the_melody(write_recipe):
    models = {"melody": load_track_model(REPO / "models" / "lofi-melody")}

    def score(text):
        return compose(load_recipe(write_recipe(text)).recipe, models=models).score

    free = score(RECIPE.replace("    progression:", "    under_melody: false\n    progression:"))
    ruled = score(RECIPE)
    melody = ruled.track("melody").notes
    assert free.track("melody").notes == melody  # the melody is not touched
    assert under_melody_share(free.track("chords").notes, melody) > 0.2  # voiced at 50-76 over a C4-C5 tune
    assert under_melody_share(ruled.track("chords").notes, melody) <= 0.02
    assert len(ruled.track("chords").notes) == len(free.track("chords").notes)


def test_a_big_cluster_is_placed_voice_by_voice_under_the_melody():
    cluster = chord(0.0, list(range(60, 74)))  # 14 keys at once: too many voicings to weigh
    moved = under_melody(cluster, [Note(0.0, 4.0, 70, 90)])
    pitches = [n.pitch for n in moved]
    assert len(set(pitches)) == len(pitches) == 14 and max(pitches) < 70


def test_a_melody_among_the_keys_goes_up_an_octave_unless_its_range_is_set(write_recipe):
    from lofictl.compose.register import melody_lift

    keys = [Note(float(b), 3.9, p, 70) for b in range(0, 16, 4) for p in (60, 64, 67, 71)]  # tops at B4
    low_tune = [Note(float(i) / 2, 0.45, 67 + (i % 5), 80) for i in range(32)]  # around A4
    high_tune = [Note(n.start, n.duration, n.pitch + 12, 80) for n in low_tune]
    assert melody_lift(low_tune, keys) == 12
    assert melody_lift(high_tune, keys) == 0  # already over the keys
    assert melody_lift([Note(0.0, 1.0, 90, 80)], keys) == 0  # an octave up would pass C7
    assert melody_lift(low_tune, []) == 0
    # in a build: the same tune without its range set goes up; with it, it stays where it was asked
    models = {"melody": load_track_model(REPO / "models" / "lofi-melody")}
    ranged = compose(load_recipe(write_recipe(RECIPE)).recipe, models=models).score.track("melody").notes
    unset = compose(load_recipe(write_recipe(RECIPE.replace("    low: 60\n    high: 72\n", ""))).recipe, models=models)
    free, keys = unset.score.track("melody").notes, unset.score.track("chords").notes
    assert max(n.pitch for n in ranged) <= 72
    assert melody_lift(free, keys) == 0 and min(n.pitch for n in free) > 62  # lifted: over the keys' top line
    assert under_melody_share(keys, free) <= 0.02
