"""History queries and stats (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from codetune_lsp.store import Store
from codetune_lsp.store.history import (
    HistoryError,
    HistoryFilter,
    compute_stats,
    count_older,
    get_execution,
    iter_executions,
    list_executions,
    parse_duration,
    parse_since,
    percentile,
    purge,
)
from tests.store.conftest import make_record

NOW = datetime.now(UTC)


def test_durations_and_since() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration("2w") == timedelta(days=14)
    now = datetime(2026, 5, 10, tzinfo=UTC)
    assert parse_since("1d", now) == datetime(2026, 5, 9, tzinfo=UTC)
    assert parse_since("2026-05-01", now) == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_since("2026-05-01T10:00:00+02:00", now) == datetime(2026, 5, 1, 8, tzinfo=UTC)
    for bad in ("yesterday", "1y", "", "-1d"):
        with pytest.raises(HistoryError):
            parse_since(bad, now)


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert percentile([10, 1, 5], 0) == 1 and percentile([10, 1, 5], 100) == 10


def _populate(store: Store) -> dict[str, str]:
    v1 = store.create_version("completion.infill", "one").result()
    v2 = store.create_version("completion.infill", "two").result()
    ids: dict[str, str] = {}
    rows = [
        # name, feature, model, version, success, latency, ttft, cache, cost, age (days)
        ("c1", "completion", "small", v1.id, True, 10.0, 2.0, False, 0.01, 0),
        ("c2", "completion", "small", v1.id, True, 20.0, 4.0, True, 0.02, 0),
        ("c3", "completion", "small", v2.id, False, 30.0, None, False, 0.03, 0),
        ("c4", "completion", "big", v2.id, True, 40.0, 8.0, False, 0.04, 3),
        ("d1", "diagnostics", "big", None, True, 100.0, 50.0, False, 0.10, 0),
        ("d2", "diagnostics", "big", None, False, 300.0, None, False, 0.30, 40),
    ]
    for name, feature, model, version, ok, latency, ttft, hit, cost, age in rows:
        ids[name] = store.record_execution(
            make_record(
                feature=feature,
                model_profile=model,
                resolved_version_id=version,
                template_name="completion.infill" if version else "diagnostics.security",
                success=ok,
                error_class=None if ok else "BackendError",
                latency_ms=latency,
                ttft_ms=ttft,
                cache_hit=hit,
                estimated_cost=cost,
                input_tokens=10,
                output_tokens=2,
                created_at=NOW - timedelta(days=age, minutes=len(ids)),
            )
        ).result(timeout=10)
    for name, kind in [("c1", "accepted"), ("c2", "rejected"), ("c4", "accepted")]:
        store.add_feedback(ids[name], kind).result(timeout=10)
    store.add_feedback(ids["d1"], "applied").result(timeout=10)
    store.add_feedback(ids["d1"], "rating", rating=5).result(timeout=10)  # not a decision
    return ids


def test_list_filters(store: Store) -> None:
    ids = _populate(store)
    newest_first = store.read(lambda s: list_executions(s))
    assert [r["id"] for r in newest_first] == [ids[n] for n in ("c1", "c2", "c3", "d1", "c4", "d2")]

    def names(**kw: object) -> set[str]:
        found = store.read(lambda s: list_executions(s, HistoryFilter(**kw)))  # type: ignore[arg-type]
        return {n for n, i in ids.items() if i in {r["id"] for r in found}}

    assert names(feature="diagnostics") == {"d1", "d2"}
    assert names(template="completion.infill") == {"c1", "c2", "c3", "c4"}
    assert names(model="big") == {"c4", "d1", "d2"}
    assert names(model="Salesforce/codet5p-220m-py") == set(ids)  # the model id works too
    assert names(failed=True) == {"c3", "d2"}
    assert names(since=NOW - timedelta(days=1)) == {"c1", "c2", "c3", "d1"}
    assert names(feature="completion", failed=True) == {"c3"}
    assert len(store.read(lambda s: list_executions(s, limit=2))) == 2


def test_show_by_id_and_prefix(store: Store) -> None:
    ids = _populate(store)
    row = store.read(lambda s: get_execution(s, ids["c1"]))
    assert row is not None
    assert row["template_version"] == 1
    assert row["prompt_text"] == make_record().rendered_prompt
    assert [f["kind"] for f in row["feedback"]] == ["accepted"]
    assert store.read(lambda s: get_execution(s, ids["d2"].lower()))["id"] == ids["d2"]  # type: ignore[index]
    assert store.read(lambda s: get_execution(s, "ZZZZZZZZ")) is None
    with pytest.raises(HistoryError, match="ambiguous"):
        store.read(lambda s: get_execution(s, "0"))


def test_export_iterates_everything_in_pages(store: Store) -> None:
    for _ in range(25):
        store.record_execution(make_record())
    store.flush().result(timeout=10)
    rows = store.read(lambda s: list(iter_executions(s, page=7)))
    assert len(rows) == 25
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_purge_deletes_old_rows_feedback_and_unused_prompts(store: Store) -> None:
    ids = _populate(store)
    store.record_execution(
        make_record(rendered_prompt="only old", created_at=NOW - timedelta(days=100))
    ).result(timeout=10)
    cutoff = NOW - timedelta(days=30)
    assert store.read(lambda s: count_older(s, cutoff)) == 2
    counts = store.write(lambda s: purge(s, cutoff))
    assert counts == {"executions": 2, "feedback": 0, "prompt_texts": 1}
    remaining = {r["id"] for r in store.read(lambda s: list_executions(s))}
    assert ids["d2"] not in remaining and len(remaining) == 5
    counts = store.write(lambda s: purge(s, NOW - timedelta(days=1)))
    assert counts["executions"] == 1 and counts["feedback"] == 1  # c4 and its feedback


def test_stats_by_feature(store: Store) -> None:
    _populate(store)
    rows = {r.group: r for r in store.read(lambda s: compute_stats(s, "feature"))}
    completion = rows["completion"]
    assert completion.count == 4
    assert completion.success_rate == 0.75
    assert completion.latency_p50_ms == 25.0
    assert completion.latency_p95_ms == pytest.approx(38.5)
    assert completion.ttft_p50_ms == 4.0
    assert (completion.tokens_in, completion.tokens_out) == (40, 8)
    assert completion.estimated_cost == pytest.approx(0.08)  # the hit c2 was recorded at 0
    assert completion.cache_hit_rate == 0.25
    assert completion.feedback == 3
    assert completion.acceptance_rate == pytest.approx(2 / 3)
    diagnostics = rows["diagnostics"]
    assert diagnostics.count == 2 and diagnostics.acceptance_rate == 1.0
    assert diagnostics.feedback == 2
    total = rows["(all)"]
    assert total.count == 6 and total.acceptance_rate == pytest.approx(3 / 4)


def test_stats_by_version_model_template_and_since(store: Store) -> None:
    _populate(store)
    by_version = {r.group: r.count for r in store.read(lambda s: compute_stats(s, "version"))}
    assert by_version == {
        "completion.infill@v1": 2,
        "completion.infill@v2": 2,
        "diagnostics.security@?": 2,
        "(all)": 6,
    }
    by_model = {r.group: r.count for r in store.read(lambda s: compute_stats(s, "model"))}
    assert by_model == {"small": 3, "big": 3, "(all)": 6}
    by_template = {r.group: r.count for r in store.read(lambda s: compute_stats(s, "template"))}
    assert by_template == {"completion.infill": 4, "diagnostics.security": 2, "(all)": 6}
    recent = store.read(
        lambda s: compute_stats(s, "feature", HistoryFilter(since=NOW - timedelta(days=1)))
    )
    assert {r.group: r.count for r in recent} == {"completion": 3, "diagnostics": 1, "(all)": 4}
    with pytest.raises(HistoryError):
        store.read(lambda s: compute_stats(s, "colour"))  # type: ignore[arg-type]
