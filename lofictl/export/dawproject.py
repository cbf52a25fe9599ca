"""DAWproject archives (.dawproject): the writer, and a reader that parses one back into plain dicts.

What was checked against which document: Project.xsd and MetaData.xsd of the format (tests
validate against copies of both) and a project.xml exported by Bitwig Studio (Transport,
Structure/Track/Channel, Arrangement/Lanes/Clips, audio as Warps around Audio, Markers). Track
order, fader, pan and mute follow export.daw's rules. The XML has its attributes in a fixed
order and the zip entries a fixed timestamp, so the same stems give the same bytes.

`read_dawproject` and `dawproject_member` are used by the tests, and are handy for inspecting an
export.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np

from lofictl import __version__
from lofictl.compose.score import Score
from lofictl.errors import LofictlError
from lofictl.export.daw import (
    DawExport,
    Media,
    StemInfo,
    display_name,
    lane_order,
    mixer_settings,
    num,
    probe_media,
    resolve_stem,
    section_markers,
    tempo_points,
)
from lofictl.safety import atomic
from lofictl.sound.levels import db_to_gain

DAWPROJECT_VERSION = "1.0"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can say: no wall-clock in the bytes


def _tempo_text(score: Score) -> str:
    low, high = score.tempo_range
    return f"{num(score.tempo)} BPM" if low == high else f"{num(score.tempo)} BPM ({num(low)}-{num(high)})"


class _Ids:
    """xs:ID values in document order: id0, id1, ..."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        value = f"id{self.count}"
        self.count += 1
        return value


def _element(parent: ET.Element | None, tag: str, **attributes: str | float | None) -> ET.Element:
    """An element with attributes in the order given (None dropped), so output is stable."""
    attrs = {
        key: (
            value
            if isinstance(value, str)
            else ("true" if value else "false")
            if isinstance(value, bool)
            else num(value)
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
    lanes = lane_order(export)
    track_ids: list[str] = []
    for item in lanes:
        track_id = ids()
        track_ids.append(track_id)
        if isinstance(item, StemInfo):
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
    for item, track_id in zip(lanes, track_ids):
        track_lanes = _element(timeline, "Lanes", id=ids(), track=track_id)
        clips = _element(track_lanes, "Clips", id=ids())
        if isinstance(item, StemInfo):
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
    sources = {stem: resolve_stem(project_dir, stem) for stem in export.stems}
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


def _float(element: ET.Element | None, attribute: str) -> float | None:
    """The attribute as a number, None when the element or the attribute is missing."""
    value = element.get(attribute) if element is not None else None
    return None if value is None else float(value)


def _number(element: ET.Element | None, attribute: str, default: float) -> float:
    found = _float(element, attribute)
    return default if found is None else found


def _attr(element: ET.Element, attribute: str) -> str:
    """An attribute the format requires: a file without it is not one lofictl can read back."""
    value = element.get(attribute)
    if value is None:
        raise LofictlError(f"project.xml: a <{element.tag}> has no {attribute!r} attribute")
    return value


def _clip_content(clip: ET.Element) -> dict:
    audio = clip.find(".//Audio")
    notes = clip.find("Notes")
    content: dict = {
        "time": float(_attr(clip, "time")),
        "duration": _float(clip, "duration"),
        "name": clip.get("name"),
        "audio": None,
        "notes": [],
    }
    if audio is not None:
        file_ref = audio.find("File")
        content["audio"] = {
            "path": file_ref.get("path") if file_ref is not None else None,
            "duration": float(_attr(audio, "duration")),
            "channels": int(_attr(audio, "channels")),
            "sample_rate": int(_attr(audio, "sampleRate")),
        }
        warps = clip.find("Warps")
        if warps is not None:
            content["warps"] = [
                (float(_attr(w, "time")), float(_attr(w, "contentTime"))) for w in warps.findall("Warp")
            ]
    if notes is not None:
        content["notes"] = sorted(
            (
                float(_attr(n, "time")),
                float(_attr(n, "duration")),
                int(_attr(n, "key")),
                float(n.get("vel", "0")),
                int(_attr(n, "channel")),
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
        track_id = _attr(track, "id")
        tracks[track_id] = {
            "id": track_id,
            "name": track.get("name"),
            "content_type": (track.get("contentType") or "").split(),
            "role": channel.get("role") if channel is not None else None,
            "muted": mute is not None and mute.get("value") == "true",
            "pan": _number(pan, "value", 0.5) * 2 - 1,
            "volume": _number(volume, "value", 1.0),
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
        {"name": m.get("name"), "time": float(_attr(m, "time"))}
        for m in (arrangement.findall("Markers/Marker") if arrangement is not None else [])
    ]
    tempo_points = [
        (float(_attr(p, "time")), float(_attr(p, "value")))
        for p in (arrangement.findall("TempoAutomation/RealPoint") if arrangement is not None else [])
    ]
    return {
        "version": project.get("version"),
        "application": dict(application.attrib) if application is not None else {},
        "tempo": _float(tempo, "value"),
        "time_signature": (int(_attr(meter, "numerator")), int(_attr(meter, "denominator")))
        if meter is not None
        else None,
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
    "DAWPROJECT_VERSION",
    "ZIP_DATE",
    "archive_names",
    "dawproject_member",
    "dawproject_xml",
    "read_dawproject",
    "write_dawproject",
]
