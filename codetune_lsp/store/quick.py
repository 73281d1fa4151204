"""Plain-sqlite3 reads of the store's SQLite file, without SQLAlchemy: the reads on every
request (the prompt change counter, a cache lookup), and the ones a server makes before its
store is open (the schema revision, where a label points, whether an experiment runs)."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codetune_lsp.store.cache_policy import CachedResponse
from codetune_lsp.store.prompt_info import VersionInfo


class QuickReader:
    """A read-only SQLite connection of its own for the one read on every request (the
    prompt change counter): plain sqlite3 costs tens of microseconds where a SQLAlchemy
    session costs about a millisecond. In WAL mode one SELECT is a consistent snapshot and
    never waits for the writer."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(
                f"{Path(self._path).resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=5.0,
                isolation_level=None,
                check_same_thread=False,
            )
        return self._conn

    def prompt_change_counter(self) -> int:
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT counter FROM prompt_changes WHERE id = 1")
                .fetchone()
            )
        return int(row[0]) if row and row[0] is not None else 0

    def cache_lookup(self, key: str, now: datetime) -> CachedResponse | None:
        """The same read as ``cache.lookup``: the entry under ``key`` unless it expired."""
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT output, finish_reason, input_tokens, output_tokens FROM cache_entries"
                    " WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
                    (key, _stored_datetime(now)),
                )
                .fetchone()
            )
        return CachedResponse(*row) if row is not None else None

    # -- before the store is open --------------------------------------------------------

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._connection().execute(sql, args).fetchone()
        return row

    def schema_revision(self) -> str | None:
        """The Alembic revision the file is at (None without the table)."""
        exists = self._one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        )
        if exists is None:
            return None
        row = self._one("SELECT max(version_num), count(*) FROM alembic_version")
        return str(row[0]) if row is not None and row[1] == 1 else None

    def resolve_label(self, template: str, label: str) -> VersionInfo | None:
        """The same read as ``prompts.resolve_label``: the version ``label`` points at."""
        row = self._one(
            "SELECT v.id, v.version, v.content_hash, v.body, v.config_json, v.note, v.created_at"
            " FROM prompt_versions v"
            " JOIN prompt_labels l ON l.version_id = v.id"
            " JOIN prompt_templates t ON t.id = l.template_id"
            " WHERE t.name = ? AND l.name = ?",
            (template, label),
        )
        if row is None:
            return None
        id_, version, digest, body, config, note, created = row
        return VersionInfo(
            id=int(id_),
            template=template,
            version=int(version),
            content_hash=str(digest),
            body=str(body),
            config=json.loads(config or "{}"),
            note=str(note or ""),
            created_at=_read_datetime(created),
        )

    def last_label_actor(self, template: str, label: str) -> str | None:
        """Who moved ``label`` last (None when it was never moved)."""
        row = self._one(
            "SELECT e.actor FROM label_events e JOIN prompt_templates t ON t.id = e.template_id"
            " WHERE t.name = ? AND e.label = ? ORDER BY e.id DESC LIMIT 1",
            (template, label),
        )
        return str(row[0] or "") if row is not None else None

    def has_active_experiment(self, template: str) -> bool:
        row = self._one(
            "SELECT 1 FROM experiments x JOIN prompt_templates t ON t.id = x.template_id"
            " WHERE t.name = ? AND x.status = 'active' LIMIT 1",
            (template,),
        )
        return row is not None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _stored_datetime(value: datetime) -> str:
    """``value`` as the store writes it to SQLite (naive UTC, fixed width, so it sorts)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _read_datetime(value: Any) -> datetime:
    """A stored timestamp (naive UTC text) as an aware datetime."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC)
