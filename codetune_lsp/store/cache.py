"""The response cache: canonical request keys, the caching policy, and its table operations.

Key: sha256 of the canonical JSON of the whole request (backend, model id and revision, rendered
prompt, every sampling parameter, output schema, template version), so any change to any of them
is a different entry. Entries expire after ``ttl``; above ``max_entries`` the least recently used
go first. Never cached: failed executions, sampled requests (temperature > 0 or do_sample) unless
``cache_sampled`` is on, anything while ``record_text`` is off (an entry is output text), and any
prompt or output in which redaction finds a secret (we would otherwise store it, or replay a
mangled answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, case, delete, func, select, update

# The keys and policy live in cache_policy (the engine imports them without SQLAlchemy).
from codetune_lsp.store.cache_policy import (  # noqa: F401 (re-exported)
    CacheCounters,
    CachedResponse,
    CachePolicy,
    CacheRequest,
    request_key,
)
from codetune_lsp.store.tables import CacheEntry, Execution
from codetune_lsp.store.writer import insert_if_absent

CACHE: Table = CacheEntry.__table__  # type: ignore[assignment]
# Built once, so SQLAlchemy keeps its compiled form; the columns to set come with the values.
_REPLACE = update(CACHE).where(CACHE.c.key == bindparam("old_key"))
_TOUCH = _REPLACE.values(hits=CACHE.c.hits + 1)
_ROWCOUNT = {"preserve_rowcount": True}


@dataclass
class CacheSize:
    """The writer's running count of cache entries, so that a put runs the LRU eviction (a
    sort of the whole table) only when the cap is exceeded, not on every put. Other
    processes write to the same table, so it is counted again every ``recount_every`` puts
    and after any bulk delete (``forget``)."""

    recount_every: int = 256
    entries: int | None = None
    puts: int = 0

    def forget(self) -> None:
        self.entries = None


# -- table operations (called with a connection in a transaction) ----------------------------


def lookup(conn: Connection, key: str, now: datetime) -> CachedResponse | None:
    row = conn.execute(
        select(
            CACHE.c.output,
            CACHE.c.finish_reason,
            CACHE.c.input_tokens,
            CACHE.c.output_tokens,
            CACHE.c.expires_at,
        ).where(CACHE.c.key == key)
    ).first()
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return CachedResponse(row.output, row.finish_reason, row.input_tokens, row.output_tokens)


def touch(conn: Connection, key: str, now: datetime) -> None:
    conn.execute(_TOUCH, {"old_key": key, "last_used_at": now})


def put(
    conn: Connection,
    request: CacheRequest,
    response: CachedResponse,
    policy: CachePolicy,
    now: datetime,
    size: CacheSize | None = None,
) -> int:
    """Insert or replace the entry, then evict above the cap; return how many were evicted.

    With ``size`` (the writer's running count) the eviction query runs only when the count
    is over the cap; without it, on every put."""
    row = {
        "key": request.key,
        "template_version_id": request.template_version_id,
        "backend": request.backend,
        "model_id": request.model_id,
        "output": response.output,
        "finish_reason": response.finish_reason,
        "input_tokens": response.input_tokens,
        "output_tokens": response.output_tokens,
        "size_bytes": len(response.output.encode("utf-8")),
        "hits": 0,
        "created_at": now,
        "expires_at": now + policy.ttl if policy.ttl is not None else None,
        "last_used_at": now,
    }
    # A put follows a miss, so the key is almost always new: one INSERT that does nothing on
    # a conflict, and an UPDATE of the row only when it was there (an expired entry).
    # (psycopg reports an INSERT's rowcount only when asked to keep it.)
    replaced = 0
    inserted = conn.execute(insert_if_absent(conn, CACHE), row, execution_options=_ROWCOUNT)
    if not inserted.rowcount:
        conn.execute(_REPLACE, {"old_key": row.pop("key"), **row})
        replaced = 1
    if size is None:
        return evict_over_cap(conn, policy.max_entries)
    if size.entries is None or size.puts >= size.recount_every:
        entries, size.puts = count(conn), 0
    else:
        entries = size.entries + 1 - replaced
    size.puts += 1
    evicted = 0
    if entries > policy.max_entries:
        evicted = evict_over_cap(conn, policy.max_entries)
        if not evicted:  # the running count was high (a batch that ran twice): count again
            entries = count(conn)
    size.entries = entries - evicted
    return evicted


def count(conn: Connection) -> int:
    """How many entries the table holds (expired ones included)."""
    return int(conn.execute(select(func.count()).select_from(CACHE)).scalar_one())


def evict_over_cap(conn: Connection, max_entries: int) -> int:
    """Delete the least recently used entries beyond ``max_entries``."""
    doomed = (
        select(CACHE.c.key)
        .order_by(CACHE.c.last_used_at.desc(), CACHE.c.key.desc())
        .offset(max(max_entries, 0))
        .scalar_subquery()
    )
    return conn.execute(delete(CACHE).where(CACHE.c.key.in_(doomed))).rowcount or 0


def delete_expired(conn: Connection, now: datetime) -> int:
    result = conn.execute(
        delete(CACHE).where(CACHE.c.expires_at.is_not(None), CACHE.c.expires_at <= now)
    )
    return result.rowcount or 0


def invalidate_version(conn: Connection, template_version_id: int) -> int:
    """Drop every entry produced with this template version."""
    result = conn.execute(delete(CACHE).where(CACHE.c.template_version_id == template_version_id))
    return result.rowcount or 0


def clear(conn: Connection) -> int:
    return conn.execute(delete(CACHE)).rowcount or 0


def prune(conn: Connection, now: datetime, max_entries: int) -> dict[str, int]:
    return {"expired": delete_expired(conn, now), "evicted": evict_over_cap(conn, max_entries)}


def recorded_hit_rate(conn: Connection) -> dict[str, Any]:
    """How many recorded executions were answered from the cache."""
    total, hits = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Execution.cache_hit.is_(True), 1), else_=0)), 0),
        )
    ).one()
    return {
        "executions": int(total),
        "executions_from_cache": int(hits),
        "hit_rate_pct": round(100 * int(hits) / int(total), 1) if total else None,
    }


def table_stats(conn: Connection, now: datetime) -> dict[str, Any]:
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(CACHE.c.size_bytes), 0),
            func.coalesce(func.sum(CACHE.c.hits), 0),
            func.min(CACHE.c.created_at),
            func.max(CACHE.c.last_used_at),
        )
    ).one()
    expired = conn.execute(
        select(func.count()).where(CACHE.c.expires_at.is_not(None), CACHE.c.expires_at <= now)
    ).scalar_one()
    return {
        "entries": int(row[0]),
        "bytes": int(row[1]),
        "hits": int(row[2]),
        "expired": int(expired),
        "oldest": row[3],
        "last_used": row[4],
    }
