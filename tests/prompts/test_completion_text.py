"""Completion post-processing: single/multi-line, scope, overlap, repetition, line ends."""

from __future__ import annotations

import pytest

from codetune_lsp.prompts.completion_text import (
    CompletionShape,
    CursorContext,
    cursor_kind,
    postprocess,
)


@pytest.mark.parametrize(
    ("prefix", "suffix", "multiline"),
    [
        ("def f(x):", "", True),  # after a block opener
        ("if x:\n    ", "\n", True),  # on an empty, indented line
        ("x = foo(", ")\n", False),  # mid-line: text follows the cursor
        ("total = a + ", "\n", False),  # mid-expression
        ("function f() {", "\n}", True),
    ],
)
def test_cursor_context_decides_single_or_multi_line(prefix, suffix, multiline) -> None:
    assert CursorContext.from_text(prefix, suffix).multiline is multiline


def test_mid_line_takes_the_rest_of_the_line_only() -> None:
    assert postprocess("b * 2\nprint(total)\n", "total = a + ", "\n") == "b * 2"


def test_mid_line_drops_what_already_follows_the_cursor() -> None:
    assert postprocess("name, 'default')", "value = d.get(", ")") == "name, 'default'"


def test_multi_line_stops_at_the_end_of_the_block() -> None:
    raw = "\n    if x < 0:\n        return -x\n    return x\n\ndef other():\n    pass\n"
    assert postprocess(raw, "def absolute(x):", "\n") == (
        "\n    if x < 0:\n        return -x\n    return x"
    )


def test_blank_line_in_a_body_keeps_siblings_and_stops_when_shallower() -> None:
    prefix = "def f(items):\n    total = 0\n    "
    raw = "for item in items:\n        total += item\n    return total\nprint(f([1]))\n"
    assert postprocess(raw, prefix, "\n") == (
        "for item in items:\n        total += item\n    return total"
    )


def test_closing_bracket_of_the_block_is_kept() -> None:
    raw = "\n  return a + b;\n}\n\nfunction g() {}\n"
    assert postprocess(raw, "function f(a, b) {", "") == "\n  return a + b;\n}"


def test_lines_the_document_already_has_after_the_cursor_are_dropped() -> None:
    prefix = "def f(x):\n    "
    suffix = "\n    return y\n"
    raw = "y = x * 2\n    return y\n"
    assert postprocess(raw, prefix, suffix) == "y = x * 2"


def test_repetition_is_cut_after_the_first_occurrence() -> None:
    raw = "x = 1\n    x = 1\n    x = 1\n    x = 1\n    x = 1\n"
    assert postprocess(raw, "def f():\n    ", "\n") == "x = 1"


def test_repeating_blocks_are_cut_too() -> None:
    raw = "\n    a()\n    b()\n    a()\n    b()\n    a()\n    b()\n"
    assert postprocess(raw, "def f():", "") == "\n    a()\n    b()"


def test_document_line_endings_are_used_and_no_stray_carriage_returns() -> None:
    out = postprocess("\r\n    return 1\r\n", "def f():", "\r\n\r\nx = 1\r\n")
    assert out == "\r\n    return 1"
    assert "\r\r" not in out and out.count("\r") == out.count("\n")


def test_tab_indented_documents_get_tabs() -> None:
    prefix = "def f():\n\tif x:\n\t\tpass\n\treturn 1\n\ndef g():"
    assert postprocess("\n    return 2\n", prefix, "") == "\n\treturn 2"


def test_nothing_useful_gives_empty_text() -> None:
    assert postprocess("\n\n\n", "def f():", "") == ""
    assert postprocess(")", "x = foo(", ")") == ""


def test_control_characters_and_broken_decodes_are_never_inserted() -> None:
    assert postprocess("a\x03b\ufffdc\x1bd", "x = ", "\n") == "abcd"


def test_a_loop_within_a_line_is_cut_after_its_first_turn() -> None:
    assert postprocess("foo(bar) + 1 um, um, um, um, um, um,", "x = ", "\n") == "foo(bar) + 1 um,"


