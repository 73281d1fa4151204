"""Start-up: the first completion does not wait for the store, and loses nothing by it.

The server opens its services in two stages (``services.Opening``). These tests hold the
second stage (the store) at a gate, so "while the store is still opening" is a state the
test controls, and every wait is on an event or a future, never a sleep.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from codetune_lsp import server as server_module
from codetune_lsp import services as services_module
from codetune_lsp.paths import Paths
from codetune_lsp.prompts.library import BUILTIN_ACTOR, PromptLibrary, to_toml
from codetune_lsp.server import CodetuneServer
from codetune_lsp.settings import Settings, SettingsSources
from codetune_lsp.store import writer as writer_module
from tests.models.servers import FakeServer, Reply, Seen

TEMPLATE = "completion.infill"
URI = "file:///ws/a.py"
TEXT = "def total(values):\n    return \n"
CURSOR = len("def total(values):\n    return ")
ANSWER = "sum(values)"
BOUND_S = 10.0  # an upper bound on each wait, so a regression fails instead of hanging


def answer(seen: Seen) -> Reply:
    if seen.path.endswith("/chat/completions"):
        message = {"role": "assistant", "content": ANSWER}
        return Reply(body={"choices": [{"index": 0, "message": message}], "usage": {}})
    return Reply(body={"choices": [{"index": 0, "text": ANSWER, "finish_reason": "stop"}]})


@pytest.fixture
def model() -> Iterator[FakeServer]:
    with FakeServer(answer) as fake:
        yield fake


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "config.toml", "t", tmp_path / "data", "t")


def previous_session(paths: Paths) -> PromptLibrary:
    """The store as an earlier session left it: created, migrated and seeded (open)."""
    from codetune_lsp.store import open_store

    library = PromptLibrary(open_store(Settings(), paths))
    library.seed_builtins()
    return library


class StoreGate:
    """Holds the store's stage of the start-up until ``release``; says when it is held."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reached = threading.Event()
        self._open = threading.Event()
        full = services_module.Opening.full

        def gated(opening: services_module.Opening) -> Any:
            self.reached.set()
            self._open.wait()
            return full(opening)

        monkeypatch.setattr(services_module.Opening, "full", gated)

    def release(self) -> None:
        self._open.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreGate]:
    held = StoreGate(monkeypatch)
    yield held
    held.release()  # never leave the worker thread blocked


@dataclass
class Started:
    server: CodetuneServer
    paths: Paths

    async def complete(self, text: str = TEXT, cursor: int = CURSOR, version: int = 1) -> Any:
        if URI in self.server.documents:
            self.server.documents.close(URI)
        self.server.documents.open(URI, "python", version, text)
        snap = self.server.documents.snapshot(URI)
        return await asyncio.wait_for(self.server.completion.suggest(snap, cursor, True), BOUND_S)

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        database = self.paths.default_database.as_uri()
        with sqlite3.connect(f"{database}?mode=ro", uri=True) as db:
            return db.execute(sql, args).fetchall()

    def execution(self, execution_id: str) -> list[tuple[Any, ...]]:
        return self.rows(
            "SELECT template_name, resolved_version_id, served_output FROM executions WHERE id = ?",
            (execution_id,),
        )

    async def opened(self) -> Any:
        services = await asyncio.wait_for(self.server.services(), BOUND_S)
        await asyncio.wait_for(services.store.flush(), BOUND_S)
        return services


@pytest.fixture
async def started(model: FakeServer, paths: Paths) -> AsyncIterator[Started]:
    values = {
        "models": {
            "stub": {
                "backend": "openai",
                "url": f"{model.url}/v1",
                "id": "stub",
                "family": "whiterabbitneo",
                "max_retries": 0,
            }
        },
        "features": {"completion": {"model": "stub", "debounce_ms": 0}},
    }
    server = CodetuneServer(SettingsSources(paths, values, {}, {}, []))
    yield Started(server, paths)
    await asyncio.wait_for(server.aclose(), BOUND_S)


def production_id(library: PromptLibrary, name: str = TEMPLATE) -> int:
    return library.get(name).version_id


