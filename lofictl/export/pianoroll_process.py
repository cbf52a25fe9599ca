"""The piano roll drawn in a process of its own, on the core the build leaves idle.

matplotlib holds the GIL while it imports and draws (about a tenth of a cold build), so on a
thread beside the stems it slowed them by more than it saved (pipeline.background). A child
process has a GIL of its own: it reads the score's JSON from a file, draws the pages with
export.pianoroll (the same code, so the same bytes as drawing in the build's process) and
prints their file names, one a line. The build waits for it at the end of its walk, and kills
it if the build fails or is interrupted first. Only a process's first drawing goes to a child
(`worth_a_child`): a process that builds again draws in place, importing matplotlib once.

    python -m lofictl.export.pianoroll_process SCORE.json OUT.png
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lofictl.digests import canonical_json
from lofictl.errors import one_line

_drew_in_a_child = False  # this process did once


def worth_a_child() -> bool:
    """Whether this process's next drawing should go to a child: only its first. Most of a child's
    work is importing matplotlib (1.5 s of CPU on a slow machine), which a process that builds
    again (a station, an album's worker, a batch of recipes) pays once if it draws in place; a
    child per drawing would pay it every time, on cores the other tracks need."""
    return not _drew_in_a_child and "matplotlib" not in sys.modules


class PianoRollDrawing:
    """A child process drawing `score`'s piano roll to `path` (and `<stem>-2.png`, ...)."""

    def __init__(self, score, path: Path, scratch: Path):
        from lofictl.compose.score import score_to_dict

        global _drew_in_a_child
        _drew_in_a_child = True

        self.path = path
        self._score_file = scratch / f".{path.stem}-score.json"
        self._score_file.write_bytes(canonical_json(score_to_dict(score)).encode())
        package_root = str(Path(__file__).resolve().parents[2])  # lofictl itself, wherever it runs from
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        self._process = subprocess.Popen(
            # -P: the working folder is not put on sys.path, so a `lofictl` folder in a user's
            # project is never imported in place of this one (nor run).
            [sys.executable, "-P", "-m", __name__, str(self._score_file), str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )

    def wait(self) -> list[Path]:
        """The pages written, once the child is done; RuntimeError (its last line) if it failed."""
        try:
            out, err = self._process.communicate()
        finally:
            self._score_file.unlink(missing_ok=True)
        if self._process.returncode != 0:
            last = (err.decode(errors="replace").strip().splitlines() or [f"exit code {self._process.returncode}"])[-1]
            raise RuntimeError(f"drawing the piano roll failed: {one_line(last)}")
        return [self.path.parent / name for name in out.decode().splitlines()]

    def cancel(self) -> None:
        """Stop the child (the build failed or was interrupted) and leave no file of its own."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.communicate()
        self._score_file.unlink(missing_ok=True)


def _main(score_json: str, out_png: str) -> None:
    import json

    from lofictl.compose.score import score_from_dict
    from lofictl.export.pianoroll import render_pianoroll

    score = score_from_dict(json.loads(Path(score_json).read_bytes()))
    for page in render_pianoroll(score, out_png):
        print(page.name)


if __name__ == "__main__":
    _main(*sys.argv[1:])
