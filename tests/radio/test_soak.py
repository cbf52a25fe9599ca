"""A bounded soak of a real station (benchmarks/soak_radio.py, short): many listeners coming and
going, thousands of requests, minutes of stream on a fast clock; memory and disk stay flat and
the stream keeps coming."""

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
    assert report["stream_s"] > 200  # minutes of stream in 40 s
    assert report["requests"] > 1000 and report["errors"] == 0
    assert report["dropped_streams"] == 0  # the server never hung up on a listener
    assert report["max_gap_s"] < 3.0  # the live edge kept coming (generous: a loaded CI machine)
    assert report["delivery_ratio"] > 0.8  # listeners got the stream at its rate
    assert report["tracks_built"] >= 2
    # memory flat: the second half of the run holds no more than the first (+ allocator noise)
    assert report["rss_mb_second_half"] < report["rss_mb_first_half"] + 15, report
    # disk bounded: the bed, the queue, the played tracks kept for replays and one build in
    # progress (its stems), whatever the run's length; a short run is still filling up
    assert max(report["work_mb_first_half_max"], report["work_mb_second_half_max"]) < 120, report
