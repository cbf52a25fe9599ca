"""The adversarial campaign of issue 12, at a size the test suite cannot afford.

    .venv/bin/python scripts/adversarial.py [--interrupts N] [--seed S]

Runs the real CLI in throw-away projects and prints, per class, how many cases ran and how many
held: odd recipe texts and values (one clear line, exit 2, or a clean build), odd recipe file
names (a build inside build/), output folders that are not the build's (refused, nothing
changed), and SIGINT/SIGTERM at random moments of builds with one or two worker processes
(exit 0/130/143, no traceback from any process, outputs and lock belonging together).

The radio, album and cache part (issue 25; `--part radio`) tries stations whose work folder or
database is a user's folder or file (refused with one line, or a folder of their own that a
started station fills without touching the user's files), stations, albums and titles past
the limits (one line, exit 2, at once), and albums rebuilt into their own folder while
another process prunes the cache under them (exit 0, the same lock as a quiet build).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASE = textwrap.dedent("""\
    lofictl: 1
    title: Campaign
    seed: 5
    tempo: 90
    key: D minor
    length: 2 bars
    tracks:
      chords: {part: chords, progression: "Dm9 G13", effects: [{LowpassFilter: {cutoff_frequency_hz: 3000}}]}
      bass: {part: bass}
      drums: {part: drums}
    """)


def run(args, cwd, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "lofictl", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def tree(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".lofictl-cache" not in p.parts
    }


def clean_error(result) -> bool:
    return result.returncode == 2 and "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def odd_texts() -> dict[str, str]:
    bomb = (
        "a: &a ["
        + ",".join(['"x"'] * 9)
        + "]\n"
        + "".join(f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    )
    cases = {
        "alias bomb": bomb,
        "deep lists": "a: " + "[" * 10000 + "]" * 10000,
        "deep maps": "a: " + "{b: " * 5000 + "}" * 5000,
        "complex key": "? [a, b]\n: 1\n",
        "flow complex key": "{[1]: x}\n",
        "recursive alias": "a: &a [*a]\n",
        "NUL": "title: a\0b\n",
        "empty": "",
        "comments only": "# nothing\n",
        "two documents": "a: 1\n---\nb: 2\n",
        "python tag": "!!python/object/apply:os.system ['echo hi']\n",
        "tabs": "title:\tx\n\tseed: 1\n",
        "binary title": BASE.replace("title: Campaign", "title: !!binary aGVsbG8="),
        "set": BASE.replace("title: Campaign", "title: !!set {a, b}"),
        "timestamp seed": BASE.replace("seed: 5", "seed: 2001-12-14"),
        "huge seed": BASE.replace("seed: 5", "seed: " + "9" * 5000),
        "nan tempo": BASE.replace("tempo: 90", "tempo: .nan"),
        "inf tempo": BASE.replace("tempo: 90", "tempo: .inf"),
        "10h": BASE.replace("length: 2 bars", "length: 10h"),
        "inf length": BASE.replace("length: 2 bars", "length: .inf"),
        "30000 bars of sections": BASE.replace(
            "length: 2 bars", "sections: [{name: a, bars: 10000}, {name: b, bars: 10000}, {name: c, bars: 10000}]"
        ),
        "10 MB title": BASE.replace("title: Campaign", "title: " + "y" * 900_000),
        "[/] key": BASE.replace("key: D minor", "key: '[/]'"),
        "newline key name": BASE.replace("  bass: {part: bass}", '  "ba\\nss": {part: bass}'),
        "Gain 1000": BASE.replace("LowpassFilter: {cutoff_frequency_hz: 3000}", "Gain: {gain_db: 1000}"),
        "Resample 1e12": BASE.replace(
            "LowpassFilter: {cutoff_frequency_hz: 3000}", "Resample: {target_sample_rate: 1e12}"
        ),
        "IR absolute": BASE.replace(
            "LowpassFilter: {cutoff_frequency_hz: 3000}", "Convolution: {impulse_response_filename: /etc/passwd}"
        ),
        "IR dotdot": BASE.replace(
            "LowpassFilter: {cutoff_frequency_hz: 3000}",
            "Convolution: {impulse_response_filename: ../../../../etc/passwd}",
        ),
        "IR not audio": BASE.replace(
            "LowpassFilter: {cutoff_frequency_hz: 3000}", "Convolution: {impulse_response_filename: recipes/r.yaml}"
        ),
        "VST3 outside": BASE.replace("LowpassFilter: {cutoff_frequency_hz: 3000}", "VST3: {path: /tmp/Evil.vst3}"),
        "VST3 not a plugin": BASE.replace("LowpassFilter: {cutoff_frequency_hz: 3000}", "VST3: {path: recipes/r.yaml}"),
        "SoundFont dotdot": BASE.replace(
            "bass: {part: bass}",
            "bass: {part: bass, instrument: {soundfont: ../../../../usr/share/sounds/sf2/FluidR3_GM.sf2}}",
        ),
        "SoundFont NUL": BASE.replace("bass: {part: bass}", 'bass: {part: bass, instrument: {soundfont: "a\\0b"}}'),
        "model outside": BASE + "  melody: {part: melody, generate: {model: /usr}}\n",
        "model is the project": BASE + "  melody: {part: melody, generate: {model: .}}\n",
        "clip is a folder": BASE + "  keys: {part: midi, file: recipes}\n",
        "output is the project": BASE + "output: {dir: .}\n",
        "output is recipes": BASE + "output: {dir: recipes}\n",
        "output leaves": BASE + "output: {dir: ../elsewhere}\n",
        "output NUL": BASE + 'output: {dir: "a\\0b"}\n',
    }
    return cases


def campaign_texts(root: Path) -> tuple[int, int, list[str]]:
    failures = []
    cases = odd_texts()
    for index, (name, text) in enumerate(cases.items()):
        project = root / f"t{index}"
        (project / "recipes").mkdir(parents=True)
        (project / "recipes" / "r.yaml").write_text(text)
        before = tree(project)
        result = run(["build", "-q", "--midi-only", "recipes/r.yaml"], project)
        ok = (clean_error(result) and tree(project) == before) or result.returncode == 0
        if result.returncode == 0 and "Traceback" in result.stderr:
            ok = False
        if not ok:
            failures.append(f"{name}: rc {result.returncode}: {result.stderr[-300:]}")
    return len(cases), len(cases) - len(failures), failures


def campaign_names(root: Path) -> tuple[int, int, list[str]]:
    names = [
        "...yaml",
        "..yaml",
        ".yaml",
        "[red]x.yaml",
        "夜の雨.yaml",
        "🌧.yaml",
        "-rf.yaml",
        "a b.yaml",
        "a;rm -rf ~.yaml",
        "$(id).yaml",
        "x" * 240 + ".yaml",
        "CON.yaml",
        "a\\b.yaml",
        "\t.yaml",
    ]
    failures = []
    for index, file_name in enumerate(names):
        project = root / f"n{index}"
        (project / "recipes").mkdir(parents=True)
        (project / "recipes" / file_name).write_text(BASE.replace("title: Campaign", f"title: 'T{index} [/]'"))
        result = run(["build", "-q", "--midi-only", project / "recipes" / file_name], project)
        built = [p for p in (project / "build").iterdir()] if (project / "build").is_dir() else []
        ok = (
            result.returncode == 0
            and len(built) == 1
            and not built[0].name.startswith(".")
            and (project / "recipes" / file_name).exists()
        )
        if not ok:
            failures.append(f"{file_name!r}: rc {result.returncode} {result.stderr[-200:]} {built}")
    return len(names), len(names) - len(failures), failures


def campaign_outputs(root: Path) -> tuple[int, int, list[str]]:
    project = root / "o"
    (project / "recipes").mkdir(parents=True)
    (project / "recipes" / "r.yaml").write_text(BASE)
    (project / "notes.txt").write_text("mine")
    (project / "mine").mkdir()
    (project / "mine" / "take.wav").write_bytes(b"RIFF")
    (project / "link").symlink_to(project / "mine")
    (project / "fifo").mkdir()
    os.mkfifo(project / "fifo" / "pipe")
    owned = project / "owned-plus"
    assert run(["build", "-q", "--midi-only", "recipes/r.yaml", "--out", owned], project).returncode == 0
    (owned / "my-edit.txt").write_text("added by hand")
    targets = [
        ".",
        "recipes",
        "notes.txt",
        "mine",
        "link",
        "fifo",
        "owned-plus",
        "/",
        str(Path.home()),
        str(project.parent),
        "recipes/r.yaml",
        "mine/take.wav",
    ]
    failures = []
    for target in targets:
        before = tree(project)
        result = run(["build", "-q", "--midi-only", "recipes/r.yaml", "--out", target], project)
        if not (clean_error(result) and tree(project) == before):
            failures.append(f"--out {target}: rc {result.returncode} {result.stderr[-200:]}")
    return len(targets), len(targets) - len(failures), failures


def campaign_interrupts(root: Path, count: int, seed: int) -> tuple[int, int, list[str], dict]:
    project = root / "i"
    (project / "recipes").mkdir(parents=True)
    recipe = project / "recipes" / "r.yaml"
    recipe.write_text(
        BASE.replace("length: 2 bars", "length: 8 bars")
        + "  melody: {part: melody, generate: {model: models/lofi-melody, seed: 4}}\n"
    )
    shutil.copytree(REPO / "models" / "lofi-melody", project / "models" / "lofi-melody")  # a symlink out is refused
    assert run(["build", "-q", recipe], project).returncode == 0
    out, lock = project / "build" / "r", project / "recipes" / "r.lock.json"
    pairs = {json.dumps(tree(out), sort_keys=True): lock.read_text()}
    rng = random.Random(seed)
    failures, codes = [], {}
    for attempt in range(count):
        jobs = rng.choice([1, 2])
        sig = rng.choice([signal.SIGINT, signal.SIGINT, signal.SIGTERM])
        delay = rng.uniform(0.3, 14.0)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lofictl",
                "build",
                "-q",
                "--jobs",
                str(jobs),
                "--no-cache",
                str(recipe),
                "--set",
                f"seed={1000 + attempt}",
            ],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        process.send_signal(sig)
        _, err = process.communicate(timeout=300)
        codes[process.returncode] = codes.get(process.returncode, 0) + 1
        state = json.dumps(tree(out), sort_keys=True)
        if process.returncode == 0:
            pairs[state] = lock.read_text()
        problems = []
        if process.returncode not in (0, 130, 143):
            problems.append(f"exit {process.returncode}")
        if "Traceback" in err or "Exception ignored" in err or "Segmentation" in err:
            problems.append("traceback: " + err[-300:])
        if pairs.get(state) != lock.read_text():
            problems.append("outputs and lock disagree")
        leftovers = [p.name for p in (project / "build").iterdir() if p.name.startswith(".")]
        if process.returncode == 0 and leftovers:
            problems.append(f"left {leftovers}")
        if problems:
            failures.append(f"#{attempt} {signal.Signals(sig).name} after {delay:.1f}s, jobs {jobs}: {problems}")
    return count, count - len(failures), failures, codes


# --- radio, album, cache (issue 25) -----------------------------------------------------------

TINY = textwrap.dedent("""\
    lofictl: 1
    title: Tiny
    seed: 5
    tempo: 120
    key: A minor
    length: 2 bars
    tracks:
      chords: {part: chords, progression: "Am7 Dm7"}
      drums: {part: drums, pattern: boom-bap}
    output: {formats: [wav]}
    """)
STATION = "station: 1\ntitle: {title}\nseed: 5\nrecipes:\n  - {{file: tiny.yaml}}\nlength: 8 bars\n{extra}\n"
ALBUM = textwrap.dedent("""\
    lofictl_album: 1
    title: {title}
    artist: A
    year: 2026
    seed: 3
    crossfade: 1 bar
    output: {{formats: [wav], video: false}}
    tracks:
      - {{recipe: recipes/tiny.yaml, count: 2}}
    {extra}
    """)
USER_FILES = {
    "tracks/mine.txt": b"mine",
    "history/1.png": b"mine",
    "bed.wav": b"mine",
    ".lock": b"mine",
    "notes.db": b"text",
    "empty.db": b"",
    "user/take.wav": b"RIFF",
    "recipes/tracks/mine.txt": b"mine",  # beside the station file: where `work_dir: .` once led
    "recipes/bed.wav": b"mine",
}


def _radio_project(root: Path, name: str) -> Path:
    project = root / name
    (project / "recipes").mkdir(parents=True)
    (project / "recipes" / "tiny.yaml").write_text(TINY)
    for rel, data in USER_FILES.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_bytes(data)
    return project


def _users(project: Path) -> dict:
    return {
        rel: hashlib.sha256((project / rel).read_bytes()).hexdigest() if (project / rel).is_file() else "gone"
        for rel in USER_FILES
    }


def _play_briefly(project: Path, seconds: float = 4.0):
    """`lofictl radio play` for a few seconds on a free port, then SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lofictl", "radio", "play", "recipes/st.yaml", "--port", "0"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(seconds)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    return process.returncode, err


