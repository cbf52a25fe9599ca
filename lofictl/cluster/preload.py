"""What a Dask worker loads once, when it starts, and keeps for every task it runs.

A worker is a long-lived process: the modules a task imports, the models `models.generate`
loads (cached per process) and FluidSynth's library stay loaded from one task to the next, so
each worker pays for them once, not once per track. `Preload` moves that first payment to the
worker's start: the album registers it while its LocalCluster starts, and the workers import
while the album is still planning its tracks, instead of when the first track arrives.
"""

from __future__ import annotations

import importlib

from distributed.diagnostics.plugin import WorkerPlugin

# What every album task needs: the build's stages, the sound engine, the encoders and taggers.
BUILD_MODULES = (
    "lofictl.album.tasks",
    "lofictl.pipeline.runner",
    "lofictl.pipeline.stages",
    "lofictl.sound.stems",
    "lofictl.sound.master",
    "lofictl.export.encode",
    "lofictl.export.tags",
)
MODEL_MODULES = ("lofictl.models.generate",)  # JAX and Flax: only for recipes that compose with a model


class Preload(WorkerPlugin):
    """Import `modules` on each worker as it starts (and load FluidSynth's library)."""

    name = "lofictl-preload"

    def __init__(self, modules: tuple[str, ...] = BUILD_MODULES):
        self.modules = tuple(modules)

    def setup(self, worker) -> None:
        for name in self.modules:
            importlib.import_module(name)
        if "lofictl.pipeline.stages" in self.modules:
            from lofictl.sound import render

            with render._SETUP_LOCK:
                render._fluidsynth()
