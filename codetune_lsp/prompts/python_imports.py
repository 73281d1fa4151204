"""Standard-library modules a Python completion uses but nothing in the file imports.

A small model completing a function body writes ``math.ceil(x)`` in a file that never
imports ``math``; the completion then fails with a NameError when it runs. An inline
completion can only insert at the cursor, so the import goes there, at the top of the body
the completion writes (a function-local import is valid Python and runs once per call).
"""

from __future__ import annotations

import ast
import builtins
import sys

_BUILTINS = frozenset(dir(builtins))


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the module binds anywhere: imports, definitions, parameters, targets."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound |= set(node.names)
    return bound


def missing_stdlib_imports(prefix: str, completion: str, suffix: str) -> list[str]:
    """Standard-library modules read as ``module.attr`` in ``completion`` that the file
    (with the completion in place) never binds; [] when the code does not parse."""
    first_line = prefix.count("\n") + 1
    last_line = first_line + completion.count("\n")
    for code in (prefix + completion + suffix, prefix + completion):
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            continue
        bound = _bound_names(tree)
        wanted = {
            node.value.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and first_line <= node.lineno <= last_line
            and node.value.id in sys.stdlib_module_names
            and node.value.id not in bound
            and node.value.id not in _BUILTINS
        }
        return sorted(wanted)
    return []


def with_missing_imports(prefix: str, completion: str, suffix: str) -> str:
    """``completion`` with an ``import`` line first for each standard-library module it
    uses unimported. For a completion that starts a body on the cursor's own line: the
    cursor's indentation is the body's."""
    modules = missing_stdlib_imports(prefix, completion, suffix)
    if not modules or not completion:
        return completion
    indent = prefix[len(prefix.rstrip(" \t")) :]
    eol = "\r\n" if "\r\n" in completion or "\r\n" in prefix else "\n"
    return "".join(f"import {module}{eol}{indent}" for module in modules) + completion


def import_insertion(document: str, modules: list[str]) -> tuple[int, str]:
    """(offset, text) that adds ``import m`` lines for ``modules`` to ``document``: before
    its first top-level import, else after its docstring and ``__future__`` imports."""
    eol = "\r\n" if "\r\n" in document else "\n"
    text = "".join(f"import {module}{eol}" for module in modules)
    try:
        body = ast.parse(document).body
    except (SyntaxError, ValueError):
        return 0, text
    line = 0  # 0-based line to insert before
    for node in body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if isinstance(node, ast.Import | ast.ImportFrom) and not future:
            line = node.lineno - 1
            break
        if not (docstring or future):
            break
        line = node.end_lineno or node.lineno
    offset = sum(len(row) for row in document.splitlines(keepends=True)[:line])
    return offset, text
