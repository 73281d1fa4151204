"""Docstrings written by the model, inserted by the product.

The model answers with the docstring's text (or, if it insists, with the documented code);
the product puts that text into the function or class the action is about, located with the
AST, so the code itself cannot change: only the docstring line(s) are added or replaced.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

from codetune_lsp.prompts.edits import extract_code

MAX_LINES = 40
_QUOTED = re.compile(r'(?P<q>"""|\'\'\')(?P<body>.*?)(?P=q)', re.DOTALL)
_LABEL = re.compile(r"^\s*(?:docstring|here is the docstring)\s*:?\s*\n", re.IGNORECASE)
_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _first_definition(tree: ast.Module) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef:
    for node in tree.body:
        if isinstance(node, _DEFINITION):
            return node
    raise LookupError("no function or class")


def docstring_text(answer: str) -> str | None:
    """The docstring the model wrote: from documented code if it gave code, else from a
    triple-quoted string, else its plain text. None when there is nothing."""
    code = extract_code(answer, "python") if "```" in answer else None
    if code:
        try:
            documented = ast.get_docstring(_first_definition(ast.parse(textwrap.dedent(code))))
        except (SyntaxError, ValueError, LookupError):
            documented = None
        if documented:
            return documented.strip()
        answer = code
    quoted = _QUOTED.search(answer)
    text = quoted.group("body") if quoted else answer.replace("```", "")
    text = inspect.cleandoc(_LABEL.sub("", text, count=1)).strip()
    lines = text.splitlines()[:MAX_LINES]
    return "\n".join(lines).strip() or None


def _literal(text: str, indent: str) -> str:
    """``text`` as a triple-quoted literal at ``indent``, escaped so it stays one string."""
    body = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if body.endswith('"'):
        body = body[:-1] + '\\"'
    lines = body.splitlines()
    if len(lines) == 1:
        return f'{indent}"""{lines[0]}"""\n'
    rest = "".join(f"{indent}{line}".rstrip() + "\n" for line in lines[1:])
    return f'{indent}"""{lines[0]}\n{rest}{indent}"""\n'


_HEADER = re.compile(r"^([ \t]*)(?:async[ \t]+def|def|class)[ \t]+\w+")


def _insert_by_lines(code: str, text: str) -> str | None:
    """For code that does not parse (half-written further down): the docstring goes right
    after the first definition's header, found by its brackets and closing colon. Only
    lines are added (or an opening docstring replaced), so the code cannot change."""
    lines = code.splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if _HEADER.match(line)), None)
    if header is None:
        return None
    depth, end = 0, None
    for index in range(header, min(header + 20, len(lines))):
        code_part = lines[index].split("#", 1)[0].rstrip()
        depth += sum(code_part.count(c) for c in "([{") - sum(code_part.count(c) for c in ")]}")
        if depth <= 0 and code_part.endswith(":"):
            end = index + 1
            break
    if end is None or end >= len(lines) or not lines[end].strip():
        return None  # no body on the lines below the header
    body = lines[end]
    indent = body[: len(body) - len(body.lstrip(" \t"))]
    outer = _HEADER.match(lines[header]).group(1)  # type: ignore[union-attr]
    if len(indent) <= len(outer):
        return None  # a one-line body or none
    replaced = end
    opening = body.strip()[:3]
    if opening in ('"""', "'''"):
        closing = next(
            (
                i
                for i in range(end, len(lines))
                if lines[i].count(opening) >= (2 if i == end else 1)
            ),
            None,
        )
        replaced = (closing + 1) if closing is not None else end
    return "".join(lines[:end]) + _literal(text, indent) + "".join(lines[replaced:])


def insert_docstring(code: str, text: str) -> str | None:
    """``code`` (whole lines) with ``text`` as the docstring of its first function or class,
    replacing any it had; None when no definition with a body on its own lines is found.
    Code that does not parse gets the docstring after the definition's header."""
    try:
        node = _first_definition(ast.parse(textwrap.dedent(code)))
    except SyntaxError:
        return _insert_by_lines(code, text)
    except (ValueError, LookupError):
        return None
    first = node.body[0]
    if first.lineno <= node.lineno:
        return None  # a one-line body (`def f(): return 1`)
    lines = code.splitlines(keepends=True)
    start = first.lineno - 1
    end = start
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        end = first.end_lineno or first.lineno
    body_line = lines[start]
    indent = body_line[: len(body_line) - len(body_line.lstrip(" \t"))]
    new = "".join(lines[:start]) + _literal(text, indent) + "".join(lines[end:])
    try:
        ast.parse(textwrap.dedent(new))
    except SyntaxError:
        return None
    return new


def _docstring_of(code: str) -> str | None:
    try:
        return ast.get_docstring(_first_definition(ast.parse(textwrap.dedent(code))), clean=True)
    except (SyntaxError, ValueError, LookupError):
        return None


def keep_docstring(original: str, rewritten: str) -> str:
    """``rewritten`` with the docstring of ``original``'s first definition put back when
    the rewrite left it out (templates may tell the model to skip it, to save tokens)."""
    kept = _docstring_of(original)
    if not kept or _docstring_of(rewritten) is not None:
        return rewritten
    return insert_docstring(rewritten, kept) or rewritten
