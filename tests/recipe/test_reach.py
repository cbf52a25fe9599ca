"""Every recipe field reaches the key of a stage it is marked for (recipe.reach).

The test walks every field of the schema (every model reachable from `Recipe`), changes it in a
recipe that sets every one of them to another valid value, and compares each stage's inputs
(support.stage.own_inputs, what the steps compute) before and after. A new field nobody marked,
or one marked for a stage that does not read it, fails here naming the field: the cache can then
not serve stale output for it.
"""

from __future__ import annotations

import copy
import shutil
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from lofictl.pipeline.cache import Cache
from lofictl.pipeline.plan import prepare
from lofictl.recipe import schema
from lofictl.recipe.load import parse_recipe_text
from lofictl.recipe.reach import mark_of
from lofictl.stage_names import kind_of
from support import REPO, write_clip
from support.stage import own_inputs, write_impulse_response

BASE = {
    "lofictl": 1,
    "title": "Reach",
    "seed": 5,
    "tempo": 90,
    "time_signature": "4/4",
    "key": "D minor",
    "length": {"bars": 6},
    "swing": 0.56,
    "swing_unit": "8th",
    "ending": "tonic",
    "harmony": "chords",
    "sections": [
        {"name": "A", "bars": 2, "tracks": ["chords", "melody"], "seed": 1, "loop": 2, "tempo": 92, "ramp": True},
        {"name": "B", "bars": 2, "repeat": "A"},
    ],
    "tracks": {
        "chords": {
            "part": "chords",
            "progression": "Dm9 G13",
            "instrument": {"soundfont": "FluidR3_GM.sf2", "preset": "Electric Piano 1"},
            "gain_db": -3.0,
            "pan": 0.1,
            "effects": [{"LowpassFilter": {"cutoff_frequency_hz": 3000}}],
            "send_db": -12.0,
            "duck": {"depth_db": 4.0, "release_ms": 150.0},
            "seed": 3,
            "humanize": {"timing_ms": 5.0, "velocity": 4, "strum_ms": 10.0},
            "style": "neo-soul",
        },
        "pads": {"part": "chords", "generate": {"model": "models/lofi-chords"}, "send_db": -20.0},
        "melody": {
            "part": "melody",
            "generate": {
                "model": "models/lofi-melody",
                "temperature": 0.9,
                "top_k": 5,
                "top_p": 0.9,
                "seed": 4,
                "max_overlap_15": 0.5,
            },
            "follow": "chords",
        },
        "bass": {"part": "bass", "follow": "chords"},
        "drums": {"part": "drums", "instrument": {"kit": "dusty"}, "dynamics": 0.3, "laid_back_ms": 5.0},
        "keys": {"part": "midi", "file": "clips/riff.mid"},
    },
    "overlays": [
        {
            "file": "effects/drops.wav",
            "gain_db": -30.0,
            "fade_in": 1.0,
            "fade_out": 1.0,
            "start": 0.5,
            "pan": 0.2,
            "duck": {"depth_db": 3.0},
            "effects": [{"HighpassFilter": {"cutoff_frequency_hz": 200}}],
        },
        {"ambience": "vinyl", "gain_db": -30.0},
    ],
    "master": {"effects": [{"Compressor": {"threshold_db": -18}}]},
    "output": {"daw": ["reaper"]},
}


def _set(path: str, value):
    def change(data: dict) -> None:
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value

    return change


def _many(*changes):
    def change(data: dict) -> None:
        for one in changes:
            one(data)

    return change


