"""Whole builds of an example recipe, measured side by side in one run.

    python benchmarks/bench_build.py [recipes/rainy_night.yaml]

Copies the project (recipes, models, effects) to a temporary folder and times, each in a fresh
process as a user runs them: a cold build (empty cache), a no-op rebuild, a rebuild after a
master-only change, and a cold build with --jobs 2. Prints seconds and seconds per minute of
music; absolute times drift on a busy machine, the ratios less so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(project: Path, *args: str) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lofictl", "build", "--json", *args], cwd=project,
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - started, json.loads(done.stdout)


def main() -> None:
    recipe = Path(sys.argv[1] if len(sys.argv) > 1 else "recipes/rainy_night.yaml")
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        for name in ("recipes", "models", "effects"):
            shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("*.lock.json"))
        cold, summary = run(project, str(recipe))
        minutes = summary["duration_s"] / 60
        noop, again = run(project, str(recipe))
        master, changed = run(project, str(recipe), "--set", "master.loudness_lufs=-16")
        shutil.rmtree(project / ".lofictl-cache")
        shutil.rmtree(project / "build")
        parallel, _ = run(project, str(recipe), "--jobs", "2", "--set", "master.loudness_lufs=-16")
    print(f"{recipe}: {summary['duration_s']:.1f} s of music")
    print(f"cold build           {cold:7.2f} s   {cold / minutes:6.2f} s per minute of music")
    print(f"no-op rebuild        {noop:7.2f} s   (up to date: {again['up_to_date']})")
    print(f"master-only rebuild  {master:7.2f} s   stages run: {', '.join(changed['stages_ran'])}")
    print(f"cold build, --jobs 2 {parallel:7.2f} s   {parallel / cold:.2f}x the serial cold build")


if __name__ == "__main__":
    main()
