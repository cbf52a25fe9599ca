"""Album file format v1: a YAML list of recipes (with seeds and overrides) and what to deliver.

    lofictl_album: 1
    title: Late Nights
    artist: lofictl
    year: 2026
    genre: Lo-Fi Hip Hop
    seed: 2026                      # the album seed: cover art, and seeds of "N tracks from"
    tracks:
      - recipe: recipes/rainy_night.yaml
      - {recipe: recipes/night_drive.yaml, seed: 99, set: {tempo: 84}, isrc: USXYZ2600002}
      - {recipe: recipes/sunday_morning.yaml, count: 3, title: "Sunday Morning {n}"}
    crossfade: 2 bars               # or gap: 2s, in the continuous mix

Errors read like a recipe's: `file:line: field.path: what is wrong`, exit 2.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import Field, ValidationError, field_validator, model_validator

from lofictl.errors import LofictlError, raise_all
from lofictl.export.tags import Cover
from lofictl.recipe.load import project_root_for, resolve_project_path
from lofictl.recipe.messages import dotted_path, validation_errors
from lofictl.recipe.schema import Strict, parse_seconds
from lofictl.recipe.yamlfile import FieldPath, Positions, read_yaml
from lofictl.safety.names import one_line_title

FORMAT_VERSION = 1
MAX_TRACKS = 99  # a CUE sheet numbers tracks 01-99, and so does a CD: an album, not a library
ISRC_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")


class AlbumTrack(Strict):
    recipe: str = Field(description="A recipe file, relative to the project")
    name: str | None = Field(None, description="An id for order and file names (default: the recipe's file name)")
    title: str | None = Field(
        None, min_length=1, max_length=200, description="Default: the recipe's title; with count, '{n}' is the number"
    )
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="The recipe's master seed for this track")
    count: int = Field(1, ge=1, le=100, description="N tracks from this recipe, seeds derived by name and index")
    set: dict[str, Any] = Field(
        default_factory=dict, description="--set-style overrides: {tempo: 80, tracks.melody.generate.seed: 7}"
    )
    isrc: str | None = Field(None, description="International Standard Recording Code, e.g. USXYZ2600001")
    keep_seeds: bool = Field(
        False,
        description="With count: keep the recipe's own track/model seeds (by "
        "default they follow the derived seed, so the N tracks differ)",
    )

    @field_validator("isrc")
    @classmethod
    def _isrc(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.replace("-", "").upper()
        if not ISRC_RE.match(code):
            raise ValueError(
                f"{value!r} is not an ISRC (two letters, three letters or digits, seven digits: USXYZ2600001)"
            )
        return code

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return None if value is None else one_line_title(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}", value):
            raise ValueError(f"name {value!r} must be letters, digits, - or _ (up to 60)")
        return value

    @model_validator(mode="after")
    def _count(self) -> "AlbumTrack":
        if self.count > 1 and self.isrc is not None:
            raise ValueError("an ISRC names one recording; give count: 1 entries their own isrc")
        if self.count > 1 and self.seed is not None:
            raise ValueError(
                "with count, each track's seed is derived from the album seed; drop seed "
                "(or list the tracks one by one with their seeds)"
            )
        return self


class Video(Strict):
    width: int = Field(1920, ge=320, le=3840)
    height: int = Field(1080, ge=240, le=2160)
    fps: int = Field(1, ge=1, le=60, description="A still picture needs few frames; 1 keeps the file small")
    audio_kbps: int = Field(320, ge=64, le=512)


class Output(Strict):
    dir: str | None = Field(None, description="Default: build/<album file name>")
    formats: list[Literal["flac", "mp3", "wav"]] = Field(default_factory=lambda: ["flac", "mp3"], min_length=1)
    names: Literal["plain", "key_bpm"] = Field(
        "plain", description="plain: 01_Title.flac; key_bpm: 01_Title_Dmin_72bpm.flac"
    )
    mix: bool = Field(True, description="The continuous mix: FLAC/MP3, CUE sheet, chapters")
    video: Video | bool = Field(True, description="An MP4 of the mix (the cover as a still), or false")
    sample_rate: Literal[44100, 48000] = 44100


class Album(Strict):
    lofictl_album: Literal[1] = Field(description="Album format version")
    title: str = Field(min_length=1, max_length=200)
    artist: str = Field(min_length=1, max_length=200)
    year: int = Field(ge=1900, le=2200)
    release_date: str | None = Field(None, description="yyyy-mm-dd (WAV bext date; default 1 January of year)")
    genre: str = Field("Lo-Fi", min_length=1, max_length=100)
    seed: int = Field(ge=0, le=2**63 - 1, description="Album seed: cover art and the seeds of count entries")
    cover: str | None = Field(
        None, description="Your own JPEG or PNG (square, 3000x3000 is best); default: drawn from the tracks' own notes"
    )
    loudness_lufs: float = Field(-14.0, ge=-40, le=-5, description="Every track and the mix (integrated, BS.1770)")
    true_peak_db: float = Field(-1.0, ge=-12, le=0, description="True-peak ceiling, MP3s included")
    crossfade: int | None = Field(
        None,
        ge=1,
        le=16,
        description="Bars of equal-power crossfade in the mix, on the "
        "outgoing track's bar lines (default 2 unless gap is given)",
    )
    gap: float | None = Field(None, ge=0, le=60, description="Seconds of silence between tracks in the mix")
    order: Union[Literal["listed", "shuffle", "tempo"], list[str]] = Field(
        "listed", description="listed, shuffle (from the album seed), tempo (slow to fast), or a list of names"
    )
    tracks: list[AlbumTrack] = Field(min_length=1, max_length=500)
    output: Output = Field(default_factory=Output)

    @field_validator("title", "artist", "genre")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return one_line_title(value)

    @field_validator("crossfade", mode="before")
    @classmethod
    def _bars(cls, value: Any) -> Any:
        match = re.fullmatch(r"\s*(\d+)\s*bars?\s*", value) if isinstance(value, str) else None
        if isinstance(value, str) and not match:
            raise ValueError(f"{value!r} is not a number of bars (write it like 2 bars)")
        return int(match[1]) if match else value

    @field_validator("gap", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float | None:
        return None if value is None else parse_seconds(value)

    @field_validator("release_date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", str(value)):
            raise ValueError(f"{value!r} is not a date written yyyy-mm-dd")
        return None if value is None else str(value)

    @model_validator(mode="after")
    def _transition(self) -> "Album":
        if self.crossfade is not None and self.gap is not None:
            raise ValueError("give crossfade or gap, not both")
        return self

    @property
    def crossfade_bars(self) -> int:
        """0 with a gap; otherwise the bars of crossfade (2 unless given)."""
        return 0 if self.gap is not None else (2 if self.crossfade is None else self.crossfade)

    @property
    def gap_s(self) -> float:
        return self.gap or 0.0

    @property
    def video(self) -> Video | None:
        if self.output.video is True:
            return Video()
        return self.output.video or None


@dataclass(frozen=True)
class LoadedAlbum:
    """A validated album and where its fields sit in the file (the recipe's LoadedRecipe shape)."""

    album: Album
    path: Path
    positions: Positions
    # the user's cover as read and checked with the file (None: the cover is drawn), and what
    # platforms may refuse about it
    user_cover: Cover | None = None
    cover_warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The album's folder name: the file name as a safe slug (else the title's), as for recipes."""
        from lofictl.safety.names import build_name

        return build_name(self.path.name.removesuffix(".yaml").removesuffix(".yml"), self.album.title)

    @property
    def project_root(self) -> Path:
        return project_root_for(self.path)

    @property
    def project_file(self) -> str:
        """The album file's path in its project (which file owns the build folder: safety.outputs)."""
        from lofictl.recipe.load import project_file

        return project_file(self.path)

    def error(self, message: str, field: FieldPath) -> LofictlError:
        return LofictlError(message, file=self.path, line=self.positions.line_of(field), field=dotted_path(field))

    def resolve_path(self, value: str, field: FieldPath, *, must_exist: bool = True) -> Path:
        return resolve_project_path(self, value, field, must_exist=must_exist)

    @property
    def output_dir(self) -> Path:
        out = self.album.output.dir or f"build/{self.name}"
        return resolve_project_path(self, out, ("output", "dir"), must_exist=False, beside_recipe=False)


