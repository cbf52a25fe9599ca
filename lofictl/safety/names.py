"""Build names: a recipe's file name (or title) turned into a name that is safe for a folder.

A build name becomes `build/<name>/`, `<name>.wav`, `<name>.lock.json` and the hidden
`.<name>.tmp-PID` staging folder, so it must never be `.`/`..`, never hold a separator, never be
hidden, and must fit a file name (255 bytes) with room for those suffixes. Letters and digits of
any script are kept, so `夜の雨.yaml` builds into `build/夜の雨/`.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 120  # leaves room for `.NAME.tmp-PID`, `NAME.dawproject`, `NAME.lock.json` in 255
FALLBACK = "track"
_UNSAFE = re.compile(r"[^\w.\-]+")  # \w is unicode-aware: letters and digits of every script, and _


def slug(text: str) -> str:
    """`text` as a safe file name, or "" when nothing usable is left (e.g. "..." or "/")."""
    text = unicodedata.normalize("NFC", str(text))
    name = _UNSAFE.sub("-", text)
    name = re.sub(r"-{2,}", "-", name)
    name = name.strip(".-_ ")  # no hidden names, no trailing dots (Windows drops them)
    encoded = name.encode("utf-8")[:MAX_NAME_BYTES]
    name = encoded.decode("utf-8", errors="ignore").rstrip(".-_ ")
    return "" if name in (".", "..") else name


def build_name(file_stem: str, title: str) -> str:
    """The recipe file's name as a slug; else the title's; else "track"."""
    return slug(file_stem) or slug(title) or FALLBACK


def is_safe_name(name: str) -> bool:
    """What `slug` guarantees, for checks and tests."""
    return (
        bool(name)
        and name not in (".", "..")
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and len(name.encode("utf-8")) <= MAX_NAME_BYTES
    )


def one_line_title(text: str) -> str:
    """`text` when it can be a one-line title (a tag, a CUE TITLE, a chapter line, a stream's
    header); a ValueError (for a schema's validator) when it holds a control character (newline,
    tab, escape, DEL...) or a line or paragraph separator, each of which would start a bogus line."""
    for ch in str(text):
        if unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029\x85":
            escaped = ch.encode("unicode_escape").decode("ascii")
            raise ValueError(f"holds a control character ({escaped}); a title is one line of text")
    return text
