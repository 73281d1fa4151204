"""The one routing table: LSP method or command name → handler.

Handlers take ``ls`` (the server) and the params; they stay thin and call the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from codetune_lsp.handlers import (
    code_actions,
    commands,
    completion,
    diagnostics,
    feedback,
    lifecycle,
    prompts,
    text_sync,
)
from codetune_lsp.server import CodetuneServer


@dataclass(frozen=True)
class Route:
    method: str
    handler: Callable[..., Any]
    options: Any = None


FEATURES: tuple[Route, ...] = (
    Route(types.INITIALIZE, lifecycle.on_initialize),
    Route(types.INITIALIZED, lifecycle.on_initialized),
    Route(types.SHUTDOWN, lifecycle.on_shutdown),
    Route(types.WORKSPACE_DID_CHANGE_CONFIGURATION, lifecycle.on_did_change_configuration),
    Route(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS, lifecycle.on_did_change_workspace_folders),
    Route(
        types.TEXT_DOCUMENT_INLINE_COMPLETION,
        completion.on_inline_completion,
        completion.INLINE_OPTIONS,
    ),
    Route(types.TEXT_DOCUMENT_COMPLETION, completion.on_completion, completion.COMPLETION_OPTIONS),
    Route(types.TEXT_DOCUMENT_CODE_ACTION, code_actions.on_code_action, code_actions.OPTIONS),
    Route(types.CODE_ACTION_RESOLVE, code_actions.on_resolve),
    Route(types.WINDOW_WORK_DONE_PROGRESS_CANCEL, code_actions.on_progress_cancel),
    Route(types.TEXT_DOCUMENT_DID_OPEN, text_sync.on_did_open),
    Route(types.TEXT_DOCUMENT_DID_CHANGE, text_sync.on_did_change),
    Route(types.TEXT_DOCUMENT_DID_SAVE, text_sync.on_did_save),
    Route(types.TEXT_DOCUMENT_DID_CLOSE, text_sync.on_did_close),
    Route(types.WORKSPACE_DID_CHANGE_WATCHED_FILES, text_sync.on_did_change_watched_files),
    Route(types.TEXT_DOCUMENT_DIAGNOSTIC, diagnostics.on_diagnostic, diagnostics.OPTIONS),
)

COMMANDS: tuple[Route, ...] = (
    Route(commands.STATUS, commands.status),
    Route(feedback.FEEDBACK, feedback.feedback),
    Route(code_actions.RUN_ACTION, code_actions.run_action),
    Route(prompts.LIST, prompts.list_prompts),
    Route(prompts.DEPLOY, prompts.deploy),
    Route(prompts.ROLLBACK, prompts.rollback),
)


def register_all(server: CodetuneServer) -> None:
    for route in FEATURES:
        server.feature(route.method, route.options)(route.handler)
    for route in COMMANDS:
        server.command(route.method)(route.handler)
