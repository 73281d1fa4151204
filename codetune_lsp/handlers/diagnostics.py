"""AI diagnostics by pull (``textDocument/diagnostic``); the triggers are in ``text_sync``."""

from __future__ import annotations

from lsprotocol import types

from codetune_lsp.handlers.guard import passive
from codetune_lsp.server import CodetuneServer

OPTIONS = types.DiagnosticOptions(
    identifier="codetune", inter_file_dependencies=False, workspace_diagnostics=False
)


def _no_findings() -> types.DocumentDiagnosticReport:
    return types.RelatedFullDocumentDiagnosticReport(items=[], result_id=None)


@passive(_no_findings)
async def on_diagnostic(
    ls: CodetuneServer, params: types.DocumentDiagnosticParams
) -> types.DocumentDiagnosticReport:
    ls.documents.snapshot(params.text_document.uri)  # unopened: InvalidParams
    return await ls.diagnostics.pull(params.text_document.uri, params.previous_result_id)