def test_deep_indentation_is_not_mistaken_for_a_loop() -> None:
    body = "for x in xs:\n        if x:\n            return x\n    return None"
    assert postprocess(body, "def first(xs):\n    ", "\n") == body


def test_a_first_line_that_re_emits_part_of_the_indentation_is_aligned() -> None:
    prefix = "def f(xs):\n    for x in xs:\n        "
    assert postprocess("    print(x)\n        yield x", prefix, "\n") == "print(x)\n        yield x"


# -- where the cursor starts an empty function body ---------------------------------------

DOCSTRING_FN = 'def add(a, b):\n    """Add two numbers.\n\n    >>> add(1, 2)\n    3\n    """\n    '


@pytest.mark.parametrize(
    ("prefix", "suffix"),
    [
        (DOCSTRING_FN, ""),  # after a multi-line docstring, end of file
        (DOCSTRING_FN, "\n\n\ndef other():\n    pass\n"),  # the next function follows
        ("def f(x):\n    ", "\n"),  # right under the header, no docstring
        ("def f(x):\n    '''One line.'''\n    ", ""),  # a one-line docstring
        ("async def f(x):\n    # todo\n    ", ""),  # comments are not code
        (
            "class A:\n    def f(\n        self, x: int,\n    ) -> int:\n        ",
            "\n    def g(self):\n        pass\n",
        ),  # a method with a signature over several lines; the next method follows
    ],
)
def test_the_start_of_an_empty_function_body_is_a_body_completion(prefix, suffix) -> None:
    assert cursor_kind(prefix, suffix) == "body"


@pytest.mark.parametrize(
    ("prefix", "suffix"),
    [
        ("def f(x):\n    ", "\n    return x\n"),  # the body already has code after the cursor
        ("def f(x):\n    y = 1\n    ", "\n"),  # code above the cursor in the body
        ("if ready:\n    ", "\n"),  # a block that is not a function
        ("def f(x):\n", ""),  # not indented under the def
        ("def f(x):\n    if x:\n        ", "\n"),  # inside a nested block
        ("", ""),  # an empty file
    ],
)
def test_other_blank_lines_are_block_completions(prefix, suffix) -> None:
    assert cursor_kind(prefix, suffix) == "block"


def test_mid_line_is_a_line_completion() -> None:
    assert cursor_kind("def f(x):\n    return x +", "\n") == "line"


def test_a_body_answer_keeps_its_lines_and_stops_at_the_end_of_the_function() -> None:
    raw = "    total = 0\n    for x in xs:\n        total += x\n    return total\nprint(f([1]))"
    prefix = "def f(xs):\n    '''Sum.'''\n    "
    assert postprocess(raw, prefix, "") == (
        "total = 0\n    for x in xs:\n        total += x\n    return total"
    )


METHOD_PREFIX = "class Archive:\n    def key(self, path):\n        "
OVERSHOOTS = [
    # A method body, then the model writes the class's next methods.
    (
        METHOD_PREFIX,
        "\n",
        "return tokenize(path)\n\n    def __enter__(self):\n        return self\n\n"
        "    def __exit__(self, *args):\n        self.close()\n",
    ),
    # Mid-line: the rest of the line, then more lines.
    ("total = a + ", "\n", "b * 2\nprint(total)\nprint(a)\n"),
    # After a block opener: the block, then a sibling at the opener's depth.
    (
        "def f(xs):\n    for x in xs:",
        "\n\n\nprint(list(f([1])))\n",
        "\n        yield x\n    return None\n\nx = 1\n",
    ),
    # At the end of a function with nothing after it: the rest of the function, then code
    # outside it.
    ("def f(xs):\n    for x in xs:\n        ", "\n", "yield x\n    return None\n\nx = 1\ny = 2\n"),
    # A line repeated: the model loops.
    ("def f():\n    ", "\n", "x = 1\n    x = 1\n    x = 1\n    x = 1\n    x = 1\n"),
]


