"""A Python body completion gets the standard-library imports it uses and the file lacks."""

from __future__ import annotations

from codetune_lsp.prompts.python_imports import (
    import_insertion,
    missing_stdlib_imports,
    with_missing_imports,
)

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


def test_imports_go_before_the_first_import_of_the_file() -> None:
    document = '"""Tools."""\nimport os\n\n\ndef f():\n    pass\n'
    offset, text = import_insertion(document, ["json", "shlex"])
    assert document[:offset] + text + document[offset:] == (
        '"""Tools."""\nimport json\nimport shlex\nimport os\n\n\ndef f():\n    pass\n'
    )


def test_without_imports_they_go_after_the_docstring_and_future_imports() -> None:
    document = '"""Tools."""\nfrom __future__ import annotations\n\nX = 1\n'
    offset, text = import_insertion(document, ["json"])
    assert document[:offset] + text + document[offset:] == (
        '"""Tools."""\nfrom __future__ import annotations\nimport json\n\nX = 1\n'
    )
