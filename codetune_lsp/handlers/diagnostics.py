"""AI diagnostics: triggers from document events, and pull (textDocument/diagnostic)."""

from __future__ import annotations

from lsprotocol import types

from codetune_lsp.server import CodetuneServer

OPTIONS = types.DiagnosticOptions(
    identifier="codetune", inter_file_dependencies=False, workspace_diagnostics=False
)


def on_did_open(ls: CodetuneServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.diagnostics.on_open(params.text_document.uri)


def on_did_save(ls: CodetuneServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.diagnostics.on_save(params.text_document.uri)


def on_did_change(ls: CodetuneServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.diagnostics.on_change(params.text_document.uri)


async def on_diagnostic(
    ls: CodetuneServer, params: types.DocumentDiagnosticParams
) -> types.DocumentDiagnosticReport:
    ls.documents.snapshot(params.text_document.uri)  # unopened: InvalidParams
    return await ls.diagnostics.pull(params.text_document.uri, params.previous_result_id)