# Values the walk cannot make up (text, files, lists, a field that is unset): by path, with
# the numbers of list items and the track names of BASE.
CHANGES = {
    "title": _set("title", "Reach Two"),
    "time_signature": _set("time_signature", "3/4"),
    "key": _set("key", "E minor"),
    "length.seconds": _set("length", {"seconds": 30.0}),
    "harmony": _set("harmony", "keys"),
    "form": _many(_set("form", "i2A4"), _set("sections", None)),
    "sections.0.name": _many(_set("sections.0.name", "Z"), _set("sections.1.repeat", "Z")),
    "sections.0.bars": _many(_set("sections.0.bars", 3), _set("sections.1.bars", 3)),  # a repeat is as long
    "sections.0.tracks": _set("sections.0.tracks", ["chords"]),
    "sections.1.repeat": _set("sections.1.repeat", None),
    "tracks.chords.progression": _set("tracks.chords.progression", "Dm7 G7"),
    "tracks.chords.generate": _many(
        _set("tracks.chords.progression", None), _set("tracks.chords.generate", {"model": "models/lofi-chords"})
    ),
    "tracks.chords.loop": _set("tracks.pads.loop", 2),  # a generated chords track's
    # another part (a track's fields are the part's)
    "tracks.chords.part": _many(
        _set("tracks.chords", {"part": "bass"}),
        *(_set(field, "pads") for field in ("harmony", "tracks.melody.follow", "tracks.bass.follow")),
    ),
    "tracks.melody.part": _set("tracks.melody", {"part": "bass"}),
    "tracks.bass.part": _set("tracks.bass", {"part": "drums"}),
    "tracks.drums.part": _set("tracks.drums", {"part": "bass"}),
    "tracks.keys.part": _set("tracks.keys", {"part": "bass"}),
    "tracks.chords.instrument.soundfont": _set(
        "tracks.chords.instrument", {"soundfont": "Black_Pearl_4_LV2.sf2", "preset": "0:0"}
    ),
    "tracks.chords.instrument.preset": _set("tracks.chords.instrument.preset", "Vibraphone"),
    "tracks.chords.instrument.bank": _set("tracks.chords.instrument", {"bank": 0, "program": 11}),
    "tracks.chords.instrument.program": _set("tracks.chords.instrument", {"program": 11}),
    "tracks.drums.instrument.kit": _set("tracks.drums.instrument", {}),  # the only kit: a SoundFont's instead
    "tracks.chords.effects": _set("tracks.chords.effects", []),
    "tracks.pads.generate.model": _set("tracks.pads.generate.model", "models/baseline-chords"),
    "tracks.melody.follow": _set("tracks.melody.follow", "keys"),
    "tracks.bass.follow": _set("tracks.bass.follow", "keys"),
    "tracks.drums.pattern": _set("tracks.drums.pattern", "lazy"),
    "tracks.keys.file": _set("tracks.keys.file", "clips/other.mid"),
    "tracks.keys.track": _set("tracks.keys.track", 0),
    "tracks.keys.channel": _set("tracks.keys.channel", 0),
    "overlays.0.file": _set("overlays.0.file", "effects/other.wav"),
    "overlays.1.ambience": _set("overlays.1.ambience", "rain"),
    "overlays.0.effects": _set("overlays.0.effects", []),
    "master.effects": _set("master.effects", []),
    "master.bus": _set("master.bus", [{"Reverb": {"room_size": 0.5}}]),
    "output.dir": _set("output.dir", "elsewhere"),
    "output.formats": _set("output.formats", ["wav", "flac"]),
    "output.daw": _set("output.daw", ["dawproject"]),
    "output.stems": _many(_set("output.daw", []), _set("output.stems", False)),  # a DAW project needs stems
}


def _inner(annotation) -> list:
    """The types a field's annotation is made of (Optional, Annotated, unions, lists, dicts opened)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _inner(typing.get_args(annotation)[0])
    if origin in (typing.Union, list, dict) or str(origin) == "<class 'types.UnionType'>":
        return [t for arg in typing.get_args(annotation) for t in _inner(arg)]
    return [annotation]


def _models(annotation) -> list[type[BaseModel]]:
    return [t for t in _inner(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]


def _every_field() -> set[tuple[type, str]]:
    """(model, field) for every field of every model reachable from Recipe."""
    found: set[tuple[type, str]] = set()
    seen: set[type] = set()
    todo: list[type[BaseModel]] = [schema.Recipe]
    while todo:
        model = todo.pop()
        seen.add(model)
        for name, info in model.model_fields.items():
            found.add((model, name))
            todo.extend(m for m in _models(info.annotation) if m not in seen)
    return found


def _numbers(info) -> tuple[float | None, float | None, bool]:
    """A number field's bounds, and whether the lower one is strict (gt)."""
    bounds = {key: getattr(m, key) for m in info.metadata for key in ("ge", "gt", "le", "lt") if hasattr(m, key)}
    low = bounds.get("ge", bounds.get("gt"))
    high = bounds.get("le", bounds.get("lt"))
    return low, high, "gt" in bounds


def _made_up(model: type[BaseModel], field: str, value):
    """Another valid value of a field from its type, or None when only CHANGES can say."""
    info = model.model_fields[field]
    if isinstance(value, bool):
        return not value
    choices = [
        c
        for t in [info.annotation, *_inner(info.annotation)]
        if typing.get_origin(t) is typing.Literal
        for c in typing.get_args(t)
    ]
    if choices:
        others = [c for c in choices if c != value and type(c) is type(value)]
        return others[0] if others else None
    if isinstance(value, (int, float)):
        low, high, strict = _numbers(info)
        step = 1 if isinstance(value, int) else ((high - low) / 7 if low is not None and high is not None else 1.0)
        for candidate in (value + step, value - step):
            if (low is None or candidate > low or (candidate == low and not strict)) and (
                high is None or candidate <= high
            ):
                return round(candidate, 6) if isinstance(candidate, float) else candidate
    return None


