"""Workspace prompt templates: trusted ones version on save; untrusted ones are ignored."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from codetune_lsp.prompts.library import builtin_sources

from .model_server import history, open_doc, start_client

EXPLAIN = dict(builtin_sources())["code_action.explain.toml"].replace(
    "max_new_tokens = 512", "max_new_tokens = 8"
)
SOURCE = "def double(x):\n    return 2 * x\n"


def workspace(root: Path, marker: str) -> Path:
    folder = root / ".codetune" / "prompts"
    folder.mkdir(parents=True)
    (folder / "code_action.explain.toml").write_text(EXPLAIN.replace("concise", marker))
    (root / "app.py").write_text(SOURCE)
    return folder / "code_action.explain.toml"


async def explain_version(client, root: Path) -> int:
    """Run "AI: Explain" on app.py; return the template version its history row names."""
    uri = (root / "app.py").as_uri()
    cursor = types.Range(
        start=types.Position(line=1, character=4), end=types.Position(line=1, character=4)
    )
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=cursor,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    explain = next(a for a in actions if a.title.startswith("AI: Explain"))
    resolved = await client.code_action_resolve_async(explain)
    command = resolved.command
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )
    for _ in range(100):
        rows = history(
            root,
            "SELECT v.version FROM executions e"
            " JOIN prompt_versions v ON v.id = e.resolved_version_id"
            " WHERE e.template_name = 'code_action.explain' ORDER BY e.created_at",
        )
        if rows and len(rows) > getattr(client, "explains", 0):
            client.explains = len(rows)
            return rows[-1][0]
        await asyncio.sleep(0.05)
    raise AssertionError("no explain execution recorded")


async def wait_versions(client, name: str, count: int) -> None:
    for _ in range(100):
        rows = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codetune.prompts.list")
        )
        if any(r["name"] == name and r["versions"] == count for r in rows):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} never reached {count} versions")


async def test_trusted_templates_version_on_save_and_roll_back(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    template = workspace(tmp_path, "WSONE")
    trust = f'\n[workspace]\ntrusted = ["{tmp_path}"]\n'
    client = await start_client(tmp_path, tiny_llama_path, "visual-studio-code", extra_config=trust)
    try:
        open_doc(client, (tmp_path / "app.py").as_uri(), SOURCE)
        await wait_versions(client, "code_action.explain", 2)  # built-in v1 + workspace v2
        assert await explain_version(client, tmp_path) == 2

        template_uri = template.as_uri()
        open_doc(client, template_uri, template.read_text())
        edited = template.read_text().replace("WSONE", "WSTWO")
        template.write_text(edited)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=template_uri, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=edited)],
            )
        )
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=template_uri)
            )
        )
        await wait_versions(client, "code_action.explain", 3)
        assert await explain_version(client, tmp_path) == 3

        rolled = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="codetune.prompts.rollback", arguments=["code_action.explain"]
            )
        )
        assert rolled["version"] == 2
        assert await explain_version(client, tmp_path) == 2
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_template_files_are_linted_while_open(tmp_path: Path, tiny_llama_path: Path) -> None:
    template = workspace(tmp_path, "X")
    client = await start_client(tmp_path, tiny_llama_path, "neovim")
    try:
        broken = template.read_text().replace(
            'output = "markdown"', 'output = "markdown"\ncolour = 1'
        )
        open_doc(client, template.as_uri(), broken)
        for _ in range(50):
            found = client.diagnostics.get(template.as_uri())
            if found:
                break
            await asyncio.sleep(0.1)
        (problem,) = found
        assert problem.source == "codetune-prompts" and "colour" in problem.message
        assert broken.splitlines()[problem.range.start.line] == "colour = 1"
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_untrusted_templates_are_ignored_with_one_message(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    workspace(tmp_path, "EVIL")
    client = await start_client(tmp_path, tiny_llama_path, "visual-studio-code")
    try:
        for _ in range(100):
            if any("not trusted" in m.message for m in client.messages):
                break
            await asyncio.sleep(0.1)
        (message,) = [m for m in client.messages if "not trusted" in m.message]
        assert "[workspace]" in message.message and str(tmp_path) in message.message
        rows = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codetune.prompts.list")
        )
        assert next(r for r in rows if r["name"] == "code_action.explain")["versions"] == 1
    finally:
        await client.shutdown_session()
        await client.stop()
