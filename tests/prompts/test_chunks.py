"""Chunking long files at top-level definitions, with line numbers that map back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from codetune_lsp.prompts.chunks import chunk_document


def words(texts):
    return [len(t.split()) for t in texts]


SOURCE = """import os

@cache
def first(a):
    return a + 1


class Second:
    def method(self):
        return 2


def third():
    return 3
"""


def test_small_files_are_one_chunk_with_numbered_lines() -> None:
    (chunk,) = chunk_document(SOURCE, budget=1000, count=words)
    assert chunk.first_line == 0
    assert chunk.numbered().splitlines()[3] == " 4| def first(a):"


def test_chunks_break_at_top_level_definitions_and_keep_decorators() -> None:
    chunks = chunk_document(SOURCE, budget=14, count=words)
    assert len(chunks) > 1
    for chunk in chunks[1:]:
        head = chunk.lines[0]
        assert head and not head[0].isspace() and head[0] not in ")]}"
    starts = [chunk.lines[0] for chunk in chunks]
    assert "def first(a):" not in starts  # stays with its decorator
    assert "".join("\n".join(c.lines) + "\n" for c in chunks) == SOURCE


def test_an_oversized_block_is_cut_by_lines() -> None:
    body = "def huge():\n" + "".join(f"    x{i} = {i}\n" for i in range(40))
    chunks = chunk_document(body, budget=20, count=words)
    assert len(chunks) > 1
    for chunk in chunks:
        numbered = [f"{n}| {line}" for n, line in enumerate(chunk.lines, chunk.first_line + 1)]
        assert sum(words(numbered)) <= 20


@given(
    st.lists(
        st.sampled_from(["def f():", "    return 1", "", "x = 1", "@d", "class C:", "    pass"]),
        max_size=60,
    ),
    st.integers(min_value=3, max_value=30),
)
def test_chunks_cover_every_line_once_in_order(lines, budget) -> None:
    text = "".join(f"{line}\n" for line in lines)
    chunks = chunk_document(text, budget=budget, count=words)
    rebuilt = [line for chunk in chunks for line in chunk.lines]
    assert rebuilt == lines
    expected_first = 0
    for chunk in chunks:
        assert chunk.first_line == expected_first
        expected_first = chunk.last_line + 1
