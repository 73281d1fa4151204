"""The single writer of a process: a thread with a queue, batching many writes per transaction.

Callers on the asyncio event loop only put an item on a queue (microseconds) and get a
:class:`Pending` back; the thread takes whatever is queued (up to ``max_batch``), applies it in
ONE write transaction and resolves each item's future only after the COMMIT returned. So a
resolved future means "durably recorded" and a caller that awaits it knows.

Failure isolation: a batch first runs without savepoints (each costs two statements, and
almost every batch succeeds). When an item fails (a foreign key that does not exist, a
validation error), that transaction is rolled back and the batch runs again with each group of
rows and each call inside a savepoint of its own, so the bad item fails alone and the rest of
the batch commits. A one-item batch needs no second run: its failure is that item's. Calls may
therefore run more than once (as they already may when a transaction is retried), so their
effects outside the database must tolerate that. A transaction-level failure (disk full, lock
timeout) is retried a few times, then every item of the batch fails with that error.

Pacing: an owner that knows when its process is busy (the language server, during a burst of
requests) can ask the writer to hold its writes until a pause (:meth:`BatchWriter.pace`), at
most ``MAX_HOLD_S``; a write that someone waits for (an awaited :class:`Pending`, a flush,
closing) goes at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.exc import DBAPIError, OperationalError

from codetune_lsp.redaction import redact
from codetune_lsp.store.pending import Pending

log = logging.getLogger(__name__)

T = TypeVar("T")
SideRows = Sequence[tuple[Table, dict[str, Any]]]
# Returns the row, plus rows of other tables to insert first unless already there (by key).
RowBuilder = Callable[[], tuple[dict[str, Any], SideRows]]
TRANSACTION_RETRIES = 5
MAX_HOLD_S = 2.0  # a paced writer holds writes at most this long while work keeps coming
HOLD_ITEMS = 4096  # ... and at most this many
BUSY_BATCH = 32  # the batch size once it writes while the owner is still busy


class StoreClosedError(RuntimeError):
    """The store was closed; nothing more can be written."""


@dataclass(slots=True)
class _Rows:
    """Rows for one table; ``build`` runs on the writer thread (redaction, hashing)."""

    table: Table
    build: RowBuilder
    future: Future[Any]
    result: Any = None


@dataclass(slots=True)
class _Call:
    fn: Callable[[Connection], Any]
    future: Future[Any]


_STOP = object()


class BatchWriter:
    """One writer thread per store (and so per process)."""

    def __init__(self, engine: Engine, *, max_batch: int = 512, name: str = "store-writer"):
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._name = name
        self._conn: Connection | None = None
        self._hurried = threading.Event()
        self._until_quiet: Callable[[], float] | None = None
        self._holding_since: float | None = None  # monotonic time the current hold began
        self.batches = 0
        self.items = 0

    # -- producer side (any thread, never blocks) ------------------------------------------
    def submit_row(
        self,
        table: Table,
        build: RowBuilder,
        result: Any = None,
        id: str | None = None,
    ) -> Pending[Any]:
        """Insert the row ``build()`` returns; the Pending resolves to ``result``."""
        future: Future[Any] = Future()
        self._put(_Rows(table, build, future, result))
        return Pending(future, id, self.hurry)

    def submit(self, fn: Callable[[Connection], T]) -> Pending[T]:
        """Run ``fn(connection)`` inside a write transaction on the writer thread."""
        future: Future[T] = Future()
        self._put(_Call(fn, future))
        return Pending(future, hurry=self.hurry)

    def flush(self) -> Pending[None]:
        """Resolves once everything queued before this call is committed."""
        return self.submit(lambda conn: None)

    def pace(self, until_quiet: Callable[[], float] | None) -> None:
        """Hold queued writes while ``until_quiet()`` (seconds until the owner expects a
        pause; called on the writer thread) is above zero: at most ``MAX_HOLD_S`` from the
        first held one or ``HOLD_ITEMS`` queued, and not once someone waits for a write.
        ``None``: write at once (the default)."""
        self._until_quiet = until_quiet

    def hurry(self) -> None:
        """Someone waits for a queued write: stop holding, write what is queued."""
        self._hurried.set()

    def _put(self, item: Any) -> None:
        if self._closed:
            raise StoreClosedError("the store is closed")
        if self._thread is None:
            with self._lock:
                if self._closed:
                    raise StoreClosedError("the store is closed")
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()
        self._queue.put(item)

    def close(self, timeout: float | None = 30.0) -> None:
        """Drain the queue (everything queued is committed or failed), then stop the thread."""
        with self._lock:
            if self._closed:
                thread = None
            else:
                self._closed = True
                thread = self._thread
                if thread is not None:
                    self._queue.put(_STOP)
                    self._hurried.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.error("the store writer did not finish within %s s", timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            limit = self._wait_for_pause()
            batch = [item]
            while len(batch) < limit:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            try:
                self._process(batch)
            except Exception as exc:  # pragma: no cover - a bug; keep the writer alive
                log.exception("store writer error")
                for item in batch:
                    _fail(item.future, exc)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _wait_for_pause(self) -> int:
        """While paced, wait for the owner's pause (see ``pace``); how many items the next
        batch may take. When the hold ran out while the owner is still busy, the queue goes
        out in small batches, so no single one holds the GIL for long. The hurry flag is
        cleared before the queue is drained, so a hurry for a write queued later is kept."""
        until_quiet = self._until_quiet
        limit = self._max_batch
        if until_quiet is not None:
            now = time.monotonic()
            if self._holding_since is None:
                self._holding_since = now
            deadline = self._holding_since + MAX_HOLD_S
            paused = True
            while not self._hurried.is_set():
                try:
                    wait = until_quiet()
                except Exception:  # a broken pacer must not stop the writes
                    log.exception("the store writer's pacing failed; writing at once")
                    self._until_quiet = None
                    break
                if wait <= 0:
                    break
                if now >= deadline or self._queue.qsize() >= HOLD_ITEMS:
                    paused, limit = False, BUSY_BATCH
                    break
                self._hurried.wait(min(wait, deadline - now))
                now = time.monotonic()
            if paused:
                self._holding_since = None
        self._hurried.clear()
        return limit

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self._engine.connect()
        return self._conn

    def _process(self, batch: list[Any]) -> None:
        # Build rows first (redaction and hashing run here, off the event loop).
        work: list[Any] = []
        for item in batch:
            if isinstance(item, _Rows):
                try:
                    row = item.build()
                except Exception as exc:  # a record that cannot be turned into a row
                    _fail(item.future, exc)
                    continue
                work.append((item, row))
            else:
                work.append((item, None))
        if not work:
            return
        delay = 0.05
        for attempt in range(TRANSACTION_RETRIES):
            try:
                outcomes = self._commit(work)
            except Exception as exc:
                self._reset_connection()
                if attempt + 1 < TRANSACTION_RETRIES and _retryable(exc):
                    log.warning("store write failed (%s); retrying", _describe(exc))
                    time.sleep(delay)
                    delay *= 2
                    continue
                log.error("store write of %d items failed: %s", len(work), _describe(exc))
                for item, _row in work:
                    _fail(item.future, exc)
                return
            self.batches += 1
            self.items += len(work)
            for (item, _row), (ok, value) in zip(work, outcomes, strict=True):
                if ok:
                    _succeed(item.future, value)
                else:
                    _fail(item.future, value)
            return

    def _reset_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # pragma: no cover - best effort
                pass
            self._conn = None

    def _commit(self, work: list[tuple[Any, Any]]) -> list[tuple[bool, Any]]:
        """Commit ``work`` in one transaction; each item's (ok, value or error).

        First without savepoints; when an item fails, that transaction is rolled back and,
        unless the item was alone, the batch runs again with one savepoint per item."""
        try:
            return self._transaction(work, isolate=False)
        except _ItemFailedError as failed:
            if len(work) == 1:
                return [(False, failed.error)]
        return self._transaction(work, isolate=True)

    def _transaction(self, work: list[tuple[Any, Any]], isolate: bool) -> list[tuple[bool, Any]]:
        conn = self._connection()
        outcomes: list[tuple[bool, Any]] = [(False, None)] * len(work)
        with conn.begin():
            index = 0
            while index < len(work):
                item = work[index][0]
                if isinstance(item, _Rows):
                    end = index
                    while (
                        end < len(work)
                        and isinstance(work[end][0], _Rows)
                        and work[end][0].table is item.table
                    ):
                        end += 1
                    if isolate:
                        self._insert_group(conn, work, index, end, outcomes)
                    else:
                        _unisolated(_insert, conn, item.table, [w[1] for w in work[index:end]])
                        for i in range(index, end):
                            outcomes[i] = (True, work[i][0].result)
                    index = end
                elif isolate:
                    try:
                        with conn.begin_nested():
                            outcomes[index] = (True, item.fn(conn))
                    except Exception as exc:
                        if _transaction_level(exc):
                            raise
                        outcomes[index] = (False, exc)
                    index += 1
                else:
                    outcomes[index] = (True, _unisolated(item.fn, conn))
                    index += 1
        return outcomes

    def _insert_group(
        self,
        conn: Connection,
        work: list[tuple[Any, Any]],
        start: int,
        end: int,
        outcomes: list[tuple[bool, Any]],
    ) -> None:
        table = work[start][0].table
        try:
            with conn.begin_nested():
                _insert(conn, table, [work[i][1] for i in range(start, end)])
            for i in range(start, end):
                outcomes[i] = (True, work[i][0].result)
            return
        except Exception as exc:
            if _transaction_level(exc) or end - start == 1:
                if _transaction_level(exc):
                    raise
                outcomes[start] = (False, exc)
                return
        for i in range(start, end):  # find the bad row(s): one savepoint each
            try:
                with conn.begin_nested():
                    _insert(conn, table, [work[i][1]])
                outcomes[i] = (True, work[i][0].result)
            except Exception as exc:
                if _transaction_level(exc):
                    raise
                outcomes[i] = (False, exc)


class _ItemFailedError(Exception):
    """An item failed in a batch run without savepoints (the transaction must roll back)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _unisolated(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``; an item-level error becomes :class:`_ItemFailedError`."""
    try:
        return fn(*args)
    except Exception as exc:
        if _transaction_level(exc):
            raise
        raise _ItemFailedError(exc) from exc


def _insert(conn: Connection, table: Table, built: list[Any]) -> None:
    side: dict[Table, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for _row, extras in built:
        for side_table, side_row in extras:
            key = tuple(side_row[c.name] for c in side_table.primary_key.columns)
            side.setdefault(side_table, {})[key] = side_row
    for side_table, by_key in side.items():
        conn.execute(insert_if_absent(conn, side_table), list(by_key.values()))
    conn.execute(table.insert(), [row for row, _extras in built])


def insert_if_absent(conn: Connection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for SQLite and PostgreSQL (built once per dialect
    and table: a statement object reused keeps its cache key, so SQLAlchemy need not work it
    out again on every execution)."""
    key = (conn.dialect.name, table)
    statement = _IF_ABSENT.get(key)
    if statement is None:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement = pg_insert(table).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(table).on_conflict_do_nothing()
        _IF_ABSENT[key] = statement
    return statement


_IF_ABSENT: dict[tuple[str, Table], Any] = {}


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    text = str(exc).lower()
    markers = ("locked", "busy", "could not serialize", "deadlock")
    return isinstance(exc, OperationalError) and any(m in text for m in markers)


def _transaction_level(exc: BaseException) -> bool:
    """Errors that doom the whole transaction rather than one item."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        text = str(exc).lower()
        return any(w in text for w in ("locked", "busy", "disk", "i/o", "full", "readonly"))
    return False


def _describe(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}".splitlines()[0])[:500]


def _fail(future: Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _succeed(future: Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)
