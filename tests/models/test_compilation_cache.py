"""JAX's persistent compilation cache: the sampler a build compiled is served to every later
process from the project's .lofictl-cache/jax ($LOFICTL_JAX_CACHE elsewhere), which `cache info`
reports and `cache clear` empties. Counted by JAX's own events, in fresh processes. The samplers'
traced programs are kept there too (models/nn/exported.py): a later process runs no sampler code
in Python, counted by wrapping the samplers' traced methods."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from support import REPO, invoke

RECIPE = """\
lofictl: 1
title: Warm
seed: 5
tempo: 100
key: A minor
length: 2 bars
tracks:
  chords:
    part: chords
    generate: {model: models/lofi-chords, temperature: 0.9}
  drums: {part: drums, pattern: boom-bap}
output: {formats: [wav]}
"""

# A MIDI-only build in this process, counting JAX's compilation-cache events and the calls of the
# samplers' methods that only tracing makes; writes {"requests": compiles that asked the cache,
# "hits": those it served, "ran": stages run, "traced": sampler code run, "exported": models.nn.exported's
# counts} to argv[1].
RUN = textwrap.dedent(
    """\
    import functools, json, sys
    import jax
    events = {}
    jax.monitoring.register_event_listener(lambda name, **kw: events.__setitem__(name, events.get(name, 0) + 1))
    from lofictl.models.nn import exported, sample
    traced = []
    def counting(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            traced.append(method.__qualname__)
            return method(*args, **kwargs)
        return wrapper
    for cls, name in ((sample.ChordSampler, "_run"), (sample.ChordSampler, "_score"), (sample.MelodySampler, "_run")):
        setattr(cls, name, counting(getattr(cls, name)))
    from lofictl.pipeline.runner import build_recipe
    from lofictl.recipe.load import load_recipe
    from pathlib import Path
    result = build_recipe(load_recipe(Path(sys.argv[2])), quiet=True, midi_only=True)
    with open(sys.argv[1], "w") as f:
        json.dump({
            "requests": events.get("/jax/compilation_cache/compile_requests_use_cache", 0),
            "hits": events.get("/jax/compilation_cache/cache_hits", 0),
            "ran": result.ran,
            "traced": traced,
            "exported": exported.COUNTS,
        }, f)
    """
)


@pytest.fixture
def warm_project(tmp_path):
    (tmp_path / "recipes").mkdir()
    shutil.copytree(REPO / "models" / "lofi-chords", tmp_path / "models" / "lofi-chords")
    (tmp_path / "recipes" / "warm.yaml").write_text(RECIPE)
    return tmp_path


def _build(project, env: dict | None = None) -> dict:
    report = project / "events.json"
    environment = {k: v for k, v in os.environ.items() if k != "LOFICTL_JAX_CACHE"}
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(report), "recipes/warm.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**environment, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(report.read_text())


def _programs(folder, suffix: str = "-cache") -> list[str]:
    return sorted(p.name for p in folder.glob(f"*{suffix}")) if folder.is_dir() else []


def _forget_stages(project) -> None:
    """An empty stage cache (so compose runs again), JAX's compiled programs kept."""
    for name in ("stages", "objects", "state.json"):
        path = project / ".lofictl-cache" / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def test_the_second_process_compiles_nothing(warm_project, monkeypatch):
    monkeypatch.delenv("LOFICTL_JAX_CACHE", raising=False)  # conftest shares one among the tests
    jax_dir = warm_project / ".lofictl-cache" / "jax"
    first = _build(warm_project)
    assert "compose" in first["ran"] and first["requests"] > 0 and first["hits"] == 0
    programs = _programs(jax_dir)
    assert len(programs) == first["requests"]  # every program kept, however small and quick
    # the loop is sampled, then scored: two programs traced, and kept
    assert sorted(first["traced"]) == ["ChordSampler._run", "ChordSampler._score"]
    assert first["exported"] == {"traced": 2, "loaded": 0}
    assert [p.split("-")[:2] for p in _programs(jax_dir, "-export")] == [["chord", "run"], ["chord", "score"]]

    _forget_stages(warm_project)
    second = _build(warm_project)
    assert "compose" in second["ran"]
    assert second["hits"] == second["requests"] == first["requests"]  # all served from the cache
    assert _programs(jax_dir) == programs
    assert second["traced"] == [] and second["exported"] == {"traced": 0, "loaded": 2}  # no sampler traced

    info = invoke("cache", "info", "--project", warm_project)
    said = " ".join(info.output.split())
    assert info.exit_code == 0 and f"{len(programs)} programs and 2 traced samplers" in said, info.output
    cleared = invoke("cache", "clear", "--project", warm_project)
    assert cleared.exit_code == 0 and not jax_dir.exists()


def test_the_environment_names_another_folder_and_clear_takes_only_jaxs_files(warm_project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("shared-jax")
    (elsewhere / "notes.txt").write_text("the user's own file")
    first = _build(warm_project, {"LOFICTL_JAX_CACHE": str(elsewhere)})
    assert len(_programs(elsewhere)) == first["requests"] > 0
    assert not (warm_project / ".lofictl-cache" / "jax").exists()

    done = subprocess.run(
        [sys.executable, "-m", "lofictl", "cache", "clear", "--project", str(warm_project)],
        capture_output=True,
        text=True,
        env={**os.environ, "LOFICTL_JAX_CACHE": str(elsewhere)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert _programs(elsewhere) == [] and (elsewhere / "notes.txt").read_text() == "the user's own file"


def test_a_build_that_samples_no_model_keeps_no_programs(write_recipe, project):
    from support import SMALL_RECIPE

    result = invoke("build", "-q", "--midi-only", write_recipe(SMALL_RECIPE))
    assert result.exit_code == 0, result.output
    assert (project / ".lofictl-cache" / "stages").is_dir() and not (project / ".lofictl-cache" / "jax").exists()
