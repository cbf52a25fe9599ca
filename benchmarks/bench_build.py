"""A whole build against the sum of its floors, measured side by side in one run.

    python benchmarks/bench_build.py [recipes/rainy_night.yaml] [--lengths 5m 10m | --lengths]

Copies the project (recipes, models, effects) to a temporary folder and times, each in a fresh
process as a user runs them: the first build ever (no JAX compilation cache), a cold build (empty
stage cache, JAX's compilation cache warm, as every build after the first), a no-op rebuild
beside `lofictl --help`, and a master-only rebuild (mix and export). Then the floors, on the same
machine in the same run:

    fluidsynth -F      each track's MIDI rendered by the fluidsynth program (the synth alone)
    pedalboard         each track's effect chain and the master chain on arrays of the stem's size
    encoders           the master encoded once to every format of the recipe by Pedalboard (libFLAC, LAME)
    sampler            the compose stage alone in a fresh process (import JAX, load models, sample)

and prints the cold build as a multiple of their sum (target <= 1.5x) and as real-time factor
(seconds of music per second of build; target >= 20x on 2 cores). Last, cold builds at each of
`--lengths` (default 5m and 10m; none with a bare `--lengths`): seconds, seconds per minute of
music and peak RSS, so that time is seen to grow with the length and memory not to.

Every figure has the 1-minute load average beside it (os.getloadavg, taken as it starts) and
the CPU seconds its processes used (user + system, children's rusage): wall times drift on a
busy machine, and a figure measured under load says so; CPU seconds drift much less (the cold
build's CPU against the floors' CPU is the work it adds, whatever the load).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# lofictl in a fresh process, as `python -m lofictl` runs it, reporting its peak RSS on the way out.
LOFICTL = """
import atexit, os, resource, runpy, sys
def report():
    with open(os.environ["LOFICTL_BENCH_RSS"], "w") as handle:
        handle.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
atexit.register(report)
sys.argv = ["lofictl", *sys.argv[1:]]
runpy.run_module("lofictl", run_name="__main__", alter_sys=True)
"""


class Figures:
    """Each figure with the load average at its start and its CPU seconds, printed as one table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float, float | None]] = []

    def add(self, label: str, text: str, load: float, cpu: float | None = None) -> None:
        self.rows.append((label, text, load, cpu))
        print(f"  {label:<26} {text}   [load {load:.2f}]", file=sys.stderr, flush=True)

    def show(self) -> None:
        for label, text, load, cpu in self.rows:
            spent = f"cpu {cpu:6.2f} s" if cpu is not None else " " * 12
            print(f"{label:<26} {text:<80} {spent}  load {load:5.2f}")


def load_now() -> float:
    return os.getloadavg()[0]


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Cpu:
    """CPU seconds of the child processes waited for inside a `with` block."""

    def __enter__(self) -> "Cpu":
        self.start, self.seconds = cpu_of_children(), 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = cpu_of_children() - self.start


def lofictl(project: Path, *args: str, env: dict) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one lofictl command in a fresh process."""
    rss_file = project.parent / "rss"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LOFICTL, *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**env, "LOFICTL_BENCH_RSS": str(rss_file)},
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"lofictl {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return seconds, int(rss_file.read_text()) / 1024, done.stdout


def build(project: Path, *args: str, env: dict) -> tuple[float, float, dict]:
    seconds, rss, out = lofictl(project, "build", "--json", *args, env=env)
    return seconds, rss, json.loads(out)


def timed(command: list[str], **kwargs) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, **kwargs)
    return time.perf_counter() - started


def child_float(program: str, *args: str, **kwargs) -> float:
    done = subprocess.run([sys.executable, "-c", program, *args], check=True, capture_output=True, text=True, **kwargs)
    return float(done.stdout.strip().splitlines()[-1])


SAMPLER = """
import sys, time
from pathlib import Path
started = time.perf_counter()
from lofictl.pipeline.plan import prepare
from lofictl.pipeline.stages import compose_score
from lofictl.recipe.load import load_recipe
compose_score(prepare(load_recipe(Path(sys.argv[1]))))
print(time.perf_counter() - started)
"""

CHAINS = """
import json, sys, time
import numpy as np
from pathlib import Path
from lofictl.pipeline.plan import prepare
from lofictl.sound import effects
from lofictl.recipe.load import load_recipe
plan = prepare(load_recipe(Path(sys.argv[1])))
rate = plan.recipe.output.sample_rate
frames = int(sys.argv[2])
audio = (np.random.default_rng(0).standard_normal((2, frames)) * 0.1).astype(np.float32)
total = 0.0
for chain in plan.chains.values():
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
from lofictl.sound import audio_io
audio, rate = audio_io.read_audio(sys.argv[1])
started = time.perf_counter()
for fmt in sys.argv[3:]:
    audio_io.write_audio(sys.argv[2] + "." + fmt, audio, rate, fmt)
