"""AI diagnostics by pull (``textDocument/diagnostic``); the triggers are in ``text_sync``."""

from __future__ import annotations

from lsprotocol import types

from codetune_lsp.handlers.convert import to_diagnostic
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
    pulled = await ls.diagnostics.pull(params.text_document.uri, params.previous_result_id)
    analysis = pulled.analysis
    if analysis is None:
        return _no_findings()
    if pulled.unchanged:
        return types.RelatedUnchangedDocumentDiagnosticReport(result_id=analysis.key)
    return types.RelatedFullDocumentDiagnosticReport(
        items=[to_diagnostic(pulled.snap, f) for f in analysis.findings], result_id=analysis.key
    )
