"""A team's own suite file: the template's variables in, assertions on what was served."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from codetune_lsp.cli import main
from codetune_lsp.evaluation.suites import SuiteError, load_suite
from tests.models.servers import FakeServer, Reply, Seen

ANSWER = "This function adds two numbers and returns the sum."
VARS = {"code": "def add(a, b):\n    return a + b\n", "language": "python", "file_name": "m.py"}


def _server() -> FakeServer:
    def answer(seen: Seen) -> Reply:
        choice = {"index": 0, "text": ANSWER, "finish_reason": "stop"}
        return Reply(body={"choices": [choice], "usage": {"prompt_tokens": 1}})

    return FakeServer(answer)


def _suite(path: Path) -> Path:
    items = [
        {"id": "mentions-sum", "vars": VARS, "assert": [{"type": "contains", "value": "sum"}]},
        {"id": "is-code", "vars": VARS, "assert": [{"type": "regex", "value": "^def "}]},
        {
            "id": "python-check",
            "vars": VARS,
            "assert": [{"type": "python", "value": "assert 'two numbers' in output"}],
        },
        {
            "id": "json-answer",
            "vars": VARS,
            "assert": [{"type": "json-schema", "value": {"type": "object"}}],
        },
    ]
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def test_a_jsonl_suite_runs_through_the_engine_and_judges_each_assertion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _server() as server:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[models.stub]\nbackend = "openai"\nurl = "{server.url}"\nid = "stub"\n'
            'family = "qwen2.5-coder"\nmax_retries = 0\n'
        )
        monkeypatch.setenv("CODETUNE_CONFIG", str(config))
        monkeypatch.setenv("CODETUNE_HOME", str(tmp_path / "data"))
        suite = _suite(tmp_path / "goldens.jsonl")
        result = CliRunner().invoke(
            main,
            ["eval", "run", str(suite), "--template", "code_action.explain", "--model", "stub",
             "--json"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        run = json.loads(result.output[result.output.index("{") :])
        shown = CliRunner().invoke(main, ["eval", "show", run["id"], "--json"])
    assert shown.exit_code == 0, shown.output
    payload = json.loads(shown.output)
    assert run["summary"]["passed"] == 2 and run["summary"]["failed"] == 2
    verdicts = {item["item_id"]: item for item in payload["items"]}
    assert verdicts["mentions-sum"]["verdict"] == "pass"
    assert verdicts["python-check"]["verdict"] == "pass"
    assert verdicts["is-code"]["verdict"] == "fail"
    assert "regex" in verdicts["is-code"]["reason"]
    assert verdicts["json-answer"]["verdict"] == "fail"
    assert "not JSON" in verdicts["json-answer"]["reason"]


def test_a_toml_suite_loads_and_bad_files_say_what_is_wrong(tmp_path: Path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text(
        '[[items]]\nid = "a"\nvars = { code = "x" }\nassert = [{ type = "equals", value = "y" }]\n'
    )
    suite = load_suite(str(good))
    assert suite.kind == "user" and [i.id for i in suite.items] == ["a"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[items]]\nid = "a"\nassert = [{ type = "smells-nice", value = 1 }]\n')
    with pytest.raises(SuiteError, match="assertion type must be one of"):
        load_suite(str(bad))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(SuiteError, match="no items"):
        load_suite(str(empty))
