"""Compose: a validated Recipe → a Score (pure data, no files).

The arrangement is a list of sections. Every section's material is made by deterministic
functions of (chord timeline, seed derived from the *material's* name), so a section that
repeats another gets identical chords, bass and drums, as a DAW loop would, and a section with
a new `seed` gets a variation. The melody of a repeat restates its phrase with variation
(compose.phrase.restate). Voice leading restarts at each section for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from lofictl.compose import drums, harmony, phrase, register, reharm, theory
from lofictl.compose.feel import Feel, is_compound, sit_with, swung
from lofictl.compose.form import (
    MIN_FORM_BARS,
    Block,
    fit_form,
    form_sections,
    form_table,
    planned_sections,
    sample_form,
    section_blocks,
    tempo_plan,
)
from lofictl.compose.humanize import perform
from lofictl.compose.score import DRUM_CHANNEL, ChordEvent, Note, PlacedSection, Score, TempoMap, Track
from lofictl.errors import LofictlError
from lofictl.recipe.schema import BassTrack, ChordsTrack, DrumsTrack, MelodyTrack, MidiTrack, Recipe, Section
from lofictl.seeds import derive_seed

if TYPE_CHECKING:  # the models import JAX: only recipes that generate need it at run time
    from lofictl.models.generate import LoadedModel, TrackModel

EPS = 1e-9


def arrangement(recipe: Recipe) -> list[Block]:
    """The recipe's sections laid out in time (compose.form plans them); a length alone plays a
    form sampled from the labelled songs."""
    if not recipe.sections:  # a length alone: a form sampled from the labelled songs
        bars = recipe.total_bars
        if bars < MIN_FORM_BARS:
            return [Block("main", 0, bars, tuple(recipe.tracks), "main", None)]
        phrases = fit_form(sample_form(form_table(), recipe.seed), bars)
        sections = [Section(**section) for section in form_sections(phrases, _parts(recipe))]
        return section_blocks(recipe, [(section, 1) for section in sections])
    return section_blocks(recipe, planned_sections(recipe))


def _parts(recipe: Recipe) -> dict[str, str]:
    return {name: track.part for name, track in recipe.tracks.items()}


def _material_seed(recipe: Recipe, track_name: str, track_seed: int | None, block: Block) -> int:
    base = track_seed if track_seed is not None else derive_seed(recipe.seed, "track", track_name)
    seed = derive_seed(base, "section", block.material, block.variation if block.variation is not None else "-")
    return seed if block.take == 1 else derive_seed(seed, "take", block.take)  # another pass: new variations


# --- chords -------------------------------------------------------------------------------------


def tonic_chord(key: theory.Key) -> theory.Chord:
    minor_third = (key.tonic + 3) % 12 in key.scale
    return theory.parse_chord(theory.NOTE_NAMES[key.tonic] + ("m9" if minor_third else "maj9"))


ChordSource = Callable[[Block, int], list[tuple[str, float]]]


def progression_source(progression: str, beats_per_bar: float, style: str | None, key: theory.Key) -> ChordSource:
    """Cycle a written progression from the start of each section. With a `style` (asked for:
    a written progression plays as written by default), it is first reharmonised as a loop of
    its own length, seeded by the section; a progression that is not whole bars stays as written."""
    written = [(chord.symbol, duration) for chord, duration in theory.parse_progression(progression, beats_per_bar)]
    bars = sum(duration for _, duration in written) / beats_per_bar
    restyle = style if abs(bars - round(bars)) < 1e-9 else None  # a style reharmonises whole bars
    half_bars = any(duration < beats_per_bar - EPS for _, duration in written)

    def chords_for(block: Block, seed: int) -> list[tuple[str, float]]:
        chords = written
        if restyle is not None:
            chords = reharm.reharmonise(
                written,
                key,
                restyle,
                seed,
                loop_bars=int(round(bars)),
                beats_per_bar=beats_per_bar,
                half_bars=half_bars,
            )
        total = block.bars * beats_per_bar
        out: list[tuple[str, float]] = []
        position, index = 0.0, 0
        while position < total - EPS:
            symbol, duration = chords[index % len(chords)]
            duration = min(duration, total - position)
            out.append((symbol, duration))
            position += duration
            index += 1
        return out

    return chords_for


def track_chord_events(
    recipe: Recipe,
    blocks: list[Block],
    source: ChordSource,
    track_name: str,
    track_seed: int | None,
) -> list[ChordEvent]:
    bpb = recipe.beats_per_bar
    made: dict[tuple, list[tuple[str, float]]] = {}
    timeline: list[ChordEvent] = []
    for block in blocks:
        key = (block.material, block.variation)
        if key not in made:
            made[key] = source(block, _material_seed(recipe, track_name, track_seed, block))
        position = block.start_bar * bpb
        for symbol, duration in made[key]:
            timeline.append(ChordEvent(position, duration, symbol))
            position += duration
    written = getattr(recipe.tracks[track_name], "progression", None) is not None
    ending = recipe.ending or ("as-written" if written else "tonic")  # a written progression plays as written
    if ending == "tonic" and timeline:
        last = timeline[-1]
        timeline[-1] = ChordEvent(last.start, last.duration, tonic_chord(theory.parse_key(recipe.key)).symbol)
    return timeline


def chord_notes(
    timeline: list[ChordEvent],
    blocks: list[Block],
    voicing: str,
    rhythm: str,
    beats_per_bar: float,
    seed: int,
    key: theory.Key,
) -> list[Note]:
    """Voice each chord (smooth leading within a section) and play it in the chosen rhythm."""
    notes: list[Note] = []
    for block in blocks:
        start, end = block.start_bar * beats_per_bar, (block.start_bar + block.bars) * beats_per_bar
        previous = None
        generator = np.random.default_rng(derive_seed(seed, "chords", block.material, block.variation or "-"))
        for event in timeline:
            if not (start - EPS <= event.start < end - EPS):
                continue
            chord = theory.parse_chord(event.symbol)
            if voicing == "lofi":
                chord = theory.lofi_colour(chord, key)
            pitches = theory.voice_chord(chord, previous, voicing)
            previous = pitches
            notes.extend(_chord_rhythm(event, pitches, rhythm, beats_per_bar, generator))
    return notes


def _chord_rhythm(
    event: ChordEvent, pitches: tuple[int, ...], rhythm: str, beats_per_bar: float, generator: np.random.Generator
) -> list[Note]:
    notes: list[Note] = []
    if rhythm == "sustain":
        hits = [(0.0, event.duration - 0.05)]
    elif rhythm == "stabs":  # on the beat and a lazy push on the "and" of 2 in each bar
        hits = []
        bar = 0.0
        while bar < event.duration - EPS:
            for offset, length in ((0.0, 1.0), (1.5, 0.75)):
                if bar + offset < event.duration - EPS:
                    hits.append((bar + offset, min(length, event.duration - bar - offset) - 0.05))
            bar += beats_per_bar
    else:  # arp: eighth notes up the voicing
        hits = []
        step = 0.5
        count = int(round(event.duration / step))
        for i in range(count):
            hits.append((i * step, step * 0.95))
    for index, (offset, length) in enumerate(hits):
        velocity_base = 64 + int(generator.integers(-6, 7))
        chosen = [pitches[index % len(pitches)]] if rhythm == "arp" else list(pitches)
        for voice, pitch in enumerate(chosen):  # struck together: humanize.perform rolls them
            velocity = int(np.clip(velocity_base - 3 * voice + int(generator.integers(-3, 4)), 1, 127))
            notes.append(Note(round(event.start + offset, 6), max(0.05, round(length, 6)), pitch, velocity))
    return notes


# --- bass ---------------------------------------------------------------------------------------


def bass_notes(
    timeline: list[ChordEvent], blocks: list[Block], style: str, key: theory.Key, beats_per_bar: float, seed: int
) -> list[Note]:
    """Roots on the downbeat, fifths and octaves by seeded choice, approach notes into changes."""
    notes: list[Note] = []
    scale = set(key.scale)
    for block in blocks:
        start, end = block.start_bar * beats_per_bar, (block.start_bar + block.bars) * beats_per_bar
        generator = np.random.default_rng(
            derive_seed(
                seed, "bass", block.material, block.variation or "-", *(("take", block.take) if block.take > 1 else ())
            )
        )
        events = [e for e in timeline if start - EPS <= e.start < end - EPS]
        for index, event in enumerate(events):
            chord = theory.parse_chord(event.symbol)
            root = theory.chord_bass_pitch(chord, low=33)  # A1..G#2
            if root > 40 and generator.random() < 0.5:
                root -= 12  # the low octave, sometimes, for weight
            following = events[index + 1] if index + 1 < len(events) else None
            next_root = theory.chord_bass_pitch(theory.parse_chord(following.symbol), low=33) if following else None
            fifth = root + 7 if (chord.root + 7) % 12 in chord.pitch_classes else root + 12
            notes.extend(_bass_bar_pattern(event, root, fifth, next_root, style, scale, generator))
    return notes


def _bass_bar_pattern(
    event: ChordEvent,
    root: int,
    fifth: int,
    next_root: int | None,
    style: str,
    scale: set[int],
    generator: np.random.Generator,
) -> list[Note]:
    d = event.duration
    velocity = lambda base: int(np.clip(base + generator.integers(-6, 7), 1, 127))  # noqa: E731
    plan: list[tuple[float, float, int, int]] = []  # offset, length, pitch, velocity
    if style == "sparse" or d < 1.0 + EPS:
        plan.append((0.0, d * 0.9, root, velocity(92)))
    elif style == "walking":
        tones = [root, fifth, root + 12 if generator.random() < 0.5 else fifth]
        beats = int(d)
        for beat in range(beats):
            plan.append((float(beat), 0.9, tones[beat % len(tones)], velocity(84 if beat else 94)))
    else:  # roots: a held root, then the fifth or root on the back half
        half = d / 2 if d >= 2 else d
        plan.append((0.0, half * 0.92, root, velocity(96)))
        if d >= 2:
            back = fifth if generator.random() < 0.45 else root
            plan.append((half, half * 0.85, back, velocity(82)))
    # An approach note into the next chord: a step above or below its root, the last eighth.
    if next_root is not None and d >= 2 and generator.random() < 0.6:
        below, above = next_root - 1, next_root + 2
        approach = above if (above % 12) in scale and generator.random() < 0.5 else below
        if (approach % 12) not in scale:
            approach = next_root - 2 if ((next_root - 2) % 12) in scale else next_root - 1
        last_offset = d - 0.5
        plan = [(o, min(length, last_offset - o - 0.02), p, v) for o, length, p, v in plan if o < last_offset - EPS]
        plan.append((last_offset, 0.45, approach, velocity(78)))
    return [Note(round(event.start + o, 6), round(length, 6), int(p), v) for o, length, p, v in plan if length > 0.02]


# --- the whole piece ----------------------------------------------------------------------------


def _only_active(notes: list[Note], blocks: list[Block], track: str, beats_per_bar: float) -> list[Note]:
    spans = [(b.start_bar * beats_per_bar, (b.start_bar + b.bars) * beats_per_bar) for b in blocks if track in b.tracks]
    kept = []
    for note in notes:
        for start, end in spans:
            if start - EPS <= note.start < end - EPS:
                kept.append(note.copy(duration=round(min(note.duration, end - note.start), 6)))
                break
    return kept


@dataclass(frozen=True)
class Composition:
    """What composing a recipe makes: the score, and each generated melody's measures per
    section material (the seed it kept, the re-samples the originality gate asked for), for the lock."""

    score: Score
    melody_measures: dict[str, dict[str, dict]]  # track → material label → measures


def compose(
    recipe: Recipe,
    *,
    models: Mapping[str, TrackModel] | None = None,
    programs: dict[str, tuple[int, int]] | None = None,
    clips: dict[str, tuple[Note, ...]] | None = None,
) -> Composition:
    """The score of a recipe, from plain values: it reads no files.

    models: track name → its loaded model (for tracks with `generate`; pipeline.plan.load_models).
    programs: track name → (bank, program) of the resolved instrument, for the MIDI file.
    clips: track name → the notes of a `part: midi` track's file, in beats.
    """
    models = models or {}
    measures: dict[str, dict[str, dict]] = {}
    programs = programs or {}
    clips = clips or {}
    key = theory.parse_key(recipe.key)
    bpb = recipe.beats_per_bar
    blocks = arrangement(recipe)
    total_beats = recipe.total_bars * bpb
    initial_tempo, tempo_changes = tempo_plan(recipe, blocks)
    timing = Score(initial_tempo, *recipe.meter, recipe.key, total_beats, (), tempo_changes=tempo_changes).tempo_map
    feel = Feel(recipe.swing, recipe.swing_unit, bpb, is_compound(recipe.meter))  # one feel for every part

    timelines: dict[str, list[ChordEvent]] = {}
    for name, track in recipe.tracks.items():
        if isinstance(track, ChordsTrack):
            if track.progression is not None:
                source, seed = progression_source(track.progression, bpb, track.style, key), track.seed
            else:  # generate.seed, when given, decides the chords (the track seed still voices them)
                assert track.generate is not None  # a chords track has a progression or generate:
                source = _model_chord_source(models[name].network, key, bpb, track)
                seed = track.generate.seed if track.generate.seed is not None else track.seed
            try:
                timelines[name] = track_chord_events(recipe, blocks, source, name, seed)
            except LofictlError as exc:  # a model's errors name fields of the track's generate:
                raise exc.under(("tracks", name, "generate")) from None
    placed = {
        name: clip_notes(clips[name], blocks, track, bpb)
        for name, track in recipe.tracks.items()
        if isinstance(track, MidiTrack)
    }
    primary = recipe.harmony or next(iter(timelines), None) or next(iter(placed), None)
    followed = {primary, *(getattr(t, "follow", None) for t in recipe.tracks.values())}
    for name in sorted(clip for clip in placed if clip in followed):
        clip_track = recipe.tracks[name]
        assert isinstance(clip_track, MidiTrack)  # placed holds the MIDI clips
        timelines[name] = clip_chords(placed[name], blocks, clip_track, bpb, key)

    def leader(follow: str | None) -> list[ChordEvent]:
        """The chords a bass or melody follows: its own leader, or the recipe's."""
        name = follow or primary
        assert name is not None  # recipe.load.check_arrangement: a follower needs chords
        return timelines[name]

    tracks: list[Track] = []
    channels = iter([c for c in range(16) if c != DRUM_CHANNEL])
    spans = [
        (
            b.start_bar * bpb,
            (b.start_bar + b.bars) * bpb,
            _mean_seconds_per_beat(timing, b, bpb),
            (b.material, b.variation if b.variation is not None else "-", *((b.take,) if b.take > 1 else ())),
        )
        for b in blocks
    ]
    drum_parts = {
        name: drum_part(recipe, blocks, track, name, timing)
        for name, track in recipe.tracks.items()
        if isinstance(track, DrumsTrack)
    }
    kicks = [  # where the first drums track's kick plays: the bass sits with it
        n.start
        for name, notes in list(drum_parts.items())[:1]
        for n in _only_active(notes, blocks, name, bpb)
        if n.pitch == drums.KIT["kick"]
    ]
    for name, track in recipe.tracks.items():
        seed = track.seed if track.seed is not None else derive_seed(recipe.seed, "track", name)
        if isinstance(track, ChordsTrack):
            notes = chord_notes(timelines[name], blocks, track.voicing, track.rhythm, bpb, seed, key)
            notes = swung(notes, feel)
        elif isinstance(track, BassTrack):
            notes = bass_notes(leader(track.follow), blocks, track.style, key, bpb, seed)
            notes = swung(notes, feel)
        elif isinstance(track, MelodyTrack):
            try:
                notes, measures[name] = melody_notes(
                    recipe, blocks, leader(track.follow), models[name], key, name, track
                )
            except LofictlError as exc:
                raise exc.under(("tracks", name, "generate")) from None
            notes = swung(notes, feel)
        elif isinstance(track, DrumsTrack):
            notes = drum_parts[name]
        elif isinstance(track, MidiTrack):
            notes = swung(placed[name], feel) if track.swing else placed[name]
        else:  # pragma: no cover - the schema admits only the parts above
            raise AssertionError(track)
        if not isinstance(track, DrumsTrack):  # drums humanize on their own grid (drums.py)
            player = track.humanize
            on_kick: list[Note] = []
            if isinstance(track, BassTrack):  # a note on a kick takes the kick's time; only its touch varies
                on_kick, notes = sit_with(notes, kicks, feel)
                on_kick = perform(on_kick, spans, 0.0, player.velocity, seed, (track.part, name, "on-kick"))
            notes = on_kick + perform(
                notes,
                spans,
                player.timing_ms,
                player.velocity,
                seed,
                (track.part, name),
                strum_ms=player.strum_ms,
                roll=isinstance(track, ChordsTrack) and track.rhythm != "arp",
            )
        notes = sorted(_only_active(notes, blocks, name, bpb))
        is_drums = track.part == "drums"
        bank, program = programs.get(name, (0, 0))
        if is_drums:  # channel 10 already means "drum kit" in MIDI; SoundFont bank 128 is FluidSynth's
            bank = 0
        tracks.append(
            Track(
                name,
                track.part,
                tuple(notes),
                program=program,
                bank=bank,
                is_drums=is_drums,
                channel=DRUM_CHANNEL if is_drums else next(channels),
            )
        )

    keys = [n for t in tracks if getattr(recipe.tracks[t.name], "under_melody", False) for n in t.notes]
    tracks = [  # a melody among the keys goes up an octave, unless its track sets its range
        t.copy(notes=tuple(n.copy(pitch=n.pitch + lift) for n in t.notes))
        if t.part == "melody"
        and not {"low", "high"} & recipe.tracks[t.name].model_fields_set
        and (lift := register.melody_lift(t.notes, keys))
        else t
        for t in tracks
    ]
    tune = [n for t in tracks if t.part == "melody" for n in t.notes]
    tracks = [  # the melody on top: chords at or above it go down an octave (compose/register.py)
        t.copy(notes=tuple(register.under_melody(t.notes, tune)))
        if tune and getattr(recipe.tracks[t.name], "under_melody", False)
        else t
        for t in tracks
    ]
    sections = tuple(PlacedSection(b.name, b.start_bar, b.bars, b.tracks) for b in blocks)
    numerator, denominator = recipe.meter
    score = Score(
        initial_tempo,
        numerator,
        denominator,
        recipe.key,
        total_beats,
        tuple(tracks),
        tuple(timelines[primary]) if primary else (),
        sections,
        tempo_changes,
    )
    return Composition(score, measures)


