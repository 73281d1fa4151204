"""Feature results (plain offsets and lines) become lsprotocol types in the handlers."""

from __future__ import annotations

from lsprotocol import types

from codetune_lsp.documents import UTF16, DocumentSnapshot
from codetune_lsp.features.code_actions import ActionEdit, TextChange
from codetune_lsp.features.diagnostics import Finding
from codetune_lsp.handlers.convert import template_diagnostic, to_diagnostic, workspace_edit
from codetune_lsp.prompts.edits import Region, minimal_edits
from codetune_lsp.prompts.template import TemplateProblem

URI = "file:///w/a.py"
TEXT = "s = '😀'\r\ndef f():\r\n    return 1\r\n"


def snapshot(text: str = TEXT) -> DocumentSnapshot:
    return DocumentSnapshot(URI, 7, "python", text, UTF16)


def test_an_action_edit_is_a_versioned_edit_with_ranges_in_the_client_encoding() -> None:
    snap = snapshot()
    start = TEXT.index("1")
    edit = ActionEdit(URI, 7, (TextChange(start, start + 1, "2"),))
    converted = workspace_edit(snap, edit)
    [change] = converted.document_changes or []
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.version == 7
    [text_edit] = change.edits
    assert text_edit.range == types.Range(
        start=types.Position(line=2, character=11), end=types.Position(line=2, character=12)
    )
    assert edit.apply(TEXT) == TEXT.replace("1", "2")


def test_offsets_of_minimal_edits_convert_back_to_the_same_ranges() -> None:
    snap = snapshot("x = '😀'; y = '😀'\r\n" + TEXT)
    region = Region.whole_lines(snap, 1, 3)
    edits = minimal_edits(snap, region, "s = 2\ndef f():\n    return 3\n")
    changes = tuple(
        TextChange(snap.offset_at(e.range.start), snap.offset_at(e.range.end), e.new_text)
        for e in edits
    )
    [change] = workspace_edit(snap, ActionEdit(URI, 7, changes)).document_changes or []
    assert isinstance(change, types.TextDocumentEdit)
    assert change.edits == edits


def test_a_new_file_is_created_then_filled_from_its_start() -> None:
    edit = ActionEdit("file:///w/test_a.py", None, (TextChange(0, 0, "def test(): ...\n"),), True)
    create, fill = workspace_edit(snapshot(), edit).document_changes or []
    assert isinstance(create, types.CreateFile) and create.uri == "file:///w/test_a.py"
    assert create.options == types.CreateFileOptions(overwrite=False, ignore_if_exists=False)
    assert isinstance(fill, types.TextDocumentEdit) and fill.text_document.version is None
    origin = types.Position(line=0, character=0)
    assert fill.edits == [
        types.TextEdit(range=types.Range(start=origin, end=origin), new_text="def test(): ...\n")
    ]


def test_a_finding_spans_its_lines_from_the_first_code_and_links_its_cwe() -> None:
    finding = Finding(3, 3, "error", "CWE-78", "shell injection", "diagnostics.security", "quote")
    diagnostic = to_diagnostic(snapshot(), finding)
    assert diagnostic.range == types.Range(
        start=types.Position(line=2, character=4), end=types.Position(line=2, character=12)
    )
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.message == "shell injection\nFix: quote"
    assert diagnostic.code_description is not None
    assert diagnostic.code_description.href.endswith("/78.html")


def test_a_template_problem_marks_its_whole_line_clamped_to_the_document() -> None:
    snap = snapshot()
    problem = TemplateProblem("unknown key", line=99, severity="warning")
    diagnostic = template_diagnostic(snap, problem)
    assert diagnostic.range.start == types.Position(line=3, character=0)
    assert diagnostic.severity == types.DiagnosticSeverity.Warning
    assert diagnostic.source == "codetune-prompts"