@pytest.mark.parametrize(("prefix", "suffix", "raw"), OVERSHOOTS)
def test_a_generation_may_end_where_the_answer_is_complete_and_nothing_changes(
    prefix, suffix, raw
) -> None:
    shape = CompletionShape(prefix, suffix)
    ends = next(i for i in range(1, len(raw) + 1) if shape.complete(raw[:i]))
    assert ends < len(raw)  # the overshoot is not generated
    assert shape.finish(raw[:ends]) == shape.finish(raw) == postprocess(raw, prefix, suffix)


def test_a_hole_above_an_indented_body_ends_with_the_block_opener_it_needs() -> None:
    suffix = "\n        balance += op\n        if balance < 0:\n            return True\n"
    raw = "for op in operations:\n        balance -= op\n\n    return False"
    assert postprocess(raw, "def below(operations):\n    balance = 0\n    ", suffix) == (
        "for op in operations:"
    )
    # two levels down: the opener one level above the code below, not the first opener
    nested = "for i in xs:\n        for j in ys:\n            total += i * j\n    return total"
    assert postprocess(nested, "def f(xs, ys):\n    ", "\n            x = 1\n") == (
        "for i in xs:\n        for j in ys:"
    )
    # a completion that reaches the code below ends there, inside the block it opened
    joined = "for n in xs:\n        total += n\n        product *= n\n    return total, product"
    assert postprocess(
        joined, "def f(xs):\n    ", "\n        product *= n\n    return total, product\n"
    ) == ("for n in xs:\n        total += n")
    # code below at the cursor's own depth asks for no opener
    assert postprocess("x = 1\n    y = 2", "def f():\n    ", "\n    return x\n") == (
        "x = 1\n    y = 2"
    )


def test_a_hole_may_open_the_block_and_begin_the_body_the_code_below_goes_on_with() -> None:
    prefix = "def below(operations):\n    "
    suffix = "\n        if balance < 0:\n            return True\n\n    return False\n"
    raw = "balance = 0\n\n    for op in operations:\n        balance += op"
    assert postprocess(raw, prefix, suffix) == raw
    # the last opener counts: an if/elif chain whose last branch the code below continues
    chain = "for c in text:\n        if c == ' ':\n            continue\n        elif c == '(':"
    assert postprocess(chain, "def f(text):\n    ", "\n            depth += 1\n") == chain
    # but a body that returns cannot go on into the code below: it rewrote that body
    ends = "if is_prime(f[-1]):\n            return f[-1]"
    assert postprocess(ends, "def f(n):\n    while True:\n        ", "\n            n -= 1\n") == (
        "if is_prime(f[-1]):"
    )


def test_a_hole_may_climb_out_of_the_cursors_block_to_reach_the_code_below() -> None:
    # the code below is shallower than the cursor: statements at its depth come first
    prefix = "def power(x, n):\n    if n == 1:\n        "
    suffix = "\n    while p < x:\n        p = p * n\n    return p == x\n"
    assert postprocess("return x == 1\n    p = 1", prefix, suffix) == "return x == 1\n    p = 1"
    # the code below is the body of a clause the hole has to open
    prefix = "def shift(s, k):\n    if k > len(s):\n        "
    suffix = "\n        return s[k:] + s[:k]\n"
    assert postprocess("return s[::-1]\n    else:\n", prefix, suffix) == (
        "return s[::-1]\n    else:"
    )


def test_a_climb_that_does_not_fit_the_code_below_ends_at_the_cursors_block() -> None:
    prefix = "def f(xs):\n    if not xs:\n        "
    suffix = "\n\n    result = []\n    for x in xs:\n        result.append(x)\n"
    # a block of its own at the code below's depth: the code below would be its body
    assert postprocess("return []\n\n    for x in xs:\n", prefix, suffix) == "return []"
    # an opener where the code below is not a body
    assert postprocess("return []\n    else:\n", prefix, suffix) == "return []"
    # a clause the code below has itself at that depth
    tried = "def f(s):\n    try:\n        a = int(s)\n        "
    below = "\n        check(a)\n    except ValueError:\n        return None\n"
    assert postprocess("a += 1\n    except TypeError:\n", tried, below) == "a += 1"
    # the model writes the code below's first line itself: it went its own way
    prefix = "def f(c, depth):\n    if c == '(':\n        depth += 1\n    elif c == ')':\n        "
    suffix = "\n        record(c)\n"
    raw = "depth -= 1\n        record(c)\n    elif c == ' ':\n"
    assert postprocess(raw, prefix, suffix) == "depth -= 1"


