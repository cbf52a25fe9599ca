"""Work beside the stage walk (pipeline.background): the piano roll drawn while the stems render,
the sound libraries and SoundFonts loaded while compose runs. Neither may change a byte, the
record, the cache or what the user sees when something fails or the build is stopped."""

from __future__ import annotations

import errno
import json
import threading

import numpy as np
import pytest

from lofictl.compose.score import Note, Track
from lofictl.pipeline import runner as b
from lofictl.pipeline import stages as build_stages
from lofictl.pipeline.cache import Cache
from lofictl.recipe.load import load_recipe
from lofictl.sound import render
from lofictl.sound.soundfonts import find_soundfont, resolve_preset
from support import SMALL_RECIPE, invoke
from support import file_hashes as hashes

# A kit and two tracks sharing one SoundFont, eight bars so the piano roll has something to draw.
RECIPE = SMALL_RECIPE.replace("length: 4 bars", "length: 8 bars").replace(
    "pattern: boom-bap", "pattern: boom-bap\n    instrument: {kit: dusty}"
)


@pytest.fixture
def drawn_in(monkeypatch):
    """The names of the threads the piano roll was drawn in (the real drawing, only watched)."""
    names: list[str] = []
    draw = build_stages._draw_pianoroll

    def watched(score, path):
        names.append(threading.current_thread().name)
        return draw(score, path)

    monkeypatch.setattr(build_stages, "_draw_pianoroll", watched)
    return names


def _stage_entries(cache: Cache) -> dict[str, str]:
    """The cache's stage entries (file name → text): what a later build restores."""
    assert cache.root is not None
    return {p.name: p.read_text() for p in sorted((cache.root / "stages").iterdir())}


def test_the_background_path_makes_the_same_files_record_and_cache_entries(write_recipe, project, drawn_in):
    path = write_recipe(RECIPE)
    results, caches = {}, {}
    for jobs in (1, 2):  # one job: everything on the main thread, as before the overlap
        caches[jobs] = Cache(project / f"cache-{jobs}")
        results[jobs] = b.build_recipe(
            load_recipe(path), out_dir=project / f"out-{jobs}", jobs=jobs, quiet=True, cache=caches[jobs]
        )
    assert drawn_in == ["MainThread", drawn_in[1]] and drawn_in[1].startswith("lofictl-background")
    one, two = results[1], results[2]
    assert hashes(one.out_dir) == hashes(two.out_dir)
    assert "pianoroll.png" in hashes(two.out_dir)
    assert json.dumps(one.lock, sort_keys=True) == json.dumps(two.lock, sort_keys=True)
    assert list(one.lock["stages"]) == list(two.lock["stages"])  # the stages in the table's order
    assert one.ran == two.ran and one.ran.index("midi") == 1  # listed where it ran, not where it settled
    assert _stage_entries(caches[1]) == _stage_entries(caches[2])
    # and the entry serves: a rebuild restores the midi stage's files, piano roll included
    again = b.build_recipe(load_recipe(path), out_dir=project / "again", jobs=2, quiet=True, cache=caches[2])
    assert "midi" in again.restored and hashes(again.out_dir) == hashes(two.out_dir)


def test_a_failure_drawing_in_the_background_is_one_line_and_leaves_the_last_build(write_recipe, project, monkeypatch):
    path = write_recipe(RECIPE)
    assert invoke("build", "-q", path).exit_code == 0
    out = project / "build" / "test_loop"
    before, lock_before = hashes(out), path.with_name("test_loop.lock.json").read_bytes()
    drew_in: list[str] = []

    def full_disk(score, target):
        drew_in.append(threading.current_thread().name)
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(build_stages, "_draw_pianoroll", full_disk)
    result = invoke("build", "-q", "-j", "2", path, "--set", "seed=8")  # a new score: midi runs again
    assert drew_in and drew_in[0].startswith("lofictl-background")
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "no space left on the device" in lines[0] and "pianoroll.png" in lines[0], lines
    assert "Traceback" not in result.output
    assert hashes(out) == before and path.with_name("test_loop.lock.json").read_bytes() == lock_before
    assert not list((project / "build").glob(".test_loop.*")), "no staging folder is left behind"


