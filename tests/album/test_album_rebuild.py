"""An album is rebuilt into its own folder, and survives the stage cache being pruned (or
emptied) under it: what it still needs is pinned, and what goes missing anyway is made again."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from lofictl.pipeline.cache import Cache
from lofictl.pipeline.runner import lock_text
from support import REPO, write_album

# Two tracks of the tiny recipe, WAV only, a mix and no video: every album stage, quickly.
SMALL_ALBUM = """\
lofictl_album: 1
title: Small Album
artist: Test Artist
year: 2026
seed: 3
crossfade: 1 bar
output: {formats: [wav], video: false}
tracks:
  - {recipe: recipes/tiny.yaml, count: 2}
"""


def _build(path, out, cache):
    from lofictl.album.run import build_album

    return build_album(path, out_dir=out, cache_dir=cache, quiet=True)


def test_an_album_is_rebuilt_into_its_own_folder_by_the_cli(tmp_path, monkeypatch):
    path = write_album(tmp_path, SMALL_ALBUM)
    monkeypatch.chdir(tmp_path)
    command = [sys.executable, "-m", "lofictl", "album", str(path), "--out", "build/small"]
    for _ in range(2):
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "build" / "small" / "build.json").is_file()


def test_an_album_folder_is_not_taken_by_another_album_or_a_recipe(tmp_path):
    from lofictl.errors import LofictlError
    from lofictl.pipeline.runner import build_recipe
    from lofictl.recipe.load import load_recipe

    path = write_album(tmp_path, SMALL_ALBUM)
    out = tmp_path / "out"
    first = _build(path, out, tmp_path / "cache")
    assert _build(path, out, tmp_path / "cache").lock["outputs"] == first.lock["outputs"]
    other = write_album(tmp_path, SMALL_ALBUM.replace("seed: 3", "seed: 4"), name="other")
    with pytest.raises(LofictlError, match="holds the build of albums/test.yaml, not of albums/other.yaml"):
        _build(other, out, tmp_path / "cache")
    with pytest.raises(LofictlError, match="holds the build of albums/test.yaml"):
        build_recipe(load_recipe(tmp_path / "recipes" / "tiny.yaml"), out_dir=out, quiet=True, midi_only=True)


def _prune_then(monkeypatch, action):
    """Run `action(cache root)` once, as the album's delivery stage starts (the tracks rendered,
    their masters waiting in the cache for the encoders and the mix)."""
    from lofictl.album import run

    real = run._tag_and_mix
    calls = []

    def deliver(album_run, *rest):
        if not calls:
            calls.append(action(Cache(album_run.cache.root)))
        return real(album_run, *rest)

    monkeypatch.setattr(run, "_tag_and_mix", deliver)
    return calls


def test_pruning_the_cache_during_an_album_keeps_what_it_uses(tmp_path, monkeypatch):
    path = write_album(tmp_path, SMALL_ALBUM)
    clean = _build(path, tmp_path / "clean", tmp_path / "clean-cache")
    calls = _prune_then(monkeypatch, lambda cache: cache.prune(0))
    built = _build(path, tmp_path / "out", tmp_path / "cache")
    assert calls[0]["bytes_kept"] > 0  # the masters and scores were pinned
    assert lock_text(built.lock) == lock_text(clean.lock)
    # Once the build is over its pins are gone: a prune now empties the cache.
    assert Cache(tmp_path / "cache").prune(0)["bytes_kept"] == 0
    assert not list((tmp_path / "cache" / "pins").iterdir())


def test_an_album_remakes_what_vanished_from_the_cache_mid_build(tmp_path, monkeypatch):
    path = write_album(tmp_path, SMALL_ALBUM)
    clean = _build(path, tmp_path / "clean", tmp_path / "clean-cache")

    def empty(cache):  # `lofictl cache clear`, or a machine whose prune ignores this one's pins
        shutil.rmtree(cache.root / "objects")
        shutil.rmtree(cache.root / "stages")
        return {}

    _prune_then(monkeypatch, empty)
    built = _build(path, tmp_path / "out", tmp_path / "cache")
    assert lock_text(built.lock) == lock_text(clean.lock)


def test_prune_keeps_pinned_objects_and_drops_the_pins_of_dead_builds(tmp_path):
    cache = Cache(tmp_path / "cache")
    files = {}
    for name in ("a", "b"):
        files[name] = tmp_path / f"{name}.bin"
        files[name].write_bytes(name.encode() * 1000)
        cache.store(f"key-{name}", "compose", {name: files[name]})
    kept = cache.lookup("key-a", "compose").outputs["a"]
    with cache.pinning() as pin:
        pin([kept])
        # Another process prunes to nothing: the pinned object and its entry stay.
        code = f"from pathlib import Path; from lofictl.pipeline.cache import Cache; Cache(Path({str(cache.root)!r})).prune(0)"
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}
        )
        assert done.returncode == 0, done.stderr
        assert cache.lookup("key-a", "compose") is not None
        assert cache.lookup("key-b", "compose") is None
    # A pin file left by a killed build (nobody holds its lock) pins nothing and is deleted.
    stale = cache.root / "pins" / "999999-0.pin"
    stale.write_text(kept + "\n")
    assert cache.prune(0)["bytes_kept"] == 0
    assert not stale.exists()


def test_tasks_pin_what_they_look_up_and_store_into_the_albums_pin_file(tmp_path):
    from lofictl.album.tasks import CacheSpec, open_cache

    cache = Cache(tmp_path / "cache")
    made = tmp_path / "made.bin"
    made.write_bytes(b"a task's output")
    with cache.pinning():
        task_cache = open_cache(CacheSpec(str(cache.root), pins=str(cache.pin_file)))  # as a worker opens it
        task_cache.store("key", "compose", {"out": made})
        digest = task_cache.lookup("key", "compose").outputs["out"]
        assert digest in Cache(cache.root).pinned()  # seen by another process's prune
        assert Cache(cache.root).prune(0)["bytes_kept"] == len(b"a task's output")
    assert Cache(cache.root).prune(0)["bytes_kept"] == 0