async def test_the_first_completion_is_answered_while_the_store_is_still_opening(
    started: Started, gate: StoreGate
) -> None:
    library = previous_session(started.paths)
    expected_version = production_id(library)
    library.store.close()

    started.server.start_services()
    suggestion = await started.complete()

    assert suggestion is not None and suggestion.text == ANSWER
    # the store's stage starts in the first pause, and is held at the gate: not open yet
    assert await asyncio.to_thread(gate.reached.wait, BOUND_S)
    assert started.execution(suggestion.execution_id) == []

    gate.release()
    await started.opened()
    assert started.execution(suggestion.execution_id) == [(TEMPLATE, expected_version, ANSWER)]


async def test_while_messages_keep_coming_the_store_waits_until_a_feature_needs_it(
    started: Started, gate: StoreGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "STORE_OPEN_QUIET_S", 60.0)  # no pause comes
    monkeypatch.setattr(server_module, "STORE_OPEN_MAX_WAIT_S", 60.0)
    previous_session(started.paths).store.close()
    started.server.protocol.last_message_at = time.monotonic()  # a burst of typing

    started.server.start_services()
    suggestion = await started.complete()

    assert suggestion is not None and suggestion.text == ANSWER
    assert not gate.reached.is_set()  # served, and the store has not started opening
    opening = asyncio.ensure_future(started.server.services())  # a feature needs it
    assert await asyncio.to_thread(gate.reached.wait, BOUND_S)
    gate.release()
    await asyncio.wait_for(opening, BOUND_S)
    assert started.execution(suggestion.execution_id) == [(TEMPLATE, mock.ANY, ANSWER)]


async def test_the_store_opens_by_itself_in_the_first_pause(
    started: Started, gate: StoreGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "STORE_OPEN_QUIET_S", 0.05)
    monkeypatch.setattr(server_module, "STORE_OPEN_MAX_WAIT_S", 60.0)
    previous_session(started.paths).store.close()
    started.server.protocol.last_message_at = time.monotonic()

    started.server.start_services()
    suggestion = await started.complete()

    assert suggestion is not None
    assert await asyncio.to_thread(gate.reached.wait, BOUND_S)  # nobody asked for it
    gate.release()
    await started.opened()
    assert started.execution(suggestion.execution_id) == [(TEMPLATE, mock.ANY, ANSWER)]


async def test_a_production_label_the_user_moved_is_honoured_at_the_first_completion(
    started: Started, gate: StoreGate, model: FakeServer
) -> None:
    library = previous_session(started.paths)
    shipped = library.get(TEMPLATE).template
    edited = dataclasses.replace(shipped, template="USER-VERSION " + shipped.template)
    mine = library.import_source(to_toml(edited), "user file", move_label=False)
    library.deploy(TEMPLATE, mine.version, actor="cli", reason="the user's choice")
    library.store.close()

    started.server.start_services()
    suggestion = await started.complete()

    assert suggestion is not None and await asyncio.to_thread(gate.reached.wait, BOUND_S)
    prompts = [s.body.get("prompt", "") for s in model.seen if isinstance(s.body, dict)]
    assert len(prompts) == 1 and prompts[0].startswith("USER-VERSION")
    gate.release()
    await started.opened()
    assert started.execution(suggestion.execution_id) == [(TEMPLATE, mine.version_id, ANSWER)]


