"""Every feature with the embedded Qwen2.5-Coder-0.5B, as a user meets it.

Times are printed (run with -s to see them), never asserted.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.prompts.edits import apply_edits
from tests.e2e.model_server import invoke_inline, open_doc

from .conftest import qwen_config, start_qwen_client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
EXAMPLES = Path(__file__).parents[2] / "examples"
FUNCTION = (
    "def is_palindrome(text: str) -> bool:\n"
    '    """Return True when text reads the same backwards, ignoring case and spaces."""\n'
    "    "
)
UNDOCUMENTED = (
    "import math\n\n\n"
    "def distance(a, b):\n"
    "    dx = a[0] - b[0]\n"
    "    dy = a[1] - b[1]\n"
    "    return math.sqrt(dx * dx + dy * dy)\n"
)


def inline_text(result: object, missing: str) -> str:
    """The first inline suggestion's text (``missing``: why there must be one)."""
    items = result.items if isinstance(result, types.InlineCompletionList) else result
    assert items, missing
    text = items[0].insert_text
    return text if isinstance(text, str) else text.value


def model_prompts(root: Path) -> list[str]:
    """The prompts of the completions the model answered, oldest first."""
    from tests.e2e.model_server import history

    rows = history(
        root,
        "SELECT p.text FROM executions e JOIN prompt_texts p ON p.hash = e.rendered_prompt_hash"
        " WHERE e.feature = 'completion' AND e.cache_hit = 0 ORDER BY e.created_at",
    )
    return [text for (text,) in rows]


def _without_docstrings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


async def test_an_inline_completion_in_a_function_body_leaves_valid_python(
    qwen_gguf: Path, tmp_path: Path
) -> None:
    client = await start_qwen_client(tmp_path, qwen_gguf)
    try:
        uri = (tmp_path / "words.py").as_uri()
        open_doc(client, uri, FUNCTION)
        cursor = types.Position(line=2, character=4)
        started = time.perf_counter()
        result = await invoke_inline(client, uri, cursor)
        print(f"inline completion: {time.perf_counter() - started:.2f}s")
        text = inline_text(result, "the real model should suggest a body")
        print(repr(text))
        completed = FUNCTION + text + "\n"
        ast.parse(completed)  # raises SyntaxError / IndentationError when the body is broken
        assert "return" in text
    finally:
        await client.shutdown_session()
        await client.stop()


def test_check_finds_the_sql_injection_and_the_shell_command(
    qwen_gguf: Path, tmp_path: Path
) -> None:
    config = qwen_config(tmp_path, qwen_gguf)
    env = {**os.environ, "CODETUNE_CONFIG": str(config), "CODETUNE_HOME": str(tmp_path / "data")}
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "codetune_lsp",
            "check",
            "--format",
            "json",
            "examples/unsafe_app.py",
        ],
        cwd=EXAMPLES.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=850,
    )
    print(f"check examples/unsafe_app.py: {time.perf_counter() - started:.1f}s")
    assert result.returncode == 1, result.stderr
    found = {(f["rule"], f["line"]) for f in json.loads(result.stdout)["findings"]}
    print(sorted(found))
    assert ("CWE-89", 10) in found
    assert ("CWE-78", 21) in found


async def test_the_docstring_action_documents_the_function_and_changes_nothing_else(
    qwen_gguf: Path, tmp_path: Path
) -> None:
    client = await start_qwen_client(tmp_path, qwen_gguf)
    try:
        path = tmp_path / "geometry.py"
        path.write_text(UNDOCUMENTED)
        uri = path.as_uri()
        open_doc(client, uri, UNDOCUMENTED)
        at = types.Position(line=4, character=6)
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=at, end=at),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        docstring = next(a for a in actions if a.title.startswith("AI: Add docstring"))
        started = time.perf_counter()
        resolved = await client.code_action_resolve_async(docstring)
        print(f"docstring action: {time.perf_counter() - started:.1f}s")
        (change,) = resolved.edit.document_changes
        snap = DocumentSnapshot(uri, 1, "python", UNDOCUMENTED, "utf-16")
        after = apply_edits(UNDOCUMENTED, snap, list(change.edits))
        print(after)
        tree = ast.parse(after)
        function = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
        assert ast.get_docstring(function)
        assert _without_docstrings(tree) == _without_docstrings(ast.parse(UNDOCUMENTED))
    finally:
        await client.shutdown_session()
        await client.stop()


