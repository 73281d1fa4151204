"""Loading models in the background, visibly: ``$/progress`` while it runs, one message
per profile if it fails (never a flood), and the first request waits for it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from codetune_lsp.features.host import FeatureHost

logger = logging.getLogger(__name__)


class ModelLoader:
    """One per server: tracks which profiles are loading, loaded or broken."""

    def __init__(self, host: FeatureHost) -> None:
        self.host = host
        self._loading: dict[str, asyncio.Task[Any]] = {}
        self._reported: set[str] = set()

    def start(self, profile: str) -> asyncio.Task[Any]:
        """Begin loading ``profile`` (idempotent; a failed load is retried next time)."""
        task = self._loading.get(profile)
        if task is None or (task.done() and (task.cancelled() or task.exception())):
            task = asyncio.ensure_future(self._load(profile))
            self._loading[profile] = task
        return task

    async def ready(self, profile: str) -> Any:
        """The backend for ``profile`` once it can generate (raises its BackendError)."""
        services = await self.host.early_services()
        backend = services.engine.backend(profile)
        if backend.info().loaded:
            return backend
        return await asyncio.shield(self.start(profile))

    async def _load(self, profile: str) -> Any:
        services = await self.host.early_services()
        backend = services.engine.backend(profile)
        progress = await self._begin(f"codetune: loading model '{profile}'")
        if progress is not None:
            backend.add_progress_listener(lambda stage: self._report(progress, stage))
        try:
            await backend.ready()
        except Exception as exc:
            self._end(progress, "failed")
            if profile not in self._reported:
                self._reported.add(profile)
                self.host.show(f"codetune-lsp: {exc}", logging.ERROR)
            raise
        self._end(progress, "ready")
        self._reported.discard(profile)
        return backend

    async def _begin(self, title: str) -> str | None:
        token = await self.host.begin_progress(title)
        if token is None:
            self.host.tell(title)
        return token

    def _report(self, token: str, stage: str) -> None:
        self.host.report_progress(token, stage)

    def _end(self, token: str | None, message: str) -> None:
        self.host.end_progress(token, message)
