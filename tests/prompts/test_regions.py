"""The definition around the cursor, for actions run without a selection."""

from __future__ import annotations

from codetune_lsp.prompts.regions import enclosing_definition

SOURCE = """import os

@cache
def outer(a):
    x = 1

    def inner(b):
        return b

    return inner(x)


class Thing:
    def method(self):
        return 2

print("module level")
""".splitlines()


def line_of(text: str) -> int:
    return next(i for i, line in enumerate(SOURCE) if text in line)


def test_the_innermost_definition_is_chosen() -> None:
    assert enclosing_definition(SOURCE, line_of("return b")) == (
        line_of("def inner"),
        line_of("return b"),
    )


def test_a_function_spans_its_blank_lines_and_decorators() -> None:
    assert enclosing_definition(SOURCE, line_of("x = 1")) == (
        line_of("@cache"),
        line_of("return inner(x)"),
    )


def test_methods_and_classes() -> None:
    assert enclosing_definition(SOURCE, line_of("return 2")) == (
        line_of("def method"),
        line_of("return 2"),
    )
    assert enclosing_definition(SOURCE, line_of("class Thing")) == (
        line_of("class Thing"),
        line_of("return 2"),
    )


def test_module_level_has_no_definition() -> None:
    assert enclosing_definition(SOURCE, line_of("print(")) is None
    assert enclosing_definition(SOURCE, 0) is None
