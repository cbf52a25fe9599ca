"""What one walk of the stages did: each stage's key, inputs, outputs and whether it ran.

The lock is written from this record, `diff` reads it after a dry walk, and the build summary
says from it which stages ran and why. An output still in the cache is an `Artifact` with its
cache entry, copied out only when something needs the file.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lofictl.digests import sha256_file
from lofictl.pipeline.cache import Cache, stage_key
from lofictl.safety import interrupts
from lofictl.stage_names import kind_of

if TYPE_CHECKING:
    from lofictl.pipeline.stages import Stage


class CacheCorrupt(Exception):
    """A cached object failed its hash check while being restored; the build starts over."""


@dataclass
class Artifact:
    """A stage output: a file already written, or one still in the cache (restored on demand).

    A fully cached rebuild then copies nothing it does not need. `facts` are what the stage
    measured of the file while making it (its "integrated_lufs"), kept in its cache entry but not
    in the lock, so a later stage need not read the file again to know them.
    """

    path: Path
    entry: Any = None  # cache.Entry while the file is still only in the cache
    name: str = ""
    facts: dict = field(default_factory=dict)

    def ready(self, cache: Cache) -> Path:
        if self.entry is not None:
            if not cache.restore(self.entry, self.name, self.path):
                raise CacheCorrupt(self.name)
            self.entry = None
        return self.path


def overrides_reaching(
    overrides: Sequence[str], fields: Iterable[str], upstream: Collection[str] = ()
) -> tuple[str, ...]:
    """The `--set` overrides that reach a stage: those naming one of the recipe `fields` it reads
    (a dotted path that is, contains or lies inside one), and those that reached a stage upstream."""
    names = list(fields)

    def reaches(item: str) -> bool:
        path = item.partition("=")[0].strip()
        return any(k == path or k.startswith(path + ".") or path.startswith(k + ".") for k in names)

    return tuple(item for item in overrides if item in upstream or reaches(item))


def changed_inputs(old: dict, new: dict) -> list[str]:
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if len(changed) > 1 and "overrides" in changed:  # they follow from the inputs they set: name those
        changed.remove("overrides")
    return changed


def change_reason(changed: list[str], old: dict, new: dict, unchanged: str) -> str:
    """Words for what differs between a stage's recorded inputs and today's (`changed`, from
    changed_inputs; `unchanged`: why it runs all the same when nothing differs)."""
    if "code.version" in changed:
        rest = [k for k in changed if k != "code.version"]
        words = f"its code changed (version {old.get('code.version', 'none')} → {new.get('code.version')})"
        return words + (f"; also {', '.join(rest[:3])}" if rest else "")
    if changed:
        return ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "") + " changed"
    return unchanged


class StageLog:
    """Runs or restores each stage's outputs, and remembers what happened for the summary and the lock.

    With `dry`, a stage that is not in the cache is not run: it is marked as one that would run,
    and its outputs get placeholder hashes, so every stage after it sees changed inputs. `diff`
    plans a build this way, through the very code that builds, so the two cannot disagree.
    """

    def __init__(
        self,
        cache: Cache,
        work: Path,
        staging: Path,
        previous: dict | None,
        dry: bool = False,
        overrides: tuple[str, ...] = (),
    ):
        self.cache = cache
        self.overrides = overrides  # --set path=value, in the order given
        self.work = work  # stage outputs that are not files of the output folder
        self.staging = staging  # the output folder being made
        self.previous = (previous or {}).get("stages", {})
        self.dry = dry
        self.record: dict[str, dict] = {}
        self.ran: list[str] = []
        self.restored: list[str] = []
        self.reasons: list[str] = []
        self.changed: dict[str, list[str]] = {}  # stage → the inputs that differ from the lock
        self.final: dict[str, Artifact] = {}  # output folder path → artifact

    def key(self, stage: Stage, inputs: dict, track: str | None = None, reads: tuple[str, ...] = ()) -> str:
        """The key of a stage (of its instance for `track`): its inputs plus its code version, as
        the lock records.

        The `--set` overrides that reach the stage (through its own inputs, the recipe fields
        `reads` names where an input has a name of its own, or a stage upstream of it) are an
        input too: they are written into its files' provenance."""
        return self._keyed(stage.instance(track), stage.name, stage.version, inputs, stage.upstream, reads)

    def key_outside_table(self, name: str, inputs: dict) -> str:
        """The key of a stage that is not a row of the build's table (an album's `album-encode:03`):
        its code version from safety.fingerprints, by its kind (the part before the colon)."""
        from lofictl.safety.fingerprints import version_of

        kind = kind_of(name)
        return self._keyed(name, kind, version_of(kind), inputs, (), ())

    def _keyed(
        self, name: str, kind: str, version: int, inputs: dict, upstream: tuple[str, ...], reads: tuple[str, ...]
    ) -> str:
        before = {o for other in self.record if kind_of(other) in upstream for o in self.overrides_of(other)}
        reached = overrides_reaching(self.overrides, [*inputs, *reads], before)
        inputs = {**inputs, **({"overrides": list(reached)} if reached else {}), "code.version": version}
        key = stage_key(kind, inputs)
        self.record[name] = {"key": key, "inputs": inputs}
        interrupts.checkpoint()
        return key

    def explain(self, name: str) -> None:
        """Why a stage runs: the inputs that differ from the lock's record of the last build."""
        before = self.previous.get(name)
        if before is None:
            self.changed[name] = []
            self.reasons.append(f"{name}: not built before")
            return
        old, new = before.get("inputs", {}), self.record[name]["inputs"]
        changed = self.changed[name] = changed_inputs(old, new)
        self.reasons.append(f"{name}: {change_reason(changed, old, new, self.cache.miss_reason())}")

    def lookup(self, name: str, key: str):
        entry = self.cache.lookup(key, kind_of(name))
        if entry is None:
            self.explain(name)
        return entry

    def overrides_of(self, name: str) -> tuple[str, ...]:
        """The overrides that reached a stage (for its files' provenance): its recorded input."""
        return tuple(self.record.get(name, {}).get("inputs", {}).get("overrides", ()))

    def restored_from(self, name: str, entry, folder: Path, meta: dict | None = None) -> dict[str, Artifact]:
        """Mark a stage as restored; its outputs stay in the cache until someone needs them."""
        self.record[name]["outputs"] = dict(entry.outputs)
        if meta:
            self.record[name]["meta"] = meta
        self.restored.append(name)
        facts = entry.meta.get("facts", {})
        return {rel: Artifact(folder / rel, entry, rel, dict(facts.get(rel, {}))) for rel in entry.outputs}

    def restore_or_plan(
        self, name: str, key: str, folder: Path, outputs: list[str] | tuple[str, ...] = ()
    ) -> dict[str, Artifact] | None:
        """A stage's outputs when it need not run now: restored from the cache (into `folder`
        when needed), or, in a dry walk, planned. None: the caller runs it."""
        entry = self.lookup(name, key)
        if entry is not None:
            return self.restored_from(name, entry, folder)
        if self.dry:
            return self.would_run(name, outputs)
        return None

    def would_run(self, name: str, outputs: list[str] | tuple[str, ...] = ()) -> dict[str, Artifact]:
        """Dry mode: the stage would run; its outputs are unknown until it does."""
        self.record[name]["outputs"] = {rel: f"(made by {name})" for rel in outputs}
        self.ran.append(name)
        return {rel: Artifact(Path(rel)) for rel in outputs}

    def ran_with(
        self,
        name: str,
        key: str,
        files: dict[str, Path],
        meta: dict | None = None,
        facts: dict | None = None,
        digests: dict[str, str] | None = None,
    ) -> dict[str, Artifact]:
        """A stage that ran: its files into the cache; `meta` goes into the lock as well, `facts`
        (output name → what was measured of it) only into the cache entry and the artifacts.
        `digests`: the sha256 of files the stage hashed already (the export, on its threads)."""
        facts = {rel: dict(value) for rel, value in (facts or {}).items() if rel in files}
        known = digests or {}
        # once, for the cache and the lock
        digests = {rel: known.get(rel) or sha256_file(path) for rel, path in files.items()}
        self.cache.store(key, kind_of(name), files, {**(meta or {}), **({"facts": facts} if facts else {})}, digests)
        self.record[name]["outputs"] = digests
        if meta:
            self.record[name]["meta"] = meta
        self.ran.append(name)
        return {rel: Artifact(path, facts=facts.get(rel, {})) for rel, path in files.items()}

    def adopt(self, name: str, record: dict, ran: bool) -> None:
        """A stage run or restored elsewhere (an album's task on a worker, with a StageLog of its
        own): its record as that log kept it."""
        self.record[name] = {k: record[k] for k in ("key", "inputs", "outputs", "meta") if k in record}
        if ran:
            self.explain(name)
            self.ran.append(name)
        else:
            self.restored.append(name)

    def output_sha(self, name: str, rel: str) -> str:
        """The hash a stage recorded for one of its outputs (a placeholder in dry mode)."""
        return self.record[name]["outputs"][rel]
