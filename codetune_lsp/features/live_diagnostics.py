"""AI diagnostics in the editor: when to analyse, and how findings reach the client.

Triggers follow ``features.diagnostics.run_on``: open, save, or idle after a change. Per
document one analysis runs and at most one waits (always for the latest version). A result
for a version the user has moved past is dropped. Clients with pull diagnostics get a
refresh request, and the others get ``publishDiagnostics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from lsprotocol import types

from codetune_lsp.documents import DocumentNotOpen, DocumentSnapshot
from codetune_lsp.features import progress
from codetune_lsp.features.diagnostics import Analysis, Analyzer, Finding
from codetune_lsp.scheduling import Coalescing, Superseded

logger = logging.getLogger(__name__)

SOURCE = "codetune"
_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}
_LINE_END = 2**31 - 1  # clamped to the end of the line
_CWE = re.compile(r"^CWE-(\d+)$", re.IGNORECASE)


def to_diagnostic(snap: DocumentSnapshot, finding: Finding) -> types.Diagnostic:
    first = min(finding.line, snap.line_count) - 1
    last = min(finding.end_line, snap.line_count) - 1
    start_line = snap.line_text(first)
    line_start = snap.offset_at(types.Position(line=first, character=0))
    start = line_start + len(start_line) - len(start_line.lstrip())
    end = snap.offset_at(types.Position(line=last, character=_LINE_END))
    cwe = _CWE.match(finding.rule)
    message = finding.message + (f"\nFix: {finding.fix}" if finding.fix else "")
    return types.Diagnostic(
        range=snap.range_of(start, max(start, end)),
        severity=_SEVERITY.get(finding.severity, types.DiagnosticSeverity.Warning),
        code=finding.rule,
        code_description=(
            types.CodeDescription(
                href=f"https://cwe.mitre.org/data/definitions/{cwe.group(1)}.html"
            )
            if cwe
            else None
        ),
        source=SOURCE,
        message=message,
        data={"executionId": finding.execution_id, "template": finding.template},
    )


class LiveDiagnostics:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.runner: Coalescing[Analysis | None] = Coalescing()
        self.latest: dict[str, tuple[int, Analysis]] = {}
        self._analyzer: Analyzer | None = None
        self._analyzer_key: tuple[Any, ...] = ()
        self._idle: dict[str, asyncio.Task[Any]] = {}
        self._noted: set[str] = set()

    @property
    def settings(self) -> Any:
        return self.server.settings.features.diagnostics

    def _triggers(self) -> set[str]:
        run_on = set(self.settings.run_on)
        return set() if "off" in run_on or not self.settings.enabled else run_on

    async def analyzer(self) -> Analyzer:
        settings = self.settings
        key = (
            settings.model,
            tuple(settings.templates),
            settings.label,
            settings.max_file_chars,
            settings.max_chunks,
        )
        if self._analyzer is None or key != self._analyzer_key:
            services = await self.server.services()
            self._analyzer = Analyzer(
                services.engine,
                settings.model,
                list(settings.templates),
                settings.label,
                max_chars=settings.max_file_chars,
                max_chunks=settings.max_chunks,
            )
            self._analyzer_key = key
        return self._analyzer

    # -- triggers -----------------------------------------------------------------------

    def on_open(self, uri: str) -> None:
        if "open" in self._triggers():
            self.schedule(uri)

    def on_save(self, uri: str) -> None:
        if "save" in self._triggers():
            self.schedule(uri)

    def on_change(self, uri: str) -> None:
        if "idle" not in self._triggers():
            return
        waiting = self._idle.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        self._idle[uri] = self.server.spawn(self._after_idle(uri))

    def on_close(self, uri: str) -> None:
        self.latest.pop(uri, None)
        self._noted.discard(uri)
        waiting = self._idle.pop(uri, None)
        if waiting is not None:
            waiting.cancel()

    async def _after_idle(self, uri: str) -> None:
        await asyncio.sleep(self.settings.idle_ms / 1000)
        self._idle.pop(uri, None)
        self.schedule(uri)

    def schedule(self, uri: str) -> asyncio.Future[Analysis | None]:
        future = self.runner.submit(uri, lambda: self._run(uri))
        future.add_done_callback(_quiet)
        return future

    # -- running ------------------------------------------------------------------------

    async def _run(self, uri: str) -> Analysis | None:
        try:
            snap = self.server.documents.snapshot(uri)
        except DocumentNotOpen:
            return None
        try:
            await self.server.models.ready(self.settings.model)
            analyzer = await self.analyzer()
        except Exception as exc:  # the loader already told the user, once
            logger.warning("diagnostics unavailable: %s", exc)
            return None
        token = await progress.begin(
            self.server, "codetune: analysing", snap.uri.rsplit("/", 1)[-1]
        )
        try:
            analysis = await analyzer.analyse(snap, f"{self._root()}|{uri}")
        except Exception as exc:
            progress.end(self.server, token, "failed")
            self.server.tell(f"codetune diagnostics failed for {uri}: {exc}", logging.WARNING)
            return None
        progress.end(self.server, token, f"{len(analysis.findings)} finding(s)")
        if analysis.note and uri not in self._noted:
            self._noted.add(uri)  # once per document, not on every save
            self.server.tell(f"codetune diagnostics: {analysis.note}", logging.WARNING)
        if analysis.dropped:
            logger.info("%s: %d invalid or out-of-range finding(s) dropped", uri, analysis.dropped)
        if not self.server.documents.is_current(uri, snap.version):
            return None  # the user moved on; the waiting run has the latest version
        self.latest[uri] = (snap.version, analysis)
        self._deliver(snap, analysis)
        return analysis

    def _deliver(self, snap: DocumentSnapshot, analysis: Analysis) -> None:
        if self.client_pulls():
            workspace = self.server.client_capabilities.workspace
            if workspace and workspace.diagnostics and workspace.diagnostics.refresh_support:
                self.server.workspace_diagnostic_refresh(None)
            return
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=snap.uri,
                version=snap.version,
                diagnostics=[to_diagnostic(snap, f) for f in analysis.findings],
            )
        )

    def client_pulls(self) -> bool:
        text = self.server.client_capabilities.text_document
        return bool(text and text.diagnostic)

    async def pull(
        self, uri: str, previous_result_id: str | None
    ) -> types.DocumentDiagnosticReport:
        snap = self.server.documents.snapshot(uri)
        known = self.latest.get(uri)
        if known is None and self._triggers():
            with contextlib.suppress(Superseded):
                await self.schedule(uri)
            known = self.latest.get(uri)
        if known is None:
            return types.RelatedFullDocumentDiagnosticReport(items=[], result_id=None)
        _, analysis = known
        if previous_result_id == analysis.key:
            return types.RelatedUnchangedDocumentDiagnosticReport(result_id=analysis.key)
        return types.RelatedFullDocumentDiagnosticReport(
            items=[to_diagnostic(snap, f) for f in analysis.findings], result_id=analysis.key
        )

    def _root(self) -> str:
        roots = self.server.roots.paths
        return str(roots[0]) if roots else ""

    async def aclose(self) -> None:
        await self.runner.aclose()


def _quiet(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: superseded runs are expected
