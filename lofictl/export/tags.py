"""Tags that platforms and players read, written with mutagen (and a WAV `bext` chunk by hand).

- MP3: ID3v2.4 — TIT2 title, TPE1 artist, TALB album, TRCK n/total, TDRC year, TCON genre,
  TBPM, TKEY, TSRC (ISRC), COMM:lofictl (the JSON provenance: recipe, seed, stage key), APIC
  front cover, and CHAP/CTOC chapters for a continuous mix.
- FLAC: Vorbis comments with the same fields (TRACKNUMBER/TRACKTOTAL, DATE, BPM, INITIALKEY,
  ISRC, COMMENT) and the cover as a picture block; a mix also carries its CUESHEET.
- WAV: LIST/INFO (INAM, IART, IPRD, IGNR, ICRD, ITRK, ICMT, ISFT) and a Broadcast Wave `bext`
  chunk (description, originator, date, loudness), both written with the audio by our own WAV
  writer; then an `id3 ` chunk with the cover (mutagen), which many players read.

Nothing here reads a clock: every byte follows from the tags given, so tagging is deterministic.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from lofictl import __version__
from lofictl.errors import LofictlError

PROVENANCE_DESC = "lofictl"  # the ID3 COMM description that holds the provenance JSON
_PADDING = 1024  # bytes of tag padding, fixed so the bytes never depend on mutagen's heuristics
_NOT_MEASURED = 0x7FFF  # bext loudness fields we leave unmeasured (EBU Tech 3285 v2)


@dataclass(frozen=True)
class Chapter:
    start_ms: int
    end_ms: int
    title: str


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str | None = None
    album: str | None = None
    track: int | None = None
    total: int | None = None
    year: int | None = None
    date: str | None = None  # yyyy-mm-dd for bext; defaults to 1 January of `year`
    genre: str | None = None
    bpm: float | None = None
    key: str | None = None  # as a recipe spells it: "D minor"
    isrc: str | None = None
    provenance: dict | None = None  # JSON-ready: recipe, seed, stage key...
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    chapters: tuple[Chapter, ...] = ()
    cuesheet: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def comment(self) -> str | None:
        if self.provenance is None:
            return None
        return json.dumps(self.provenance, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Cover:
    data: bytes
    mime: str  # image/jpeg or image/png
    width: int
    height: int


def id3_key(key: str | None) -> str | None:
    """The TKEY spelling (at most three characters: 'Dm', 'F#', 'Ebm').

    ID3 knows only major and minor: the modes map to the one their third belongs to (dorian and
    phrygian are minor, lydian and mixolydian major), on the same tonic.
    """
    if not key:
        return None
    from lofictl.compose import theory

    parsed = theory.parse_key(key)
    minor = theory.MODES[parsed.mode][2] == 3  # a minor third above the tonic
    return theory.NOTE_NAMES[parsed.tonic] + ("m" if minor else "")


def key_and_bpm_suffix(key: str, bpm: float) -> str:
    """'Dmin_72bpm': the key and tempo as delivery file names carry them."""
    from lofictl.export import daw

    return f"{daw._key_field(key)}_{daw.num(round(bpm, 3))}bpm"


def _bpm_text(bpm: float) -> str:
    return str(int(round(bpm)))


# --- MP3 ---------------------------------------------------------------------------------------


def write_mp3_tags(path: Path, tags: Tags, cover: Cover | None = None) -> None:
    from mutagen import id3

    frames = id3.ID3()
    frames.add(id3.TIT2(encoding=3, text=[tags.title]))
    if tags.artist:
        frames.add(id3.TPE1(encoding=3, text=[tags.artist]))
    if tags.album:
        frames.add(id3.TALB(encoding=3, text=[tags.album]))
    if tags.track is not None:
        frames.add(id3.TRCK(encoding=3, text=[f"{tags.track}/{tags.total}" if tags.total else str(tags.track)]))
    if tags.year is not None:
        frames.add(id3.TDRC(encoding=3, text=[str(tags.year)]))
    if tags.genre:
        frames.add(id3.TCON(encoding=3, text=[tags.genre]))
    if tags.bpm is not None:
        frames.add(id3.TBPM(encoding=3, text=[_bpm_text(tags.bpm)]))
    if tags.key:
        frames.add(id3.TKEY(encoding=3, text=[id3_key(tags.key)]))
    if tags.isrc:
        frames.add(id3.TSRC(encoding=3, text=[tags.isrc]))
    frames.add(id3.TSSE(encoding=3, text=[f"lofictl {__version__}"]))
    if tags.comment:
        frames.add(id3.COMM(encoding=3, lang="eng", desc=PROVENANCE_DESC, text=[tags.comment]))
    for name, value in sorted(tags.extra.items()):
        frames.add(id3.TXXX(encoding=3, desc=name, text=[value]))
    if cover is not None:
        frames.add(
            id3.APIC(encoding=3, mime=cover.mime, type=id3.PictureType.COVER_FRONT, desc="Cover", data=cover.data)
        )
    if tags.chapters:
        ids = [f"ch{index:03d}" for index in range(len(tags.chapters))]
        frames.add(
            id3.CTOC(
                element_id="toc",
                flags=id3.CTOCFlags.TOP_LEVEL | id3.CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[id3.TIT2(encoding=3, text=["Chapters"])],
            )
        )
        for element_id, chapter in zip(ids, tags.chapters):
            frames.add(
                id3.CHAP(
                    element_id=element_id,
                    start_time=chapter.start_ms,
                    end_time=chapter.end_ms,
                    sub_frames=[id3.TIT2(encoding=3, text=[chapter.title])],
                )
            )
    frames.save(str(path), v2_version=4, padding=lambda info: _PADDING)


# --- FLAC --------------------------------------------------------------------------------------


def vorbis_comments(tags: Tags) -> list[tuple[str, str]]:
    pairs = [("TITLE", tags.title)]
    optional = [
        ("ARTIST", tags.artist),
        ("ALBUM", tags.album),
        ("ALBUMARTIST", tags.artist if tags.album else None),
        ("TRACKNUMBER", tags.track),
        ("TRACKTOTAL", tags.total),
        ("DATE", tags.year),
        ("GENRE", tags.genre),
        ("BPM", _bpm_text(tags.bpm) if tags.bpm is not None else None),
        ("INITIALKEY", id3_key(tags.key)),
        ("ISRC", tags.isrc),
        ("COMMENT", tags.comment),
        ("ENCODER", f"lofictl {__version__}"),
        ("CUESHEET", tags.cuesheet),
    ]
    pairs += [(name, str(value)) for name, value in optional if value is not None]
    pairs += [(name.upper(), value) for name, value in sorted(tags.extra.items())]
    return pairs


def write_flac_tags(path: Path, tags: Tags, cover: Cover | None = None) -> None:
    from mutagen.flac import FLAC, Picture, VCFLACDict

    audio = FLAC(str(path))
    audio.clear_pictures()
    if audio.tags is None:
        audio.add_tags()
    comments = audio.tags
    assert isinstance(comments, VCFLACDict)  # what add_tags makes, and what a FLAC file's tags are
    comments.clear()
    for name, value in vorbis_comments(tags):
        comments.append((name, value))
    if cover is not None:
        picture = Picture()
        picture.type = 3  # front cover
        picture.mime = cover.mime
        picture.desc = "Cover"
        picture.width, picture.height = cover.width, cover.height
        picture.depth = 24
        picture.data = cover.data
        audio.add_picture(picture)
    audio.save(padding=lambda info: _PADDING)


# --- WAV ---------------------------------------------------------------------------------------


def wav_info(tags: Tags) -> dict[str, str]:
    """The LIST/INFO entries (four-character ids) our WAV writer puts before the audio."""
    info = {"INAM": tags.title, "ISFT": f"lofictl {__version__}"}
    optional = {
        "IART": tags.artist,
        "IPRD": tags.album,
        "IGNR": tags.genre,
        "ICRD": tags.year,
        "ITRK": tags.track,
        "ICMT": tags.comment,
    }
    info.update({tag: str(value) for tag, value in optional.items() if value is not None})
    return info


def _fixed(text: str, size: int) -> bytes:
    """ASCII text in a fixed-size, NUL-padded field (bext fields are ASCII)."""
    data = text.encode("ascii", "replace")[:size]
    return data + b"\0" * (size - len(data))


def _centi(value: float | None) -> int:
    return _NOT_MEASURED if value is None else max(-32768, min(32767, int(round(value * 100))))


def bext_chunk(tags: Tags, *, sample_rate: int, bits: int, channels: int = 2) -> bytes:
    """A Broadcast Wave `bext` chunk, version 2 (EBU Tech 3285): description, originator,
    origination date, integrated loudness and maximum true peak, and the coding history."""
    description = " / ".join(part for part in (tags.title, tags.artist, tags.album) if part)
    date = tags.date or (f"{tags.year:04d}-01-01" if tags.year else "")
    reference = tags.isrc or (
        f"{tags.provenance.get('recipe', '')}:{tags.provenance.get('seed', '')}" if tags.provenance else ""
    )
    history = (
        f"A=PCM,F={sample_rate},W={bits},M={'stereo' if channels == 2 else 'mono'},T=lofictl {__version__}\r\n"
    ).encode("ascii")
    body = (
        _fixed(description, 256)
        + _fixed(f"lofictl {__version__}", 32)
        + _fixed(reference, 32)
        + _fixed(date, 10)
        + _fixed("00:00:00" if date else "", 8)
        + struct.pack("<IIH", 0, 0, 2)
        + b"\0" * 64
        + struct.pack(
            "<hhhhh",
            _centi(tags.loudness_lufs),
            _NOT_MEASURED,
            _centi(tags.true_peak_dbtp),
            _NOT_MEASURED,
            _NOT_MEASURED,
        )
        + b"\0" * 180
        + history
    )
    if len(body) & 1:
        body += b"\0"
    return b"bext" + struct.pack("<I", len(body)) + body


def read_bext(path: Path) -> dict | None:
    """The bext chunk's fields, or None when the file has none."""
    with open(path, "rb") as handle:
        if handle.read(12)[8:12] != b"WAVE":
            return None
        while True:
            head = handle.read(8)
            if len(head) < 8:
                return None
            chunk_id, size = head[:4], struct.unpack("<I", head[4:])[0]
            if chunk_id != b"bext":
                handle.seek(size + (size & 1), 1)
                continue
            body = handle.read(size)
            text = lambda a, b: body[a:b].split(b"\0", 1)[0].decode("ascii", "replace")  # noqa: E731
            loudness = struct.unpack("<hhhhh", body[412:422])
            return {
                "description": text(0, 256),
                "originator": text(256, 288),
                "originator_reference": text(288, 320),
                "origination_date": text(320, 330),
                "version": struct.unpack("<H", body[346:348])[0],
                "loudness_lufs": None if loudness[0] == _NOT_MEASURED else loudness[0] / 100,
                "true_peak_dbtp": None if loudness[2] == _NOT_MEASURED else loudness[2] / 100,
                "coding_history": body[602:].rstrip(b"\0").decode("ascii", "replace"),
            }


