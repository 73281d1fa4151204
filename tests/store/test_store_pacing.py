"""Paced writes: a store whose owner is busy holds its writes for the owner's next pause,
and writes at once what someone waits for."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from codetune_lsp.store import Store, writer
from codetune_lsp.store.tables import Execution
from tests.store.conftest import make_record

TIMEOUT_S = 30


class Owner:
    """The pacer a server would give: busy until told it paused; counts the writer's asks."""

    def __init__(self) -> None:
        self.busy = True
        self.asked = threading.Semaphore(0)

    def until_quiet(self) -> float:
        self.asked.release()
        return 0.05 if self.busy else 0.0

    def wait_asked(self, times: int = 2) -> None:
        """Until the writer has asked ``times`` more times (so it is holding)."""
        for _ in range(times):
            assert self.asked.acquire(timeout=TIMEOUT_S), "the writer never asked for a pause"


def _committed(store: Store, execution_id: str | None) -> bool:
    return store.read(lambda s: s.get(Execution, execution_id)) is not None


@pytest.fixture
def owner(store: Store, monkeypatch: pytest.MonkeyPatch) -> Owner:
    monkeypatch.setattr(writer, "MAX_HOLD_S", 3600.0)  # only a pause or a waiter ends a hold
    paced = Owner()
    store.pace_writes(paced.until_quiet)
    return paced


def test_writes_wait_for_the_owners_pause(store: Store, owner: Owner) -> None:
    pending = store.record_execution(make_record())
    owner.wait_asked()
    assert not pending.done() and not _committed(store, pending.id)
    owner.busy = False
    assert pending.future.result(timeout=TIMEOUT_S) == pending.id  # .future: no hurry
    assert _committed(store, pending.id)


async def test_a_write_someone_awaits_goes_at_once(store: Store, owner: Owner) -> None:
    pending = store.record_execution(make_record())
    await asyncio.to_thread(owner.wait_asked)
    execution_id = await asyncio.wait_for(pending, TIMEOUT_S)  # the owner is still busy
    assert _committed(store, execution_id)


def test_result_and_flush_hurry_the_earlier_writes_too(store: Store, owner: Owner) -> None:
    earlier = [store.record_execution(make_record()) for _ in range(5)]
    owner.wait_asked()
    store.flush().result(timeout=TIMEOUT_S)
    assert all(_committed(store, p.id) for p in earlier)
    later = store.record_execution(make_record())
    assert _committed(store, later.result(timeout=TIMEOUT_S))


def test_closing_writes_what_is_held(store: Store, owner: Owner) -> None:
    pending = store.record_execution(make_record())
    owner.wait_asked()
    store.close(timeout=TIMEOUT_S)
    assert pending.done() and pending.future.exception() is None


def test_a_hold_ends_after_max_hold_in_small_batches(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work that never pauses: the hold runs out, and what was queued goes out in batches of
    BUSY_BATCH, so no single one holds the GIL for long."""
    monkeypatch.setattr(writer, "MAX_HOLD_S", 0.0)
    queued = threading.Event()

    def busy_until_all_are_queued() -> float:
        assert queued.wait(timeout=TIMEOUT_S)
        return 60.0

    store.pace_writes(busy_until_all_are_queued)
    batches = store.writer.batches
    pendings = [store.record_execution(make_record()) for _ in range(4 * writer.BUSY_BATCH)]
    queued.set()
    for pending in pendings:
        pending.future.result(timeout=TIMEOUT_S)
    assert store.writer.batches - batches >= 4
    assert all(_committed(store, p.id) for p in pendings[:: writer.BUSY_BATCH - 1])


def test_an_unpaced_store_writes_at_once(store: Store) -> None:
    """The CLI and scripts do not pace: a write is committed without anyone waiting."""
    pending = store.record_execution(make_record())
    assert pending.future.result(timeout=TIMEOUT_S) == pending.id


def test_a_pacer_that_raises_does_not_stop_the_writes(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Any:
        raise RuntimeError("pacer bug")

    store.pace_writes(broken)
    pending = store.record_execution(make_record())
    assert pending.future.result(timeout=TIMEOUT_S) == pending.id
    assert "pacing failed" in caplog.text
