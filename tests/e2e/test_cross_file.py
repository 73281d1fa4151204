"""Cross-file context end to end: a symbol defined only in another workspace file reaches
the completion prompt in a trusted workspace, and nothing untrusted or outside the
workspace ever does."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from lsprotocol import types

from .model_server import count_at_least, history, open_doc, start_client

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
HELPER = (
    f'MAP_SERVICE_TOKEN = "{TOKEN}"\n\n\n'
    "def shoelace_polygon_area(vertices):\n"
    '    """Area of a simple polygon from its (x, y) vertices, by the shoelace formula."""\n'
    "    return 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairs(vertices)))\n"
)
APP = "from geometry.shapes import shoelace_polygon_area\n\n\ndef lot_area(corners):\n    return "
OUTSIDE_MARKER = "outside_only_marker_function"
STATUS = types.ExecuteCommandParams(command="codetune.status")


def make_workspace(root: Path) -> Path:
    (root / "geometry").mkdir()
    (root / "geometry" / "__init__.py").write_text("")
    (root / "geometry" / "shapes.py").write_text(HELPER)
    app = root / "app.py"
    app.write_text(APP)
    return app


def trusted(root: Path) -> str:
    return f'\n[workspace]\ntrusted = ["{root}"]\n'


async def index_ready(client) -> dict:
    """The server's cross-file index status once it has finished building."""
    for _ in range(600):
        status = await client.workspace_execute_command_async(STATUS)
        index = status["crossFileIndex"]
        if index["state"] in ("ready", "off"):
            return index
        await asyncio.sleep(0.05)
    raise AssertionError(f"the index never finished: {index}")


async def complete(client, root: Path, uri: str, text: str) -> tuple[str, list | None]:
    """Ask for a completion at the end of ``text``; the prompt and context recorded."""
    lines = text.split("\n")
    position = types.Position(line=len(lines) - 1, character=len(lines[-1]))
    await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
        )
    )
    query = "SELECT count(*) FROM executions WHERE feature = 'completion'"
    assert await count_at_least(root, query, 1, timeout=60) >= 1
    rows = history(
        root,
        "SELECT p.text, e.context_json FROM executions e"
        " JOIN prompt_texts p ON p.hash = e.rendered_prompt_hash"
        " WHERE e.feature = 'completion' ORDER BY e.created_at DESC LIMIT 1",
    )
    prompt, context = rows[0]
    return prompt, json.loads(context) if context else None


async def test_a_definition_from_another_file_is_in_the_prompt(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    app = make_workspace(tmp_path)
    client = await start_client(
        tmp_path, tiny_llama_path, "neovim", extra_config=trusted(tmp_path), diagnostics=False
    )
    try:
        index = await index_ready(client)
        assert index["state"] == "ready" and index["files"] >= 3
        open_doc(client, app.as_uri(), APP)
        prompt, context = await complete(client, tmp_path, app.as_uri(), APP)
    finally:
        await client.shutdown_session()
        await client.stop()
    assert "def shoelace_polygon_area(vertices):" in prompt
    assert "shoelace formula" in prompt
    assert "MAP_SERVICE_TOKEN" in prompt and TOKEN not in prompt  # redacted like documents
    assert prompt.index("shoelace formula") < prompt.index("def lot_area")
    assert context is not None
    assert {"source": "definition", "path": "geometry/shapes.py"}.items() <= context[0].items()
    assert context[0]["tokens"] > 0


async def test_an_untrusted_workspace_sends_no_other_file(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    app = make_workspace(tmp_path)
    client = await start_client(tmp_path, tiny_llama_path, "neovim", diagnostics=False)
    try:
        assert (await index_ready(client))["files"] == 0
        open_doc(client, app.as_uri(), APP)
        prompt, context = await complete(client, tmp_path, app.as_uri(), APP)
    finally:
        await client.shutdown_session()
        await client.stop()
    assert "def lot_area" in prompt
    assert "shoelace formula" not in prompt
    assert context is None


async def test_files_outside_the_root_never_enter_the_prompt(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    root, outside = tmp_path / "ws", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    app = make_workspace(root)
    secret = f"def {OUTSIDE_MARKER}(corners):\n    return lot_area(corners)\n"
    (outside / "private.py").write_text(secret)
    (root / "linked.py").symlink_to(outside / "private.py")  # a link leading out
    client = await start_client(
        root, tiny_llama_path, "neovim", extra_config=trusted(root), diagnostics=False
    )
    try:
        await index_ready(client)
        # An open document outside the workspace is not a source either.
        open_doc(client, (outside / "private.py").as_uri(), secret)
        open_doc(client, app.as_uri(), APP)
        prompt, _ = await complete(client, root, app.as_uri(), APP)
    finally:
        await client.shutdown_session()
        await client.stop()
    assert "shoelace formula" in prompt  # context is on ...
    assert OUTSIDE_MARKER not in prompt  # ... and nothing from outside came in


async def test_after_a_module_dot_even_a_random_model_names_what_the_module_binds(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    make_workspace(tmp_path)
    text = "from geometry import shapes\n\n\ndef lot_area(corners):\n    return shapes."
    app = tmp_path / "lot.py"
    app.write_text(text)
    client = await start_client(
        tmp_path, tiny_llama_path, "neovim", extra_config=trusted(tmp_path), diagnostics=False
    )
    try:
        await index_ready(client)
        open_doc(client, app.as_uri(), text)
        await complete(client, tmp_path, app.as_uri(), text)
    finally:
        await client.shutdown_session()
        await client.stop()
    ((output, params),) = history(
        tmp_path, "SELECT output, params_json FROM executions WHERE feature = 'completion'"
    )
    first = re.match(r"\w*", output).group()
    assert first in {"MAP_SERVICE_TOKEN", "shoelace_polygon_area"}, output
    assert json.loads(params)["first_word"].startswith("2:")  # the rule is part of the key
