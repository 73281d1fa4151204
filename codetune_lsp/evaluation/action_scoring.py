"""Judging the ``actions`` suite: docstring, tests and optimize answers on real functions.

Pure checks (no model): whether a docstring edit left the code unchanged, and the sandboxed
programs that run a generated test file against the real function or the problem's tests
against a rewritten one.
"""

from __future__ import annotations

import ast
from typing import Any

from codetune_lsp.evaluation.sandbox import Limits, run_python
from codetune_lsp.evaluation.suites.actions import entry_function
from codetune_lsp.evaluation.suites.humaneval import test_program

SOURCE_MODULE = "main"  # the evaluation's documents are main.py: tests import from it
_DOCUMENTED = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def code_shape(source: str) -> str:
    """The AST of ``source`` with every docstring removed, as a comparable dump."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, _DOCUMENTED) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:]
    return ast.dump(tree, include_attributes=False)


def judge_docstring(original: str, served: str, name: str) -> tuple[bool, str]:
    """The document parses, function ``name`` has a docstring, and nothing else changed."""
    try:
        tree = ast.parse(served)
    except SyntaxError as exc:
        return False, f"does not parse: {exc.msg} (line {exc.lineno})"
    try:
        function = entry_function(tree, name)
    except ValueError:
        return False, f"function {name} is gone"
    if not (ast.get_docstring(function) or "").strip():
        return False, "no docstring"
    if code_shape(served) != code_shape(original):
        return False, "the code changed"
    return True, ""


def compile_problem(source: str) -> str | None:
    """Why ``source`` does not compile as a module (None when it does)."""
    try:
        compile(source, "test_main.py", "exec")
    except SyntaxError as exc:
        return f"does not compile: {exc.msg} (line {exc.lineno})"
    except ValueError as exc:
        return f"does not compile: {exc}"
    return None


def tests_program(code: str, tests: str) -> str:
    """A program writing the real ``main.py`` and the generated ``test_main.py``, then
    running pytest on it; it exits 0 only when tests were collected and all passed."""
    return (
        "import sys\n"
        "from pathlib import Path\n"
        f"Path({SOURCE_MODULE + '.py'!r}).write_text({code!r}, encoding='utf-8')\n"
        f"Path('test_main.py').write_text({tests!r}, encoding='utf-8')\n"
        "import os\n"
        "os.environ['PYTEST_DISABLE_PLUGIN_AUTOLOAD'] = '1'\n"
        "import pytest\n"
        "status = pytest.main(['-q', '-p', 'no:cacheprovider', '-p', 'no:faulthandler',"
        " '-p', 'no:logging', 'test_main.py'])\n"
        "sys.exit(0 if status == 0 else 1)\n"
    )


def _pytest_reason(stdout: str, fallback: str) -> str:
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return (lines[-1] if lines else fallback)[:300]


async def judge_tests(code: str, tests: str, limits: Limits) -> tuple[bool, str]:
    """The test file compiles, and passes against the real function."""
    problem = compile_problem(tests)
    if problem:
        return False, problem
    result = await run_python(tests_program(code, tests), limits)
    if result.passed:
        return True, ""
    if result.timed_out:
        return False, "tests timed out"
    return False, "compiles; " + _pytest_reason(result.stdout, result.reason)


async def judge_optimize(served: str, data: Any, limits: Limits) -> tuple[bool, str]:
    """The rewritten document still passes the problem's own tests."""
    try:
        ast.parse(served)
    except SyntaxError as exc:
        return False, f"does not parse: {exc.msg} (line {exc.lineno})"
    result = await run_python(test_program(served, data), limits)
    return result.passed, result.reason


async def judge_action(action: str, data: Any, served: str, limits: Limits) -> tuple[bool, str]:
    if action == "docstring":
        return judge_docstring(data["code"], served, data["entry_point"])
    if action == "tests":
        return await judge_tests(data["code"], served, limits)
    return await judge_optimize(served, data, limits)


def actions_summary(action: str, served: list[str]) -> dict[str, Any]:
    """Extra figures of an actions run: how many test files compiled."""
    if action != "tests" or not served:
        return {}
    compiled = sum(bool(text.strip()) and compile_problem(text) is None for text in served)
    return {"compiled": compiled, "compile_rate": compiled / len(served)}
