"""SoundFont lookup and preset listing, on the system's FluidR3_GM and on tiny hand-made files."""

import struct
from pathlib import Path

import pytest

from lofictl.errors import LofictlError
from lofictl.sound.soundfonts import (
    DRUM_BANK,
    Preset,
    find_soundfont,
    gm_name,
    list_all_soundfonts,
    list_presets,
    resolve_preset,
    search_path,
)


def tiny_sf2(presets: list[tuple[str, int, int]]) -> bytes:
    """A RIFF sfbk file holding only INFO, an empty sdta and a pdta with preset headers."""

    def chunk(chunk_id: bytes, payload: bytes) -> bytes:
        return chunk_id + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)

    records = b"".join(
        struct.pack("<20sHHHIII", name.encode(), program, bank, i, 0, 0, 0)
        for i, (name, bank, program) in enumerate(presets + [("EOP", 0, 0)])
    )
    info = chunk(b"LIST", b"INFO" + chunk(b"ifil", struct.pack("<HH", 2, 1)) + chunk(b"INAM", b"tiny\0"))
    sdta = chunk(b"LIST", b"sdta" + chunk(b"smpl", b"\0" * 7))  # odd size: exercises padding
    pdta = chunk(b"LIST", b"pdta" + chunk(b"phdr", records) + chunk(b"pbag", b"\0" * 4))
    return chunk(b"RIFF", b"sfbk" + info + sdta + pdta)


def test_gm_presets_include_the_recipe_instruments(gm):
    presets = list_presets(gm)
    names = {p.name for p in presets}
    assert {"Vibraphone", "Acoustic Bass"} <= names
    assert Preset(DRUM_BANK, 0, "Standard") in presets
    assert presets == sorted(presets)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Electric Piano 1", (0, 4)),  # the GM name; FluidR3_GM calls program 4 "Rhodes EP"
        ("Vibraphone", (0, 11)),
        ("acoustic-bass", (0, 32)),  # case and punctuation do not matter
        ("ACOUSTIC BASS", (0, 32)),
        ("Rhodes EP", (0, 4)),  # the SoundFont's own name
        ("Drums", (128, 0)),  # the GM kit
    ],
)
def test_resolve_by_name(gm, name, expected):
    preset = resolve_preset(gm, name)
    assert (preset.bank, preset.program) == expected


def test_resolve_by_bank_and_program(gm):
    assert resolve_preset(gm, bank=128, program=0).is_drums
    assert resolve_preset(gm, program=11).name == "Vibraphone"
    assert gm_name(resolve_preset(gm, program=4)) == "Electric Piano 1"


def test_unknown_preset_suggests_close_names(gm):
    with pytest.raises(LofictlError) as err:
        resolve_preset(gm, "Vibrafone")
    assert "Vibraphone" in str(err.value) and "Did you mean" in str(err.value)
    with pytest.raises(LofictlError, match="Acoustic Bass"):
        resolve_preset(gm, "Acoustic Bas")
    with pytest.raises(LofictlError, match="bank 3 program 3"):
        resolve_preset(gm, bank=3, program=3)


def test_parses_a_hand_made_soundfont(tmp_path):
    path = tmp_path / "tiny.sf2"
    path.write_bytes(tiny_sf2([("Lo Keys", 0, 5), ("Kit", 128, 0), ("A Name Of Twenty Char", 1, 2)]))
    assert list_presets(path) == [Preset(0, 5, "Lo Keys"), Preset(1, 2, "A Name Of Twenty Cha"), Preset(128, 0, "Kit")]
    assert resolve_preset(path, "lo keys") == Preset(0, 5, "Lo Keys")


