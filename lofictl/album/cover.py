"""Cover art drawn from the album's own music, the same pixels for the same album every time.

The picture is a record seen from above: one ring per track, outermost first, and on each ring
that track's notes as arcs — the angle is when a note sounds (once round is the whole track),
the radius within the ring its pitch, the colour its part. The album seed picks the palette.
Pillow draws it (integer coordinates, its bundled font), so nothing but the inputs and the
Pillow version decides the bytes; the lock records that version.
"""

from __future__ import annotations

import colorsys
import io
import math
from dataclasses import dataclass
from pathlib import Path

from lofictl.errors import LofictlError
from lofictl.export.tags import Cover
from lofictl.seeds import rng

SIZE = 3000
MAX_COVER_SIDE = 10_000  # pixels a side: far above what any platform takes (3000), far below a bomb
MAX_COVER_BYTES = 50 * 10**6  # the file: platforms take 10-20 MB at most
JPEG_QUALITY = 92
_PART_HUE = {"chords": 0.0, "melody": 0.12, "bass": -0.1, "midi": 0.06}


@dataclass(frozen=True)
class TrackMaterial:
    """What the cover needs of one track: its notes (part, start, duration, pitch) in beats."""

    title: str
    total_beats: float
    notes: tuple[tuple[str, float, float, int], ...]

    @classmethod
    def from_score(cls, title: str, score: dict) -> "TrackMaterial":
        notes = tuple((t["part"], n[0], n[1], n[2]) for t in score["tracks"] if not t["is_drums"] for n in t["notes"])
        return cls(title, float(score["total_beats"]), notes)


def _rgb(hue: float, saturation: float, value: float, alpha: int = 255) -> tuple[int, int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, max(0.0, min(1.0, saturation)), max(0.0, min(1.0, value)))
    return round(r * 255), round(g * 255), round(b * 255), alpha


def draw_cover(title: str, artist: str, seed: int, tracks: list[TrackMaterial], size: int = SIZE) -> bytes:
    """The cover as JPEG bytes, size x size."""
    from PIL import Image, ImageDraw, ImageFont

    random = rng(seed, "cover")
    hue = 0.55 + 0.5 * float(random.random())  # dusk: blue, violet, rose, amber
    scale = size / SIZE
    image = Image.new("RGB", (size, size))
    pixels = ImageDraw.Draw(image)
    for y in range(size):  # a dusk gradient, top to bottom
        t = y / (size - 1)
        pixels.line([(0, y), (size, y)], fill=_rgb(hue + 0.06 * t, 0.55 - 0.15 * t, 0.10 + 0.28 * t)[:3])

    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    cx, cy = size // 2, round(1320 * scale)
    outer, inner = round(1180 * scale), round(300 * scale)
    draw.ellipse(
        [cx - outer - 12, cy - outer - 12, cx + outer + 12, cy + outer + 12], fill=_rgb(hue + 0.5, 0.25, 0.06, 235)
    )
    ring = (outer - inner) / max(1, len(tracks))
    for index, track in enumerate(tracks):
        r_out = outer - index * ring
        r_in = r_out - ring * 0.82
        draw.ellipse(
            [cx - r_out, cy - r_out, cx + r_out, cy + r_out],
            outline=_rgb(hue, 0.2, 0.5, 60),
            width=max(1, round(3 * scale)),
        )
        pitches = [n[3] for n in track.notes] or [60]
        low, high = min(pitches), max(pitches)
        span = max(1, high - low)
        track_hue = hue + 0.5 + 0.07 * math.sin(index * 1.7 + float(random.random()))
        thickness = max(2, round(min(ring * 0.22, 26 * scale)))
        for part, start, duration, pitch in track.notes:
            radius = r_in + (pitch - low) / span * (r_out - r_in - thickness)
            begin = 360.0 * start / max(track.total_beats, 1e-9) - 90.0
            end = begin + max(0.6, 360.0 * duration / max(track.total_beats, 1e-9))
            colour = _rgb(track_hue + _PART_HUE.get(part, 0.0), 0.55, 0.95, 200)
            box = [round(cx - radius), round(cy - radius), round(cx + radius), round(cy + radius)]
            draw.arc(box, begin, end, fill=colour, width=thickness)
    draw.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=_rgb(hue + 0.5, 0.6, 0.85, 255))
    hole = round(28 * scale)
    draw.ellipse([cx - hole, cy - hole, cx + hole, cy + hole], fill=_rgb(hue, 0.55, 0.12, 255))
    image = Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")

    text = ImageDraw.Draw(image)
    for words, font_size, y, value in ((title, 150, 2640, 0.97), (artist, 90, 2830, 0.8)):
        font = ImageFont.load_default(size=max(8, round(font_size * scale)))
        while text.textlength(words, font=font) > size * 0.9 and font.size > 20:
            font = ImageFont.load_default(size=font.size - 8)
        width = text.textlength(words, font=font)
        text.text((round((size - width) / 2), round(y * scale)), words, font=font, fill=_rgb(hue, 0.08, value)[:3])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False, subsampling=0)
    return out.getvalue()