def campaign_station_places(root: Path, play: bool = True) -> tuple[int, int, list[str]]:
    values = [
        f"work_dir: '{v}'"
        for v in (
            ".",
            "recipes",
            "tracks",
            "history",
            "user",
            "~",
            "$HOME",
            "/",
            "..",
            "recipes/tiny.yaml",
            "bed.wav/x",
            "build",
            "build/radio/st",
            "./",
        )
    ]
    values += [
        f"database: '{v}'"
        for v in (
            "recipes/tiny.yaml",
            "recipes/st.yaml",
            "notes.db",
            "empty.db",
            "tracks",
            "user/take.wav",
            "build/radio/st/r.db",
            "~/r.db",
            "r.yaml",
            "radio/ok.db",
        )
    ]
    failures = []
    for index, extra in enumerate(values):
        project = _radio_project(root, f"r{index}")
        (project / "recipes" / "st.yaml").write_text(STATION.format(title="T", extra=extra))
        before = _users(project)
        result = run(["validate", "recipes/st.yaml"], project)
        if result.returncode == 2:
            ok = clean_error(result) and "recipes/st.yaml:7:" in result.stderr and _users(project) == before
        elif result.returncode == 0 and play:
            code, err = _play_briefly(project)
            # -SIGTERM: killed before its handler was installed (a slow start); the files still count
            ok = code in (0, 143, -signal.SIGTERM) and "Traceback" not in err and _users(project) == before
        else:
            ok = result.returncode == 0
        if not ok:
            failures.append(f"{extra}: rc {result.returncode} {result.stderr[-200:]}")
    return len(values), len(values) - len(failures), failures