@pytest.mark.parametrize(
    "content", [b"", b"hello, I am a text file\n", b"RIFF\x04\0\0\0WAVE", b"RIFF\x10\0\0\0sfbkLIST\x04\0\0\0INFO"]
)
def test_a_file_that_is_not_a_soundfont_is_named_in_the_error(tmp_path, content):
    path = tmp_path / "notes.sf2"
    path.write_bytes(content)
    with pytest.raises(LofictlError) as err:
        list_presets(path)
    assert "notes.sf2" in str(err.value)


def test_search_path_order(tmp_path, monkeypatch):
    extra_a, extra_b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("LOFICTL_SF2_PATH", f"{extra_a}{__import__('os').pathsep}{extra_b}")
    monkeypatch.chdir(tmp_path)
    recipe_dir = tmp_path / "project" / "recipes"
    folders = search_path(recipe_dir)
    expected_prefix = [recipe_dir, recipe_dir / "sf2", tmp_path / "project" / "sf2", tmp_path / "sf2", extra_a, extra_b]
    assert [Path(f) for f in folders[:6]] == expected_prefix
    assert Path("/usr/share/sounds/sf2") in folders


def test_find_by_name_path_and_env(tmp_path, monkeypatch):
    own = tmp_path / "fonts" / "Mine.sf2"
    own.parent.mkdir()
    own.write_bytes(tiny_sf2([("Keys", 0, 0)]))
    monkeypatch.setenv("LOFICTL_SF2_PATH", str(own.parent))
    assert find_soundfont("Mine.sf2", None) == own
    assert find_soundfont("Mine", None) == own  # suffix optional
    assert find_soundfont(str(own), None) == own
    assert find_soundfont("fonts/Mine.sf2", tmp_path) == own  # relative to the recipe folder
    assert own in list_all_soundfonts(None)


def test_missing_soundfont_lists_folders_and_close_names(tmp_path):
    with pytest.raises(LofictlError) as err:
        find_soundfont("FluidR3_G.sf2", tmp_path)
    message = str(err.value)
    assert "FluidR3_GM.sf2" in message and str(tmp_path) in message and "/usr/share/sounds/sf2" in message


def test_default_kit_is_bank_128_or_a_drum_only_fonts_single_preset(gm, tmp_path):
    from lofictl.sound.soundfonts import default_kit

    assert default_kit(gm) == Preset(DRUM_BANK, 0, "Standard")
    (tmp_path / "kit.sf2").write_bytes(tiny_sf2([("My Kit", 0, 0)]))
    assert default_kit(tmp_path / "kit.sf2") == Preset(0, 0, "My Kit")
    (tmp_path / "two.sf2").write_bytes(tiny_sf2([("Keys", 0, 0), ("Pad", 0, 1)]))
    with pytest.raises(LofictlError, match="has no drum kit"):
        default_kit(tmp_path / "two.sf2")


@pytest.mark.parametrize("name", ["Black_Pearl_4_LV2.sf2", "Red_Zeppelin_4_LV2.sf2", "MuseScore_General_Full.sf3"])
def test_the_example_recipes_kits_are_found_and_play(name):
    """The SoundFonts scripts/dev.sh installs: found by name (sf3 too), each kit piece sounds."""
    import numpy as np

    from lofictl.compose.drums import KIT
    from lofictl.compose.score import DRUM_CHANNEL, Note, Track
    from lofictl.sound.render import render_track
    from lofictl.sound.soundfonts import default_kit

    path = find_soundfont(name, None)
    kit = default_kit(path)
    pieces = ("kick", "snare", "stick", "hat", "open-hat", "ride")
    notes = tuple(Note(i * 1.0, 0.125, KIT[piece], 100) for i, piece in enumerate(pieces))
    audio = render_track(
        Track("drums", "drums", notes, is_drums=True, channel=DRUM_CHANNEL), 0.5, path, kit, 22050, len(pieces) * 11025
    )
    for i, piece in enumerate(pieces):  # every hit, in its own half second, well above silence
        assert np.abs(audio[:, i * 11025 : (i + 1) * 11025]).max() > 10 ** (-30 / 20), piece
