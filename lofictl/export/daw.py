"""Into the DAW: REAPER (.rpp) and DAWproject (.dawproject) exports, stem names and sidecar.

A build hands over a `DawExport`: the Score, and the stem WAV files it wrote. Each stem says
what is printed into it (`kind`), and `mixer_settings` turns that into a track's fader, pan
and mute, so the recipe's gain and pan reach every signal path exactly once:

    wet      effects, gain and pan printed      unity fader, centre, plays (unless muted in the recipe)
    overlay  ambience with its gain printed     unity fader, centre, plays
    dry      the instrument alone               the recipe's gain and pan on the fader, muted
    mix      the mastered full mix              unity, muted (a reference to A/B against)

So opening the project plays the same pre-master mix lofictl made, and un-muting a dry stem
(after muting its wet twin) starts from the recipe's balance with the effects left to redo.
The MIDI of each Score track goes on its own muted track.

Both formats are written from plain text / XML built here, with fixed ordering and fixed zip
timestamps, so the same inputs give the same bytes. What was checked against which document:

* RPP: the item/track/MIDI state-chunk definitions (REAPER's wiki "State Chunk Definitions",
  mirrored in ReaTeam/Doc) and "StateChunkAndRppMidiFormat" for in-project MIDI
  (`HASDATA 1 960 QN`, `E <delta ticks> <status> <data1> <data2>`); TEMPO/MARKER lines and
  VOLPAN (linear volume, pan -1..1) as REAPER writes them.
* DAWproject: Project.xsd and MetaData.xsd of the format (tests validate against copies of
  both) and a project.xml exported by Bitwig Studio (Transport, Structure/Track/Channel,
  Arrangement/Lanes/Clips, audio as Warps around Audio, Markers).

`read_reaper_project` and `read_dawproject` parse the files back into plain dicts (used by
the tests, and handy for inspecting an export).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from lofictl import __version__
from lofictl.compose.score import Score, Track
from lofictl.errors import LofictlError
from lofictl.safety import atomic
from lofictl.sound.levels import db_to_gain

REAPER_PPQ = 960  # ticks per quarter note of in-project MIDI, as REAPER writes it
DAWPROJECT_VERSION = "1.0"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can say: no wall-clock in the bytes

StemKind = Literal["wet", "dry", "overlay", "mix"]
STEM_KINDS = ("wet", "dry", "overlay", "mix")


@dataclass(frozen=True)
class StemInfo:
    """One audio file of a build as the DAW should see it."""

    track: str  # the track (or overlay) it came from, as named in the recipe
    path: Path  # the WAV; relative paths are relative to the project file's folder
    kind: StemKind = "wet"
    gain_db: float = 0.0  # the recipe's gain and pan; used on the fader only for dry stems
    pan: float = 0.0
    muted: bool = False  # muted (or not soloed) in the recipe, so not in the mix

    def __post_init__(self) -> None:
        if self.kind not in STEM_KINDS:
            raise LofictlError(f"stem kind must be one of {', '.join(STEM_KINDS)} (got {self.kind!r})")


@dataclass(frozen=True)
class DawExport:
    """Everything a project file holds: the music, the stems, and the names to show."""

    title: str
    score: Score
    stems: tuple[StemInfo, ...]
    sample_rate: int


@dataclass(frozen=True)
class Media:
    """What the project needs to know about an audio file."""

    seconds: float
    channels: int
    sample_rate: int


# --- shared rules ---------------------------------------------------------------------------


def mixer_settings(stem: StemInfo) -> tuple[float, float, bool]:
    """(fader dB, pan, muted) for a stem's track; see the table in the module docstring."""
    if stem.kind == "dry":
        return stem.gain_db, stem.pan, True
    if stem.kind == "mix":
        return 0.0, 0.0, True
    return 0.0, 0.0, stem.muted


def display_name(stem: StemInfo) -> str:
    if stem.kind == "dry":
        return f"{stem.track} (dry)"
    if stem.kind == "mix":
        return f"{stem.track} (mix reference)"
    return stem.track


def _lanes(export: DawExport) -> list[tuple[str, StemInfo | Track]]:
    """Track order in both formats: stems as given, then the MIDI parts, the mix last."""
    audio = [("audio", stem) for stem in export.stems if stem.kind != "mix"]
    parts = [("midi", track) for track in export.score.tracks]
    mixes = [("audio", stem) for stem in export.stems if stem.kind == "mix"]
    return audio + parts + mixes


