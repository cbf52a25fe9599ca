"""lofictl.sound.sequence: bar-aligned equal-power crossfades, sample-exact outside the fades."""

from __future__ import annotations

import numpy as np
import pytest

from lofictl.sound import audio_io
from lofictl.sound.sequence import Clip, Sequencer, equal_power, iter_sequence
from support import white_noise

RATE = 8000


def _clip(tmp_path, name: str, bars: int, bar_frames: int, tail: int, seed: int) -> tuple[Clip, np.ndarray]:
    audio = white_noise(bars * bar_frames + tail, 0.1, seed=seed)
    path = tmp_path / f"{name}.wav"
    audio_io.write_wav(path, audio, RATE)
    return Clip(path, audio.shape[1], float(bar_frames), bars, name), audio


def test_equal_power_gains_hold_power_and_meet_exactly():
    out, inn = equal_power(0, 1000, 1000)
    assert out[0] == 1.0 and inn[0] == 0.0
    assert np.allclose(out.astype(np.float64) ** 2 + inn.astype(np.float64) ** 2, 1.0, atol=1e-6)
    assert np.all(np.diff(out) <= 0) and np.all(np.diff(inn) >= 0)
    # cut into pieces, the same gains
    a = np.concatenate([equal_power(0, 300, 1000)[1], equal_power(300, 700, 1000)[1]])
    assert np.array_equal(a, inn)


def test_sequence_is_exact_between_fades_and_fades_on_bar_lines(tmp_path):
    a, audio_a = _clip(tmp_path, "a", 6, 1000, 500, 1)
    b, audio_b = _clip(tmp_path, "b", 5, 800, 400, 2)
    starts = []
    mix = np.concatenate(
        list(
            iter_sequence(
                [a, b], crossfade_bars=2, block_size=333, on_start=lambda c, s, air: starts.append((c.label, s, air))
            )
        ),
        axis=1,
    )
    fade_at = 4 * 1000  # a's bar 4 of 6
    assert starts == [("a", 0, 0), ("b", fade_at, fade_at + 1000)]
    assert np.array_equal(mix[:, :fade_at], audio_a[:, :fade_at])  # a untouched before its fade
    length = 2000  # a's last two bars
    out_gain, in_gain = equal_power(0, length, length)
    expected = audio_a[:, fade_at : fade_at + length] * out_gain + audio_b[:, :length] * in_gain
    assert np.array_equal(mix[:, fade_at : fade_at + length], expected)
    # after the fade, b alone, to the end of its tail (the last clip plays out)
    assert np.array_equal(mix[:, fade_at + length :], audio_b[:, length:])
    assert mix.shape[1] == fade_at + audio_b.shape[1]


def test_endless_supply_and_skip_to_next_bar(tmp_path):
    clips = [_clip(tmp_path, f"c{i}", 8, 500, 200, i)[0] for i in range(3)]
    supplied = iter(clips * 10)
    starts = []
    seq = Sequencer(lambda: next(supplied), 2, lambda c, s, air: starts.append(s))
    seq.read(1234)
    assert seq.fade_now(bars=1)  # a skip: fade from the next bar line (1500), one bar long
    assert not seq.fade_now()  # already moved
    seq.read(2000)
    assert starts == [0, 1500]
    assert seq.current.label == "c1"
    total = 3234
    for _ in range(50):
        block = seq.read(1000)
        assert block.shape == (2, 1000) and np.isfinite(block).all()
        total += 1000
    assert seq.frame == total and not seq.finished
    seq.close()


def test_mono_clip_is_refused(tmp_path):
    path = tmp_path / "mono.wav"
    audio_io.write_wav(path, np.zeros((1, 100), np.float32), RATE)
    seq = Sequencer(lambda: Clip(path, 100, 10.0, 10), 1)
    with pytest.raises(ValueError, match="stereo"):
        seq.read(10)


def test_skip_is_refused_while_fading_and_for_another_track(tmp_path):
    """Air.request_skip: only the track the listener heard, and not once it is on its way out."""
    from lofictl.radio.mixer import Air
    from lofictl.radio.producer import ReadyTrack, WorkFolder

    clips = [_clip(tmp_path, f"t{i}", 6, 500, 200, i)[0] for i in range(4)]
    tracks = [
        ReadyTrack(
            number=i,
            name=f"t-{i}",
            title=f"T{i}",
            recipe="t.yaml",
            seed=i,
            key="A minor",
            camelot="8A",
            tempo=120.0,
            time_signature="4/4",
            bars=6,
            bar_frames=500.0,
            frames=clips[i].frames,
            sample_rate=RATE,
            duration_s=1.0,
            folder=str(tmp_path),
            master=str(clips[i].path),
            pianoroll="",
            loudness_lufs=None,
            true_peak_dbtp=None,
            build_s=1.0,
            patterns={},
            presets={},
        )
        for i in range(4)
    ]
    queue = list(tracks)
    work = WorkFolder(tmp_path / "work", 2)
    air = Air(lambda: queue.pop(0) if queue else None, lambda: bool(queue), work, clips[0], 1, RATE)
    air.read(700)
    assert air.sequencer.current.label[1].number == 0
    assert not air.request_skip(5)  # not the one playing
    assert air.request_skip(0)
    air.read(900)  # fades at bar line 1000, one bar long
    assert air.sequencer.current.label[1].number == 1 and air.sequencer.frame == 1600
    air.read(2000 - 1600 + 500 * 3)  # into track 1's own fade-out (from its bar 5)
    assert air.sequencer.fading and not air.request_skip(1)
    air.close()


def test_mp3_frames_and_the_listeners_ring():
    from lofictl.radio.encoder import FrameSplitter, Ring, frame_length

    header = bytes([0xFF, 0xFB, 0x90, 0x64])  # MPEG-1 layer III, 128 kb/s, 44.1 kHz, no padding
    assert frame_length(header) == (417, 1152)
    assert frame_length(bytes([0xFF, 0xFB, 0x92, 0x64])) == (418, 1152)  # padded
    frame = header + bytes(413)
    splitter = FrameSplitter()
    data = b"junk" + frame * 3
    frames = splitter.feed(data[:500]) + splitter.feed(data[500:])
    assert frames == [frame] * 3
    ring = Ring(4)
    for n in range(6):
        ring.append(bytes([n]), n)
    assert (ring.first, ring.next) == (2, 6)
    got, cursor = ring.read(0, 0.01)  # fell behind: starts at the oldest frame held
    assert [tag for _, tag in got] == [2, 3, 4, 5] and cursor == 6
    assert ring.read(cursor, 0.01) == ([], 6)
    assert ring.start(2) == 4
