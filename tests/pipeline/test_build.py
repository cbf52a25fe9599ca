"""The build runner: stages and cache, lock, atomic output, parallel stems, verify, provenance."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lofictl.errors import LofictlError
from lofictl.pipeline import runner as b
from lofictl.pipeline import stages as build_stages
from lofictl.pipeline.batch import build_many
from lofictl.pipeline.verify import diff_recipe, read_provenance, verify_recipe
from lofictl.recipe.load import load_recipe
from support import REPO, SMALL_RECIPE
from support import file_hashes as hashes
from support import run_lofictl as _cli

TINY = SMALL_RECIPE.replace("length: 4 bars", "length: 2 bars")


@pytest.fixture
def spy(monkeypatch):
    """Counts calls of the functions that do a stage's real work."""
    calls = {"compose": 0, "render": 0}
    from lofictl.sound import stems

    compose, render = build_stages.compose_score, stems.render_stem_to_wav

    def counting_compose(*args, **kwargs):
        calls["compose"] += 1
        return compose(*args, **kwargs)

    def counting_render(*args, **kwargs):
        calls["render"] += 1
        return render(*args, **kwargs)

    monkeypatch.setattr(build_stages, "compose_score", counting_compose)
    monkeypatch.setattr(stems, "render_stem_to_wav", counting_render)
    return calls


@pytest.mark.parametrize("options", [{}, {"midi_only": True}], ids=["full", "midi-only"])
def test_the_progress_total_counted_from_the_stage_table_is_what_the_steps_advance(write_recipe, monkeypatch, options):
    from lofictl.pipeline import progress

    seen: list[progress.Progress] = []

    class Counted(progress.Progress):
        advanced = 0

        def advance(self) -> None:
            self.advanced += 1
            seen.append(self)
            super().advance()

    monkeypatch.setattr(progress, "Progress", Counted)
    path = write_recipe(TINY.replace("  drums:", "  bass2: {part: bass, send_db: -10}\n  drums:"))
    for _ in range(2):  # run, then restored from the cache
        seen.clear()
        b.build_recipe(load_recipe(path), quiet=True, **options)
        bar = seen[-1]
        assert bar.advanced == bar.total == build_stages.progress_total(load_recipe(path).recipe, **options)


