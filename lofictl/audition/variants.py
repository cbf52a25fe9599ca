"""Variants of one recipe, built side by side, and `keep`: a variant's recipe as a file of its own.

A variant is the recipe plus `--set` overrides (a seed, and one value of each `--vary` field).
Each is built from the very text `keep` writes, as if it were already kept at its path
(recipes/NAME-vN.yaml; nothing is written there), so building the kept recipe makes the same
bytes (the WAV's tags name the recipe file and its stage key, so the text and name must match,
not only the samples). Variants are
built into `build/audition/NAME/vN` (a work folder lofictl owns: its marker names the recipe, and
it holds nothing but the variants' build folders and `audition.json`), on the batch machinery:
one after another, or as tasks on a Dask LocalCluster with `--jobs N`, through the project cache.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lofictl.errors import LofictlError
from lofictl.recipe.load import LoadedRecipe, load_recipe

MANIFEST = "audition.json"
MAX_VARIANTS = 36
LAYOUT = re.compile(r"audition\.json|v\d{1,2}/.+|\.v\d{1,2}\.(tmp|old)-\d+/.+")


@dataclass(frozen=True)
class Variant:
    number: int  # from 1, as the page and `keep` show it
    overrides: tuple[str, ...]  # --set path=value, in order
    differs: dict[str, str] = field(default_factory=dict)  # the settings that differ between variants

    @property
    def folder(self) -> str:
        return f"v{self.number}"


def split_values(text: str) -> list[str]:
    """`0.8,1.0,1.2` -> three values; commas inside [..] or {..} belong to their value."""
    values, depth, current = [], 0, ""
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    return values


def parse_vary(items: list[str]) -> list[tuple[str, list[str]]]:
    """`--vary FIELD=a,b,c` options as (field, values); one clear line for a malformed one."""
    parsed: list[tuple[str, list[str]]] = []
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        values = split_values(text) if sep else []
        if not sep or not name or not values or any(not v for v in values):
            raise LofictlError(f"--vary {item!r}: write it as FIELD=a,b,c, e.g. --vary tempo=70,80,90")
        if name == "seed":
            raise LofictlError(f"--vary {item!r}: vary the seed with -n (the number of seeds)")
        if name in (n for n, _ in parsed):
            raise LofictlError(f"--vary {name}: given twice; list every value in one --vary")
        if len(set(values)) != len(values):
            raise LofictlError(f"--vary {item!r}: a value is listed twice")
        parsed.append((name, values))
    return parsed


def variant_seeds(master: int, count: int) -> list[int]:
    """The recipe's own seed first, then seeds derived from it by name (stable, not by iteration)."""
    from lofictl.seeds import derive_seed

    return [master] + [derive_seed(master, "audition", i) for i in range(1, count)]


def plan_variants(loaded: LoadedRecipe, count: int, vary: list[tuple[str, list[str]]]) -> list[Variant]:
    """Every seed crossed with every combination of the varied values (seed slowest), each checked
    as a recipe before anything is built."""
    seeds = variant_seeds(loaded.recipe.seed, count)
    combos = list(itertools.product(*(values for _, values in vary))) or [()]
    if len(seeds) * len(combos) > MAX_VARIANTS:
        raise LofictlError(
            f"{len(seeds)} seeds x {len(combos)} combinations make {len(seeds) * len(combos)} variants; "
            f"an audition holds at most {MAX_VARIANTS}"
        )
    variants: list[Variant] = []
    for seed in seeds:
        for combo in combos:
            overrides = [*loaded.overrides, f"seed={seed}"] + [
                f"{name}={value}" for (name, _), value in zip(vary, combo)
            ]
            differs = {"seed": str(seed)} if len(seeds) > 1 else {}
            differs.update({name: value for (name, _), value in zip(vary, combo)})
            variants.append(Variant(len(variants) + 1, tuple(overrides), differs))
    for variant in variants:  # a bad value fails here, naming its --set, before any build
        load_recipe(loaded.path, list(variant.overrides))
    return variants


# --- the folder ----------------------------------------------------------------------------------


def audition_folder(loaded: LoadedRecipe) -> Path:
    return loaded.project_root / "build" / "audition" / loaded.name


