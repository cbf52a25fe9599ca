"""Work a build does on threads beside its walk of the stages, so that the two cores overlap.

The stages run one after another, and some leave a core idle: compose samples on one.
`Background` runs work beside the stage walk; the walk waits for all of it before it ends, whether
it succeeds or fails, so nothing still runs when the build saves its cache state, commits or
removes its staging folder, or returns.

`warm_sound` is the one such job: while compose runs, it hashes the recipe's SoundFonts for the
stems' keys and loads them into FluidSynth, both without the GIL, so they really run beside
compose. It is only a head start: the stems still hash and load what they need (then already
done), and report any failure where they always did. The sound libraries' imports (SciPy,
Pedalboard: 0.7 s) are left to the stems: an import holds the GIL, so beside compose it slowed
compose by about as much as it saved (measured: 0.3 s gained either way). Drawing the piano roll
on a thread beside the stems lost time: matplotlib holds the GIL, and each stem thread coming back
from FluidSynth or Pedalboard waited for it (the stems took 1 s longer for a 0.7 s drawing). It is
drawn by a child process instead, which has a GIL of its own (export.pianoroll_process; the walk
waits for it at its end: stages.Walk.complete).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lofictl.pipeline.cache import Cache
    from lofictl.pipeline.plan import BuildPlan


class Background:
    """Jobs started beside the stage walk; `close` waits for them all (the walk's end)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._pool is None:  # a walk with nothing to overlap starts no thread
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lofictl-background")
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        """Wait for every job (those not started yet are dropped). A job's error is its owner's
        to raise, through its Future; here it is only waited for."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def warm_sound(plan: BuildPlan, cache: Cache) -> None:
    """Hash and load the recipe's SoundFonts ahead of the stems.

    Best effort: an error here is dropped, because the stems do the same work again and raise
    it there, with its usual message."""
    try:
        fonts = sorted({inst.soundfont for inst in plan.instruments.values() if inst.soundfont is not None})
        for font in fonts:
            cache.file_sha256(font)  # the stems' keys (pipeline.inputs.instrument_inputs); remembered
        from lofictl.sound import render  # NumPy and ctypes only: no SciPy, no Pedalboard

        render.preload_soundfonts(fonts, plan.recipe.output.sample_rate)
    except Exception:  # noqa: BLE001 (see above: the stems report it)
        pass
