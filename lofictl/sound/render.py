"""Render one Track to a stereo float32 stem with FluidSynth, offline and deterministically.

Why the details below matter:
- Samples come from `fluid_synth_write_float` through ctypes, written straight into the output
  array. pyfluidsynth's `get_samples` goes through the 16-bit path, which dithers with C `rand()`
  and so gives different bytes on different platforms.
- Reverb and chorus are off in the synth: effects belong to the Pedalboard chain, where the
  recipe can see and change them.
- FluidSynth starts and stops voices only at the edges of its internal 64-sample blocks
  (FLUID_BUFSIZE); an event sent mid-block waits for the next edge. So each event is placed on
  the nearest block edge (at most 32 samples, 0.73 ms at 44.1 kHz, from the exact time) and the
  synth is rendered exactly up to it. Output is written in bounded blocks, and because events
  only ever land on block edges the block size never changes a byte.
- No audio driver is started; the synth is deleted at the end even when rendering fails.
- A .sf2 is loaded once (`_FONTS`) and shared by the synths that play it, each new for its
  track: FluidR3 costs 0.5 s a load. It stays loaded until `release_soundfonts` (a build calls
  it after its stems, and after its dry stems). A synth is not reused for another track: FluidSynth
  ramps a voice slot's first block from the amplitude of the note it played before, so a used
  synth changes the first 64 samples of a track. An .sf3 is loaded per synth as before (its
  samples are decoded when a preset is selected, and shared ones would be unloaded under a synth
  still playing them).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from lofictl.compose.score import DRUM_CHANNEL, TempoMap, Track
from lofictl.errors import LofictlError
from lofictl.sound.soundfonts import Preset

# Measured on FluidR3_GM at 44.1 kHz: four-note chords at velocity 100 peak at -5 dBFS (Rhodes),
# -4 (warm pad), -6.6 (grand piano), and -0.9 at velocity 127; a boom-bap kit -7.5 (-4.8 at
# velocity 127); single lines lower (acoustic bass -12, vibraphone -13). FluidSynth's default
# 0.2 would leave every stem 12 dB quieter. The output is float, so louder material never clips
# here; the mix stage sets the final level.
DEFAULT_GAIN = 0.8
DEFAULT_BLOCK_SIZE = 8192  # samples per write; any value gives the same bytes
FLUID_BUFSIZE = 64  # FluidSynth's fixed internal block, in samples
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 96000  # the range of FluidSynth's synth.sample-rate

_NOTE_OFF, _NOTE_ON = 0, 1  # sort order: a note-off goes before a note-on at the same sample


@functools.cache
def _fluidsynth():
    """The pyfluidsynth module and a float32 writer, loaded on first use with a helpful error."""
    try:
        # pyfluidsynth prints where it found the library when $CI is set; keep stdout clean
        # for `--json` and `schema` output.
        with contextlib.redirect_stdout(io.StringIO()):
            import fluidsynth
    except ImportError as exc:  # pyfluidsynth raises ImportError when libfluidsynth is missing
        raise LofictlError(
            f"FluidSynth is not available ({exc}); install it with "
            "`apt install libfluidsynth3` or `brew install fluid-synth`"
        ) from None
    write = fluidsynth._fl.fluid_synth_write_float
    write.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    write.restype = ctypes.c_int
    return fluidsynth, write


def fluidsynth_version() -> str:
    """The version of the FluidSynth library actually loaded, e.g. "2.3.1" (for the lock file)."""
    with _SETUP_LOCK:
        fluidsynth, _ = _fluidsynth()
    version_str = fluidsynth._fl.fluid_version_str
    version_str.restype = ctypes.c_char_p
    return version_str().decode()


def _edge(sample: int) -> int:
    """The FluidSynth block edge nearest to a sample position (ties go later)."""
    return (sample + FLUID_BUFSIZE // 2) // FLUID_BUFSIZE * FLUID_BUFSIZE


def note_events(
    track: Track, timing: float | TempoMap, sample_rate: int, n_samples: int
) -> list[tuple[int, int, int, int]]:
    """Sorted (sample, kind, pitch, velocity) events, on block edges, before n_samples.

    `timing` is the seconds per beat, or the Score's tempo map when the tempo changes. A note
    always lasts at least one block, so a very short note is not swallowed by a note-off
    landing on the same edge as its note-on.
    """
    tempo = timing if isinstance(timing, TempoMap) else TempoMap.constant(timing)
    events = []
    for note in track.notes:
        if not 0 <= note.pitch <= 127:
            raise LofictlError(f"note pitch {note.pitch} is outside MIDI's 0..127", field=("tracks", track.name))
        on = _edge(round(tempo.samples(note.start, sample_rate)))
        if on >= n_samples:
            continue
        off = max(_edge(round(tempo.samples(note.end, sample_rate))), on + FLUID_BUFSIZE)
        velocity = min(max(int(note.velocity), 1), 127)
        events.append((on, _NOTE_ON, note.pitch, velocity))
        if off < n_samples:
            events.append((off, _NOTE_OFF, note.pitch, 0))
    events.sort()
    return events


def render_track(
    track: Track,
    timing: float | TempoMap,
    soundfont: Path,
    preset: Preset,
    sample_rate: int,
    n_samples: int,
    *,
    gain: float = DEFAULT_GAIN,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> np.ndarray:
    """The track played by one SoundFont preset: float32, shape (2, n_samples).

    Sounds still ringing at n_samples are cut there; the caller chooses the length.
    """
    blocks = list(
        iter_render_track(track, timing, soundfont, preset, sample_rate, n_samples, gain=gain, block_size=block_size)
    )
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((2, 0), dtype=np.float32)


def iter_render_track(
    track: Track,
    timing: float | TempoMap,
    soundfont: Path,
    preset: Preset,
    sample_rate: int,
    n_samples: int,
    *,
    gain: float = DEFAULT_GAIN,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Iterator[np.ndarray]:
    """render_track as float32 (2, block_size) blocks (the last shorter), for bounded memory.

    Events land on FluidSynth's block edges whatever `block_size` is, so the bytes never
    depend on it.
    """
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise LofictlError(
            f"sample rate {sample_rate} Hz is outside FluidSynth's {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz",
            field=("output", "sample_rate"),
        )
    if block_size < 1:
        raise ValueError("block_size must be at least 1")
    soundfont = Path(soundfont)
    if not soundfont.is_file():
        raise LofictlError(f"SoundFont {soundfont} does not exist")
    events = note_events(track, timing, sample_rate, n_samples)

    with _SETUP_LOCK:  # _fluidsynth swaps sys.stdout while importing: one thread at a time
        fluidsynth, write_float = _fluidsynth()
        synth, channel, shared = _new_synth(fluidsynth, soundfont, preset, track, gain, sample_rate)
    try:
        sounding = [0] * 128  # notes held per pitch; overlapping notes of one pitch share a voice
        index, position = 0, 0
        while position < n_samples:
            block_start = position
            block_end = min(block_start + block_size, n_samples)
            block = np.zeros((2, block_end - block_start), dtype=np.float32)
            left, right = block[0].ctypes.data, block[1].ctypes.data
            while position < block_end:
                while index < len(events) and events[index][0] <= position:
                    _, kind, pitch, velocity = events[index]
                    if kind == _NOTE_ON:
                        sounding[pitch] += 1
                        synth.noteon(channel, pitch, velocity)
                    else:
                        sounding[pitch] -= 1
                        if sounding[pitch] == 0:
                            synth.noteoff(channel, pitch)
                    index += 1
                target = min(block_end, events[index][0]) if index < len(events) else block_end
                offset = position - block_start
                write_float(synth.synth, target - position, left, offset, 1, right, offset, 1)
                position = target
            yield block
    finally:
        with _SETUP_LOCK:
            _delete(fluidsynth, synth, shared)


# FluidSynth's synth creation is not thread-safe: stems rendered in threads that create their
# synths at the same moment can corrupt the default modulators (FluidSynth warns "Modulator with
# source 1 none"; a bass stem came out 6 dB louder), so a recipe gave other bytes under load.
# Creating, loading and deleting take turns; the rendering itself still runs side by side.
_SETUP_LOCK = threading.Lock()


def _synth(fluidsynth, soundfont: Path, gain: float, sample_rate: int):
    return fluidsynth.Synth(
        gain=float(gain),
        samplerate=sample_rate,
        channels=16,
        **{
            "synth.reverb.active": 0,
            "synth.chorus.active": 0,
            "synth.cpu-cores": 1,
            "synth.threadsafe-api": 0,  # one thread drives this synth; skip the locking
            # An .sf3 keeps its samples Ogg-compressed; decoding only the chosen preset's (at
            # program_select) takes MuseScore_General's load from 29 s to 4 s. Same samples, same bytes.
            "synth.dynamic-sample-loading": int(_dynamic(soundfont)),
        },
    )


def _dynamic(soundfont: Path) -> bool:
    """An .sf3 keeps its samples compressed: they are decoded when a preset is selected."""
    return soundfont.suffix.lower() == ".sf3"


def _shared(soundfont: Path) -> bool:
    """Loaded once and shared by the synths (an .sf2), or loaded by each synth (an .sf3)."""
    return not _dynamic(soundfont)


def _new_synth(fluidsynth, soundfont: Path, preset: Preset, track: Track, gain: float, sample_rate: int):
    """A new synth playing the SoundFont (shared, or loaded for it), the preset selected on the
    track's channel; and the shared SoundFont it must give back before it is deleted (or None)."""
    synth = _synth(fluidsynth, soundfont, gain, sample_rate)
    shared = None
    try:
        if not _shared(soundfont):
            sfont_id = synth.sfload(str(soundfont))
        else:
            shared = _FONTS.take(fluidsynth, soundfont, sample_rate)
            sfont_id = fluidsynth._fl.fluid_synth_add_sfont(synth.synth, shared[1])
            if sfont_id < 0:
                _FONTS.give(shared)
                shared = None
        if sfont_id < 0:
            raise LofictlError(f"FluidSynth could not load {soundfont}")
        channel = DRUM_CHANNEL if (track.is_drums or preset.is_drums) else 0
        if synth.program_select(channel, sfont_id, preset.bank, preset.program) != 0:
            raise LofictlError(f"{soundfont.name} has no preset at bank {preset.bank} program {preset.program}")
    except BaseException:
        _delete(fluidsynth, synth, shared)
        raise
    return synth, channel, shared


