"""Text that leaves the station: HTTP headers, Icecast metadata and log lines.

Titles come from station and recipe files and may hold anything Unicode allows: control
characters, line breaks, scripts outside Latin-1, thousands of characters. Headers and ICY
metadata are byte strings with no declared charset, so a title goes out as one clean line, in
Latin-1 when it fits (what Icecast and old players assume) and as UTF-8 otherwise (what modern
players detect; a `&#8212;` character reference is right for no player). Log lines are made
single lines too, and every known secret is masked in each of them.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

from lofictl.errors import one_line

MAX_TITLE_CHARS = 200  # a header or a now-playing line longer than this helps nobody
# Typographic punctuation that has a plain Latin-1 spelling: used only when it makes a title Latin-1.
_PLAIN = str.maketrans(
    {
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2026": "...",
        "\u2022": "\u00b7",
        "\u2027": "\u00b7",
    }
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/@:]*):[^\s/@]*@")


def clean_text(text: object, limit: int = MAX_TITLE_CHARS) -> str:
    """One line of printable text: control, format and separator characters (line breaks
    included) become single spaces, lone surrogates become U+FFFD, and the text is cut to
    `limit` characters (an ellipsis marks the cut)."""
    text = str(text).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] in "CZ" and ch != " " and category != "Co":  # Cc Cf Cn Cs, Zl Zp Zs: spacing
            ch = " " if category != "Cf" else ""
        out.append(ch)
    cleaned = " ".join("".join(out).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "\u2026"
    return cleaned


def title_bytes(text: object, limit: int = MAX_TITLE_CHARS) -> tuple[bytes, str]:
    """(bytes, charset) of a title for a header or ICY metadata: Latin-1 when it fits (after
    plain spellings of typographic dashes and quotes), UTF-8 otherwise."""
    cleaned = clean_text(text, limit)
    plain = cleaned.translate(_PLAIN)
    if len(plain) > limit:  # "…" became "...": cut again
        plain = plain[: limit - 3].rstrip() + "..."
    for candidate in (cleaned, plain):
        try:
            return candidate.encode("latin-1"), "ISO-8859-1"
        except UnicodeEncodeError:
            continue
    return cleaned.encode("utf-8"), "UTF-8"


def icy_title(text: object, limit: int = MAX_TITLE_CHARS) -> tuple[bytes, str]:
    """A now-playing title for ICY metadata (`StreamTitle='...';`, which has no escapes): as
    `title_bytes`, with any `';` in it spaced out so no player ends the title early."""
    return title_bytes(clean_text(text, limit).replace("';", "' ;"), limit)


def header_value(text: object, limit: int = MAX_TITLE_CHARS) -> str:
    """A title as http.server's send_header writes it byte for byte (it encodes with Latin-1)."""
    return title_bytes(text, limit)[0].decode("latin-1")


def mask_url_passwords(text: str) -> str:
    """`scheme://user:PASSWORD@host` written as `scheme://user:***@host`, wherever it appears."""
    return _URL_USERINFO.sub(r"\1:***@", text)


class Redactor:
    """Masks secrets in messages, line by line, and makes each line printable.

    A password may show up anywhere in a message from a library or a subprocess (raw, percent
    encoded, inside a URL or a Basic token); each line is checked on its own, so a secret on
    the second line of a message is masked like one on the first.
    """

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        import base64

        forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.unquote(secret)}
        for user in ("source", ""):
            forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
        self._secrets = sorted({*self._secrets, *(f for f in forms if f)}, key=len, reverse=True)

    def lines(self, message: object) -> list[str]:
        out = []
        for line in str(message).splitlines() or [""]:
            line = mask_url_passwords(line)
            for secret in self._secrets:
                line = line.replace(secret, "***")
            out.append(one_line(line, 2000))
        return out
