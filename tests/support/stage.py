"""A small project whose build runs every kind of stage and reads every kind of file.

compose (progression, melody model, MIDI clip), midi, stem:* (with a Convolution impulse
response), dry:* (DAW dry stems), overlays (a file and a generator), bus (a send), mix, export.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np

from lofictl.pipeline.stages import STAGES
from support import REPO, write_clip

STAGE_TYPES = tuple(stage.name for stage in STAGES)  # the fixture runs every one of them

RECIPE = """\
lofictl: 1
title: Fixture
seed: 11
tempo: 96
key: D minor
length: 1 bar
tracks:
  chords:
    part: chords
    progression: "Dm9"
    send_db: -12
    effects:
      - Convolution: {impulse_response_filename: ir/room.wav, mix: 0.3}
  keys: {part: midi, file: clips/riff.mid}
{melody}overlays:
  - {file: effects/drops.wav, gain_db: -30}
  - {ambience: vinyl, gain_db: -30}
output: {daw: [reaper]}
"""
MELODY = """\
  melody:
    part: melody
    generate: {model: models/lofi-melody, seed: 3}
"""


def write_impulse_response(path: Path, seed: int = 0) -> None:
    from lofictl.sound import audio_io

    rng = np.random.default_rng(seed)
    decay = np.exp(-np.arange(2205) / 300.0)
    audio = (rng.standard_normal((2, 2205)) * decay).astype(np.float32) * 0.2
    path.parent.mkdir(parents=True, exist_ok=True)
    audio_io.write_wav(path, audio, 44100, "16bit")


def make_project(root: Path, *, melody: bool = True) -> Path:
    """The project in `root`; returns the recipe's path."""
    (root / "recipes").mkdir(parents=True, exist_ok=True)
    write_impulse_response(root / "effects" / "drops.wav", seed=5)  # an overlay file: any short sound
    if melody:
        shutil.copytree(REPO / "models" / "lofi-melody", root / "models" / "lofi-melody")
    write_impulse_response(root / "ir" / "room.wav")
    write_clip(root / "clips" / "riff.mid")
    path = root / "recipes" / "fixture.yaml"
    path.write_text(textwrap.dedent(RECIPE).replace("{melody}", MELODY if melody else ""))
    return path


def own_inputs(plan, cache) -> dict[str, dict]:
    """Every stage's inputs for a plan, as its step computes them, with placeholders for what
    other stages make (notes, kicks, stems, layers, the master) and the length in samples: what
    the recipe and its files contribute to each stage's key. Per-track stages by instance."""
    from lofictl import stage_names as names
    from lofictl.pipeline import inputs
    from lofictl.pipeline.plan import audible_tracks
    from lofictl.pipeline.stages import BUS_LABEL, overlay_label, stem_files

    recipe, n = plan.recipe, 1000
    tracks = list(recipe.tracks)
    labels = [overlay_label(recipe, i) for i in range(len(recipe.overlays))]
    sends = [t for t in audible_tracks(recipe) if recipe.tracks[t].send_db is not None]
    layers = {label: None for label in [*labels, *([BUS_LABEL] if sends else [])]}
    dry = {t: None for t in tracks} if recipe.output.daw and recipe.output.dry_stems else {}
    files = stem_files(plan, dict.fromkeys(tracks), layers, dry)
    found = {
        names.COMPOSE: inputs.compose_inputs(plan, cache),
        names.MIDI: inputs.midi_inputs(plan, "score"),
        **{
            names.of_track(names.STEM, t): inputs.stem_inputs(
                plan, t, "notes", n, cache, "kicks" if recipe.tracks[t].duck else None
            )
            for t in tracks
        },
        names.OVERLAYS: inputs.overlays_inputs(plan, n, cache, "kicks"),
        names.BUS: inputs.bus_inputs(plan, dict.fromkeys(sends, "stem"), n, cache),
        names.MIX: inputs.mix_inputs(
            plan, dict.fromkeys(audible_tracks(recipe), "stem"), dict.fromkeys(layers, "layer"), cache
        ),
        **{names.of_track(names.DRY, t): inputs.dry_inputs(plan, t, "notes", n, cache) for t in tracks},
        names.EXPORT: inputs.export_inputs(plan, "master", dict.fromkeys(files, "stem")),
    }
    assert {names.kind_of(name) for name in found} == set(names.ALL), "a stage is missing here"
    return found
