"""Code-action output: extraction from chatty answers, minimal edits, the scope guard."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types

from codetune_lsp.documents import ENCODINGS, DocumentSnapshot
from codetune_lsp.prompts.edits import (
    EditOutOfScope,
    Region,
    apply_edits,
    extract_code,
    guard_edits,
    minimal_edits,
    python_problem,
    reindent,
)


def snap(text: str, encoding: str = "utf-16") -> DocumentSnapshot:
    return DocumentSnapshot("file:///a.py", 1, "python", text, encoding)


def test_code_comes_from_the_fenced_block_in_the_right_language() -> None:
    answer = (
        "Sure! Here is the shell command:\n```sh\nls\n```\n"
        "And the code:\n```python\ndef f():\n    return 1\n```\nHope it helps."
    )
    assert extract_code(answer, "python") == "def f():\n    return 1\n"


def test_longest_block_when_no_language_matches_and_tilde_fences() -> None:
    answer = "~~~\nx = 1\ny = 2\n~~~\n```\nz\n```"
    assert extract_code(answer, "rust") == "x = 1\ny = 2\n"


def test_answer_tags_and_bare_code() -> None:
    assert extract_code("blah <answer>\nx = 1\n</answer> blah") == "x = 1\n"
    assert extract_code("x = 1\n") == "x = 1\n"


def test_a_cut_off_fence_is_not_code() -> None:
    assert extract_code("Here:\n```python\ndef f(") is None
    assert extract_code("  \n") is None


def test_reindent_moves_code_to_the_original_indentation() -> None:
    original = "    def m(self):\n        return 1\n"
    model = "def m(self):\n    return 2\n"
    assert reindent(model, original) == "    def m(self):\n        return 2\n"


def test_only_changed_lines_are_edited() -> None:
    text = "import os\n\ndef f(x):\n    y = x+1\n    return y\n\nprint(f(1))\n"
    doc = snap(text)
    region = Region.whole_lines(doc, 2, 4)
    new = "def f(x):\n    y = x + 1\n    return y\n"
    edits = minimal_edits(doc, region, new)
    assert len(edits) == 1
    assert edits[0].range.start == types.Position(line=3, character=0)
    assert edits[0].range.end == types.Position(line=4, character=0)
    assert apply_edits(text, doc, edits) == text.replace("x+1", "x + 1")


def test_crlf_documents_get_crlf_edits() -> None:
    text = "a = 1\r\nb = 2\r\nc = 3\r\n"
    doc = snap(text)
    edits = minimal_edits(doc, Region(0, len(text)), "a = 1\nb = 20\nc = 3\n")
    assert [e.new_text for e in edits] == ["b = 20\r\n"]
    assert apply_edits(text, doc, edits) == "a = 1\r\nb = 20\r\nc = 3\r\n"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_positions_use_the_negotiated_encoding_with_astral_text(encoding: str) -> None:
    text = "s = '😀'\nt = '𝄞'  # é\nu = 1\n"
    doc = snap(text, encoding)
    edits = minimal_edits(doc, Region(0, len(text)), "s = '😀'\nt = '𝄞'  # é!\nu = 1\n")
    assert apply_edits(text, doc, edits) == text.replace("é\n", "é!\n")
    assert edits[0].range.start == types.Position(line=1, character=0)


def test_edits_outside_the_region_are_refused() -> None:
    text = "a\nb\nc\n"
    doc = snap(text)
    region = Region.whole_lines(doc, 1, 1)
    outside = types.TextEdit(
        range=types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=0, character=1)
        ),
        new_text="evil",
    )
    with pytest.raises(EditOutOfScope):
        guard_edits(doc, region, [outside])


lines = st.lists(st.sampled_from(["a = 1", "b = 2", "    c()", "", "é = '😀'", "# x"]), max_size=12)


@given(old=lines, new=lines, encoding=st.sampled_from(ENCODINGS))
def test_applying_the_edits_gives_exactly_the_new_text(old, new, encoding) -> None:
    head, tail = "HEAD\n", "TAIL\n"
    body = "".join(f"{line}\n" for line in old)
    text = head + body + tail
    doc = snap(text, encoding)
    region = Region(len(head), len(head) + len(body))
    replacement = "".join(f"{line}\n" for line in new)
    edits = minimal_edits(doc, region, replacement)
    assert apply_edits(text, doc, edits) == head + replacement + tail
    assert len(edits) <= max(len(old), len(new))


def test_a_fence_indented_by_the_answer_cue_is_found() -> None:
    assert extract_code(" ```python\ndef f():\n    pass\n ```", "python") == "def f():\n    pass\n"
    assert extract_code(" ```python\ndef f():\n    pass\n```", "python") == "def f():\n    pass\n"


def test_python_problem_names_why_code_does_not_parse() -> None:
    assert python_problem("def f():\n    return 1\n") is None
    assert "line 2" in python_problem("def f():\nreturn 1\n")
