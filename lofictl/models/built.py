"""`lofictl eval --recipe/--build`: built tracks measured against the held-out human songs.

`lofictl eval MODEL` measures a model's 16-bar samples over human chords; a build does more
(sections, repeats, intro and outro, its own chords, the arrangement's guards), and this is
what a listener hears. Here every row is a set of *songs*:

* **built tracks** — a recipe composed over master seeds 1..N (the compose stage only: the
  score is what is measured, no audio), or build folders read from their MIDI (build.json says
  which track plays which part and which section repeats which; chords are read back from the
  chords tracks' notes). The melody is measured from the start of the first section holding a
  melody note to the end of the last one (a human passage also starts at its first melody bar); chords and form
  over the whole track.
* **bare samples** — the shipped models sampled as a build samples them (lofi-melody over
  lofi-chords' 4-bar loops) at the built melodies' length, with no arrangement;
* **old models** — the same with models/baseline-melody over models/baseline-chords;
* **random** — random melodies over the human chords, random progressions (quality.baseline_row);
* **human halves** — held-out POP909 test songs against the other held-out half.

The reference is the POP909 test split cut into passages of the built melodies' length
(quality.split_reference, seed 0). Every row gets the passage features' overlaps
(measures.compare_sets, Yang & Lerch 2020) and the song measures of songs.py. Restated
phrases and form need phrase labels: for humans they come from
data/pop909-structure/eval-forms.json (POP909 phrase structure, Dai, Zhang & Dannenberg 2020,
MIT); rows with no sections (samples, random) have none. Form similarity is measured against the
reference half's labelled forms.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lofictl.analysis.source import Section, TrackSource, part_tracks, read_build
from lofictl.compose import theory
from lofictl.compose.feel import Feel, is_compound, unswung
from lofictl.compose.form import form_text
from lofictl.compose.score import ChordEvent, Score
from lofictl.errors import LofictlError
from lofictl.models import measures, quality, quality_tables, report, songs

REPORT_FORMAT = "lofictl-eval-built"
REPORT_VERSION = 1
FORMS_FILE = Path("data") / "pop909-structure" / "eval-forms.json"
BARE_MELODY, BARE_CHORDS = Path("models/lofi-melody"), Path("models/lofi-chords")
OLD_MELODY, OLD_CHORDS = Path("models/baseline-melody"), Path("models/baseline-chords")
LOOP_BARS = 4
HUMAN = "human halves"
SONG_MEASURES = (
    "rhythm_repetition",
    "restated_similarity",
    "contrast",
    "form_similarity",
    "restated_share",
    "fifth_motion",
    "own_chord_tones",
)
PHRASE_MEASURES = ("restated_similarity", "contrast", "form_similarity", "restated_share")
SONG_LABELS = {
    "rhythm_repetition": "rhythm back in 8 bars",
    "restated_similarity": "restated phrases",
    "contrast": "A vs B",
    "form_similarity": "form similarity",
    "restated_share": "phrases restated",
    "fifth_motion": "root down a 5th (4-bar windows)",
    "own_chord_tones": "own chord tones",
}


@dataclass
class Song:
    """One thing measured: a melody passage (for the features) and what the song measures need."""

    name: str
    passage: measures.Passage
    chords: tuple[ChordEvent, ...] = ()  # the song's own progression (fifth motion); () if not its own
    chord_bars: int = 0
    notes: tuple = ()  # the whole melody, for phrases
    phrases: tuple[songs.Phrase, ...] = ()


@dataclass
class BuiltRow:
    name: str
    songs: list[Song] = field(default_factory=list)
    info: dict = field(default_factory=dict)


# --- built tracks -------------------------------------------------------------------------------


def song_of_source(source: TrackSource) -> Song:
    """A built (or user's) track → a Song: its first melody track, its chords and sections."""
    score = source.score
    melodies = part_tracks(score, "melody")
    if not melodies or not melodies[0].notes:
        raise LofictlError(f"{source.name} has no melody track to measure")
    notes = tuple(measures.top_line(melodies[0].notes))
    bpb = score.beats_per_bar
    first = int(math.floor(notes[0].start / bpb + 1e-6))
    last = max(int(math.ceil(max(n.end for n in notes) / bpb - 1e-6)), first + 1)
    # Whole sections: a melody resting through the end of its last section rests in the song too.
    voiced = [s for s in source.sections if any(s.start_bar <= n.start / bpb < s.start_bar + s.bars for n in notes)]
    if voiced:
        first = min(first, min(s.start_bar for s in voiced))
        last = max(last, max(s.start_bar + s.bars for s in voiced))
    lo, hi = first * bpb, last * bpb
    shifted = tuple(n.copy(start=n.start - lo, duration=min(n.duration, hi - n.start)) for n in notes)
    chords = tuple(
        ChordEvent(max(c.start, lo) - lo, min(c.end, hi) - max(c.start, lo), c.symbol)
        for c in score.chords
        if c.end > lo + 1e-9 and c.start < hi - 1e-9
    )
    key = theory.parse_key(score.key)
    passage = measures.Passage(source.name, shifted, chords, key.tonic, key.mode, last - first, bpb)
    sections = [(s.name, s.repeat, s.start_bar, s.bars) for s in source.sections]
    phrases = tuple(songs.built_phrases(sections, notes, bpb)) if sections else ()
    total_bars = int(math.ceil(score.total_beats / bpb - 1e-6))
    return Song(source.name, passage, tuple(score.chords), total_bars, notes, phrases)


def compose_recipe(path: Path, seed: int) -> TrackSource:
    """A recipe's score at master seed `seed` (the compose stage of a build; no audio)."""
    from lofictl.pipeline.plan import prepare
    from lofictl.pipeline.stages import compose_score
    from lofictl.recipe.load import load_recipe

    loaded = load_recipe(Path(path), [f"seed={seed}"])
    score: Score = compose_score(prepare(loaded)).score
    # What was composed, not how it is played: the melody back on its written grid, as the
    # human songs are (their MIDI is straight), so swing does not read as odd rhythms.
    recipe = loaded.recipe
    feel = Feel(recipe.swing, recipe.swing_unit, recipe.beats_per_bar, is_compound(recipe.meter))
    score = score.copy(
        tracks=tuple(
            t.copy(notes=tuple(unswung(list(t.notes), feel))) if t.part == "melody" else t for t in score.tracks
        )
    )
    repeats = {s.name: s.repeat for s in loaded.recipe.sections or []}  # a `length:` recipe has none
    sections = tuple(Section(s.name, repeats.get(s.name), s.start_bar, s.bars) for s in score.sections)
    return TrackSource(f"{Path(path).stem} seed {seed}", score, sections)


def recipe_row(path: Path, seeds: int, progress=None) -> BuiltRow:
    say = progress or (lambda text: None)
    row = BuiltRow(f"{Path(path).stem} ({seeds} seeds)", info={"recipe": str(path), "master_seeds": [1, seeds]})
    for seed in range(1, seeds + 1):
        say(f"composing {Path(path).name} seed {seed}")
        row.songs.append(song_of_source(compose_recipe(path, seed)))
    return row


def builds_row(folders: list[Path]) -> BuiltRow:
    row = BuiltRow(f"build folders ({len(folders)})", info={"folders": [str(f) for f in folders]})
    row.songs = [song_of_source(read_build(f)) for f in folders]
    return row


# --- the human side and the model rows ----------------------------------------------------------


def shipped(relative: Path) -> Path:
    """A file of the project (models/, data/): the working folder's, else the one beside this package."""
    return relative if relative.exists() else Path(__file__).resolve().parents[2] / relative


def load_forms(path: Path | None = None) -> dict[str, dict] | None:
    """The shipped labelled forms and melodies of the test songs (None when the file is absent)."""
    path = shipped(FORMS_FILE) if path is None else path
    return json.loads(path.read_text())["songs"] if path.is_file() else None


def _passage_song(passage: measures.Passage, own_chords: list[ChordEvent] | None) -> Song:
    chords = tuple(own_chords) if own_chords is not None else ()
    return Song(passage.name, passage, chords, passage.bars if own_chords is not None else 0, passage.notes)


def model_rows(prompts, seed: int, progress=None) -> list[BuiltRow]:
    """bare samples (shipped models), old models (baseline-*), random, human halves."""
    say = progress or (lambda text: None)
    settings = quality.Settings(samples=len(prompts), length=prompts[0].bars, seed=seed)
    rows = []
    for label, melody, chords in (("bare samples", BARE_MELODY, BARE_CHORDS), ("old models", OLD_MELODY, OLD_CHORDS)):
        melody_dir, chords_dir = shipped(melody), shipped(chords)
        if not (melody_dir / "model.json").is_file() or not (chords_dir / "model.json").is_file():
            continue
        say(f"sampling {label}")
        progressions = quality.chord_model_progressions(chords_dir, prompts, seed, 1.0, LOOP_BARS)
        sampled = quality._chunked_melodies(melody_dir, prompts, seed, settings, progressions)
        rows.append(
            BuiltRow(
                f"{label} ({melody.name} over {chords.name}, {LOOP_BARS}-bar loops)",
                [_passage_song(p, c) for p, c in zip(sampled.passages, sampled.progressions)],
            )
        )
    random = quality.baseline_row("baseline:random", prompts, seed)
    rows.append(BuiltRow("random", [_passage_song(p, c) for p, c in zip(random.passages, random.progressions)]))
    rows.append(BuiltRow(HUMAN, [_passage_song(p, list(p.chords)) for p in prompts]))
    return rows


def human_form_songs(forms: dict[str, dict], names) -> list[tuple[str, list[songs.Phrase], list]]:
    wanted = sorted({quality.song_of(n.rsplit("@", 1)[0]) for n in names})
    return [
        (s, songs.parse_form(forms[s]["form"]), songs.grid_melody(forms[s]["melody"])) for s in wanted if s in forms
    ]


# --- measuring ----------------------------------------------------------------------------------


def _mean(values) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def song_measures(song: Song, reference_skeletons: list[str]) -> dict:
    p = song.passage
    line = list(p.notes)
    out = {
        "rhythm_repetition": songs.rhythm_repetition(line, p.bars, p.beats_per_bar),
        "own_chord_tones": songs.own_chord_tone_share(line, p.chords) if p.chords else None,
        "fifth_motion": songs.fifth_motion_share(list(song.chords), song.chord_bars, p.beats_per_bar)
        if song.chords
        else None,
        "restated_similarity": None,
        "contrast": None,
        "form_similarity": None,
        "restated_share": None,
        "form": None,
    }
    if song.phrases:
        out.update(phrase_measures(list(song.notes), list(song.phrases), p.beats_per_bar, reference_skeletons))
    return out


def phrase_measures(notes, phrases, beats_per_bar: float, reference_skeletons: list[str]) -> dict:
    skeleton = songs.form_skeleton(phrases)
    return {
        "restated_similarity": songs.restated_similarity(notes, phrases, beats_per_bar),
        "contrast": songs.contrast(notes, phrases, beats_per_bar),
        "restated_share": songs.restated_share(phrases),
        "form_similarity": _mean(songs.form_similarity(skeleton, r) for r in reference_skeletons)
        if reference_skeletons
        else None,
        "form": form_text(phrases),
    }


def measure_row(row: BuiltRow, reference_features, reference_skeletons, labelled=None) -> dict:
    """A row's feature overlaps and song-measure means. `labelled`: (song, phrases, notes) of
    labelled songs whose phrases stand in for the row's (the human row: passages have no labels)."""
    features = [measures.passage_features(s.passage) for s in row.songs]
    per_song = [song_measures(s, reference_skeletons) for s in row.songs]
    phrase_source = (
        per_song
        if labelled is None
        else [phrase_measures(notes, phrases, 4.0, reference_skeletons) for _, phrases, notes in labelled]
    )
    comparison = measures.compare_sets(features, reference_features)
    means = {
        name: _mean(m[name] for m in (phrase_source if name in PHRASE_MEASURES else per_song)) for name in SONG_MEASURES
    }
    forms = sorted({m["form"] for m in per_song if m["form"]})
    return {
        "name": row.name,
        "info": row.info,
        "songs": len(row.songs),
        "comparison": comparison,
        "song_measures": means,
        "forms": forms,
        "per_song": [{"name": s.name, **m} for s, m in zip(row.songs, per_song)],
    }


def evaluate_built(
    recipes: list[Path],
    seeds: int,
    folders: list[Path],
    *,
    samples: int = 32,
    seed: int = 0,
    with_models: bool = True,
    out: Path | None = None,
    progress=None,
) -> dict:
    """Built tracks (recipes over seeds 1..N, build folders) and the comparison rows: one report."""
    if not recipes and not folders:
        raise LofictlError("give --recipe RECIPE (with --seeds N) or --build FOLDER", field="recipe")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds <= 0:
        raise LofictlError(f"must be a whole number more than 0, got {seeds!r}", field="seeds")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples <= 0:
        raise LofictlError(f"must be a whole number more than 0, got {samples!r}", field="samples")
    for path in recipes:
        if not Path(path).is_file():
            raise LofictlError(f"{path}: no such recipe file", field="recipe")
    for folder in folders:
        if not Path(folder).is_dir():
            raise LofictlError(f"{folder}: no such build folder", field="build")
    say = progress or (lambda text: None)
    built = [recipe_row(Path(r), seeds, say) for r in recipes]
    if folders:
        say("reading build folders")
        built.append(builds_row([Path(f) for f in folders]))
    lengths = [s.passage.bars for row in built for s in row.songs]
    length = int(np.median(lengths))
    say("reading the held-out songs")
    pieces, what = quality.held_out_pieces(None, [])
    ref = quality.split_reference(pieces, length, samples, seed, what)
    reference_features = [measures.passage_features(p) for p in ref.reference]
    forms = load_forms()
    reference_skeletons = (
        [songs.form_skeleton(phrases) for _, phrases, _ in human_form_songs(forms, [p.name for p in ref.reference])]
        if forms
        else []
    )
    others = model_rows(list(ref.prompts), seed, say) if with_models else []
    say("measuring")
    results = []
    for row in built + others:
        human = human_form_songs(forms, [p.name for p in ref.prompts]) if forms and row.name == HUMAN else None
        results.append(measure_row(row, reference_features, reference_skeletons, human))
    ref_means = {
        "rhythm_repetition": _mean(
            songs.rhythm_repetition(list(p.notes), p.bars, p.beats_per_bar) for p in ref.reference
        ),
        "own_chord_tones": _mean(songs.own_chord_tone_share(list(p.notes), p.chords) for p in ref.reference),
        "fifth_motion": _mean(songs.fifth_motion_share(list(p.chords), p.bars, p.beats_per_bar) for p in ref.reference),
    }
    data = report.rounded(
        {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "settings": {"seeds": seeds, "samples": samples, "seed": seed, "length_bars": length},
            "reference": {
                "what": ref.what,
                "passages": len(ref.reference),
                "songs": ref.songs[1],
                "labelled_forms": len(reference_skeletons),
                "song_measures": ref_means,
                "forms_file": str(FORMS_FILE) if forms else None,
            },
            "rows": results,
        }
    )
    data["table"] = built_table(data)
    if out is not None:
        report.write_file(Path(out) / "report.json", report.json_bytes(data))
        report.write_file(Path(out) / "report.md", markdown(data).encode())
    return data


# --- the tables ---------------------------------------------------------------------------------


def built_table(data: dict) -> str:
    short = quality_tables.SHORT
    head = ["row", *(short[f] for f in measures.FEATURES), "**mean**"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in data["rows"]:
        c = r["comparison"]
        cells = [
            r["name"],
            *(quality_tables.num(c["features"][f]["overlap"]) for f in measures.FEATURES),
            f"**{quality_tables.num(c['mean_overlap'])}**",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    head2 = ["row", "notes/bar", "silent", *(SONG_LABELS[m] for m in SONG_MEASURES)]
    lines += ["", "| " + " | ".join(head2) + " |", "|" + "---|" * len(head2)]
    for r in data["rows"]:
        f, m = r["comparison"]["features"], r["song_measures"]
        cells = [
            r["name"],
            quality_tables.num(f["notes_per_bar"]["generated"].get("mean"), 1),
            quality_tables.num(f["silent_share"]["generated"].get("mean")),
            *(quality_tables.num(m[name]) for name in SONG_MEASURES),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    ref = data["reference"]
    rm = ref["song_measures"]
    first = data["rows"][0]["comparison"]["features"] if data["rows"] else None
    cells = [
        "reference half (human)",
        quality_tables.num(first["notes_per_bar"]["reference"].get("mean"), 1) if first else "–",
        quality_tables.num(first["silent_share"]["reference"].get("mean")) if first else "–",
        *(quality_tables.num(rm.get(name)) for name in SONG_MEASURES),
    ]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(data: dict) -> str:
    st, ref = data["settings"], data["reference"]
    forms = "\n".join(f"- {r['name']}: {', '.join(r['forms'])}" for r in data["rows"] if r["forms"])
    return (
        f"# lofictl eval: built tracks\n\nMelodies measured as passages of {st['length_bars']} bars against "
        f"{ref['passages']} passages of {ref['songs']} songs ({ref['what']}); {st['samples']} samples per model "
        f"row, seed {st['seed']}; recipes at master seeds 1..{st['seeds']}. Form similarity against "
        f"{ref['labelled_forms']} labelled forms.\n\n## Overlap with the held-out songs (1.0 = indistinguishable)\n\n"
        + data["table"]
        + (f"\n## Forms\n\n{forms}\n" if forms else "")
    )
