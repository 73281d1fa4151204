"""initialize / initialized / shutdown, editor settings, and watching the editor process."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from codetune_lsp.client import ClientFeatures
from codetune_lsp.context.files import LANGUAGE_BY_SUFFIX
from codetune_lsp.parent import watch_process
from codetune_lsp.server import INIT_OPTIONS, WORKSPACE_CONFIGURATION, CodetuneServer
from codetune_lsp.settings import EDITOR_SECTION, editor_values
from codetune_lsp.workspace import WorkspaceRoots

logger = logging.getLogger(__name__)


def on_initialize(ls: CodetuneServer, params: types.InitializeParams) -> None:
    """Resolve the client's capabilities, apply initializationOptions, and start watching
    the editor's process."""
    encoding = ls.workspace.position_encoding or types.PositionEncodingKind.Utf16
    ls.client = ClientFeatures.resolve(params.capabilities, encoding)
    ls.apply_editor_settings(INIT_OPTIONS, editor_values(params.initialization_options))
    ls.roots = WorkspaceRoots.from_initialize(params)
    if params.process_id:
        ls.spawn(watch_process(params.process_id, lambda: _editor_gone(ls, params.process_id)))
    client = params.client_info.name if params.client_info else "unknown client"
    logger.info("initialize from %s (processId %s)", client, params.process_id)
    # The store, templates and engine open in a thread from now rather than at
    # ``initialized`` (the first completion waits for the engine), once this answer is
    # written: the thread's imports would otherwise compete with it for the GIL.
    asyncio.get_running_loop().call_soon(ls.start_services)


def _editor_gone(ls: CodetuneServer, pid: int | None) -> None:
    logger.warning("the editor process %s is gone; exiting", pid)
    ls.request_stop(1)


async def on_initialized(ls: CodetuneServer, params: types.InitializedParams) -> None:
    """Pull workspace settings when the client offers workspace/configuration."""
    ls.report_settings_problems()
    ls.start_services()
    await pull_workspace_settings(ls)
    ls.spawn(ls.prompt_files.scan_workspaces())
    ls.cross_file.refresh_roots()
    await watch_source_files(ls)


async def watch_source_files(ls: CodetuneServer) -> None:
    """Ask the client to report changes to source files on disk, where it can."""
    if not (ls.client.watched_files and ls.cross_file.allowed_roots()):
        return
    suffixes = ",".join(sorted(s.lstrip(".") for s in LANGUAGE_BY_SUFFIX))
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern=f"**/*.{{{suffixes}}}")]
    )
    registration = types.Registration(
        id="codetune-source-files",
        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=options,
    )
    try:
        await asyncio.wait_for(
            ls.client_register_capability_async(
                types.RegistrationParams(registrations=[registration])
            ),
            timeout=5,
        )
    except Exception as exc:  # the index still follows saves of open documents
        logger.info("file watching was not registered: %s", exc)


async def pull_workspace_settings(ls: CodetuneServer) -> None:
    if not ls.client.configuration:
        return
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=EDITOR_SECTION)])
            ),
            timeout=5,
        )
    except Exception as exc:  # a client may refuse or never answer; defaults stay
        logger.info("workspace/configuration was not answered: %s", exc)
        return
    if result and isinstance(result[0], dict):
        ls.apply_editor_settings(WORKSPACE_CONFIGURATION, result[0])


async def on_did_change_configuration(
    ls: CodetuneServer, params: types.DidChangeConfigurationParams
) -> None:
    """Clients either push the settings here or expect us to pull them."""
    pushed: Any = params.settings
    if isinstance(pushed, dict) and pushed:
        ls.apply_editor_settings(WORKSPACE_CONFIGURATION, editor_values(pushed))
    else:
        await pull_workspace_settings(ls)


def on_did_change_workspace_folders(
    ls: CodetuneServer, params: types.DidChangeWorkspaceFoldersParams
) -> None:
    for removed in params.event.removed:
        ls.roots.remove(removed.uri)
    for added in params.event.added:
        ls.roots.add(added.uri)
    ls.cross_file.refresh_roots()


async def on_shutdown(ls: CodetuneServer, params: Any) -> None:
    """Finish pending work (flush the history) before acknowledging shutdown."""
    await ls.aclose()