def clip_notes(clip: tuple[Note, ...], blocks: list[Block], track: MidiTrack, beats_per_bar: float) -> list[Note]:
    """A MIDI clip placed from the start of each section, looped in whole bars when asked.

    Times are in beats, so the clip takes the recipe's tempo whatever tempo it was made at.
    """
    moved = [n.copy(pitch=min(127, max(0, n.pitch + track.transpose))) for n in clip]
    length = max(1, int(np.ceil(max(n.end for n in moved) / beats_per_bar - 1e-9))) * beats_per_bar
    notes: list[Note] = []
    for block in blocks:
        start, end = block.start_bar * beats_per_bar, (block.start_bar + block.bars) * beats_per_bar
        offset = start
        while offset < end - EPS:
            notes.extend(n.copy(start=round(n.start + offset, 6)) for n in moved if n.start + offset < end - EPS)
            if not track.loop:
                break
            offset += length
    return notes


def clip_chords(
    placed: list[Note], blocks: list[Block], track: MidiTrack, beats_per_bar: float, key: theory.Key
) -> list[ChordEvent]:
    """The chords a clip plays, read section by section (so no chord spans two sections, and a
    repeat reads as its original)."""
    events: list[ChordEvent] = []
    made: dict[tuple, list[ChordEvent]] = {}
    for block in blocks:
        start, span = block.start_bar * beats_per_bar, block.bars * beats_per_bar
        material = (block.material, block.variation)
        if material not in made:
            local = [
                n.copy(start=round(n.start - start, 6)) for n in placed if start - EPS <= n.start < start + span - EPS
            ]
            made[material] = harmony.detect_chords(local, span, beats_per_bar, track.changes, key)
        # a section where the clip is silent (it does not loop) holds the chord before it
        held = events[-1].symbol if events else tonic_chord(key).symbol
        for event in made[material] or [ChordEvent(0.0, span, held)]:
            events.append(ChordEvent(round(event.start + start, 6), event.duration, event.symbol))
    return events


