"""Aggregates for the HTML report (``codetune-lsp report``), computed in SQL.

Every function takes a Session in a read transaction and a :class:`HistoryFilter`, and returns
small rows: time buckets, template versions, experiment arms, error classes, evaluation runs.
Percentiles are taken in SQL with window functions (the two rows around the rank, interpolated
here exactly as :func:`codetune_lsp.store.history.percentile` does), so no per-execution row
leaves the database. The evaluation tables belong to the evaluation package; they are read
when present and inspected at run time, so a store without them reports no runs.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.orm import Session

from codetune_lsp.store.history import NEGATIVE, POSITIVE, HistoryFilter
from codetune_lsp.store.significance import _verdict, two_proportion_p
from codetune_lsp.store.tables import (
    Execution,
    Experiment,
    ExperimentArm,
    Feedback,
    PromptTemplate,
    PromptVersion,
)

Unit = Literal["hour", "day", "month"]
TYPE_AHEAD_BACKEND = "type-ahead"  # engine.record_type_ahead's backend name
EVAL_RUNS = "eval_runs"
METRIC_PREFERENCE = ("pass@1", "f1", "accuracy", "precision", "recall")
# SQLite keeps timestamps as "YYYY-MM-DD HH:MM:SS.ffffff" text (SQLAlchemy's format), so a
# bucket is a prefix of it: cheaper than strftime() on every row.
_SQLITE_PREFIX: dict[Unit, int] = {"hour": 13, "day": 10, "month": 7}
_PG_FORMATS: dict[Unit, str] = {
    "hour": "YYYY-MM-DD HH24:00",
    "day": "YYYY-MM-DD",
    "month": "YYYY-MM",
}


# -- time buckets ----------------------------------------------------------------------------
def choose_unit(first: datetime, last: datetime) -> Unit:
    """Hours for up to two days, days for up to six months, months beyond."""
    span = last - first
    if span <= timedelta(days=2):
        return "hour"
    if span <= timedelta(days=183):
        return "day"
    return "month"


def bucket_label(moment: datetime, unit: Unit) -> str:
    """The label SQL gives ``moment``'s bucket (UTC)."""
    moment = moment.astimezone(UTC)
    if unit == "hour":
        return moment.strftime("%Y-%m-%d %H:00")
    return moment.strftime("%Y-%m-%d" if unit == "day" else "%Y-%m")


def bucket_range(first: datetime, last: datetime, unit: Unit) -> list[str]:
    """Every bucket label from ``first`` to ``last`` inclusive, gaps included."""
    labels: list[str] = []
    moment = first.astimezone(UTC)
    if unit == "hour":
        moment = moment.replace(minute=0, second=0, microsecond=0)
    else:
        moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if unit == "month":
            moment = moment.replace(day=1)
    end = bucket_label(last, unit)
    while True:
        label = bucket_label(moment, unit)
        labels.append(label)
        if label >= end:
            return labels
        if unit == "hour":
            moment += timedelta(hours=1)
        elif unit == "day":
            moment += timedelta(days=1)
        else:
            moment = (moment.replace(day=28) + timedelta(days=4)).replace(day=1)


def _bucket(session: Session, unit: Unit) -> ColumnElement[str]:
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        prefix = func.substr(Execution.created_at, 1, _SQLITE_PREFIX[unit], type_=String)
        return prefix + ":00" if unit == "hour" else prefix
    if dialect == "postgresql":
        return func.to_char(Execution.created_at, _PG_FORMATS[unit], type_=String)
    raise ValueError(f"the report supports SQLite and PostgreSQL, not {dialect}")


def time_span(session: Session, filters: HistoryFilter) -> tuple[datetime, datetime] | None:
    """First and last execution time matching ``filters`` (None when there is none)."""
    first, last = session.execute(
        select(func.min(Execution.created_at), func.max(Execution.created_at)).where(
            *filters.clauses()
        )
    ).one()
    return None if first is None else (first, last)


