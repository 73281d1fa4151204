"""A store filled by a real editor session with a tiny model, plus several days of generated
history and evaluation runs; the report written from it by the real CLI; a real Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from codetune_lsp.paths import Paths
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store import open_store
from codetune_lsp.store.tables import utcnow
from tests.dashboard.synthetic import add_eval_runs, fill_history
from tests.e2e.model_server import TINY_PROFILE, count_at_least, open_doc, replace_all, start_client

CHROMIUM = "/usr/bin/chromium"  # Debian's package (installed by .ci/run)
PREFIX = "def g():\n    total = "
SUFFIX = "\n    return total\n"
GENERATED = 1500


@dataclass(frozen=True)
class ReportHome:
    root: Path
    env: dict[str, str]
    status: dict[str, Any]  # what `codetune.status` answered during the session

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "codetune_lsp", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def stats(self, by: str) -> dict[str, Any]:
        return json.loads(self.cli("stats", "--by", by, "--json").stdout)


def _completion(uri: str, line: int, character: int, invoked: bool) -> types.CompletionParams:
    kind = (
        types.CompletionTriggerKind.Invoked
        if invoked
        else types.CompletionTriggerKind.TriggerCharacter
    )
    return types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.CompletionContext(
            trigger_kind=kind, trigger_character=None if invoked else " "
        ),
    )


async def _session(root: Path, model: Path) -> dict[str, Any]:
    """A completion accepted, then typing into it (type-ahead), as VS Code asks for them.

    Code actions and diagnostics generate hundreds of tokens each, which takes a minute with
    the tiny model on a shared CPU; the generated history covers those features."""
    client = await start_client(root, model, "visual-studio-code", diagnostics=False)
    try:
        uri = (root / "g.py").as_uri()
        open_doc(client, uri, PREFIX + SUFFIX)
        column = len("    total = ")
        result = await client.text_document_completion_async(_completion(uri, 1, column, True))
        (item,) = result.items
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=item.command.command, arguments=item.command.arguments
            )
        )
        typed = item.text_edit.new_text[:1]
        replace_all(client, uri, PREFIX + typed + SUFFIX, 2)
        await client.text_document_completion_async(_completion(uri, 1, column + len(typed), False))
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codetune.status", arguments=[])
        )
        assert await count_at_least(root, "SELECT count(*) FROM feedback", 1, timeout=30) == 1
        assert await count_at_least(root, "SELECT count(*) FROM executions", 2, timeout=30) == 2
        return status
    finally:
        await client.shutdown_session()
        await client.stop()


@pytest.fixture(scope="package")
def report_home(tmp_path_factory: pytest.TempPathFactory) -> ReportHome:
    from tests.models.tiny_models import build_llama

    model = build_llama(tmp_path_factory.mktemp("report-llama"))
    root = tmp_path_factory.mktemp("report-home")
    # Its own thread: Playwright's synchronous API may already own this thread's event loop.
    with ThreadPoolExecutor(1) as worker:
        status = worker.submit(asyncio.run, _session(root, model)).result()
    paths = Paths(root / "config.toml", "test", root / "data", "test")
    store = open_store(StoreSettings(), paths)
    try:
        now = utcnow()
        filled = fill_history(store, executions=GENERATED, days=6, now=now)
        add_eval_runs(store, filled, now)
    finally:
        store.close()
    env = {
        **os.environ,
        "CODETUNE_CONFIG": str(root / "config.toml"),
        "CODETUNE_HOME": str(root / "data"),
    }
    assert TINY_PROFILE in (root / "config.toml").read_text()
    return ReportHome(root, env, status)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (its own browsers are never fetched)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