def drum_part(recipe: Recipe, blocks: list[Block], track: DrumsTrack, name: str, timing: TempoMap) -> list[Note]:
    """Drums for each section; a repeat plays its original's bars, moved to where it sits.

    The drum generator draws each bar's variation from the bar's number, so a repeat is made
    at the original's bar numbers and shifted, which keeps it note for note the same. Swing is
    in beats, so it follows the tempo; humanize (in ms) is turned into beats at the section's
    own tempo (its mean, through a ramp).
    """
    first_bar: dict[tuple[str, int], int] = {}
    for block in blocks:  # an original comes before its repeats; each pass has its own bars
        first_bar.setdefault((block.material, block.take), block.start_bar)
    bpb = recipe.beats_per_bar
    notes: list[Note] = []
    for block in blocks:
        origin = first_bar[(block.material, block.take)]
        seed = _material_seed(recipe, name, track.seed, block)
        made = drums.drum_notes(
            track.pattern,
            origin,
            block.bars,
            bpb,
            seed,
            swing=recipe.swing,
            swing_unit=recipe.swing_unit,
            humanize_timing_ms=track.humanize.timing_ms,
            humanize_velocity=track.humanize.velocity,
            seconds_per_beat=_mean_seconds_per_beat(timing, block, bpb),
            fill_last_bar=track.fills and len(blocks) > 1,
            phrase_bars=phrase.PHRASE_BARS if track.fills else 0,  # turnarounds every 4, fills every 8
            meter=recipe.meter,
            dynamics=track.dynamics,
            laid_back_ms=track.laid_back_ms,
        )
        shift = (block.start_bar - origin) * bpb
        notes.extend(n.copy(start=round(n.start + shift, 6)) for n in made)
    return notes


