"""The mix's pre-master (the stems summed through the master chain, and its loudness) kept in the
stage cache: a rebuild that changed only the loudness target or the true-peak ceiling masters it
again instead of summing the stems, to the same bytes as a build without the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lofictl.pipeline import runner as b
from lofictl.pipeline.cache import CACHE_DIR_NAME, Cache
from lofictl.recipe.load import load_recipe
from lofictl.sound import master
from support import SMALL_RECIPE
from support import file_hashes as hashes

TINY = SMALL_RECIPE.replace("length: 4 bars", "length: 2 bars")
# A send (the reverb bus) and an overlay: layers are summed after the tracks, in their order.
LAYERED = TINY.replace("pattern: boom-bap", "pattern: boom-bap\n    send_db: -12").replace(
    "master:", "overlays:\n  - {ambience: vinyl, gain_db: -30}\nmaster:"
)


@pytest.fixture
def sums(monkeypatch) -> list[Path]:
    """The pre-masters summed (each call of the real function, by its destination)."""
    made: list[Path] = []
    real = master.sum_to_premaster_wav

    def counted(stem_paths, sample_rate, chain, dst, **kwargs):
        made.append(Path(dst))
        return real(stem_paths, sample_rate, chain, dst, **kwargs)

    monkeypatch.setattr(master, "sum_to_premaster_wav", counted)
    return made


def _premaster_entries(project: Path) -> list[dict]:
    entries = [json.loads(p.read_text()) for p in (project / CACHE_DIR_NAME / "stages").glob("*.json")]
    return [e for e in entries if "premaster.wav" in e["outputs"]]


def _build(path: Path, *overrides: str, **options):
    return b.build_recipe(load_recipe(path, list(overrides)), quiet=True, **options)


def _output(path: Path) -> tuple[dict[str, str], str]:
    """The output folder's files and the lock beside the recipe."""
    return hashes(path.parent.parent / "build" / path.stem), path.with_name(f"{path.stem}.lock.json").read_text()


@pytest.mark.parametrize("change", ["master.loudness_lufs=-18", "master.true_peak_db=-3"])
def test_a_loudness_or_ceiling_change_masters_the_kept_premaster_to_the_uncached_bytes(
    write_recipe, project, sums, change
):
    path = write_recipe(LAYERED)
    _build(path)
    assert len(sums) == 1 and len(_premaster_entries(project)) == 1
    assert not sums[0].exists()  # moved into the cache (the work folder is gone too)
    result = _build(path, change)
    assert result.ran == ["mix", "export"]
    assert len(sums) == 1  # the kept pre-master was mastered: nothing summed
    kept = _output(path)
    fresh = _build(path, change, use_cache=False)
    assert fresh.ran[-2:] == ["mix", "export"] and len(sums) == 2
    assert _output(path) == kept  # every file and the lock, byte for byte


def test_a_changed_chain_or_stem_sums_again(write_recipe, project, sums):
    path = write_recipe(TINY)
    _build(path)
    _build(path, "master.effects=[{LowpassFilter: {cutoff_frequency_hz: 2000}}]")
    assert len(sums) == 2
    _build(path, "tracks.bass.gain_db=-6")
    assert len(sums) == 3
    _build(path, "tracks.bass.gain_db=-6", "master.loudness_lufs=-18")  # that stem's pre-master is kept
    assert len(sums) == 3
    assert len(_premaster_entries(project)) == 3


def test_a_corrupt_or_missing_premaster_is_summed_again(write_recipe, project, sums, capsys):
    path = write_recipe(TINY)
    _build(path)
    (digest,) = _premaster_entries(project)[0]["outputs"].values()
    obj = project / CACHE_DIR_NAME / "objects" / digest[:2] / digest[2:]
    obj.write_bytes(b"garbage" + obj.read_bytes()[7:])  # same size, wrong bytes
    _build(path, "master.loudness_lufs=-18")
    assert "corrupt" in capsys.readouterr().err and len(sums) == 2
    kept = _output(path)
    assert _build(path, "master.loudness_lufs=-18", use_cache=False) and _output(path) == kept
    (digest,) = _premaster_entries(project)[0]["outputs"].values()  # the new one, stored again
    (project / CACHE_DIR_NAME / "objects" / digest[:2] / digest[2:]).unlink()
    _build(path, "master.loudness_lufs=-17")
    assert len(sums) == 4  # the --no-cache build, and the missing one
    _build(path, "master.loudness_lufs=-15")
    assert len(sums) == 4  # stored again, whole


def test_without_the_cache_nothing_is_kept_and_a_prune_takes_the_premaster(write_recipe, project, sums):
    path = write_recipe(TINY)
    _build(path, use_cache=False)
    _build(path, "master.loudness_lufs=-18", use_cache=False)
    assert len(sums) == 2 and not (project / CACHE_DIR_NAME).exists()
    _build(path)
    assert len(sums) == 3 and _premaster_entries(project)
    Cache(project / CACHE_DIR_NAME).prune(0)  # LOFICTL_CACHE_MAX's prune: nothing is pinned
    assert not _premaster_entries(project)
    assert not [p for p in (project / CACHE_DIR_NAME / "objects").rglob("*") if p.is_file()]
    _build(path, "master.loudness_lufs=-18")
    assert len(sums) == 4


def test_a_corrupt_delivered_stem_is_written_again_when_the_master_changes(write_recipe, project, capsys):
    # Delivered stems are copied back on the export's threads; a damaged one is written again.
    path = write_recipe(LAYERED)
    _build(path)
    entries = [json.loads(p.read_text()) for p in (project / CACHE_DIR_NAME / "stages").glob("*.json")]
    delivered = [digest for e in entries for name, digest in e["outputs"].items() if name == "stem.wav"]
    assert len(delivered) == 5  # three tracks, the overlay and the bus
    for digest in delivered[:2]:
        obj = project / CACHE_DIR_NAME / "objects" / digest[:2] / digest[2:]
        obj.write_bytes(b"garbage" + obj.read_bytes()[7:])
    result = _build(path, "master.loudness_lufs=-18")
    assert result.ran == ["mix", "export"] and "corrupt" in capsys.readouterr().err
    kept = _output(path)
    _build(path, "master.loudness_lufs=-18", use_cache=False)
    assert _output(path) == kept