def owner(loaded: LoadedRecipe) -> str:
    return f"audition of {loaded.project_file}"


def prepare_folder(loaded: LoadedRecipe) -> Path:
    """The audition folder, checked by the output-folder rule (a work folder of this recipe's
    audition, nothing else in it) and marked; variant folders left from a larger audition go."""
    from lofictl.pipeline.runner import project_folders
    from lofictl.safety.outputs import check_work_folder, mark_work_folder

    folder = audition_folder(loaded)
    check_work_folder(folder, project_folders(loaded.project_root, loaded.path), owner(loaded), LAYOUT)
    folder.mkdir(parents=True, exist_ok=True)
    mark_work_folder(folder, owner(loaded))
    return folder


def recipe_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- building ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextJob:
    """One variant to build as a task: plain values, so it ships to a Dask worker."""

    text: str  # the kept recipe's text
    path: Path  # where `keep` writes it (absolute; nothing is written there by the build)
    out_dir: Path
    use_cache: bool

    def run(self, threads: int = 1):
        from lofictl.pipeline.runner import build_recipe
        from lofictl.recipe.load import parse_recipe_text

        loaded = parse_recipe_text(self.text, self.path)
        return build_recipe(loaded, out_dir=self.out_dir, jobs=threads, quiet=True, use_cache=self.use_cache)


def variant_text(loaded: LoadedRecipe, variant: Variant) -> str:
    return kept_text(loaded, list(variant.overrides), variant.number, variant.differs)


@dataclass
class Built:
    variant: Variant
    master: str  # relative to the audition folder
    pianoroll: str | None
    lufs: float | None
    seconds: float


def build_variants(
    loaded: LoadedRecipe,
    variants: list[Variant],
    *,
    jobs: int | None = None,
    use_cache: bool = True,
    log=print,
) -> tuple[Path, list[Built]]:
    """Build every variant into its folder, then write the manifest the page and `keep` read."""
    from lofictl.cluster import cpu_threads, open_runner

    folder = prepare_folder(loaded)
    for stale in folder.iterdir():  # variants of an earlier, larger audition (ours: the layout says so)
        if stale.is_dir() and re.fullmatch(r"v\d{1,2}", stale.name) and int(stale.name[1:]) > len(variants):
            shutil.rmtree(stale)
    (folder / MANIFEST).unlink(missing_ok=True)  # no manifest describes a half-built set
    work = [
        TextJob(variant_text(loaded, v), kept_path(loaded, v.number).resolve(), folder / v.folder, use_cache)
        for v in variants
    ]
    if jobs is None or jobs <= 1 or len(variants) == 1:
        results = []
        for variant, job in zip(variants, work):
            log(f"building variant {variant.number}/{len(variants)}: {_words(variant)}")
            results.append(job.run(threads=cpu_threads()))
    else:
        log(f"building {len(work)} variants on a Dask LocalCluster of {min(jobs, len(work))} workers")
        with open_runner(jobs=min(jobs, len(work))) as runner:
            futures = [runner.submit(TextJob.run, job, key=f"lofictl-audition-{i:03d}") for i, job in enumerate(work)]
            results = [future.result() for future in futures]
    built = []
    for variant, result in zip(variants, results):
        master = f"{variant.folder}/{kept_path(loaded, variant.number).stem}.wav"
        roll = f"{variant.folder}/pianoroll.png"
        lufs = (result.loudness or {}).get("integrated_lufs")
        built.append(
            Built(variant, master, roll if (folder / roll).is_file() else None, lufs, round(result.duration_s, 3))
        )
    write_manifest(folder, loaded, built)
    return folder, built


def _words(variant: Variant) -> str:
    return ", ".join(f"{k}={v}" for k, v in variant.differs.items()) or "the recipe as written"


def target_lufs(built: list[Built]) -> float | None:
    """The common loudness every variant plays at: the quietest one's, so matching only turns
    the louder ones down (an <audio> element's volume cannot go above 1)."""
    levels = [b.lufs for b in built if b.lufs is not None]
    return min(levels) if levels else None


def playback_gain_db(lufs: float | None, target: float | None) -> float:
    if lufs is None or target is None:
        return 0.0
    return round(target - lufs, 2)


