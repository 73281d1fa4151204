"""Reading code-action answers: what is applied, what is refused, and why."""

from __future__ import annotations

import ast

from codetune_lsp.prompts.action_output import ActionAnswer
from codetune_lsp.prompts.docstrings import docstring_text, insert_docstring
from codetune_lsp.prompts.edits import bare_python, extract_code, parsing_prefix

FUNCTION = "    def area(self, w, h):\n        # cheap\n        return w * h\n"


def test_a_bare_function_is_code_and_prose_is_not() -> None:
    answer = "Here is the faster code:\n\ndef f(xs):\n    return sum(xs)\n\nIt uses sum."
    assert extract_code(answer, "python") == "def f(xs):\n    return sum(xs)\n"
    assert extract_code("1. Test the normal case\n2. Test errors\n", "python") is None
    assert extract_code("Done.", "python") is None
    assert bare_python("x = compute()\n") == "x = compute()\n"


def test_a_fence_preceded_by_spaces_is_found() -> None:
    answer = "  ```python\ndef f():\n    return 1\n  ```\nThat is all."
    assert extract_code(answer, "python") == "def f():\n    return 1\n"


def test_a_cut_off_test_module_keeps_its_complete_tests() -> None:
    code = (
        "from m import f\n\n\ndef test_a():\n    assert f(1) == 1\n\n\ndef test_b():\n    assert f("
    )
    assert parsing_prefix(code) == "from m import f\n\n\ndef test_a():\n    assert f(1) == 1\n\n\n"
    assert parsing_prefix("def (:\n") is None


def test_the_docstring_goes_into_the_function_and_nothing_else_changes() -> None:
    new = insert_docstring(FUNCTION, "Area of a rectangle.\n\nArgs:\n    w: width")
    assert new == (
        "    def area(self, w, h):\n"
        "        # cheap\n"
        '        """Area of a rectangle.\n\n'
        "        Args:\n"
        "            w: width\n"
        '        """\n'
        "        return w * h\n"
    )
    replaced = insert_docstring(new, 'Say "hi" with a \\ backslash"')
    tree = ast.parse(replaced.strip().replace("\n    ", "\n"))
    assert ast.get_docstring(tree.body[0]) == 'Say "hi" with a \\ backslash"'
    assert insert_docstring("x = 1\n", "Doc.") is None
    assert insert_docstring("def f(): return 1\n", "Doc.") is None


def test_docstring_text_comes_from_plain_text_quotes_or_documented_code() -> None:
    assert docstring_text("Return the area.\n") == "Return the area."
    assert (
        docstring_text('"""Return the area.\n\n    Args: w\n"""') == "Return the area.\n\nArgs: w"
    )
    fenced = ' ```python\ndef area(w, h):\n    """Area of w by h."""\n    return w * h\n```'
    assert docstring_text(fenced) == "Area of w by h."
    assert docstring_text("   \n") is None


def test_an_edit_that_would_break_parsing_is_refused_with_the_reason() -> None:
    answer = ActionAnswer("edit", "python", FUNCTION)
    assert answer("```python\ndef area(self, w, h:\n    return w * h\n```") == ""
    assert "does not parse" in answer.problem
    good = answer("```python\ndef area(self, w, h):\n    return w * h\n```")
    assert good == "    def area(self, w, h):\n        return w * h\n" and answer.problem == ""
    assert answer("I cannot help with that.") == ""
    assert answer.problem == "the model gave no code to apply"


def test_a_test_file_must_parse_and_hold_a_test() -> None:
    answer = ActionAnswer("new_file", "python", FUNCTION)
    prose = "1. Test that the area is right\n2. Test negative sizes\n" * 10
    assert answer(prose) == "" and answer.problem == "the model gave no tests"
    assert answer("```python\nimport pytest\n```") == ""
    assert "no test function" in answer.problem
    whole = "from main import area\n\ndef test_area():\n    assert area(2, 3) == 6\n\n"
    assert answer("```python\n" + whole + "def test_") == whole


def test_a_docstring_answer_becomes_the_documented_region() -> None:
    answer = ActionAnswer("docstring", "python", FUNCTION)
    assert '"""Area."""' in answer("Area.")
    assert answer("") == "" and answer.problem == "the model gave no docstring"


def test_a_rewrite_using_a_name_nobody_binds_is_refused() -> None:
    document = "import os\n\n\nclass Shape:\n" + FUNCTION
    answer = ActionAnswer("edit", "python", FUNCTION, document)
    rewrite = "```python\ndef area(self, w, h):\n    return numpy.prod([w, h])\n```"
    assert answer(rewrite) == ""
    assert answer.problem.startswith("the model's code uses numpy, not defined or imported")
    imported = "```python\ndef area(self, w, h):\n    return os.sep and w * h\n```"
    assert answer(imported) == "    def area(self, w, h):\n        return os.sep and w * h\n"


def test_a_rewrite_that_drops_the_helper_it_still_calls_is_refused() -> None:
    region = (
        "def xor_all(a, b):\n"
        "    def xor(i, j):\n"
        "        return i != j\n"
        "    return [xor(i, j) for i, j in zip(a, b)]\n"
    )
    answer = ActionAnswer("edit", "python", region, "import os\n\n\n" + region)
    assert (
        answer("```python\ndef xor_all(a, b):\n    return [xor(i, j) for i, j in zip(a, b)]\n```")
        == ""
    )
    assert "uses xor" in answer.problem


def test_a_docstring_goes_in_even_where_code_below_does_not_parse_yet() -> None:
    from codetune_lsp.prompts.docstrings import insert_docstring

    half_written = (
        "def run(cmd,\n        shell=True):\n    result = call(cmd)\n    value = = broken\n"
    )
    assert insert_docstring(half_written, "Run a command.") == (
        "def run(cmd,\n        shell=True):\n"
        '    """Run a command."""\n'
        "    result = call(cmd)\n    value = = broken\n"
    )
    old = 'def f():\n    """Old\n    text."""\n    x = = 1\n'
    assert insert_docstring(old, "New.") == 'def f():\n    """New."""\n    x = = 1\n'
    assert insert_docstring("def f(): return (\n", "x") is None  # no body of its own


def test_a_standard_library_module_the_rewrite_reads_is_to_be_imported() -> None:
    document = "import os\n\n\nclass Shape:\n" + FUNCTION
    answer = ActionAnswer("edit", "python", FUNCTION, document)
    rewrite = "```python\ndef area(self, w, h):\n    return math.prod([w, h])\n```"
    assert answer(rewrite) == "    def area(self, w, h):\n        return math.prod([w, h])\n"
    assert answer.imports == ["math"] and answer.problem == ""
