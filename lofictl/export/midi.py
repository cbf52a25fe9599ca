"""Score ⇄ Standard MIDI File, with mido.

Writing gives a type-1 file a DAW opens cleanly: track 0 is the conductor (name, tempo, time
signature, key signature, section markers, provenance text), then one track per Score track
with its name, bank and program, and its notes. Times are rounded to ticks; every note lasts at
least one tick; a note that would still sound when the same pitch starts again on its channel
is cut at that point, so no note-off ever ends the wrong note and none is left hanging. At one
tick, note-offs come before note-ons. The same Score always gives the same bytes.

Reading takes any SMF (type 0, 1 or 2) back to a Score, in beats of the file's own resolution.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path
from typing import BinaryIO

import mido

from lofictl.compose.score import DRUM_CHANNEL, Note, PlacedSection, Score, Track
from lofictl.compose.theory import TheoryError, parse_key
from lofictl.errors import LofictlError, did_you_mean

DEFAULT_TICKS_PER_BEAT = 480
KEY_TEXT_PREFIX = "lofictl key: "  # keeps a mode (dorian, ...) that a key signature cannot say
PROVENANCE_PREFIX = "lofictl provenance: "
TEXT_CHARSET = "utf-8"  # MIDI text is bytes; UTF-8 carries any title (emoji too), and DAWs read it

# mido's key names; for a pitch class the spelling with the fewest accidentals.
_MAJOR_BY_PC = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_BY_PC = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")
_MIDO_KEYS = frozenset(_MAJOR_BY_PC + _MINOR_BY_PC + ("Cb", "Gb", "C#", "D#m", "A#m", "Abm"))
# How far each mode's tonic sits above the major key with the same notes (dorian on D → C).
_MODE_TO_MAJOR = {"major": 0, "dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7}


def midi_key_signature(key: str) -> str:
    """'D minor' → 'Dm'; a mode takes the signature with the same notes ('E dorian' → 'Bm').

    Modes with a minor third are written as the relative minor, the others as the major;
    harmonic minor keeps its own tonic ('A harmonic minor' → 'Am').
    """
    try:
        parsed = parse_key(key)
    except TheoryError as error:
        raise LofictlError(str(error), field="key") from None
    written = key.strip().split()[0]
    written = written[0].upper() + written[1:]
    if parsed.mode in ("major", "minor"):
        name = written + ("m" if parsed.mode == "minor" else "")
        if name in _MIDO_KEYS:
            return name
        table = _MAJOR_BY_PC if parsed.mode == "major" else _MINOR_BY_PC
        return table[parsed.tonic]
    if parsed.mode == "harmonic minor":
        return _MINOR_BY_PC[parsed.tonic]
    major = (parsed.tonic - _MODE_TO_MAJOR[parsed.mode]) % 12
    minor_third = 3 in {(pc - parsed.tonic) % 12 for pc in parsed.scale}
    return _MINOR_BY_PC[(major + 9) % 12] if minor_third else _MAJOR_BY_PC[major]


def _key_from_midi(name: str) -> str:
    """mido 'Dm' → 'D minor', 'Bb' → 'Bb major'."""
    return f"{name[:-1]} minor" if name.endswith("m") else f"{name} major"


def assign_channels(score: Score) -> dict[str, int]:
    """MIDI channel (0-15) per track name: drums on 9; others keep Track.channel when it is free
    and not 9, else take the lowest free channel in order of the tracks (wrapping past 15)."""
    melodic = [c for c in range(16) if c != DRUM_CHANNEL]
    taken: set[int] = set()
    channels: dict[str, int] = {}
    for track in score.tracks:
        if track.is_drums:
            channels[track.name] = DRUM_CHANNEL
        elif track.channel in melodic and track.channel not in taken:
            channels[track.name] = track.channel
            taken.add(track.channel)
    for index, track in enumerate(score.tracks):
        if track.name in channels:
            continue
        free = [c for c in melodic if c not in taken]
        channel = free[0] if free else melodic[index % len(melodic)]
        channels[track.name] = channel
        taken.add(channel)
    return channels


def _ticks(beats: float, ticks_per_beat: int) -> int:
    return int(round(beats * ticks_per_beat))


def _to_track(events: list[tuple[int, int, mido.Message | mido.MetaMessage]], end_tick: int) -> mido.MidiTrack:
    """Absolute (tick, order, message) events → a track of delta times, closed at `end_tick`."""
    track = mido.MidiTrack()
    now = 0
    for tick, _, message in sorted(events, key=lambda event: (event[0], event[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(end_tick, now) - now))
    return track


def _conductor(score: Score, ticks_per_beat: int, provenance: dict | None) -> mido.MidiTrack:
    if score.tempo <= 0:
        raise LofictlError(f"tempo must be more than 0 BPM (got {score.tempo})", field="tempo")
    if score.denominator not in (1, 2, 4, 8, 16, 32, 64) or not 1 <= score.numerator <= 255:
        raise LofictlError(
            f"time signature {score.numerator}/{score.denominator} cannot be written to "
            "MIDI (the bottom number must be a power of two)",
            field="time_signature",
        )
    title = str((provenance or {}).get("title", "lofictl"))
    compound = score.denominator == 8 and score.numerator % 3 == 0 and score.numerator >= 6
    events: list[tuple[int, int, mido.MetaMessage]] = [
        (0, 0, mido.MetaMessage("track_name", name=title)),
        (0, 1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(score.tempo))),
        (
            0,
            2,
            mido.MetaMessage(
                "time_signature",
                numerator=score.numerator,
                denominator=score.denominator,
                clocks_per_click=36 if compound else 24,
                notated_32nd_notes_per_beat=8,
            ),
        ),
        (0, 3, mido.MetaMessage("key_signature", key=midi_key_signature(score.key))),
    ]
    if parse_key(score.key).mode not in ("major", "minor"):
        events.append((0, 4, mido.MetaMessage("text", text=KEY_TEXT_PREFIX + score.key.strip())))
    if provenance:
        text = json.dumps(provenance, sort_keys=True, separators=(",", ":"), default=str)
        events.append((0, 5, mido.MetaMessage("text", text=PROVENANCE_PREFIX + text)))
    for beat, bpm in score.tempo_changes:  # the tempo map: sections' tempos, ramps in steps
        if bpm <= 0:
            raise LofictlError(f"tempo must be more than 0 BPM (got {bpm} at beat {beat})", field="sections")
        events.append((_ticks(beat, ticks_per_beat), 6, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
    for order, section in enumerate(sorted(score.sections, key=lambda s: (s.start_bar, s.name))):
        tick = _ticks(section.start_bar * score.beats_per_bar, ticks_per_beat)
        events.append((tick, 10 + order, mido.MetaMessage("marker", text=section.name)))
    return _to_track(events, _ticks(score.total_beats, ticks_per_beat))


def _note_spans(track: Track, ticks_per_beat: int) -> list[tuple[int, int, int, int]]:
    """(on, off, pitch, velocity) in ticks: at least one tick long, same-pitch overlaps cut."""
    spans: dict[int, list[list[int]]] = defaultdict(list)
    for note in track.notes:
        if not 0 <= note.pitch <= 127 or not 1 <= note.velocity <= 127 or note.start < 0 or note.duration < 0:
            raise LofictlError(
                f"track {track.name!r} has a note MIDI cannot hold: {note} "
                "(pitch 0-127, velocity 1-127, start and duration not negative)"
            )
        on = _ticks(note.start, ticks_per_beat)
        off = max(on + 1, _ticks(note.end, ticks_per_beat))
        spans[note.pitch].append([on, off, note.pitch, note.velocity])
    out: list[tuple[int, int, int, int]] = []
    for pitch in sorted(spans):
        merged: list[list[int]] = []
        for span in sorted(spans[pitch]):
            if merged and merged[-1][0] == span[0]:  # struck twice at one tick: one louder, longer note
                merged[-1][1] = max(merged[-1][1], span[1])
                merged[-1][3] = max(merged[-1][3], span[3])
                continue
            if merged and merged[-1][1] > span[0]:  # still sounding: end it where the next begins
                merged[-1][1] = span[0]
            merged.append(span)
        out.extend((start, end, key, velocity) for start, end, key, velocity in merged)
    return out


def _instrument_track(track: Track, channel: int, ticks_per_beat: int, end_tick: int) -> mido.MidiTrack:
    if not 0 <= track.program <= 127:
        raise LofictlError(f"track {track.name!r}: program must be 0-127 (got {track.program})")
    if not 0 <= track.bank <= 16383:
        raise LofictlError(f"track {track.name!r}: bank must be 0-16383 (got {track.bank})")
    events: list[tuple[int, int, mido.Message | mido.MetaMessage]] = [
        (0, 0, mido.MetaMessage("track_name", name=track.name)),
    ]
    if track.bank:
        events.append((0, 1, mido.Message("control_change", channel=channel, control=0, value=track.bank >> 7)))
        events.append((0, 2, mido.Message("control_change", channel=channel, control=32, value=track.bank & 127)))
    events.append((0, 3, mido.Message("program_change", channel=channel, program=track.program)))
    # Order within a tick: setup (0-3), then note-offs (4), then note-ons (5), each by pitch.
    for on, off, pitch, velocity in _note_spans(track, ticks_per_beat):
        events.append((off, 4 * 128 + pitch, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
        events.append((on, 5 * 128 + pitch, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
    return _to_track(events, end_tick)


def score_to_midi(
    score: Score, *, ticks_per_beat: int = DEFAULT_TICKS_PER_BEAT, provenance: dict | None = None
) -> mido.MidiFile:
    """A type-1 MIDI file: conductor track, then one track per Score track, in Score order.

    `provenance` (recipe hash, seed, versions...) is stored as sorted JSON in a text event;
    a "title" entry also names the conductor track, which DAWs show as the song name.
    """
    channels = assign_channels(score)
    end_tick = _ticks(score.total_beats, ticks_per_beat)
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat, charset=TEXT_CHARSET)
    midi.tracks.append(_conductor(score, ticks_per_beat, provenance))
    for track in score.tracks:
        midi.tracks.append(_instrument_track(track, channels[track.name], ticks_per_beat, end_tick))
    return midi


def track_to_midi(
    score: Score, track_name: str, *, ticks_per_beat: int = DEFAULT_TICKS_PER_BEAT, provenance: dict | None = None
) -> mido.MidiFile:
    """A type-1 file with the conductor and one track, on the channel it has in the full file."""
    names = [track.name for track in score.tracks]
    if track_name not in names:
        hint = did_you_mean(track_name, names)
        raise LofictlError(f"no track named {track_name!r}{hint} (tracks: {', '.join(names) or 'none'})")
    channels = assign_channels(score)
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat, charset=TEXT_CHARSET)
    midi.tracks.append(_conductor(score, ticks_per_beat, provenance))
    midi.tracks.append(
        _instrument_track(
            score.track(track_name), channels[track_name], ticks_per_beat, _ticks(score.total_beats, ticks_per_beat)
        )
    )
    return midi


def midi_bytes(midi: mido.MidiFile) -> bytes:
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def write_midi(midi: mido.MidiFile, path: str | Path) -> bytes:
    """Write the file and return the bytes written (for hashing into the lock file)."""
    data = midi_bytes(midi)
    Path(path).write_bytes(data)
    return data


# --- reading ---------------------------------------------------------------------------------


def _open(source: str | Path | bytes | BinaryIO | mido.MidiFile) -> tuple[mido.MidiFile, str]:
    if isinstance(source, mido.MidiFile):
        return source, source.filename or "<midi>"
    if isinstance(source, (bytes, bytearray)):
        source, name = io.BytesIO(bytes(source)), "<midi bytes>"
    else:
        name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "<midi file>")
    try:
        data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source.read()
        try:
            midi = mido.MidiFile(file=io.BytesIO(data), charset=TEXT_CHARSET)
        except UnicodeDecodeError:  # text written by a tool that does not use UTF-8
            midi = mido.MidiFile(file=io.BytesIO(data), charset="latin1")
        if isinstance(source, (str, Path)):
            midi.filename = str(source)
    except FileNotFoundError:
        raise LofictlError("MIDI file not found", file=name) from None
    except EOFError:
        raise LofictlError(
            "not a readable MIDI file (it ends before its header and tracks are complete)", file=name
        ) from None
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        reason = str(error) or type(error).__name__
        raise LofictlError(f"not a readable MIDI file ({reason})", file=name) from None
    if not midi.tracks:
        raise LofictlError("the MIDI file has no tracks", file=name)
    return midi, name


class _Part:
    """What one (MIDI track, channel) pair held."""

    def __init__(self, index: int, name: str, channel: int):
        self.index, self.name, self.channel = index, name, channel
        self.program: int | None = None
        self.bank_msb = self.bank_lsb = 0
        self.notes: list[Note] = []


def _read(midi: mido.MidiFile) -> tuple[dict, list[_Part], int]:
    """Conductor facts, the parts with their notes in beats, and the last tick of the file."""
    tpb = midi.ticks_per_beat
    meta: dict = {"markers": []}
    parts: list[_Part] = []
    last_tick = 0
    for index, track in enumerate(midi.tracks):
        name = f"track {index}"
        by_channel: dict[int, _Part] = {}
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        tick = 0

        def part(channel: int) -> _Part:
            if channel not in by_channel:
                by_channel[channel] = _Part(index, name, channel)
            return by_channel[channel]

        def close(key: tuple[int, int], at: int) -> None:
            on, velocity = sounding[key].pop(0)  # first on, first off, as most readers pair them
            part(key[0]).notes.append(Note(on / tpb, max(at - on, 1) / tpb, key[1], velocity))

        for message in track:
            tick += message.time
            kind = message.type
            if kind == "track_name":
                name = message.name
                for existing in by_channel.values():
                    existing.name = name
            elif kind == "set_tempo":
                meta.setdefault("tempo", message.tempo)
                meta.setdefault("tempos", []).append((tick, message.tempo))
            elif kind == "time_signature":
                meta.setdefault("meter", (message.numerator, message.denominator))
            elif kind == "key_signature":
                meta.setdefault("key", _key_from_midi(message.key))
            elif kind == "text" and message.text.startswith(KEY_TEXT_PREFIX):
                meta["mode_key"] = message.text[len(KEY_TEXT_PREFIX) :]
            elif kind == "marker":
                meta["markers"].append((tick, message.text))
            elif kind == "note_on" and message.velocity > 0:
                part(message.channel)
                sounding[(message.channel, message.note)].append((tick, message.velocity))
            elif kind in ("note_off", "note_on"):
                if sounding.get((message.channel, message.note)):
                    close((message.channel, message.note), tick)
            elif kind == "program_change":
                if part(message.channel).program is None:
                    part(message.channel).program = message.program
            elif kind == "control_change" and message.control in (0, 32):
                target = part(message.channel)
                if message.control == 0:
                    target.bank_msb = message.value
                else:
                    target.bank_lsb = message.value
        for key in sorted(sounding):  # a file with stuck notes: end them with the track
            while sounding[key]:
                close(key, tick)
        last_tick = max(last_tick, tick)
        for channel in sorted(by_channel):
            parts.append(by_channel[channel])
    return meta, parts, last_tick


def midi_to_score(source: str | Path | bytes | BinaryIO | mido.MidiFile) -> Score:
    """Read a MIDI file into a Score: first tempo, time signature and key; markers become
    sections; each (track, channel) with channel messages becomes a Track, in file order.

    A track holding several channels is split into "name (ch N)" tracks; repeated names get a
    number. Channel 10 is read as drums. Part is "drums" or "midi" (MIDI does not record it).
    """
    midi, name = _open(source)
    meta, parts, last_tick = _read(midi)
    tpb = midi.ticks_per_beat
    numerator, denominator = meta.get("meter", (4, 4))
    tempo = round(mido.tempo2bpm(meta.get("tempo", 500000)), 3)
    key = meta.get("mode_key") or meta.get("key") or "C major"
    split: defaultdict[int, int] = defaultdict(int)
    for p in parts:
        split[p.index] += 1
    tracks: list[Track] = []
    used: set[str] = set()
    for p in parts:
        track_name = p.name if split[p.index] == 1 else f"{p.name} (ch {p.channel + 1})"
        unique, n = track_name, 2
        while unique in used:
            unique, n = f"{track_name} {n}", n + 1
        used.add(unique)
        drums = p.channel == DRUM_CHANNEL
        tracks.append(
            Track(
                unique,
                "drums" if drums else "midi",
                tuple(sorted(p.notes)),
                program=p.program or 0,
                bank=(p.bank_msb << 7) | p.bank_lsb,
                is_drums=drums,
                channel=p.channel,
            )
        )
    beats_per_bar = numerator * 4.0 / denominator
    total_beats = last_tick / tpb
    markers = sorted(meta["markers"])
    sections = []
    for i, (tick, text) in enumerate(markers):
        start = tick / tpb
        end = markers[i + 1][0] / tpb if i + 1 < len(markers) else total_beats
        playing = tuple(t.name for t in tracks if any(start <= note.start < end for note in t.notes))
        sections.append(
            PlacedSection(
                text, int(round(start / beats_per_bar)), max(1, int(round((end - start) / beats_per_bar))), playing
            )
        )
    if not tracks and not meta.get("tempo"):
        raise LofictlError("the MIDI file holds no notes, tracks or tempo", file=name)
    changes: dict[float, float] = {}
    for tick, value in sorted(meta.get("tempos", []))[1:]:  # the first one is `tempo`
        changes[tick / tpb] = round(mido.tempo2bpm(value), 3)
    changes.pop(0.0, None)
    tempo_changes = tuple((beat, bpm) for beat, bpm in sorted(changes.items()))
    return Score(
        tempo=tempo,
        numerator=numerator,
        denominator=denominator,
        key=key,
        total_beats=total_beats,
        tracks=tuple(tracks),
        sections=tuple(sections),
        tempo_changes=tempo_changes,
    )


def read_midi_clip(
    path: str | Path | bytes | BinaryIO | mido.MidiFile, track: str | int | None = None, channel: int | None = None
) -> tuple[Note, ...]:
    """Notes of a user's MIDI clip, in beats from the clip's start (its own ticks per beat).

    `track` picks a MIDI track by name or by its 0-based index in the file (None: all);
    `channel` (0-15) keeps one channel (None: all). Times stay where they are in the clip, so
    a clip that opens with a rest keeps it.
    """
    midi, name = _open(path)
    _, parts, _ = _read(midi)
    if channel is not None and not 0 <= channel <= 15:
        raise LofictlError(f"channel must be 0-15 (got {channel})", file=name, field="channel")
    names = [t.name for t in midi.tracks]
    listing = ", ".join(f"{i} {n!r}" if n else str(i) for i, n in enumerate(names))
    if isinstance(track, int) and not isinstance(track, bool):
        if not 0 <= track < len(midi.tracks):
            raise LofictlError(f"no track {track}; the file has tracks {listing}", file=name, field="track")
        parts = [p for p in parts if p.index == track]
    elif isinstance(track, str):
        if track not in names:
            hint = did_you_mean(track, names)
            raise LofictlError(f"no track named {track!r}{hint} (tracks: {listing})", file=name, field="track")
        parts = [p for p in parts if p.name == track]
    if channel is not None:
        parts = [p for p in parts if p.channel == channel]
    notes = tuple(sorted(note for p in parts for note in p.notes))
    if not notes:
        which = " in that track" if track is not None else ""
        which += f" on channel {channel}" if channel is not None else ""
        raise LofictlError(f"the MIDI clip has no notes{which}", file=name)
    return notes
