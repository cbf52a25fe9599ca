"""Shared fixtures: small recipes written into a temporary project folder."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests: the same examples every run (CI must not be a lottery), and no timing checks,
# since a loaded 2-core machine makes any example "too slow".
settings.register_profile(
    "lofictl", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("lofictl")

# A suite started in the background (`cmd &`, nohup) inherits SIGINT ignored, and so would every
# lofictl it starts, which makes the Ctrl-C tests meaningless. A handler (unlike "ignore") is
# reset to the default on exec, so the children get a normal Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]

SMALL_RECIPE = """\
lofictl: 1
title: Test Loop
seed: 7
tempo: 90
time_signature: 4/4
key: D minor
length: 4 bars
swing: 0.55
tracks:
  chords:
    part: chords
    progression: "Dm9 G13 Cmaj9 A7b9"
    instrument: {soundfont: FluidR3_GM.sf2, preset: Electric Piano 1}
    effects:
      - LowpassFilter: {cutoff_frequency_hz: 3200}
  bass:
    part: bass
    instrument: {soundfont: FluidR3_GM.sf2, preset: Acoustic Bass}
  drums:
    part: drums
    pattern: boom-bap
    humanize: {timing_ms: 8, velocity: 8}
master:
  loudness_lufs: -16
output: {formats: [wav]}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder with a recipes/ subfolder."""
    (tmp_path / "recipes").mkdir()
    return tmp_path


@pytest.fixture
def write_recipe(project: Path):
    """Write recipe text (dedented) to recipes/<name>.yaml and return its path."""

    def write(text: str = SMALL_RECIPE, name: str = "test_loop") -> Path:
        path = project / "recipes" / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return write