print(time.perf_counter() - started)
"""


def floors(
    project: Path, recipe: Path, out: Path, music: float, scratch: Path, env: dict, figures: Figures
) -> tuple[float, float]:
    """The floors' wall and CPU seconds, each added to the figures."""
    from lofictl.sound.soundfonts import find_soundfont

    lock = json.loads((project / recipe).with_name(recipe.stem + ".lock.json").read_text())
    resolved = lock["recipe"]["resolved"]
    rate = resolved["output"]["sample_rate"]
    sf2 = find_soundfont("FluidR3_GM.sf2", project / "recipes")
    wall = cpu_total = 0.0

    def floor(label: str, measure, note: str) -> None:
        nonlocal wall, cpu_total
        load = load_now()
        with Cpu() as cpu:
            seconds = measure()
        figures.add(label, f"{seconds:7.2f} s  ({note})", load, cpu.seconds)
        wall, cpu_total = wall + seconds, cpu_total + cpu.seconds

    def synth() -> float:
        return sum(
            timed(
                ["fluidsynth", "-ni", "-q", "-F", str(scratch / f"{track}.wav"), "-r", str(rate), "-R", "0", "-C", "0"]
                + [str(sf2), str(out / "midi" / f"{track}.mid")]
            )
            for track in resolved["tracks"]
        )

    formats = resolved["output"]["formats"]
    master = out / f"{recipe.stem}.wav"
    floor("floor: fluidsynth -F", synth, f"{len(resolved['tracks'])} tracks' MIDI with FluidR3")
    floor(
        "floor: pedalboard chains",
        lambda: child_float(CHAINS, str(project / recipe), str(round(music * rate)), cwd=project, env=env),
        "every chain of the recipe, bare",
    )
    floor(
        "floor: encoders",
        lambda: child_float(ENCODERS, str(master), str(scratch / "enc"), *formats, env=env),
        f"one encoding each: {', '.join(formats)}",
    )
    floor(
        "floor: sampler",
        lambda: child_float(SAMPLER, str(project / recipe), cwd=project, env=env),
        "compose alone, fresh process, JAX cache warm",
    )
    return wall, cpu_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="recipes/rainy_night.yaml")
    parser.add_argument("--lengths", nargs="*", default=["5m", "10m"], help="cold builds at these lengths")
    options = parser.parse_args()
    recipe = Path(options.recipe)
    figures = Figures()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "project"
        scratch = Path(folder) / "scratch"
        scratch.mkdir()
        for name in ("recipes", "models", "effects"):
            shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("*.lock.json"))
        env = dict(os.environ, LOFICTL_JAX_CACHE=str(Path(folder) / "jax"))
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])

        load = load_now()
        with Cpu() as cpu:
            first, _, summary = build(project, str(recipe), env=env)
        music = summary["duration_s"]
        figures.add("first build ever", f"{first:7.2f} s  (JAX compiles the sampler)", load, cpu.seconds)
        shutil.rmtree(project / ".lofictl-cache")
        shutil.rmtree(project / "build")

        load = load_now()
        with Cpu() as cold_cpu:
            cold, cold_rss, summary = build(project, str(recipe), env=env)
        figures.add(
            "cold build",
            f"{cold:7.2f} s  = {music / cold:5.1f}x real time ({music:.1f} s of music; target >= 20x), "
            f"peak RSS {cold_rss:.0f} MB",
            load,
            cold_cpu.seconds,
        )
        load = load_now()
        with Cpu() as cpu:
            noop, _, again = build(project, str(recipe), env=env)
        figures.add("no-op rebuild", f"{noop:7.2f} s  (up to date: {again['up_to_date']})", load, cpu.seconds)
        load = load_now()
        with Cpu() as cpu:
            help_s, _, _ = lofictl(project, "--help", env=env)
        figures.add(
            "lofictl --help",
            f"{help_s:7.2f} s  no-op / --help = {noop / help_s:.2f}x (target <= 2x)",
            load,
            cpu.seconds,
        )
        load = load_now()
        with Cpu() as cpu:
            master, _, changed = build(project, str(recipe), "--set", "master.loudness_lufs=-16", env=env)
        figures.add(
            "master-only rebuild",
            f"{master:7.2f} s  (target <= 2 s; ran: {', '.join(changed['stages_ran'])})",
            load,
            cpu.seconds,
        )
        floor_wall, floor_cpu = floors(project, recipe, Path(summary["out_dir"]), music, scratch, env, figures)
        figures.add(
            "cold build / floor sum",
            f"{cold / floor_wall:7.2f}x (floors {floor_wall:.2f} s = {music / floor_wall:.1f}x real time; "
            f"target <= 1.5x); in CPU {cold_cpu.seconds / floor_cpu:.2f}x",
            load_now(),
        )

        lengths = []
        for length in options.lengths:
            out = Path(folder) / f"long-{length}"
            load = load_now()
            with Cpu() as cpu:
                seconds, rss, long = build(
                    project, str(recipe), "--no-cache", "--set", f"length={length}", "-o", str(out), env=env
                )
            shutil.rmtree(out)
            lengths.append((seconds, cpu.seconds, long["duration_s"]))
            figures.add(
                f"cold build, length={length}",
                f"{seconds:7.2f} s  for {long['duration_s']:.0f} s of music = "
                f"{seconds / long['duration_s'] * 60:.1f} s per minute, peak RSS {rss:.0f} MB",
                load,
                cpu.seconds,
            )
        if len(lengths) >= 2:
            (t0, c0, m0), (t1, c1, m1) = lengths[0], lengths[-1]
            figures.add(
                "growth with length",
                f"{t1 / t0:7.2f}x the time ({c1 / c0:.2f}x the CPU) for {m1 / m0:.2f}x the music (linear: equal)",
                load_now(),
            )
    print(f"{recipe}: {music:.1f} s of music, {os.cpu_count()} CPUs")
    figures.show()


if __name__ == "__main__":
    main()
