"""``history``, ``stats`` and ``cache`` commands, run with CliRunner against a temp
CODETUNE_HOME (and once against PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from codetune_lsp.cli import main
from codetune_lsp.paths import resolve_paths
from codetune_lsp.settings import Settings, StoreSettings
from codetune_lsp.store import CachedResponse, CacheRequest, open_store
from tests.store.conftest import make_record


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CODETUNE_CONFIG", str(tmp_path / "config.toml"))
    for name in ("CODETUNE__STORE__URL",):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def seed(settings: Settings | StoreSettings | None = None) -> dict[str, str]:
    store = open_store(settings or Settings(), resolve_paths())
    now = datetime.now(UTC)
    ids = {
        "ok": store.record_execution(
            make_record(latency_ms=10.0, created_at=now - timedelta(minutes=5))
        ).result(),
        "failed": store.record_execution(
            make_record(
                feature="diagnostics",
                model_profile="wrn-7b",
                success=False,
                error_class="TimeoutError",
                error_message="backend timed out",
                output=None,
                latency_ms=5000.0,
                created_at=now - timedelta(minutes=4),
            )
        ).result(),
        "hit": store.record_execution(
            make_record(cache_hit=True, latency_ms=0.5, created_at=now - timedelta(minutes=3))
        ).result(),
        "old": store.record_execution(
            make_record(created_at=now - timedelta(days=45), latency_ms=30.0)
        ).result(),
    }
    store.add_feedback(ids["ok"], "accepted").result()
    store.add_feedback(ids["hit"], "rejected").result()
    store.cache_put(CacheRequest("local", "m", "p1"), CachedResponse("answer one")).result()
    store.cache_put(CacheRequest("local", "m", "p2", template_version_id=7), CachedResponse("x"))
    store.close()
    return ids


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_history_list_table_json_and_filters(home: Path) -> None:
    ids = seed()
    table = run("history", "list")
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["id", "created", "(UTC)"]
    assert [line.split()[0] for line in lines[2:]] == [
        ids["hit"],
        ids["failed"],
        ids["ok"],
        ids["old"],
    ]
    listed = json.loads(run("history", "list", "--json"))
    assert [r["id"] for r in listed] == [ids["hit"], ids["failed"], ids["ok"], ids["old"]]
    assert listed[0]["cache_hit"] is True and listed[0]["estimated_cost"] == 0.0

    def found(*args: str) -> list[str]:
        return [r["id"] for r in json.loads(run("history", "list", "--json", *args))]

    assert found("--failed") == [ids["failed"]]
    assert found("--feature", "diagnostics") == [ids["failed"]]
    assert found("--model", "wrn-7b") == [ids["failed"]]
    assert found("--template", "completion.infill", "--since", "1d", "--limit", "1") == [ids["hit"]]
    assert found("--since", "1d") == [ids["hit"], ids["failed"], ids["ok"]]
    assert found("--template", "nope") == []
    assert "no executions recorded matching the filters" in run(
        "history", "list", "--template", "x"
    )
    bad = CliRunner().invoke(main, ["history", "list", "--since", "soon"])
    assert bad.exit_code == 2 and "not a duration or date" in bad.output


def test_history_show(home: Path) -> None:
    ids = seed()
    shown = run("history", "show", ids["failed"])
    assert "TimeoutError" in shown and "backend timed out" in shown
    assert "--- prompt text ---" in shown
    data = json.loads(run("history", "show", ids["ok"], "--json"))
    assert data["id"] == ids["ok"] and data["feedback"][0]["kind"] == "accepted"
    assert json.loads(run("history", "show", ids["ok"][:-1].lower(), "--json"))["id"] == ids["ok"]
    missing = CliRunner().invoke(main, ["history", "show", "7ZZZZZZZZZ"])
    assert missing.exit_code == 1 and "no execution with id" in missing.output


def test_history_export_jsonl_and_csv(home: Path, tmp_path: Path) -> None:
    ids = seed()
    lines = run("history", "export").splitlines()
    assert [json.loads(line)["id"] for line in lines] == sorted(ids.values())
    target = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["history", "export", "--format", "csv", "-o", str(target)])
    assert result.exit_code == 0 and "exported 4 executions" in result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {r["id"] for r in rows} == set(ids.values())
    assert {r["feature"] for r in rows} == {"completion", "diagnostics"}
    failed = run("history", "export", "--failed").splitlines()
    assert [json.loads(line)["id"] for line in failed] == [ids["failed"]]


def test_history_purge(home: Path) -> None:
    ids = seed()
    assert "would delete 1 executions" in run(
        "history", "purge", "--older-than", "30d", "--dry-run"
    )
    out = run("history", "purge", "--older-than", "30d")
    assert "deleted 1 executions" in out
    remaining = [r["id"] for r in json.loads(run("history", "list", "--json"))]
    assert ids["old"] not in remaining and len(remaining) == 3
    bad = CliRunner().invoke(main, ["history", "purge", "--older-than", "forever"])
    assert bad.exit_code == 2


def test_stats_table_and_json(home: Path) -> None:
    seed()
    table = run("stats")
    header, rule, *rows = table.splitlines()
    assert header.split()[:3] == ["feature", "count", "ok"]
    assert set(rule) <= {"-", " "}
    by_group = {row.split()[0]: row for row in rows}
    assert set(by_group) == {"completion", "diagnostics", "(all)"}
    assert by_group["completion"].split()[1] == "3"
    # Aligned: numbers are right-aligned under their header.
    count_end = header.index("count") + len("count")
    for row in rows:
        assert row[count_end - 1].isdigit() and row[count_end] == " ", row
    data = json.loads(run("stats", "--by", "model", "--json"))
    groups = {r["group"]: r for r in data["rows"]}
    assert groups["codet5p-220m-py"]["count"] == 3
    assert groups["codet5p-220m-py"]["cache_hit_rate"] == pytest.approx(1 / 3)
    assert groups["codet5p-220m-py"]["acceptance_rate"] == 0.5
    assert groups["wrn-7b"]["success_rate"] == 0.0
    assert groups["(all)"]["latency_p50_ms"] == pytest.approx(20.0)
    recent = json.loads(run("stats", "--since", "1d", "--json"))
    assert {r["group"]: r["count"] for r in recent["rows"]}["(all)"] == 3
    for by in ("template", "version"):
        assert "(all)" in run("stats", "--by", by)


def test_stats_on_an_empty_store(home: Path) -> None:
    assert "no executions recorded" in run("stats")
    assert json.loads(run("stats", "--json"))["rows"][-1]["count"] == 0


def test_cache_commands(home: Path) -> None:
    seed()
    info = json.loads(run("cache", "stats", "--json"))
    assert info["entries"] == 2
    assert info["executions"] == 4 and info["executions_from_cache"] == 1
    assert info["hit_rate_pct"] == 25.0
    assert "entries" in run("cache", "stats")
    assert "deleted 1 cached responses" in run("cache", "clear", "--template-version", "7")
    assert "deleted 0 expired" in run("cache", "prune")
    assert "deleted 1 cached responses" in run("cache", "clear")
    assert json.loads(run("cache", "stats", "--json"))["entries"] == 0


def test_cache_prune_applies_the_configured_cap(home: Path) -> None:
    seed()
    out = run("--set", "store.cache_max_entries=1", "cache", "prune")
    assert "1 least recently used" in out
    assert json.loads(run("cache", "stats", "--json"))["entries"] == 1


def test_commands_work_on_postgresql(
    home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODETUNE__STORE__URL", pg_url)
    ids = seed(StoreSettings(url=pg_url))
    assert {r["id"] for r in json.loads(run("history", "list", "--json"))} == set(ids.values())
    data = json.loads(run("stats", "--json"))
    assert data["rows"][-1]["count"] == 4
    assert json.loads(run("cache", "stats", "--json"))["entries"] == 2
    assert not (home / "codetune.db").exists()  # nothing went to the SQLite default


def test_unreachable_database_is_a_clean_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODETUNE__STORE__URL", "postgresql+psycopg://nobody:pw@127.0.0.1:1/none")
    result = CliRunner().invoke(main, ["history", "list"])
    assert result.exit_code == 1
    assert "cannot open the store" in result.output
    assert "Traceback" not in result.output
    assert ":pw@" not in result.output
