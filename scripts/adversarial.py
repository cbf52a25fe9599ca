"""The adversarial campaign of issue 12, at a size the test suite cannot afford.

    .venv/bin/python scripts/adversarial.py [--interrupts N] [--seed S]

Runs the real CLI in throw-away projects and prints, per class, how many cases ran and how many
held: odd recipe texts and values (one clear line, exit 2, or a clean build), odd recipe file
names (a build inside build/), output folders that are not the build's (refused, nothing
changed), and SIGINT/SIGTERM at random moments of builds with one or two worker processes
(exit 0/130/143, no traceback from any process, outputs and lock belonging together).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interrupts", type=int, default=30)
    parser.add_argument("--only-interrupts", action="store_true")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lofictl-adversarial-") as folder:
        root = Path(folder)
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