def _num(value: float) -> str:
    """A stable, short decimal: at most 9 places, no trailing zeros, never '-0'."""
    if not math.isfinite(value):
        raise LofictlError(f"cannot write the number {value} into a project file")
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def section_markers(score: Score) -> list[tuple[str, float]]:
    """(name, start in beats) of every section, in time order."""
    return [
        (section.name, section.start_bar * score.beats_per_bar)
        for section in sorted(score.sections, key=lambda s: (s.start_bar, s.name))
    ]


def probe_media(path: Path) -> Media:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError) as exc:  # soundfile raises RuntimeError for unreadable files
        raise LofictlError(f"cannot read stem {path} for the project file: {exc}") from None
    return Media(info.frames / info.samplerate, info.channels, info.samplerate)


def _resolve(project_dir: Path, stem: StemInfo) -> Path:
    return stem.path if Path(stem.path).is_absolute() else project_dir / stem.path


def _relative(project_dir: Path, stem: StemInfo) -> str:
    """The stem as the project file names it: relative to the project's folder, '/' separated."""
    target = _resolve(project_dir, stem)
    return Path(os.path.relpath(target, project_dir)).as_posix()


# --- stem conventions -----------------------------------------------------------------------


def _safe_field(text: str, fallback: str) -> str:
    """Letters, digits, '.', '-' only: '_' separates the fields of a stem name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = ascii_text.replace("#", "sharp")
    cleaned = re.sub(r"[^A-Za-z0-9.]+", "-", ascii_text).strip("-.")
    return cleaned or fallback


def _key_field(key: str) -> str:
    """'D minor' → 'Dmin', 'F# major' → 'Fsharpmaj', 'E dorian' → 'Edorian'."""
    parts = key.split()
    tonic = parts[0] if parts else "C"
    mode = " ".join(parts[1:]).lower() if len(parts) > 1 else "major"
    mode = {"minor": "min", "major": "maj"}.get(mode, mode)
    return _safe_field(tonic + mode, "key")


def stem_file_name(title: str, number: int, track: str, key: str, bpm: float) -> str:
    """`<Title>_<NN>_<Track>_<Key>_<BPM>bpm.wav`, as stem-delivery guides ask, in safe characters.

    >>> stem_file_name("Rainy Night", 1, "chords", "D minor", 72)
    'Rainy-Night_01_chords_Dmin_72bpm.wav'
    """
    if number < 0:
        raise LofictlError(f"a stem number cannot be negative (got {number})")
    return (
        f"{_safe_field(title, 'untitled')}_{number:02d}_{_safe_field(track, 'track')}_"
        f"{_key_field(key)}_{_num(round(bpm, 3))}bpm.wav"
    )


def stems_sidecar(
    score: Score, sample_rate: int, stems: list[StemInfo] | tuple[StemInfo, ...], *, title: str | None = None
) -> dict:
    """What a DAW user needs to line the stems up without a project file (JSON-ready)."""
    sections = [
        {
            "name": s.name,
            "start_bar": s.start_bar + 1,  # bars counted from 1, as DAWs show them
            "bars": s.bars,
            "start_beat": s.start_bar * score.beats_per_bar,
            "start_seconds": round(score.beat_to_seconds(s.start_bar * score.beats_per_bar), 6),
        }
        for s in sorted(score.sections, key=lambda s: (s.start_bar, s.name))
    ]
    listed = [
        {
            "file": Path(stem.path).as_posix(),
            "track": stem.track,
            "kind": stem.kind,
            "gain_db": stem.gain_db,
            "pan": stem.pan,
            "muted": stem.muted,
        }
        for stem in stems
        if stem.kind != "mix"
    ]
    mixes = [Path(stem.path).as_posix() for stem in stems if stem.kind == "mix"]
    data = {
        "lofictl_stems": 1,
        "title": title,
        "tempo_bpm": score.tempo,
        "time_signature": f"{score.numerator}/{score.denominator}",
        "key": score.key,
        "sample_rate": sample_rate,
        "length_beats": score.total_beats,
        "length_seconds": round(score.duration_seconds, 6),
        "start": "every stem starts at bar 1 (0 s) and runs the full length",
        "sections": sections,
        "stems": listed,
        "mix": mixes[0] if mixes else None,
    }
    if score.tempo_changes:  # each tempo holds until the next; a ramp is a step a beat
        data["tempo_map"] = [
            {
                "beat": beat,
                "bar": round(beat / score.beats_per_bar + 1, 6),
                "seconds": round(score.beat_to_seconds(beat), 6),
                "bpm": bpm,
            }
            for beat, bpm in tempo_points(score)
        ]
    return data


def _tempo_text(score: Score) -> str:
    low, high = score.tempo_range
    return f"{_num(score.tempo)} BPM" if low == high else f"{_num(score.tempo)} BPM ({_num(low)}-{_num(high)})"


def tempo_points(score: Score) -> list[tuple[float, float]]:
    """(beat, BPM) of the tempo map, from the start: what the DAW's tempo track gets."""
    return [(0.0, score.tempo), *score.tempo_changes]


