"""Handler guards: how passive and user-triggered requests fail, and text sync per feature."""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

import pytest
from lsprotocol import types

from codetune_lsp.documents import DocumentNotOpen
from codetune_lsp.handlers import text_sync
from codetune_lsp.handlers.guard import RequestFailed, passive, user_triggered
from codetune_lsp.paths import Paths
from codetune_lsp.server import create_server
from codetune_lsp.settings import SettingsSources


@passive(list)
async def listing(ls: object, params: object) -> list[str]:
    if isinstance(params, BaseException):
        raise params
    return ["item"]


@user_triggered
async def action(ls: object, *args: object) -> str:
    raise RuntimeError("the model server went away")


async def test_a_passive_request_answers_empty_and_logs_one_line(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert await listing(None, KeyError("boom")) == []
    assert [r.getMessage() for r in caplog.records] == ["listing answered empty: 'boom'"]
    assert not any(r.exc_info for r in caplog.records)  # no traceback
    assert await listing(None, None) == ["item"]


async def test_protocol_errors_pass_a_passive_guard_unchanged() -> None:
    with pytest.raises(DocumentNotOpen):
        await listing(None, DocumentNotOpen("file:///x.py"))


async def test_a_user_triggered_failure_is_request_failed_with_its_reason() -> None:
    with pytest.raises(RequestFailed) as caught:
        await action(None)
    assert caught.value.code == -32803
    assert caught.value.message == "codetune: the model server went away"


def test_one_features_failure_on_close_does_not_stop_the_others(tmp_path: Path, caplog) -> None:
    paths = Paths(tmp_path / "config.toml", "test", tmp_path / "data", "test")
    server = create_server(SettingsSources(paths, {}, {}, {}, []))
    closed = []

    def broken_forget(uri: str) -> None:
        raise RuntimeError("completion state is corrupt")

    server.completion.forget = broken_forget  # type: ignore[method-assign]
    server.diagnostics.on_close = closed.append  # type: ignore[method-assign]
    params = types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri="file:///w/a.py")
    )
    with caplog.at_level(logging.WARNING):
        text_sync.on_did_close(server, params)
    assert closed == ["file:///w/a.py"]
    assert "completion failed: completion state is corrupt" in caplog.text


async def test_shutdown_may_cancel_futures_that_forget_themselves(tmp_path: Path) -> None:
    """pygls cancels every pending future while it walks them at shutdown; a future that
    removes itself when done must not change that table during the walk."""
    import concurrent.futures

    paths = Paths(tmp_path / "config.toml", "test", tmp_path / "data", "test")
    protocol = create_server(SettingsSources(paths, {}, {}, {}, [])).protocol
    for key in ("a", "b", "c"):
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        protocol._request_futures[key] = future
        future.add_done_callback(functools.partial(protocol._forget, key))
    for _, pending in protocol._request_futures.items():  # as pygls' shutdown does
        pending.cancel()
    await asyncio.sleep(0)  # the deferred removals run
    assert not {"a", "b", "c"} & set(protocol._request_futures)
