"""A whole editor session, for each recorded client: sync, status, settings, shutdown."""

from __future__ import annotations

import asyncio
import hashlib
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

URI = "file:///workspace/app.py"


async def status(client: LanguageClient, *args: object) -> dict:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codetune.status", arguments=list(args))
    )


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    return utf16_len(text) if encoding == "utf-16" else len(text)


async def test_incremental_sync_matches_the_editor_buffer(client: LanguageClient) -> None:
    encoding = (await status(client))["positionEncoding"]
    offered = client.capabilities.general and client.capabilities.general.position_encodings
    assert encoding == (offered[0] if offered else "utf-16")
    text = "import os\r\n\r\ndef greet(name):\r\n    return f'👋 {name}'\r\n"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="python", version=1, text=text
            )
        )
    )
    line = "    return f'👋 {name}'"
    col = units(line[: line.index("{")], encoding)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=3, character=col),
                        end=types.Position(line=3, character=col + len("{name}")),
                    ),
                    text="{name.title()}",
                )
            ],
        )
    )
    doc = await status(client, URI)
    expected = text.replace("{name}", "{name.title()}")
    assert doc["version"] == 2 and doc["lineCount"] == 5
    assert doc["sha256"] == hashlib.sha256(expected.encode()).hexdigest()


async def test_closed_documents_are_no_longer_served(client: LanguageClient) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1, text="x")
        )
    )
    assert (await status(client, URI))["length"] == 1
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    with pytest.raises(JsonRpcInvalidParams):
        await status(client, URI)


async def test_no_settings_problems_by_default(client: LanguageClient) -> None:
    assert (await status(client))["settingsProblems"] == []
    assert client.messages == []


def _settings_client(section: dict) -> LanguageClient:
    from pytest_lsp.client import make_test_lsp_client

    made = make_test_lsp_client()
    made.set_configuration(section, section="codetune")
    return made


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "codetune_lsp"],
        client_factory=lambda: _settings_client({"features": {"completion": {"debounce_ms": 40}}}),
    )
)
async def configured_client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options={
                "codetune": {
                    "store": {"url": "postgresql+psycopg://attacker.example/db"},
                    "features": {"diagnostics": {"run_on": ["typing"]}},
                }
            },
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_editor_settings_privileged_and_bad_keys_are_reported_once(
    configured_client: LanguageClient,
) -> None:
    client = configured_client
    state = await status(client)
    for _ in range(50):  # the workspace/configuration pull runs after `initialized`
        if state["features"]["completion"]["debounce_ms"] == 40:
            break
        await asyncio.sleep(0.1)
        state = await status(client)
    problems = state["settingsProblems"]
    assert any("store.url" in p and "privileged" in p for p in problems)
    assert any("features.diagnostics.run_on" in p and "'save'" in p for p in problems)
    # the workspace/configuration pull after `initialized` was applied on top
    assert state["features"]["completion"]["debounce_ms"] == 40
    # a configuration change re-resolves, but nothing already shown is repeated
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await status(client)
    shown = [m for m in client.messages if "store.url" in m.message]
    assert len(shown) == 1
    assert shown[0].type == types.MessageType.Warning
    assert "features.diagnostics.run_on" in shown[0].message  # one message for all problems
