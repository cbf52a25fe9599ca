"""`lofictl analyze`: a build folder (MIDI only, and with stems), a reference WAV and MIDI, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lofictl.sound.audio_io import write_audio
from support import SMALL_RECIPE, invoke


def _json(*args) -> dict:
    result = invoke("analyze", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_midi_only_build_reports_parts_offbeats_flam_and_drum_lanes(write_recipe, tmp_path):
    recipe = write_recipe(SMALL_RECIPE)
    out = tmp_path / "build"
    assert invoke("build", recipe, "--midi-only", "-q", "--out", out).exit_code == 0
    data = _json(out)
    notes = data["notes"]
    assert data["what"] == "build" and "stems" not in data
    assert notes["parts"] == {"chords": "chords", "bass": "bass", "drums": "drums"}
    assert notes["tempo_bpm"] == 90 and notes["bars"] == 4
    lanes = notes["drum_velocity"]
    assert "36 Kick" in lanes and "38 Snare" in lanes
    for lane in lanes.values():
        assert lane["min"] <= lane["median"] <= lane["max"] and lane["iqr"] >= 0
    # every drum hit of the 4 bars is counted in the one section a `length:` recipe makes ("main")
    total = sum(v["hits"] for v in lanes.values())
    assert notes["hits_per_bar"] == {"main": pytest.approx(total / 4)}
    for name, position in notes["offbeat_positions"].items():
        assert position["mean"] is None or 0.375 <= position["mean"] < 0.72, name
    text = invoke("analyze", out)
    assert text.exit_code == 0 and "drum velocity" in text.output and "off-beat 8ths" in text.output


def test_a_reference_wav_gets_loudness_bands_and_crest(tmp_path):
    rate = 44100
    t = np.arange(rate * 2) / rate
    sine = (0.25 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    path = write_audio(tmp_path / "ref.wav", np.stack([sine, sine]), rate)
    audio = _json(path)["audio"]
    assert audio["crest_db"] == pytest.approx(3.01, abs=0.1)  # a sine's peak is √2 its RMS
    assert audio["bands"]["mid"] > 0.99 and audio["share_1k_8k"] > 0.99
    assert audio["peak_db"] == pytest.approx(20 * np.log10(0.25), abs=0.05)
    assert -30 < audio["lufs"] < -5


def _reference_midi(path, tpb=480):
    """A hand-made song at 100 BPM, 2 bars: a lead with off-beats at 0.6 of the beat, block chords
    whose top note (E5) sits over the lead's first half, a bass, hats on the straight "and"."""
    import mido

    def track(name, channel, notes, program=0):
        events = [(0, mido.MetaMessage("track_name", name=name))]
        if channel != 9:
            events.append((0, mido.Message("program_change", channel=channel, program=program)))
        for start, length, pitch, velocity in notes:
            events.append((round(start * tpb), mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
            events.append((round((start + length) * tpb), mido.Message("note_off", channel=channel, note=pitch)))
        out, now = mido.MidiTrack(), 0
        for tick, message in sorted(events, key=lambda e: (e[0], e[1].type != "note_off")):
            out.append(message.copy(time=tick - now))
            now = tick
        return out

    midi = mido.MidiFile(ticks_per_beat=tpb)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100))]))
    lead = [(beat + offset, 0.3, 72, 90) for beat in range(8) for offset in (0.0, 0.6)]  # C5 on and after each beat
    chords = [(0, 4, p, 60) for p in (60, 64, 67, 76)] + [(4, 4, p, 60) for p in (60, 64, 67)]
    bass = [(beat, 0.9, 36, 80) for beat in range(8)]
    hats = [(beat + offset, 0.1, 42, 70 + 20 * (offset == 0)) for beat in range(8) for offset in (0.0, 0.5)]
    midi.tracks += [track("Lead", 0, lead, 80), track("Keys", 1, chords, 4), track("Bass", 2, bass, 33)]
    midi.tracks.append(track("Kit", 9, hats))
    midi.save(path)
    return path


def test_a_reference_midi_gets_note_measures_with_guessed_parts(tmp_path):
    notes = _json(_reference_midi(tmp_path / "liked.mid"))["notes"]
    assert notes["parts"] == {"Lead": "melody", "Keys": "chords", "Bass": "bass", "Kit": "drums"}
    assert notes["melody_under_chords"] == pytest.approx(0.5)  # E5 over C5 in bar 1 only
    assert notes["offbeat_positions"]["Lead"] == {"mean": pytest.approx(0.6), "n": 8}
    assert notes["offbeat_positions"]["drums:Closed hat"] == {"mean": pytest.approx(0.5), "n": 8}
    assert notes["flam_ms"]["Lead / drums:Closed hat"] == pytest.approx(60.0, abs=0.5)  # 0.1 beat at 100 BPM
    assert notes["drum_velocity"]["42 Closed hat"] == {"hits": 16, "median": 80.0, "iqr": 20.0, "min": 70, "max": 90}


def test_several_targets_are_one_line_each_and_a_bad_one_stops_before_printing(tmp_path):
    midi = _reference_midi(tmp_path / "liked.mid")
    result = invoke("analyze", midi, midi)
    assert result.exit_code == 0, result.output
    head, *rows = result.output.strip().splitlines()
    assert "max flam ms" in head and len(rows) == 2
    assert rows[0].split()[:4] == ["liked.mid", "50%", "60", "-"]  # no snare in this song
    assert len(json.loads(invoke("analyze", midi, midi, "--json").output)) == 2
    bad = invoke("analyze", midi, tmp_path / "missing.wav")
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nothing/here", "no such build folder or file"),
        ("notes.txt", "not a build folder, an audio file"),
        ("empty", "is not a build folder (no build.json)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, name, message):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    result = invoke("analyze", tmp_path / name)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output


def test_a_full_build_adds_every_stems_loudness_bands_and_balance(write_recipe, tmp_path):
    out = tmp_path / "build"
    assert invoke("build", write_recipe(SMALL_RECIPE), "-q", "--out", out).exit_code == 0
    data = _json(out)
    stems = data["stems"]
    assert {"chords", "bass", "drums"} <= set(stems["stems"])
    for name, stem in stems["stems"].items():
        assert sum(stem["bands"].values()) == pytest.approx(1.0, abs=0.01), name
        assert stem["share_1k_8k"] == pytest.approx(stem["bands"]["mid"] + stem["bands"]["presence"])
    balance = stems["balance"]
    music = stems["music"]["lufs"]
    assert balance["under_music_lu"]["drums"] == pytest.approx(music - stems["stems"]["drums"]["lufs"])
    assert balance["melody_over_chords_lu"] is None  # this recipe has no melody
    assert stems["stems"]["bass"]["bands"]["low"] > stems["stems"]["bass"]["bands"]["mid"]
    assert "LU under the music" in invoke("analyze", out).output
