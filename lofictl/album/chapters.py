"""Where each track begins in the continuous mix, written the ways players and platforms read:
a CUE sheet (CD frames, 1/75 s), a YouTube chapter list (`00:00 Title`), ffmpeg's metadata
file (chapters for the MP4) and ID3 chapters (for the mix MP3).

A track "begins" where it takes over: the middle of its crossfade (its first sample after a gap).
"""

from __future__ import annotations

from dataclasses import dataclass

from lofictl.export.tags import Chapter


@dataclass(frozen=True)
class Mark:
    title: str
    performer: str
    start_s: float
    end_s: float
    isrc: str | None = None


def marks(
    titles: list[str], performer: str, isrcs: list[str | None], starts: list[int], total: int, sample_rate: int
) -> list[Mark]:
    """One mark per track from where it takes over (frames) to where the next one does."""
    starts = [0, *starts[1:]]
    ends = starts[1:] + [total]
    return [
        Mark(title, performer, start / sample_rate, end / sample_rate, isrc)
        for title, isrc, start, end in zip(titles, isrcs, starts, ends)
    ]


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'").replace("\n", " ") + '"'


def cue_sheet(
    album_title: str, performer: str, genre: str, year: int, audio_file: str, items: list[Mark], comment: str
) -> str:
    lines = [
        f"REM GENRE {_quote(genre)}",
        f"REM DATE {year}",
        f"REM COMMENT {_quote(comment)}",
        f"PERFORMER {_quote(performer)}",
        f"TITLE {_quote(album_title)}",
        f"FILE {_quote(audio_file)} WAVE",
    ]
    for number, mark in enumerate(items, 1):
        frames = int(mark.start_s * 75)  # CD frames, rounded down: never after the track starts
        minutes, rest = divmod(frames, 75 * 60)
        seconds, frame = divmod(rest, 75)
        lines += [
            f"  TRACK {number:02d} AUDIO",
            f"    TITLE {_quote(mark.title)}",
            f"    PERFORMER {_quote(mark.performer)}",
        ]
        if mark.isrc:
            lines.append(f"    ISRC {mark.isrc}")
        lines.append(f"    INDEX 01 {minutes:02d}:{seconds:02d}:{frame:02d}")
    return "\r\n".join(lines) + "\r\n"  # CUE sheets are read by Windows tools too


def timestamp(seconds: float, long: bool) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if long else f"{minutes:02d}:{secs:02d}"


def youtube_chapters(items: list[Mark]) -> str:
    """`00:00 Title` lines (H:MM:SS once the mix passes an hour), the first at zero.

    YouTube shows chapters when there are at least three, each at least 10 s long.
    """
    long = bool(items) and items[-1].end_s >= 3600
    return "".join(f"{timestamp(m.start_s, long)} {m.title}\n" for m in items)


def ffmetadata(album_title: str, performer: str, items: list[Mark]) -> str:
    """ffmpeg's FFMETADATA1 file: the MP4's title, artist and chapters (milliseconds)."""

    def escape(text: str) -> str:
        for char in "\\=;#\n":
            text = text.replace(char, "\\" + char)
        return text

    lines = [";FFMETADATA1", f"title={escape(album_title)}", f"artist={escape(performer)}"]
    for mark in items:
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(mark.start_s * 1000)}",
            f"END={round(mark.end_s * 1000)}",
            f"title={escape(mark.title)}",
        ]
    return "\n".join(lines) + "\n"


def id3_chapters(items: list[Mark]) -> tuple[Chapter, ...]:
    return tuple(Chapter(round(m.start_s * 1000), round(m.end_s * 1000), m.title) for m in items)
