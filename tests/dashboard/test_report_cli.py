"""``codetune-lsp report`` from the command line: defaults, filters and clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from codetune_lsp.cli import main
from codetune_lsp.paths import resolve_paths
from codetune_lsp.settings import Settings
from codetune_lsp.store import open_store
from tests.store.conftest import make_record


@pytest.fixture
def home(isolated_home: Path) -> Path:
    return isolated_home / "data"


def seed() -> None:
    store = open_store(Settings(), resolve_paths())
    now = datetime.now(UTC)
    try:
        store.record_execution(make_record(created_at=now - timedelta(days=3)))
        store.record_execution(make_record(created_at=now - timedelta(hours=1)))
        store.record_execution(
            make_record(feature="diagnostics", success=False, error_class="TimeoutError")
        )
        store.flush().result(10)
    finally:
        store.close()


def test_an_empty_store_gives_a_report_that_says_so(home: Path) -> None:
    result = CliRunner().invoke(main, ["report"], catch_exceptions=False)
    assert result.exit_code == 0
    target = home / "report.html"
    assert result.output.strip() == str(target)
    html = target.read_text(encoding="utf-8")
    assert "No executions recorded in this period." in html
    assert "No evaluation runs." in html and "<canvas" not in html


def test_since_and_feature_narrow_the_report(home: Path, tmp_path: Path) -> None:
    seed()
    target = tmp_path / "out" / "completion.html"
    args = ["report", "--since", "1d", "--feature", "completion", "-o", str(target)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = target.read_text(encoding="utf-8")
    assert 'data-key="count" data-value="1"' in html  # one completion in the last day
    assert "TimeoutError" not in html  # the diagnostics failure is filtered out
    assert "grouped by</dt><dd>hour" in html
    assert not list(target.parent.glob(".*.partial"))


def test_bad_input_gets_a_clear_message(home: Path, tmp_path: Path) -> None:
    bad = CliRunner().invoke(main, ["report", "--since", "soon"])
    assert bad.exit_code == 2 and "not a duration or date" in bad.output
    folder = tmp_path / "a-folder"
    folder.mkdir()
    unwritable = CliRunner().invoke(main, ["report", "-o", str(folder)])
    assert unwritable.exit_code == 2 and "directory" in unwritable.output
    blocked = tmp_path / "file"
    blocked.write_text("")
    nested = CliRunner().invoke(main, ["report", "-o", str(blocked / "report.html")])
    assert nested.exit_code == 1 and "cannot write" in nested.output
    assert "Traceback" not in nested.output