def test_a_climb_is_judged_once_its_last_line_is_known() -> None:
    prefix = "def shift(s, k):\n    if k > len(s):\n        "
    shape = CompletionShape(prefix, "\n        return s[k:] + s[:k]\n")
    assert not shape.complete("return s[::-1]\n    else:\n")  # an else-body may follow
    assert shape.complete("return s[::-1]\n    else:\n        return s\n")
    assert shape.finish("return s[::-1]\n    else:\n        return s\n") == "return s[::-1]"


def test_with_nothing_after_the_cursor_the_answer_may_finish_the_function() -> None:
    prefix = "def has_zero(xs):\n    for x in xs:\n        if x == 0:\n            "
    raw = "    return True\n    return False\n\n\ndef other():\n    pass\n"
    assert postprocess(raw, prefix, "\n") == "return True\n    return False"
    # code after the cursor keeps the answer in the cursor's block
    assert postprocess(raw, prefix, "\n    return False\n") == "return True"
    # a helper defined above inside the function does not enclose the cursor: the answer
    # may still finish the outer function
    nested = (
        "def largest(n):\n    def ok(k):\n        return k > 1\n    best = 1\n"
        "    for j in range(n):\n        if ok(j):\n            "
    )
    assert postprocess("best = j\n    return best", nested, "\n") == "best = j\n    return best"
    # a last line that opens a block with no body is dropped
    assert postprocess("return 1\n    else:\n", "def f(n):\n    if n:\n        ", "\n") == (
        "return 1"
    )


def test_a_body_that_stays_in_its_block_is_never_complete_early() -> None:
    shape = CompletionShape("def first(xs):\n    ", "\n")
    body = "for x in xs:\n        if x:\n            return x\n    return None"
    assert not any(shape.complete(body[:i]) for i in range(1, len(body) + 1))


def test_only_complete_lines_are_judged() -> None:
    shape = CompletionShape(METHOD_PREFIX, "\n")
    assert not shape.complete("return tokenize(path)\n    def")  # the line may still grow
    assert shape.complete("return tokenize(path)\n    def __enter__(self):\n")


JOIN_PREFIX = "def main(namespace):\n    "
JOIN_SUFFIX = (
    "\n    if namespace.stdin:\n        convert_stdin(md)\n    else:\n        interactive(md)\n"
)


def test_a_completion_ends_where_it_starts_writing_the_lines_after_the_cursor() -> None:
    raw = "md = MarkdownIt()\n    if namespace.stdin:\n        convert_stdin(md)\n    else:\n"
    shape = CompletionShape(JOIN_PREFIX, JOIN_SUFFIX)
    assert shape.finish(raw) == "md = MarkdownIt()"
    ends = next(i for i in range(1, len(raw) + 1) if shape.complete(raw[:i]))
    assert raw[:ends].endswith("convert_stdin(md)\n") and shape.finish(raw[:ends]) == shape.finish(
        raw
    )


def test_a_model_that_skips_the_hole_offers_nothing_rather_than_a_duplicate() -> None:
    raw = "if namespace.stdin:\n        convert_stdin(md)\n    else:\n        interactive(md)\n"
    assert postprocess(raw, JOIN_PREFIX, JOIN_SUFFIX) == ""


def test_one_matching_line_or_a_lone_brace_is_not_a_join() -> None:
    # Only the first following line repeated: the model may mean it (a second call).
    raw = "md = MarkdownIt()\n    if namespace.stdin:\n        md.enable('table')"
    assert postprocess(raw, JOIN_PREFIX, JOIN_SUFFIX) == raw
    assert CompletionShape("function f(a) {", "\n  }\n}").following == []
