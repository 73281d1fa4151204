"""Code-action outcomes that a random tiny model cannot produce: a valid test file created
beside its source, and a client that never answers ``window/showDocument``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities

from codetune_lsp.client import ClientFeatures
from codetune_lsp.documents import UTF16, DocumentSnapshot
from codetune_lsp.features.code_actions import CodeActionFeature
from codetune_lsp.handlers import code_actions
from codetune_lsp.settings import Settings
from codetune_lsp.workspace import WorkspaceRoots

SOURCE = "def area(w, h):\n    return w * h\n"
TESTS = "from geometry import area\n\n\ndef test_area():\n    assert area(2, 3) == 6\n"


def host(root: Path, capabilities: types.ClientCapabilities) -> SimpleNamespace:
    shown: list[tuple[str, int]] = []
    return SimpleNamespace(
        settings=Settings(),
        client=ClientFeatures.resolve(capabilities),
        roots=WorkspaceRoots([root.as_uri()]),
        show=lambda message, level=logging.WARNING: shown.append((message, level)),
        shown=shown,
    )


def test_a_parsed_test_file_is_created_beside_the_source(tmp_path: Path) -> None:
    source = tmp_path / "geometry.py"
    source.write_text(SOURCE)
    server = host(tmp_path, client_capabilities("visual-studio-code"))
    snap = DocumentSnapshot(source.as_uri(), 1, "python", SOURCE, UTF16)
    result = SimpleNamespace(execution_id="e1", text=TESTS)
    outcome = CodeActionFeature(server)._new_file(snap, 0, len(SOURCE), result, "")
    assert outcome.edit.create
    assert outcome.edit.uri == (tmp_path / "test_geometry.py").as_uri() == outcome.show
    assert [c.new_text for c in outcome.edit.changes] == [TESTS]


def test_an_unusable_test_file_says_why_and_offers_nothing(tmp_path: Path) -> None:
    server = host(tmp_path, client_capabilities("visual-studio-code"))
    snap = DocumentSnapshot((tmp_path / "g.py").as_uri(), 1, "python", SOURCE, UTF16)
    result = SimpleNamespace(execution_id="e2", text="")
    why = "the generated test file does not parse (invalid syntax (line 1)); not written"
    outcome = CodeActionFeature(server)._new_file(snap, 0, len(SOURCE), result, why)
    assert outcome.edit is None and outcome.message == why


@pytest.mark.parametrize("answer", ["never", "null"])
def test_show_document_gives_up_on_a_client_that_does_not_open_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    monkeypatch.setattr(code_actions, "SHOW_DOCUMENT_TIMEOUT_S", 0.2)
    server = host(tmp_path, client_capabilities("visual-studio-code"))
    asked: list[types.ShowDocumentParams] = []

    async def window_show_document_async(params: types.ShowDocumentParams):
        asked.append(params)
        if answer == "never":
            await asyncio.Event().wait()
        return None

    server.window_show_document_async = window_show_document_async
    uri = (tmp_path / "answer.md").as_uri()
    asyncio.run(code_actions._show_document(server, uri))
    assert [p.uri for p in asked] == [uri]
    assert server.shown == [(f"codetune: the answer is in {uri}", logging.INFO)]


def test_a_docstring_for_a_line_inside_a_function_documents_that_function(tmp_path: Path) -> None:
    """ALE sends the cursor's line as a one-character selection."""
    text = "import os\n\n\ndef run(cmd):\n    result = os.system(cmd)\n    return result\n"
    snap = DocumentSnapshot((tmp_path / "a.py").as_uri(), 1, "python", text, UTF16)
    feature = CodeActionFeature(host(tmp_path, client_capabilities("visual-studio-code")))
    inside = (snap.offset_at(types.Position(line=4, character=6)),) * 2
    inside = (inside[0], inside[0] + 1)
    start, end, first = feature.region(snap, *inside, definition=True)
    assert (text[start:end], first) == (
        "def run(cmd):\n    result = os.system(cmd)\n    return result\n",
        3,
    )
    start, end, first = feature.region(snap, *inside)
    assert text[start:end] == "    result = os.system(cmd)\n"


def test_a_fix_outside_any_definition_rewrites_the_flagged_lines_only(tmp_path: Path) -> None:
    text = "import os\n\nTOKEN = 'tk_8c1f0e9d7b6a5'\n\n\ndef run():\n    return TOKEN\n"
    snap = DocumentSnapshot((tmp_path / "a.py").as_uri(), 1, "python", text, UTF16)
    feature = CodeActionFeature(host(tmp_path, client_capabilities("visual-studio-code")))
    flagged = (snap.offset_at(types.Position(line=2, character=0)), text.index("\n\n\ndef"))
    start, end, first = feature.region(snap, *flagged, definition=True, outside="selection")
    assert (text[start:end], first) == ("TOKEN = 'tk_8c1f0e9d7b6a5'\n", 2)
    start, end, _ = feature.region(snap, *flagged, definition=True)
    assert (start, end) == (0, len(text))  # a docstring there documents the module's code


def test_a_fix_that_reads_a_new_standard_module_imports_it_at_the_top(tmp_path: Path) -> None:
    text = "import os\n\n\ndef ping(host):\n    os.system('ping ' + host)\n"
    snap = DocumentSnapshot((tmp_path / "a.py").as_uri(), 1, "python", text, UTF16)
    feature = CodeActionFeature(host(tmp_path, client_capabilities("visual-studio-code")))
    fixed = "def ping(host):\n    subprocess.run(['ping', host], check=True)\n"
    result = SimpleNamespace(execution_id="e3", text=fixed)
    start = text.index("def ping")
    outcome = feature._edit(snap, start, len(text), result, "", ["subprocess"])
    assert outcome.edit.apply(text) == "import subprocess\nimport os\n\n\n" + fixed
