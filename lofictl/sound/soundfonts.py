"""Finding SoundFonts by name and reading their preset lists.

Presets are read straight from the SF2 file's `pdta/phdr` chunk (the RIFF preset headers), so
listing instruments needs no synthesizer and takes milliseconds even for a 140 MB SoundFont.
"""

from __future__ import annotations

import importlib.util
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from lofictl.errors import LofictlError, suggestions

DRUM_BANK = 128  # FluidSynth's bank for percussion presets (the GM kit is bank 128, program 0)

SYSTEM_DIRS = (
    "/usr/share/sounds/sf2",
    "/usr/share/sounds/sf3",  # Debian's musescore-general-soundfont (SoundFont 3: Ogg-compressed samples)
    "/usr/share/soundfonts",
    "/usr/local/share/soundfonts",
    "~/.local/share/soundfonts",
    "/opt/homebrew/share/soundfonts",
)
SOUNDFONT_SUFFIXES = (".sf2", ".sf3")

# General MIDI program names, so a recipe can say "Electric Piano 1" whatever the SoundFont
# calls program 4 (FluidR3_GM calls it "Rhodes EP").
GM_PROGRAM_NAMES = (
    "Acoustic Grand Piano",
    "Bright Acoustic Piano",
    "Electric Grand Piano",
    "Honky-tonk Piano",
    "Electric Piano 1",
    "Electric Piano 2",
    "Harpsichord",
    "Clavinet",
    "Celesta",
    "Glockenspiel",
    "Music Box",
    "Vibraphone",
    "Marimba",
    "Xylophone",
    "Tubular Bells",
    "Dulcimer",
    "Drawbar Organ",
    "Percussive Organ",
    "Rock Organ",
    "Church Organ",
    "Reed Organ",
    "Accordion",
    "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)",
    "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)",
    "Electric Guitar (clean)",
    "Electric Guitar (muted)",
    "Overdriven Guitar",
    "Distortion Guitar",
    "Guitar Harmonics",
    "Acoustic Bass",
    "Electric Bass (finger)",
    "Electric Bass (pick)",
    "Fretless Bass",
    "Slap Bass 1",
    "Slap Bass 2",
    "Synth Bass 1",
    "Synth Bass 2",
    "Violin",
    "Viola",
    "Cello",
    "Contrabass",
    "Tremolo Strings",
    "Pizzicato Strings",
    "Orchestral Harp",
    "Timpani",
    "String Ensemble 1",
    "String Ensemble 2",
    "Synth Strings 1",
    "Synth Strings 2",
    "Choir Aahs",
    "Voice Oohs",
    "Synth Voice",
    "Orchestra Hit",
    "Trumpet",
    "Trombone",
    "Tuba",
    "Muted Trumpet",
    "French Horn",
    "Brass Section",
    "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax",
    "Alto Sax",
    "Tenor Sax",
    "Baritone Sax",
    "Oboe",
    "English Horn",
    "Bassoon",
    "Clarinet",
    "Piccolo",
    "Flute",
    "Recorder",
    "Pan Flute",
    "Blown Bottle",
    "Shakuhachi",
    "Whistle",
    "Ocarina",
    "Lead 1 (square)",
    "Lead 2 (sawtooth)",
    "Lead 3 (calliope)",
    "Lead 4 (chiff)",
    "Lead 5 (charang)",
    "Lead 6 (voice)",
    "Lead 7 (fifths)",
    "Lead 8 (bass + lead)",
    "Pad 1 (new age)",
    "Pad 2 (warm)",
    "Pad 3 (polysynth)",
    "Pad 4 (choir)",
    "Pad 5 (bowed)",
    "Pad 6 (metallic)",
    "Pad 7 (halo)",
    "Pad 8 (sweep)",
    "FX 1 (rain)",
    "FX 2 (soundtrack)",
    "FX 3 (crystal)",
    "FX 4 (atmosphere)",
    "FX 5 (brightness)",
    "FX 6 (goblins)",
    "FX 7 (echoes)",
    "FX 8 (sci-fi)",
    "Sitar",
    "Banjo",
    "Shamisen",
    "Koto",
    "Kalimba",
    "Bagpipe",
    "Fiddle",
    "Shanai",
    "Tinkle Bell",
    "Agogo",
    "Steel Drums",
    "Woodblock",
    "Taiko Drum",
    "Melodic Tom",
    "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise",
    "Breath Noise",
    "Seashore",
    "Bird Tweet",
    "Telephone Ring",
    "Helicopter",
    "Applause",
    "Gunshot",
)
DRUM_KIT_NAMES = ("Drums", "Drum Kit", "Standard Kit", "GM Drums", "Standard Drum Kit")