def test_first_build_writes_outputs_and_lock(write_recipe):
    path = write_recipe(TINY)
    result = b.build_recipe(load_recipe(path), quiet=True)
    out = result.out_dir
    assert {"test_loop.wav", "midi/test_loop.mid", "stems/01_chords.wav", "pianoroll.png", "build.json"} <= set(
        hashes(out)
    )
    lock = json.loads(path.with_name("test_loop.lock.json").read_text())
    assert lock["lofictl_lock"] == 1
    assert lock["outputs"]["test_loop.wav"]["sha256"] == hashes(out)["test_loop.wav"]
    assert set(lock["seeds"]["tracks"]) == {"chords", "bass", "drums"}
    assert {"libfluidsynth", "pedalboard", "jax", "numpy", "platform"} <= set(lock["libraries"])
    assert lock["instruments"]["chords"]["sha256"] and lock["stages"]["compose"]["key"]
    assert lock["outputs"]["stems/01_chords.wav"]["duration_s"] == lock["outputs"]["test_loop.wav"]["duration_s"]
    assert abs(lock["loudness"]["integrated_lufs"] - (-16)) <= 0.5
    # stable formatting: written with sorted keys, so a rebuild's lock diff is only what changed
    text = path.with_name("test_loop.lock.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_stem_loudness_is_measured_once_where_the_stem_is_made(write_recipe, monkeypatch):
    # The stem, overlay and bus stages measure while they write; the export (also after a
    # master-only change, with the stems restored from the cache) takes their figures.
    from lofictl.sound import loudness

    measure = loudness.measure_loudness
    recipe = TINY.replace("pattern: boom-bap", "pattern: boom-bap\n    send_db: -12").replace(
        "master:", "overlays:\n  - {ambience: vinyl, gain_db: -30}\nmaster:"
    )
    path = write_recipe(recipe)

    def read_again(*args, **kwargs):
        raise AssertionError("a stem's loudness was measured again from its file")

    monkeypatch.setattr(loudness, "measure_loudness", read_again)
    for overrides in ((), ("master.loudness_lufs=-18",)):
        result = b.build_recipe(load_recipe(path, overrides=list(overrides)), quiet=True)
        lock = json.loads(path.with_name("test_loop.lock.json").read_text())
        stems = {rel: info for rel, info in lock["outputs"].items() if rel.startswith("stems/")}
        assert len(stems) == 5  # three tracks, the overlay and the reverb bus
        for rel, info in stems.items():
            assert info["integrated_lufs"] is not None and info["integrated_lufs"] == measure(result.out_dir / rel)


def test_rebuild_skips_unchanged_stages(write_recipe, spy):
    path = write_recipe(TINY)
    b.build_recipe(load_recipe(path), quiet=True)
    assert spy == {"compose": 1, "render": 3}
    result = b.build_recipe(load_recipe(path), quiet=True)
    assert spy == {"compose": 1, "render": 3}  # nothing ran again
    assert result.up_to_date and result.ran == []


def test_master_change_reruns_only_mix_and_export(write_recipe, spy):
    path = write_recipe(TINY)
    first = b.build_recipe(load_recipe(path), quiet=True)
    before = hashes(first.out_dir)
    result = b.build_recipe(
        load_recipe(path, ["master.effects=[{LowpassFilter: {cutoff_frequency_hz: 2000}}]"]), quiet=True
    )
    assert result.ran == ["mix", "export"]
    assert spy["render"] == 3 and spy["compose"] == 1
    assert any("master.effects" in reason for reason in result.reasons)
    after = hashes(result.out_dir)
    assert after["stems/01_chords.wav"] == before["stems/01_chords.wav"]
    assert after["test_loop.wav"] != before["test_loop.wav"]


def test_a_master_change_copies_the_delivered_stems_back_instead_of_writing_them(write_recipe, monkeypatch):
    from lofictl.sound import stream

    path = write_recipe(TINY)
    before = hashes(b.build_recipe(load_recipe(path), quiet=True).out_dir)
    written = []
    encode = stream.encode_wav_to
    monkeypatch.setattr(
        stream, "encode_wav_to", lambda src, dst, *a, **k: written.append(dst) or encode(src, dst, *a, **k)
    )
    lock_before = json.loads(path.with_name("test_loop.lock.json").read_text())
    result = b.build_recipe(load_recipe(path, ["master.loudness_lufs=-18"]), quiet=True)
    assert result.ran == ["mix", "export"]
    assert [Path(p).name for p in written] == ["test_loop.wav"]  # the master alone was written
    after = hashes(result.out_dir)
    assert {k: v for k, v in after.items() if k.startswith("stems/")} == {
        k: v for k, v in before.items() if k.startswith("stems/")
    }
    assert after["test_loop.wav"] != before["test_loop.wav"]
    lock = json.loads(path.with_name("test_loop.lock.json").read_text())
    assert lock["stages"]["export"]["meta"]["loudness"] == lock_before["stages"]["export"]["meta"]["loudness"]
    # a build without the cache writes them as before, to the same bytes
    written.clear()
    fresh = b.build_recipe(load_recipe(path, ["master.loudness_lufs=-18"]), quiet=True, use_cache=False)
    assert len(written) == 1 + sum(1 for k in after if k.startswith("stems/")) and hashes(fresh.out_dir) == after


def test_stems_false_writes_the_mix_alone_with_the_same_music(write_recipe, spy):
    path = write_recipe(TINY.replace("output: {formats: [wav]}", "output: {formats: [wav, flac]}"))
    full = hashes(b.build_recipe(load_recipe(path), quiet=True).out_dir)
    assert any(name.startswith("stems/") for name in full)
    result = b.build_recipe(load_recipe(path, ["output.stems=false"]), quiet=True)
    assert result.ran == ["export"] and spy["render"] == 3  # the music is not made again
    written = hashes(result.out_dir)
    assert not any(name.startswith("stems/") for name in written) and "test_loop.stems.json" not in written
    # the master's files carry the mix's provenance: what else is delivered leaves their bytes alone
    for name in ("test_loop.wav", "test_loop.flac", "midi/test_loop.mid", "pianoroll.png"):
        assert written[name] == full[name], name
    lock = json.loads(path.with_name("test_loop.lock.json").read_text())
    assert not any(name.startswith("stems/") for name in lock["outputs"])


def test_a_daw_project_without_stems_is_refused_naming_the_field(write_recipe):
    path = write_recipe(
        TINY.replace("output: {formats: [wav]}", "output: {formats: [wav], daw: [reaper], stems: false}")
    )
    done = _cli("validate", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = next(line for line in done.stderr.splitlines() if "a DAW project plays the stems" in line)
    assert "test_loop.yaml" in line and "output" in line


def test_track_change_rerenders_only_that_track(write_recipe, spy):
    path = write_recipe(TINY)
    b.build_recipe(load_recipe(path), quiet=True)
    result = b.build_recipe(load_recipe(path, ["tracks.bass.gain_db=-6"]), quiet=True)
    assert result.ran == ["stem:bass", "mix", "export"]
    assert spy["render"] == 4


def test_diff_names_changes_and_stages(write_recipe):
    path = write_recipe(TINY)
    b.build_recipe(load_recipe(path), quiet=True)
    assert diff_recipe(path)["rerun"] == []
    report = diff_recipe(path, ["master.loudness_lufs=-18"])
    assert report["rerun"] == ["mix", "export"]
    mix = next(s for s in report["stages"] if s["stage"] == "mix")
    assert mix["changed"] == ["master.loudness_lufs"]
    assert "stem:drums" in diff_recipe(path, ["tracks.drums.pattern=lazy"])["rerun"]


def test_corrupt_cache_entry_is_discarded_and_rebuilt(write_recipe, project, capsys):
    path = write_recipe(TINY)
    first = hashes(b.build_recipe(load_recipe(path), quiet=True).out_dir)
    for obj in (project / ".lofictl-cache" / "objects").rglob("*"):
        if obj.is_file() and obj.stat().st_size > 100_000:
            obj.write_bytes(b"garbage" + obj.read_bytes()[7:])  # same size, wrong bytes
    shutil.rmtree(project / "build")
    result = b.build_recipe(load_recipe(path), quiet=True)
    assert hashes(result.out_dir) == first
    assert "corrupt" in capsys.readouterr().err


def test_unwritable_cache_warns_and_builds(write_recipe, project, capsys):
    (project / ".lofictl-cache").write_text("a file where the cache folder should be")
    result = b.build_recipe(load_recipe(write_recipe(TINY)), quiet=True)
    assert (result.out_dir / "test_loop.wav").exists()
    assert "building without it" in capsys.readouterr().err


def test_jobs_two_equals_jobs_one(write_recipe, project):
    # Two threads: stems (a kit, and FluidSynth sharing one SoundFont), the limiter's frames, the
    # encoders and the MP3's true-peak check; the same files as one thread.
    recipe = TINY.replace("pattern: boom-bap", "pattern: boom-bap\n    instrument: {kit: dusty}")
    path = write_recipe(recipe.replace("output: {formats: [wav]}", "output: {formats: [wav, mp3]}"))
    one = b.build_recipe(load_recipe(path), out_dir=project / "one", jobs=1, quiet=True, use_cache=False)
    two = b.build_recipe(load_recipe(path), out_dir=project / "two", jobs=2, quiet=True, use_cache=False)
    assert hashes(one.out_dir) == hashes(two.out_dir)


def test_batch_rejects_two_recipes_writing_one_folder(write_recipe):
    text = TINY.replace("output: {formats: [wav]}", "output: {formats: [wav], dir: build/shared}")
    first = write_recipe(text, name="a")
    second = write_recipe(text, name="b")
    with pytest.raises(LofictlError, match="both write to"):
        build_many([first, second], overrides=[], out_dir=None, midi_only=False, jobs=2, use_cache=True, quiet=True)


def test_lock_from_a_newer_format_is_refused(write_recipe):
    path = write_recipe(TINY)
    path.with_name("test_loop.lock.json").write_text(json.dumps({"lofictl_lock": 99}))
    with pytest.raises(LofictlError, match="newer"):
        b.build_recipe(load_recipe(path), quiet=True)


def test_provenance_in_wav_and_midi(write_recipe):
    path = write_recipe(TINY)
    out = b.build_recipe(load_recipe(path), quiet=True).out_dir
    for file in ("test_loop.wav", "stems/02_bass.wav", "midi/test_loop.mid", "midi/drums.mid"):
        info = read_provenance(out / file)
        assert info["recipe"] == "test_loop.yaml" and info["seed"] == "7", file
    assert read_provenance(out / "stems/02_bass.wav")["track"] == "bass"


def test_verify_identical_then_different(write_recipe):
    path = write_recipe(TINY)
    b.build_recipe(load_recipe(path), quiet=True)
    assert verify_recipe(path)["identical"]
    lock_path = path.with_name("test_loop.lock.json")
    lock = json.loads(lock_path.read_text())
    lock["outputs"]["stems/02_bass.wav"]["sha256"] = "0" * 64
    lock["stages"]["stem:bass"]["outputs"]["audio.wav"] = "0" * 64
    lock["libraries"]["pedalboard"] = "0.0.1"
    lock_path.write_text(json.dumps(lock))
    report = verify_recipe(path)
    assert not report["identical"] and report["differences"] == ["stems/02_bass.wav"]
    assert report["first_stage"] == "stem:bass"
    assert any("pedalboard" in cause for cause in report["likely_causes"])


def test_killed_build_keeps_previous_outputs_and_lock(write_recipe, project):
    path = write_recipe(SMALL_RECIPE)
    assert _cli("build", "-q", path, cwd=project).returncode == 0
    out = project / "build" / "test_loop"
    before = hashes(out)
    lock_before = path.with_name("test_loop.lock.json").read_bytes()
    # change the sound so the next build has real work to do, then kill it mid-way
    process = subprocess.Popen(
        [sys.executable, "-m", "lofictl", "build", "-q", "--no-cache", str(path), "--set", "master.loudness_lufs=-20"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while (
        time.time() < deadline
        and not list((project / "build").glob(".test_loop.tmp-*/stems"))
        and not list((project / "build").glob(".test_loop.tmp-*/.work/stem-*"))
    ):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert hashes(out) == before
    assert path.with_name("test_loop.lock.json").read_bytes() == lock_before
    result = _cli("build", "-q", path, cwd=project)
    assert result.returncode == 0, result.stderr
    assert not list((project / "build").glob(".test_loop.*")), "temporary folders are cleaned up"


@pytest.mark.live  # every example recipe built at full length, then verified
def test_every_example_recipe_verifies_in_a_fresh_process(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(REPO / "recipes", project / "recipes", ignore=shutil.ignore_patterns("*.lock.json"))
    for folder in ("models", "effects"):
        if (REPO / folder).exists():
            shutil.copytree(REPO / folder, project / folder)
    files = sorted((project / "recipes").glob("*.yaml"))  # station.yaml too: build and verify skip it
    recipes = [path for path in files if path.name != "station.yaml"]
    result = _cli("build", "-q", "--jobs", "2", *files, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stderr and "a radio station" in result.stderr
    result = _cli("verify", *files, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("identical") == len(recipes)
    for recipe in recipes:  # and diff agrees with the build: nothing would re-run
        result = _cli("diff", "--json", recipe, cwd=project)
        assert result.returncode == 0 and json.loads(result.stdout)["rerun"] == [], (recipe.name, result.stdout)
    for recipe in recipes:  # levels: at the loudness target, under the true-peak ceiling
        lock = json.loads(recipe.with_name(recipe.stem + ".lock.json").read_text())
        loudness = lock["loudness"]
        assert abs(loudness["integrated_lufs"] - loudness["target_lufs"]) <= 0.5, recipe.name
        assert loudness["true_peak_dbtp"] <= loudness["true_peak_ceiling_db"] + 1e-6, recipe.name
        stems = [info for rel, info in lock["outputs"].items() if rel.startswith("stems/")]
        assert stems and all(info["integrated_lufs"] is not None for info in stems), "no stem is silent"
        # The ambience bed is heard under the music, not over it: 18-28 LU below it, a vinyl
        # crackle no more than 28 LU under (audible), and below the music in every band from
        # 250 Hz to 8 kHz (where the music lives). The drums keep their crack and hats.
        from lofictl.sound.spectra import build_report

        report = build_report(project / "build" / recipe.stem)
        bed = report.get("bed_vs_music")
        if bed is not None:
            assert 18 <= bed["below_lu"] <= 28, (recipe.name, bed["below_lu"])
            assert all(bed["band_gap_db"][band] > 0 for band in ("lowmid", "mid", "presence")), (recipe.name, bed)
            for name, below in report["overlays_below_lu"].items():
                assert not name.endswith("-vinyl") or below <= 28, (recipe.name, name, below)
        drums = report["stems"].get("drums")
        if drums is not None:
            assert drums.bands["mid"] + drums.bands["presence"] >= 0.10, (recipe.name, drums.bands)


def test_send_bus_is_a_stage_and_a_stem(write_recipe):
    text = TINY.replace(
        "      - LowpassFilter: {cutoff_frequency_hz: 3200}\n",
        "      - LowpassFilter: {cutoff_frequency_hz: 3200}\n    send_db: -8\n",
    )
    path = write_recipe(text)
    first = b.build_recipe(load_recipe(path), quiet=True)
    assert "bus" in first.ran and (first.out_dir / "stems" / "04_reverb-bus.wav").exists()
    again = b.build_recipe(load_recipe(path, ["tracks.chords.send_db=-4"]), quiet=True)
    assert again.ran == ["bus", "mix", "export"]
    quieter = b.build_recipe(
        load_recipe(path, ["master.bus=[{Reverb: {room_size: 0.2, wet_level: 1.0, dry_level: 0.0}}]"]), quiet=True
    )
    assert quieter.ran == ["bus", "mix", "export"]


def test_kick_duck_gain_shape_and_blocks():
    from lofictl.sound.mix import kick_duck_gain

    kicks = np.array([1000, 5000])
    whole = kick_duck_gain(kicks, 0, 8000, 44100, 6.0, 30.0)
    assert whole[:1000].min() == 1.0  # nothing before the first kick
    floor = 10 ** (-6 / 20)
    assert abs(whole[1000 + 176] - floor) < 1e-3  # down by depth_db once the 4 ms ramp is done
    assert whole[4999] > 0.95  # back after the release
    parts = np.concatenate(
        [kick_duck_gain(kicks, 0, 3333, 44100, 6.0, 30.0), kick_duck_gain(kicks, 3333, 8000 - 3333, 44100, 6.0, 30.0)]
    )
    assert np.array_equal(parts, whole)  # the same whatever the block


def test_ducked_track_dips_under_the_kick(write_recipe):
    from lofictl.sound import audio_io

    path = write_recipe(TINY)
    plain = b.build_recipe(load_recipe(path), quiet=True, out_dir=path.parent.parent / "plain")
    ducked = b.build_recipe(
        load_recipe(path, ["tracks.chords.duck={depth_db: 12}"]), quiet=True, out_dir=path.parent.parent / "ducked"
    )
    assert ducked.ran[:1] == ["stem:chords"] and "stem:bass" not in ducked.ran
    a = audio_io.read_audio(plain.out_dir / "stems/01_chords.wav")[0]
    d = audio_io.read_audio(ducked.out_dir / "stems/01_chords.wav")[0]
    ratio = np.abs(d).max(axis=0)[np.abs(a).max(axis=0) > 1e-3] / np.abs(a).max(axis=0)[np.abs(a).max(axis=0) > 1e-3]
    assert ratio.min() < 10 ** (-11 / 20) and ratio.max() <= 1.0 + 1e-6


MELODY = """\
  melody:
    part: melody
    generate: {model: models/lofi-melody, temperature: 0.9, seed: 3, max_overlap_15: 0.02}
"""


def _with_models(project):
    shutil.copytree(REPO / "models" / "lofi-melody", project / "models" / "lofi-melody")


def test_melody_measures_in_the_lock(write_recipe, project):
    _with_models(project)
    path = write_recipe(TINY.replace("  bass:\n", MELODY + "  bass:\n", 1))
    result = b.build_recipe(load_recipe(path), quiet=True, midi_only=True)
    measures = result.lock["melody_measures"]["melody"]["main"]
    assert measures["overlap_15"] is not None and measures["overlap_15"] <= 0.02
    assert 0 <= measures["chord_tone_share"] <= 1 and measures["resamples"] == 0


GATED = """\
  melody:
    part: melody
    low: 62  # a range given: played where the model wrote it (no octave lift), so the MIDI read
    high: 84  # back as training data has the pitches the gate measures
    generate:
      model: models/copycat
      temperature: {temperature}
      seed: 3{gate}
"""


def _gated_recipe(write_recipe, temperature, gate=None):
    """8 bars: enough notes for 15-note windows (a shorter melody has none, so cannot copy one)."""
    gate_line = "" if gate is None else f"\n      max_overlap_15: {gate}"
    text = SMALL_RECIPE.replace("length: 4 bars", "length: 8 bars")
    return write_recipe(
        text.replace("  bass:\n", GATED.format(temperature=temperature, gate=gate_line) + "  bass:\n", 1)
    )


def _train_copycat(project, pieces, summary=None):
    """A tiny melody model whose training data is `pieces` (its weights depend on the seed only,
    so retraining it on other pieces changes its n-gram index, not what it plays)."""
    from lofictl.models.train import loop

    config = loop.TrainConfig(kind="melody", hidden=16, layers=1, embed=8, seq_len=16, batch_size=4)
    loop.write_untrained(pieces, config, project / "models" / "copycat", summary or {"corpus": "test"})


def _copy_into_training_data(project, result):
    """Make the melody a build just wrote the model's whole training data."""
    from lofictl.models.train import corpus

    folder = project / "copied"
    folder.mkdir(exist_ok=True)
    shutil.copy(result.out_dir / "midi" / "melody.mid", folder / "melody.mid")
    pieces, summary = corpus.load_corpus(str(folder), use_cache=False)
    _train_copycat(project, pieces, summary)


def _gate_line(path) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "max_overlap_15" in text)


def test_originality_gate_resamples_a_melody_that_copies_the_training_data(write_recipe, project):
    from lofictl.models.train import corpus

    _train_copycat(project, corpus.synthetic_pieces(3))
    first = b.build_recipe(
        load_recipe(_gated_recipe(write_recipe, 1.0)), quiet=True, midi_only=True, out_dir=project / "first"
    )
    made = first.lock["melody_measures"]["melody"]["main"]
    assert made["overlap_15"] == 0.0 and made["windows"]["15"] > 0
    _copy_into_training_data(project, first)
    path = _gated_recipe(write_recipe, 1.0, gate=0.0)
    result = b.build_recipe(load_recipe(path), quiet=True, midi_only=True, use_cache=False)
    measures = result.lock["melody_measures"]["melody"]["main"]
    assert measures["resamples"] >= 1 and measures["overlap_15"] == 0.0
    assert measures["rejected"][0] == {
        "seed": first.lock["melody_measures"]["melody"]["main"]["seed"],
        "overlap_15": 1.0,
    }
    assert (result.out_dir / "midi" / "melody.mid").read_bytes() != (first.out_dir / "midi" / "melody.mid").read_bytes()


def _ignore_the_seed(model):
    """Make the model play one melody whatever the seed, as a model that has learned its
    training data by heart does: pitch logits scaled up until sampling is greedy, every note an
    eighth at one velocity, no rests (so eight bars hold 64 notes, plenty of 15-note windows)."""
    import numpy as np

    from lofictl.models import tokens
    from lofictl.models.nn import checkpoint

    meta, params = checkpoint.load(model)
    layers = {k: dict(v) for k, v in params["params"].items()}
    layers["head_0"] = {
        "kernel": np.asarray(layers["head_0"]["kernel"]) * 1e5,
        "bias": np.asarray(layers["head_0"]["bias"]) * 1e5,
    }
    layers["head_0"]["bias"][tokens.REST] = -1e9
    eighth = np.full(tokens.N_DURATION, -1e4, np.float32)
    eighth[1 + tokens.DURATION_TICKS.index(6)] = 1e4
    layers["head_1"] = {"kernel": np.zeros_like(layers["head_1"]["kernel"]), "bias": eighth}
    loud = np.full(tokens.N_VELOCITY, -1e4, np.float32)  # velocities feed back as input: fix them too
    loud[1] = 1e4
    layers["head_2"] = {"kernel": np.zeros_like(layers["head_2"]["kernel"]), "bias": loud}
    checkpoint.save(
        model, {"params": layers}, {k: v for k, v in meta.items() if k not in ("format", "version", "weights")}
    )


def test_originality_gate_fails_with_exit_2_when_every_resample_copies(write_recipe, project):
    from lofictl.models.train import corpus

    _train_copycat(project, corpus.synthetic_pieces(3))
    _ignore_the_seed(project / "models" / "copycat")
    first = b.build_recipe(
        load_recipe(_gated_recipe(write_recipe, 1.0)), quiet=True, midi_only=True, out_dir=project / "first"
    )
    _copy_into_training_data(project, first)
    _ignore_the_seed(project / "models" / "copycat")
    path = _gated_recipe(write_recipe, 1.0, gate=0.0)
    result = subprocess.run(
        [sys.executable, "-m", "lofictl", "build", str(path), "--midi-only"],
        capture_output=True,
        text=True,
        cwd=project,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    message = " ".join((result.stdout + result.stderr).split())
    assert f"test_loop.yaml:{_gate_line(path)}: tracks.melody.generate.max_overlap_15:" in message
    import re

    share = float(re.search(r"shares ([0-9.]+)% of its 15-note windows", message).group(1))
    assert share > 90 and "after 8 re-samples" in message  # (the swung MIDI read back differs in a note)
    assert "Traceback" not in message
    assert not (project / "recipes" / "test_loop.lock.json").exists()  # nothing half-written


def test_gate_errors_point_at_the_max_overlap_15_line(write_recipe, project):
    from lofictl.models.train import corpus

    _train_copycat(project, corpus.synthetic_pieces(3))
    model = project / "models" / "copycat"
    (model / "ngrams.npy").unlink()  # an old model: no index
    path = _gated_recipe(write_recipe, 1.0, gate=0.02)
    where = f"test_loop.yaml:{_gate_line(path)}: tracks.melody.generate.max_overlap_15:"
    with pytest.raises(LofictlError, match="no n-gram index") as info:
        b.prepare(load_recipe(path))
    assert where in str(info.value) and "eval-index" in str(info.value)
    _train_copycat(project, corpus.synthetic_pieces(3))
    meta = json.loads((model / "model.json").read_text())
    meta["data"]["train_pieces_sha256"] = "0" * 64  # retrained on other data since the index was built
    (model / "model.json").write_text(json.dumps(meta))
    with pytest.raises(LofictlError, match="other training data") as info:
        b.prepare(load_recipe(path))
    assert where in str(info.value)
    from lofictl.models.train import loop

    loop.write_untrained(
        corpus.synthetic_pieces(3),
        loop.TrainConfig(kind="chords", arch="chord-lstm", hidden=16, layers=1, embed=8),
        project / "models" / "cc",
    )
    chords_gate = TINY.replace(
        '    progression: "Dm9 G13 Cmaj9 A7b9"\n', "    generate: {model: models/cc, max_overlap_15: 0.1}\n"
    )
    path = write_recipe(chords_gate)
    with pytest.raises(LofictlError, match="only melody tracks") as info:
        b.prepare(load_recipe(path))
    assert f"test_loop.yaml:{_gate_line(path)}: tracks.chords.generate.max_overlap_15:" in str(info.value)


DIFF_RECIPE = TINY.replace(
    "      - LowpassFilter: {cutoff_frequency_hz: 3200}\n",
    "      - LowpassFilter: {cutoff_frequency_hz: 3200}\n    send_db: -8\n    duck: {depth_db: 4}\n",
).replace(
    "output: {formats: [wav]}",
    "overlays:\n  - {ambience: vinyl, gain_db: -30, duck: {depth_db: 3}}\noutput: {formats: [wav], daw: [dawproject]}",
)


def test_diff_predicts_exactly_what_build_runs(write_recipe):
    # A recipe with every kind of stage: ducking (the kick feeds stems and overlays), a send
    # bus, an overlay, dry stems and a DAW project. Each edit is diffed, then built.
    path = write_recipe(DIFF_RECIPE)
    b.build_recipe(load_recipe(path), quiet=True)
    assert diff_recipe(path)["rerun"] == [], "right after a build nothing is predicted"
    for edit in (
        ["master.loudness_lufs=-18"],
        ["tracks.chords.duck.depth_db=8"],
        ["tracks.drums.pattern=lazy"],
        ["tracks.bass.gain_db=-3", "overlays.0.gain_db=-24"],
        ["output.formats=[wav, flac]"],
    ):
        predicted = diff_recipe(path, edit)["rerun"]
        ran = b.build_recipe(load_recipe(path, edit), quiet=True).ran
        assert sorted(predicted) == sorted(ran), edit
        assert diff_recipe(path, edit)["rerun"] == [], edit