def write_wav_cover(path: Path, tags: Tags, cover: Cover) -> None:
    """An `id3 ` chunk after the audio, holding the cover (and the title, for ID3-only readers)."""
    from mutagen import id3
    from mutagen.wave import WAVE

    audio = WAVE(str(path))
    if audio.tags is None:
        audio.add_tags()
    frames = audio.tags
    assert frames is not None  # add_tags made them
    frames.add(id3.TIT2(encoding=3, text=[tags.title]))
    if tags.artist:
        frames.add(id3.TPE1(encoding=3, text=[tags.artist]))
    if tags.album:
        frames.add(id3.TALB(encoding=3, text=[tags.album]))
    frames.add(id3.APIC(encoding=3, mime=cover.mime, type=id3.PictureType.COVER_FRONT, desc="Cover", data=cover.data))
    audio.save(v2_version=4, padding=lambda info: _PADDING)


# --- one entry point ---------------------------------------------------------------------------


def tag_file(path: Path, tags: Tags, cover: Cover | None = None) -> None:
    """Tag an MP3 or FLAC file in place (WAV tags go in while writing: see wav_info/bext_chunk)."""
    suffix = path.suffix.lower()
    if suffix == ".mp3":
        write_mp3_tags(path, tags, cover)
    elif suffix == ".flac":
        write_flac_tags(path, tags, cover)
    elif suffix == ".wav":
        if cover is not None:
            write_wav_cover(path, tags, cover)
    else:
        raise LofictlError(f"cannot tag {path.name}: lofictl tags MP3, FLAC and WAV files")


