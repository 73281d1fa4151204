"""Turn a model's raw completion into the text to insert at the cursor.

Models overshoot: they run past the end of the block, repeat the code after the cursor,
loop on one line, and mix line endings. The cursor context decides single-line (mid-line:
the rest of this line) or multi-line (after a block opener or on an empty line), and
post-processing trims the output to fit the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# C0/C1 control characters (tab and line breaks excepted) and U+FFFD, which only ever
# comes from decoding a token that split a UTF-8 sequence: never insert them.
# The chat template a completion falls back to when its model has no fill-in-the-middle format.
CHAT_TEMPLATE = "completion.chat"
_JUNK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
# A short run of text repeated four times or more on one line: the model is looping, unless
# the run has no letter in it (indentation, or a ruler like ======), which is checked below.
_LOOP = re.compile(r"(?=([^\n]{3,40}?)\1{3,})")
_LETTER = re.compile(r"[^\W\d_]")
_BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->", " do", " then", "=")
_MIN_REPEATS = 3
_DEF = re.compile(r"^[ \t]*(async[ \t]+)?def[ \t]+\w+[ \t]*[(\[]")
_DOC_QUOTES = ('"""', "'''")
# How far back a function header may start above its last line (a long signature).
_HEADER_LINES = 30
_LINE_BREAK = re.compile(r"[\r\n]")
_TAB_INDENT = re.compile(r"^\t", re.MULTILINE)
_SPACE_INDENT = re.compile(r"^( +)\S", re.MULTILINE)
# A completion that writes these many of the lines after the cursor has joined them.
_JOIN_LINES = 2
_JOIN_MIN_LETTERS = 6


@dataclass(frozen=True)
class CursorContext:
    """What the text around the cursor says about the wanted completion."""

    line_prefix: str  # text on the cursor's line before it
    line_suffix: str  # text on the cursor's line after it
    eol: str  # the document's line ending
    indent_unit: str  # one level of indentation in this document
    multiline: bool

    @property
    def indent(self) -> str:
        return self.line_prefix[: len(self.line_prefix) - len(self.line_prefix.lstrip())]

    @classmethod
    def from_text(cls, prefix: str, suffix: str) -> CursorContext:
        """The context of a cursor between ``prefix`` and ``suffix``. One completion asks
        for it several times with the same two strings: the last few are remembered."""
        return _context(prefix, suffix)


@lru_cache(maxsize=4)
def _context(prefix: str, suffix: str) -> CursorContext:
    line_prefix = prefix[max(prefix.rfind("\n"), prefix.rfind("\r")) + 1 :]
    found = _LINE_BREAK.search(suffix)
    line_suffix = suffix[: found.start()] if found else suffix
    whole = prefix + suffix
    eol = "\r\n" if "\r\n" in whole else ("\r" if "\r" in whole else "\n")
    stripped = line_prefix.rstrip()
    at_block_start = stripped.endswith(_BLOCK_OPENERS) and not line_suffix.strip()
    blank_line = not line_prefix.strip() and not line_suffix.strip()
    return CursorContext(
        line_prefix, line_suffix, eol, _indent_unit(whole), at_block_start or blank_line
    )


def _width(line: str) -> int:
    return len(line[: len(line) - len(line.lstrip())].expandtabs(4))


def _skip_back(lines: list[str], i: int) -> int:
    """The index of the nearest line at or above ``i`` that is neither blank nor a comment."""
    while i >= 0 and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
        i -= 1
    return i


def _docstring_start(lines: list[str], i: int) -> int | None:
    """Where the docstring ending on line ``i`` opens, or None if line ``i`` ends none."""
    end = lines[i].rstrip()
    quote = next((q for q in _DOC_QUOTES if end.endswith(q)), None)
    if quote is None:
        return None
    if end.lstrip().lstrip("rRuUbBfF").startswith(quote) and end.count(quote) >= 2:
        return i  # a one-line docstring
    for j in range(i - 1, -1, -1):
        if quote in lines[j]:
            return j if lines[j].lstrip().lstrip("rRuUbBfF").startswith(quote) else None
    return None


