"""Start the real server with a tiny model built at test time, as an LSP client would."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

TINY_PROFILE = "tiny"


def write_config(root: Path, model_path: Path, extra: str = "", diagnostics: bool = True) -> Path:
    config = root / "config.toml"
    # One tiny model serves every feature here: keep diagnostics out of tests of the others.
    run_on = '["open", "save"]' if diagnostics else '["off"]'
    config.write_text(
        f'[models.{TINY_PROFILE}]\nfamily = "whiterabbitneo"\nid = "{model_path}"\n\n'
        f'[features.completion]\nmodel = "{TINY_PROFILE}"\nmax_new_tokens = 24\n\n'
        f'[features.code_actions]\nmodel = "{TINY_PROFILE}"\n\n'
        f'[features.diagnostics]\nmodel = "{TINY_PROFILE}"\n'
        f"run_on = {run_on}\n"
        f"{extra}"
    )
    return config


async def start_client(
    root: Path,
    model_path: Path,
    client_name: str,
    *,
    extra_config: str = "",
    capabilities: types.ClientCapabilities | None = None,
    diagnostics: bool = True,
) -> LanguageClient:
    config = write_config(root, model_path, extra_config, diagnostics)
    client = make_test_lsp_client()
    env = {**os.environ, "CODETUNE_CONFIG": str(config), "CODETUNE_HOME": str(root / "data")}
    await client.start_io(sys.executable, "-m", "codetune_lsp", env=env)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities or client_capabilities(client_name),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")],
        )
    )
    return client


def history(root: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the server's history database directly (the CLI has its own tests)."""
    database = root / "data" / "codetune.db"
    try:  # read-only: never create the file before the server does
        with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not created or not migrated yet
        return []


async def history_when(root: Path, sql: str, timeout: float = 5.0) -> list[tuple[Any, ...]]:
    """``history`` once it returns rows (writes commit shortly after a request answers)."""
    import asyncio

    for _ in range(int(timeout / 0.05)):
        rows = history(root, sql)
        if rows:
            return rows
        await asyncio.sleep(0.05)
    return history(root, sql)


async def count_at_least(root: Path, sql: str, minimum: int = 1, timeout: float = 5.0) -> int:
    """A ``SELECT count(*)`` once it reaches ``minimum`` (rows commit just after answers)."""
    import asyncio

    count = 0
    for _ in range(int(timeout / 0.05)):
        rows = history(root, sql)
        count = rows[0][0] if rows else 0
        if count >= minimum:
            break
        await asyncio.sleep(0.05)
    return count


def open_doc(client: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=version, text=text
            )
        )
    )


async def invoke_inline(client: LanguageClient, uri: str, position: types.Position) -> Any:
    """An explicit (Invoked) inline completion request at ``position``."""
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
        )
    )


def replace_all(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
