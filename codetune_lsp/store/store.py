"""The store's API for the server and the engine: :func:`open_store` and :class:`Store`.

Writes (executions, feedback, cache entries, prompt versions) are queued to the process's single
writer thread and return a :class:`Pending` that resolves once COMMITTED; queueing costs
microseconds, so it is safe on the event loop. Reads that the engine needs on the request path
(cache lookups, label resolution) are ``async`` and run in a worker thread; the CLI uses the
synchronous ``read``/``write``. ``aclose()`` (for ``server.on_close``) drains the queue.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codetune_lsp.paths import Paths
from codetune_lsp.redaction import mask_url, redact
from codetune_lsp.settings import Settings, StoreSettings
from codetune_lsp.store import cache as cache_ops
from codetune_lsp.store import prompts
from codetune_lsp.store.cache import (
    CacheCounters,
    CachedResponse,
    CachePolicy,
    CacheRequest,
    CacheSize,
)
from codetune_lsp.store.db import (
    database_url,
    make_engine,
    read_transaction,
    sqlite_path,
    write_transaction,
)
from codetune_lsp.store.ids import new_ulid
from codetune_lsp.store.migrate import upgrade
from codetune_lsp.store.quick import QuickReader
from codetune_lsp.store.records import EXECUTIONS, ExecutionRecord, build_execution_row
from codetune_lsp.store.tables import FEEDBACK_KINDS, Feedback, utcnow
from codetune_lsp.store.writer import BatchWriter, Pending

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_COMMENT_CHARS = 4000
# Up to this size a prompt's cache lookup (secret scan included) runs on the caller's thread.
QUICK_PROMPT_CHARS = 32_000
FEEDBACK: Table = Feedback.__table__  # type: ignore[assignment]
FEEDBACK_INSERT = FEEDBACK.insert()  # built once: SQLAlchemy keeps its compiled form


class UnknownExecutionError(LookupError):
    """Feedback names an execution id the store does not have."""


def open_store(
    settings: Settings | StoreSettings,
    paths: Paths,
    *,
    migrate: bool = True,
    max_batch: int = 512,
) -> Store:
    """Open (creating and migrating as needed) the store configured by ``settings``."""
    store_settings = settings.store if isinstance(settings, Settings) else settings
    url = database_url(store_settings, paths)
    engine = make_engine(url, synchronous=store_settings.synchronous)
    try:
        if migrate:
            upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, store_settings, max_batch=max_batch)


def _close_at_exit(ref: weakref.ref[Store]) -> None:
    store = ref()
    if store is not None:
        store.close()


class Store:
    """History, feedback, response cache and prompt versions behind one object."""

    def __init__(
        self, engine: Engine, settings: StoreSettings | None = None, *, max_batch: int = 512
    ) -> None:
        self.db_engine = engine
        self.settings = settings or StoreSettings()
        self.cache_policy = CachePolicy.from_settings(self.settings)
        self.cache_counters = CacheCounters()
        self._cache_size = CacheSize()  # used on the writer thread only
        self._writer = BatchWriter(engine, max_batch=max_batch)
        self._quick = _quick_reader(engine)
        # A per-instance callable, so unregistering it leaves other stores registered.
        self._atexit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._atexit)

    def __repr__(self) -> str:
        return f"Store({mask_url(str(self.db_engine.url))!r})"

    @property
    def dialect(self) -> str:
        return self.db_engine.dialect.name

    @property
    def writer(self) -> BatchWriter:
        return self._writer

    # -- executions -----------------------------------------------------------------------
    def record_execution(
        self, record: ExecutionRecord, *, execution_id: str | None = None
    ) -> Pending[str]:
        """Queue ``record``; the Pending carries the new id now and resolves after commit.

        ``execution_id``: the id already handed out for it (a write held until the store
        opened); a new one otherwise."""
        record.validate()
        execution_id = execution_id or new_ulid()
        created_at = record.created_at or utcnow()
        record_text = self.settings.record_text
        return self._writer.submit_row(
            EXECUTIONS,
            lambda: build_execution_row(record, execution_id, created_at, record_text),
            result=execution_id,
            id=execution_id,
        )

    def record_cache_hit(self, record: ExecutionRecord, cached: CachedResponse) -> Pending[str]:
        """Record an answer served from the cache: cache flag set, cost 0."""
        return self.record_execution(record.as_cache_hit(cached))

    # -- feedback -------------------------------------------------------------------------
    def add_feedback(
        self,
        execution_id: str,
        kind: str,
        *,
        rating: int | None = None,
        comment: str | None = None,
    ) -> Pending[int]:
        """Record what the user did with an execution's result; resolves to the feedback id.

        ``kind``: accepted / rejected (completions), applied / dismissed (code actions), or
        rating (with ``rating`` 1-5). Raises ValueError at once for bad input; the Pending
        raises :class:`UnknownExecutionError` when no such execution was committed.
        """
        if not isinstance(execution_id, str) or not execution_id:
            raise ValueError("execution_id must be a non-empty string")
        if kind not in FEEDBACK_KINDS:
            raise ValueError(f"unknown feedback kind {kind!r}; expected one of {FEEDBACK_KINDS}")
        if kind == "rating":
            if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
                raise ValueError("a rating must be a whole number from 1 to 5")
        elif rating is not None:
            raise ValueError(f"feedback of kind {kind!r} takes no rating")
        if comment is not None and not isinstance(comment, str):
            raise ValueError("comment must be a string")
        created_at = utcnow()

        def insert(conn: Connection) -> int:
            # One statement: the foreign key refuses an unknown execution id (kind and rating
            # were checked above, so no other constraint can fail).
            text = redact(comment)[:MAX_COMMENT_CHARS] if comment is not None else None
            row = {
                "execution_id": execution_id,
                "kind": kind,
                "rating": rating,
                "comment": text,
                "created_at": created_at,
            }
            try:
                result = conn.execute(FEEDBACK_INSERT, row)
            except IntegrityError as exc:
                raise UnknownExecutionError(f"no execution with id {execution_id!r}") from exc
            assert result.inserted_primary_key is not None
            return int(result.inserted_primary_key[0])

        return self._writer.submit(insert)

    # -- response cache -------------------------------------------------------------------
    def cache_lookup(self, request: CacheRequest) -> CachedResponse | None:
        """Synchronous lookup (counts hit/miss, queues the LRU touch). Prefer ``cache_get``."""
        if self.cache_policy.bypass_reason(request):
            self.cache_counters.add("bypassed")
            return None
        now = utcnow()
        key = request.key
        if self._quick is not None:
            found = self._quick.cache_lookup(key, now)
        else:
            with read_transaction(self.db_engine) as conn:
                found = cache_ops.lookup(conn, key, now)
        if found is None:
            self.cache_counters.add("misses")
            return None
        self.cache_counters.add("hits")
        self.touch_cache(key, now)
        return found

    def touch_cache(self, key: str, now: datetime) -> Pending[None]:
        """Count a hit on the entry under ``key`` and mark it used at ``now`` (for the LRU)."""
        return self._writer.submit(lambda conn: cache_ops.touch(conn, key, now))

    async def cache_get(self, request: CacheRequest) -> CachedResponse | None:
        """Look ``request`` up without blocking the event loop. On a SQLite file, a prompt of
        ordinary size is scanned and looked up right here (a primary-key read on the quick
        connection, tens of microseconds); otherwise both run in a worker thread."""
        if self.cache_policy.quick_bypass_reason(request):
            self.cache_counters.add("bypassed")
            return None
        if self._quick is not None and len(request.prompt) <= QUICK_PROMPT_CHARS:
            return self.cache_lookup(request)
        return await asyncio.to_thread(self.cache_lookup, request)

    def cache_put(
        self, request: CacheRequest, response: CachedResponse, *, success: bool = True
    ) -> Pending[bool]:
        """Store a response; resolves to False when the policy refuses it (errors, sampling,
        secrets). The secret scan runs on the writer thread, not the caller's."""
        policy = self.cache_policy
        if not success or policy.quick_bypass_reason(request):
            self.cache_counters.add("refused")
            return Pending.resolved(False)
        now = utcnow()
        counters, size = self.cache_counters, self._cache_size

        def put(conn: Connection) -> bool:
            if policy.refuse_reason(request, response, success):
                counters.add("refused")
                return False
            cache_ops.put(conn, request, response, policy, now, size)
            counters.add("stored")
            return True

        return self._writer.submit(put)

    def invalidate_cache(self, template_version_id: int) -> Pending[int]:
        """Drop cached responses of one template version; resolves to the number dropped."""
        return self._writer.submit(
            self._bulk(lambda conn: cache_ops.invalidate_version(conn, template_version_id))
        )

    def clear_cache(self) -> Pending[int]:
        return self._writer.submit(self._bulk(cache_ops.clear))

    def prune_cache(self) -> Pending[dict[str, int]]:
        """Delete expired entries and the least recently used ones above the cap."""
        cap = self.cache_policy.max_entries
        return self._writer.submit(self._bulk(lambda conn: cache_ops.prune(conn, utcnow(), cap)))

    def _bulk(self, fn: Callable[[Connection], T]) -> Callable[[Connection], T]:
        """``fn`` deleting cache entries in bulk: the running count is taken again after it."""

        def run(conn: Connection) -> T:
            self._cache_size.forget()
            return fn(conn)

        return run

    def cache_stats(self) -> dict[str, Any]:
        """Entries, size, hits and expired entries, the recorded hit rate, and the policy."""
        policy = self.cache_policy
        with read_transaction(self.db_engine) as conn:
            info = {
                **cache_ops.table_stats(conn, utcnow()),
                **cache_ops.recorded_hit_rate(conn),
            }
        info["max_entries"] = policy.max_entries
        info["ttl_s"] = int(policy.ttl.total_seconds()) if policy.ttl else None
        info["enabled"] = policy.enabled
        info["cache_sampled"] = policy.cache_sampled
        return info

    # -- prompt versions ------------------------------------------------------------------
    def create_version(
        self,
        template: str,
        body: str,
        config: dict[str, Any] | None = None,
        note: str = "",
    ) -> Pending[prompts.VersionInfo]:
        return self.submit(lambda s: prompts.create_version(s, template, body, config, note))

    def set_label(
        self, template: str, label: str, version_id: int, actor: str = "", reason: str = ""
    ) -> Pending[prompts.LabelInfo]:
        return self.submit(
            lambda s: prompts.set_label(s, template, label, version_id, actor, reason)
        )

    def rollback_label(
        self, template: str, label: str, actor: str = "", reason: str = "rollback"
    ) -> Pending[prompts.LabelInfo]:
        return self.submit(lambda s: prompts.rollback_label(s, template, label, actor, reason))

    def create_experiment(
        self, name: str, template: str, arms: Sequence[tuple[str, int, float]]
    ) -> Pending[prompts.ExperimentInfo]:
        return self.submit(lambda s: prompts.create_experiment(s, name, template, arms))

    async def resolve_label(self, template: str, label: str) -> prompts.VersionInfo | None:
        return await self.aread(lambda s: prompts.resolve_label(s, template, label))

    async def active_experiment(self, template: str) -> prompts.ExperimentInfo | None:
        return await self.aread(lambda s: prompts.active_experiment(s, template))

    def prompt_change_counter(self) -> int:
        """Bumped by every prompt write in any process (one small indexed read)."""
        if self._quick is not None:
            return self._quick.prompt_change_counter()
        return self.read(prompts.change_counter)

    async def aprompt_change_counter(self) -> int:
        """The counter without a thread hop on SQLite: in WAL mode a read of one primary-key
        row never waits for a writer, so it is cheaper than moving to a worker thread.
        On PostgreSQL (a network round trip) it runs in a thread."""
        if self.dialect == "sqlite":
            return self.prompt_change_counter()
        return await self.aread(prompts.change_counter)

    # -- evaluation runs ------------------------------------------------------------------
    @property
    def evaluations(self) -> Any:
        """The evaluation-run repository functions (``store.evaluations.create_run`` ...);
        call them through ``read``/``write``."""
        from codetune_lsp.store import evaluations

        return evaluations

    # -- generic access -------------------------------------------------------------------
    def submit(self, fn: Callable[[Session], T]) -> Pending[T]:
        """Run ``fn(session)`` in a write transaction on the writer thread."""

        def run(conn: Connection) -> T:
            with Session(bind=conn, expire_on_commit=False) as session:
                result = fn(session)
                session.commit()  # releases the session's savepoint; the writer commits
            return result

        return self._writer.submit(run)

    def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in a read transaction on this thread (never blocks writers)."""
        with read_transaction(self.db_engine) as conn, Session(bind=conn) as session:
            return fn(session)

    async def aread(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self.read, fn)

    def write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in a write transaction on this thread (CLI, tests, scripts)."""
        with (
            write_transaction(self.db_engine) as conn,
            Session(bind=conn, expire_on_commit=False) as session,
        ):
            result = fn(session)
            session.commit()
        return result

    # -- lifecycle ------------------------------------------------------------------------
    def pace_writes(self, until_quiet: Callable[[], float] | None) -> None:
        """Hold the queued writes until the owner's next pause: ``until_quiet()`` says how
        many seconds away it is (see ``BatchWriter.pace``). A write someone waits for goes
        at once."""
        self._writer.pace(until_quiet)

    def flush(self) -> Pending[None]:
        """Resolves once everything queued before it is committed."""
        return self._writer.flush()

    def close(self, timeout: float | None = 30.0) -> None:
        """Drain the write queue and release the database. Idempotent."""
        if not self._writer.closed:
            self._writer.close(timeout)
            if self._quick is not None:
                self._quick.close()
            self.db_engine.dispose()
        atexit.unregister(self._atexit)

    async def aclose(self) -> None:
        """``close()`` off the event loop; suitable for ``server.on_close``."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quick_reader(engine: Engine) -> QuickReader | None:
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    return QuickReader(str(path)) if path is not None else None