def is_album_file(path: Path) -> bool:
    """True for a YAML file whose first key is lofictl_album (cheap: reads the head only)."""
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(r"^lofictl_album\s*:", head, re.MULTILINE) is not None


def load_album(path: Path) -> LoadedAlbum:
    data, positions = read_yaml(path)
    if not isinstance(data, dict):
        raise LofictlError("an album is a mapping of keys such as title, artist and tracks", file=path, line=1)
    version = data.get("lofictl_album")
    if isinstance(version, int) and not isinstance(version, bool) and version != FORMAT_VERSION:
        raise LofictlError(
            f"album format version {version} is not one this lofictl reads ({FORMAT_VERSION})",
            file=path,
            line=positions.line_of(("lofictl_album",)),
            field="lofictl_album",
        )
    try:
        album = Album.model_validate(data)
    except ValidationError as exc:
        raise_all(validation_errors(exc, positions, path, data, Album))  # every mistake of the file at once
    loaded = LoadedAlbum(album, path, positions)
    total = sum(entry.count for entry in album.tracks)
    if total > MAX_TRACKS:
        raise loaded.error(
            f"{total} tracks; an album holds at most {MAX_TRACKS} (a CUE sheet's and a CD's limit): "
            "split it into several albums",
            ("tracks",),
        )
    loaded.output_dir  # noqa: B018 - output.dir obeys the path rule (no `~`, nothing outside)
    if album.cover is not None:
        from lofictl.album.cover import read_user_cover

        try:  # a bomb or a file that is no image is refused before any build (validate too)
            cover, warnings = read_user_cover(loaded.resolve_path(album.cover, ("cover",)))
        except LofictlError as exc:
            raise loaded.error(exc.message, ("cover",)) from None
        loaded = dataclasses.replace(loaded, user_cover=cover, cover_warnings=tuple(warnings))
    return loaded
