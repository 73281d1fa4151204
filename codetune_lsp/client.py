"""What the editor can do, resolved once at ``initialize`` into one typed, frozen object.

The LSP client capabilities are a deep tree of optional fields; every question the server
asks of them is answered here, so handlers and features read a flag instead of walking it.
A client that sends no capabilities at all gets every flag off (and UTF-16 positions).
"""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types

UTF16 = "utf-16"


@dataclass(frozen=True)
class ClientFeatures:
    """The client's capabilities, as the server uses them."""

    inline_completion: bool = False  # textDocument/inlineCompletion (ghost text, 3.18)
    markdown_documentation: bool = False  # completion item docs may be Markdown
    code_action_resolve: bool = False  # codeAction/resolve may fill in the edit
    apply_edit: bool = False  # workspace/applyEdit is answered
    create_files: bool = False  # a WorkspaceEdit may create a file
    show_document: bool = False  # window/showDocument
    work_done_progress: bool = False  # server-initiated $/progress
    pull_diagnostics: bool = False  # textDocument/diagnostic
    diagnostic_refresh: bool = False  # workspace/diagnostic/refresh
    configuration: bool = False  # workspace/configuration
    watched_files: bool = False  # workspace/didChangeWatchedFiles may be registered
    position_encoding: str = UTF16  # the one negotiated for this session

    @classmethod
    def resolve(
        cls,
        caps: types.ClientCapabilities | None,
        position_encoding: types.PositionEncodingKind | str = UTF16,
    ) -> ClientFeatures:
        """Read ``caps`` (as sent in ``initialize``) with the negotiated position encoding."""
        caps = caps or types.ClientCapabilities()
        text, workspace, window = caps.text_document, caps.workspace, caps.window
        completion_item = text.completion.completion_item if text and text.completion else None
        resolve_support = text.code_action.resolve_support if text and text.code_action else None
        edit = workspace.workspace_edit if workspace else None
        show = window.show_document if window else None
        refresh = workspace.diagnostics if workspace else None
        watched = workspace.did_change_watched_files if workspace else None
        return cls(
            inline_completion=bool(text and text.inline_completion),
            markdown_documentation=types.MarkupKind.Markdown
            in ((completion_item.documentation_format if completion_item else None) or []),
            code_action_resolve=bool(resolve_support and "edit" in resolve_support.properties),
            apply_edit=bool(workspace and workspace.apply_edit),
            create_files=types.ResourceOperationKind.Create
            in ((edit.resource_operations if edit else None) or []),
            show_document=bool(show and show.support),
            work_done_progress=bool(window and window.work_done_progress),
            pull_diagnostics=bool(text and text.diagnostic),
            diagnostic_refresh=bool(refresh and refresh.refresh_support),
            configuration=bool(workspace and workspace.configuration),
            watched_files=bool(watched and watched.dynamic_registration),
            position_encoding=str(getattr(position_encoding, "value", position_encoding)),
        )
