"""Client capabilities are resolved once, at initialize, into ``ClientFeatures``."""

from __future__ import annotations

from lsprotocol import types
from pytest_lsp import client_capabilities

from codetune_lsp.client import ClientFeatures


def test_vs_code_can_do_everything_but_pull_diagnostics_and_ghost_text() -> None:
    client = ClientFeatures.resolve(client_capabilities("visual-studio-code"), "utf-16")
    assert client == ClientFeatures(
        markdown_documentation=True,
        code_action_resolve=True,
        apply_edit=True,
        create_files=True,
        show_document=True,
        work_done_progress=True,
        configuration=True,
        watched_files=True,  # so the server registers a watcher for source files
    )


def test_neovim_pulls_diagnostics_and_negotiates_its_encoding() -> None:
    caps = client_capabilities("neovim")
    client = ClientFeatures.resolve(caps, types.PositionEncodingKind.Utf8)
    assert client.pull_diagnostics and not client.diagnostic_refresh
    assert client.code_action_resolve and client.work_done_progress and client.configuration
    assert client.position_encoding == "utf-8"  # the enum's value, not its name
    assert not client.watched_files  # no dynamic registration: saves keep the index current


def test_emacs_neither_resolves_actions_nor_creates_files_nor_shows_documents() -> None:
    client = ClientFeatures.resolve(client_capabilities("emacs"))
    assert client.apply_edit and client.work_done_progress
    assert not (client.code_action_resolve or client.create_files or client.show_document)
    assert not client.markdown_documentation


def test_a_client_that_declares_nothing_gets_every_flag_off() -> None:
    assert ClientFeatures.resolve(None) == ClientFeatures()
    assert ClientFeatures.resolve(types.ClientCapabilities()) == ClientFeatures()
    assert ClientFeatures().position_encoding == "utf-16"


def test_half_declared_capabilities_count_only_what_is_there() -> None:
    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities(),
            diagnostic=types.DiagnosticClientCapabilities(),
            # resolve, but not of the edit: the actions must still be listed as commands
            code_action=types.CodeActionClientCapabilities(
                resolve_support=types.ClientCodeActionResolveOptions(properties=["command"])
            ),
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(
                    documentation_format=[types.MarkupKind.PlainText]
                )
            ),
        ),
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(
                resource_operations=[types.ResourceOperationKind.Rename]
            ),
            diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=True),
        ),
        window=types.WindowClientCapabilities(
            show_document=types.ShowDocumentClientCapabilities(support=False)
        ),
    )
    assert ClientFeatures.resolve(caps) == ClientFeatures(
        inline_completion=True, pull_diagnostics=True, diagnostic_refresh=True
    )
