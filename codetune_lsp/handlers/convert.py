"""Feature results to lsprotocol types: the one place they are built.

Features answer in plain data (1-based finding lines, code-point offsets into a snapshot);
positions are computed here, in the snapshot's negotiated encoding.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lsprotocol import types

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.features.code_actions import ActionEdit, Flagged
from codetune_lsp.features.diagnostics import Finding

if TYPE_CHECKING:
    from codetune_lsp.prompts.template import TemplateProblem

SOURCE = "codetune"
PROMPTS_SOURCE = "codetune-prompts"
_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}
_LINE_END = 2**31 - 1  # clamped to the end of the line
_CWE = re.compile(r"^CWE-(\d+)$", re.IGNORECASE)
_CWE_PAGE = "https://cwe.mitre.org/data/definitions/{}.html"


def to_diagnostic(snap: DocumentSnapshot, finding: Finding) -> types.Diagnostic:
    """An AI finding, from its first line's code to its last line's end."""
    first = min(finding.line, snap.line_count) - 1
    last = min(finding.end_line, snap.line_count) - 1
    start_line = snap.line_text(first)
    line_start = snap.offset_at(types.Position(line=first, character=0))
    start = line_start + len(start_line) - len(start_line.lstrip())
    end = snap.offset_at(types.Position(line=last, character=_LINE_END))
    cwe = _CWE.match(finding.rule)
    message = finding.message + (f"\nFix: {finding.fix}" if finding.fix else "")
    return types.Diagnostic(
        range=snap.range_of(start, max(start, end)),
        severity=_SEVERITY.get(finding.severity, types.DiagnosticSeverity.Warning),
        code=finding.rule,
        code_description=(
            types.CodeDescription(href=_CWE_PAGE.format(cwe.group(1))) if cwe else None
        ),
        source=SOURCE,
        message=message,
        data={"executionId": finding.execution_id, "template": finding.template},
    )


def template_diagnostic(snap: DocumentSnapshot, problem: TemplateProblem) -> types.Diagnostic:
    """A prompt-template lint problem, on its (0-based, clamped) line."""
    line = min(max(problem.line, 0), snap.line_count - 1)
    start = snap.offset_at(types.Position(line=line, character=0))
    return types.Diagnostic(
        range=snap.range_of(start, start + len(snap.line_text(line))),
        severity=_SEVERITY[problem.severity],
        source=PROMPTS_SOURCE,
        message=problem.message,
    )


def flagged(diagnostic: types.Diagnostic) -> Flagged:
    return Flagged(diagnostic.message, diagnostic.source, diagnostic.range.start.line)


def workspace_edit(snap: DocumentSnapshot, edit: ActionEdit) -> types.WorkspaceEdit:
    """An action's edit: of ``snap`` at its version, or creating a new file."""
    document = types.OptionalVersionedTextDocumentIdentifier(uri=edit.uri, version=edit.version)
    if not edit.create:
        edits = [
            types.TextEdit(range=snap.range_of(c.start, c.end), new_text=c.new_text)
            for c in edit.changes
        ]
        return types.WorkspaceEdit(
            document_changes=[types.TextDocumentEdit(text_document=document, edits=edits)]
        )
    origin = types.Position(line=0, character=0)
    inserts = [
        types.TextEdit(range=types.Range(start=origin, end=origin), new_text=c.new_text)
        for c in edit.changes
    ]
    create = types.CreateFile(
        uri=edit.uri, options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False)
    )
    return types.WorkspaceEdit(
        document_changes=[create, types.TextDocumentEdit(text_document=document, edits=inserts)]
    )