# -- percentiles in SQL ----------------------------------------------------------------------
def percentiles(
    session: Session,
    keys: Sequence[Any],  # columns or SQL expressions
    value: Any,
    clauses: Iterable[ColumnElement[bool]],
    qs: Sequence[int] = (50, 95),
) -> dict[tuple[Any, ...], dict[int, float]]:
    """Linear-interpolated percentiles of ``value`` per group of ``keys``.

    The database numbers the non-null values of each group in order and returns only the rows
    at ranks ``floor((n-1)q/100)`` and the one after; the interpolation happens here.
    """
    labelled = [key.label(f"k{i}") for i, key in enumerate(keys)]
    ranked = (
        select(
            *labelled,
            value.label("v"),
            func.row_number().over(partition_by=list(keys), order_by=value).label("rn"),
            func.count().over(partition_by=list(keys)).label("n"),
        )
        .where(*clauses, value.is_not(None))
        .subquery()
    )
    wanted = [ranked.c.rn == (ranked.c.n - 1) * q // 100 + step for q in qs for step in (1, 2)]
    key_columns = [ranked.c[f"k{i}"] for i in range(len(keys))]
    stmt = select(*key_columns, ranked.c.rn, ranked.c.n, ranked.c.v).where(or_(*wanted))
    found: dict[tuple[Any, ...], dict[int, float]] = defaultdict(dict)
    n_of: dict[tuple[Any, ...], int] = {}
    for row in session.execute(stmt):
        key = tuple(row[: len(keys)])
        rn, n, v = row[len(keys) :]
        found[key][int(rn)] = float(v)
        n_of[key] = int(n)
    out: dict[tuple[Any, ...], dict[int, float]] = {}
    for key, ranks in found.items():
        n = n_of[key]
        result = {}
        for q in qs:
            rank = (n - 1) * q / 100
            low = int(rank)
            high = min(low + 1, n - 1)
            a, b = ranks[low + 1], ranks[high + 1]
            result[q] = a + (b - a) * (rank - low)
        out[key] = result
    return out


# -- executions over time --------------------------------------------------------------------
@dataclass(frozen=True)
class TimePoint:
    """One time bucket of one series (a feature or a model profile)."""

    bucket: str
    series: str
    count: int
    failures: int
    cache_hits: int  # answered from the response cache
    type_ahead: int  # answered from the completion's type-ahead memory
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None


def timeline(
    session: Session,
    filters: HistoryFilter,
    unit: Unit,
    by: Literal["feature", "model"],
    ttft: bool = True,
) -> list[TimePoint]:
    """Counts and latency percentiles per bucket and series, oldest bucket first
    (``ttft=False`` skips the time-to-first-token percentiles)."""
    bucket = _bucket(session, unit)
    series = Execution.feature if by == "feature" else Execution.model_profile
    clauses = filters.clauses()
    type_ahead = Execution.backend == TYPE_AHEAD_BACKEND
    stmt = (
        select(
            bucket,
            series,
            func.count(),
            func.sum(case((Execution.success.is_(False), 1), else_=0)),
            func.sum(case((and_(Execution.cache_hit.is_(True), ~type_ahead), 1), else_=0)),
            func.sum(case((type_ahead, 1), else_=0)),
        )
        .where(*clauses)
        .group_by(bucket, series)
    )
    latency = percentiles(session, [bucket, series], Execution.latency_ms, clauses)
    first_token = (
        percentiles(session, [bucket, series], Execution.ttft_ms, clauses, qs=(50,)) if ttft else {}
    )
    points = []
    for label, name, count, failures, hits, ahead in session.execute(stmt):
        lat = latency.get((label, name), {})
        points.append(
            TimePoint(
                bucket=label,
                series=name,
                count=int(count),
                failures=int(failures or 0),
                cache_hits=int(hits or 0),
                type_ahead=int(ahead or 0),
                latency_p50_ms=lat.get(50),
                latency_p95_ms=lat.get(95),
                ttft_p50_ms=first_token.get((label, name), {}).get(50),
            )
        )
    points.sort(key=lambda p: (p.bucket, p.series))
    return points


# -- acceptance per template version ---------------------------------------------------------
def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% by default); None without data."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Acceptance:
    """Feedback on one group's executions: accepted/applied vs rejected/dismissed rows."""

    executions: int = 0
    positive: int = 0
    negative: int = 0

    @property
    def decided(self) -> int:
        return self.positive + self.negative

    @property
    def rate(self) -> float | None:
        return self.positive / self.decided if self.decided else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.positive, self.decided)


@dataclass(frozen=True)
class VersionAcceptance:
    feature: str
    template: str
    version: int | None
    acceptance: Acceptance

    @property
    def label(self) -> str:
        return f"{self.template}@v{self.version}" if self.version is not None else self.template


def _feedback_counts(
    session: Session, keys: Sequence[Any], clauses: list[ColumnElement[bool]]
) -> dict[tuple[Any, ...], tuple[int, int]]:
    positive = func.sum(case((Feedback.kind.in_(POSITIVE), 1), else_=0))
    negative = func.sum(case((Feedback.kind.in_(NEGATIVE), 1), else_=0))
    stmt = (
        select(*keys, positive, negative)
        .select_from(Execution)
        .join(Feedback, Feedback.execution_id == Execution.id)
        .outerjoin(PromptVersion, PromptVersion.id == Execution.resolved_version_id)
        .where(*clauses)
        .group_by(*keys)
    )
    width = len(keys)
    return {
        tuple(row[:width]): (int(row[width] or 0), int(row[width + 1] or 0))
        for row in session.execute(stmt)
    }


