"""Text sync (open, change, save, close): the document store is updated by the protocol;
here each event fans out to the features, each behind its own guard, so one feature's
failure never stops another's."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lsprotocol import types

from codetune_lsp.handlers.convert import template_diagnostic
from codetune_lsp.handlers.guard import describe
from codetune_lsp.server import CodetuneServer

logger = logging.getLogger(__name__)


def _each(event: str, uri: str, steps: list[tuple[str, Callable[[], Any]]]) -> None:
    """Run each feature's step; a failure is logged in one line and the others still run.
    Synchronous, so events reach the features in the order the client sent them."""
    for feature, step in steps:
        try:
            step()
        except Exception as exc:
            logger.warning("%s on %s: %s failed: %s", event, uri, feature, describe(exc))


def on_did_open(ls: CodetuneServer, params: types.DidOpenTextDocumentParams) -> None:
    uri = params.text_document.uri
    if ls.prompt_files.kind_of(uri):  # a prompt template: lint it, no AI analysis
        _each("open", uri, [("prompt files", lambda: _lint(ls, uri))])
    else:
        _each(
            "open",
            uri,
            [
                ("cross-file context", lambda: ls.cross_file.edited(uri)),
                ("diagnostics", lambda: ls.diagnostics.on_open(uri)),
            ],
        )


def on_did_change(ls: CodetuneServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    if ls.prompt_files.kind_of(uri):
        _each("change", uri, [("prompt files", lambda: _lint(ls, uri))])
    else:
        _each(
            "change",
            uri,
            [
                ("cross-file context", lambda: ls.cross_file.edited(uri)),
                ("diagnostics", lambda: ls.diagnostics.on_change(uri)),
            ],
        )


async def on_did_save(ls: CodetuneServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    if not ls.prompt_files.kind_of(uri):
        _each(
            "save",
            uri,
            [
                ("cross-file context", lambda: ls.cross_file.saved(uri)),
                ("diagnostics", lambda: ls.diagnostics.on_save(uri)),
            ],
        )
        return
    try:
        await ls.prompt_files.save(ls.documents.snapshot(uri))
    except Exception as exc:
        logger.warning("save on %s: prompt files failed: %s", uri, describe(exc))


def on_did_close(ls: CodetuneServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    _each(
        "close",
        uri,
        [
            ("completion", lambda: ls.completion.forget(uri)),
            ("cross-file context", lambda: ls.cross_file.closed(uri)),
            ("diagnostics", lambda: _close_diagnostics(ls, uri)),
        ],
    )


def _lint(ls: CodetuneServer, uri: str) -> None:
    snap = ls.documents.snapshot(uri)
    diagnostics = [template_diagnostic(snap, p) for p in ls.prompt_files.lint(snap)]
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, version=snap.version, diagnostics=diagnostics)
    )


def _close_diagnostics(ls: CodetuneServer, uri: str) -> None:
    had_findings = uri in ls.diagnostics.latest
    ls.diagnostics.on_close(uri)
    if had_findings and not ls.diagnostics.client_pulls():  # clear what we showed
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )


def on_did_change_watched_files(
    ls: CodetuneServer, params: types.DidChangeWatchedFilesParams
) -> None:
    """Files changed on disk (a checkout, another tool): the index reads them again."""
    deleted = types.FileChangeType.Deleted
    changes = [(change.uri, change.type == deleted) for change in params.changes]
    _each(
        "file change",
        "workspace",
        [("cross-file context", lambda: ls.cross_file.files_changed(changes))],
    )
