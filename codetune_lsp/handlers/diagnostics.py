"""AI diagnostics: triggers from document events, and pull (textDocument/diagnostic)."""

from __future__ import annotations

from lsprotocol import types

from codetune_lsp.handlers.guard import passive
from codetune_lsp.server import CodetuneServer

OPTIONS = types.DiagnosticOptions(
    identifier="codetune", inter_file_dependencies=False, workspace_diagnostics=False
)


def on_did_open(ls: CodetuneServer, params: types.DidOpenTextDocumentParams) -> None:
    uri = params.text_document.uri
    if ls.prompt_files.kind_of(uri):  # a prompt template: lint it, no AI analysis
        ls.prompt_files.lint(ls.documents.snapshot(uri))
    else:
        ls.diagnostics.on_open(uri)


async def on_did_save(ls: CodetuneServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    if ls.prompt_files.kind_of(uri):
        await ls.prompt_files.save(ls.documents.snapshot(uri))
    else:
        ls.diagnostics.on_save(uri)


def on_did_change(ls: CodetuneServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    if ls.prompt_files.kind_of(uri):
        ls.prompt_files.lint(ls.documents.snapshot(uri))
    else:
        ls.diagnostics.on_change(uri)


def _no_findings() -> types.DocumentDiagnosticReport:
    return types.RelatedFullDocumentDiagnosticReport(items=[], result_id=None)


@passive(_no_findings)
async def on_diagnostic(
    ls: CodetuneServer, params: types.DocumentDiagnosticParams
) -> types.DocumentDiagnosticReport:
    ls.documents.snapshot(params.text_document.uri)  # unopened: InvalidParams
    return await ls.diagnostics.pull(params.text_document.uri, params.previous_result_id)