def write_workspace(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` (relative path -> text) under ``root``; each folder is a package."""
    for relative, text in files.items():
        path = root / relative
        if path.parent != root:
            path.parent.mkdir(exist_ok=True)
            (path.parent / "__init__.py").write_text("")
        path.write_text(text)


async def trusted_client_with_index(root: Path, gguf: Path):
    """The real server with ``root`` as a trusted workspace, once its index is built."""
    client = await start_qwen_client(root, gguf, extra=f'\n[workspace]\ntrusted = ["{root}"]\n')
    status = types.ExecuteCommandParams(command="codetune.status")
    while (await client.workspace_execute_command_async(status))["crossFileIndex"][
        "state"
    ] != "ready":
        await asyncio.sleep(0.1)
    return client


SHAPES = (
    "def shoelace_polygon_area(vertices):\n"
    '    """Area of a simple polygon from its (x, y) vertices, by the shoelace formula."""\n'
    "    total = 0.0\n"
    "    for (x0, y0), (x1, y1) in zip(vertices, vertices[1:] + vertices[:1]):\n"
    "        total += x0 * y1 - x1 * y0\n"
    "    return abs(total) / 2\n"
)
LOT = (
    "from geometry import shapes\n\n\n"
    "def lot_area(corners):\n"
    '    """Area of the lot, a polygon given by its corners, by the shoelace formula."""\n'
    "    return shapes."
)


async def test_a_completion_uses_a_function_defined_only_in_another_file(
    qwen_gguf: Path, tmp_path: Path
) -> None:
    write_workspace(tmp_path, {"geometry/shapes.py": SHAPES, "lot.py": LOT})
    client = await trusted_client_with_index(tmp_path, qwen_gguf)
    try:
        uri = (tmp_path / "lot.py").as_uri()
        open_doc(client, uri, LOT)
        cursor = types.Position(line=5, character=len("    return shapes."))
        started = time.perf_counter()
        result = await invoke_inline(client, uri, cursor)
        print(f"completion with cross-file context: {time.perf_counter() - started:.2f}s")
    finally:
        await client.shutdown_session()
        await client.stop()
    text = inline_text(result, "the real model should complete the call")
    print(repr(text))
    assert text.startswith("shoelace_polygon_area(")  # a name it can only know from shapes.py


SETTINGS = "".join(
    f"{name} = {value!r}\n"
    for name, value in [
        ("HF_HUB_CACHE", "~/.cache/hub"),
        ("HF_HUB_OFFLINE", False),
        ("HF_TOKEN_PATH", "~/.cache/token"),
        ("DEFAULT_REVISION", "main"),
        ("ENDPOINT", "https://example.org"),
        ("REPO_TYPE_MODEL", "model"),
        ("REPO_TYPES", ["model", "dataset"]),
        ("CONFIG_NAME", "config.json"),
    ]
)
DOWNLOAD = (
    "from pathlib import Path\n\nfrom hub import settings\n\n\n"
    "def cached_file(name):\n"
    '    """Where a downloaded file is kept in the local cache."""\n'
    "    return Path(settings."
)


async def test_after_a_module_dot_the_completion_names_what_the_module_defines(
    qwen_gguf: Path, tmp_path: Path
) -> None:
    write_workspace(tmp_path, {"hub/settings.py": SETTINGS, "download.py": DOWNLOAD})
    client = await trusted_client_with_index(tmp_path, qwen_gguf)
    try:
        uri = (tmp_path / "download.py").as_uri()
        open_doc(client, uri, DOWNLOAD)
        cursor = types.Position(line=7, character=len("    return Path(settings."))
        result = await invoke_inline(client, uri, cursor)
    finally:
        await client.shutdown_session()
        await client.stop()
    text = inline_text(result, "the real model should complete the attribute")
    print(repr(text))
    name = re.match(r"\w*", text).group()
    assert name in {line.split(" = ")[0] for line in SETTINGS.splitlines()}, text


COUNTING = (
    "from collections import OrderedDict\n\n\n"
    "def count_words(lines):\n"
    "    counts = OrderedDict()\n"
    "    for line in lines:\n"
    "        for word in line.split():\n"
    "            \n"
    "    return counts\n"
)


async def test_typing_on_the_line_extends_the_prompt_and_the_answer_finishes_the_word(
    qwen_gguf: Path, tmp_path: Path
) -> None:
    from tests.e2e.model_server import replace_all

    client = await start_qwen_client(tmp_path, qwen_gguf, "neovim")
    try:
        uri = (tmp_path / "count.py").as_uri()
        open_doc(client, uri, COUNTING)
        line, column = 7, len("            ")
        started = time.perf_counter()
        await invoke_inline(client, uri, types.Position(line=line, character=column))
        cold = time.perf_counter() - started
        typed = "if wo"  # the first answer was ``counts[word] = ...``: no type-ahead
        at = COUNTING.index("\n    return")
        replace_all(client, uri, COUNTING[:at] + typed + COUNTING[at:], 2)
        started = time.perf_counter()
        result = await invoke_inline(
            client, uri, types.Position(line=line, character=column + len(typed))
        )
        warm = time.perf_counter() - started
        print(f"first request {cold:.2f}s, after typing {warm:.2f}s")
    finally:
        await client.shutdown_session()
        await client.stop()
    text = inline_text(result, "the real model should finish the line")
    print(repr(text))
    # The prompt left out the typed " wo" (the model spelled it with its own tokens) and
    # the served text is what follows it: the rest of the word, then the line.
    assert text.startswith("rd"), text
    prompts = model_prompts(tmp_path)
    first, second = prompts
    assert second == first + "if"


async def test_typing_after_a_module_dot_extends_the_prompt_and_still_names_the_module(
    qwen_gguf: Path, tmp_path: Path
) -> None:
    from tests.e2e.model_server import replace_all

    write_workspace(tmp_path, {"hub/settings.py": SETTINGS, "download.py": DOWNLOAD})
    names = {line.split(" = ")[0] for line in SETTINGS.splitlines()}
    client = await trusted_client_with_index(tmp_path, qwen_gguf)
    try:
        uri = (tmp_path / "download.py").as_uri()
        open_doc(client, uri, DOWNLOAD)
        line, column = 7, len("    return Path(settings.")
        first = await invoke_inline(client, uri, types.Position(line=line, character=column))
        items = first.items if isinstance(first, types.InlineCompletionList) else first
        answer = items[0].insert_text if items else ""
        typed = "DEF" if str(answer).startswith("CON") else "CON"  # not type-ahead
        replace_all(client, uri, DOWNLOAD + typed, 2)
        result = await invoke_inline(
            client, uri, types.Position(line=line, character=column + len(typed))
        )
    finally:
        await client.shutdown_session()
        await client.stop()
    text = inline_text(result, "the real model should finish the name")
    print(repr(text))
    assert typed + re.match(r"\w*", text).group() in names, text
    prompts = model_prompts(tmp_path)
    before, after = prompts
    assert after == before  # the typed word is the answer's required start, not prompt text
