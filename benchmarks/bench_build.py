"""A whole build against the sum of its floors, measured side by side in one run.

    python benchmarks/bench_build.py [recipes/rainy_night.yaml]

Copies the project (recipes, models, effects) to a temporary folder and times, each in a fresh
process as a user runs them: the first build ever (no JAX compilation cache), a cold build (empty
stage cache, JAX's compilation cache warm, as every build after the first), a no-op rebuild and
a master-only rebuild. Then the floors, on the same machine in the same run:

    fluidsynth -F      each track's MIDI rendered by the fluidsynth program (the synth alone)
    pedalboard         each track's effect chain and the master chain on arrays of the stem's size
    encoders           the master encoded to every format of the recipe by Pedalboard (libFLAC, LAME)
    sampler            the compose stage alone in a fresh process (import JAX, load models, sample)

and prints the cold build as a multiple of their sum (target <= 1.5x) and as real-time factor
(seconds of music per second of build; target >= 20x on 2 cores). Absolute times drift on a
busy machine; run it on a quiet one and note `uptime` beside the figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(project: Path, *args: str, env: dict | None = None) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "lofictl", "build", "--json", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def timed(command: list[str], **kwargs) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, **kwargs)
    return time.perf_counter() - started


SAMPLER = """
import sys, time
from pathlib import Path
started = time.perf_counter()
from lofictl.build.plan import prepare
from lofictl.build.stages import compose_score
from lofictl.recipe.load import load_recipe
compose_score(prepare(load_recipe(Path(sys.argv[1]))))
print(time.perf_counter() - started)
"""

CHAINS = """
import json, sys, time
import numpy as np
from pathlib import Path
from lofictl.sound import audio_io, effects
from lofictl.recipe.load import load_recipe
recipe = load_recipe(Path(sys.argv[1])).recipe
rate = recipe.output.sample_rate
frames = int(sys.argv[2])
audio = (np.random.default_rng(0).standard_normal((2, frames)) * 0.1).astype(np.float32)
total = 0.0
for chain in [t.effects for t in recipe.tracks.values()] + [recipe.master.effects, recipe.master.bus]:
    if not chain:
        continue
    board = effects.build_chain(chain, (), rate)
    started = time.perf_counter()
    board(audio, rate)
    total += time.perf_counter() - started
print(total)
"""

ENCODERS = """
import sys, time
from pedalboard.io import AudioFile
from lofictl.sound import audio_io
audio, rate = audio_io.read_audio(sys.argv[1])
started = time.perf_counter()
for fmt in sys.argv[3:]:
    audio_io.write_audio(sys.argv[2] + "." + fmt, audio, rate, fmt)
print(time.perf_counter() - started)
"""


def main() -> None:
    recipe = Path(sys.argv[1] if len(sys.argv) > 1 else "recipes/rainy_night.yaml")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "project"
        for name in ("recipes", "models", "effects"):
            shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("*.lock.json"))
        env = dict(os.environ, LOFICTL_JAX_CACHE=str(Path(folder) / "jax"))
        first, summary = run(project, str(recipe), env=env)
        shutil.rmtree(project / ".lofictl-cache")
        shutil.rmtree(project / "build")
        cold, summary = run(project, str(recipe), env=env)
        noop, again = run(project, str(recipe), env=env)
        master, changed = run(project, str(recipe), "--set", "master.loudness_lufs=-16", env=env)
        out = Path(summary["out_dir"])
        music = summary["duration_s"]

        # --- the floors -------------------------------------------------------------------
        from lofictl.sound.soundfonts import find_soundfont

        sf2 = find_soundfont("FluidR3_GM.sf2", project / "recipes")
        lock = json.loads((project / recipe).with_name(recipe.stem + ".lock.json").read_text())
        synth = 0.0
        for track in lock["recipe"]["resolved"]["tracks"]:
            synth += timed(
                [
                    "fluidsynth",
                    "-ni",
                    "-q",
                    "-F",
                    str(Path(folder) / f"{track}.wav"),
                    "-r",
                    "44100",
                    "-R",
                    "0",
                    "-C",
                    "0",
                    str(sf2),
                    str(out / "midi" / f"{track}.mid"),
                ]
            )
        frames = round(music * 44100)
        chains = float(
            subprocess.run(
                [sys.executable, "-c", CHAINS, str(project / recipe), str(frames)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        formats = lock["recipe"]["resolved"]["output"]["formats"]
        master_wav = next(out.glob("*.wav"))
        encoders = float(
            subprocess.run(
                [sys.executable, "-c", ENCODERS, str(master_wav), str(Path(folder) / "enc"), *formats],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        sampler = float(
            subprocess.run(
                [sys.executable, "-c", SAMPLER, str(project / recipe)],
                cwd=project,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
    floors = synth + chains + encoders + sampler
    print(f"{recipe}: {music:.1f} s of music; load average before the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"first build ever     {first:7.2f} s   (JAX compiles the sampler)")
    print(
        f"cold build           {cold:7.2f} s   {music / cold:6.1f}x real time   stages: {', '.join(summary['stages_ran'])}"
    )
    print(f"no-op rebuild        {noop:7.2f} s   (up to date: {again['up_to_date']})")
    print(f"master-only rebuild  {master:7.2f} s   stages run: {', '.join(changed['stages_ran'])}")
    print(
        f"floors: fluidsynth -F {synth:.2f} s + pedalboard chains {chains:.2f} s + encoders {encoders:.2f} s "
        f"+ sampler {sampler:.2f} s = {floors:.2f} s"
    )
    print(f"cold build / floor sum = {cold / floors:.2f}x   (target <= 1.5x)")


if __name__ == "__main__":
    main()
