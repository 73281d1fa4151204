"""The promotion gate, end to end through the CLI: a real OpenAI-compatible server on
loopback plays a model that fills a hole exactly when the prompt shows both sides of it.
A template version that drops the suffix from the FIM prompt is refused; a version as
good as production is accepted; --force is written to the label's event log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from codetune_lsp.cli import main
from codetune_lsp.evaluation.suites import load_suite
from tests.models.servers import FakeServer, Reply, Seen

PREFIX, SUFFIX, MIDDLE = "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"
GOOD = """name = "completion.infill"
feature = "completion"
description = "FIM"
output = "text"
template = "{{ fim.prefix }}{{ prefix }}{{ fim.suffix }}{{ suffix }}{{ fim.middle }}"
%s
[params]
temperature = 0.0
max_new_tokens = 64

[variables]
prefix = "str"
suffix = "str"
fim = "dict"
"""
BROKEN = GOOD.replace("{{ fim.suffix }}{{ suffix }}", "") % ""


def _oracle() -> FakeServer:
    holes = {
        (i.data["prefix"], i.data["suffix"]): i.data["hole"]
        for i in load_suite("humaneval-infill").items
    }

    def answer(seen: Seen) -> Reply:
        prompt = seen.body["prompt"]
        text = "pass"
        if prompt.startswith(PREFIX) and SUFFIX in prompt and prompt.endswith(MIDDLE):
            before, after = prompt[len(PREFIX) : -len(MIDDLE)].split(SUFFIX, 1)
            text = holes.get((before, after), "pass")
        choice = {"index": 0, "text": text, "finish_reason": "stop"}
        if seen.body.get("stream"):
            return Reply(body=[json.dumps({"choices": [choice]}), "[DONE]"], sse=True)
        return Reply(body={"choices": [choice], "usage": {"prompt_tokens": 1}})

    return FakeServer(answer)


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def oracle_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with _oracle() as server:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[models.oracle]\nbackend = "openai"\nurl = "{server.url}"\nid = "oracle"\n'
            'variant = "whiterabbitneo-2.5-qwen-7b"\nmax_retries = 0\n\n'
            '[features.completion]\nmodel = "oracle"\n'
        )
        monkeypatch.setenv("CODETUNE_CONFIG", str(config))
        monkeypatch.setenv("CODETUNE_HOME", str(tmp_path / "data"))
        yield tmp_path


def _candidates(root: Path) -> None:
    """v2 broken, v3 as good as the built-in v1; stored without moving production."""
    from codetune_lsp.paths import resolve_paths
    from codetune_lsp.prompts.library import PromptLibrary
    from codetune_lsp.settings import SettingsSources
    from codetune_lsp.store import open_store

    paths = resolve_paths(None)
    store = open_store(SettingsSources.load(paths, []).resolve().settings, paths)
    try:
        library = PromptLibrary(store)
        library.seed_builtins()
        assert library.import_source(BROKEN, "broken.toml", move_label=False).version == 2
        good = GOOD % 'notes = "same prompt, new note"\n'
        assert library.import_source(good, "good.toml", move_label=False).version == 3
    finally:
        store.close()


def test_deploy_refuses_a_version_that_drops_the_suffix_and_accepts_a_good_one(
    oracle_home: Path,
) -> None:
    _candidates(oracle_home)
    gate = ["--require-eval", "humaneval-infill", "--limit", "16", "--jobs", "2"]

    code, output = _cli("prompts", "deploy", "completion.infill", "2", *gate)
    assert code == 1, output
    assert "significantly worse" in output and "not moved" in output

    code, output = _cli("prompts", "deploy", "completion.infill", "3", *gate)
    assert code == 0, output
    assert "production -> v3" in output
    assert "reusing run" in output  # production's run from the first deploy

    code, output = _cli("prompts", "deploy", "completion.infill", "2", *gate, "--force")
    assert code == 0, output
    code, listing = _cli("eval", "list", "--json")
    runs = json.loads(listing)
    assert {r["status"] for r in runs} == {"finished"} and len(runs) == 3
    from sqlite3 import connect

    with connect(oracle_home / "data" / "codetune.db") as db:
        reasons = [r for (r,) in db.execute("SELECT reason FROM label_events ORDER BY id")]
    assert reasons[-1].startswith("deploy --force (eval humaneval-infill: refused")
    assert reasons[-2].startswith("deploy (eval humaneval-infill: passed")
    code, stats = _cli("stats", "--by", "version")
    assert code == 0 and "humaneval-infill (infill)" in stats and "pass@1" in stats


def test_eval_show_failures_prints_outputs_and_reasons(oracle_home: Path) -> None:
    _candidates(oracle_home)
    code, output = _cli(
        "eval",
        "run",
        "humaneval-infill",
        "--template",
        "completion.infill:2",
        "--limit",
        "4",
        "--json",
    )
    assert code == 0, output
    run = json.loads(output)
    assert run["summary"]["pass@1"] == 0.0 and run["template_name"] == "completion.infill"
    code, shown = _cli("eval", "show", run["id"], "--failures")
    assert code == 0 and shown.count("-- raw model output:") == 4 and "pass" in shown
