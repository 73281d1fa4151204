"""The language server object: settings, open documents, lifecycle, user messages.

Feature logic lives in ``handlers/``; this module only wires them in from one table.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer
from pygls.protocol import default_converter

from codetune_lsp import __version__
from codetune_lsp.client import ClientFeatures
from codetune_lsp.documents import DocumentStore
from codetune_lsp.features.code_actions import CodeActionFeature
from codetune_lsp.features.completion import CompletionFeature
from codetune_lsp.features.cross_file import CrossFileFeature
from codetune_lsp.features.live_diagnostics import LiveDiagnostics
from codetune_lsp.features.loading import ModelLoader
from codetune_lsp.features.prompt_files import PromptFiles
from codetune_lsp.paths import Paths
from codetune_lsp.protocol import CodetuneProtocol
from codetune_lsp.settings import ResolvedSettings, Settings, SettingsSources
from codetune_lsp.workspace import WorkspaceRoots

T = TypeVar("T")

logger = logging.getLogger(__name__)

CloseHook = Callable[[], Awaitable[None]]
INIT_OPTIONS = "initializationOptions"
WORKSPACE_CONFIGURATION = "workspace configuration"
CLOSE_HOOK_TIMEOUT_S = 5.0
# The store opens in a pause between messages, so its imports (a few hundred ms of CPU on
# another thread) do not slow a burst of completions; at once when a feature needs it.
STORE_OPEN_QUIET_S = 0.1
STORE_OPEN_MAX_WAIT_S = 2.0
# The history is written in the pauses between messages too: a write's GIL time on the writer
# thread would otherwise slow the next request of a burst (nobody waits for these writes).
WRITE_QUIET_S = 0.02
_LOG_LEVEL_TO_MESSAGE_TYPE = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
    logging.DEBUG: types.MessageType.Log,
}


class ServicesUnavailable(RuntimeError):
    """The store or engine could not be opened; the message says why and how to fix it."""


class CodetuneServer(LanguageServer):
    """codetune-lsp's LanguageServer: owns settings, documents and the stop signal."""

    protocol: CodetuneProtocol

    def __init__(self, sources: SettingsSources, paths: Paths | None = None) -> None:
        super().__init__(
            name="codetune-lsp",
            version=__version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=CodetuneProtocol,
            converter_factory=default_converter,
        )
        self.sources = sources
        self.paths = paths or sources.paths
        self._services: asyncio.Future[Any] | None = None
        self._early: asyncio.Future[Any] | None = None  # the early stage's services (or None)
        self._store_wanted: asyncio.Event | None = None  # set: open the store without waiting
        self._opening: Any = None
        self.resolved: ResolvedSettings = sources.resolve()
        self.documents = DocumentStore()
        self.roots = WorkspaceRoots()
        self.client = ClientFeatures()  # resolved at initialize
        self.exit_code: int | None = None
        self._stop_waiter: asyncio.Future[int] | None = None
        self._close_hooks: list[CloseHook] = []
        self._reported_problems: set[str] = set()
        # Editor settings by source, in precedence order (later wins).
        self._editor_layers: dict[str, dict[str, Any]] = {
            INIT_OPTIONS: {},
            WORKSPACE_CONFIGURATION: {},
        }
        self._background: set[asyncio.Task[Any]] = set()
        self._closing: asyncio.Task[None] | None = None
        # The features (their modules import nothing heavy until first use), each seeing
        # the server only through the narrow host interface.
        from codetune_lsp.handlers.host import LspHost

        host = LspHost(self)
        self.models = ModelLoader(host)
        self.cross_file = CrossFileFeature(host)
        self.completion = CompletionFeature(host, self.cross_file)
        self.code_actions = CodeActionFeature(host)
        self.diagnostics = LiveDiagnostics(host)
        self.prompt_files = PromptFiles(host)
        self.on_close(self.diagnostics.aclose)
        self.on_close(self._close_cross_file)

    async def _close_cross_file(self) -> None:
        self.cross_file.close()

    @property
    def settings(self) -> Settings:
        return self.resolved.settings

    # -- settings -----------------------------------------------------------------

    def apply_editor_settings(self, source: str, raw: Mapping[str, Any] | None) -> None:
        """Replace one editor layer (initializationOptions or workspace configuration),
        re-resolve, and report each new problem once."""
        self._editor_layers[source] = dict(raw or {})
        self.resolved = self.sources.resolve(self._editor_layers)
        self.report_settings_problems()

    def report_settings_problems(self) -> None:
        fresh = [p for p in self.resolved.problems if str(p) not in self._reported_problems]
        if not fresh:
            return
        self._reported_problems.update(str(p) for p in fresh)
        lines = "\n".join(f"• {p}" for p in fresh)
        self.show(f"codetune-lsp settings:\n{lines}", logging.WARNING)

    # -- talking to the user ------------------------------------------------------

    def tell(self, message: str, level: int = logging.INFO) -> None:
        """Log and send ``window/logMessage`` (the editor's output panel)."""
        logger.log(level, "%s", message)
        self._notify_safely(
            lambda: self.window_log_message(
                types.LogMessageParams(type=_message_type(level), message=message)
            )
        )

    def show(self, message: str, level: int = logging.WARNING) -> None:
        """Log and send ``window/showMessage`` (a visible pop-up): use sparingly."""
        logger.log(level, "%s", message)
        self._notify_safely(
            lambda: self.window_show_message(
                types.ShowMessageParams(type=_message_type(level), message=message)
            )
        )

    def _notify_safely(self, send: Callable[[], None]) -> None:
        if self.protocol.writer is None:
            return
        try:
            send()
        except Exception:  # the transport may be gone; the log already has it
            logger.debug("could not send a message to the client", exc_info=True)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors outside a request: log them and tell the output panel, no pop-up.

        Errors inside a request are already answered to the client, so only logged.
        """
        if source is FeatureRequestError:
            logger.info("request failed: %s", error)
            return
        self.tell(f"codetune-lsp internal error: {error}", logging.ERROR)

    # -- services (store, prompt library, engine) ---------------------------------

    def start_services(self) -> None:
        """Open the store and engine in a worker thread (idempotent), in two stages: the
        engine first, serving completions with writes held in memory, then the store."""
        if self._services is not None:
            return
        from codetune_lsp.features.prompt_files import WORKSPACE_PROMPTS
        from codetune_lsp.services import Opening

        trusted = {Path(p).expanduser().resolve() for p in self.settings.workspace.trusted}
        workspace_prompts = [
            root / WORKSPACE_PROMPTS for root in self.roots.paths if root.resolve() in trusted
        ]
        self._opening = Opening(
            self.settings, self.paths, prompt_dirs=workspace_prompts, later=self._library
        )
        self._early = asyncio.get_running_loop().create_future()
        self._store_wanted = asyncio.Event()
        self._services = asyncio.ensure_future(self._open_services(self._opening, self._early))
        self._services.add_done_callback(self._services_opened)
        self.on_close(self._close_services)

    async def _open_services(self, opening: Any, early: asyncio.Future[Any]) -> Any:
        try:
            serving = await asyncio.to_thread(_without_full_collections, opening.early_or_none)
            _resolve_once(early, serving)
            if serving is not None:
                await self._pause_for_store()
            full = await asyncio.to_thread(_without_full_collections, opening.full)
        finally:
            _resolve_once(early, None)
        opening.attach(full)  # on the loop: no write can come between the held ones
        full.store.pace_writes(self._until_quiet)
        try:  # the writes held until now are committed before the services count as open
            await full.store.flush()
        except Exception:  # each held write's own caller hears of its failure
            logger.debug("writing the held writes failed", exc_info=True)
        return full

    async def _pause_for_store(self) -> None:
        """Wait until no message has come for STORE_OPEN_QUIET_S (at most
        STORE_OPEN_MAX_WAIT_S), or until a feature needs the store. The quiet is counted
        from now at the earliest: requests that waited for the early stage are answered
        now, and the client's next ones follow."""
        assert self._store_wanted is not None
        started = time.monotonic()
        deadline = started + STORE_OPEN_MAX_WAIT_S
        while not self._store_wanted.is_set():
            now = time.monotonic()
            quiet = now - max(getattr(self.protocol, "last_message_at", 0.0), started)
            wait = min(STORE_OPEN_QUIET_S - quiet, deadline - now)
            if wait <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._store_wanted.wait(), wait)

    def _until_quiet(self) -> float:
        """Seconds until WRITE_QUIET_S will have passed without a message (0: quiet now).
        Called on the store's writer thread."""
        last = getattr(self.protocol, "last_message_at", 0.0)
        return max(0.0, last + WRITE_QUIET_S - time.monotonic())

    def _services_opened(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            lost = self._opening.fail(exc) if self._opening is not None else 0
            unrecorded = f" ({lost} answers served before it are not recorded)" if lost else ""
            self.show(
                f"codetune-lsp cannot open its history store: {exc}{unrecorded}", logging.ERROR
            )
            return
        for problem in future.result().problems:
            self.tell(problem, logging.WARNING)

    async def _close_services(self) -> None:
        """Close the services, after they opened: the held writes are written first."""
        if self._services is None:
            return
        self._want_store()  # the writes held so far go to it before the server exits
        try:
            services = await asyncio.shield(self._services)
        except Exception:  # already reported
            return
        await services.aclose()

    async def services(self) -> Any:
        """The open services; ServicesUnavailable with the reason if they failed."""
        self.start_services()
        assert self._services is not None
        self._want_store()
        try:
            return await asyncio.shield(self._services)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise ServicesUnavailable(
                f"codetune-lsp cannot open its history store: {exc}. Check store.url "
                "(`codetune-lsp config show`) and the data dir (`codetune-lsp config path`)."
            ) from exc

    def _want_store(self) -> None:
        if self._store_wanted is not None:
            self._store_wanted.set()

    async def early_services(self) -> Any:
        """Services whose engine can serve a completion: the open ones, or, while the store
        is still opening, the early stage's (writes held until it opens, labels read from
        the file where provably right). See ``services.Opening``."""
        self.start_services()
        assert self._services is not None and self._early is not None
        if not self._services.done():
            early = await asyncio.shield(self._early)
            if early is not None and not self._services.done():
                return early
        return await self.services()

    async def _library(self) -> Any:
        return (await self.services()).library

    # -- lifecycle ----------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run a background task, keeping a reference so it is not collected."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def on_close(self, hook: CloseHook) -> None:
        """Register work to finish before the process exits (e.g. flush the history)."""
        self._close_hooks.append(hook)

    def attach_stop_waiter(self) -> asyncio.Future[int]:
        self._stop_waiter = asyncio.get_running_loop().create_future()
        if self.exit_code is not None:
            self._stop_waiter.set_result(self.exit_code)
        return self._stop_waiter

    def request_stop(self, code: int) -> None:
        """Ask the transport loop to finish with exit status ``code`` (first call wins)."""
        if self.exit_code is None:
            self.exit_code = code
        waiter = self._stop_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(self.exit_code)

    async def aclose(self) -> None:
        """Run the close hooks once (each bounded in time); later callers wait for that run."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._run_close_hooks())
        await asyncio.shield(self._closing)

    async def _run_close_hooks(self) -> None:
        for hook in self._close_hooks:
            try:
                await asyncio.wait_for(hook(), CLOSE_HOOK_TIMEOUT_S)
            except Exception:
                logger.exception("a close hook failed")
        for task in list(self._background):
            task.cancel()


def _resolve_once(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _message_type(level: int) -> types.MessageType:
    for threshold in (logging.ERROR, logging.WARNING, logging.INFO):
        if level >= threshold:
            return _LOG_LEVEL_TO_MESSAGE_TYPE[threshold]
    return types.MessageType.Log


def create_server(sources: SettingsSources) -> CodetuneServer:
    """Build a server and register every handler from the one routing table."""
    from codetune_lsp.handlers import register_all

    server = CodetuneServer(sources)
    register_all(server)
    return server


def _without_full_collections(open_: Callable[..., T], *args: Any) -> T:
    """Run ``open_`` (the store's imports, migrations check and seeding: many long-lived
    objects) with automatic garbage collection off, then freeze what it made. A full
    collection during it held the GIL for about 30 ms, a pause every handler waited on."""
    gc.disable()
    try:
        return open_(*args)
    finally:
        gc.freeze()
        gc.enable()
