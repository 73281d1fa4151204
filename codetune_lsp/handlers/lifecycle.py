"""initialize / initialized / shutdown, editor settings, and watching the editor process."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from codetune_lsp.client import ClientFeatures
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


def _editor_gone(ls: CodetuneServer, pid: int | None) -> None:
    logger.warning("the editor process %s is gone; exiting", pid)
    ls.request_stop(1)


async def on_initialized(ls: CodetuneServer, params: types.InitializedParams) -> None:
    """Pull workspace settings when the client offers workspace/configuration."""
    ls.report_settings_problems()
    ls.start_services()
    await pull_workspace_settings(ls)
    ls.spawn(ls.prompt_files.scan_workspaces())


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


async def on_shutdown(ls: CodetuneServer, params: Any) -> None:
    """Finish pending work (flush the history) before acknowledging shutdown."""
    await ls.aclose()