class Walk:
    def __init__(self, root: Path):
        self.root = root
        self.cache = Cache(root / ".lofictl-cache")
        self.base = self.inputs(BASE)

    def inputs(self, data: dict) -> dict[str, dict]:
        path = self.root / "recipes" / "reach.yaml"
        loaded = parse_recipe_text(yaml.safe_dump(data, sort_keys=False), path)
        return own_inputs(prepare(loaded), self.cache)

    def changed(self, change) -> set[str]:
        data = copy.deepcopy(BASE)
        change(data)
        now = self.inputs(data)
        return {kind_of(n) for n in set(now) | set(self.base) if now.get(n) != self.base.get(n)}


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    root = tmp_path_factory.mktemp("reach")
    (root / "recipes").mkdir()
    shutil.copytree(REPO / "models" / "lofi-melody", root / "models" / "lofi-melody")
    shutil.copytree(REPO / "models" / "baseline-chords", root / "models" / "baseline-chords")
    shutil.copytree(REPO / "models" / "lofi-chords", root / "models" / "lofi-chords")
    write_impulse_response(root / "effects" / "drops.wav", seed=5)
    write_impulse_response(root / "effects" / "other.wav", seed=6)
    write_clip(root / "clips" / "riff.mid", (62, 65, 69))
    write_clip(root / "clips" / "other.mid", (60, 64, 67))
    return Walk(root)


def _owner(model: type, field: str) -> type:
    """The class that declares a field (TrackBase for every track's gain_db)."""
    return next(c for c in model.__mro__ if field in c.__dict__.get("__annotations__", {}))


def _occurrences():
    """(path, model, field, value, stages, mark) for each field of the schema: where BASE first
    sets it (or, when BASE leaves it unset everywhere, where it first appears)."""
    parts = {"chords": schema.ChordsTrack, "melody": schema.MelodyTrack, "bass": schema.BassTrack}
    parts |= {"drums": schema.DrumsTrack, "midi": schema.MidiTrack}
    full = schema.Recipe.model_validate(BASE).model_dump(mode="json")
    found = []
    opened: set = set()  # fields holding a model, walked inside where BASE sets them

    def visit(model: type[BaseModel], data: dict, prefix: str, inherited: frozenset[str]) -> None:
        for name, info in model.model_fields.items():
            path = f"{prefix}{name}"
            mark = mark_of(model, name)
            stages = mark.stages if mark is not None else inherited
            value = data.get(name)
            if model is schema.Recipe and name == "tracks":
                for track, spec in value.items():
                    visit(parts[spec["part"]], spec, f"tracks.{track}.", stages)
                continue
            sub = _models(info.annotation)
            if sub and value is not None:
                opened.add((_owner(model, name), name))
            if sub and isinstance(value, dict):
                visit(sub[0], value, f"{path}.", stages)
            elif sub and isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    visit(sub[0], item, f"{path}.{index}.", stages)
            else:
                found.append((path, model, name, value, stages, mark))

    visit(schema.Recipe, full, "", frozenset())
    first: dict = {}
    for occurrence in found:
        _, model, name, value, *_ = occurrence
        key = (_owner(model, name), name)
        if key in opened:
            continue
        if key not in first or (first[key][3] is None and value is not None):
            first[key] = occurrence
    return sorted(first.values(), key=found.index)


OCCURRENCES = _occurrences()


def test_the_walk_covers_every_field_of_the_schema():
    walked = {(_owner(model, name), name) for _, model, name, *_ in OCCURRENCES}
    every = {(_owner(m, f), f) for m, f in _every_field() if not _models(m.model_fields[f].annotation)}
    missing = sorted(f"{m.__name__}.{f}" for m, f in every - walked)
    assert not missing, f"BASE must set these (so the walk can change them): {missing}"


@pytest.mark.parametrize("occurrence", OCCURRENCES, ids=[o[0] for o in OCCURRENCES])
def test_changing_a_field_changes_the_key_of_a_stage_it_is_marked_for(walk, occurrence):
    path, model, name, value, stages, mark = occurrence
    assert stages or (mark is not None and mark.why), f"{path}: mark {model.__name__}.{name} with the stages it reaches"
    change = CHANGES.get(path)
    if change is None:
        other = _made_up(model, name, value)
        if other is None:
            assert mark is not None and mark.why, f"{path}: add to CHANGES another valid value for it"
            return  # one valid value (the format version)
        change = _set(path, other)
    changed = walk.changed(change)
    if not stages:
        assert not changed, f"{path} is marked as reaching no stage ({mark.why}), yet {changed} changed"
        return
    assert changed, f"{path}: no stage's key changed: the cache would serve stale output"
    assert stages <= changed, f"{path} is marked for {sorted(stages)} but only {sorted(changed)} changed"