def write_manifest(folder: Path, loaded: LoadedRecipe, built: list[Built]) -> None:
    from lofictl.safety import atomic

    target = target_lufs(built)
    data = {
        "lofictl_audition": 1,
        "recipe": loaded.project_file,
        "recipe_sha256": recipe_sha256(loaded.path),
        "title": loaded.recipe.title,
        "target_lufs": target,
        "variants": [
            {
                "number": b.variant.number,
                "overrides": list(b.variant.overrides),
                "text_sha256": hashlib.sha256(variant_text(loaded, b.variant).encode()).hexdigest(),
                "differs": b.variant.differs,
                "master": b.master,
                "pianoroll": b.pianoroll,
                "lufs": b.lufs,
                "gain_db": playback_gain_db(b.lufs, target),
                "seconds": b.seconds,
            }
            for b in built
        ],
    }
    atomic.write_text(folder / MANIFEST, json.dumps(data, indent=2) + "\n")


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LofictlError(f"no audition in {folder}: run `lofictl audition RECIPE` first") from None
    except (OSError, ValueError) as exc:
        raise LofictlError(f"{path} cannot be read ({exc}); run `lofictl audition RECIPE` again") from None
    if not isinstance(data, dict) or data.get("lofictl_audition") != 1 or not isinstance(data.get("variants"), list):
        raise LofictlError(f"{path} is not an audition manifest; run `lofictl audition RECIPE` again")
    return data


# --- keep ----------------------------------------------------------------------------------------


def kept_path(loaded: LoadedRecipe, number: int) -> Path:
    """recipes/<recipe>-vN.yaml, beside the recipe (so its relative paths resolve the same)."""
    return loaded.path.parent / f"{loaded.file_stem}-v{number}.yaml"


def kept_text(loaded: LoadedRecipe, overrides: list[str], number: int, differs: dict) -> str:
    """The variant's recipe: the recipe's data with its overrides applied; output.dir dropped (the
    kept recipe builds into a folder of its own name; the folder does not change the audio)."""
    import yaml

    from lofictl.radio.schedule import _PlainDumper
    from lofictl.recipe.load import apply_overrides
    from lofictl.recipe.yamlfile import read_yaml

    data, _ = read_yaml(loaded.path)
    data = apply_overrides(data, overrides, loaded.path)
    output = data.get("output")
    if isinstance(output, dict):
        output.pop("dir", None)
    settings = ", ".join(f"{k}={v}" for k, v in differs.items()) or "the recipe as written"
    header = (
        f"# Variant {number} of {loaded.project_file} ({settings}).\n"
        "# Written by `lofictl audition keep`; `lofictl build` on it makes the variant's audio byte for byte.\n"
    )
    return header + yaml.dump(
        data, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None
    )


def keep_variant(recipe: Path, number: int, *, force: bool = False) -> Path:
    """Write variant `number` of the recipe's last audition as recipes/<recipe>-vN.yaml. A file of
    that name holding something else is never replaced without `force`."""
    from lofictl.recipe.load import parse_recipe_text
    from lofictl.safety import atomic

    loaded = load_recipe(recipe)
    data = read_manifest(audition_folder(loaded))
    if data.get("recipe_sha256") != recipe_sha256(loaded.path):
        raise LofictlError(
            f"{recipe} changed since its audition, so its variants would not be what you heard; "
            "run `lofictl audition` on it again",
            file=recipe,
        )
    variants = {v.get("number"): v for v in data["variants"] if isinstance(v, dict)}
    if number not in variants:
        raise LofictlError(f"the audition of {recipe} has variants 1 to {len(variants)}, not {number}")
    entry = variants[number]
    text = kept_text(loaded, list(entry["overrides"]), number, entry.get("differs") or {})
    if hashlib.sha256(text.encode()).hexdigest() != entry.get("text_sha256"):
        raise LofictlError(f"variant {number}'s recipe no longer reads as it was built; run `lofictl audition` again")
    path = kept_path(loaded, number)
    parse_recipe_text(text, path)  # a valid recipe before anything is written
    if path.exists() and not force:
        if path.read_text(encoding="utf-8") == text:
            return path  # already kept
        raise LofictlError(f"{path} exists and holds something else; move it away or pass --force")
    atomic.write_text(path, text)
    return path
