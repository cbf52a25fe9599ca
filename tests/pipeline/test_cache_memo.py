"""The cache's memos: small values costly to compute (a kit's digest), kept by what they depend on."""

from __future__ import annotations

from lofictl.pipeline.cache import Cache
from lofictl.pipeline.inputs import kit_sha256
from lofictl.sound import kits


def test_a_memo_is_computed_once_per_dependency_and_again_when_damaged(tmp_path):
    cache = Cache(tmp_path / "cache")
    calls = []

    def compute(value: str):
        return lambda: calls.append(value) or value

    assert cache.memo("thing", {"a": 1}, compute("one")) == "one"
    assert Cache(tmp_path / "cache").memo("thing", {"a": 1}, compute("other")) == "one"  # another process
    assert calls == ["one"]
    assert cache.memo("thing", {"a": 2}, compute("two")) == "two"  # what it depends on changed
    assert cache.memo("other-kind", {"a": 1}, compute("three")) == "three"
    for path in (tmp_path / "cache" / "memo").glob("*.json"):
        path.write_text("{ damaged")
    assert cache.memo("thing", {"a": 1}, compute("four")) == "four"
    assert Cache(None).memo("thing", {"a": 1}, compute("five")) == "five"  # no cache: nothing kept
    assert calls == ["one", "two", "three", "four", "five"]


def test_the_kits_digest_from_the_memo_is_the_drawn_one(tmp_path):
    cache = Cache(tmp_path / "cache")
    drawn = kits.kit_digest("dusty")
    assert kit_sha256("dusty", cache) == drawn
    assert len(list((tmp_path / "cache" / "memo").glob("*.json"))) == 1
    assert kit_sha256("dusty", Cache(tmp_path / "cache")) == drawn
    assert kit_sha256("dusty", Cache(None)) == drawn
