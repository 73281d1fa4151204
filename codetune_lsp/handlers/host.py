"""The features' view of the language server: ``FeatureHost`` over pygls.

Everything a feature does to the client goes through here, so the lsprotocol types it
needs (progress, published diagnostics) are built in the LSP layer, not in the features.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from codetune_lsp.client import ClientFeatures
from codetune_lsp.documents import DocumentSnapshot, DocumentStore
from codetune_lsp.features.diagnostics import Finding
from codetune_lsp.features.loading import ModelLoader
from codetune_lsp.handlers.convert import to_diagnostic
from codetune_lsp.paths import Paths
from codetune_lsp.services import Services
from codetune_lsp.settings import Settings
from codetune_lsp.workspace import WorkspaceRoots

if TYPE_CHECKING:
    from codetune_lsp.server import CodetuneServer

logger = logging.getLogger(__name__)


class LspHost:
    """Implements ``features.host.FeatureHost`` for one ``CodetuneServer``."""

    def __init__(self, server: CodetuneServer) -> None:
        self._server = server

    # -- state, read through so that re-resolved settings and roots are seen ----------

    @property
    def settings(self) -> Settings:
        return self._server.settings

    @property
    def client(self) -> ClientFeatures:
        return self._server.client

    @property
    def paths(self) -> Paths:
        return self._server.paths

    @property
    def documents(self) -> DocumentStore:
        return self._server.documents

    @property
    def roots(self) -> WorkspaceRoots:
        return self._server.roots

    @property
    def models(self) -> ModelLoader:
        return self._server.models

    async def services(self) -> Services:
        services: Services = await self._server.services()
        return services

    async def early_services(self) -> Services:
        services: Services = await self._server.early_services()
        return services

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        return self._server.spawn(coro)

    def tell(self, message: str, level: int = logging.INFO) -> None:
        self._server.tell(message, level)

    def show(self, message: str, level: int = logging.WARNING) -> None:
        self._server.show(message, level)

    # -- $/progress, tolerant of clients without it ----------------------------------

    async def begin_progress(
        self, title: str, message: str = "", cancellable: bool = False
    ) -> str | None:
        """Create a progress token and begin; None when the client does not do progress."""
        if not self.client.work_done_progress:
            return None
        token = f"codetune-{uuid.uuid4().hex[:12]}"
        progress = self._server.work_done_progress
        # Shielded: a cancel arriving while the client creates the token must not cancel the
        # pending request itself (its answer would then land on a cancelled future).
        creation = asyncio.ensure_future(progress.create_async(token))
        try:
            await asyncio.shield(creation)
        except asyncio.CancelledError:
            creation.add_done_callback(lambda _: self._forget(token))
            raise
        except Exception:  # the client refused or never answered: carry on without
            logger.info("the client did not accept a progress token")
            self._forget(token)
            return None
        begin = types.WorkDoneProgressBegin(
            title=title, message=message or None, cancellable=cancellable
        )
        progress.begin(token, begin)
        return token

    def report_progress(self, token: str | None, message: str) -> None:
        if token is not None:
            report = types.WorkDoneProgressReport(message=message)
            self._server.work_done_progress.report(token, report)

    def end_progress(self, token: str | None, message: str) -> None:
        if token is not None:
            end = types.WorkDoneProgressEnd(message=message)
            self._server.work_done_progress.end(token, end)
            self._forget(token)

    def _forget(self, token: str) -> None:
        """pygls keeps every token it has seen; drop ours once it is over."""
        self._server.work_done_progress.tokens.pop(token, None)

    # -- diagnostics ------------------------------------------------------------------

    def publish_findings(self, snap: DocumentSnapshot, findings: Sequence[Finding]) -> None:
        self._server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=snap.uri,
                version=snap.version,
                diagnostics=[to_diagnostic(snap, f) for f in findings],
            )
        )

    def refresh_diagnostics(self) -> None:
        self._server.workspace_diagnostic_refresh(None)