_PHDR_RECORD = struct.Struct("<20sHHHIII")  # name, preset, bank, bag index, library, genre, morphology


@dataclass(frozen=True, order=True)
class Preset:
    bank: int
    program: int
    name: str

    @property
    def is_drums(self) -> bool:
        return self.bank == DRUM_BANK

    def __str__(self) -> str:
        return f"{self.bank:03d}:{self.program:03d} {self.name}"


def _pretty_midi_dir() -> Path | None:
    # find_spec locates the package without importing it (pretty_midi pulls in heavy imports).
    try:
        spec = importlib.util.find_spec("pretty_midi")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def search_path(recipe_dir: Path | None = None, project_dir: Path | None = None) -> list[Path]:
    """Folders searched for a SoundFont given by bare name, in order, without duplicates.

    For a recipe (project_dir given): its folder, its sf2/, the project's sf2/, then the folders
    the user or the system provides. Without one (the CLI's own look-ups), ./sf2 is searched too.
    """
    candidates: list[Path] = []
    if recipe_dir is not None:
        recipe_dir = Path(recipe_dir).resolve()
        project = Path(project_dir).resolve() if project_dir is not None else recipe_dir.parent
        candidates += [recipe_dir, recipe_dir / "sf2", project / "sf2"]
    if project_dir is None:
        candidates.append(Path.cwd() / "sf2")
    for entry in os.environ.get("LOFICTL_SF2_PATH", "").split(os.pathsep):
        if entry.strip():
            candidates.append(Path(entry).expanduser())
    candidates += [Path(folder).expanduser() for folder in SYSTEM_DIRS]
    pretty = _pretty_midi_dir()
    if pretty is not None:
        candidates.append(pretty)
    seen: set[str] = set()
    result = []
    for folder in candidates:
        key = str(folder.resolve()) if folder.exists() else str(folder)
        if key not in seen:
            seen.add(key)
            result.append(folder)
    return result