def _mean_seconds_per_beat(timing: TempoMap, block: Block, beats_per_bar: float) -> float:
    start, end = block.start_bar * beats_per_bar, (block.start_bar + block.bars) * beats_per_bar
    if timing.is_constant:
        return timing.points[0][1]
    return (timing.seconds(end) - timing.seconds(start)) / (end - start)


def _model_chord_source(model: LoadedModel, key: theory.Key, beats_per_bar: float, track: ChordsTrack) -> ChordSource:
    from lofictl.models import generate  # JAX is imported only when a recipe uses a model

    settings = track.generate
    assert settings is not None  # a chords track that samples a model
    style = track.style or reharm.DEFAULT_STYLE

    def chords_for(block: Block, seed: int) -> list[tuple[str, float]]:
        loop = block.loop if block.loop is not None else track.loop
        loop_bars = None if loop == "through" else int(loop)
        sampled = generate.generate_chords(
            model,
            key,
            block.bars * beats_per_bar,
            beats_per_bar,
            seed,
            temperature=settings.temperature,
            top_k=settings.top_k,
            top_p=settings.top_p,
            grid_beats=beats_per_bar if track.changes == "bar" else beats_per_bar / 2,
            loop_bars=loop_bars,
        )
        return reharm.reharmonise(  # the loop, reharmonised once and repeated: still a loop
            sampled,
            key,
            style,
            seed,
            loop_bars=loop_bars,
            beats_per_bar=beats_per_bar,
            half_bars=track.changes == "half-bar",
        )

    return chords_for


