"""Effect chains written in a recipe, checked before any audio is made, run with Pedalboard.

A chain is a list; each item is one of
    {LowpassFilter: {cutoff_frequency_hz: 3200}}   a Pedalboard plugin, its own class and
                                                     parameter names (so Pedalboard's docs apply)
    tape                                             a preset name, expanded to plugins (PRESETS)
    {VST3: {path: plugins/Foo.vst3, plugin_name: Foo, some_param: 0.5}}
    {load_plugin: {path: ..., ...}}                  an external plugin via pedalboard.load_plugin

Pedalboard checks some values itself (and its messages are good), but lets others through that
then make silence, NaN or runaway feedback; RANGES adds those, and both are reported the same
way: LofictlError with the field path down to the parameter and the allowed range.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pedalboard

from lofictl.errors import LofictlError, raise_all, suggestions

# Presets are ordinary chains, so `lofictl effects` can show exactly what each one does.
PRESETS: dict[str, list[dict[str, dict[str, Any]]]] = {
    "tape": [  # soft top end, gentle glue, slow wow, a little saturation
        {"HighShelfFilter": {"cutoff_frequency_hz": 7000, "gain_db": -4.0, "q": 0.7}},
        {"LowShelfFilter": {"cutoff_frequency_hz": 120, "gain_db": 1.5, "q": 0.7}},
        {"Compressor": {"threshold_db": -16, "ratio": 2.5, "attack_ms": 10, "release_ms": 150}},
        {"Chorus": {"rate_hz": 0.35, "depth": 0.08, "centre_delay_ms": 4.0, "feedback": 0.0, "mix": 0.3}},
        {"Distortion": {"drive_db": 4}},
        {"Gain": {"gain_db": -3}},
    ],
    "vinyl": [  # rumble-free low end, rolled-off highs, a hint of warp and presence bump
        {"HighpassFilter": {"cutoff_frequency_hz": 35}},
        {"LowpassFilter": {"cutoff_frequency_hz": 10000}},
        {"PeakFilter": {"cutoff_frequency_hz": 1200, "gain_db": 1.5, "q": 0.8}},
        {"Chorus": {"rate_hz": 0.55, "depth": 0.05, "centre_delay_ms": 3.0, "feedback": 0.0, "mix": 0.2}},
    ],
    "radio": [  # small-speaker band (two first-order filters each side), squashed and overdriven
        {"HighpassFilter": {"cutoff_frequency_hz": 400}},
        {"HighpassFilter": {"cutoff_frequency_hz": 400}},
        {"Compressor": {"threshold_db": -22, "ratio": 4, "attack_ms": 5, "release_ms": 80}},
        {"Distortion": {"drive_db": 10}},
        {"LowpassFilter": {"cutoff_frequency_hz": 3500}},
        {"LowpassFilter": {"cutoff_frequency_hz": 3500}},
        {"Gain": {"gain_db": -6}},
    ],
    # A drum loop off a 90s sampler: sub cut, the boom eased and the crack lifted before the
    # peaks are driven into soft clipping (so the clipping, not the shelf, sets the crest factor:
    # about 20 dB down to 16 at lofictl's render level), one gentle low-pass, 12 bits. Sampled
    # kits are dark (Black Pearl: 5% of its power in 1-8 kHz); through this, 13%: hats you hear.
    "sampler": [
        {"HighpassFilter": {"cutoff_frequency_hz": 45}},
        {"LowShelfFilter": {"cutoff_frequency_hz": 120, "gain_db": -2.0, "q": 0.7}},
        {"HighShelfFilter": {"cutoff_frequency_hz": 2500, "gain_db": 6.0, "q": 0.7}},
        {"Distortion": {"drive_db": 12}},
        {"LowpassFilter": {"cutoff_frequency_hz": 12000}},
        {"Bitcrush": {"bit_depth": 12}},
        {"Gain": {"gain_db": -10}},
    ],
    # A lead in front of the keys: under 220 Hz left to the keys and bass, a presence lift where
    # the keys' low-pass has taken theirs away (the mallet's strike, the flute's breath), and a
    # gentle compressor that keeps the line's level steady over the band.
    "lead": [
        {"HighpassFilter": {"cutoff_frequency_hz": 220}},
        {"PeakFilter": {"cutoff_frequency_hz": 2800, "gain_db": 4.0, "q": 0.8}},
        {"Compressor": {"threshold_db": -20, "ratio": 2.0, "attack_ms": 15, "release_ms": 120}},
    ],
    "dusty": [  # early-sampler grit: reduced bits and rate, dull top
        {"Bitcrush": {"bit_depth": 12}},
        {"Resample": {"target_sample_rate": 22050, "quality": "ZeroOrderHold"}},
        {"LowpassFilter": {"cutoff_frequency_hz": 7000}},
    ],
}

# Allowed values Pedalboard does not enforce (and those it does, so the listing shows them):
# (low, high, low_is_exclusive). None = unbounded on that side.
RANGES: dict[tuple[str, str], tuple[float | None, float | None, bool]] = {
    ("Bitcrush", "bit_depth"): (0, 32, False),
    ("BrickwallLimiter", "ceiling_db"): (-60, 0, False),
    ("BrickwallLimiter", "release_ms"): (0, 10000, True),
    ("BrickwallLimiter", "lookahead_ms"): (0, 100, True),
    ("Chorus", "rate_hz"): (0, 100, False),
    ("Chorus", "depth"): (0, 1, False),
    ("Chorus", "centre_delay_ms"): (1, 100, False),
    ("Chorus", "feedback"): (-0.95, 0.95, False),
    ("Chorus", "mix"): (0, 1, False),
    ("Clipping", "threshold_db"): (-96, 24, False),
    ("Compressor", "threshold_db"): (-96, 0, False),
    ("Compressor", "ratio"): (1, 1000, False),
    ("Compressor", "attack_ms"): (0, 10000, True),
    ("Compressor", "release_ms"): (0, 10000, True),
    ("Convolution", "mix"): (0, 1, False),
    ("Delay", "delay_seconds"): (0, 30, False),
    ("Delay", "feedback"): (0, 1, False),
    ("Delay", "mix"): (0, 1, False),
    ("Distortion", "drive_db"): (-24, 60, False),
    ("Gain", "gain_db"): (-120, 48, False),
    ("HighpassFilter", "cutoff_frequency_hz"): (0, 192000, True),
    ("LowpassFilter", "cutoff_frequency_hz"): (0, 192000, True),
    ("HighShelfFilter", "cutoff_frequency_hz"): (0, 192000, True),
    ("HighShelfFilter", "gain_db"): (-48, 48, False),
    ("HighShelfFilter", "q"): (0, 100, True),
    ("LowShelfFilter", "cutoff_frequency_hz"): (0, 192000, True),
    ("LowShelfFilter", "gain_db"): (-48, 48, False),
    ("LowShelfFilter", "q"): (0, 100, True),
    ("PeakFilter", "cutoff_frequency_hz"): (0, 192000, True),
    ("PeakFilter", "gain_db"): (-48, 48, False),
    ("PeakFilter", "q"): (0, 100, True),
    ("LadderFilter", "cutoff_hz"): (0, 192000, True),
    ("LadderFilter", "resonance"): (0, 1, False),
    ("LadderFilter", "drive"): (1, 100, False),
    ("Limiter", "threshold_db"): (-60, 0, False),
    ("Limiter", "release_ms"): (0, 10000, True),
    ("MP3Compressor", "vbr_quality"): (0, 10, False),
    ("NoiseGate", "threshold_db"): (-120, 0, False),
    ("NoiseGate", "ratio"): (1, 1000, False),
    ("NoiseGate", "attack_ms"): (0, 10000, True),
    ("NoiseGate", "release_ms"): (0, 10000, True),
    ("Phaser", "rate_hz"): (0, 100, False),
    ("Phaser", "depth"): (0, 1, False),
    ("Phaser", "centre_frequency_hz"): (0, 192000, True),
    ("Phaser", "feedback"): (-0.95, 0.95, False),
    ("Phaser", "mix"): (0, 1, False),
    ("PitchShift", "semitones"): (-72, 72, False),
    ("Resample", "target_sample_rate"): (1000, 384000, False),
    **{
        ("Reverb", p): (0, 1, False) for p in ("room_size", "damping", "wet_level", "dry_level", "width", "freeze_mode")
    },
}
# Every float parameter has both bounds (tests/safety/test_safety.py checks a new Pedalboard adds none
# without them): values past them make silence, NaN, infinities or runaway memory.
# Frequencies that must stay below Nyquist once the sample rate is known.
FREQUENCY_PARAMS = {"cutoff_frequency_hz", "cutoff_hz", "centre_frequency_hz"}
MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)

# Plugins whose output is delayed when streamed (they have latency, which Pedalboard only
# compensates when it sees the whole signal), so block processing cannot match whole processing.
WHOLE_ONLY = {"Resample", "MP3Compressor", "GSMFullRateCompressor", "PitchShift", "BrickwallLimiter", "Convolution"}
EXTERNAL_KEYS = ("VST3", "AudioUnit", "load_plugin")
DEFAULT_BLOCK_SIZE = 8192
_NOT_EFFECTS = {
    "Plugin",
    "PluginContainer",
    "Pedalboard",
    "Chain",
    "Mix",
    "ExternalPlugin",
    "VST3Plugin",
    "AudioUnitPlugin",
    "IIRFilter",
}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # float | bool | choice | file
    default: Any
    choices: tuple[str, ...] = ()  # for kind == choice
    range: str = ""  # human text, e.g. "0 to 1"
    enum: Any = field(default=None, repr=False, compare=False)  # the pybind11 enum for a choice


@dataclass(frozen=True)
class PluginInfo:
    name: str
    params: tuple[Param, ...]
    summary: str
    streams: bool  # block processing gives the same bytes as whole


@dataclass(frozen=True)
class Step:
    """One plugin of an expanded chain, with the recipe field it came from."""

    name: str  # Pedalboard class name, or an EXTERNAL_KEYS entry
    params: dict
    field: tuple


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[(<{"
        depth -= char in "])>}"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _parse_params(cls: type) -> tuple[Param, ...]:
    """Parameters from the pybind11 signature line, e.g. `__init__(self: X, a: float = 1.0) -> None`."""
    doc = cls.__init__.__doc__ or ""
    match = re.search(r"__init__\((.*?)\) -> None", doc)
    if not match:
        return ()
    params = []
    for part in _split_top_level(match.group(1))[1:]:  # skip self
        name, _, rest = part.partition(":")
        annotation, _, default_text = rest.partition(" = ")
        annotation, default_text = annotation.strip(), default_text.strip()
        enum = _enum_type(cls, annotation)
        if enum is not None:
            default = re.sub(r"^<\w+\.(\w+):.*>$", r"\1", default_text)
            params.append(Param(name.strip(), "choice", default, tuple(enum.__members__), enum=enum))
        elif annotation == "bool":
            params.append(Param(name.strip(), "bool", default_text == "True"))
        elif annotation == "float":
            params.append(
                Param(
                    name.strip(),
                    "float",
                    float(f"{float(default_text):.6g}") if default_text else None,
                    range=_range_text(cls.__name__, name.strip()),
                )
            )
        elif "str" in annotation:
            params.append(Param(name.strip(), "file", None))
        # Other annotations (e.g. Convolution's optional sample_rate) are not recipe parameters.
    return tuple(params)


def _enum_type(cls: type, annotation: str):
    """The pybind11 enum class named by an annotation like `pedalboard_native.Resample.Quality`."""
    parts = annotation.split(".")
    if len(parts) < 3 or parts[0] != "pedalboard_native":
        return None
    owner = getattr(pedalboard, parts[1], None)
    enum = getattr(owner, parts[2], None) if owner is not None else None
    return enum if enum is not None and hasattr(enum, "__members__") else None


def _range_text(plugin: str, param: str) -> str:
    bounds = RANGES.get((plugin, param))
    if bounds is None:
        return ""
    low, high, low_open = bounds
    if low is not None and high is not None:
        return f"{low:g} to {high:g}" if not low_open else f"above {low:g}, up to {high:g}"
    if low is not None:
        return f"above {low:g}" if low_open else f"at least {low:g}"
    return f"at most {high:g}"


@functools.cache
def plugin_classes() -> dict[str, type]:
    """Every effect plugin Pedalboard offers, by class name."""
    classes = {}
    for name in dir(pedalboard):
        obj = getattr(pedalboard, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, pedalboard.Plugin)
            and name == obj.__name__
            and name not in _NOT_EFFECTS
            and not name.startswith("_")
        ):
            classes[name] = obj
    return dict(sorted(classes.items()))


@functools.cache
def plugin_params(name: str) -> dict[str, Param]:
    return {param.name: param for param in _parse_params(plugin_classes()[name])}


def describe_plugins() -> list[PluginInfo]:
    """Every Pedalboard plugin with its parameters, defaults and ranges (for `lofictl effects`)."""
    infos = []
    for name, cls in plugin_classes().items():
        doc = (cls.__doc__ or "").strip()
        summary = re.split(r"(?<=\.)\s", doc, maxsplit=1)[0] if doc else ""
        infos.append(PluginInfo(name, tuple(plugin_params(name).values()), summary, name not in WHOLE_ONLY))
    return infos


def describe_presets() -> dict[str, list[dict[str, dict[str, Any]]]]:
    """Preset name -> the chain it stands for."""
    return {name: [dict(step) for step in chain] for name, chain in PRESETS.items()}


def _did_you_mean(word: str, options) -> str:
    close = suggestions(word, options, n=3)
    return f" Did you mean {' or '.join(close)}?" if close else ""


def _preset_steps(name: str, where: tuple) -> list[Step]:
    return [Step(plugin, dict(params), where + (name,)) for step in PRESETS[name] for plugin, params in step.items()]


def expand(spec: Sequence, field: tuple = ()) -> list[Step]:
    """The chain as plugin steps: presets expanded, shapes checked (values are checked later)."""
    if spec is None:
        return []
    if not isinstance(spec, (list, tuple)):
        raise LofictlError("an effect chain is a list of effects", field=field)
    steps = []
    for index, item in enumerate(spec):
        where = field + (index,)
        if isinstance(item, str):
            if item not in PRESETS:
                raise LofictlError(
                    f"unknown effect or preset {item!r}."
                    f"{_did_you_mean(item, [*PRESETS, *plugin_classes()])}"
                    f" Presets: {', '.join(PRESETS)}",
                    field=where,
                )
            steps += _preset_steps(item, where)
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise LofictlError("each effect is a preset name or one `PluginName: {param: value}` mapping", field=where)
        ((name, params),) = item.items()
        name = str(name)
        if params is None:
            params = {}
        if name in PRESETS and params == {}:  # `- tape:` with nothing after it
            steps += _preset_steps(name, where)
            continue
        if not isinstance(params, dict):
            raise LofictlError(
                f"the parameters of {name} must be a mapping like `{{param: value}}`", field=where + (name,)
            )
        if name not in plugin_classes() and name not in EXTERNAL_KEYS:
            raise LofictlError(
                f"unknown effect {name!r}."
                f"{_did_you_mean(name, [*plugin_classes(), *PRESETS, *EXTERNAL_KEYS])}"
                " (`lofictl effects` lists them)",
                field=where + (name,),
            )
        steps.append(Step(name, dict(params), where + (name,)))
    return steps


def _check_value(step: Step, param: Param, value: Any, sample_rate: int | None) -> Any:
    """The value as Pedalboard wants it, or a LofictlError saying what is allowed."""
    where = step.field + (param.name,)
    if param.kind == "choice":
        lowered = {choice.lower(): choice for choice in param.choices}
        if not isinstance(value, str) or value.lower() not in lowered:
            raise LofictlError(f"{value!r} is not one of {', '.join(param.choices)}", field=where)
        return param.enum.__members__[lowered[value.lower()]]
    if param.kind == "bool":
        if not isinstance(value, bool):
            raise LofictlError(f"must be true or false, not {value!r}", field=where)
        return value
    if param.kind == "file":
        if not isinstance(value, (str, Path)) or not Path(value).is_file():
            raise LofictlError(f"file {str(value)!r} does not exist", field=where)
        return str(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LofictlError(f"must be a number, not {value!r}", field=where)
    value = float(value)
    if not np.isfinite(value):
        raise LofictlError(f"must be a finite number, not {value}", field=where)
    bounds = RANGES.get((step.name, param.name))
    if bounds is not None:
        low, high, low_open = bounds
        if (low is not None and (value < low or (low_open and value == low))) or (high is not None and value > high):
            raise LofictlError(
                f"{value:g} is out of range: {step.name}.{param.name} must be {_range_text(step.name, param.name)}",
                field=where,
            )
    if sample_rate and param.name in FREQUENCY_PARAMS and value >= sample_rate / 2:
        raise LofictlError(f"{value:g} Hz is not below half the sample rate ({sample_rate / 2:g} Hz)", field=where)
    return value


def _external(step: Step) -> pedalboard.Plugin:
    params = dict(step.params)
    path = params.pop("path", None)
    if path is None:
        raise LofictlError(f"{step.name} needs `path:` to the plugin file", field=step.field)
    plugin_name = params.pop("plugin_name", None)
    if not Path(str(path)).exists():
        raise LofictlError(f"plugin {path} does not exist", field=step.field + ("path",))
    try:
        return pedalboard.load_plugin(str(path), parameter_values=params, plugin_name=plugin_name)
    # load_plugin raises ImportError for files it cannot scan (and for AudioUnits off macOS).
    except (ImportError, ValueError, RuntimeError, TypeError, AttributeError) as exc:
        raise LofictlError(f"cannot load plugin {path}: {' '.join(str(exc).split())}", field=step.field) from None


def _build_step(step: Step, sample_rate: int | None) -> pedalboard.Plugin:
    if step.name in EXTERNAL_KEYS:
        return _external(step)
    known = plugin_params(step.name)
    kwargs = {}
    for key, value in step.params.items():
        if key not in known:
            options = ", ".join(known) or "none"
            raise LofictlError(
                f"{step.name} has no parameter {key!r}.{_did_you_mean(str(key), known)} Its parameters: {options}",
                field=step.field + (str(key),),
            )
        kwargs[key] = _check_value(step, known[key], value, sample_rate)
    if step.name == "MP3Compressor" and sample_rate and sample_rate not in MP3_SAMPLE_RATES:
        raise LofictlError(
            f"MP3Compressor works only at {', '.join(map(str, MP3_SAMPLE_RATES))} Hz, not {sample_rate}",
            field=step.field,
        )
    try:
        return plugin_classes()[step.name](**kwargs)
    except (ValueError, TypeError, RuntimeError) as exc:
        # Pedalboard's own range checks, e.g. "Bit depth must be between 0 and 32 bits."
        raise LofictlError(str(exc).splitlines()[0], field=step.field) from None


def validate_chain(spec: Sequence, field: tuple = (), sample_rate: int | None = None) -> None:
    """Raise LofictlError for the mistakes in an effect chain (every step's); make no audio, load no plugin.

    File parameters are taken as they are written; builds use `resolve_chain`, which puts them
    through the project's path rule first.
    """

    def existing(value, where: tuple, kind: str = "file") -> Path:
        if not isinstance(value, str) or not Path(value).exists():
            raise LofictlError(f"{'plugin' if kind != 'file' else 'file'} {str(value)!r} does not exist", field=where)
        return Path(value)

    resolve_chain(spec, field, sample_rate, resolve_file=existing, resolve_plugin=existing)


FileRule = Callable[[Any, tuple], Path]
PluginRule = Callable[[Any, tuple, str], Path]


def resolve_chain(
    spec: Sequence, field: tuple, sample_rate: int | None, *, resolve_file: FileRule, resolve_plugin: PluginRule
) -> tuple[list[dict], dict[str, Path]]:
    """The chain as plugin steps with every file it names resolved, and those files by field.

    `resolve_file(value, field)` and `resolve_plugin(value, field, kind)` apply the caller's path
    rules (an impulse response must lie in the project; a plugin in the project or a folder the
    user allowed). Every built-in plugin is constructed to check its values (Convolution reads
    its impulse response then, which is data); external plugins are never loaded here: their
    path and file type are all that is checked before a render loads them.
    """
    chain: list[dict] = []
    files: dict[str, Path] = {}
    problems: list[LofictlError] = []  # every step is checked: all its mistakes are reported
    for step in expand(spec, field):
        try:
            chain.append(_resolve_step(step, sample_rate, files, resolve_file, resolve_plugin))
        except LofictlError as exc:
            problems.append(exc)
    raise_all(problems)
    return chain, files


def _resolve_step(
    step: Step, sample_rate: int | None, files: dict[str, Path], resolve_file: FileRule, resolve_plugin: PluginRule
) -> dict:
    params = dict(step.params)
    if step.name in EXTERNAL_KEYS:
        if params.get("path") is None:
            raise LofictlError(f"{step.name} needs `path:` to the plugin file", field=step.field)
        path = resolve_plugin(params["path"], step.field + ("path",), step.name)
        params["path"] = str(path)
        files[".".join(map(str, step.field + ("path",)))] = path
    else:
        known = plugin_params(step.name)
        for key, value in step.params.items():
            if key in known and known[key].kind == "file":
                path = resolve_file(value, step.field + (key,))
                params[key] = str(path)
                files[".".join(map(str, step.field + (key,)))] = path
        _build_step(Step(step.name, params, step.field), sample_rate)
    return {step.name: params}


def build_chain(spec: Sequence, field: tuple = (), sample_rate: int | None = None) -> pedalboard.Pedalboard:
    """A fresh Pedalboard for a recipe chain (every value checked on the way)."""
    return pedalboard.Pedalboard([_build_step(step, sample_rate) for step in expand(spec, field)])


def _streams(plugin: pedalboard.Plugin) -> bool:
    return (
        type(plugin).__name__ not in WHOLE_ONLY
        and not isinstance(plugin, pedalboard.ExternalPlugin)
        and not isinstance(plugin, (pedalboard.Chain, pedalboard.Mix))
    )


def _segments(board: pedalboard.Pedalboard) -> list[tuple[bool, pedalboard.Pedalboard]]:
    """Runs of neighbouring plugins that all stream exactly, or all must see the whole signal."""
    runs: list[tuple[bool, list]] = []
    for plugin in board:
        streams = _streams(plugin)
        if runs and runs[-1][0] == streams:
            runs[-1][1].append(plugin)
        else:
            runs.append((streams, [plugin]))
    return [(streams, pedalboard.Pedalboard(plugins)) for streams, plugins in runs]


def apply_chain(
    audio: np.ndarray, sample_rate: int, chain: Sequence | pedalboard.Pedalboard, *, block_size: int | None = None
) -> np.ndarray:
    """The audio (2, n) through the chain, starting from a clean plugin state.

    The chain runs as segments: plugins that stream exactly run block by block (block_size,
    default DEFAULT_BLOCK_SIZE); plugins with latency (WHOLE_ONLY, external ones) always see the
    whole signal so Pedalboard can compensate their delay. The block size never changes the
    bytes. (Pedalboard running a mixed chain in one call would let a stateful plugin's tail past
    the end reach a later latency plugin, which blocks cannot reproduce; segments cut the signal
    at the same place in both modes.)
    """
    board = chain if isinstance(chain, pedalboard.Pedalboard) else build_chain(chain, (), sample_rate)
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[0] != 2:
        raise ValueError(f"expected stereo audio shaped (2, samples), got {audio.shape}")
    if block_size is not None and block_size < 1:
        raise ValueError("block_size must be at least 1")
    if len(board) == 0 or audio.shape[1] == 0:
        return audio.copy()
    board.reset()
    # Streaming segments always run in blocks: the bytes are the same, and block-sized
    # intermediates stay in cache (measured faster than whole-signal passes between segments).
    block_size = block_size or DEFAULT_BLOCK_SIZE
    for streams, segment in _segments(board):
        if streams:
            out = np.empty_like(audio)
            for begin in range(0, audio.shape[1], block_size):
                out[:, begin : begin + block_size] = segment.process(
                    audio[:, begin : begin + block_size], sample_rate, reset=False
                )
            audio = out
        else:
            audio = segment(audio, sample_rate)
    return audio
