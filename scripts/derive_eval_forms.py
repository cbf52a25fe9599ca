"""Derive data/pop909-structure/eval-forms.json from the POP909 phrase-structure labels.

    python scripts/derive_eval_forms.py /work/shared/datasets/pop909-structure

Keeps, for each song of POP909's *test* split (the songs no model trained on or was picked by),
the first annotator's form (`human_label1.txt`, e.g. `i4A4A4B9b4A4B9b4B9X5o2`) and the melody
on its 16th grid (`melody.txt`, re-aligned to the bar lines by hand): what `lofictl eval`
needs to measure form similarity and restated phrases on the human side, at run time, without
the dataset. MIT licence, Dai, Zhang & Dannenberg 2020 (data/pop909-structure/eval-forms.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lofictl.models.train.forms import CITATION, LABEL_FILE
from lofictl.models.train.pop909 import split_of
from lofictl.safety import atomic

OUT = Path(__file__).resolve().parents[1] / "data" / "pop909-structure" / "eval-forms.json"


def main(folder: Path) -> None:
    songs = {}
    for song_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        song = song_dir.name
        if split_of(song) != "test" or not (song_dir / LABEL_FILE).is_file():
            continue
        form = (song_dir / LABEL_FILE).read_text().split()[0]
        pairs = [line.split() for line in (song_dir / "melody.txt").read_text().splitlines() if line.strip()]
        songs[song] = {"form": form, "melody": " ".join(f"{int(p)}:{int(d)}" for p, d in pairs)}
    data = {
        "what": "POP909 test-split songs: human phrase labels (annotator 1) and melodies on a 16th grid "
        "(pitch:16ths, pitch 0 a rest), re-aligned to bar lines",
        "licence": "MIT (eval-forms.LICENSE beside this file)",
        "citation": CITATION,
        "songs": songs,
    }
    atomic.write_text(OUT, json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}: {len(songs)} songs")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