MAX_RESAMPLES = 8  # originality gate: derived seeds tried before giving up


def melody_notes(
    recipe: Recipe,
    blocks: list[Block],
    timeline: list[ChordEvent],
    model: TrackModel,
    key: theory.Key,
    name: str,
    track: MelodyTrack,
) -> tuple[list[Note], dict[str, dict]]:
    """The melody of each section's material, sampled over its chords and built into phrases
    (compose.phrase.develop: a motif developed, cadences, breaths), and its measures. A material
    playing again in the same take restates the first statement with variation (phrase.restate).

    Each material's melody is measured (evaluate.measure_melody); with `max_overlap_15` set, a
    melody that copies the training data beyond it is re-sampled with the next derived seed.
    The measures and the seed used are returned per material label (for the lock).
    """
    from lofictl.models import generate

    settings = track.generate
    bpb = recipe.beats_per_bar
    made: dict[tuple, list[Note]] = {}
    plays: dict[tuple, int] = {}  # how often each material has played in its take
    notes: list[Note] = []
    measured: dict[str, dict] = {}
    for block in blocks:
        start = block.start_bar * bpb
        span = block.bars * bpb
        material = (block.material, block.variation, block.take)
        if name not in block.tracks:
            continue  # silent here: no melody to sample
        local = [
            ChordEvent(e.start - start, e.duration, e.symbol)
            for e in timeline
            if start - EPS <= e.start < start + span - EPS
        ]
        base = _material_seed(recipe, name, settings.seed if settings.seed is not None else track.seed, block)
        restatement = plays.get(material, 0)
        plays[material] = restatement + 1
        if restatement:  # the phrase comes back, varied: a changed ending from another sample
            base = derive_seed(base, "restate", restatement)

        # A re-sample draws another melody from the model; the phrase plan built on it stays the
        # material's (`base`), so a model that copies whatever the seed still fails the gate.
        def sampled(seed: int) -> list[Note]:  # called within this pass of the loop (B023 is off)
            raw = generate.generate_melody(
                model.network,
                key,
                local,
                span,
                seed,
                temperature=settings.temperature,
                top_k=settings.top_k,
                top_p=settings.top_p,
                low=track.low,
                high=track.high,
                beats_per_bar=bpb,
            )
            developed = phrase.develop(raw, local, block.bars, key, track.low, track.high, bpb, base)
            if not restatement:
                return developed
            return phrase.restate(made[material], developed, local, block.bars, key, track.low, track.high, bpb, base)

        melody, measured_here = _gated_melody(sampled, base, settings, model, local, key, span, bpb, name)
        if not restatement:
            made[material] = melody
        label = block.material if block.variation is None else f"{block.material}~{block.variation}"
        label += f"@{block.take}" if block.take > 1 else ""
        label += f"#{restatement + 1}" if restatement else ""
        measured[label] = measured_here
        notes.extend(n.copy(start=round(n.start + start, 6)) for n in melody)
    return notes, measured


