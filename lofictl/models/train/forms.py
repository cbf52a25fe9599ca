"""Song forms from the POP909 phrase-structure labels (Dai, Zhang & Dannenberg 2020).

`lofictl train pop909-forms DATASET` reads each song's first human label (`human_label1.txt`,
e.g. `i4A4A4B9b4A4B9b4B9X5o2`) and its bar-aligned melody (`melody.txt`), and writes
`data/pop909-structure/forms.json`: the forms, normalised to the phrase lengths a lo-fi track
plays, with how many songs use each (what compose.form samples from when a recipe gives only a
length), the raw phrase lengths, and how a restated phrase differs from its first statement.

Normalising a form: a melodic phrase (capital letter) of up to 5 bars becomes 4 bars and a
longer one 8; an instrumental phrase (lowercase, the intro i and outro o included) of one bar
is dropped, 2-3 bars become 2, 4-5 become 4 and longer ones 8; a letter that comes back keeps
the length it first had (so each restatement lines up with its statement).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from lofictl.compose.form import FORMS_FORMAT, PHRASE_TOKEN, Phrase, form_text, parse_form
from lofictl.compose.phrase import phrase_similarity
from lofictl.compose.score import Note
from lofictl.errors import LofictlError
from lofictl.safety import atomic

FORMS_FILE = "forms.json"
LABEL_FILE = "human_label1.txt"
NORMALISER_VERSION = 1
CITATION = (
    'Shuqi Dai, Huan Zhang, Roger B. Dannenberg, "Automatic Analysis and Influence of Hierarchical '
    'Structure on Melody, Rhythm and Harmony in Popular Music", Joint Conference on AI Music '
    "Creativity (CSMC + MuMe), 2020. https://github.com/Dsqvival/hierarchical-structure-analysis "
    "(MIT licence, Copyright (c) 2020 Shuqi Dai)"
)
POP909_CITATION = (
    'Ziyu Wang*, Ke Chen*, Junyan Jiang, Yiyi Zhang, Maoran Xu, Shuqi Dai, Guxian Bin and Gus Xia, "POP909: '
    'A Pop-song Dataset for Music Arrangement Generation", ISMIR 2020 (MIT licence, Copyright (c) 2020 Music X Lab)'
)


def normalised_length(letter: str, bars: int) -> int | None:
    """A phrase's length as a lo-fi track plays it (None: too short to keep)."""
    if letter.isupper():
        return 4 if bars <= 5 else 8
    if bars <= 1:
        return None
    return 2 if bars <= 3 else 4 if bars <= 5 else 8


def normalise(label: str) -> list[Phrase]:
    """A human label → a form compose.form reads (see the module docstring)."""
    first: dict[str, int] = {}
    phrases: list[Phrase] = []
    tokens = PHRASE_TOKEN.findall(label)
    for index, (letter, bars) in enumerate(tokens):
        if letter == "i" and index != 0 or letter == "o" and index != len(tokens) - 1:
            letter = "x"  # an intro or outro label in the middle: an instrumental passage
        length = normalised_length(letter, int(bars))
        if length is None:
            continue
        phrases.append(Phrase(letter, first.setdefault(letter, length)))
    return phrases


def read_melody(path: Path) -> list[Note]:
    """melody.txt: `pitch duration` in 16ths a line from the first bar line, pitch 0 a rest."""
    notes, cell = [], 0
    for line in path.read_text().split("\n"):
        parts = line.split()
        if len(parts) != 2:
            continue
        pitch, length = int(parts[0]), int(parts[1])
        if pitch > 0:
            notes.append(Note(cell / 4, length / 4, pitch, 80))
        cell += length
    return notes


def restatements(label: str, melody: list[Note]) -> list[dict]:
    """For each melodic phrase that comes back with its first length: its similarity to the first
    statement, over the whole phrase and over its opening half and its last bar."""
    out = []
    bar = 0
    first: dict[str, tuple[int, int]] = {}
    for letter, text in PHRASE_TOKEN.findall(label):
        bars = int(text)
        if letter.isupper():
            if letter in first and first[letter][1] == bars and bars >= 2:
                a = _span(melody, first[letter][0], bars)
                b = _span(melody, bar, bars)
                whole = phrase_similarity(a, b)
                if whole is not None:
                    half = bars // 2
                    out.append(
                        {
                            "bars": bars,
                            "whole": whole,
                            "opening": phrase_similarity(_span(a, 0, half), _span(b, 0, half)),
                            "ending": phrase_similarity(_span(a, bars - 1, 1), _span(b, bars - 1, 1)),
                        }
                    )
            first.setdefault(letter, (bar, bars))
        bar += bars
    return out


