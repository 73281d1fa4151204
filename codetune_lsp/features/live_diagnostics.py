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
from dataclasses import dataclass
from typing import Any

from codetune_lsp.documents import DocumentNotOpen, DocumentSnapshot
from codetune_lsp.features.diagnostics import Analysis, Analyzer
from codetune_lsp.features.host import FeatureHost
from codetune_lsp.scheduling import Coalescing, Superseded

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pulled:
    """The answer to a pull: the analysis of ``snap`` (None when there is none), and
    whether the client already has it (its previous result id is this analysis)."""

    snap: DocumentSnapshot
    analysis: Analysis | None
    unchanged: bool = False


class LiveDiagnostics:
    def __init__(self, host: FeatureHost) -> None:
        self.host = host
        self.runner: Coalescing[Analysis | None] = Coalescing()
        self.latest: dict[str, tuple[int, Analysis]] = {}
        self._analyzer: Analyzer | None = None
        self._analyzer_key: tuple[Any, ...] = ()
        self._idle: dict[str, asyncio.Task[Any]] = {}
        self._noted: set[str] = set()

    @property
    def settings(self) -> Any:
        return self.host.settings.features.diagnostics

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
            tuple(settings.rules),
        )
        if self._analyzer is None or key != self._analyzer_key:
            services = await self.host.services()
            self._analyzer = Analyzer(
                services.engine,
                settings.model,
                list(settings.templates),
                settings.label,
                max_chars=settings.max_file_chars,
                max_chunks=settings.max_chunks,
                rules=settings.rules,
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
        self._idle[uri] = self.host.spawn(self._after_idle(uri))

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
            snap = self.host.documents.snapshot(uri)
        except DocumentNotOpen:
            return None
        try:
            await self.host.models.ready(self.settings.model)
            analyzer = await self.analyzer()
        except Exception as exc:  # the loader already told the user, once
            logger.warning("diagnostics unavailable: %s", exc)
            return None
        token = await self.host.begin_progress("codetune: analysing", snap.uri.rsplit("/", 1)[-1])
        try:
            analysis = await analyzer.analyse(snap, f"{self._root()}|{uri}")
        except Exception as exc:
            self.host.end_progress(token, "failed")
            self.host.tell(f"codetune diagnostics failed for {uri}: {exc}", logging.WARNING)
            return None
        self.host.end_progress(token, f"{len(analysis.findings)} finding(s)")
        if analysis.note and uri not in self._noted:
            self._noted.add(uri)  # once per document, not on every save
            self.host.tell(f"codetune diagnostics: {analysis.note}", logging.WARNING)
        if analysis.dropped:
            logger.info("%s: %d invalid or out-of-range finding(s) dropped", uri, analysis.dropped)
        if not self.host.documents.is_current(uri, snap.version):
            return None  # the user moved on; the waiting run has the latest version
        self.latest[uri] = (snap.version, analysis)
        self._deliver(snap, analysis)
        return analysis

    def _deliver(self, snap: DocumentSnapshot, analysis: Analysis) -> None:
        if self.client_pulls():
            if self.host.client.diagnostic_refresh:
                self.host.refresh_diagnostics()
            return
        self.host.publish_findings(snap, analysis.findings)

    def client_pulls(self) -> bool:
        return self.host.client.pull_diagnostics

    async def pull(self, uri: str, previous_result_id: str | None) -> Pulled:
        """The latest analysis of ``uri`` (running one if none is known and any trigger
        is on); raises ``DocumentNotOpen`` for an unopened document."""
        snap = self.host.documents.snapshot(uri)
        known = self.latest.get(uri)
        if known is None and self._triggers():
            with contextlib.suppress(Superseded):
                await self.schedule(uri)
            known = self.latest.get(uri)
        if known is None:
            return Pulled(snap, None)
        _, analysis = known
        return Pulled(snap, analysis, unchanged=previous_result_id == analysis.key)

    def _root(self) -> str:
        roots = self.host.roots.paths
        return str(roots[0]) if roots else ""

    async def aclose(self) -> None:
        await self.runner.aclose()


def _quiet(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: superseded runs are expected