def _header_start(lines: list[str], i: int) -> int | None:
    """Where the ``def`` whose header ends on line ``i`` (with its colon) starts, or None."""
    if not _opens_block(lines[i]):
        return None
    for j in range(i, max(i - _HEADER_LINES, -1), -1):
        if _DEF.match(lines[j]):
            # A header over several lines leaves its bracket open on the def's line.
            opened = lines[j].count("(") + lines[j].count("[") - lines[j].count(")")
            return j if j == i or opened - lines[j].count("]") > 0 else None
        if j < i and _opens_block(lines[j]):
            return None  # another block's header: line ``i`` is not a def's
    return None


def cursor_kind(prefix: str, suffix: str) -> str:
    """What the completion at the cursor should be.

    ``body``: the cursor stands alone on the first line of a Python function whose body is
    still empty: below its header (and docstring), indented deeper than the ``def``, and
    the next code after the cursor is back at the ``def``'s depth or shallower (or there is
    none). ``block``: any other multi-line place. ``line``: the rest of the current line.
    """
    ctx = CursorContext.from_text(prefix, suffix)
    if not ctx.multiline:
        return "line"
    if ctx.line_prefix.strip() or ctx.line_suffix.strip():
        return "block"
    lines = re.split(r"\r\n|\r|\n", prefix)[:-1]
    i = _skip_back(lines, len(lines) - 1)
    if i < 0:
        return "block"
    doc = _docstring_start(lines, i)
    if doc is not None:
        i = _skip_back(lines, doc - 1)
        if i < 0:
            return "block"
    start = _header_start(lines, i)
    if start is None:
        return "block"
    depth = _width(lines[start])
    if _width(ctx.line_prefix) <= depth:
        return "block"
    after = [line for line in _lines_after_cursor(suffix) if line.strip()]
    if after and _width(after[0]) > depth and not after[0].lstrip().startswith("#"):
        return "block"  # the body already has code: fill in around it
    return "body"


def _first_loop(text: str) -> int | None:
    """Where to cut a line that loops (after its first turn), or None."""
    for match in _LOOP.finditer(text):
        unit = match.group(1)
        if _LETTER.search(unit):
            return match.start(1) + len(unit)
    return None


def _indent_unit(text: str) -> str:
    if _TAB_INDENT.search(text):
        return "\t"
    smallest = min(map(len, _SPACE_INDENT.findall(text)), default=4)
    return " " * (smallest if smallest in (2, 3, 4, 8) else 4)


@lru_cache(maxsize=4)
def _lines_after_cursor(suffix: str) -> tuple[str, ...]:
    """The lines below the cursor's (asked for several times per completion)."""
    return tuple(re.split(r"\r\n|\r|\n", suffix)[1:])


def _cut_repetition(lines: list[str]) -> list[str]:
    """Stop where a line or a short block starts repeating itself."""
    for size in (1, 2, 3):
        for start in range(len(lines) - size * _MIN_REPEATS + 1):
            block = lines[start : start + size]
            if not any(line.strip() for line in block):
                continue
            repeats = 1
            while lines[start + repeats * size : start + (repeats + 1) * size] == block:
                repeats += 1
            if repeats >= _MIN_REPEATS:
                return lines[: start + size]
    return lines


def _scope_end(
    lines: list[str],
    ctx: CursorContext,
    floor: int | None = None,
    below: CodeBelow | None = None,
    final: bool = True,
) -> int | None:
    """How many lines stay inside the block the cursor is in, or None while all do.

    After a block opener the block is deeper than the opener's line, so a line back at
    that depth ends it (a closing bracket there is kept). Elsewhere siblings at the
    cursor's depth belong to the block and only a shallower line ends it. With a
    ``floor`` (no code follows the cursor in its function: the answer may finish the
    function), only a line at or above the function's own depth ends it.

    ``below`` is the code after the cursor's line: see ``_climbs_to``.
    """
    base = len(ctx.indent.expandtabs(4))
    opened = ctx.line_prefix.rstrip().endswith(_BLOCK_OPENERS)
    for index, line in enumerate(lines[1:], start=1):
        if not line.strip():
            continue
        depth = len(line[: len(line) - len(line.lstrip())].expandtabs(4))
        if floor is not None:
            if depth <= floor:
                return index
            continue
        if depth < base or (opened and depth == base):
            closes = opened and depth == base and line.lstrip()[:1] in ")]}"
            if closes:
                return index + 1
            if not opened and below is not None and below.depth < base + _unit(ctx):
                return _climbs_to(lines, index, below, _unit(ctx), final)
            return index
    return None


