"""Repository functions for evaluation runs and their items.

A run is created ``running``; items are added once each (unique per run); ``finish_run``
stores the summary and freezes the run. Nothing changes a finished run or its items.
Functions take a Session and return frozen value objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codetune_lsp.redaction import redact
from codetune_lsp.store.canonical import canonical_json
from codetune_lsp.store.ids import new_ulid
from codetune_lsp.store.tables import EvalItem, EvalRun, ImmutableRowError, utcnow


class EvalStoreError(ValueError):
    """An evaluation-run operation that cannot be done (unknown run, finished run...)."""


@dataclass(frozen=True)
class RunInfo:
    id: str
    suite: str
    suite_hash: str
    mode: str
    template_name: str
    template_version_id: int | None
    model_profile: str
    model_id: str
    model_revision: str | None
    quantization: str | None
    params: dict[str, Any]
    status: str
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any] | None
    n_items: int


@dataclass(frozen=True)
class ItemInfo:
    item_id: str
    verdict: str
    score: float
    raw_output: str | None
    served_output: str | None
    reason: str | None
    latency_ms: float | None


def _run_info(row: EvalRun) -> RunInfo:
    return RunInfo(
        row.id,
        row.suite,
        row.suite_hash,
        row.mode,
        row.template_name,
        row.template_version_id,
        row.model_profile,
        row.model_id,
        row.model_revision,
        row.quantization,
        json.loads(row.params_json or "{}"),
        row.status,
        row.started_at,
        row.finished_at,
        json.loads(row.summary_json) if row.summary_json else None,
        row.n_items,
    )


def create_run(session: Session, **fields: Any) -> RunInfo:
    params = fields.pop("params", {})
    row = EvalRun(
        id=new_ulid(),
        params_json=canonical_json(dict(params)),
        status="running",
        started_at=utcnow(),
        **fields,
    )
    session.add(row)
    session.flush()
    return _run_info(row)


def _newest(session: Session, status: str, newest_by: Any, **identity: Any) -> RunInfo | None:
    """The newest run in ``status`` whose identity columns equal ``identity``."""
    params = identity.pop("params")
    conditions = [getattr(EvalRun, column) == value for column, value in identity.items()]
    row = session.scalars(
        select(EvalRun)
        .where(
            *conditions,
            EvalRun.params_json == canonical_json(dict(params)),
            EvalRun.status == status,
        )
        .order_by(newest_by.desc())
    ).first()
    return _run_info(row) if row is not None else None


def find_unfinished(
    session: Session,
    *,
    suite: str,
    suite_hash: str,
    mode: str,
    template_version_id: int | None,
    model_profile: str,
    params: Mapping[str, Any],
) -> RunInfo | None:
    """The newest running run with exactly this identity (to resume it)."""
    return _newest(
        session,
        "running",
        EvalRun.started_at,
        suite=suite,
        suite_hash=suite_hash,
        mode=mode,
        template_version_id=template_version_id,
        model_profile=model_profile,
        params=params,
    )


def _running(session: Session, run_id: str) -> EvalRun:
    row = session.get(EvalRun, run_id)
    if row is None:
        raise EvalStoreError(f"no evaluation run {run_id!r}")
    if row.status != "running":
        raise ImmutableRowError(f"evaluation run {run_id} is {row.status} and immutable")
    return row


def add_item(session: Session, run_id: str, item: ItemInfo) -> None:
    _running(session, run_id)
    session.add(
        EvalItem(
            run_id=run_id,
            item_id=item.item_id,
            verdict=item.verdict,
            score=item.score,
            # Model output and failure text go through the one redaction path, like history.
            raw_output=redact(item.raw_output) if item.raw_output else item.raw_output,
            served_output=redact(item.served_output) if item.served_output else item.served_output,
            reason=redact(item.reason) if item.reason else item.reason,
            latency_ms=item.latency_ms,
            created_at=utcnow(),
        )
    )
    session.flush()


def finish_run(
    session: Session, run_id: str, summary: Mapping[str, Any], model_id: str | None = None
) -> RunInfo:
    row = _running(session, run_id)
    row.summary_json = json.dumps(dict(summary), sort_keys=True)
    row.n_items = (
        session.scalar(select(func.count()).select_from(EvalItem).where(EvalItem.run_id == run_id))
        or 0
    )
    if model_id:
        row.model_id = model_id
    row.finished_at = utcnow()
    row.status = "finished"
    session.flush()
    return _run_info(row)


def get_run(session: Session, run_id: str) -> RunInfo:
    """A run by id, or by a unique prefix of its id."""
    row = session.get(EvalRun, run_id)
    if row is None:
        found = session.scalars(select(EvalRun).where(EvalRun.id.startswith(run_id))).all()
        if len(found) != 1:
            raise EvalStoreError(
                f"no evaluation run {run_id!r}" if not found else f"{run_id!r} is ambiguous"
            )
        row = found[0]
    return _run_info(row)


def list_items(session: Session, run_id: str) -> list[ItemInfo]:
    rows = session.scalars(select(EvalItem).where(EvalItem.run_id == run_id).order_by(EvalItem.id))
    return [
        ItemInfo(
            r.item_id, r.verdict, r.score, r.raw_output, r.served_output, r.reason, r.latency_ms
        )
        for r in rows
    ]


def list_runs(
    session: Session, suite: str | None = None, status: str | None = None, limit: int = 50
) -> list[RunInfo]:
    query = select(EvalRun).order_by(EvalRun.started_at.desc()).limit(limit)
    if suite:
        query = query.where(EvalRun.suite == suite)
    if status:
        query = query.where(EvalRun.status == status)
    return [_run_info(r) for r in session.scalars(query)]


def find_finished(
    session: Session,
    *,
    suite_hash: str,
    mode: str,
    template_version_id: int | None,
    model_profile: str,
    params: Mapping[str, Any],
) -> RunInfo | None:
    """The newest finished run with this identity (reused by the promotion gate)."""
    return _newest(
        session,
        "finished",
        EvalRun.finished_at,
        suite_hash=suite_hash,
        mode=mode,
        template_version_id=template_version_id,
        model_profile=model_profile,
        params=params,
    )


def by_version(session: Session) -> dict[int, list[RunInfo]]:
    """Finished runs grouped by template version id (for ``stats --by version``)."""
    grouped: dict[int, list[RunInfo]] = {}
    rows = session.scalars(
        select(EvalRun)
        .where(EvalRun.status == "finished", EvalRun.template_version_id.is_not(None))
        .order_by(EvalRun.finished_at)
    )
    for row in rows:
        assert row.template_version_id is not None
        grouped.setdefault(row.template_version_id, []).append(_run_info(row))
    return grouped
