"""Shared fixtures: small recipes written into a temporary project folder, the GM SoundFont.

The builders that are plain functions live in tests/support/ (imported as `support`)."""

from __future__ import annotations

import os
import signal
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Helpers' asserts report their values as tests' do (before the first import of support).
pytest.register_assert_rewrite("support")

from support import SMALL_RECIPE  # noqa: E402

# Property tests: the same examples every run (CI must not be a lottery), and no timing checks,
# since a loaded 2-core machine makes any example "too slow".
settings.register_profile(
    "lofictl", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("lofictl")

# Builds in the tests' many temporary projects (and the lofictl processes they start) share one
# folder of JAX's compiled sampling programs instead of each compiling the sampler into its own
# .lofictl-cache/jax; tests of that folder itself take the variable out of their processes.
os.environ.setdefault("LOFICTL_JAX_CACHE", str(Path(tempfile.gettempdir()) / "lofictl-tests-jax"))

# A suite started in the background (`cmd &`, nohup) inherits SIGINT ignored, and so would every
# lofictl it starts, which makes the Ctrl-C tests meaningless. A handler (unlike "ignore") is
# reset to the default on exec, so the children get a normal Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.fixture(scope="module")
def gm() -> Path:
    """The General MIDI SoundFont the example recipes play."""
    from lofictl.sound.soundfonts import find_soundfont

    return find_soundfont("FluidR3_GM.sf2", None)
