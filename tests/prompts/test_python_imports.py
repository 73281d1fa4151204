"""A Python body completion gets the standard-library imports it uses and the file lacks."""

from __future__ import annotations

from codetune_lsp.prompts.python_imports import missing_stdlib_imports, with_missing_imports

PREFIX = 'def sum_squares(lst):\n    """Round up, square, sum."""\n    '


def test_an_unimported_module_is_imported_at_the_top_of_the_body() -> None:
    completion = "return sum(int(math.ceil(x)) ** 2 for x in lst)"
    fixed = with_missing_imports(PREFIX, completion, "\n")
    assert fixed == "import math\n    " + completion
    namespace: dict = {}
    exec(PREFIX + fixed + "\n", namespace)
    assert namespace["sum_squares"]([1.4, 4.2]) == 29


def test_modules_the_file_binds_or_that_are_not_standard_are_left_alone() -> None:
    assert missing_stdlib_imports("import math\n" + PREFIX, "return math.pi", "\n") == []
    assert missing_stdlib_imports("from x import re\n" + PREFIX, "return re.sub", "\n") == []
    assert missing_stdlib_imports(PREFIX, "return numpy.sum(lst)", "\n") == []
    assert missing_stdlib_imports(PREFIX, "hashlib = 1\n    return hashlib.x", "\n") == []


def test_only_the_completion_is_looked_at_and_broken_code_changes_nothing() -> None:
    suffix = "\n\ndef other():\n    return os.getcwd()\n"
    assert missing_stdlib_imports(PREFIX, "return 1", suffix) == []
    assert with_missing_imports(PREFIX, "return math.(", "\n") == "return math.("
