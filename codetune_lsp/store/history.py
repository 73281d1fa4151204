"""Reading the history back: filters, listing, one execution in full, export, purge, stats.

Used by the ``history``, ``stats`` and ``cache`` commands. Every function takes a Session in a
transaction (a read transaction for queries, so they never block the writers under WAL).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, delete, func, or_, select
from sqlalchemy.orm import Session

from codetune_lsp.store.tables import Execution, Feedback, PromptText, PromptVersion, utcnow

GroupBy = Literal["feature", "template", "version", "model"]
GROUPS: tuple[GroupBy, ...] = ("feature", "template", "version", "model")
POSITIVE = ("accepted", "applied")
NEGATIVE = ("rejected", "dismissed")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

EXECUTION_COLUMNS: tuple[str, ...] = tuple(c.name for c in Execution.__table__.columns)


class HistoryError(ValueError):
    """A request about the history that cannot be answered (bad id, bad duration...)."""


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d``, ``2w`` → timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise HistoryError(f"not a duration: {text!r} (use e.g. 30m, 12h, 1d, 2w)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A duration back from now (``1d``) or an ISO date/time (UTC unless it says otherwise)."""
    try:
        return (now or utcnow()) - parse_duration(text)
    except HistoryError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise HistoryError(
            f"not a duration or date: {text!r} (use e.g. 1d, 12h, or 2026-05-01)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class HistoryFilter:
    feature: str | None = None
    template: str | None = None
    model: str | None = None  # matches the model profile or the model id
    since: datetime | None = None
    failed: bool = False

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.feature:
            out.append(Execution.feature == self.feature)
        if self.template:
            out.append(Execution.template_name == self.template)
        if self.model:
            out.append(or_(Execution.model_profile == self.model, Execution.model_id == self.model))
        if self.since is not None:
            out.append(Execution.created_at >= self.since)
        if self.failed:
            out.append(Execution.success.is_(False))
        return out


def _row_dict(execution: Execution) -> dict[str, Any]:
    return {name: getattr(execution, name) for name in EXECUTION_COLUMNS}


def list_executions(
    session: Session, filters: HistoryFilter = HistoryFilter(), limit: int = 50
) -> list[dict[str, Any]]:
    """Newest first."""
    stmt = (
        select(Execution)
        .where(*filters.clauses())
        .order_by(Execution.created_at.desc(), Execution.id.desc())
        .limit(limit)
    )
    return [_row_dict(e) for e in session.scalars(stmt)]


def get_execution(session: Session, id_or_prefix: str) -> dict[str, Any] | None:
    """One execution with its prompt text, version number and feedback; a unique id prefix
    is enough."""
    key = id_or_prefix.strip().upper()
    if not key:
        raise HistoryError("empty execution id")
    execution = session.get(Execution, key)
    if execution is None:
        matches = session.scalars(
            select(Execution).where(Execution.id.startswith(key, autoescape=True)).limit(2)
        ).all()
        if len(matches) > 1:
            raise HistoryError(f"execution id prefix {id_or_prefix!r} is ambiguous")
        if not matches:
            return None
        execution = matches[0]
    row = _row_dict(execution)
    row["prompt_text"] = (
        session.scalar(
            select(PromptText.text).where(PromptText.hash == execution.rendered_prompt_hash)
        )
        if execution.rendered_prompt_hash
        else None
    )
    row["template_version"] = (
        session.scalar(
            select(PromptVersion.version).where(PromptVersion.id == execution.resolved_version_id)
        )
        if execution.resolved_version_id is not None
        else None
    )
    row["feedback"] = [
        {
            "id": f.id,
            "kind": f.kind,
            "rating": f.rating,
            "comment": f.comment,
            "created_at": f.created_at,
        }
        for f in session.scalars(
            select(Feedback).where(Feedback.execution_id == execution.id).order_by(Feedback.id)
        )
    ]
    return row


def iter_executions(
    session: Session, filters: HistoryFilter = HistoryFilter(), page: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every matching execution, oldest first, fetched a page at a time (keyset by id)."""
    after = ""
    while True:
        stmt: Select[tuple[Execution]] = (
            select(Execution)
            .where(*filters.clauses(), Execution.id > after)
            .order_by(Execution.id)
            .limit(page)
        )
        batch = session.scalars(stmt).all()
        if not batch:
            return
        for execution in batch:
            yield _row_dict(execution)
        after = batch[-1].id
        session.expunge_all()


def count_older(session: Session, before: datetime) -> int:
    stmt = select(func.count()).select_from(Execution).where(Execution.created_at < before)
    return int(session.execute(stmt).scalar_one())


def purge(session: Session, before: datetime) -> dict[str, int]:
    """Delete executions created before ``before`` (their feedback too) and orphaned prompts."""
    old = select(Execution.id).where(Execution.created_at < before)
    feedback = session.execute(delete(Feedback).where(Feedback.execution_id.in_(old))).rowcount
    executions = session.execute(delete(Execution).where(Execution.created_at < before)).rowcount
    used = select(Execution.rendered_prompt_hash).where(Execution.rendered_prompt_hash.is_not(None))
    prompts = session.execute(delete(PromptText).where(PromptText.hash.not_in(used))).rowcount
    return {
        "executions": executions or 0,
        "feedback": feedback or 0,
        "prompt_texts": prompts or 0,
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of unsorted ``values``."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


@dataclass
class StatsRow:
    group: str
    count: int
    success_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None
    tokens_in: int
    tokens_out: int
    estimated_cost: float
    cache_hit_rate: float | None
    feedback: int
    acceptance_rate: float | None
    decided: int = 0  # feedback that says accepted/applied or rejected/dismissed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Acc:
    count: int = 0
    ok: int = 0
    hits: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    positive: int = 0
    negative: int = 0
    feedback: int = 0
    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)


def _group_column(by: GroupBy) -> list[Any]:
    if by == "feature":
        return [Execution.feature]
    if by == "template":
        return [Execution.template_name]
    if by == "version":
        return [Execution.template_name, PromptVersion.version]
    return [Execution.model_profile]


def _label(by: GroupBy, parts: Sequence[Any]) -> str:
    if by == "version":
        name, version = parts
        if name is None:
            return "-"
        return f"{name}@v{version}" if version is not None else f"{name}@?"
    return str(parts[0]) if parts[0] is not None else "-"


def compute_stats(
    session: Session, by: GroupBy = "feature", filters: HistoryFilter = HistoryFilter()
) -> list[StatsRow]:
    """Per-group metrics plus a final ``(all)`` row; groups sorted by count, descending."""
    if by not in GROUPS:
        raise HistoryError(f"cannot group by {by!r}; choose one of {', '.join(GROUPS)}")
    keys = _group_column(by)
    stmt = select(
        *keys,
        Execution.success,
        Execution.latency_ms,
        Execution.ttft_ms,
        Execution.input_tokens,
        Execution.output_tokens,
        Execution.estimated_cost,
        Execution.cache_hit,
    ).where(*filters.clauses())
    fb_stmt = (
        select(*keys, Feedback.kind, func.count())
        .join(Execution, Execution.id == Feedback.execution_id)
        .where(*filters.clauses())
        .group_by(*keys, Feedback.kind)
    )
    if by == "version":
        stmt = stmt.outerjoin(PromptVersion, PromptVersion.id == Execution.resolved_version_id)
        fb_stmt = fb_stmt.outerjoin(
            PromptVersion, PromptVersion.id == Execution.resolved_version_id
        )
    groups: dict[str, _Acc] = defaultdict(_Acc)
    total = _Acc()
    width = len(keys)
    for row in session.execute(stmt):
        label = _label(by, row[:width])
        success, latency, ttft, tin, tout, cost, hit = row[width:]
        for acc in (groups[label], total):
            acc.count += 1
            acc.ok += 1 if success else 0
            acc.hits += 1 if hit else 0
            acc.tokens_in += tin or 0
            acc.tokens_out += tout or 0
            acc.cost += cost or 0.0
            if latency is not None:
                acc.latency.append(latency)
            if ttft is not None:
                acc.ttft.append(ttft)
    for row in session.execute(fb_stmt):
        label = _label(by, row[:width])
        kind, count = row[width], int(row[width + 1])
        for acc in (groups[label], total):
            acc.feedback += count
            if kind in POSITIVE:
                acc.positive += count
            elif kind in NEGATIVE:
                acc.negative += count

    def finish(label: str, acc: _Acc) -> StatsRow:
        decided = acc.positive + acc.negative
        return StatsRow(
            group=label,
            count=acc.count,
            success_rate=acc.ok / acc.count if acc.count else None,
            latency_p50_ms=percentile(acc.latency, 50),
            latency_p95_ms=percentile(acc.latency, 95),
            ttft_p50_ms=percentile(acc.ttft, 50),
            tokens_in=acc.tokens_in,
            tokens_out=acc.tokens_out,
            estimated_cost=round(acc.cost, 6),
            cache_hit_rate=acc.hits / acc.count if acc.count else None,
            feedback=acc.feedback,
            acceptance_rate=acc.positive / decided if decided else None,
            decided=decided,
        )

    rows = [finish(label, acc) for label, acc in groups.items()]
    rows.sort(key=lambda r: (-r.count, r.group))
    rows.append(finish("(all)", total))
    return rows