def _gated_melody(
    sampled: Callable[[int], list[Note]],
    base: int,
    settings,
    model: TrackModel,
    local: list[ChordEvent],
    key: theory.Key,
    span: float,
    bpb: float,
    name: str,
) -> tuple[list[Note], dict]:
    """The melody `sampled(seed)` makes from `base`, re-sampled with derived seeds while it copies
    the training data beyond `max_overlap_15` (the originality gate); and its measures."""
    from lofictl.models import evaluate

    gate = settings.max_overlap_15
    where = ("tracks", name, "generate", "max_overlap_15" if gate is not None else "model")
    rejected = []
    for attempt in range(MAX_RESAMPLES + 1):
        seed = base if attempt == 0 else derive_seed(base, "resample", attempt)
        melody = sampled(seed)
        try:
            measures = evaluate.measure_melody(melody, local, key, model.index, total_beats=span, beats_per_bar=bpb)
            if gate is None or evaluate.originality_gate(measures, gate):
                break
        except LofictlError as exc:  # the index: missing, stale or damaged
            raise LofictlError(exc.message, field=where) from None
        rejected.append({"seed": seed, "overlap_15": measures["overlap_15"]})
    else:
        raise LofictlError(
            f"the melody shares {measures['overlap_15']:.1%} of its 15-note windows with the model's "
            f"training data (max_overlap_15: {gate}) after {MAX_RESAMPLES} re-samples; change the seed, "
            "raise the temperature or loosen the gate",
            field=where,
        )
    return melody, {"seed": seed, "resamples": attempt, "rejected": rejected, **measures}
