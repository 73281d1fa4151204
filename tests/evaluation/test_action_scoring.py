"""The actions suite's judges, fed hand-written answers (no model)."""

from __future__ import annotations

import asyncio

from codetune_lsp.evaluation.action_scoring import (
    actions_summary,
    judge_action,
    judge_docstring,
)
from codetune_lsp.evaluation.sandbox import Limits
from codetune_lsp.evaluation.suites import load_suite
from codetune_lsp.evaluation.suites.actions import def_line, without_docstring

LIMITS = Limits(timeout_s=60)

FUNCTION = """from typing import List


def total(values: List[int]) -> int:
    result = 0
    for value in values:
        result += value
    return result
"""

DATA = {
    "code": FUNCTION,
    "line": 3,
    "entry_point": "total",
    "test": (
        "def check(candidate):\n"
        "    assert candidate([1, 2, 3]) == 6\n"
        "    assert candidate([]) == 0\n"
    ),
}


def judge(action: str, served: str) -> tuple[bool, str]:
    return asyncio.run(judge_action(action, DATA, served, LIMITS))


def test_the_suite_is_thirty_humaneval_functions_per_action() -> None:
    for action in ("docstring", "tests", "optimize"):
        suite = load_suite("actions", action)
        assert len(suite.items) == 30
        assert suite.items[0].id == "HumanEval/0"
        first = suite.items[0].data
        assert first["code"].splitlines()[first["line"]].startswith("def has_close_elements")
    stripped = load_suite("actions", "docstring").items[0].data["code"]
    assert '"""' not in stripped and "return False" in stripped


def test_taking_a_docstring_out_keeps_the_code() -> None:
    documented = FUNCTION.replace(
        "-> int:\n", '-> int:\n    """Add them.\n\n    More words.\n    """\n'
    )
    assert without_docstring(documented, "total") == FUNCTION
    assert def_line(FUNCTION, "total") == 3


def test_a_docstring_added_with_the_code_unchanged_passes() -> None:
    served = FUNCTION.replace("-> int:\n", '-> int:\n    """The sum of ``values``."""\n')
    assert judge_docstring(FUNCTION, served, "total") == (True, "")


def test_a_docstring_answer_that_changes_the_code_fails() -> None:
    served = FUNCTION.replace("-> int:\n", '-> int:\n    """Sum."""\n').replace(
        "result = 0", "result = 1"
    )
    assert judge_docstring(FUNCTION, served, "total") == (False, "the code changed")


def test_a_docstring_answer_without_a_docstring_or_not_parsing_fails() -> None:
    assert judge_docstring(FUNCTION, FUNCTION, "total") == (False, "no docstring")
    passed, reason = judge_docstring(FUNCTION, FUNCTION + "def broken(:\n", "total")
    assert not passed and reason.startswith("does not parse")
    assert judge_docstring(FUNCTION, "x = 1\n", "total") == (False, "function total is gone")


def test_a_test_file_that_passes_against_the_real_function_passes() -> None:
    tests = (
        "import pytest\nfrom main import total\n\n\n"
        "def test_sum():\n    assert total([1, 2]) == 3\n\n\n"
        "@pytest.mark.parametrize('values', [[], [0]])\n"
        "def test_zero(values):\n    assert total(values) == 0\n"
    )
    assert judge("tests", tests) == (True, "")


def test_a_test_file_with_a_wrong_expectation_fails() -> None:
    tests = "from main import total\n\n\ndef test_sum():\n    assert total([1, 2]) == 4\n"
    passed, reason = judge("tests", tests)
    assert not passed
    assert reason.startswith("compiles;") and "failed" in reason


def test_a_test_file_that_does_not_compile_or_has_no_tests_fails() -> None:
    passed, reason = judge("tests", "1. Test the normal case\n2. Test the edge case\n")
    assert not passed and reason.startswith("does not compile")
    passed, reason = judge("tests", "from main import total\n")
    assert not passed and "no tests ran" in reason


def test_the_compile_rate_counts_test_files_that_compile() -> None:
    summary = actions_summary("tests", ["def test_a():\n    pass\n", "1. prose\n", ""])
    assert summary == {"compiled": 1, "compile_rate": 1 / 3}
    assert actions_summary("docstring", ["x"]) == {}


def test_an_optimized_function_keeping_its_tests_passes_and_a_wrong_one_fails() -> None:
    fast = FUNCTION.replace(
        "    result = 0\n    for value in values:\n        result += value\n    return result\n",
        "    return sum(values)\n",
    )
    assert judge("optimize", fast) == (True, "")
    passed, reason = judge("optimize", fast.replace("sum(values)", "sum(values) + 1"))
    assert not passed and "AssertionError" in reason
    passed, reason = judge("optimize", "def total(values):\n    return (\n")
    assert not passed and reason.startswith("does not parse")


def test_the_p95_latency_is_the_nearest_rank() -> None:
    from codetune_lsp.evaluation.runner import nearest_rank

    ordered = [float(i) for i in range(1, 31)]
    assert nearest_rank(ordered, 0.95) == 29.0  # rank ceil(28.5) of 30
    assert nearest_rank(ordered, 0.5) == 15.0
    assert nearest_rank([7.0], 0.95) == 7.0