_FLUID_WARN = 2  # FluidSynth's log level for warnings


def _delete(fluidsynth, synth, shared) -> None:
    """Delete a synth, first handing back the shared SoundFont (a synth deletes the ones it holds).

    Removing a SoundFont re-selects every channel's program from the fonts left, none here, and
    FluidSynth warns "No preset found" for each of the 16 channels: its warnings are off for that
    call (only set-up runs meanwhile: the caller holds _SETUP_LOCK)."""
    if shared is not None:
        fl = fluidsynth._fl
        fl.fluid_set_log_function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        fl.fluid_set_log_function.restype = ctypes.c_void_p
        previous = fl.fluid_set_log_function(_FLUID_WARN, None, None)
        try:
            fl.fluid_synth_remove_sfont(synth.synth, shared[1])
        finally:
            fl.fluid_set_log_function(_FLUID_WARN, previous, None)
        _FONTS.give(shared)
    synth.delete()


class _SharedFonts:
    """Each .sf2 loaded once per process: held by a synth of its own that never plays, and added
    to every synth that renders a track of it (fluid_synth_add_sfont; given back with
    fluid_synth_remove_sfont before that synth is deleted). The presets and samples are the very
    ones a load would make, only read while rendering. Use with _SETUP_LOCK held."""

    def __init__(self) -> None:
        self._held: dict[tuple, tuple[Any, int]] = {}  # (path, mtime, size) → (holder synth, sfont)
        self._users: dict[tuple, int] = {}  # synths playing each now

    def take(self, fluidsynth, soundfont: Path, sample_rate: int) -> tuple[tuple, int]:
        """(its key, the fluid_sfont_t) of a SoundFont, loaded if it is not yet; one more user."""
        stat = soundfont.stat()  # a file replaced in place is loaded anew
        key = (str(soundfont.resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in self._held:
            fl = fluidsynth._fl
            fl.fluid_synth_add_sfont.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            fl.fluid_synth_add_sfont.restype = ctypes.c_int
            fl.fluid_synth_remove_sfont.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            fl.fluid_synth_remove_sfont.restype = ctypes.c_int
            fl.fluid_synth_get_sfont_by_id.argtypes = [ctypes.c_void_p, ctypes.c_int]
            fl.fluid_synth_get_sfont_by_id.restype = ctypes.c_void_p
            holder = _synth(fluidsynth, soundfont, DEFAULT_GAIN, sample_rate)
            sfont_id = holder.sfload(str(soundfont))
            sfont = fl.fluid_synth_get_sfont_by_id(holder.synth, sfont_id) if sfont_id >= 0 else None
            if not sfont:
                holder.delete()
                raise LofictlError(f"FluidSynth could not load {soundfont}")
            self._held[key] = (holder, sfont)
        self._users[key] = self._users.get(key, 0) + 1
        return key, self._held[key][1]

    def give(self, shared: tuple[tuple, int]) -> None:
        self._users[shared[0]] -= 1

    def release(self) -> None:
        """Delete the holders of the SoundFonts no synth plays now: their memory goes back (the
        next track loads the file again)."""
        for key in [key for key in self._held if not self._users.get(key)]:
            self._held.pop(key)[0].delete()


_FONTS = _SharedFonts()


def preload_soundfonts(soundfonts: list[Path], sample_rate: int) -> None:
    """Load the .sf2 files a build's stems will play before they start: a build calls this on a
    thread beside compose (the load runs in C, without the GIL), so the first stem need not wait
    0.5 s for FluidR3. They are the fonts a stem would load (same file, same synth settings) and
    stay loaded, unused, until `release_soundfonts`. An .sf3 is loaded per synth: nothing to do."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        return  # iter_render_track reports it
    for soundfont in soundfonts:
        if _shared(soundfont) and soundfont.is_file():
            with _SETUP_LOCK:
                fluidsynth, _ = _fluidsynth()
                _FONTS.give(_FONTS.take(fluidsynth, soundfont, sample_rate))


def release_soundfonts() -> None:
    """Give back the memory of the loaded SoundFonts (FluidR3: 140 MB) that no synth plays now
    (a build in another thread keeps those it is playing)."""
    with _SETUP_LOCK:
        _FONTS.release()
