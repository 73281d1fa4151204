"""The Store API the server and engine call, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from codetune_lsp.store import (
    ExecutionRecord,
    Store,
    StoreClosedError,
    UnknownExecutionError,
    canonical_hash,
)
from codetune_lsp.store.canonical import sha256_hex
from codetune_lsp.store.ids import ulid_time
from codetune_lsp.store.tables import Execution, Feedback, PromptText
from tests.store.conftest import make_record


def _execution(store: Store, execution_id: str) -> Execution | None:
    return store.read(lambda s: s.get(Execution, execution_id))


def test_record_execution_stores_every_field(store: Store) -> None:
    created = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    record = make_record(
        created_at=created,
        error_class=None,
        cache_hit=False,
        experiment_arm_id=None,
        resolved_version_id=store.create_version("completion.infill", "body").result().id,
    )
    pending = store.record_execution(record)
    assert pending.id is not None and len(pending.id) == 26
    assert pending.result(timeout=10) == pending.id
    row = _execution(store, pending.id)
    assert row is not None
    assert row.created_at == created
    assert (row.feature, row.backend, row.model_profile, row.model_id, row.model_revision) == (
        "completion",
        "local",
        "codet5p-220m-py",
        "Salesforce/codet5p-220m-py",
        "abc123",
    )
    assert (row.document_uri, row.language_id, row.document_version) == (
        "file:///work/project/app.py",
        "python",
        3,
    )
    assert (row.template_name, row.requested_label) == ("completion.infill", "production")
    assert row.resolved_version_id == record.resolved_version_id
    assert row.params_hash == canonical_hash({"temperature": 0, "max_new_tokens": 64})
    assert json.loads(row.params_json or "") == {"temperature": 0, "max_new_tokens": 64}
    assert row.rendered_prompt_hash == sha256_hex(record.rendered_prompt or "")
    assert (row.output, row.finish_reason, row.success) == ("a + b", "stop", True)
    assert (row.error_class, row.error_message) == (None, None)
    assert (row.latency_ms, row.ttft_ms, row.input_tokens, row.output_tokens) == (42.5, 12.0, 17, 4)
    assert (row.cache_hit, row.estimated_cost) == (False, 0.0001)
    prompt = store.read(lambda s: s.get(PromptText, row.rendered_prompt_hash))
    assert prompt is not None and prompt.text == record.rendered_prompt


def test_ids_sort_in_creation_order(store: Store) -> None:
    ids = [store.record_execution(make_record()).id for _ in range(300)]
    store.flush().result(timeout=10)
    assert ids == sorted(ids)
    assert abs(ulid_time(ids[0]) - datetime.now(UTC)) < timedelta(minutes=1)
    stored = store.read(lambda s: s.scalars(select(Execution.id).order_by(Execution.id)).all())
    assert stored == ids


def test_same_prompt_text_is_stored_once(store: Store) -> None:
    for _ in range(5):
        store.record_execution(make_record(rendered_prompt="shared prompt"))
    store.record_execution(make_record(rendered_prompt="another prompt"))
    store.flush().result(timeout=10)
    assert store.read(lambda s: s.scalar(select(func.count()).select_from(PromptText))) == 2


def test_failed_execution_keeps_error(store: Store) -> None:
    pending = store.record_execution(
        make_record(
            success=False, output=None, error_class="TimeoutError", error_message="x" * 9000
        )
    )
    row = _execution(store, pending.result(timeout=10))
    assert row is not None and row.success is False
    assert row.error_class == "TimeoutError"
    assert row.error_message == "x" * 4000  # truncated


async def test_record_is_awaitable_and_committed_when_resolved(store: Store) -> None:
    pending = store.record_execution(make_record())
    execution_id = await pending
    # Another connection (a reader) sees it: the awaited value means committed.
    assert _execution(store, execution_id) is not None


def test_record_text_false_keeps_hashes_and_metrics_only(store_factory: Any) -> None:
    store = store_factory(record_text=False)
    record = make_record(rendered_prompt="PROMPT-MARKER-31337", output="OUTPUT-MARKER-31337")
    row = _execution(store, store.record_execution(record).result(timeout=10))
    assert row is not None
    assert row.output is None
    assert row.rendered_prompt_hash == sha256_hex("PROMPT-MARKER-31337")
    assert row.latency_ms == 42.5 and row.output_tokens == 4
    assert store.read(lambda s: s.scalar(select(func.count()).select_from(PromptText))) == 0


def test_invalid_records_are_rejected_at_once(store: Store) -> None:
    with pytest.raises(ValueError, match="feature"):
        store.record_execution(make_record(feature=""))
    with pytest.raises(ValueError, match="output_tokens"):
        store.record_execution(make_record(output_tokens=-1))
    with pytest.raises(ValueError, match="timezone"):
        store.record_execution(make_record(created_at=datetime(2026, 1, 1)))


def test_a_bad_row_fails_alone_and_the_batch_commits(store: Store) -> None:
    good_before = [store.record_execution(make_record()) for _ in range(20)]
    bad = store.record_execution(make_record(resolved_version_id=987654))  # no such version
    good_after = [store.record_execution(make_record()) for _ in range(20)]
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        bad.result(timeout=10)
    for pending in good_before + good_after:
        assert _execution(store, pending.result(timeout=10)) is not None
    assert _execution(store, bad.id or "") is None


def test_a_failing_call_in_a_batch_fails_alone_and_leaves_nothing(store: Store) -> None:
    # Hold the writer so that everything after the blocker lands in one batch; that batch
    # runs without savepoints first, fails, and runs again with one savepoint per item.
    started, release = threading.Event(), threading.Event()

    def blocker(conn: Any) -> None:
        started.set()
        assert release.wait(timeout=10)

    held = store.writer.submit(blocker)
    assert started.wait(timeout=10)
    batches = store.writer.batches
    first = store.record_execution(make_record())
    unknown = store.add_feedback("NOPE", "rejected")
    accepted = store.add_feedback(first.id or "", "accepted")

    def half_then_fail(conn: Any) -> None:
        row = {"hash": "f" * 64, "text": "half", "created_at": datetime.now(UTC)}
        conn.execute(PromptText.__table__.insert(), row)
        raise ValueError("broken call")

    broken = store.writer.submit(half_then_fail)
    last = store.record_execution(make_record())
    release.set()
    held.result(timeout=10)
    with pytest.raises(UnknownExecutionError):
        unknown.result(timeout=10)
    with pytest.raises(ValueError, match="broken call"):
        broken.result(timeout=10)
    assert accepted.result(timeout=10) > 0
    for pending in (first, last):
        assert _execution(store, pending.result(timeout=10)) is not None
    assert store.writer.batches == batches + 2  # the blocker's and this one
    assert store.read(lambda s: s.get(PromptText, "f" * 64)) is None


def test_feedback_kinds_and_validation(store: Store) -> None:
    execution_id = store.record_execution(make_record()).result(timeout=10)
    ids = [
        store.add_feedback(execution_id, "accepted").result(timeout=10),
        store.add_feedback(execution_id, "rejected").result(timeout=10),
        store.add_feedback(execution_id, "applied").result(timeout=10),
        store.add_feedback(execution_id, "dismissed").result(timeout=10),
        store.add_feedback(execution_id, "rating", rating=4, comment="nice").result(timeout=10),
    ]
    assert len(set(ids)) == 5
    rows = store.read(
        lambda s: [
            (f.kind, f.rating, f.comment) for f in s.scalars(select(Feedback).order_by(Feedback.id))
        ]
    )
    assert rows == [
        ("accepted", None, None),
        ("rejected", None, None),
        ("applied", None, None),
        ("dismissed", None, None),
        ("rating", 4, "nice"),
    ]
    with pytest.raises(ValueError, match="unknown feedback kind"):
        store.add_feedback(execution_id, "liked")
    with pytest.raises(ValueError, match="1 to 5"):
        store.add_feedback(execution_id, "rating", rating=6)
    with pytest.raises(ValueError, match="1 to 5"):
        store.add_feedback(execution_id, "rating")
    with pytest.raises(ValueError, match="takes no rating"):
        store.add_feedback(execution_id, "accepted", rating=3)
    with pytest.raises(UnknownExecutionError, match="no execution with id 'NOPE'"):
        store.add_feedback("NOPE", "accepted").result(timeout=10)


async def test_feedback_right_after_record_sees_the_execution(store: Store) -> None:
    # Both go through the same writer, in order: no need to await the record first.
    pending = store.record_execution(make_record())
    feedback = store.add_feedback(pending.id or "", "accepted")
    assert await feedback > 0


async def test_aclose_drains_the_queue(store: Store) -> None:
    pendings = [store.record_execution(make_record()) for _ in range(500)]
    await store.aclose()
    assert all(p.done() for p in pendings)
    assert {p.result() for p in pendings} == {p.id for p in pendings}
    with pytest.raises(StoreClosedError):
        store.record_execution(make_record())


async def test_flush_resolves_after_earlier_writes(store: Store) -> None:
    pendings = [store.record_execution(make_record()) for _ in range(200)]
    await store.flush()
    assert all(p.done() for p in pendings)
    count = store.read(lambda s: s.scalar(select(func.count()).select_from(Execution)))
    assert count == 200


async def test_recording_does_not_block_the_event_loop(store: Store) -> None:
    # Hold the writer in a slow transaction; the loop must keep running meanwhile.
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow(session: Any) -> None:
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)

    blocker = store.submit(slow)
    started = loop.time()
    pending = [store.record_execution(make_record()) for _ in range(100)]
    assert loop.time() - started < 0.5
    assert not any(p.done() for p in pending)
    release.set()
    await blocker
    assert len({await p for p in pending}) == 100


async def test_cancelled_waiter_does_not_cancel_the_write(store: Store) -> None:
    # A cancelled LSP request may be awaiting its record; the row is still written and the
    # writer thread keeps working.
    release = asyncio.Event()
    loop = asyncio.get_running_loop()
    blocker = store.submit(
        lambda s: asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)
    )
    pending = store.record_execution(make_record())
    task = asyncio.create_task(_await(pending))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await blocker
    assert await pending == pending.id
    assert _execution(store, pending.id or "") is not None
    assert await store.record_execution(make_record())  # the writer is alive


async def _await(pending: Any) -> Any:
    return await pending


def test_record_from_threads(store: Store) -> None:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        ids = list(
            pool.map(lambda _: store.record_execution(make_record()).result(timeout=30), range(200))
        )
    assert len(set(ids)) == 200
    count = store.read(lambda s: s.scalar(select(func.count()).select_from(Execution)))
    assert count == 200


def test_execution_record_is_immutable() -> None:
    record = make_record()
    with pytest.raises(AttributeError):
        record.feature = "x"  # type: ignore[misc]
    assert record.replace(feature="diagnostics").feature == "diagnostics"
    assert isinstance(record, ExecutionRecord)
