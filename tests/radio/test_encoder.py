"""The MP3 frame splitter and the ring every listener reads (lofictl/radio/encoder.py), on their
own: no ffmpeg, no server. Frames are built from their headers (MPEG-1 and MPEG-2 layer III)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lofictl.radio.encoder import FrameSplitter, Ring, frame_length

# MPEG-1 layer III, 128 kb/s, 44.1 kHz: 417 bytes (418 with the padding bit); MPEG-2, 64 kb/s, 22.05 kHz: 208.
MPEG1 = bytes([0xFF, 0xFB, 0x90, 0x00])
MPEG1_PADDED = bytes([0xFF, 0xFB, 0x92, 0x00])
MPEG2 = bytes([0xFF, 0xF3, 0x80, 0x00])


def frame(header: bytes, fill: int) -> bytes:
    size, _ = frame_length(header)
    return header + bytes([fill]) * (size - 4)


def test_frame_lengths_follow_the_header():
    assert frame_length(MPEG1) == (417, 1152)
    assert frame_length(MPEG1_PADDED) == (418, 1152)
    assert frame_length(MPEG2) == (208, 576)
    assert frame_length(b"\xff\xfb\x90") is None  # too short to tell
    assert frame_length(b"ID3\x04") is None  # a tag, not a frame
    assert frame_length(bytes([0xFF, 0xFB, 0xF0, 0x00])) is None  # bitrate index 15: invalid
    assert frame_length(bytes([0xFF, 0xFB, 0x9C, 0x00])) is None  # sample rate index 3: reserved
    assert frame_length(bytes([0xFF, 0xFD, 0x90, 0x00])) is None  # layer II, not III


def _stream() -> tuple[bytes, list[bytes]]:
    frames = [frame(header, n) for n, header in enumerate([MPEG1, MPEG1_PADDED, MPEG2, MPEG1, MPEG2] * 3)]
    # junk before the first frame (a half frame, an ID3-looking start, a lone sync byte) is skipped
    return b"ID3\x00\xff\x00junk" + b"".join(frames), frames


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=30))
def test_the_splitter_gives_back_whole_frames_however_the_bytes_arrive(cuts):
    data, frames = _stream()
    splitter = FrameSplitter()
    out: list[bytes] = []
    last = 0
    for cut in sorted({c % len(data) for c in cuts}) + [len(data)]:
        out += splitter.feed(data[last:cut])
        last = cut
    assert out == frames


def test_the_splitter_holds_a_partial_frame_until_the_rest_comes():
    one, two = frame(MPEG1, 1), frame(MPEG1, 2)
    splitter = FrameSplitter()
    assert splitter.feed(one + two[:100]) == [one]
    assert splitter.feed(b"") == []
    assert splitter.feed(two[100:]) == [two]


def test_the_splitter_resynchronises_after_garbage_between_frames():
    one, two = frame(MPEG1, 1), frame(MPEG2, 2)
    splitter = FrameSplitter()
    assert splitter.feed(one + b"\x00\x01\x02garbage" + two) == [one, two]


# --- the ring ------------------------------------------------------------------------------------


def test_the_ring_keeps_the_last_frames_and_their_tags():
    ring = Ring(4)
    for n in range(10):
        ring.append(bytes([n]) * 3, ("tag", n))
    assert (ring.first, ring.next, ring.bytes_total) == (6, 10, 30)
    frames, cursor = ring.read(0, timeout=0)  # a reader behind the ring skips to the oldest frame held
    assert [f for f, _ in frames] == [bytes([n]) * 3 for n in range(6, 10)]
    assert [t for _, t in frames] == [("tag", n) for n in range(6, 10)]
    assert cursor == 10


def test_a_new_listener_starts_its_burst_behind_the_live_edge():
    ring = Ring(8)
    assert ring.start(3) == 0  # nothing yet: from the start
    for n in range(20):
        ring.append(bytes([n]))
    assert ring.start(3) == 17
    assert ring.start(100) == ring.first == 12  # never before the oldest frame held
    assert ring.start(0) == 20


def test_reads_are_bounded_and_cursors_are_independent():
    ring = Ring(100)
    for n in range(50):
        ring.append(bytes([n]))
    frames, fast = ring.read(0, timeout=0, limit=30)
    assert len(frames) == 30 and fast == 30
    frames, fast = ring.read(fast, timeout=0, limit=30)
    assert [f for f, _ in frames] == [bytes([n]) for n in range(30, 50)] and fast == 50
    slow_frames, slow = ring.read(10, timeout=0, limit=5)  # another reader, unaffected by the first
    assert [f for f, _ in slow_frames] == [bytes([n]) for n in range(10, 15)] and slow == 15


def test_a_reader_at_the_live_edge_waits_for_the_next_frame():
    ring = Ring(10)
    ring.append(b"a")
    assert ring.read(1, timeout=0.01) == ([], 1)  # nothing new: empty after the timeout
    got: list = []
    reader = threading.Thread(target=lambda: got.append(ring.read(1, timeout=30)))
    reader.start()
    ring.append(b"b", 7)
    reader.join(5)
    assert got == [([(b"b", 7)], 2)]  # woken by the append, long before its timeout


def test_closing_the_ring_wakes_every_waiting_reader():
    ring = Ring(10)
    results: list = []
    readers = [threading.Thread(target=lambda: results.append(ring.read(0, timeout=30))) for _ in range(3)]
    for reader in readers:
        reader.start()
    ring.close()
    for reader in readers:
        reader.join(5)
    assert results == [([], 0)] * 3 and ring.closed
    assert ring.read(0, timeout=30) == ([], 0)  # closed: no wait at all


@pytest.mark.parametrize("capacity", [1, 3, 64])
def test_a_reader_that_keeps_up_gets_every_frame_in_order(capacity):
    ring = Ring(capacity)
    seen: list[bytes] = []
    skipped: list[int] = []
    done = threading.Event()

    def read():
        cursor = 0
        while not (done.is_set() and cursor >= ring.next):
            frames, new = ring.read(cursor, timeout=0.05)
            if new - cursor != len(frames):
                skipped.append(cursor)
            seen.extend(f for f, _ in frames)
            cursor = new

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(1000):
        ring.append(n.to_bytes(2, "big"))
        if n % capacity == capacity - 1:  # let the reader catch up, so the ring never overruns it
            caught_up = threading.Event()
            while len(seen) < n + 1 and reader.is_alive():
                caught_up.wait(0.0002)
    done.set()
    reader.join(10)
    assert not skipped and seen == [n.to_bytes(2, "big") for n in range(1000)]
