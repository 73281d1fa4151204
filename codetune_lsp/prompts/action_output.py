"""What a code action can use of the model's answer, decided before anything is offered.

One post-processor per run, chosen by the template's output kind. It returns the text the
action applies (the region's new code, or a new test file), or ``""`` with ``problem`` set
when nothing usable came back, so that the execution is recorded as unsuccessful and the
user reads why. Python answers must parse: an edit that would break a region that parsed,
or a test file that does not compile, is refused rather than offered.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys
import textwrap

from codetune_lsp.prompts.docstrings import docstring_text, insert_docstring, keep_docstring
from codetune_lsp.prompts.edits import (
    extract_code,
    parsing_prefix,
    python_problem,
    reindent,
    unterminated_fence_body,
)

_HAS_TEST = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def[ \t]+test|class[ \t]+Test)", re.MULTILINE)


class ActionAnswer:
    """Callable post-processor: raw answer -> usable text ("" when none, see ``problem``)."""

    def __init__(self, output: str, language: str, code: str, document: str = "") -> None:
        self.output = output
        self.document = document
        self.python = language == "python"
        self.language = language
        self.code = code
        self.problem = ""
        self.imports: list[str] = []  # standard-library modules the edit needs imported

    def __call__(self, raw: str) -> str:
        self.problem = ""
        self.imports = []
        if self.output == "edit":
            return self._edit(raw)
        if self.output == "docstring":
            return self._docstring(raw)
        if self.output == "new_file":
            return self._new_file(raw)
        return raw

    def _refuse(self, why: str) -> str:
        self.problem = why
        return ""

    def _edit(self, raw: str) -> str:
        code = extract_code(raw, self.language)
        if code is None:
            return self._refuse("the model gave no code to apply")
        if self.python and python_problem(self.code) is None:
            problem = python_problem(code)
            if problem:
                return self._refuse(f"the model's code does not parse ({problem}); nothing applied")
            code = keep_docstring(self.code, code)
            missing = new_undefined_names(self.code, code, self.document)
            modules = [name for name in missing if name in sys.stdlib_module_names]
            if missing and modules == missing:  # added at the top of the file with the edit
                self.imports = modules
            elif missing:
                names = ", ".join(name for name in missing if name not in modules)
                return self._refuse(
                    f"the model's code uses {names}, not defined or imported here; nothing applied"
                )
        return reindent(code, self.code)

    def _docstring(self, raw: str) -> str:
        text = docstring_text(raw)
        if text is None:
            return self._refuse("the model gave no docstring")
        new = insert_docstring(self.code, text)
        if new is None:
            return self._refuse("found no function or class with a body to document here")
        return new

    def _new_file(self, raw: str) -> str:
        code = extract_code(raw, self.language)
        if code is None and self.python:
            code = unterminated_fence_body(raw)  # cut off: its complete tests may do
        if code is None:
            return self._refuse("the model gave no tests")
        if not self.python:
            return code
        usable = parsing_prefix(code)
        if usable is None:
            why = python_problem(code) or "empty"
            return self._refuse(f"the generated test file does not parse ({why}); not written")
        if not _HAS_TEST.search(usable):
            return self._refuse("the generated file has no test function; not written")
        return usable


def _names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(names read, names bound) anywhere in ``tree``; scopes are not told apart."""
    read, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read, bound


def _bound_outside(document: str, region: str) -> set[str] | None:
    """Names the document binds outside ``region`` (None when that cannot be parsed)."""
    before, found, after = document.partition(region)
    if not found:
        return None
    blank = "\n" * region.count("\n")
    for candidate in (before + blank + after, document):
        try:
            return _names(ast.parse(candidate))[1]
        except (SyntaxError, ValueError):
            continue
    return None


def new_undefined_names(original: str, rewritten: str, document: str) -> list[str]:
    """Names the rewrite reads that nothing binds: not the rewrite itself, not the document
    outside the region, not the builtins (``math`` never imported, a helper the rewrite
    dropped). Names the original already read unbound are not the rewrite's doing."""
    try:
        new_read, new_bound = _names(ast.parse(textwrap.dedent(rewritten)))
        old_read, old_bound = _names(ast.parse(textwrap.dedent(original)))
    except (SyntaxError, ValueError):
        return []
    outside = _bound_outside(document, original) if document else set()
    if outside is None:
        return []
    builtin = set(dir(builtins))
    already = old_read - old_bound - outside - builtin
    return sorted(new_read - new_bound - outside - builtin - already)
