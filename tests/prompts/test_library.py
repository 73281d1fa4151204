"""The prompt library: seeding, immutable versions, labels and rollback, experiments."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from codetune_lsp.prompts.library import (
    DEFAULT_LABEL,
    PromptLibrary,
    builtin_sources,
    from_version,
    to_toml,
    to_version,
)
from codetune_lsp.prompts.template import TemplateInvalid, parse_template
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store import PromptStoreError, open_store

from .conftest import paths_in

EXPLAIN = dict(builtin_sources())["code_action.explain.toml"]


def edited(source: str, old: str, new: str) -> str:
    assert old in source
    return source.replace(old, new)


def test_builtins_are_seeded_once_as_version_one_in_production(store) -> None:
    library = PromptLibrary(store)
    first = library.seed_builtins()
    assert {r.name for r in first} >= {"completion.infill", "diagnostics.security"}
    assert all(r.version == 1 and r.created and r.label_moved for r in first)
    again = library.seed_builtins()
    assert not any(r.created or r.label_moved for r in again)
    rows = {row["name"]: row for row in library.list()}
    assert rows["code_action.explain"]["labels"] == {DEFAULT_LABEL: 1}
    assert rows["code_action.explain"]["feature"] == "code_action"


def test_a_changed_builtin_moves_production_unless_the_user_moved_it(store) -> None:
    library = PromptLibrary(store)
    library.seed_builtins([("code_action.explain.toml", EXPLAIN)])
    v2 = edited(EXPLAIN, "max_new_tokens = 512", "max_new_tokens = 600")
    update = library.seed_builtins([("code_action.explain.toml", v2)])[0]
    assert (update.version, update.created, update.label_moved) == (2, True, True)
    library.deploy("code_action.explain", 1)  # the user prefers version 1
    v3 = edited(EXPLAIN, "max_new_tokens = 512", "max_new_tokens = 700")
    update = library.seed_builtins([("code_action.explain.toml", v3)])[0]
    assert (update.version, update.created, update.label_moved) == (3, True, False)
    assert library.get("code_action.explain").version == 1


def test_same_content_makes_no_new_version_whatever_the_formatting(store) -> None:
    library = PromptLibrary(store)
    library.import_source(EXPLAIN, "a.toml")
    reformatted = "# a comment\n" + EXPLAIN.replace("temperature = 0.0", "temperature   =   0.0")
    noted = edited(reformatted, 'model = "whiterabbitneo"', 'notes = "n"\nmodel = "whiterabbitneo"')
    result = library.import_source(noted, "a.toml")
    assert (result.version, result.created) == (1, False)


def test_a_changed_file_is_a_new_version_and_production_follows(store) -> None:
    library = PromptLibrary(store)
    library.import_source(EXPLAIN, "a.toml")
    result = library.import_source(edited(EXPLAIN, "concise", "very concise"), "a.toml")
    assert (result.version, result.created, result.label_moved) == (2, True, True)
    assert "very concise" in library.get("code_action.explain").template.system


def test_rollback_returns_the_label_to_its_previous_version(store) -> None:
    library = PromptLibrary(store)
    library.import_source(EXPLAIN, "a.toml")
    library.import_source(edited(EXPLAIN, "concise", "terse"), "a.toml")
    assert library.get("code_action.explain").version == 2
    library.rollback("code_action.explain")
    assert library.get("code_action.explain").version == 1
    with pytest.raises(PromptStoreError):
        library.deploy("code_action.explain", 9)


def test_invalid_files_are_refused_with_their_problems(store) -> None:
    with pytest.raises(TemplateInvalid, match=r"bad\.toml:"):
        PromptLibrary(store).import_source('name = "x"\n', "bad.toml")


def test_diff_shows_text_and_field_changes(store) -> None:
    library = PromptLibrary(store)
    library.import_source(EXPLAIN, "a.toml")
    changed = edited(
        edited(EXPLAIN, "how, what", "how, why"), "max_new_tokens = 512", "max_new_tokens = 256"
    )
    library.import_source(changed, "a.toml")
    diff = library.diff("code_action.explain", 1, 2)
    assert "-Say what it does, how, what it assumes" in diff
    assert "+Say what it does, how, why it assumes" in diff
    assert "params.max_new_tokens: 512 -> 256" in diff


def test_export_writes_files_that_import_back_to_the_same_content(store, tmp_path: Path) -> None:
    library = PromptLibrary(store)
    library.seed_builtins()
    written = library.export(tmp_path / "out")
    assert len(written) == len(builtin_sources())
    for path in written:
        exported, problems = parse_template(path.read_text())
        assert exported is not None and problems == []
        stored = library.get(exported.name).template
        assert exported.content_hash() == stored.content_hash()


@pytest.mark.parametrize(("file_name", "source"), builtin_sources())
def test_store_and_toml_round_trips_keep_content(file_name: str, source: str) -> None:
    template, _ = parse_template(source)
    assert template is not None
    assert from_version(*to_version(template)) == template
    again, problems = parse_template(to_toml(template))
    assert again == template and problems == []


async def test_resolution_is_cached_and_sees_other_processes_writes(store, tmp_path: Path) -> None:
    library = PromptLibrary(store)
    library.import_source(EXPLAIN, "a.toml")
    first = await library.resolve("code_action.explain", DEFAULT_LABEL, "unit")
    assert first.version == 1
    other_process = open_store(StoreSettings(), paths_in(tmp_path))  # same database file
    try:
        PromptLibrary(other_process).import_source(edited(EXPLAIN, "concise", "brief"), "b.toml")
    finally:
        other_process.close()
    second = await library.resolve("code_action.explain", DEFAULT_LABEL, "unit")
    assert second.version == 2 and "brief" in second.template.system


async def test_unknown_labels_explain_how_to_deploy(store) -> None:
    library = PromptLibrary(store)
    library.import_source(EXPLAIN, "a.toml")
    with pytest.raises(PromptStoreError, match=r"prompts deploy code_action\.explain"):
        await library.resolve("code_action.explain", "staging", "unit")


async def test_experiment_arms_are_sticky_and_weighted(store) -> None:
    library = PromptLibrary(store)
    library.import_source(EXPLAIN, "a.toml")
    library.import_source(edited(EXPLAIN, "concise", "brief"), "a.toml")
    library.start_experiment("code_action.explain", [(1, 30), (2, 70)])
    picks = [
        await library.resolve("code_action.explain", DEFAULT_LABEL, f"ws|file:///f{i}.py")
        for i in range(10_000)
    ]
    share = sum(p.version == 2 for p in picks) / len(picks)
    sigma = math.sqrt(0.7 * 0.3 / len(picks))
    assert abs(share - 0.7) < 4 * sigma
    assert all(p.arm_id is not None for p in picks)
    for i in (0, 17, 4242):  # one file always sees one arm
        again = await library.resolve("code_action.explain", DEFAULT_LABEL, f"ws|file:///f{i}.py")
        assert again.version == picks[i].version
    staging = await library.resolve("code_action.explain", DEFAULT_LABEL, "x")
    assert staging.arm_name in ("v1", "v2")
    library.stop_experiment("code_action.explain", winner=2)
    after = await library.resolve("code_action.explain", DEFAULT_LABEL, "ws|file:///f0.py")
    assert (after.version, after.arm_id) == (2, None)


async def test_services_open_with_a_bad_user_template_and_the_rest_keeps_working(
    tmp_path: Path,
) -> None:
    from codetune_lsp.services import open_services
    from codetune_lsp.settings import Settings

    paths = paths_in(tmp_path)
    folder = paths.user_prompts_dir
    folder.mkdir(parents=True)
    (folder / "bytes.toml").write_bytes(b'name = "x"\n\xff\n')
    (folder / "deep.toml").write_text(
        'name = "y.deep"\nfeature = "completion"\ntemplate = """\n{{ '
        + "(" * 100
        + ")" * 100
        + ' }}\n"""\n'
    )
    services = open_services(Settings(), paths)
    try:
        assert len(services.problems) == 2
        assert f"{folder / 'bytes.toml'}:2: not valid UTF-8" in services.problems[0]
        assert f"{folder / 'deep.toml'}:4:" in services.problems[1]
        resolved = await services.library.resolve("code_action.explain", "production", "u")
        assert resolved.version == 1
    finally:
        await services.aclose()