def acceptance_by_version(session: Session, filters: HistoryFilter) -> list[VersionAcceptance]:
    """Versions whose executions got accept/reject (or apply/dismiss) feedback."""
    clauses = [*filters.clauses(), Execution.template_name.is_not(None)]
    keys: list[Any] = [Execution.feature, Execution.template_name, PromptVersion.version]
    feedback = _feedback_counts(session, keys, clauses)
    counts = session.execute(
        select(*keys, func.count())
        .outerjoin(PromptVersion, PromptVersion.id == Execution.resolved_version_id)
        .where(*clauses)
        .group_by(*keys)
    )
    rows = []
    for row in counts:
        feature, template, version, count = row[0], row[1], row[2], row[3]
        positive, negative = feedback.get((feature, template, version), (0, 0))
        if positive + negative:
            rows.append(
                VersionAcceptance(
                    feature, template, version, Acceptance(int(count), positive, negative)
                )
            )
    rows.sort(key=lambda r: (r.feature, r.template, r.version or 0))
    return rows


# -- A/B experiments -------------------------------------------------------------------------
@dataclass(frozen=True)
class ArmResult:
    name: str
    version: int
    weight: float
    successes: int
    acceptance: Acceptance

    @property
    def success_rate(self) -> float | None:
        n = self.acceptance.executions
        return self.successes / n if n else None


@dataclass(frozen=True)
class ArmComparison:
    a: str
    b: str
    metric: str  # "acceptance" or "success"
    n_a: int
    n_b: int
    p_value: float | None
    verdict: str


@dataclass(frozen=True)
class ExperimentResult:
    name: str
    template: str
    status: str
    created_at: datetime
    arms: tuple[ArmResult, ...]
    comparisons: tuple[ArmComparison, ...] = field(default=())


def _compare(arms: Sequence[ArmResult]) -> tuple[ArmComparison, ...]:
    found = []
    for a, b in combinations(arms, 2):
        for metric, hits_a, n_a, hits_b, n_b in (
            ("acceptance", a.acceptance.positive, a.acceptance.decided,
             b.acceptance.positive, b.acceptance.decided),
            ("success", a.successes, a.acceptance.executions,
             b.successes, b.acceptance.executions),
        ):  # fmt: skip
            if not n_a or not n_b:
                found.append(ArmComparison(a.name, b.name, metric, n_a, n_b, None, "no data yet"))
                continue
            p = two_proportion_p(hits_a, n_a, hits_b, n_b)
            found.append(ArmComparison(a.name, b.name, metric, n_a, n_b, p, _verdict(p, n_a, n_b)))
    return tuple(found)


def experiments(session: Session, filters: HistoryFilter) -> list[ExperimentResult]:
    """Every experiment with its arms' executions, successes and feedback, newest first."""
    clauses = filters.clauses()
    arm_id = Execution.experiment_arm_id
    executed = {
        row[0]: (int(row[1]), int(row[2] or 0))
        for row in session.execute(
            select(arm_id, func.count(), func.sum(case((Execution.success.is_(True), 1), else_=0)))
            .where(*clauses, arm_id.is_not(None))
            .group_by(arm_id)
        )
    }
    feedback = _feedback_counts(session, [arm_id], [*clauses, arm_id.is_not(None)])
    stmt = (
        select(Experiment, PromptTemplate.name, ExperimentArm, PromptVersion.version)
        .join(PromptTemplate, PromptTemplate.id == Experiment.template_id)
        .join(ExperimentArm, ExperimentArm.experiment_id == Experiment.id)
        .join(PromptVersion, PromptVersion.id == ExperimentArm.version_id)
        .order_by(Experiment.id.desc(), ExperimentArm.id)
    )
    grouped: dict[int, tuple[Experiment, str, list[ArmResult]]] = {}
    for experiment, template, arm, version in session.execute(stmt):
        count, successes = executed.get(arm.id, (0, 0))
        positive, negative = feedback.get((arm.id,), (0, 0))
        entry = grouped.setdefault(experiment.id, (experiment, template, []))
        entry[2].append(
            ArmResult(
                arm.name, version, arm.weight, successes, Acceptance(count, positive, negative)
            )
        )
    results = []
    for experiment, template, arms in grouped.values():
        if filters.template and template != filters.template:
            continue
        results.append(
            ExperimentResult(
                experiment.name,
                template,
                experiment.status,
                experiment.created_at,
                tuple(arms),
                _compare(arms),
            )
        )
    return results