def test_a_stop_while_the_piano_roll_is_drawn_waits_for_it_before_the_staging_folder_goes(
    write_recipe, project, monkeypatch
):
    """Ctrl-C arrives (here: in the stems) while the piano roll is still being written into the
    staging folder: the build stops as KeyboardInterrupt only once the drawing is done, so nothing
    writes into a folder being removed, and the last build's outputs stay."""
    path = write_recipe(RECIPE)
    b.build_recipe(load_recipe(path), quiet=True)
    out = project / "build" / "test_loop"
    before = hashes(out)
    stopping, drawn = threading.Event(), {}
    draw = build_stages._draw_pianoroll

    def slow_draw(score, target):
        stopping.wait(60)  # until the main thread is stopping
        pages = draw(score, target)  # fails if the staging folder is already gone
        drawn["complete"] = all(page.is_file() for page in pages)
        return pages

    def interrupted(*args, **kwargs):
        stopping.set()
        raise KeyboardInterrupt

    from lofictl.sound import stems

    monkeypatch.setattr(build_stages, "_draw_pianoroll", slow_draw)
    monkeypatch.setattr(stems, "render_stem_to_wav", interrupted)
    with pytest.raises(KeyboardInterrupt):
        b.build_recipe(load_recipe(path, ["seed=9"]), quiet=True, jobs=2)
    assert drawn == {"complete": True}
    assert hashes(out) == before
    assert not list((project / "build").glob(".test_loop.*"))
    assert not [t for t in threading.enumerate() if t.name.startswith("lofictl-background")]


def test_soundfonts_loaded_ahead_play_the_same_bytes_and_are_given_back():
    soundfont = find_soundfont("FluidR3_GM.sf2")
    preset = resolve_preset(soundfont, "Electric Piano 1")
    track = Track("chords", "chords", tuple(Note(start=0.0, duration=1.5, pitch=p, velocity=90) for p in (50, 57, 65)))
    render.release_soundfonts()
    loaded_by_the_stem = render.render_track(track, 0.5, soundfont, preset, 44100, 44100)
    render.release_soundfonts()
    render.preload_soundfonts([soundfont], 44100)
    held = dict(render._FONTS._held)
    assert len(held) == 1, "loaded once, ahead of the stem"
    loaded_ahead = render.render_track(track, 0.5, soundfont, preset, 44100, 44100)
    assert render._FONTS._held == held, "the stem played the font loaded ahead, no second load"
    assert np.array_equal(loaded_by_the_stem, loaded_ahead) and np.abs(loaded_ahead).max() > 0.01
    render.release_soundfonts()
    assert render._FONTS._held == {}


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_warm_up_hashes_and_loads_the_soundfonts_beside_compose_only_with_jobs(write_recipe, project, jobs):
    """Its errors are dropped (the stage redoes the work and reports them), so a warm-up that
    always failed would go unseen but for this: it must really hash and load, in the background."""
    path = write_recipe(RECIPE)
    loaded: list[tuple[str, list]] = []
    hashed: list[str] = []
    preload, file_sha256 = render.preload_soundfonts, Cache.file_sha256

    def watched_preload(fonts, sample_rate):
        preload(fonts, sample_rate)
        loaded.append((threading.current_thread().name, [f.name for f in fonts]))

    def watched_hash(self, file):
        if threading.current_thread().name.startswith("lofictl-background"):
            hashed.append(file.name)
        return file_sha256(self, file)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render, "preload_soundfonts", watched_preload)
        patch.setattr(Cache, "file_sha256", watched_hash)
        b.build_recipe(load_recipe(path), quiet=True, jobs=jobs)
    if jobs == 1:  # the build stays on one thread
        assert loaded == [] and hashed == []
    else:
        assert len(loaded) == 1 and loaded[0][0].startswith("lofictl-background"), loaded
        assert loaded[0][1] == ["FluidR3_GM.sf2"] and hashed == ["FluidR3_GM.sf2"]
    assert render._FONTS._held == {}, "given back after the stems"