def _climbs_to(
    lines: list[str], start: int, below: CodeBelow, unit: int, final: bool
) -> int | None:
    """Where a hole that left the cursor's block at ``lines[start]`` ends, when code
    follows the cursor (``below``): the hole may climb out to reach it. Its lines from
    ``start`` on must be statements at the depth of the code below (no block of their own,
    no ``return``: that code follows them), and the last may open the block the code below
    is the body of (``else:``, one level up) unless the code below has such a clause of its
    own there. A model that wrote the code below's first line itself went its own way. In
    those cases the hole ends at ``start``, where it left the cursor's block. Until the
    answer is ``final``, a climb that fits may still go on (None)."""
    if any(line.strip() == below.first for line in lines[:start]):
        return start
    depth_below = below.depth
    code = [i for i in range(start, len(lines)) if lines[i].strip()]
    for at, i in enumerate(code):
        line = lines[i]
        depth = _width(line)
        opens = _opens_block(line)
        if depth < depth_below - unit or (depth == depth_below - unit and not opens):
            return i if at else start  # past the code below's block: it ends here
        if depth == depth_below - unit:  # opens the code below's block: the last line
            keyword = line.split(None, 1)[0].rstrip(":")
            if at + 1 < len(code) or keyword in below.clauses(depth):
                return start
            return i + 1 if final else None
        if depth != depth_below or opens or _ENDS_FLOW.match(line.lstrip()):
            return start
    return None


def _unit(ctx: CursorContext) -> int:
    return len(ctx.indent_unit.expandtabs(4)) or 4


def _cut_scope(
    lines: list[str],
    ctx: CursorContext,
    floor: int | None = None,
    below: CodeBelow | None = None,
) -> list[str]:
    """Keep the lines inside the cursor's block, without trailing blank lines (and, where
    the answer finishes a function, without a trailing block opener that has no body)."""
    end = _scope_end(lines, ctx, floor, below)
    kept = lines if end is None else lines[:end]
    while kept and (
        not kept[-1].strip() or (floor is not None and len(kept) > 1 and _opens_block(kept[-1]))
    ):
        kept = kept[:-1]
    return kept


@dataclass(frozen=True)
class CodeBelow:
    """The code after the cursor's line: its first line's depth and text, and its lines."""

    depth: int
    first: str
    lines: tuple[str, ...]

    def clauses(self, depth: int) -> set[str]:
        """The first words of the block openers at ``depth`` in this code."""
        return {
            line.split(None, 1)[0].rstrip(":")
            for line in self.lines
            if line.strip() and _width(line) == depth and _opens_block(line)
        }


def _code_below(suffix: str) -> CodeBelow | None:
    """The code after the cursor's line (None: none, or a comment first, which says
    little about where code goes on)."""
    after = [line for line in _lines_after_cursor(suffix) if line.strip()]
    if not after or after[0].lstrip().startswith("#"):
        return None
    return CodeBelow(_width(after[0]), after[0].strip(), tuple(after))


def _function_floor(prefix: str, suffix: str, ctx: CursorContext) -> int | None:
    """The depth of the function around the cursor when no code follows the cursor in it
    (the answer may then finish the function), else None."""
    if any(line.strip() for line in _lines_after_cursor(suffix)) or ctx.line_suffix.strip():
        return None
    cursor = _width(ctx.line_prefix) if ctx.line_prefix.strip() else len(ctx.indent.expandtabs(4))
    inside = cursor  # a def encloses the cursor only when it is shallower than all code since
    for line in reversed(prefix.split("\n")[:-1]):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith(("def ", "async def ")) and _width(line) < inside:
            return _width(line)
        if _width(line) == 0 and not stripped.startswith(("@", ")")):
            return None  # module-level code: no function around the cursor
        inside = min(inside, _width(line))
    return None