# -- errors ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ErrorCount:
    error_class: str
    feature: str
    count: int
    last_seen: datetime
    example: str | None


def frequent_errors(session: Session, filters: HistoryFilter, limit: int = 10) -> list[ErrorCount]:
    """The most frequent failures by error class and feature, with the latest message."""
    error = func.coalesce(Execution.error_class, "(unclassified)")
    clauses = [*filters.clauses(), Execution.success.is_(False)]
    stmt = (
        select(error, Execution.feature, func.count(), func.max(Execution.created_at))
        .where(*clauses)
        .group_by(error, Execution.feature)
        .order_by(func.count().desc(), error, Execution.feature)
        .limit(limit)
    )
    rows = []
    for name, feature, count, last in session.execute(stmt).all():
        example = session.scalar(
            select(Execution.error_message)
            .where(*clauses, error == name, Execution.feature == feature)
            .order_by(Execution.created_at.desc())
            .limit(1)
        )
        if isinstance(last, str):  # SQLite returns max() of a timestamp as text
            last = datetime.fromisoformat(last)
        rows.append(ErrorCount(name, feature, int(count), last.replace(tzinfo=UTC), example))
    return rows


# -- evaluation runs (tables owned by the evaluation package) -------------------------------
@dataclass(frozen=True)
class EvalRun:
    id: Any
    suite: str
    mode: str | None
    template: str | None
    version: int | None
    model: str | None
    status: str | None
    finished_at: datetime | None
    n_items: int | None
    metrics: dict[str, float]

    @property
    def primary_metric(self) -> tuple[str, float] | None:
        for name in METRIC_PREFERENCE:
            if name in self.metrics:
                return name, self.metrics[name]
        return None

    @property
    def contender(self) -> str:
        version = f"@v{self.version}" if self.version is not None else ""
        return f"{self.template or '?'}{version} · {self.model or '?'}"


def _metrics(summary: Any) -> dict[str, float]:
    if isinstance(summary, str | bytes):
        try:
            summary = json.loads(summary)
        except ValueError:
            return {}
    if not isinstance(summary, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in summary.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def eval_runs(session: Session, since: datetime | None = None) -> list[EvalRun] | None:
    """Evaluation runs, newest first; None when the store has no evaluation tables."""
    connection = session.connection()
    if not inspect(connection).has_table(EVAL_RUNS):
        return None
    table = Table(EVAL_RUNS, MetaData(), autoload_with=connection)
    column = table.c.get
    wanted = ("id", "suite", "mode", "template_name", "model_profile", "model_id", "status",
              "finished_at", "n_items", "summary")  # fmt: skip
    present = [table.c[name] for name in wanted if name in table.c]
    stmt = select(*present)
    version_column = column("template_version_id")
    if version_column is not None:
        stmt = stmt.add_columns(PromptVersion.version.label("version")).outerjoin(
            PromptVersion, PromptVersion.id == version_column
        )
    finished = column("finished_at")
    if since is not None and finished is not None:
        stmt = stmt.where(finished >= since.astimezone(UTC).replace(tzinfo=None))
    if finished is not None:
        stmt = stmt.order_by(finished.desc())
    runs = []
    for row in session.execute(stmt).mappings():
        when = row.get("finished_at")
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        if isinstance(when, datetime) and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        runs.append(
            EvalRun(
                id=row.get("id"),
                suite=str(row.get("suite") or "?"),
                mode=row.get("mode"),
                template=row.get("template_name"),
                version=row.get("version"),
                model=row.get("model_profile") or row.get("model_id"),
                status=row.get("status"),
                finished_at=when,
                n_items=row.get("n_items"),
                metrics=_metrics(row.get("summary")),
            )
        )
    return runs


def leaderboard(runs: Sequence[EvalRun]) -> dict[str, list[EvalRun]]:
    """Per suite, the latest scored run of each (template version, model), best first."""
    latest: dict[tuple[str, str], EvalRun] = {}
    for run in runs:  # newest first: the first seen per contender is its latest
        if run.primary_metric is None or (run.status or "").lower() in {"failed", "error"}:
            continue
        latest.setdefault((run.suite, run.contender), run)
    boards: dict[str, list[EvalRun]] = defaultdict(list)
    for (suite, _), run in latest.items():
        boards[suite].append(run)
    for board in boards.values():
        board.sort(key=lambda r: (-(r.primary_metric or ("", 0.0))[1], r.contender))
    return dict(sorted(boards.items()))
