"""REAPER projects (.rpp): the writer, and a reader that parses one back into plain dicts.

What was checked against which document: the item/track/MIDI state-chunk definitions (REAPER's
wiki "State Chunk Definitions", mirrored in ReaTeam/Doc) and "StateChunkAndRppMidiFormat" for
in-project MIDI (`HASDATA 1 960 QN`, `E <delta ticks> <status> <data1> <data2>`); TEMPO/MARKER
lines and VOLPAN (linear volume, pan -1..1) as REAPER writes them. Track order, fader, pan and
mute follow export.daw's rules.

`read_reaper_project` is used by the tests, and is handy for inspecting an export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    relative_stem,
    resolve_stem,
    section_markers,
    tempo_points,
)
from lofictl.safety import atomic
from lofictl.sound.levels import db_to_gain

REAPER_PPQ = 960  # ticks per quarter note of in-project MIDI, as REAPER writes it


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
        f"  TEMPO {num(score.tempo)} {score.numerator} {score.denominator}",
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
        out += [f"    PT {num(score.beat_to_seconds(beat))} {num(bpm)} 1" for beat, bpm in tempo_points(score)]
        out.append("  >")
    for index, (name, beat) in enumerate(section_markers(score), 1):
        out.append(f"  MARKER {index} {num(score.beat_to_seconds(beat))} {_rpp_string(name)} 0 0 1")
    for item in lane_order(export):
        if isinstance(item, StemInfo):
            stem = item
            gain_db, pan, muted = mixer_settings(stem)
            name = display_name(stem)
            info = media[stem]
            out += [
                "  <TRACK",
                f"    NAME {_rpp_string(name)}",
                f"    VOLPAN {num(db_to_gain(gain_db))} {num(pan)} -1",
                f"    MUTESOLO {int(muted)} 0 0",
                f"    NCHAN {max(2, info.channels + info.channels % 2)}",
                "    <ITEM",
                "      POSITION 0",
                f"      LENGTH {num(info.seconds)}",
                "      LOOP 0",
                f"      NAME {_rpp_string(name)}",
                "      <SOURCE WAVE",
                f"        FILE {_rpp_string(relative_stem(project_dir, stem))}",
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
                f"      LENGTH {num(score.duration_seconds)}",
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
    media = {stem: probe_media(resolve_stem(project_dir, stem)) for stem in export.stems}
    atomic.write_bytes(path, reaper_project_text(export, project_dir, media).encode("utf-8"))
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
        track: dict[str, Any] = {
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


__all__ = ["REAPER_PPQ", "reaper_midi_events", "reaper_project_text", "read_reaper_project", "write_reaper_project"]