async def test_a_label_the_opening_store_would_move_is_not_read_early(
    started: Started, gate: StoreGate, model: FakeServer
) -> None:
    """Production points at an older built-in and the built-in seeding placed it there, so
    opening the store moves it to the shipped one: the completion waits for that."""
    from codetune_lsp.store import prompts as repo

    library = previous_session(started.paths)
    shipped_id = production_id(library)
    body = "OLD-BUILTIN {{ prefix }}"

    def older_builtin(session: Any) -> None:
        current = repo.resolve_label(session, TEMPLATE, "production")
        assert current is not None
        old = repo.create_version(session, TEMPLATE, body, current.config, "older release")
        repo.set_label(session, TEMPLATE, "production", old.id, BUILTIN_ACTOR, "update")

    library.store.write(older_builtin)
    library.store.close()

    started.server.start_services()
    completion = asyncio.ensure_future(started.complete())
    early = await asyncio.wait_for(started.server._early, BOUND_S)  # type: ignore[arg-type]
    assert early is not None
    assert early.library.readable(TEMPLATE, "production") is None
    assert not completion.done()

    gate.release()
    suggestion = await completion
    await started.opened()
    assert suggestion is not None
    assert started.execution(suggestion.execution_id) == [(TEMPLATE, shipped_id, ANSWER)]
    assert not any("OLD-BUILTIN" in str(s.body) for s in model.seen)


async def test_a_shutdown_before_the_store_opens_still_writes_the_held_rows(
    started: Started, gate: StoreGate
) -> None:
    library = previous_session(started.paths)
    expected_version = production_id(library)
    library.store.close()
    started.server.start_services()
    suggestion = await started.complete()
    assert suggestion is not None and started.execution(suggestion.execution_id) == []

    closing = asyncio.ensure_future(started.server.aclose())  # what `shutdown` runs
    gate.release()
    await asyncio.wait_for(closing, BOUND_S)

    assert started.execution(suggestion.execution_id) == [(TEMPLATE, expected_version, ANSWER)]


async def test_held_writes_reach_the_store_in_order_feedback_after_its_execution(
    started: Started, gate: StoreGate
) -> None:
    previous_session(started.paths).store.close()
    started.server.start_services()
    first = await started.complete()
    # A second model call on the document: the first suggestion was dismissed (feedback).
    second = await started.complete(TEXT + "x = ", len(TEXT + "x = "), version=2)
    assert first is not None and second is not None
    assert first.execution_id != second.execution_id

    gate.release()
    await started.opened()
    assert len(started.execution(first.execution_id)) == 1
    assert len(started.execution(second.execution_id)) == 1
    assert started.rows("SELECT execution_id, kind FROM feedback") == [
        (first.execution_id, "rejected")
    ]


async def test_without_a_store_file_the_first_completion_waits_for_the_store(
    started: Started, gate: StoreGate
) -> None:
    """The first start ever: there is nothing to read a label from yet."""
    started.server.start_services()
    early = await asyncio.wait_for(started.server._early, BOUND_S)  # type: ignore[arg-type]
    assert early is not None and early.library.readable(TEMPLATE, "production") is None
    completion = asyncio.ensure_future(started.complete())
    gate.release()
    suggestion = await completion
    await started.opened()
    assert suggestion is not None and len(started.execution(suggestion.execution_id)) == 1


async def test_once_open_the_history_is_written_in_the_pauses_between_messages(
    started: Started, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of messages: the writes wait (nobody waits for them), then go in the pause."""
    monkeypatch.setattr(writer_module, "MAX_HOLD_S", 3600.0)  # only the pause ends the hold
    asked = threading.Semaphore(0)
    until_quiet = CodetuneServer._until_quiet

    def counted(server: CodetuneServer) -> float:
        asked.release()
        return until_quiet(server)

    monkeypatch.setattr(CodetuneServer, "_until_quiet", counted)
    previous_session(started.paths).store.close()
    started.server.start_services()
    await started.opened()

    typing = True

    async def messages_keep_coming() -> None:
        while typing:
            started.server.protocol.last_message_at = time.monotonic()
            await asyncio.sleep(0.002)

    burst = asyncio.ensure_future(messages_keep_coming())
    suggestion = await started.complete()
    assert suggestion is not None
    for _ in range(3):  # the writer has asked for a pause and was told to hold
        assert await asyncio.to_thread(asked.acquire, True, BOUND_S)
    assert started.execution(suggestion.execution_id) == []

    typing = False
    await burst
    deadline = time.monotonic() + BOUND_S
    while not started.execution(suggestion.execution_id) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert started.execution(suggestion.execution_id) == [(TEMPLATE, mock.ANY, ANSWER)]