def _following_code(suffix: str) -> list[str]:
    """The first lines of code after the cursor's line, stripped, when they are distinctive
    enough to recognise in a completion (a lone brace or ``pass`` is not)."""
    following = [line.strip() for line in _lines_after_cursor(suffix) if line.strip()]
    following = following[:_JOIN_LINES]
    return following if len(_LETTER.findall("".join(following))) >= _JOIN_MIN_LETTERS else []


def _suffix_join(lines: list[str], following: list[str]) -> int | None:
    """Where the completion starts writing the document's own following lines (the model
    skipped ahead or filled its hole and went on), or None."""
    if not following:
        return None
    code = [i for i, line in enumerate(lines) if line.strip()]
    for at, index in enumerate(code):
        if [lines[j].strip() for j in code[at : at + len(following)]] == following:
            return index
    return None


def _opener_depth(suffix: str, ctx: CursorContext) -> int | None:
    """The depth of the block opener the hole must end with, or None when it needs none.

    When the code below the cursor is indented deeper than the completion's own lines
    start, that code is the body of a block whose opening line is missing: the completion
    has to end by opening it, one indentation level above the code below.
    """
    after = [line for line in _lines_after_cursor(suffix) if line.strip()]
    if not after or after[0].lstrip().startswith("#"):
        return None
    start = _width(ctx.line_prefix) + (
        len(ctx.indent_unit.expandtabs(4)) if ctx.line_prefix.rstrip().endswith(":") else 0
    )
    below = _width(after[0])
    unit = len(ctx.indent_unit.expandtabs(4)) or 4
    return below - unit if below > start and below - unit >= start else None


_ENDS_FLOW = re.compile(r"(?:return|raise|continue|break)\b")


def _opener_end(
    kept: list[str], written: list[str], ctx: CursorContext, depth: int | None
) -> int | None:
    """How many of the ``kept`` lines to keep so the completion ends in the block whose body
    the code below holds, or None to keep them all. ``written`` is what the model wrote
    before the scope was cut (``kept`` is its start).

    When the last written line at ``depth`` or shallower opens a block, and nothing after
    it at the body's depth ends the flow (a ``return`` there would leave the code below
    unreachable), the lines after it begin the block's body and the code below goes on
    with it: all are kept. Otherwise the model wrote its own body and went on past the
    block, so the completion ends at its first block opener at ``depth``.
    """
    if depth is None:
        return None
    first = next(
        (
            index + 1
            for index, line in enumerate(kept)
            if _opens_at((ctx.line_prefix + line) if index == 0 else line, depth)
        ),
        None,
    )
    if first is None:
        return None
    body = depth + _unit(ctx)
    continues = False
    for index, line in enumerate(written):
        code = (ctx.line_prefix + line) if index == 0 else line
        if not code.strip():
            continue
        width = _width(code)
        if width <= depth:
            continues = _opens_at(code, depth)
        elif width == body and _ENDS_FLOW.match(code.lstrip()):
            continues = False
    return None if continues else first


def _opens_at(code: str, depth: int) -> bool:
    """Whether this line opens a block at ``depth``."""
    return bool(code.strip()) and _width(code) == depth and _opens_block(code)


def _opens_block(line: str) -> bool:
    """Whether this line ends with the colon that opens a block (a comment after it aside)."""
    return line.split("#", 1)[0].rstrip().endswith(":")


