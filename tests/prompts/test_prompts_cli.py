"""`codetune-lsp prompts`: list, show, import, diff, deploy, rollback, export, experiments."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from codetune_lsp.cli import main
from codetune_lsp.prompts.library import builtin_sources

EXPLAIN = dict(builtin_sources())["code_action.explain.toml"]


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_whole_prompt_workflow(isolated_home: Path) -> None:
    rows = json.loads(run("prompts", "list", "--json"))
    assert {r["name"] for r in rows} >= {"completion.infill", "diagnostics.security"}
    assert 'name = "code_action.explain"' in run("prompts", "show", "code_action.explain")

    v2 = isolated_home / "explain.toml"
    v2.write_text(EXPLAIN.replace("concise", "brief"))
    assert "v2 (new version, production moved)" in run("prompts", "import", str(v2))
    assert "v2 (unchanged)" in run("prompts", "import", str(v2))
    diff = run("prompts", "diff", "code_action.explain", "1", "2")
    assert (
        "-You are a senior engineer explaining code to a colleague. Be precise and concise." in diff
    )
    assert (
        "+You are a senior engineer explaining code to a colleague. Be precise and brief." in diff
    )
    assert "production -> v1" in run("prompts", "rollback", "code_action.explain")
    assert "production -> v2" in run("prompts", "deploy", "code_action.explain", "2")
    assert "brief" in run("prompts", "show", "code_action.explain@2")

    started = run(
        "prompts", "experiment", "start", "code_action.explain", "--arm", "1=50", "--arm", "2=50"
    )
    assert "v1=50" in started and "v2=50" in started
    listed = {r["name"]: r for r in json.loads(run("prompts", "list", "--json"))}
    assert listed["code_action.explain"]["experiment"] == {"v1": 50.0, "v2": 50.0}
    assert "production -> v1" in run(
        "prompts", "experiment", "stop", "code_action.explain", "--winner", "1"
    )

    out = isolated_home / "exported"
    assert "wrote" in run("prompts", "export", str(out))
    assert (out / "code_action.explain.toml").read_text().count("concise") >= 1


def test_errors_are_messages_not_tracebacks(isolated_home: Path) -> None:
    result = CliRunner().invoke(main, ["prompts", "deploy", "code_action.explain", "9"])
    assert result.exit_code == 1 and "has no version 9" in result.output
    result = CliRunner().invoke(main, ["prompts", "show", "nope"])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_stats_by_version_compares_experiment_arms(isolated_home: Path) -> None:
    from codetune_lsp.paths import resolve_paths
    from codetune_lsp.prompts.library import PromptLibrary
    from codetune_lsp.settings import Settings
    from codetune_lsp.store import ExecutionRecord, open_store

    store = open_store(Settings(), resolve_paths())
    try:
        library = PromptLibrary(store)
        first = library.import_source(EXPLAIN, "a.toml")
        second = library.import_source(EXPLAIN.replace("concise", "brief"), "a.toml")
        for version, successes in ((first, 12), (second, 19)):
            for i in range(20):
                store.record_execution(
                    ExecutionRecord(
                        feature="code_action",
                        backend="local",
                        model_profile="m",
                        model_id="m",
                        success=i < successes,
                        template_name="code_action.explain",
                        resolved_version_id=version.version_id,
                        latency_ms=10.0,
                    )
                )
        store.flush().result()
    finally:
        store.close()
    out = run("stats", "--by", "version")
    assert "code_action.explain@v1" in out and "code_action.explain@v2" in out
    assert "code_action.explain v1 vs v2: success 60.0% vs 95.0% (n=20/20): significant" in out
    assert "acceptance: no data for one version" in out


def test_a_bad_template_file_is_reported_and_skipped(isolated_home: Path) -> None:
    folder = isolated_home / "prompts"
    folder.mkdir()
    good = EXPLAIN.replace('name = "code_action.explain"', 'name = "code_action.mine"')
    (folder / "good.toml").write_text(good)
    lines = good.splitlines()
    latin1 = "\n".join(lines[:3]) + "\n# caf\xe9\n"
    (folder / "latin1.toml").write_bytes(latin1.encode("latin-1"))
    body_line = next(i for i, line in enumerate(lines) if "{{" in line)
    deep = [*lines[:body_line], "{{ " + "(" * 100 + "1" + ")" * 100 + " }}", *lines[body_line:]]
    (folder / "nested.toml").write_text("\n".join(deep).replace("code_action.explain", "x.deep"))

    result = CliRunner().invoke(main, ["prompts", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    names = {r["name"] for r in json.loads(result.stdout)}
    assert "code_action.mine" in names and "code_action.explain" in names
    assert "x.deep" not in names
    warnings = result.stderr
    assert f"{folder / 'latin1.toml'}:4" in warnings and "UTF-8" in warnings
    assert f"{folder / 'nested.toml'}:{body_line + 1}" in warnings and "nested" in warnings
