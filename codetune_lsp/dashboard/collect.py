"""Everything the report shows, read from the store in one read transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from codetune_lsp.store import dashboard as queries
from codetune_lsp.store.history import HistoryFilter, StatsRow, compute_stats


@dataclass(frozen=True)
class ReportData:
    filters: HistoryFilter
    generated_at: datetime
    unit: queries.Unit
    buckets: list[str]
    by_feature: list[StatsRow]  # the same rows as `stats --by feature` (last: "(all)")
    by_model: list[StatsRow]
    by_version: list[StatsRow]
    feature_timeline: list[queries.TimePoint]
    model_timeline: list[queries.TimePoint]
    acceptance: list[queries.VersionAcceptance]
    experiments: list[queries.ExperimentResult]
    errors: list[queries.ErrorCount]
    eval_runs: list[queries.EvalRun] | None  # None: the store has no evaluation tables

    @property
    def total(self) -> StatsRow:
        return self.by_feature[-1]


def collect(session: Any, filters: HistoryFilter, now: datetime) -> ReportData:
    """Query every section of the report for the executions matching ``filters``."""
    span = queries.time_span(session, filters)
    if span is None:
        unit: queries.Unit = "day"
        buckets: list[str] = []
        feature_timeline: list[queries.TimePoint] = []
        model_timeline: list[queries.TimePoint] = []
    else:
        first = filters.since or span[0]
        unit = queries.choose_unit(first, span[1])
        buckets = queries.bucket_range(first, span[1], unit)
        feature_timeline = queries.timeline(session, filters, unit, "feature")
        model_timeline = queries.timeline(session, filters, unit, "model", ttft=False)
    return ReportData(
        filters=filters,
        generated_at=now,
        unit=unit,
        buckets=buckets,
        by_feature=compute_stats(session, "feature", filters),
        by_model=compute_stats(session, "model", filters),
        by_version=compute_stats(session, "version", filters),
        feature_timeline=feature_timeline,
        model_timeline=model_timeline,
        acceptance=queries.acceptance_by_version(session, filters),
        experiments=queries.experiments(session, filters),
        errors=queries.frequent_errors(session, filters),
        eval_runs=queries.eval_runs(session, filters.since),
    )