def _span(notes: list[Note], bar: int, bars: int) -> list[Note]:
    start, end = bar * 4.0, (bar + bars) * 4.0
    return [n.copy(start=n.start - start) for n in notes if start <= n.start < end]


def _quartiles(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {}
    q = np.percentile(values, [25, 50, 75])
    return {
        "mean": round(float(np.mean(values)), 3),
        "q25": round(float(q[0]), 3),
        "median": round(float(q[1]), 3),
        "q75": round(float(q[2]), 3),
        "n": len(values),
    }


def derive(dataset: Path) -> dict:
    """The statistics file's contents, from the dataset folder (song folders 001/ ...)."""
    songs = sorted(p for p in dataset.iterdir() if p.is_dir() and (p / LABEL_FILE).is_file())
    if not songs:
        raise LofictlError(
            f"{dataset} is not the POP909 phrase-structure dataset (song folders with {LABEL_FILE})", field="dataset"
        )
    forms: Counter[str] = Counter()
    raw_lengths: dict[str, Counter[int]] = defaultdict(Counter)
    restated: list[dict] = []
    skipped = 0
    for song in songs:
        label = (song / LABEL_FILE).read_text().strip()
        if not label or "".join(a + b for a, b in PHRASE_TOKEN.findall(label)) != label:
            skipped += 1
            continue
        for letter, bars in PHRASE_TOKEN.findall(label):
            raw_lengths["melodic" if letter.isupper() else "instrumental"][int(bars)] += 1
        try:
            forms[form_text(parse_form(form_text(normalise(label))))] += 1
        except ValueError:
            skipped += 1
            continue
        if (song / "melody.txt").is_file():
            restated.extend(restatements(label, read_melody(song / "melody.txt")))
    return {
        "format": FORMS_FORMAT,
        "normaliser_version": NORMALISER_VERSION,
        "licence": "MIT (Copyright (c) 2020 Shuqi Dai; POP909: Copyright (c) 2020 Music X Lab)",
        "citation": [CITATION, POP909_CITATION],
        "songs": len(songs) - skipped,
        "skipped": skipped,
        "forms": sorted(([form, count] for form, count in forms.items()), key=lambda fc: (-fc[1], fc[0])),
        "phrase_lengths": {kind: dict(sorted(c.items())) for kind, c in sorted(raw_lengths.items())},
        "restated_similarity": {
            part: _quartiles([r[part] for r in restated]) for part in ("whole", "opening", "ending")
        },
    }


def write_forms(dataset: Path | str, out: Path | str) -> dict:
    """Write `out/forms.json` (sorted keys, so the bytes depend only on the data), the dataset's
    LICENSE and a README with the citation and the command. Returns what was written."""
    dataset, out = Path(dataset).expanduser(), Path(out)
    if not dataset.is_dir():
        raise LofictlError(f"{dataset} is not a folder", field="dataset")
    data = derive(dataset)
    data["command"] = f"lofictl train pop909-forms {dataset} --out {out}"
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / FORMS_FILE, json.dumps(data, indent=1, sort_keys=True) + "\n")
    if (dataset / "LICENSE").is_file():
        shutil.copyfile(dataset / "LICENSE", out / "LICENSE")
    (out / "README.md").write_text(_readme(data))
    return data


def _readme(data: dict) -> str:
    r = data["restated_similarity"]
    return f"""# POP909 song forms, as lofictl samples them

`{FORMS_FILE}` holds the song forms of {data["songs"]} POP909 songs as people labelled them
(phrase structure by Dai, Zhang & Dannenberg 2020), normalised to the phrase lengths a lo-fi
track plays (melodic phrases of 4 or 8 bars, instrumental ones of 2, 4 or 8; a letter that comes
back keeps its first length; see `lofictl/models/train/forms.py`), each with the number of songs
that use it. A recipe with a length and neither `form:` nor `sections:` draws its form from this
table (lofictl/compose/form.py). The file also keeps the raw phrase lengths and how similar a
restated phrase is to its first statement in the songs' melodies (Jaccard similarity of
(16th-note onset, pitch) events, compose.phrase.phrase_similarity): over the whole phrase mean
{r["whole"].get("mean")} (median {r["whole"].get("median")}), its opening half {r["opening"].get("mean")},
its last bar {r["ending"].get("mean")}: people restate a phrase loosely and change its ending most.

Made from the dataset with:

    {data["command"]}

## Licence and citation

The phrase labels and bar-aligned melodies are released under the MIT licence (`LICENSE` here,
Copyright (c) 2020 Shuqi Dai); the songs are POP909's (MIT, Copyright (c) 2020 Music X Lab, see
`data/pop909/`). Keep both licences and these citations with anything derived from them:

{data["citation"][0]}

{data["citation"][1]}
"""
