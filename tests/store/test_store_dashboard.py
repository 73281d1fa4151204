"""The report's aggregates, computed in SQL, on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from codetune_lsp.dashboard import build_report
from codetune_lsp.store import Store
from codetune_lsp.store import dashboard as q
from codetune_lsp.store.history import HistoryFilter, compute_stats, percentile
from codetune_lsp.store.tables import Execution
from tests.dashboard.synthetic import EXPERIMENT_TEMPLATE, add_eval_runs, fill_history

from .conftest import make_record

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


def test_sql_percentiles_equal_the_python_percentiles(store: Store) -> None:
    rng = random.Random(3)
    values: dict[str, list[float]] = {"completion": [], "diagnostics": []}
    for i in range(157):
        feature = "completion" if i % 3 else "diagnostics"
        latency = round(rng.lognormvariate(5, 1), 3)
        values[feature].append(latency)
        store.record_execution(make_record(feature=feature, latency_ms=latency))
    store.record_execution(make_record(feature="diagnostics", latency_ms=None))
    store.flush().result(30)
    found = store.read(
        lambda s: q.percentiles(s, [Execution.feature], Execution.latency_ms, [], (0, 50, 95, 100))
    )
    for feature, latencies in values.items():
        for p in (0, 50, 95, 100):
            assert found[(feature,)][p] == pytest.approx(percentile(latencies, p), rel=1e-12)


def test_one_value_is_every_percentile(store: Store) -> None:
    store.record_execution(make_record(latency_ms=42.0)).result(10)
    found = store.read(lambda s: q.percentiles(s, [Execution.feature], Execution.latency_ms, []))
    assert found == {("completion",): {50: 42.0, 95: 42.0}}


def test_timeline_buckets_by_day_with_cache_and_type_ahead_apart(store: Store) -> None:
    day = timedelta(days=1)
    for created, backend, hit in (
        (NOW - 2 * day, "local", False),
        (NOW - 2 * day, "local", True),
        (NOW - 2 * day, "type-ahead", True),
        (NOW, "local", False),
    ):
        store.record_execution(make_record(created_at=created, backend=backend, cache_hit=hit))
    store.record_execution(make_record(created_at=NOW, success=False, error_class="TimeoutError"))
    store.flush().result(10)
    points = store.read(lambda s: q.timeline(s, HistoryFilter(), "day", "feature"))
    assert [(p.bucket, p.count, p.cache_hits, p.type_ahead, p.failures) for p in points] == [
        ("2026-05-18", 3, 1, 1, 0),
        ("2026-05-20", 2, 0, 0, 1),
    ]
    hours = store.read(lambda s: q.timeline(s, HistoryFilter(), "hour", "model"))
    assert hours[-1].bucket == "2026-05-20 12:00" and hours[-1].series == "codet5p-220m-py"
    assert q.bucket_range(NOW - 2 * day, NOW, "day") == ["2026-05-18", "2026-05-19", "2026-05-20"]


def test_bucket_sizes_follow_the_period() -> None:
    assert q.choose_unit(NOW - timedelta(hours=30), NOW) == "hour"
    assert q.choose_unit(NOW - timedelta(days=30), NOW) == "day"
    assert q.choose_unit(NOW - timedelta(days=400), NOW) == "month"
    months = q.bucket_range(datetime(2025, 11, 30, tzinfo=UTC), NOW, "month")
    assert months[:3] == ["2025-11", "2025-12", "2026-01"] and months[-1] == "2026-05"


def test_wilson_interval() -> None:
    low, high = q.wilson_interval(45, 100)
    assert (round(low, 4), round(high, 4)) == (0.3561, 0.5476)
    assert q.wilson_interval(0, 0) is None
    assert q.wilson_interval(10, 10)[1] == 1.0


def test_experiment_arms_counts_feedback_and_verdict(store: Store) -> None:
    filled = fill_history(store, executions=1200, days=3, now=NOW)
    (result,) = store.read(lambda s: q.experiments(s, HistoryFilter()))
    assert result.template == EXPERIMENT_TEMPLATE and result.status == "active"
    a, b = result.arms
    assert (a.name, b.name) == ("A", "B") and a.version + 1 == b.version
    arm = Execution.experiment_arm_id
    by_arm = store.read(
        lambda s: dict(
            s.execute(select(arm, func.count()).where(arm.is_not(None)).group_by(arm)).all()
        )
    )
    assert sorted(by_arm.values()) == sorted([a.acceptance.executions, b.acceptance.executions])
    assert a.acceptance.rate < b.acceptance.rate  # generated at 35% against 60%
    acceptance = next(c for c in result.comparisons if c.metric == "acceptance")
    assert acceptance.verdict.startswith("significant")
    rows = store.read(lambda s: q.acceptance_by_version(s, HistoryFilter()))
    labels = {r.label for r in rows}
    assert {f"{EXPERIMENT_TEMPLATE}@v{a.version}", f"{EXPERIMENT_TEMPLATE}@v{b.version}"} <= labels
    assert sum(r.acceptance.decided for r in rows) == filled.feedback


def test_evaluation_runs_are_read_newest_first(store: Store) -> None:
    assert store.read(lambda s: q.eval_runs(s)) == []
    filled = fill_history(store, executions=50, days=1, now=NOW)
    add_eval_runs(store, filled, NOW)
    runs = store.read(lambda s: q.eval_runs(s))
    assert runs is not None and len(runs) == 6
    assert [r.finished_at for r in runs] == sorted((r.finished_at for r in runs), reverse=True)
    board = q.leaderboard(runs)
    assert list(board) == ["cwe-top25", "humaneval-mini"]
    assert [r.primary_metric for r in board["humaneval-mini"]] == [
        ("pass@1", 0.62),
        ("pass@1", 0.55),
        ("pass@1", 0.41),
    ]  # the failed run (no score) is left out
    assert board["cwe-top25"][0].metrics == {"f1": 0.71, "precision": 0.78, "recall": 0.66}
    assert board["humaneval-mini"][0].version is not None
    recent = store.read(lambda s: q.eval_runs(s, since=NOW - timedelta(days=1, hours=12)))
    assert recent is not None
    assert {r.id for r in recent} == {f"01EVALRUN{n:017d}" for n in (3, 4, 6)}


def test_frequent_errors_are_counted_with_the_latest_message(store: Store) -> None:
    for i in range(3):
        store.record_execution(
            make_record(
                success=False,
                error_class="TimeoutError",
                error_message=f"took too long #{i}",
                created_at=NOW + timedelta(minutes=i),
            )
        )
    store.record_execution(make_record(success=False, error_class=None, created_at=NOW))
    store.flush().result(10)
    first, second = store.read(lambda s: q.frequent_errors(s, HistoryFilter()))
    assert (first.error_class, first.count, first.example) == (
        "TimeoutError",
        3,
        "took too long #2",
    )
    assert first.last_seen == NOW + timedelta(minutes=2)
    assert (second.error_class, second.count) == ("(unclassified)", 1)


def test_the_report_shows_the_same_stats_as_the_stats_command(store: Store) -> None:
    """The whole report renders on this database, its tables carrying the `stats` values."""
    filled = fill_history(store, executions=400, days=4, now=NOW)
    add_eval_runs(store, filled, NOW)
    html = build_report(store, HistoryFilter(), NOW)
    stats = store.read(lambda s: compute_stats(s, "model", HistoryFilter()))
    for row in stats:
        assert f'data-key="count" data-value="{row.count}"' in html
    assert "Leaderboard: humaneval-mini (pass@1)" in html
    assert html.count("<canvas") == 15