def sidecar_text(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


# --- REAPER ---------------------------------------------------------------------------------


def _rpp_string(text: str) -> str:
    """REAPER quotes a string with whichever of " ' ` it does not contain."""
    text = " ".join(str(text).split())
    for quote in ('"', "'", "`"):
        if quote not in text:
            return f"{quote}{text}{quote}"
    return '"' + text.replace('"', "'") + '"'


def reaper_midi_events(score: Score, track_name: str, ppq: int = REAPER_PPQ) -> list[str]:
    """A Score track as REAPER in-project MIDI lines, from the same encoder as the .mid files.

    Going through `midi.track_to_midi` keeps the channel, bank/program and note ordering of
    the exported MIDI files. The last line, an all-notes-off at the end of the piece, sets the
    length of the MIDI source (REAPER writes the same).
    """
    from lofictl.export.midi import assign_channels, track_to_midi

    midi_file = track_to_midi(score, track_name, ticks_per_beat=ppq)
    lines: list[str] = []
    tick = last = 0
    for message in midi_file.tracks[1]:
        tick += message.time
        if message.is_meta:
            continue
        data = list(message.bytes()) + [0, 0]
        lines.append(f"E {tick - last} {data[0]:02x} {data[1]:02x} {data[2]:02x}")
        last = tick
    end = max(int(round(score.total_beats * ppq)), last)
    channel = assign_channels(score)[track_name]
    lines.append(f"E {end - last} {0xB0 | channel:02x} 7b 00")
    return lines


def reaper_project_text(export: DawExport, project_dir: Path, media: dict[StemInfo, Media]) -> str:
    """The .rpp text; `media` gives each stem's length (see `probe_media`)."""
    score = export.score
    out = [
        f'<REAPER_PROJECT 0.1 "6.0/lofictl-{__version__}" 0',
        "  <NOTES 0 2",
        f"    |{' '.join(export.title.split())}",
        f"    |Made by lofictl {__version__}. Stems have their effects, gain and pan printed; the dry",
        "    |stems, the MIDI parts and the mix reference are on muted tracks.",
        "  >",
        f"  SAMPLERATE {export.sample_rate} 0 0",
        f"  TEMPO {_num(score.tempo)} {score.numerator} {score.denominator}",
    ]
    if score.tempo_changes:  # the tempo envelope, square points: a tempo holds until the next
        out += [
            "  <TEMPOENVEX",
            "    ACT 1 -1",
            "    VIS 1 0 1",
            "    LANEHEIGHT 0 0",
            "    ARM 0",
            "    DEFSHAPE 1 -1 -1",
        ]
        out += [f"    PT {_num(score.beat_to_seconds(beat))} {_num(bpm)} 1" for beat, bpm in tempo_points(score)]
        out.append("  >")
    for index, (name, beat) in enumerate(section_markers(score), 1):
        out.append(f"  MARKER {index} {_num(score.beat_to_seconds(beat))} {_rpp_string(name)} 0 0 1")
    for kind, item in _lanes(export):
        if kind == "audio":
            stem = item
            gain_db, pan, muted = mixer_settings(stem)
            name = display_name(stem)
            info = media[stem]
            out += [
                "  <TRACK",
                f"    NAME {_rpp_string(name)}",
                f"    VOLPAN {_num(db_to_gain(gain_db))} {_num(pan)} -1",
                f"    MUTESOLO {int(muted)} 0 0",
                f"    NCHAN {max(2, info.channels + info.channels % 2)}",
                "    <ITEM",
                "      POSITION 0",
                f"      LENGTH {_num(info.seconds)}",
                "      LOOP 0",
                f"      NAME {_rpp_string(name)}",
                "      <SOURCE WAVE",
                f"        FILE {_rpp_string(_relative(project_dir, stem))}",
                "      >",
                "    >",
                "  >",
            ]
        else:
            track = item
            name = f"{track.name} (MIDI)"
            out += [
                "  <TRACK",
                f"    NAME {_rpp_string(name)}",
                "    VOLPAN 1 0 -1",
                "    MUTESOLO 1 0 0",
                "    <ITEM",
                "      POSITION 0",
                f"      LENGTH {_num(score.duration_seconds)}",
                "      LOOP 0",
                f"      NAME {_rpp_string(name)}",
                "      <SOURCE MIDI",
                f"        HASDATA 1 {REAPER_PPQ} QN",
            ]
            out += [f"        {line}" for line in reaper_midi_events(score, track.name)]
            out += ["      >", "    >", "  >"]
    out.append(">")
    return "\n".join(out) + "\n"


def write_reaper_project(path: Path, export: DawExport) -> Path:
    """Write `<name>.rpp`; stems are referenced by paths relative to its folder."""
    path = Path(path)
    project_dir = path.parent.resolve()
    media = {stem: probe_media(_resolve(project_dir, stem)) for stem in export.stems}
    atomic.write_bytes(path, reaper_project_text(export, project_dir, media).encode("utf-8"))
    return path


# --- DAWproject -----------------------------------------------------------------------------


class _Ids:
    """xs:ID values in document order: id0, id1, ..."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        value = f"id{self.count}"
        self.count += 1
        return value


def _element(parent: ET.Element | None, tag: str, **attributes: object) -> ET.Element:
    """An element with attributes in the order given (None dropped), so output is stable."""
    attrs = {
        key: (
            value
            if isinstance(value, str)
            else ("true" if value else "false")
            if isinstance(value, bool)
            else _num(value)
        )
        for key, value in attributes.items()
        if value is not None
    }
    return ET.Element(tag, attrs) if parent is None else ET.SubElement(parent, tag, attrs)


def _channel(
    track: ET.Element,
    ids: _Ids,
    *,
    role: str,
    gain_db: float,
    pan: float,
    muted: bool,
    destination: str | None,
    channel_id: str | None = None,
) -> ET.Element:
    channel = _element(track, "Channel", id=channel_id or ids(), role=role, audioChannels=2, destination=destination)
    _element(channel, "Mute", id=ids(), name="Mute", value=muted)
    _element(channel, "Pan", id=ids(), name="Pan", unit="normalized", min=0, max=1, value=(pan + 1) / 2)
    volume = db_to_gain(gain_db)
    _element(channel, "Volume", id=ids(), name="Volume", unit="linear", min=0, max=max(2.0, volume), value=volume)
    return channel


def _xml_bytes(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        + ET.tostring(root, encoding="unicode").encode("utf-8")
        + b"\n"
    )


def archive_names(
    stems: tuple[StemInfo, ...] | list[StemInfo], keep_wav: frozenset[str] | set[str] = frozenset()
) -> dict[StemInfo, str]:
    """Where each stem goes inside the archive, once per file: `audio/` and its path below the
    build's stems/ folder, as FLAC (stems/01_chords.wav → audio/01_chords.flac, the dry twin
    stems/dry/01_chords.wav → audio/dry/01_chords.flac). Files named in `keep_wav` (posix
    paths: float audio past full scale, which FLAC's integers would clip) stay WAV. A name
    still taken by another file gets a number."""
    names: dict[StemInfo, str] = {}
    by_file: dict[str, str] = {}
    for stem in stems:
        key = Path(stem.path).as_posix()
        if key not in by_file:
            path = Path(stem.path)
            parts = path.parts if not path.is_absolute() and ".." not in path.parts else (path.name,)
            if len(parts) > 1 and parts[0] == "stems":
                parts = parts[1:]
            suffix = path.suffix if key in keep_wav or path.suffix.lower() == ".flac" else ".flac"
            folder = "/".join(("audio", *parts[:-1]))
            stem_name = Path(parts[-1]).stem
            name, counter = f"{folder}/{stem_name}{suffix}", 2
            while name in by_file.values():
                name = f"{folder}/{stem_name}-{counter}{suffix}"
                counter += 1
            by_file[key] = name
        names[stem] = by_file[key]
    return names


def dawproject_xml(
    export: DawExport, media: dict[StemInfo, Media], inside: dict[StemInfo, str] | None = None
) -> tuple[bytes, bytes]:
    """(project.xml, metadata.xml) bytes for the export; `inside` names each stem's archive file."""
    score = export.score
    ids = _Ids()
    inside = inside or archive_names(export.stems)
    project = _element(None, "Project", version=DAWPROJECT_VERSION)
    _element(project, "Application", name="lofictl", version=__version__)
    transport = _element(project, "Transport")
    tempo_id = ids()
    _element(transport, "Tempo", id=tempo_id, name="Tempo", unit="bpm", min=20, max=666, value=score.tempo)
    _element(
        transport,
        "TimeSignature",
        id=ids(),
        name="Time Signature",
        numerator=score.numerator,
        denominator=score.denominator,
    )

    structure = _element(project, "Structure")
    master_track_id, master_channel_id = ids(), ids()
    lanes = _lanes(export)
    track_ids: list[str] = []
    for kind, item in lanes:
        track_id = ids()
        track_ids.append(track_id)
        if kind == "audio":
            gain_db, pan, muted = mixer_settings(item)
            track = _element(structure, "Track", id=track_id, name=display_name(item), contentType="audio", loaded=True)
        else:
            gain_db, pan, muted = 0.0, 0.0, True
            track = _element(
                structure, "Track", id=track_id, name=f"{item.name} (MIDI)", contentType="notes", loaded=True
            )
        _channel(track, ids, role="regular", gain_db=gain_db, pan=pan, muted=muted, destination=master_channel_id)
    master = _element(structure, "Track", id=master_track_id, name="Master", contentType="audio notes", loaded=True)
    _channel(
        master, ids, role="master", gain_db=0.0, pan=0.0, muted=False, destination=None, channel_id=master_channel_id
    )

    arrangement = _element(project, "Arrangement", id=ids())
    timeline = _element(arrangement, "Lanes", id=ids(), timeUnit="beats")
    timing = score.tempo_map
    for (kind, item), track_id in zip(lanes, track_ids):
        track_lanes = _element(timeline, "Lanes", id=ids(), track=track_id)
        clips = _element(track_lanes, "Clips", id=ids())
        if kind == "audio":
            info = media[item]
            beats = timing.beat_at(info.seconds)
            clip = _element(clips, "Clip", time=0, duration=beats, playStart=0, name=display_name(item))
            # Bitwig writes audio this way: seconds of audio mapped onto beats by warp points, one
            # at the start, one at each tempo change and one at the end: at the project's tempo
            # map that is no stretch at all.
            warps = _element(clip, "Warps", id=ids(), timeUnit="beats", contentTimeUnit="seconds")
            audio = _element(
                warps,
                "Audio",
                id=ids(),
                algorithm="raw",
                channels=info.channels,
                sampleRate=info.sample_rate,
                duration=info.seconds,
            )
            _element(audio, "File", path=inside[item])
            _element(warps, "Warp", time=0, contentTime=0)
            for beat, _ in score.tempo_changes:
                if beat < beats:
                    _element(warps, "Warp", time=beat, contentTime=timing.seconds(beat))
            _element(warps, "Warp", time=beats, contentTime=info.seconds)
        else:
            from lofictl.export.midi import assign_channels

            channel = assign_channels(score)[item.name]
            clip = _element(clips, "Clip", time=0, duration=score.total_beats, playStart=0, name=item.name)
            notes = _element(clip, "Notes", id=ids())
            for note in sorted(item.notes):
                _element(
                    notes,
                    "Note",
                    time=note.start,
                    duration=note.duration,
                    channel=channel,
                    key=note.pitch,
                    vel=note.velocity / 127,
                )
    markers = section_markers(score)
    if markers:  # the schema wants at least one Marker inside Markers
        marker_lane = _element(arrangement, "Markers", id=ids(), timeUnit="beats")
        for name, beat in markers:
            _element(marker_lane, "Marker", time=beat, name=name)
    if score.tempo_changes:  # the tempo track: each point holds until the next
        automation = _element(arrangement, "TempoAutomation", id=ids(), timeUnit="beats", unit="bpm")
        _element(automation, "Target", parameter=tempo_id)
        for beat, bpm in tempo_points(score):
            _element(automation, "RealPoint", time=beat, value=bpm, interpolation="hold")

    metadata = _element(None, "MetaData")
    ET.SubElement(metadata, "Title").text = export.title
    ET.SubElement(metadata, "Genre").text = "Lo-fi"
    ET.SubElement(metadata, "Comment").text = (
        f"Made by lofictl {__version__}: {score.key}, {_tempo_text(score)}, "
        f"{score.numerator}/{score.denominator}. Stems carry their effects, gain and pan; the dry "
        "stems, MIDI parts and mix reference are on muted tracks."
    )
    return _xml_bytes(project), _xml_bytes(metadata)


def _zip_entry(name: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = compress
    info.create_system = 3  # Unix, whatever machine wrote it
    info.external_attr = 0o644 << 16
    return info


def _past_full_scale(path: Path) -> bool:
    """Whether float audio goes past ±1.0 anywhere (FLAC stores integers: that would clip)."""
    from lofictl.sound.stream import AudioReader

    block = 1 << 16
    with AudioReader(path) as reader:
        return any(
            float(np.max(np.abs(reader.read(start, block)), initial=0.0)) > 1.0
            for start in range(0, reader.frames, block)
        )


def write_dawproject(path: Path, export: DawExport) -> Path:
    """Write `<name>.dawproject`: project.xml, metadata.xml and the stems under audio/.

    The stems go in as 24-bit FLAC, lossless for audio within full scale and a fraction of the
    float32 WAVs' size (the format leaves the audio format to the exporter; Bitwig, Studio One
    and REAPER read FLAC); a stem that peaks past full scale stays a float WAV, deflated.
    Entries are in sorted order with a fixed timestamp, so the same stems give the same bytes.
    """
    import tempfile

    from lofictl.sound.stream import encode_wav_to

    path = Path(path)
    project_dir = path.parent.resolve()
    sources = {stem: _resolve(project_dir, stem) for stem in export.stems}
    media = {stem: probe_media(source) for stem, source in sources.items()}
    keep_wav = {
        Path(stem.path).as_posix()
        for stem, source in sources.items()
        if source.suffix.lower() != ".flac" and _past_full_scale(source)
    }
    inside = archive_names(export.stems, keep_wav)
    project_xml, metadata_xml = dawproject_xml(export, media, inside)
    audio = {name: (sources[stem], media[stem].sample_rate) for stem, name in inside.items()}
    with atomic.replacing(path) as temporary:
        with (
            tempfile.TemporaryDirectory(prefix=f".{path.name}.flac-", dir=path.parent) as scratch,
            zipfile.ZipFile(temporary, "w") as archive,
        ):
            for name in sorted(audio):  # audio/... sorts before metadata.xml and project.xml
                source, sample_rate = audio[name]
                compress = zipfile.ZIP_STORED  # FLAC is compressed already
                if name.endswith(".flac") and source.suffix.lower() != ".flac":
                    source = encode_wav_to(source, Path(scratch) / "stem.flac", "flac", sample_rate)
                elif not name.endswith(".flac"):
                    compress = zipfile.ZIP_DEFLATED  # float audio: deflate takes what it can
                size = source.stat().st_size
                with (
                    open(source, "rb") as data,
                    archive.open(_zip_entry(name, compress), "w", force_zip64=size >= 1 << 31) as sink,
                ):
                    shutil.copyfileobj(data, sink, 1 << 20)
            archive.writestr(_zip_entry("metadata.xml", zipfile.ZIP_DEFLATED), metadata_xml)
            archive.writestr(_zip_entry("project.xml", zipfile.ZIP_DEFLATED), project_xml)
    return path


# --- reading back ---------------------------------------------------------------------------


def _rpp_tokens(line: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(line):
        char = line[position]
        if char.isspace():
            position += 1
        elif char in "\"'`":
            end = line.find(char, position + 1)
            end = len(line) if end < 0 else end
            tokens.append(line[position + 1 : end])
            position = end + 1
        else:
            end = position
            while end < len(line) and not line[end].isspace():
                end += 1
            tokens.append(line[position:end])
            position = end
    return tokens


@dataclass
class _Chunk:
    name: str
    args: list[str]
    lines: list[list[str]]
    children: list["_Chunk"]

    def first(self, key: str) -> list[str] | None:
        return next((line[1:] for line in self.lines if line and line[0] == key), None)


def _parse_rpp(text: str, where: str) -> _Chunk:
    stack: list[_Chunk] = []
    root: _Chunk | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("<"):
            tokens = _rpp_tokens(line[1:])
            chunk = _Chunk(tokens[0] if tokens else "", tokens[1:], [], [])
            if stack:
                stack[-1].children.append(chunk)
            elif root is None:
                root = chunk
            else:
                raise LofictlError(f"line {number}: a second top-level block", file=where)
            stack.append(chunk)
        elif line == ">":
            if not stack:
                raise LofictlError(f"line {number}: '>' closes nothing", file=where)
            stack.pop()
        elif stack:
            stack[-1].lines.append(_rpp_tokens(line))
    if root is None or root.name != "REAPER_PROJECT":
        raise LofictlError("not a REAPER project (no <REAPER_PROJECT block)", file=where)
    if stack:
        raise LofictlError(f"the <{stack[-1].name} block is never closed", file=where)
    return root


def _rpp_midi(source: _Chunk) -> dict:
    hasdata = source.first("HASDATA") or ["1", str(REAPER_PPQ), "QN"]
    ppq = int(hasdata[1])
    tick = 0
    sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
    notes, programs = [], []
    for line in source.lines:
        if not line or line[0] not in ("E", "e"):
            continue
        tick += int(line[1])
        status, data1, data2 = (int(value, 16) for value in line[2:5])
        kind, channel = status & 0xF0, status & 0x0F
        if kind == 0x90 and data2 > 0:
            sounding.setdefault((channel, data1), []).append((tick, data2))
        elif kind in (0x80, 0x90) and sounding.get((channel, data1)):
            on, velocity = sounding[(channel, data1)].pop(0)
            notes.append((on / ppq, (tick - on) / ppq, data1, velocity, channel))
        elif kind == 0xC0:
            programs.append((channel, data1))
    return {"ppq": ppq, "notes": sorted(notes), "programs": programs, "length_beats": tick / ppq}


def read_reaper_project(path: Path) -> dict:
    """Tempo, meter, markers and every track with its items, from an .rpp file."""
    path = Path(path)
    root = _parse_rpp(path.read_text(encoding="utf-8"), str(path))
    tempo = root.first("TEMPO")
    if tempo is None:
        raise LofictlError("the project has no TEMPO line", file=path)
    rate = root.first("SAMPLERATE")
    result: dict = {
        "tempo": float(tempo[0]),
        "time_signature": (int(tempo[1]), int(tempo[2])) if len(tempo) >= 3 else (4, 4),
        "sample_rate": int(rate[0]) if rate else None,
        "markers": [
            {"index": int(line[1]), "position": float(line[2]), "name": line[3]}
            for line in root.lines
            if line and line[0] == "MARKER"
        ],
        "tempo_points": [
            (float(line[1]), float(line[2]))
            for chunk in root.children
            if chunk.name == "TEMPOENVEX"
            for line in chunk.lines
            if line and line[0] == "PT"
        ],
        "tracks": [],
    }
    for chunk in root.children:
        if chunk.name != "TRACK":
            continue
        volpan = chunk.first("VOLPAN") or ["1", "0"]
        mutesolo = chunk.first("MUTESOLO") or ["0"]
        name = chunk.first("NAME")
        track = {
            "name": name[0] if name else "",
            "volume": float(volpan[0]),
            "pan": float(volpan[1]),
            "muted": mutesolo[0] == "1",
            "items": [],
        }
        for item_chunk in (c for c in chunk.children if c.name == "ITEM"):
            item_name = item_chunk.first("NAME")
            item = {
                "name": item_name[0] if item_name else "",
                "position": float((item_chunk.first("POSITION") or ["0"])[0]),
                "length": float((item_chunk.first("LENGTH") or ["0"])[0]),
                "source": None,
                "file": None,
            }
            for source in (c for c in item_chunk.children if c.name == "SOURCE"):
                item["source"] = source.args[0] if source.args else ""
                file_line = source.first("FILE")
                item["file"] = file_line[0] if file_line else None
                if item["source"] == "MIDI":
                    item.update(_rpp_midi(source))
            track["items"].append(item)
        result["tracks"].append(track)
    return result


def _float(element: ET.Element | None, attribute: str, default: float | None = None) -> float | None:
    if element is None or element.get(attribute) is None:
        return default
    return float(element.get(attribute))


def _clip_content(clip: ET.Element) -> dict:
    audio = clip.find(".//Audio")
    notes = clip.find("Notes")
    content: dict = {
        "time": float(clip.get("time")),
        "duration": _float(clip, "duration"),
        "name": clip.get("name"),
        "audio": None,
        "notes": [],
    }
    if audio is not None:
        file_ref = audio.find("File")
        content["audio"] = {
            "path": file_ref.get("path") if file_ref is not None else None,
            "duration": float(audio.get("duration")),
            "channels": int(audio.get("channels")),
            "sample_rate": int(audio.get("sampleRate")),
        }
        warps = clip.find("Warps")
        if warps is not None:
            content["warps"] = [(float(w.get("time")), float(w.get("contentTime"))) for w in warps.findall("Warp")]
    if notes is not None:
        content["notes"] = sorted(
            (
                float(n.get("time")),
                float(n.get("duration")),
                int(n.get("key")),
                float(n.get("vel", "0")),
                int(n.get("channel")),
            )
            for n in notes.findall("Note")
        )
    return content


def read_dawproject(path: Path) -> dict:
    """Tempo, meter, markers, tracks with their mixer and clips, and the archive's file list."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            project_xml = archive.read("project.xml")
            metadata_xml = archive.read("metadata.xml") if "metadata.xml" in names else None
            sizes = {info.filename: info.file_size for info in archive.infolist()}
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise LofictlError(f"not a readable DAWproject archive ({exc})", file=path) from None
    try:
        project = ET.fromstring(project_xml)
        metadata = ET.fromstring(metadata_xml) if metadata_xml is not None else None
    except ET.ParseError as exc:
        raise LofictlError(f"project.xml is not well-formed XML ({exc})", file=path) from None
    tempo = project.find("Transport/Tempo")
    meter = project.find("Transport/TimeSignature")
    application = project.find("Application")
    tracks: dict[str, dict] = {}
    for track in project.iter("Track"):
        channel = track.find("Channel")
        mute = channel.find("Mute") if channel is not None else None
        pan = channel.find("Pan") if channel is not None else None
        volume = channel.find("Volume") if channel is not None else None
        tracks[track.get("id")] = {
            "id": track.get("id"),
            "name": track.get("name"),
            "content_type": (track.get("contentType") or "").split(),
            "role": channel.get("role") if channel is not None else None,
            "muted": mute is not None and mute.get("value") == "true",
            "pan": _float(pan, "value", 0.5) * 2 - 1,
            "volume": _float(volume, "value", 1.0),
            "clips": [],
        }
    arrangement = project.find("Arrangement")
    time_unit = None
    if arrangement is not None:
        top = arrangement.find("Lanes")
        time_unit = top.get("timeUnit") if top is not None else None
        for lane in arrangement.iter("Lanes"):
            owner = lane.get("track")
            if owner is None:
                continue
            if owner not in tracks:
                raise LofictlError(f"a lane refers to track {owner!r}, which is not in Structure", file=path)
            for clip in lane.findall("Clips/Clip"):
                tracks[owner]["clips"].append(_clip_content(clip))
    markers = [
        {"name": m.get("name"), "time": float(m.get("time"))}
        for m in (arrangement.findall("Markers/Marker") if arrangement is not None else [])
    ]
    tempo_points = [
        (float(p.get("time")), float(p.get("value")))
        for p in (arrangement.findall("TempoAutomation/RealPoint") if arrangement is not None else [])
    ]
    return {
        "version": project.get("version"),
        "application": dict(application.attrib) if application is not None else {},
        "tempo": _float(tempo, "value"),
        "time_signature": (int(meter.get("numerator")), int(meter.get("denominator"))) if meter is not None else None,
        "time_unit": time_unit,
        "markers": markers,
        "tempo_points": tempo_points,
        "tracks": list(tracks.values()),
        "files": sorted(names),
        "file_sizes": sizes,
        "metadata": {child.tag: child.text for child in metadata} if metadata is not None else {},
    }


def dawproject_member(path: Path, name: str) -> bytes:
    """One file from inside a .dawproject archive (for checking the embedded audio)."""
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


__all__ = [
    "DawExport",
    "Media",
    "StemInfo",
    "archive_names",
    "dawproject_member",
    "dawproject_xml",
    "display_name",
    "mixer_settings",
    "probe_media",
    "read_dawproject",
    "read_reaper_project",
    "reaper_midi_events",
    "reaper_project_text",
    "section_markers",
    "sidecar_text",
    "stem_file_name",
    "stems_sidecar",
    "write_dawproject",
    "write_reaper_project",
]
