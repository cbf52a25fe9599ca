"""A blind listening test: its file, and the excerpts every listener hears.

    lofictl_listen_test: 1
    title: Melody models, blind
    seed: 7                          # item seeds, hashed names and each listener's order
    design: ab                       # ab (pairwise preference) or mushra
    excerpt: {start: 8s, length: 10s}
    loudness_lufs: -23               # every excerpt at this integrated loudness (BS.1770)
    items: 2                         # songs per system: recipe systems are built with seed S_k each
    systems:
      - {name: lofi-melody, recipe: recipes/rainy_night.yaml}
      - {name: baseline, recipe: recipes/rainy_night.yaml,
         set: {tracks.melody.generate.model: models/baseline-melody}}
      - {name: take, audio: [takes/one.wav, takes/two.wav]}      # an audio file per item
    reference: lofi-melody           # mushra: the open and the hidden reference
    anchor_lowpass_hz: 3500          # mushra: the low anchor, the reference low-passed

The protocol (after ITU-R BS.1534-3 for MUSHRA, and the same rules for A/B): each item is the
same excerpt (start, length) of every system, cut from a build whose seed is the item's (so the
systems play the same song), with 20 ms fades, and brought to one integrated loudness; every
recipe system plays the same SoundFonts (checked), so a comparison is of the music, not the
instrument. The page names excerpts by hashes and orders trials, sides and stimuli by a
generator seeded with the test's seed and the listener's id: stable for a listener, different
between listeners.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from lofictl.errors import LofictlError, raise_all
from lofictl.recipe.load import project_root_for
from lofictl.recipe.messages import validation_errors
from lofictl.recipe.schema import Strict, parse_seconds
from lofictl.recipe.yamlfile import FieldPath, Positions, read_yaml

FORMAT_VERSION = 1
FADE_S = 0.02
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+-]{0,39}$")
PLAN = "plan.json"
LAYOUT = re.compile(r"plan\.json|answers\.sqlite(-wal|-shm|-journal)?|excerpts/[0-9a-f]{16}\.wav|builds/.+")


class System(Strict):
    name: str = Field(description="What the results call it (the page never shows it)")
    recipe: str | None = Field(None, description="A recipe file; built with each item's seed")
    set: dict[str, Any] = Field(default_factory=dict, description="Overrides of the recipe, field: value")
    audio: str | list[str] | None = Field(None, description="An audio file, or one per item")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError("a name of 1 to 40 letters, digits, spaces and _ . + -")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "System":
        if (self.recipe is None) == (self.audio is None):
            raise ValueError("give a recipe (with set: overrides) or audio, one of the two")
        if self.audio is not None and self.set:
            raise ValueError("set: overrides a recipe; an audio system has none")
        return self


class Excerpt(Strict):
    start: float = Field(0.0, ge=0, description="Where the excerpt starts, e.g. 8s")
    length: float = Field(gt=0, le=60, description="How long, e.g. 10s (BS.1534 suggests at most 10-12 s)")

    @field_validator("start", "length", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        return parse_seconds(value)


class ListenTest(Strict):
    lofictl_listen_test: Literal[1] = Field(description="The test file's format version")
    title: str = Field(min_length=1, max_length=120)
    seed: int = Field(ge=0, le=2**63 - 1, description="Seeds the items, the hashed names and the orders")
    design: Literal["ab", "mushra"] = Field(description="ab: pairwise preference; mushra: scores 0-100")
    systems: list[System] = Field(min_length=2, max_length=12)
    excerpt: Excerpt
    loudness_lufs: float = Field(-23.0, ge=-40, le=-10, description="Every excerpt's integrated loudness")
    items: int = Field(1, ge=1, le=10, description="Songs per system (each a seed of the recipes)")
    reference: str | None = Field(None, description="mushra: the system that is the (hidden) reference")
    anchor_lowpass_hz: float = Field(3500.0, ge=500, le=10000, description="mushra: the low anchor's cutoff")
    database: str | None = Field(None, description="Where answers go (default build/listen-test/NAME/answers.sqlite)")


@dataclass(frozen=True)
class LoadedTest:
    test: ListenTest
    path: Path
    positions: Positions

    def error(self, message: str, field: FieldPath) -> LofictlError:
        return LofictlError(
            message, file=self.path, line=self.positions.line_of(field), field=".".join(str(p) for p in field)
        )

    @property
    def name(self) -> str:
        from lofictl.safety.names import build_name

        return build_name(self.path.name.removesuffix(".yaml").removesuffix(".yml"), self.test.title)

    @property
    def project_root(self) -> Path:
        """A test in a `listening/` folder belongs to the project above it, as a recipe in recipes/."""
        folder = self.path.resolve().parent
        return folder.parent if folder.name == "listening" else project_root_for(self.path)

    @property
    def project_file(self) -> str:
        return self.path.resolve().relative_to(self.project_root).as_posix()

    @property
    def folder(self) -> Path:
        return self.project_root / "build" / "listen-test" / self.name

    @property
    def database_path(self) -> Path:
        if self.test.database is None:
            return self.folder / "answers.sqlite"
        return self.resolve(self.test.database, ("database",), must_exist=False)

    def resolve(self, value: str, field: FieldPath, *, must_exist: bool = True) -> Path:
        from lofictl.safety.paths import PathRefused, confine

        root = self.project_root
        try:
            return confine(value, bases=[self.path.resolve().parent, root], roots=[root], must_exist=must_exist)
        except PathRefused as exc:
            raise self.error(exc.message, field) from None

    @property
    def judged(self) -> list[str]:
        """The systems a listener judges as such (in MUSHRA the reference is heard as the hidden one)."""
        return [s.name for s in self.test.systems if s.name != self.test.reference]


def load_test(path: Path) -> LoadedTest:
    """The test file, checked: every mistake as `file:line: field: message`."""
    data, positions = read_yaml(path)
    if not isinstance(data, dict):
        raise LofictlError("a listening test is a mapping of keys such as title, design and systems", file=path, line=1)
    try:
        test = ListenTest.model_validate(data)
    except ValidationError as exc:
        raise_all(validation_errors(exc, positions, path, data, ListenTest))
    loaded = LoadedTest(test, path, positions)
    errors = []
    names = [s.name for s in test.systems]
    for i, system in enumerate(test.systems):
        if names.index(system.name) != i:
            errors.append(loaded.error(f"{system.name!r} names two systems; names must differ", ("systems", i, "name")))
        if isinstance(system.audio, list) and len(system.audio) != test.items:
            errors.append(
                loaded.error(f"{len(system.audio)} files for {test.items} items: one per item", ("systems", i, "audio"))
            )
    if test.design == "mushra":
        if test.reference is None:
            errors.append(loaded.error("a MUSHRA test needs a reference: the name of one system", ("design",)))
        elif test.reference not in names:
            from lofictl.errors import did_you_mean

            errors.append(
                loaded.error(
                    f"no system is named {test.reference!r}{did_you_mean(test.reference, names)}", ("reference",)
                )
            )
    elif test.reference is not None:
        errors.append(loaded.error("reference is for design: mushra (an A/B test has none)", ("reference",)))
    raise_all(errors)
    loaded.database_path  # noqa: B018 - the path rule (inside the project)
    return loaded


# --- stimuli -----------------------------------------------------------------------------------


def item_seed(test: ListenTest, item: int) -> int:
    from lofictl.seeds import derive_seed

    return derive_seed(test.seed, "item", item)


def stimulus_name(test: ListenTest, system: str, item: int, role: str) -> str:
    """What the page calls an excerpt: a hash that says nothing of the system."""
    return hashlib.sha256(f"{test.seed}/{role}/{system}/{item}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Trial:
    id: str
    item: int
    stimuli: tuple[str, ...]  # hashed names, in the order the page shows them (A, B, ... )


def trials_for(loaded: LoadedTest, plan: dict, listener: str) -> list[Trial]:
    """This listener's trials: their order, the sides (A/B) and the order of the stimuli, from a
    generator seeded by the test's seed and the listener's id."""
    from lofictl.seeds import rng

    test = loaded.test
    order = rng(test.seed, "order", listener)
    by = plan["by_system"]  # "system/item/role" -> hashed name
    trials = []
    for item in range(test.items):
        if test.design == "ab":
            for a, b in itertools.combinations(range(len(test.systems)), 2):
                pair = [by[f"{test.systems[a].name}/{item}/system"], by[f"{test.systems[b].name}/{item}/system"]]
                if order.random() < 0.5:
                    pair.reverse()
                trials.append(Trial(f"{item}-{a}-{b}", item, tuple(pair)))
        else:
            stimuli = [by[f"{name}/{item}/system"] for name in loaded.judged]
            stimuli += [by[f"{test.reference}/{item}/reference"], by[f"{test.reference}/{item}/anchor"]]
            order.shuffle(stimuli)
            trials.append(Trial(str(item), item, tuple(stimuli)))
    order.shuffle(trials)
    return trials


# --- preparing the excerpts ----------------------------------------------------------------------


def _soundfonts(recipe) -> frozenset[str]:
    return frozenset(
        track.instrument.soundfont
        for track in recipe.tracks.values()
        if getattr(track, "instrument", None) is not None and getattr(track.instrument, "kit", None) is None
    )


def _overrides(system: System, item_seed_value: int) -> list[str]:
    sets = [f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in system.set.items()]
    return [f"seed={item_seed_value}", *sets]


def check_sources(loaded: LoadedTest) -> list:
    """Every system's recipe (with its overrides) or audio files, checked before anything is built;
    recipe systems must play the same SoundFonts."""
    from lofictl.recipe.load import load_recipe

    test = loaded.test
    sources: list[Path | list[Path]] = []
    fonts: dict[frozenset[str], str] = {}
    for i, system in enumerate(test.systems):
        if system.recipe is not None:
            path = loaded.resolve(system.recipe, ("systems", i, "recipe"))
            try:
                recipe = load_recipe(path, _overrides(system, item_seed(test, 0)))
            except LofictlError as exc:
                field = ("systems", i, "set") if "(from --set" in exc.message else ("systems", i, "recipe")
                raise loaded.error(f"{exc.message} (in {system.recipe})", field) from None
            fonts.setdefault(_soundfonts(recipe.recipe), system.name)
            sources.append(path)
        else:
            files = system.audio if isinstance(system.audio, list) else [str(system.audio)] * test.items
            sources.append(
                [
                    loaded.resolve(f, ("systems", i, "audio", *((k,) if isinstance(system.audio, list) else ())))
                    for k, f in enumerate(files)
                ]
            )
    if len(fonts) > 1:
        described = "; ".join(f"{name}: {', '.join(sorted(f)) or 'kits only'}" for f, name in fonts.items())
        raise loaded.error(
            f"the systems play different SoundFonts ({described}); the protocol compares one SoundFont, so set "
            "the same instruments in every system",
            ("systems",),
        )
    return sources


def prepare(loaded: LoadedTest, *, use_cache: bool = True, log=print) -> dict:
    """Build what must be built, cut every excerpt at one loudness into the test's folder, and
    write plan.json (the hashed names and what they stand for) for the page and `results`."""
    from lofictl.cluster import cpu_threads
    from lofictl.pipeline.runner import build_recipe, project_folders
    from lofictl.recipe.load import load_recipe
    from lofictl.safety import atomic
    from lofictl.safety.outputs import check_work_folder, mark_work_folder

    test = loaded.test
    sources = check_sources(loaded)
    folder = loaded.folder
    check_work_folder(folder, project_folders(loaded.project_root, loaded.path, "test"), loaded.project_file, LAYOUT)
    (folder / "excerpts").mkdir(parents=True, exist_ok=True)
    mark_work_folder(folder, loaded.project_file)
    masters: dict[tuple[int, int], Path] = {}
    for i, (system, source) in enumerate(zip(test.systems, sources)):
        for item in range(test.items):
            if isinstance(source, list):
                masters[(i, item)] = source[item]
                continue
            log(f"building {system.name}, item {item + 1}/{test.items}")
            recipe = load_recipe(source, _overrides(system, item_seed(test, item)))
            result = build_recipe(
                recipe, out_dir=folder / "builds" / f"{i}-{item}", jobs=cpu_threads(), quiet=True, use_cache=use_cache
            )
            masters[(i, item)] = result.out_dir / f"{recipe.file_stem}.wav"
    by_system: dict[str, str] = {}
    stimuli: dict[str, dict] = {}
    keep = set()
    rate = None
    for (i, item), master in sorted(masters.items()):
        system = test.systems[i]
        audio, sample_rate = cut(loaded, master, ("systems", i))
        if rate is not None and sample_rate != rate:
            raise loaded.error(
                f"{master.name} is at {sample_rate} Hz, the others at {rate} Hz; use one rate", ("systems", i)
            )
        rate = sample_rate
        roles = ["system"]
        if system.name == test.reference:
            roles = ["system", "reference", "anchor"]
        for role in roles:
            signal = lowpass(audio, sample_rate, test.anchor_lowpass_hz) if role == "anchor" else audio
            signal = at_loudness(signal, sample_rate, test.loudness_lufs, loaded)
            name = stimulus_name(test, system.name, item, role)
            write_wav(folder / "excerpts" / f"{name}.wav", signal, sample_rate)
            by_system[f"{system.name}/{item}/{role}"] = name
            stimuli[name] = {"system": system.name, "item": item, "role": role}
            keep.add(f"{name}.wav")
    for stale in (folder / "excerpts").iterdir():
        if stale.name not in keep:
            stale.unlink()
    builds = {f"{i}-{item}" for (i, item) in masters}
    if (folder / "builds").is_dir():  # builds of systems or items the test no longer has
        import shutil

        for stale_build in (folder / "builds").iterdir():
            if stale_build.name not in builds:
                shutil.rmtree(stale_build)
    plan = {
        "lofictl_listen_test_plan": 1,
        "test": loaded.project_file,
        "sha256": hashlib.sha256(loaded.path.read_bytes()).hexdigest(),
        "design": test.design,
        "by_system": by_system,
        "stimuli": stimuli,
    }
    atomic.write_text(folder / PLAN, json.dumps(plan, indent=2) + "\n")
    return plan


def read_plan(loaded: LoadedTest) -> dict:
    path = loaded.folder / PLAN
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise LofictlError(f"{loaded.path} has no prepared excerpts; run `lofictl listen-test {loaded.path}`") from None
    if plan.get("sha256") != hashlib.sha256(loaded.path.read_bytes()).hexdigest():
        raise LofictlError(f"{loaded.path} changed since its excerpts were made; run `lofictl listen-test` on it again")
    return plan


def cut(loaded: LoadedTest, master: Path, field: FieldPath) -> tuple[np.ndarray, int]:
    """The excerpt of `master`, (channels, frames) float64 with 20 ms raised-cosine fades."""
    import soundfile

    test = loaded.test
    try:
        info = soundfile.info(str(master))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise loaded.error(f"{master.name} cannot be read as audio: {exc}", field) from None
    start = int(round(test.excerpt.start * info.samplerate))
    frames = int(round(test.excerpt.length * info.samplerate))
    if start + frames > info.frames:
        raise loaded.error(
            f"the excerpt ({test.excerpt.start:g} s + {test.excerpt.length:g} s) runs past the end of {master.name} "
            f"({info.frames / info.samplerate:.1f} s)",
            ("excerpt",),
        )
    data, rate = soundfile.read(str(master), start=start, frames=frames, dtype="float64", always_2d=True)
    audio = data.T.copy()
    if audio.shape[0] == 1:
        audio = np.vstack([audio, audio])
    fade = int(FADE_S * rate)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
    audio[:, :fade] *= ramp
    audio[:, -fade:] *= ramp[::-1]
    return audio[:2], rate


def lowpass(audio: np.ndarray, rate: int, cutoff_hz: float) -> np.ndarray:
    """The MUSHRA low anchor: the reference low-passed (BS.1534-3: 3.5 kHz)."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(8, cutoff_hz, btype="low", fs=rate, output="sos")
    return sosfiltfilt(sos, audio, axis=1)


def at_loudness(audio: np.ndarray, rate: int, lufs: float, loaded: LoadedTest) -> np.ndarray:
    from lofictl.sound.loudness import LoudnessMeter

    meter = LoudnessMeter(rate, audio.shape[0])
    meter.feed(audio)
    measured = meter.integrated()
    if measured is None:
        raise loaded.error("an excerpt is silent; choose another excerpt start", ("excerpt", "start"))
    out = audio * 10 ** ((lufs - measured) / 20)
    peak = float(np.max(np.abs(out)))
    if peak > 0.999:
        raise loaded.error(
            f"at {lufs:g} LUFS an excerpt would clip (peak {20 * np.log10(peak):+.1f} dBFS); choose a lower loudness_lufs",
            ("loudness_lufs",),
        )
    return out


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    import io

    import soundfile

    from lofictl.safety import atomic

    buffer = io.BytesIO()
    soundfile.write(buffer, audio.T.astype(np.float32), rate, subtype="PCM_24", format="WAV")
    atomic.write_bytes(path, buffer.getvalue())
