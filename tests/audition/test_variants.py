"""Variants of a recipe: the plan (seeds x --vary), the folder rule, and `keep`, whose recipe
builds the variant's bytes again."""

from __future__ import annotations

import hashlib

import pytest

from support import SMALL_RECIPE, invoke
from support.audition import build_audition


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_seeds_cross_the_varied_values_and_every_variant_is_the_recipe_plus_overrides(write_recipe):
    from lofictl.audition import variants as va
    from lofictl.recipe.load import load_recipe

    loaded = load_recipe(write_recipe(SMALL_RECIPE))
    plan = va.plan_variants(loaded, 2, va.parse_vary(["tempo=80,100", "swing=0.5,0.6"]))
    assert len(plan) == 8 and [v.number for v in plan] == list(range(1, 9))
    assert plan[0].overrides == ("seed=7", "tempo=80", "swing=0.5")  # the recipe's own seed first
    seeds = {v.differs["seed"] for v in plan}
    assert len(seeds) == 2 and "7" in seeds
    assert {(v.differs["tempo"], v.differs["swing"]) for v in plan[:4]} == {
        ("80", "0.5"),
        ("80", "0.6"),
        ("100", "0.5"),
        ("100", "0.6"),
    }
    again = va.plan_variants(loaded, 2, va.parse_vary(["tempo=80,100", "swing=0.5,0.6"]))
    assert again == plan  # seeds derive by name: the same plan every time
    assert va.split_values("[wav, flac],[wav]") == ["[wav, flac]", "[wav]"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vary", "tempo"], "write it as FIELD=a,b,c"),
        (["--vary", "tempo=80,"], "write it as FIELD=a,b,c"),
        (["--vary", "seed=1,2"], "vary the seed with -n"),
        (["--vary", "tempo=80,80"], "listed twice"),
        (["--vary", "tempo=80", "--vary", "tempo=90"], "given twice"),
        (["--vary", "tempo=80,9000"], "tempo"),  # out of range: named before anything is built
        (["-n", "9", "--vary", "tempo=60,70,80,90,100"], "at most 36"),
    ],
)
def test_bad_variants_are_one_line_and_exit_2_with_nothing_built(write_recipe, project, args, message):
    recipe = write_recipe(SMALL_RECIPE)
    result = invoke("audition", recipe, "--no-serve", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("error:") == 1
    assert not (project / "build").exists()


def test_keep_writes_a_recipe_that_builds_the_variant_byte_for_byte(write_recipe, project):
    from lofictl.pipeline.runner import build_recipe
    from lofictl.recipe.load import load_recipe

    # flac too: a recipe's formats are part of the master's stage key, so the audition keeps them
    recipe = write_recipe(
        SMALL_RECIPE.replace("formats: [wav]", "formats: [wav, flac]").replace("length: 4 bars", "length: 2 bars")
    )
    folder, built = build_audition(recipe, seeds=2, vary=["tempo=100"])
    variant = folder / built[1].master
    assert built[1].variant.differs["seed"] != "7"
    result = invoke("audition", "keep", recipe, "2")
    assert result.exit_code == 0, result.output
    kept = project / "recipes" / "test_loop-v2.yaml"
    assert kept.is_file() and "tempo: 100" in kept.read_text()
    rebuilt = build_recipe(load_recipe(kept), quiet=True, use_cache=False)  # made again, not restored
    assert _sha(rebuilt.out_dir / "test_loop-v2.wav") == _sha(variant)
    assert _sha(rebuilt.out_dir / "test_loop-v2.flac") != ""  # the recipe's formats are kept as they were

    # keeping it again is a no-op; a different file of that name is never replaced silently
    assert invoke("audition", "keep", recipe, "2").exit_code == 0
    kept.write_text("# mine\n")
    refused = invoke("audition", "keep", recipe, "2")
    assert refused.exit_code == 2 and "holds something else" in refused.output
    assert kept.read_text() == "# mine\n"
    assert invoke("audition", "keep", recipe, "2", "--force").exit_code == 0
    assert kept.read_text() != "# mine\n"
    assert invoke("audition", "keep", recipe, "5").exit_code == 2  # there is no variant 5

    # the recipe changed since the audition: its variants are no longer what was heard
    recipe.write_text(recipe.read_text().replace("tempo: 90", "tempo: 95"))
    changed = invoke("audition", "keep", recipe, "1")
    assert changed.exit_code == 2 and "changed since its audition" in changed.output
    assert not (project / "recipes" / "test_loop-v1.yaml").exists()


def test_the_audition_folder_follows_the_output_folder_rule(write_recipe, project):
    recipe = write_recipe(SMALL_RECIPE)
    folder = project / "build" / "audition" / "test_loop"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    result = invoke("audition", recipe, "--no-serve", "-n", "1")
    assert result.exit_code == 2 and "notes.txt" in result.output
    assert (folder / "notes.txt").read_text() == "mine" and len(list(folder.iterdir())) == 1


@pytest.mark.slow  # a LocalCluster's start costs most of a minute on a busy 2-core machine
def test_variants_built_on_a_local_cluster_are_the_bytes_built_one_after_another(write_recipe, project):
    from lofictl.audition import variants as va
    from lofictl.recipe.load import load_recipe

    recipe = write_recipe(SMALL_RECIPE.replace("length: 4 bars", "length: 2 bars"))
    loaded = load_recipe(recipe)
    plan = va.plan_variants(loaded, 2, [])
    folder, _ = va.build_variants(loaded, plan, jobs=2, use_cache=False, log=lambda text: None)
    parallel = {n: _sha(folder / f"v{n}" / f"test_loop-v{n}.wav") for n in (1, 2)}
    folder, _ = va.build_variants(loaded, plan, jobs=None, use_cache=False, log=lambda text: None)
    assert {n: _sha(folder / f"v{n}" / f"test_loop-v{n}.wav") for n in (1, 2)} == parallel
    assert parallel[1] != parallel[2]