def _drop_suffix_overlap(text: str, ctx: CursorContext, suffix: str) -> str:
    """Remove the end of the completion that the document already has after the cursor."""
    if ctx.line_suffix.strip():
        tail = ctx.line_suffix.rstrip()
        for size in range(min(len(tail), len(text)), 0, -1):
            if text.endswith(tail[:size]) and tail[:size].strip():
                return text[: len(text) - size]
        return text
    following = [line for line in _lines_after_cursor(suffix) if line.strip()][:3]
    lines = text.split("\n")
    for size in range(min(len(following), len(lines) - 1), 0, -1):
        if [line.strip() for line in lines[-size:]] == [f.strip() for f in following[:size]]:
            return "\n".join(lines[:-size]).rstrip()
    return text


def _match_indentation(text: str, ctx: CursorContext) -> str:
    if ctx.indent_unit != "\t":
        return text.replace("\t", ctx.indent_unit)
    out = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        spaces = len(line) - len(body)
        out.append("\t" * (spaces // 4) + " " * (spaces % 4) + body)
    return "\n".join(out)


def _normalise(raw: str) -> str:
    return _JUNK.sub("", raw.replace("\r\n", "\n").replace("\r", "\n"))


class CompletionShape:
    """The completion the cursor wants: when a generation has said all of it
    (``complete``, checked while it streams) and the text to insert (``finish``)."""

    def __init__(self, prefix: str, suffix: str) -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.ctx = CursorContext.from_text(prefix, suffix)
        self.following = _following_code(suffix) if self.ctx.multiline else []
        self.opener_depth = _opener_depth(suffix, self.ctx) if self.ctx.multiline else None
        self.floor = _function_floor(prefix, suffix, self.ctx) if self.ctx.multiline else None
        self.below = _code_below(suffix) if self.ctx.multiline else None

    def complete(self, raw: str) -> bool:
        """True once more text cannot change what ``finish`` keeps: a single line has
        ended, or a multi-line answer left the cursor's block, joined the code below the
        cursor, or loops. Only complete lines are judged, so the generation may stop there."""
        text = _normalise(raw)
        if "\n" not in text:
            return False
        if not self.ctx.multiline:
            return True
        if self.ctx.line_prefix and not self.ctx.line_prefix.strip():
            text = text.lstrip(" \t")
        lines = text.split("\n")[:-1]  # the last line may still grow
        if _first_loop("\n".join(lines)) is not None:
            return True
        first = [self.ctx.line_prefix + lines[0], *lines[1:]]
        return (
            len(_cut_repetition(first)) < len(lines)
            or _scope_end(lines, self.ctx, self.floor, self.below, final=False) is not None
            or _suffix_join(lines, self.following) is not None
        )

    def finish(self, raw: str) -> str:
        """The text to insert at the cursor ("" when nothing useful is left)."""
        ctx, suffix = self.ctx, self.suffix
        text = _normalise(raw)
        looping = _first_loop(text)
        if looping is not None:
            text = text[:looping]
        if not ctx.multiline:
            text = text.split("\n", 1)[0]
            return _drop_suffix_overlap(text.rstrip(), ctx, suffix)
        if ctx.line_prefix and not ctx.line_prefix.strip():
            # After the indentation of a blank line, the model may re-emit all or part of it:
            # the cursor already stands where the first line's text begins.
            text = text.lstrip(" \t")
        lines = text.split("\n")
        # Compare with the cursor line's own text in front, so the first line lines up.
        lines = lines[: len(_cut_repetition([ctx.line_prefix + lines[0], *lines[1:]]))]
        joined = _suffix_join(lines, self.following)
        written = lines if joined is None else lines[:joined]
        lines = _cut_scope(written, ctx, self.floor, self.below)
        if joined is None:  # a join already ends the completion where the code below starts
            opened = _opener_end(lines, written, ctx, self.opener_depth)
            lines = lines if opened is None else lines[:opened]
        text = "\n".join(line.rstrip() for line in lines)
        text = _drop_suffix_overlap(text, ctx, suffix)
        text = _match_indentation(text, ctx)
        if not text.strip():
            return ""
        return text.replace("\n", ctx.eol)


def postprocess(raw: str, prefix: str, suffix: str) -> str:
    """The text to insert at the cursor ("" when nothing useful is left)."""
    return CompletionShape(prefix, suffix).finish(raw)
