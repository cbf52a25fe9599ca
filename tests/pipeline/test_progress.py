"""Progress on stderr: a rich bar and lines for finished steps on a terminal; nothing with
--quiet or when stderr is not a terminal (a log or a pipe)."""

from __future__ import annotations

import pytest

from lofictl.pipeline.progress import Progress


def _run(quiet: bool) -> None:
    with Progress("building x.yaml", 2, quiet=quiet) as progress:
        progress.step("composing")
        progress.advance()
        progress.note("continuous mix: 7.9 min at -14.0 LUFS")
        progress.advance()


@pytest.mark.parametrize("terminal, quiet, shown", [("1", False, True), ("1", True, False), ("0", False, False)])
def test_steps_are_shown_only_on_a_terminal_and_not_with_quiet(monkeypatch, capsys, terminal, quiet, shown):
    monkeypatch.setenv("TTY_COMPATIBLE", terminal)  # rich's switch for "is stderr a terminal"
    _run(quiet)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert ("continuous mix: 7.9 min at -14.0 LUFS" in captured.err) is shown
    if not shown:
        assert captured.err == ""