def as_cover(data: bytes) -> Cover:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        mime = {"JPEG": "image/jpeg", "PNG": "image/png"}.get(image.format or "")
        if mime is None:
            raise LofictlError(f"a cover must be a JPEG or PNG image, not {image.format}")
        return Cover(data, mime, image.width, image.height)


EMBED_SIDE = 1000  # pixels: what stores and players show; the full cover.jpg sits beside the files
EMBED_BYTES = 500_000  # a picture inside every track should not be half of an MP3
EMBED_QUALITY = 88


def embedded(cover: Cover) -> Cover:
    """The copy of the cover that goes inside every file: the cover itself when it is already small,
    else a JPEG at most EMBED_SIDE pixels a side (Pillow's resampling is deterministic)."""
    from PIL import Image

    if len(cover.data) <= EMBED_BYTES and max(cover.width, cover.height) <= EMBED_SIDE:
        return cover
    with Image.open(io.BytesIO(cover.data)) as image:
        small = image.convert("RGB")
        small.thumbnail((EMBED_SIDE, EMBED_SIDE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        small.save(out, "JPEG", quality=EMBED_QUALITY, optimize=False, progressive=False)
    return Cover(out.getvalue(), "image/jpeg", small.width, small.height)


def read_user_cover(path: Path) -> tuple[Cover, list[str]]:
    """A user's cover image, used as it is; with warnings about what platforms may refuse."""
    import warnings as python_warnings

    from PIL import Image, UnidentifiedImageError

    try:
        size = path.stat().st_size
        if size > MAX_COVER_BYTES:
            raise LofictlError(
                f"{path.name} is {size / 1e6:.0f} MB; a cover may be up to {MAX_COVER_BYTES // 10**6} MB "
                f"(platforms ask for a {SIZE}x{SIZE} JPEG of a few MB)"
            )
        data = path.read_bytes()
        # The header is read before any pixel: a small file that claims a huge picture (a
        # decompression bomb) is refused here, before Pillow would decode it.
        with python_warnings.catch_warnings():
            python_warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if max(image.width, image.height) > MAX_COVER_SIDE:
                    raise LofictlError(
                        f"{path.name} is {image.width}x{image.height} pixels; a cover may be up to "
                        f"{MAX_COVER_SIDE}x{MAX_COVER_SIDE} (platforms ask for {SIZE}x{SIZE})"
                    )
                image.verify()
            cover = as_cover(data)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise LofictlError(f"{path.name} claims more pixels than a cover may have ({exc})") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise LofictlError(f"{path.name} is not an image that can be read ({exc})") from None
    notes = []
    if cover.width != cover.height:
        notes.append(f"cover {path.name} is {cover.width}x{cover.height}; platforms ask for a square image")
    if min(cover.width, cover.height) < SIZE:
        notes.append(f"cover {path.name} is {cover.width}x{cover.height}; platforms ask for {SIZE}x{SIZE}")
    return cover, notes


def video_frame(cover: Cover, width: int, height: int) -> bytes:
    """A width x height PNG: the cover centred on a blurred, darkened copy of itself."""
    from PIL import Image, ImageEnhance, ImageFilter

    with Image.open(io.BytesIO(cover.data)) as source:
        art = source.convert("RGB")
    side = max(width, height)
    back = art.resize((side, side), Image.LANCZOS).crop(
        ((side - width) // 2, (side - height) // 2, (side - width) // 2 + width, (side - height) // 2 + height)
    )
    back = ImageEnhance.Brightness(back.filter(ImageFilter.GaussianBlur(radius=max(4, side // 40)))).enhance(0.45)
    inner = round(min(width, height) * 0.92)
    front = art.resize((inner, inner), Image.LANCZOS)
    back.paste(front, ((width - inner) // 2, (height - inner) // 2))
    out = io.BytesIO()
    back.save(out, "PNG", optimize=False)
    return out.getvalue()
