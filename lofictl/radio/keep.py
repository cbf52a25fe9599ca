"""`lofictl radio keep STATION N`: track N as a recipe file of its own.

The text written is the text the station built (schedule.track_recipe_text), at the path the
station built it as (recipes/<recipe>-<N>.yaml), so `lofictl build` on it makes the same bytes:
the master the station played, and the stems, MIDI and piano roll with it.
"""

from __future__ import annotations

from pathlib import Path

from lofictl.errors import LofictlError
from lofictl.radio.schedule import Schedule, load_track_recipe, track_recipe_path, track_recipe_text
from lofictl.radio.station import LoadedStation
from lofictl.safety import atomic


def keep_track(loaded: LoadedStation, number: int, *, force: bool = False) -> Path:
    if number < 0:
        raise LofictlError("track numbers start at 0")
    plan = Schedule(loaded).plan(number)
    text = track_recipe_text(loaded, plan)
    path = track_recipe_path(loaded, plan)
    load_track_recipe(loaded, plan)  # it must be a valid recipe before anything is written
    if path.exists() and not force:
        if path.read_text(encoding="utf-8") == text:
            return path  # already kept: nothing to do
        raise LofictlError(f"{path} exists and holds something else; move it away or pass --force")
    atomic.write_text(path, text)
    return path
