"""From a chatty model answer to the smallest edit of the requesting document.

Code is taken from a fenced block (or an ``<answer>`` tag), re-indented to where it goes,
given the document's line endings, and diffed line by line against the original region.
Only the lines that changed become TextEdits, with positions in the negotiated encoding.
Model output is data: an edit outside the region the user chose is refused.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from dataclasses import dataclass

from lsprotocol import types

from codetune_lsp.documents import DocumentSnapshot

_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+#.-]*)[^\n]*\n(?P<body>.*?)"
    r"^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_ANSWER_TAG = re.compile(r"<answer>\n?(?P<body>.*?)</answer>", re.DOTALL | re.IGNORECASE)


class EditOutOfScope(ValueError):
    """The model's edit would touch text outside the region the user chose."""


def extract_code(answer: str, language: str = "") -> str | None:
    """The code in a model answer: the fenced block in ``language`` (else the longest
    fenced block), an ``<answer>`` tag, or the bare answer if it is code. For Python a bare
    answer must parse, after dropping any prose lines before and after it; prose is None."""
    blocks = [(m.group("lang").lower(), m.group("body")) for m in _FENCE.finditer(answer)]
    if blocks:
        preferred = [body for lang, body in blocks if language and lang == language.lower()]
        return max(preferred or [body for _, body in blocks], key=len)
    tagged = _ANSWER_TAG.search(answer)
    if tagged:
        return tagged.group("body")
    stripped = answer.strip("\n")
    if not stripped.strip() or "```" in stripped:
        return None  # an unterminated fence: the answer was cut off
    if language.lower() == "python":
        return bare_python(stripped)
    return stripped + "\n"


_CODE_START = re.compile(r"^[ \t]*(?:async[ \t]+def|def|class|import|from|@)\b")
_TRIVIAL = (ast.Expr, ast.Pass)


def _is_code(source: str) -> bool:
    """Parses, and is more than a bare name or sentence-like expression."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError):
        return False
    return any(
        not isinstance(node, _TRIVIAL)
        or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call))
        for node in tree.body
    )


def bare_python(text: str) -> str | None:
    """The Python code in an answer without a fence: the whole answer when it parses, else
    the stretch from the first ``def``/``class``/import line that parses once trailing
    prose lines are dropped. None when it is prose."""
    lines = text.splitlines(keepends=True)
    later = [i for i, line in enumerate(lines) if i and _CODE_START.match(line)]
    starts = [0, *later[:3]]
    for start in starts:
        for end in range(len(lines), start, -1):
            if end < len(lines) and not lines[end].strip():
                continue  # try cuts at the end of a paragraph only
            chunk = "".join(lines[start:end]).strip("\n")
            if chunk and _is_code(chunk):
                return chunk + "\n"
            if len(lines) - end > 20:
                break
    return None


def parsing_prefix(code: str) -> str | None:
    """The longest prefix of ``code`` ending before a top-level line that parses: a test
    module cut off mid-function keeps its complete tests. None when none parses."""
    lines = code.splitlines(keepends=True)
    cuts = [i for i, line in enumerate(lines) if i and line.strip() and not line[0].isspace()]
    for end in [len(lines), *reversed(cuts)]:
        chunk = "".join(lines[:end])
        if chunk.strip() and python_problem(chunk) is None:
            return chunk
    return None


def unterminated_fence_body(answer: str) -> str | None:
    """The text after an opening fence that was never closed (an answer cut off)."""
    match = re.search(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n", answer, re.MULTILINE)
    if match is None or _FENCE.search(answer):
        return None
    return answer[match.end() :]


def python_problem(code: str) -> str | None:
    """Why ``code`` is not valid Python (None when it parses), for edits and new files."""
    try:
        ast.parse(textwrap.dedent(code))
    except SyntaxError as exc:
        return f"{exc.msg} (line {exc.lineno})"
    except ValueError as exc:  # null bytes
        return str(exc)
    return None


def reindent(code: str, original: str) -> str:
    """Shift ``code`` so its first line has the indentation of ``original``'s first line."""
    first = next((line for line in original.splitlines() if line.strip()), "")
    target = first[: len(first) - len(first.lstrip())]
    body = textwrap.dedent(code)
    return "".join(
        (target + line) if line.strip() else line for line in body.splitlines(keepends=True)
    )


def with_line_endings(text: str, eol: str) -> str:
    return re.sub(r"\r\n|\r|\n", eol, text)


def document_eol(text: str) -> str:
    match = re.search(r"\r\n|\r|\n", text)
    return match.group(0) if match else "\n"


@dataclass(frozen=True)
class Region:
    """The part of a document an action may change: code-point offsets [start, end)."""

    start: int
    end: int

    @classmethod
    def whole_lines(cls, snap: DocumentSnapshot, first_line: int, last_line: int) -> Region:
        start = snap.offset_at(types.Position(line=first_line, character=0))
        end = snap.offset_at(types.Position(line=last_line + 1, character=0))
        return cls(start, end)


def minimal_edits(snap: DocumentSnapshot, region: Region, new_text: str) -> list[types.TextEdit]:
    """TextEdits turning ``region`` of ``snap`` into ``new_text``, changed lines only."""
    old_text = snap.text[region.start : region.end]
    if new_text and old_text.endswith(("\n", "\r")) and not new_text.endswith(("\n", "\r")):
        new_text += document_eol(old_text)
    new_text = with_line_endings(new_text, document_eol(snap.text))
    old_lines = old_text.splitlines(keepends=True)
    new_lines = new_text.splitlines(keepends=True)
    offsets = [region.start]
    for line in old_lines:
        offsets.append(offsets[-1] + len(line))
    edits = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        edits.append(
            types.TextEdit(
                range=snap.range_of(offsets[i1], offsets[i2]),
                new_text="".join(new_lines[j1:j2]),
            )
        )
    guard_edits(snap, region, edits)
    return edits


def guard_edits(snap: DocumentSnapshot, region: Region, edits: list[types.TextEdit]) -> None:
    """Refuse any edit that reaches outside ``region``."""
    for edit in edits:
        start = snap.offset_at(edit.range.start)
        end = snap.offset_at(edit.range.end)
        if start < region.start or end > region.end or end < start:
            raise EditOutOfScope(
                f"refused an edit of characters {start}-{end}: the action may only change "
                f"{region.start}-{region.end}"
            )


def apply_edits(text: str, snap: DocumentSnapshot, edits: list[types.TextEdit]) -> str:
    """Apply non-overlapping edits to ``text`` (the snapshot's text); for tests and checks."""
    spans = sorted(
        ((snap.offset_at(e.range.start), snap.offset_at(e.range.end), e.new_text) for e in edits),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text
