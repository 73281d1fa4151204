"""The ``actions`` suite: the docstring, tests and optimize code actions on real functions.

Each item is one HumanEval problem's prompt with its canonical solution, a complete working
function (its imports and any helper included). The action runs with the cursor on the
function's ``def`` line, as in an editor. For the docstring action the function's own
docstring is taken out first, so that there is one to write.

What passes (see ``evaluation/action_scoring.py``):
- docstring: the document parses, the function has a docstring, and the module's AST with
  docstrings stripped equals the original's (the code is unchanged);
- tests: the generated test file compiles and passes against the real function;
- optimize: the problem's own HumanEval tests still pass on the rewritten document.
"""

from __future__ import annotations

import ast

from codetune_lsp.evaluation.suites import Item, Suite

ACTIONS = ("docstring", "tests", "optimize")
TEMPLATES = {action: f"code_action.{action}" for action in ACTIONS}
SIZE = 30  # the first 30 HumanEval problems


def entry_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    raise ValueError(f"no top-level function {name!r}")


def without_docstring(code: str, name: str) -> str:
    """``code`` with the docstring of function ``name`` removed (its lines deleted)."""
    function = entry_function(ast.parse(code), name)
    first = function.body[0]
    if not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return code
    lines = code.splitlines(keepends=True)
    assert first.end_lineno is not None
    del lines[first.lineno - 1 : first.end_lineno]
    return "".join(lines)


def def_line(code: str, name: str) -> int:
    """The 0-based line of ``def name`` (where the cursor is put)."""
    return entry_function(ast.parse(code), name).lineno - 1


def actions_suite(action: str, size: int = SIZE) -> Suite:
    from codetune_lsp.evaluation.suites.humaneval import problems

    items = []
    for problem in problems()[:size]:
        code = problem["prompt"] + problem["canonical_solution"]
        if action == "docstring":
            code = without_docstring(code, problem["entry_point"])
        items.append(
            Item(
                problem["task_id"],
                {
                    "code": code,
                    "line": def_line(code, problem["entry_point"]),
                    "test": problem["test"],
                    "entry_point": problem["entry_point"],
                },
            )
        )
    return Suite("actions", "actions", action, tuple(items))
