"""What a feature may ask of the language server: the narrow, typed ``FeatureHost``.

Features never hold the server itself. The LSP layer implements this protocol over pygls
(``handlers/host.py``); ``HeadlessHost`` implements it with no client at all, for the
evaluation harness and for tests that drive a feature directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from codetune_lsp.client import ClientFeatures
from codetune_lsp.documents import DocumentSnapshot, DocumentStore
from codetune_lsp.paths import Paths
from codetune_lsp.settings import Settings
from codetune_lsp.workspace import WorkspaceRoots

if TYPE_CHECKING:
    from codetune_lsp.features.diagnostics import Finding
    from codetune_lsp.features.loading import ModelLoader
    from codetune_lsp.services import Services

logger = logging.getLogger(__name__)


class FeatureHost(Protocol):
    """Everything the features use: state to read, services to await, ways to reach the user."""

    @property
    def settings(self) -> Settings: ...  # the resolved settings, current at each read

    @property
    def client(self) -> ClientFeatures: ...  # what the editor can do

    @property
    def paths(self) -> Paths: ...

    @property
    def documents(self) -> DocumentStore: ...

    @property
    def roots(self) -> WorkspaceRoots: ...

    @property
    def models(self) -> ModelLoader: ...

    async def services(self) -> Services: ...

    async def early_services(self) -> Services:
        """Services good enough for a completion: the open ones, or while the store is still
        opening, an engine whose writes are held until it opens (``services.Opening``)."""

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]: ...

    def tell(self, message: str, level: int = logging.INFO) -> None:
        """Log, and show in the editor's output panel."""

    def show(self, message: str, level: int = logging.WARNING) -> None:
        """Log, and pop up in the editor: use sparingly."""

    async def begin_progress(
        self, title: str, message: str = "", cancellable: bool = False
    ) -> str | None:
        """Start a progress report; its token, or None when the client shows none."""

    def report_progress(self, token: str | None, message: str) -> None: ...

    def end_progress(self, token: str | None, message: str) -> None: ...

    def publish_findings(self, snap: DocumentSnapshot, findings: Sequence[Finding]) -> None:
        """Push AI findings for ``snap`` to a client that does not pull them."""

    def refresh_diagnostics(self) -> None:
        """Ask a pulling client to pull again."""


class HeadlessHost:
    """A host with no editor: messages go to the log, progress and diagnostics nowhere.
    Without ``services``, a feature that needs them fails as the server's would."""

    def __init__(self, settings: Settings, services: Services | None, paths: Paths) -> None:
        from codetune_lsp.features.loading import ModelLoader

        self.settings = settings
        self.client = ClientFeatures()
        self.paths = paths
        self.documents = DocumentStore()
        self.roots = WorkspaceRoots()
        self._services = services
        self.models = ModelLoader(self)
        self.tasks: set[asyncio.Task[Any]] = set()

    async def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("this host has no store or engine")
        return self._services

    async def early_services(self) -> Services:
        return await self.services()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def tell(self, message: str, level: int = logging.INFO) -> None:
        logger.log(level, "%s", message)

    def show(self, message: str, level: int = logging.WARNING) -> None:
        logger.log(level, "%s", message)

    async def begin_progress(
        self, title: str, message: str = "", cancellable: bool = False
    ) -> str | None:
        return None

    def report_progress(self, token: str | None, message: str) -> None:
        pass

    def end_progress(self, token: str | None, message: str) -> None:
        pass

    def publish_findings(self, snap: DocumentSnapshot, findings: Sequence[Finding]) -> None:
        pass

    def refresh_diagnostics(self) -> None:
        pass
