"""A bounded soak of a real station (benchmarks/soak_radio.py, short): many listeners coming and
going, thousands of requests, minutes of stream on a fast clock; the stream stays whole MP3 frames
back to back at every listener, nothing fails, memory and disk stay flat.

How well it kept time (gaps at the live edge, the share of the stream's rate delivered, the
stream's length, the request rate) depends on the machine's load: the benchmark prints those
(`python benchmarks/soak_radio.py`, `benchmarks/bench_radio.py` for the real-time factor); this
test asserts none of them.
"""

from __future__ import annotations

import sys

import pytest

from support import REPO

sys.path.insert(0, str(REPO / "benchmarks"))  # the soak itself is a benchmark script

from soak_radio import soak  # noqa: E402

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("radio-soak")]


def test_station_soak(tmp_path):
    report = soak(tmp_path, seconds=40, speed=6, listeners=12, api_threads=3, warmup=12)
    print(report)
    assert report["exit_code"] == 0 and not report["traceback_in_log"]
    assert report["errors"] == 0 and report["requests"] > report["listens"] > 0
    assert report["dropped_streams"] == 0  # the server never hung up on a listener
    # every listener's bytes were whole MP3 frames back to back: a stall of the pacer (counted in
    # pacer_stalls) delays the stream, it never puts a gap or junk into it
    assert report["broken_streams"] == 0 and report["frames_received"] > 0
    assert report["tracks_built"] >= 1 and report["failed"] == 0
    # memory flat: the second half of the run holds no more than the first (+ allocator noise)
    assert report["rss_mb_second_half"] < report["rss_mb_first_half"] + 15, report
    # disk bounded: the bed, the queue, the played tracks kept for replays and one build in
    # progress (its stems), whatever the run's length; a short run is still filling up
    assert max(report["work_mb_first_half_max"], report["work_mb_second_half_max"]) < 120, report