def find_soundfont(name_or_path: str | Path, recipe_dir: Path | None = None, project_dir: Path | None = None) -> Path:
    """The absolute path of a SoundFont given as a path or as a file name on the search path.

    Recipes give bare names here (build.prepare puts paths through the project's path rule);
    paths are for the CLI, where the user typed them.
    """
    text = str(name_or_path)
    given = Path(text).expanduser()
    if given.is_absolute():
        if given.is_file():
            return given
        raise LofictlError(f"SoundFont {text} does not exist")
    looks_like_path = len(given.parts) > 1
    if looks_like_path:
        for base in ([Path(recipe_dir)] if recipe_dir is not None else []) + [Path.cwd()]:
            if (base / given).is_file():
                return (base / given).absolute()
    folders = search_path(recipe_dir, project_dir)
    names = [given.name] if given.suffix.lower() in SOUNDFONT_SUFFIXES else [given.name + s for s in SOUNDFONT_SUFFIXES]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return (folder / name).absolute()
    known = sorted({p.name for p in list_all_soundfonts(recipe_dir, project_dir)})
    close = suggestions(given.name, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    searched = ", ".join(str(folder) for folder in folders)
    raise LofictlError(
        f"SoundFont {text!r} not found.{hint} Searched: {searched} "
        "(add a folder with $LOFICTL_SF2_PATH or put the file in sf2/)"
    )


def list_all_soundfonts(recipe_dir: Path | None = None, project_dir: Path | None = None) -> list[Path]:
    """Every SoundFont file on the search path; the first of a given name wins, as in lookup."""
    found: list[Path] = []
    names: set[str] = set()
    for folder in search_path(recipe_dir, project_dir):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in SOUNDFONT_SUFFIXES and path.is_file() and path.name not in names:
                names.add(path.name)
                found.append(path.absolute())
    return found


def _chunks(data: bytes, start: int, end: int):
    """(id, payload start, payload end) for each RIFF chunk in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        chunk_id = data[pos : pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        yield chunk_id, pos + 8, min(pos + 8 + size, end)
        pos += 8 + size + (size & 1)  # chunks are padded to even length


def list_presets(path: Path) -> list[Preset]:
    """All presets of a SoundFont, sorted by bank then program."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            header = handle.read(12)
            if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"sfbk":
                raise LofictlError(f"{path} is not a SoundFont (no RIFF sfbk header)")
            # Walk the top-level LIST chunks, skipping the (large) sample data by seeking.
            phdr = None
            while phdr is None:
                head = handle.read(12)
                if len(head) < 12:
                    break
                chunk_id, size = head[:4], struct.unpack_from("<I", head, 4)[0]
                if chunk_id == b"LIST" and head[8:12] == b"pdta":
                    body = head[12:] + handle.read(size - 4)
                    for sub_id, begin, end in _chunks(body, 0, len(body)):
                        if sub_id == b"phdr":
                            phdr = body[begin:end]
                            break
                    break
                handle.seek(size + (size & 1) - 4, 1)  # 4 payload bytes were read with the header
    except OSError as exc:
        raise LofictlError(f"cannot read SoundFont {path}: {exc.strerror or exc}") from None
    if phdr is None or len(phdr) < _PHDR_RECORD.size:
        raise LofictlError(f"{path} is not a valid SoundFont (no preset headers)")
    presets = set()
    # The last record is the terminal "EOP" entry, not a preset.
    for offset in range(0, len(phdr) - _PHDR_RECORD.size * 2 + 1, _PHDR_RECORD.size):
        raw_name, program, bank, *_ = _PHDR_RECORD.unpack_from(phdr, offset)
        name = raw_name.split(b"\0", 1)[0].decode("latin-1").strip()
        presets.add(Preset(bank, program, name))
    return sorted(presets)


def comparable_name(name: str) -> str:
    """A preset name as presets are matched: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def gm_name(preset: Preset) -> str | None:
    """The General MIDI name of a preset's slot (bank 0 programs, and the bank-128 kit)."""
    if preset.bank == 0:
        return GM_PROGRAM_NAMES[preset.program] if preset.program < 128 else None
    if preset.bank == DRUM_BANK and preset.program == 0:
        return DRUM_KIT_NAMES[0]
    return None


def default_kit(path: Path) -> Preset:
    """The drum kit a drums track plays when no preset is named.

    A General MIDI SoundFont keeps its kits in bank 128 (the standard kit at program 0); a
    drum-only SoundFont such as the AVL kits holds one preset, at bank 0, laid out on the GM
    percussion keys.
    """
    presets = list_presets(path)
    kits = [p for p in presets if p.is_drums]
    if kits:
        return next((p for p in kits if p.program == 0), kits[0])
    if len(presets) == 1:
        return presets[0]
    raise LofictlError(
        f"{Path(path).name} has no drum kit (no bank-128 preset); name the kit's preset "
        "(`lofictl instruments` lists them)"
    )


def resolve_preset(path: Path, name: str | None = None, bank: int | None = None, program: int | None = None) -> Preset:
    """A preset of the SoundFont by name (case, spaces and punctuation ignored) or bank/program.

    A name is first matched against the SoundFont's own preset names, then against the General
    MIDI names of bank 0 (and "Drums" for the bank-128 kit); "bank:program" ("0:4") names the
    slot. With only `program` given, bank 0 is meant; with only `bank`, its lowest program.
    """
    presets = list_presets(path)
    numbered = re.fullmatch(r"\s*(\d{1,3})\s*:\s*(\d{1,3})\s*", name) if name is not None else None
    if numbered:  # "0:4", as `lofictl instruments` prints a preset
        name, bank, program = None, int(numbered[1]), int(numbered[2])
    if name is not None:
        wanted = comparable_name(name)
        for preset in presets:
            if comparable_name(preset.name) == wanted:
                return preset
        for preset in presets:
            standard = gm_name(preset)
            if standard is not None and (
                comparable_name(standard) == wanted
                or (preset.bank == DRUM_BANK and wanted in {comparable_name(n) for n in DRUM_KIT_NAMES})
            ):
                return preset
        labels: dict[str, str] = {}  # simplified name -> how to show it
        for preset in presets:
            labels.setdefault(comparable_name(preset.name), repr(preset.name))
        for preset in presets:
            standard = gm_name(preset)
            if standard:
                labels.setdefault(comparable_name(standard), f"{standard!r} ({preset.name})")
        close = suggestions(wanted, labels, n=4)
        shown = list(dict.fromkeys(labels[key] for key in close))
        hint = f" Did you mean {', '.join(shown)}?" if shown else ""
        raise LofictlError(f"no preset named {name!r} in {Path(path).name}.{hint} (`lofictl instruments` lists them)")
    if bank is None and program is None:
        raise LofictlError("an instrument needs a preset name or a bank/program")
    bank = 0 if bank is None else bank
    for preset in presets:
        if preset.bank == bank and (program is None or preset.program == program):
            return preset
    in_bank = [str(p) for p in presets if p.bank == bank][:6]
    hint = (
        f" Bank {bank} has: {', '.join(in_bank)}"
        if in_bank
        else f" Banks present: {', '.join(str(b) for b in sorted({p.bank for p in presets}))}"
    )
    raise LofictlError(f"no preset at bank {bank} program {program} in {Path(path).name}.{hint}")
