"""Albums: the file format and its errors, the plan, sequencing, chapters, tags read back by
mutagen and ffprobe, the cover, and a whole (tiny) album built and verified."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lofictl.album import chapters
from lofictl.album.plan import plan_album
from lofictl.album.schema import is_album_file, load_album
from lofictl.errors import LofictlError
from support import ALBUM, ALBUM_RECIPE, REPO, write_album


def error_of(path: Path) -> str:
    with pytest.raises(LofictlError) as info:
        plan_album(load_album(path))
    return str(info.value)


# --- the file format ------------------------------------------------------------------------


def test_album_file_is_recognised(tmp_path):
    path = write_album(tmp_path)
    assert is_album_file(path)
    assert not is_album_file(tmp_path / "recipes" / "tiny.yaml")


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            ("title: Test Album", "titel: Test Album"),
            "albums/test.yaml:2: titel: unknown key 'titel'; did you mean 'title'?",
        ),
        (("year: 2026", "year: 20266"), "albums/test.yaml:4: year: must be from 1900 to 2200 (got 20266)"),
        (("isrc: US-ABC-26-00001", "isrc: nope"), "albums/test.yaml:10: tracks.0.isrc: 'nope' is not an ISRC"),
        (("crossfade: 1 bar", "crossfade: 1 bar\ngap: 2s"), "albums/test.yaml:1: give crossfade or gap, not both"),
        (("crossfade: 1 bar", "crossfade: 4s"), "albums/test.yaml:7: crossfade: '4s' is not a number of bars"),
        (
            ("recipes/tiny.yaml, isrc", "recipes/tony.yaml, isrc"),
            "albums/test.yaml:10: tracks.0.recipe: 'recipes/tony.yaml' not found",
        ),
        (
            ("set: {tempo: 100}", "set: {tempo: 1000}"),
            "albums/test.yaml:11: tracks.1.set.tempo: must be from 20 to 300 (got 1000) (in tiny.yaml)",
        ),
        (
            ("count: 2,", "count: 2, seed: 4,"),
            "albums/test.yaml:11: tracks.1: with count, each track's seed is derived",
        ),
    ],
)
def test_mistakes_are_one_line_with_file_line_and_field(tmp_path, change, expected):
    path = write_album(tmp_path, ALBUM.format(extra="").replace(*change))
    message = error_of(path)
    assert message.replace(str(tmp_path) + "/", "").startswith(expected), message


def test_order_must_name_every_track_once(tmp_path):
    path = write_album(tmp_path, ALBUM.format(extra="order: [tiny-2, tiny, tiny-3]\n"))
    assert "no track named 'tiny-3'; did you mean 'tiny-2'?" in error_of(path)
    path.write_text(ALBUM.format(extra="order: [tiny-2, tiny]\n"))
    assert "the order leaves out tiny-1" in error_of(path)
    path.write_text(ALBUM.format(extra="order: [tiny-2, tiny-1, tiny]\n"))
    assert [t.name for t in plan_album(load_album(path))] == ["tiny-2", "tiny-1", "tiny"]


def test_cli_error_is_one_line_exit_2(tmp_path, monkeypatch):
    from lofictl.cli import app

    write_album(tmp_path, ALBUM.format(extra="").replace("year: 2026", "year: soon"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["album", "albums/test.yaml"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0, result.output
    assert "albums/test.yaml:4: year:" in result.output and "Traceback" not in result.output


# --- the plan -------------------------------------------------------------------------------


def test_plan_seeds_by_name_and_index(tmp_path):
    path = write_album(tmp_path)
    first = plan_album(load_album(path))
    assert [t.title for t in first] == ["Tiny Loop", "Loop 1", "Loop 2"]
    assert first[0].seed == 5 and first[0].isrc == "USABC2600001"  # the recipe's own seed; ISRC normalised
    assert first[1].seed != first[2].seed and "tempo=100" in first[1].overrides
    assert "master.loudness_lufs=-14.0" in first[0].overrides
    # Adding an entry in front changes no other track's seed (seeds derive by name, not position).
    path.write_text(
        ALBUM.format(extra="").replace("tracks:\n", "tracks:\n  - {recipe: recipes/tiny.yaml, name: intro, seed: 3}\n")
    )
    second = plan_album(load_album(path))
    assert [t.seed for t in second[1:]] == [t.seed for t in first]


def test_count_lets_pinned_seeds_follow_the_derived_seed(tmp_path):
    path = write_album(tmp_path)
    text = ALBUM_RECIPE.replace("drums: {part: drums,", "bass: {part: bass, seed: 9}\n  drums: {part: drums,")
    (tmp_path / "recipes" / "tiny.yaml").write_text(text)
    planned = plan_album(load_album(path))
    assert "tracks.bass.seed=null" in planned[1].overrides
    assert "tracks.bass.seed=null" not in planned[0].overrides  # a single entry keeps the recipe as written
    path.write_text(ALBUM.format(extra="").replace("count: 2,", "count: 2, keep_seeds: true,"))
    assert "tracks.bass.seed=null" not in plan_album(load_album(path))[1].overrides


def test_shuffle_and_tempo_orders(tmp_path):
    path = write_album(tmp_path, ALBUM.format(extra="order: tempo\n"))
    assert [t.tempo for t in plan_album(load_album(path))] == [100, 100, 120]
    path.write_text(ALBUM.format(extra="order: shuffle\n"))
    once, again = plan_album(load_album(path)), plan_album(load_album(path))
    assert [t.name for t in once] == [t.name for t in again]
    assert sorted(t.name for t in once) == ["tiny", "tiny-1", "tiny-2"]


# --- sequencing and chapters ----------------------------------------------------------------


def test_chapters_cue_and_youtube_format():
    rate = 44100
    items = chapters.marks(
        ["One", "Two", "Three"], "Me", ["USABC2600001", None, None], [17, 98 * rate, 294 * rate], 3700 * rate, rate
    )
    assert [round(m.start_s, 3) for m in items] == [0.0, 98.0, 294.0]  # the first chapter starts at zero
    assert chapters.youtube_chapters(items).splitlines() == ["0:00:00 One", "0:01:38 Two", "0:04:54 Three"]
    short = chapters.marks(["One", "Two"], "Me", [None, None], [0, 98 * rate], 200 * rate, rate)
    assert chapters.youtube_chapters(short) == "00:00 One\n01:38 Two\n"
    cue = chapters.cue_sheet("Album", "Me", "Lo-Fi", 2026, "mix.flac", items, "lofictl")
    assert 'FILE "mix.flac" WAVE' in cue and "ISRC USABC2600001" in cue
    assert "INDEX 01 01:38:00" in cue and "INDEX 01 04:54:00" in cue


# --- tags, read back ------------------------------------------------------------------------


def _loud_master(path: Path, seconds: float = 6.0) -> None:
    """A dense, limited master right at -1 dBTP: the case where MP3 peaks overshoot."""
    from lofictl.sound import audio_io, reference

    rng = np.random.default_rng(3)
    n = int(seconds * 44100)
    t = np.arange(n) / 44100
    audio = np.vstack([np.sin(2 * np.pi * 110 * t) * 0.5 + rng.standard_normal(n) * 0.3] * 2).astype(np.float32)
    limited, _ = reference.limit_true_peak(audio * 2, 44100, -1.0)
    audio_io.write_wav(path, limited, 44100)


def _ffprobe(path: Path, *entries: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *entries, str(path)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def test_tags_read_back_by_mutagen_and_ffprobe(tmp_path):
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3

    from lofictl.album.cover import as_cover, draw_cover
    from lofictl.export import encode, tags
    from lofictl.pipeline.verify import read_provenance

    master = tmp_path / "master.wav"
    _loud_master(master)
    art = as_cover(draw_cover("A", "B", 1, [], size=600))
    info = tags.Tags(
        title="Rainy Night",
        artist="Me",
        album="Nights",
        track=2,
        total=12,
        year=2026,
        genre="Lo-Fi",
        bpm=72,
        key="D minor",
        isrc="USABC2600001",
        provenance={"recipe": "r.yaml", "seed": "7"},
        loudness_lufs=-14.02,
        true_peak_dbtp=-1.0,
    )
    mp3, flac, wav = tmp_path / "t.mp3", tmp_path / "t.flac", tmp_path / "t.wav"
    stats = encode.encode_master(master, mp3, "mp3", 44100, ceiling_db=-1.0)
    assert stats["true_peak_dbtp"] <= -1.0 and encode.true_peak_of_file(mp3) <= 10 ** (-1 / 20)
    encode.encode_master(master, flac, "flac", 44100, ceiling_db=-1.0)
    encode.encode_master(
        master,
        wav,
        "wav",
        44100,
        ceiling_db=-1.0,
        wav_subtype="24bit",
        info=tags.wav_info(info),
        chunks=tags.bext_chunk(info, sample_rate=44100, bits=24),
    )
    for path in (mp3, flac, wav):
        tags.tag_file(path, info, art)

    id3 = ID3(mp3)
    assert id3.version == (2, 4, 0)
    assert [str(id3[f].text[0]) for f in ("TIT2", "TPE1", "TALB", "TRCK", "TBPM", "TKEY", "TSRC", "TDRC")] == [
        "Rainy Night",
        "Me",
        "Nights",
        "2/12",
        "72",
        "Dm",
        "USABC2600001",
        "2026",
    ]
    assert json.loads(id3.getall("COMM")[0].text[0]) == {"recipe": "r.yaml", "seed": "7"}
    assert id3.getall("APIC")[0].data == art.data
    vorbis = FLAC(flac)
    assert vorbis["TRACKNUMBER"] == ["2"] and vorbis["INITIALKEY"] == ["Dm"] and vorbis["BPM"] == ["72"]
    assert vorbis.pictures[0].data == art.data and vorbis.pictures[0].type == 3

    for path in (mp3, flac):
        probed = {k.lower(): v for k, v in _ffprobe(path, "-show_format")["format"]["tags"].items()}
        assert probed["title"] == "Rainy Night" and probed["artist"] == "Me" and probed["album"] == "Nights"
        assert read_provenance(path)["seed"] == "7"  # `lofictl inspect` reads FLAC and MP3 too
    probed = _ffprobe(wav, "-show_format")["format"]["tags"]
    # ffmpeg reads bext as: description → comment, originator → encoded_by, origination date → date
    assert probed["title"] == "Rainy Night" and probed["encoded_by"].startswith("lofictl ")
    assert probed["date"] == "2026-01-01" and probed["comment"] == "Rainy Night / Me / Nights"
    bext = tags.read_bext(wav)
    assert bext["loudness_lufs"] == -14.02 and bext["true_peak_dbtp"] == -1.0 and bext["version"] == 2
    assert read_provenance(wav)["bext.loudness_lufs"] == -14.02
    cover_stream = _ffprobe(mp3, "-show_streams")["streams"]
    assert any(s.get("disposition", {}).get("attached_pic") for s in cover_stream)


def test_id3_key_spelling():
    from lofictl.export.tags import id3_key

    assert [id3_key(k) for k in ("D minor", "F# major", "Eb dorian", "C lydian", "A phrygian")] == [
        "Dm",
        "F#",
        "Ebm",
        "C",
        "Am",
    ]


def test_cover_is_deterministic_and_reflects_the_music(tmp_path):
    import io

    from PIL import Image

    from lofictl.album.cover import SIZE, TrackMaterial, draw_cover

    material = [
        TrackMaterial("a", 8.0, (("melody", 0.0, 1.0, 60), ("chords", 2.0, 4.0, 55))),
        TrackMaterial("b", 8.0, (("bass", 1.0, 2.0, 40),)),
    ]
    once = draw_cover("Nights", "Me", 4, material)
    assert once == draw_cover("Nights", "Me", 4, material)
    assert once != draw_cover("Nights", "Me", 4, material[:1])  # other notes, other picture
    assert once != draw_cover("Nights", "Me", 5, material)  # other seed, other palette
    assert Image.open(io.BytesIO(once)).size == (SIZE, SIZE)


# --- a whole album --------------------------------------------------------------------------


def test_album_builds_tags_mix_video_and_verifies(tmp_path, monkeypatch, capsys):
    from mutagen.id3 import ID3
    from PIL import Image

    from lofictl.album.run import build_album, verify_album
    from lofictl.export.encode import true_peak_of_file

    path = write_album(tmp_path)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich takes stderr for a terminal: progress is shown
    result = build_album(path)
    # Each long step is reported on its own line once done (issue 26): the mix is no longer hidden
    # inside another step's label, and the video is a step of its own after it.
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", capsys.readouterr().err)  # without the terminal's codes
    said = [m.group(1).strip() for m in re.finditer(r"\[\s*[\d.]+s\] ([^\n\r]*)", shown)]
    steps = [
        next((i for i, line in enumerate(said) if line.startswith(start)), None)
        for start in (
            "3 tracks rendered",
            "cover drawn",
            "continuous mix: ",
            "the mix's tagged files: Test-Album_mix.flac, Test-Album_mix.mp3",
            "the video: Test-Album_mix.mp4",
        )
    ]
    assert None not in steps and steps.index(min(steps)) == 0, said
    assert steps[0] < min(steps[1], steps[2]) and steps[2] < min(steps[3], steps[4]), said
    assert any(line.startswith("3 tracks tagged and encoded") for line in said), said
    # One name per stage in the cache, the lock and safety.fingerprints.
    from lofictl.safety.fingerprints import version_of

    assert sorted(result.lock["stages"]) == [
        "album-cover",
        "album-encode:01",
        "album-encode:02",
        "album-encode:03",
        "album-encode:mix",
        "album-mix",
        "album-video",
    ]
    for name, record in result.lock["stages"].items():
        assert record["inputs"]["code.version"] == version_of(name.split(":")[0])
    assert sorted(result.ran) == sorted(result.lock["stages"]) and not result.restored
    monkeypatch.delenv("TTY_COMPATIBLE")
    folder = result.out_dir
    assert folder == tmp_path / "build" / "test"
    lock = json.loads((tmp_path / "albums" / "test.lock.json").read_text())
    assert lock == json.loads((folder / "build.json").read_text())
    names = sorted(lock["outputs"])
    assert names == [
        "cover.jpg",
        "mix/Test-Album_chapters.txt",
        "mix/Test-Album_mix.cue",
        "mix/Test-Album_mix.flac",
        "mix/Test-Album_mix.mp3",
        "mix/Test-Album_mix.mp4",
        "tracks/01_Tiny-Loop.flac",
        "tracks/01_Tiny-Loop.mp3",
        "tracks/02_Loop-1.flac",
        "tracks/02_Loop-1.mp3",
        "tracks/03_Loop-2.flac",
        "tracks/03_Loop-2.mp3",
    ]
    assert Image.open(folder / "cover.jpg").size == (3000, 3000)
    import io

    from mutagen.flac import FLAC

    inside = {ID3(folder / rel).getall("APIC")[0].data for rel in names if rel.endswith(".mp3")}
    inside |= {FLAC(folder / rel).pictures[0].data for rel in names if rel.endswith(".flac")}
    assert len(inside) == 1  # one small copy inside every file (issue 26: not the 3000-pixel JPEG)
    picture = inside.pop()
    assert len(picture) <= 500_000 and Image.open(io.BytesIO(picture)).size == (1000, 1000)
    for rel in names:
        if rel.endswith(".mp3"):
            assert true_peak_of_file(folder / rel) <= 10 ** (-1 / 20)
    id3 = ID3(folder / "tracks/02_Loop-1.mp3")
    assert str(id3["TRCK"].text[0]) == "2/3" and str(id3["TBPM"].text[0]) == "100"
    provenance = json.loads(id3.getall("COMM")[0].text[0])
    assert provenance["recipe"] == "tiny.yaml" and provenance["seed"] == str(lock["tracks"][1]["seed"])

    # The mix: three chapters in the MP4 and the MP3, at the CUE's times, at the loudness target.
    assert (folder / "mix/Test-Album_chapters.txt").read_text().splitlines()[0] == "00:00 Tiny Loop"
    probed = _ffprobe(folder / "mix/Test-Album_mix.mp4", "-show_chapters", "-show_streams")
    assert [c["tags"]["title"] for c in probed["chapters"]] == ["Tiny Loop", "Loop 1", "Loop 2"]
    codecs = {s["codec_type"]: s["codec_name"] for s in probed["streams"] if s["codec_type"] in ("video", "audio")}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert len(ID3(folder / "mix/Test-Album_mix.mp3").getall("CHAP")) == 3
    assert abs(lock["mix"]["loudness"]["integrated_lufs"] - (-14.0)) < 0.5
    assert lock["mix"]["loudness"]["true_peak_dbtp"] <= -1.0
    # Crossfades of one bar on the outgoing track's bar lines (2 bars at 120 BPM, then 100 BPM):
    # track 2 enters at 2 s and takes over at 3 s; track 3 enters at 4.4 s, takes over at 5.6 s.
    assert [c["start_s"] for c in lock["mix"]["chapters"]] == [0.0, 3.0, 5.6]
    assert lock["mix"]["duration_s"] == pytest.approx(2.0 + 2.4 + lock["tracks"][2]["duration_s"], abs=1e-4)

    # Each track's lock entry says how to rebuild it alone, and that gives the same master.
    from lofictl.pipeline.runner import build_recipe
    from lofictl.recipe.load import load_recipe

    second = lock["tracks"][1]
    single = build_recipe(
        load_recipe(tmp_path / second["recipe"], second["overrides"]), out_dir=tmp_path / "one", quiet=True
    )
    assert single.lock["stages"]["mix"]["outputs"]["master.wav"] == second["master_sha256"]

    # verify rebuilds from nothing and finds every byte the same, except what we tampered with here.
    lock_file = tmp_path / "albums" / "test.lock.json"
    lock["outputs"]["tracks/02_Loop-1.mp3"]["sha256"] = "0" * 64
    lock["tracks"][1]["recipe_sha256"] = "0" * 64
    lock_file.write_text(json.dumps(lock))
    capsys.readouterr()
    report = verify_album(path)
    assert capsys.readouterr().err == ""  # quiet: stderr is not a terminal
    assert not report["identical"] and report["differences"] == ["tracks/02_Loop-1.mp3"], report
    assert report["first_stage"] == "album-encode:02", report
    assert report["tracks_differing"] == []  # every master rebuilt identically
    assert "recipe recipes/tiny.yaml changed since the lock was written" in report["likely_causes"]


def test_a_damaged_or_foreign_album_lock_is_one_line_before_anything_is_built(tmp_path):
    from lofictl.album.run import verify_album

    path = write_album(tmp_path)
    lock = tmp_path / "albums" / "test.lock.json"
    lock.write_text(json.dumps({"lofictl_album_lock": 2, "outputs": {"cover.jpg": {"sha256": 5}}}))
    with pytest.raises(LofictlError, match="the lock file is damaged at outputs.cover.jpg.sha256"):
        verify_album(path)
    lock.write_text(json.dumps({"lofictl_lock": 1, "outputs": {}}))
    with pytest.raises(LofictlError, match=r"not a lofictl album lock \(no lofictl_album_lock version\)"):
        verify_album(path)
    lock.write_text(json.dumps({"lofictl_album_lock": 99, "outputs": {}}))
    with pytest.raises(LofictlError, match="lock format 99 is newer than this lofictl reads"):
        verify_album(path)
    assert not (tmp_path / "build").exists()


def test_the_readme_album_and_the_example_album_plan(tmp_path):
    repo = REPO
    readme = (repo / "README.md").read_text()
    block = readme.split("## Albums", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    example = plan_album(load_album(repo / "albums" / "late_nights.yaml"))
    assert len(example) == 12 and len({t.name for t in example}) == 12
    readme_album = repo / "albums" / f".readme-{tmp_path.name}.yaml"  # beside the example, so paths resolve
    try:
        readme_album.write_text(block)
        planned = plan_album(load_album(readme_album))
    finally:
        readme_album.unlink()
    assert [t.title for t in planned] == [
        "Rainy Night",
        "Slow Sunday",
        "After the Rain 1",
        "After the Rain 2",
        "After the Rain 3",
    ]


def test_a_single_build_tags_its_flac_and_mp3_and_keeps_the_mp3_under_the_ceiling(tmp_path):
    from mutagen.id3 import ID3

    from lofictl.export.encode import true_peak_of_file
    from lofictl.pipeline.runner import build_recipe
    from lofictl.pipeline.verify import read_provenance
    from lofictl.recipe.load import load_recipe

    (tmp_path / "recipes").mkdir()
    path = tmp_path / "recipes" / "tiny.yaml"
    path.write_text(ALBUM_RECIPE.replace("formats: [wav]", "formats: [flac, mp3]"))
    result = build_recipe(load_recipe(path), quiet=True)
    for name in ("tiny.flac", "tiny.mp3"):
        info = read_provenance(result.out_dir / name)
        assert info["recipe"] == "tiny.yaml" and info["seed"] == "5" and info["tag.title"] == "Tiny Loop"
    assert str(ID3(result.out_dir / "tiny.mp3")["TKEY"].text[0]) == "Am"
    peak = result.lock["outputs"]["tiny.mp3"]["true_peak_dbtp"]
    assert peak <= -1.0 and 20 * np.log10(true_peak_of_file(result.out_dir / "tiny.mp3")) == pytest.approx(
        peak, abs=1e-3
    )


def test_cache_prune_drops_least_recently_used_entries_first(tmp_path):
    import os

    from lofictl.pipeline.cache import Cache, parse_size

    cache = Cache(tmp_path / "cache")
    for index, size in enumerate((3000, 2000, 1000)):
        data = tmp_path / f"out{index}.bin"
        data.write_bytes(bytes([index]) * size)
        cache.store(f"key{index}", "stem", {"audio.wav": data})
        os.utime(cache._stage_path(cache.entry_key(f"key{index}", "stem")), (1000 + index, 1000 + index))
    (tmp_path / "cache" / "objects" / "zz").mkdir()
    (tmp_path / "cache" / "objects" / "zz" / "orphan").write_bytes(b"x" * 500)  # no entry needs it
    assert cache.lookup("key0", "stem") is not None  # key0 used now: the most recent, the last to go
    report = cache.prune(parse_size("3.5kB"))
    assert report == {"entries_removed": 2, "objects_removed": 3, "bytes_freed": 3500, "bytes_kept": 3000}
    assert (
        cache.lookup("key0", "stem") is not None
        and cache.lookup("key1", "stem") is None
        and cache.lookup("key2", "stem") is None
    )
    assert parse_size("2GB") == 2 * 10**9 and parse_size("1.5GiB") == int(1.5 * 2**30) and parse_size("10") == 10
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_cache_prune_command(tmp_path, monkeypatch):
    from lofictl.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["cache", "prune", "--max", "lots"])
    assert result.exit_code == 2 and "--max: 'lots' is not a size" in result.output
    result = CliRunner().invoke(app, ["cache", "prune", "--max", "1GB"])
    assert result.exit_code == 0 and "removed 0 stage entries" in " ".join(result.output.split())


def test_a_shared_fsspec_cache_serves_another_machine(tmp_path, monkeypatch):
    """Two 'machines' (two local caches) behind one fsspec store: the second restores everything."""
    import shutil

    from lofictl.album.run import build_album
    from lofictl.pipeline import runner as b
    from lofictl.pipeline import stages as build_stages
    from lofictl.sound import master, stems

    path = write_album(tmp_path, ALBUM.format(extra="").replace("video: {width: 320, height: 240}", "video: false"))
    shared = f"file://{tmp_path / 'shared'}"
    first = build_album(path, out_dir=tmp_path / "a", cache_dir=shared, quiet=True)
    assert list((tmp_path / "shared" / "stages").glob("*.json"))
    shutil.rmtree(tmp_path / ".lofictl-cache")  # the other machine starts with an empty local cache

    def must_not_run(*args, **kwargs):
        raise AssertionError("a stage ran although the shared cache had it")

    monkeypatch.setattr(build_stages, "compose_score", must_not_run)
    monkeypatch.setattr(stems, "render_stem_to_wav", must_not_run)
    monkeypatch.setattr(master, "mix_to_master_wav", must_not_run)  # the album's master
    monkeypatch.setattr(master, "sum_to_premaster_wav", must_not_run)  # a track's mix: its two steps
    monkeypatch.setattr(master, "master_premaster_wav", must_not_run)
    second = build_album(path, out_dir=tmp_path / "b", cache_dir=shared, quiet=True)
    assert b.lock_text(second.lock) == b.lock_text(first.lock)


def test_the_cover_inside_the_files_is_a_small_copy():
    import io

    from PIL import Image

    from lofictl.album.cover import as_cover, draw_cover, embedded

    full = as_cover(draw_cover("Nights", "Me", 4, []))
    assert full.width == 3000
    small = embedded(full)
    assert (small.width, small.height, small.mime) == (1000, 1000, "image/jpeg") and len(small.data) <= 500_000
    assert Image.open(io.BytesIO(small.data)).size == (1000, 1000)
    assert embedded(full) == small  # the same bytes every time
    tiny = as_cover(draw_cover("Nights", "Me", 4, [], size=600))
    assert embedded(tiny) is tiny  # already small: embedded as it is
