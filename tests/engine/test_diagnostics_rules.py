"""Rule sets in the diagnostics: their findings need no model, join the templates', and
stay out of the languages they do not cover."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.engine import Engine
from codetune_lsp.features.diagnostics import Analyzer
from tests.engine.conftest import loopback_engine
from tests.models.servers import FakeServer, Reply, Seen

SHELL = (
    "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call('sh -c ' + cmd, shell=True)\n"
)
MODEL_FINDING = (
    '{"findings": [{"line": 4, "end_line": 4, "rule": "quality", '
    '"severity": "info", "message": "no docstring"}]}'
)


def answer(seen: Seen) -> Reply:
    return Reply(body={"choices": [{"text": MODEL_FINDING, "finish_reason": "stop"}]})


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[Engine, FakeServer]]:
    async with loopback_engine(tmp_path, answer) as pair:
        yield pair


def doc(text: str, language: str = "python") -> DocumentSnapshot:
    return DocumentSnapshot("file:///w/tool.py", 1, language, text)


async def test_rules_alone_report_without_calling_the_model(engine) -> None:
    engine, fake = engine
    analyzer = Analyzer(engine, "loop", [], rules=["python-security"])
    analysis = await analyzer.analyse(doc(SHELL))
    assert [(f.line, f.rule, f.severity) for f in analysis.findings] == [(5, "CWE-78", "error")]
    assert analysis.findings[0].template == "rules:bandit B602"
    assert not fake.seen and analysis.executions == []


async def test_rule_and_template_findings_are_reported_together(engine) -> None:
    engine, fake = engine
    analyzer = Analyzer(engine, "loop", ["diagnostics.quality"], rules=["python-security"])
    analysis = await analyzer.analyse(doc(SHELL))
    assert {(f.line, f.rule) for f in analysis.findings} >= {(5, "CWE-78")}
    assert {f.template for f in analysis.findings} == {"rules:bandit B602", "diagnostics.quality"}
    assert len(fake.seen) == 1


async def test_a_language_no_rule_set_covers_gets_none(engine) -> None:
    engine, _ = engine
    analyzer = Analyzer(engine, "loop", [], rules=["python-security"])
    analysis = await analyzer.analyse(doc(SHELL, language="ruby"))
    assert analysis.findings == []


async def test_unchanged_text_is_not_scanned_again(engine, monkeypatch) -> None:
    engine, _ = engine
    analyzer = Analyzer(engine, "loop", [], rules=["python-security"])
    first = await analyzer.analyse(doc(SHELL))
    import codetune_lsp.rules as rules

    def must_not_run(*args: object) -> None:
        raise AssertionError("scanned again")

    monkeypatch.setattr(rules, "scan", must_not_run)
    again = await analyzer.analyse(doc(SHELL))
    assert again.cached and again.findings == first.findings


async def test_a_missing_tool_is_a_note_not_a_failure(engine, monkeypatch) -> None:
    import codetune_lsp.rules as rules

    def unavailable(*args: object) -> None:
        raise rules.RulesUnavailable("the python-security rules need bandit: pip install bandit")

    monkeypatch.setattr(rules, "scan", unavailable)
    engine, _ = engine
    analysis = await Analyzer(engine, "loop", [], rules=["python-security"]).analyse(doc(SHELL))
    assert analysis.findings == [] and "pip install bandit" in analysis.note