def campaign_limits(root: Path) -> tuple[int, int, list[str]]:
    project = _radio_project(root, "limits")
    (project / "recipes" / "st.yaml").write_text(STATION.format(title="T", extra=""))
    cases = []
    for extra in (
        "vary: {tempo: {min: 20, max: 30}}\nlength: 10000 bars",
        "vary: {tempo: {min: 250, max: 300}}\nlength: 4h",
    ):
        cases.append(
            (
                "station past the recipe limits",
                "st2.yaml",
                STATION.replace("length: 8 bars\n", "").format(title="T", extra=extra),
                ["validate", "recipes/st2.yaml"],
            )
        )
    for bad in ("\\n", "\\r", "\\t", "\\e[31m", "\\u2028", "\\x7f", "\\x85"):
        cases.append(
            (
                f"station title {bad}",
                "st3.yaml",
                STATION.format(title=f'"A{bad}B"', extra=""),
                ["validate", "recipes/st3.yaml"],
            )
        )
        cases.append(
            (
                f"recipe title {bad}",
                "t3.yaml",
                TINY.replace("title: Tiny", f'title: "A{bad}B"'),
                ["validate", "recipes/t3.yaml"],
            )
        )
    for args in (
        ["radio", "tracks", "recipes/st.yaml", "--from", "1000000000"],
        ["radio", "tracks", "recipes/st.yaml", "--from", "999999", "-n", "5"],
        ["radio", "keep", "recipes/st.yaml", "1000000000"],
        ["radio", "play", "recipes/st.yaml", "--start", "1000000000"],
    ):
        cases.append((" ".join(args[:2] + args[3:]), None, None, args))
    failures = []
    for name, file_name, text, args in cases:
        if file_name:
            (project / "recipes" / file_name).write_text(text)
        try:
            result = run(args, project, timeout=60)
        except subprocess.TimeoutExpired:
            failures.append(f"{name}: still running after 60 s")
            continue
        if not clean_error(result):
            failures.append(f"{name}: rc {result.returncode} {result.stderr[-200:]}")
    return len(cases), len(cases) - len(failures), failures