def read_provenance(path: Path) -> dict:
    """The provenance JSON an MP3 (COMM:lofictl) or FLAC (COMMENT) file carries, plus its main tags."""
    import mutagen

    try:
        audio = mutagen.File(str(path))
    except mutagen.MutagenError as exc:
        raise LofictlError(f"not a readable audio file ({exc})", file=path) from None
    if audio is None or audio.tags is None:
        raise LofictlError("has no tags (not made by lofictl?)", file=path)
    if path.suffix.lower() == ".mp3":
        comments = [frame for frame in audio.tags.getall("COMM") if frame.desc == PROVENANCE_DESC]
        text = str(comments[0].text[0]) if comments else None
        shown = {
            "title": "TIT2",
            "artist": "TPE1",
            "album": "TALB",
            "track": "TRCK",
            "bpm": "TBPM",
            "key": "TKEY",
            "isrc": "TSRC",
            "year": "TDRC",
            "genre": "TCON",
        }
        fields: dict[str, object] = {
            name: str(audio.tags[frame].text[0]) for name, frame in shown.items() if frame in audio.tags
        }
        fields["cover"] = bool(audio.tags.getall("APIC"))
        fields["chapters"] = len(audio.tags.getall("CHAP"))
    else:
        text = (audio.tags.get("COMMENT") or [None])[0]
        fields = {
            name.lower(): values[0]
            for name, values in audio.tags.as_dict().items()
            if name.upper() in ("TITLE", "ARTIST", "ALBUM", "TRACKNUMBER", "BPM", "INITIALKEY", "ISRC", "DATE", "GENRE")
        }
        fields["cover"] = bool(getattr(audio, "pictures", []))
    if not text or not text.startswith("{"):
        raise LofictlError("has no lofictl provenance (not made by lofictl?)", file=path)
    data = json.loads(text)
    data.update({f"tag.{name}": value for name, value in fields.items()})
    return data
