"""Work beside the stage walk (pipeline.background): the SoundFonts hashed and loaded while compose
runs. It may not change a byte, the record, the cache, or what is left when the build is stopped."""

from __future__ import annotations

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
from support import SMALL_RECIPE
from support import file_hashes as hashes

# A kit and two tracks sharing one SoundFont; two overlays (rendered side by side with -j 2), one
# ducked under the kick and one through a chain.
RECIPE = SMALL_RECIPE.replace("pattern: boom-bap", "pattern: boom-bap\n    instrument: {kit: dusty}").replace(
    "master:",
    "overlays:\n"
    "  - {ambience: vinyl, gain_db: -18, duck: {depth_db: 3}}\n"
    "  - {ambience: rain, gain_db: -22, loop: true, effects: [{LowpassFilter: {cutoff_frequency_hz: 3000}}]}\n"
    "master:",
)


def _stage_entries(cache: Cache) -> dict[str, str]:
    """The cache's stage entries (file name → text): what a later build restores."""
    assert cache.root is not None
    return {p.name: p.read_text() for p in sorted((cache.root / "stages").iterdir())}


def test_a_build_with_two_jobs_makes_the_same_files_record_and_cache_entries(write_recipe, project, monkeypatch):
    """With -j 2 the SoundFonts are hashed and loaded beside compose and the overlays render side
    by side; the result is a -j 1 build's to the byte, the lock and the cache entries too."""
    from lofictl.sound import stems

    path = write_recipe(RECIPE)
    results, caches, threads = {}, {}, {}
    render_overlay = stems.render_overlay_to_wav

    def watched(*args, **kwargs):  # the real rendering, its thread noted
        threads.setdefault(jobs, set()).add(threading.current_thread().name.partition("_")[0])
        return render_overlay(*args, **kwargs)

    monkeypatch.setattr(stems, "render_overlay_to_wav", watched)
    for jobs in (1, 2):  # one job: everything on the main thread, no warm-up
        caches[jobs] = Cache(project / f"cache-{jobs}")
        results[jobs] = b.build_recipe(
            load_recipe(path), out_dir=project / f"out-{jobs}", jobs=jobs, quiet=True, cache=caches[jobs]
        )
    assert threads == {1: {"MainThread"}, 2: {"lofictl-overlay"}}
    one, two = results[1], results[2]
    assert hashes(one.out_dir) == hashes(two.out_dir)
    assert {"stems/04_overlay-1-vinyl.wav", "stems/05_overlay-2-rain.wav"} <= set(hashes(two.out_dir))
    assert json.dumps(one.lock, sort_keys=True) == json.dumps(two.lock, sort_keys=True)
    assert one.ran == two.ran
    assert _stage_entries(caches[1]) == _stage_entries(caches[2])
    # the SoundFont's hash the warm-up remembered is the one the stems' keys hold
    caches[2].save_state()
    assert caches[2].root is not None
    remembered = json.loads((caches[2].root / "state.json").read_text())
    font = str(find_soundfont("FluidR3_GM.sf2").resolve())
    assert remembered[font]["sha256"] == two.lock["stages"]["stem:chords"]["inputs"]["soundfont"]


def test_a_stop_during_compose_waits_for_the_warm_up_and_gives_its_soundfonts_back(write_recipe, project, monkeypatch):
    """Ctrl-C arrives (here: in compose) while the SoundFont is still being loaded beside it: the
    build stops as KeyboardInterrupt once the load is done, gives the font back (no stem will play
    it), leaves no thread behind, and the last build's outputs stay."""
    path = write_recipe(RECIPE)
    b.build_recipe(load_recipe(path), quiet=True)
    out = project / "build" / "test_loop"
    before = hashes(out)
    stopping, loaded = threading.Event(), []
    preload = render.preload_soundfonts

    def slow_preload(fonts, sample_rate):
        stopping.wait(60)  # until the main thread is stopping
        preload(fonts, sample_rate)
        loaded.append(len(render._FONTS._held))

    def interrupted(*args, **kwargs):
        stopping.set()
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "preload_soundfonts", slow_preload)
    monkeypatch.setattr(build_stages, "compose_score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        b.build_recipe(load_recipe(path, ["seed=9"]), quiet=True, jobs=2)
    assert loaded == [1], "the walk waited for the load"
    assert render._FONTS._held == {}, "and gave the font back"
    assert not [t for t in threading.enumerate() if t.name.startswith("lofictl-background")]
    assert hashes(out) == before
    assert not list((project / "build").glob(".test_loop.*"))


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