def _png(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def campaign_albums(root: Path) -> tuple[int, int, list[str]]:
    project = root / "albums"
    (project / "recipes").mkdir(parents=True)
    (project / "albums").mkdir()
    (project / "recipes" / "tiny.yaml").write_text(TINY)
    (project / "bomb.png").write_bytes(_png(60000, 60000))
    (project / "tall.png").write_bytes(_png(12000, 100))
    many = "\n".join(f"  - {{recipe: recipes/tiny.yaml, count: 100, name: t{i}}}" for i in range(10))
    refused = {
        "1000 tracks": ALBUM.format(title="A", extra="").replace("  - {recipe: recipes/tiny.yaml, count: 2}", many),
        "100 tracks": ALBUM.format(title="A", extra="").replace("count: 2", "count: 100"),
        "bomb cover": ALBUM.format(title="A", extra="cover: bomb.png"),
        "12000 px cover": ALBUM.format(title="A", extra="cover: tall.png"),
        "newline title": ALBUM.format(title='"A\\nFILE evil.wav"', extra=""),
        "~ output": ALBUM.format(title="A", extra="").replace("video: false}", "video: false, dir: '~'}"),
        "$HOME output": ALBUM.format(title="A", extra="").replace("video: false}", "video: false, dir: $HOME/x}"),
    }
    failures = []
    for name, text in refused.items():
        (project / "albums" / "x.yaml").write_text(text)
        before = tree(project)
        for command in ("validate", "album"):
            try:
                result = run([command, "albums/x.yaml"], project, timeout=60)
            except subprocess.TimeoutExpired:
                failures.append(f"{name} ({command}): still running after 60 s")
                continue
            if not (clean_error(result) and tree(project) == before):
                failures.append(f"{name} ({command}): rc {result.returncode} {result.stderr[-200:]}")
    cases = 2 * len(refused)
    # Rebuilt into its own folder, twice, while another process prunes the cache to nothing.
    (project / "albums" / "x.yaml").write_text(ALBUM.format(title="A", extra=""))
    quiet = run(["album", "albums/x.yaml", "--out", "build/quiet", "--cache", root / "quiet-cache"], project, 900)
    stop = root / "stop-pruning"
    pruner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import pathlib, subprocess, sys, time
while not pathlib.Path({str(stop)!r}).exists():
    subprocess.run([sys.executable, "-m", "lofictl", "cache", "prune", "--max", "0"], cwd={str(project)!r},
                   capture_output=True)
    time.sleep(0.2)
""",
        ],
    )
    try:
        for attempt in range(2):
            cases += 1
            result = run(["album", "albums/x.yaml", "--out", "build/x"], project, 900)
            same = (
                (project / "build" / "x" / "build.json").is_file()
                and quiet.returncode == 0
                and json.loads((project / "build" / "x" / "build.json").read_text())["tracks"]
                == json.loads((project / "build" / "quiet" / "build.json").read_text())["tracks"]
            )
            if result.returncode != 0 or not same:
                failures.append(
                    f"album build {attempt + 1} under a pruning cache: rc {result.returncode} {result.stderr[-300:]}"
                )
    finally:
        stop.touch()
        pruner.wait(60)
    return cases, cases - len(failures), failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interrupts", type=int, default=30)
    parser.add_argument("--only-interrupts", action="store_true")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--part",
        choices=["all", "builds", "radio"],
        default="all",
        help="builds: issue 12's campaign; radio: the radio, album and cache part (issue 25)",
    )
    parser.add_argument("--no-play", action="store_true", help="radio part: validate stations, do not start them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lofictl-adversarial-") as folder:
        root = Path(folder)
        if args.part in ("all", "radio"):
            for title, campaign in (
                ("station work folders and databases", lambda r: campaign_station_places(r, not args.no_play)),
                ("stations, titles and track numbers past the limits", campaign_limits),
                ("albums: limits, covers, rebuilds under a pruning cache", campaign_albums),
            ):
                cases, passed, failures = campaign(root)
                print(f"{title}: {passed}/{cases} held", flush=True)
                for line in failures:
                    print(f"    FAIL {line}")
            if args.part == "radio":
                return
        for title, campaign in (
            ("odd recipe texts and values", campaign_texts),
            ("odd recipe file names", campaign_names),
            ("output folders not the build's", campaign_outputs),
        ):
            if args.only_interrupts:
                break
            cases, passed, failures = campaign(root)
            print(f"{title}: {passed}/{cases} held")
            for line in failures:
                print(f"    FAIL {line}")
        cases, passed, failures, codes = campaign_interrupts(root, args.interrupts, args.seed)
        print(f"signals at random moments: {passed}/{cases} held (exit codes {dict(sorted(codes.items()))})")
        for line in failures:
            print(f"    FAIL {line}")


if __name__ == "__main__":
    main()
