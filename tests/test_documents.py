"""Document sync: incremental edits in any position encoding equal full-text sync."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from codetune_lsp.documents import (
    ENCODINGS,
    DocumentNotOpen,
    DocumentSnapshot,
    DocumentStore,
)

# Astral-plane emoji, combining marks, CJK, CRLF, lone CR, and characters that str.splitlines
# treats as line breaks but LSP does not (\u2028, \x0c, \x1c).
ALPHABET = [
    "a",
    "b",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "é",
    "e\u0301",
    "中",
    "😀",
    "𝄞",
    "\u2028",
    "\x0c",
]
texts = st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join)


def reference_position(text: str, offset: int, encoding: str) -> types.Position:
    """Independent reference: split on LSP line breaks and count encoded units."""
    before = text[:offset]
    line = len(re.findall(r"\r\n|\r|\n", before))
    last_break = max((m.end() for m in re.finditer(r"\r\n|\r|\n", before)), default=0)
    segment = before[last_break:]
    if encoding == "utf-8":
        units = len(segment.encode("utf-8"))
    elif encoding == "utf-16":
        units = len(segment.encode("utf-16-le")) // 2
    else:
        units = len(segment)
    return types.Position(line=line, character=units)


def valid_offsets(text: str) -> list[int]:
    """Offsets an LSP position can express: never between the \\r and \\n of a CRLF."""
    return [i for i in range(len(text) + 1) if not (text[i - 1 : i + 1] == "\r\n" and i > 0)]


@st.composite
def edit_scripts(draw):
    text = draw(texts)
    edits = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        offsets = valid_offsets(text)
        a, b = sorted((draw(st.sampled_from(offsets)), draw(st.sampled_from(offsets))))
        insert = draw(texts)
        edits.append((text, a, b, insert))
        text = text[:a] + insert + text[b:]
    return edits, text


@pytest.mark.parametrize("encoding", ENCODINGS)
@given(script=edit_scripts())
@settings(max_examples=150, deadline=None)
def test_incremental_edits_equal_full_sync(encoding: str, script) -> None:
    edits, final_text = script
    store = DocumentStore(encoding=encoding)
    store.open("file:///t.py", "python", 1, edits[0][0])
    for version, (before, a, b, insert) in enumerate(edits, start=2):
        change = types.TextDocumentContentChangePartial(
            range=types.Range(
                start=reference_position(before, a, encoding),
                end=reference_position(before, b, encoding),
            ),
            text=insert,
        )
        store.change("file:///t.py", version, [change])
    snap = store.snapshot("file:///t.py")
    assert snap.text == final_text
    assert snap.version == len(edits) + 1


@pytest.mark.parametrize("encoding", ENCODINGS)
@given(text=texts, data=st.data())
def test_position_and_offset_round_trip(encoding: str, text: str, data) -> None:
    snap = DocumentSnapshot("file:///t.py", 1, "python", text, encoding)
    offset = data.draw(st.sampled_from(valid_offsets(text)))
    position = snap.position_at(offset)
    assert position == reference_position(text, offset, encoding)
    assert snap.offset_at(position) == offset


def test_only_lsp_line_breaks_count() -> None:
    snap = DocumentSnapshot("u", 1, "python", "a\u2028b\x0cc\r\nd\re\nf", "utf-16")
    assert snap.line_count == 4
    assert [snap.line_text(i) for i in range(4)] == ["a\u2028b\x0cc", "d", "e", "f"]


def test_positions_past_the_end_are_clamped() -> None:
    snap = DocumentSnapshot("u", 1, "python", "ab\r\ncd", "utf-16")
    assert snap.offset_at(types.Position(line=0, character=99)) == 2  # before the CRLF
    assert snap.offset_at(types.Position(line=9, character=0)) == len(snap.text)


def test_full_change_replaces_text_and_unopened_documents_are_refused() -> None:
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, "old")
    store.change("file:///a.py", 2, [types.TextDocumentContentChangeWholeDocument(text="new")])
    assert store.snapshot("file:///a.py").text == "new"
    with pytest.raises(DocumentNotOpen):
        store.snapshot("file:///etc/hostname")
    store.change("file:///never-opened.py", 2, [])  # ignored, not created
    assert "file:///never-opened.py" not in store
    store.close("file:///a.py")
    with pytest.raises(DocumentNotOpen):
        store.snapshot("file:///a.py")


def test_one_snapshot_per_version_so_its_line_table_is_built_once() -> None:
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, "x = 1\ny = 2\n")
    first = store.snapshot("file:///a.py")
    assert first.offset_at(types.Position(line=1, character=0)) == 6
    assert store.snapshot("file:///a.py") is first  # no edit: the same, with its table
    store.change("file:///a.py", 2, [types.TextDocumentContentChangeWholeDocument(text="z")])
    second = store.snapshot("file:///a.py")
    assert second is not first and (second.version, second.text) == (2, "z")
    assert (first.version, first.text) == (1, "x = 1\ny = 2\n")  # a snapshot never changes
    store.encoding = "utf-8"
    assert store.snapshot("file:///a.py").encoding == "utf-8"


def test_an_edit_does_not_build_the_table_of_every_line_start(monkeypatch) -> None:
    """A keystroke in a huge file must not cost a Python object per line (it blocked the
    loop for most of a second in a 50 MB file); only CR line breaks take the slow path."""
    import codetune_lsp.documents as documents

    store = DocumentStore()
    store.open("file:///big.py", "python", 1, "x = 1\n" * 5000)

    def refuse(text: str) -> list[int]:
        raise AssertionError("line_starts called on an edit")

    monkeypatch.setattr(documents, "line_starts", refuse)
    where = types.Range(start=types.Position(4000, 4), end=types.Position(4001, 1))
    store.change(
        "file:///big.py", 2, [types.TextDocumentContentChangePartial(range=where, text="2")]
    )
    monkeypatch.undo()
    lines = store.snapshot("file:///big.py").text.split("\n")
    assert lines[4000] == "x = 2 = 1" and len(lines) == 5000


def test_lookups_in_a_huge_document_agree_with_the_line_table() -> None:
    import random

    rng = random.Random(9)
    lines = [
        "".join(rng.choice("ab é😀\t") for _ in range(rng.randrange(0, 40))) for _ in range(60_000)
    ]
    text = "\n".join(lines)
    assert len(text) > 1_000_000
    for encoding in ("utf-8", "utf-16", "utf-32"):
        fast = DocumentSnapshot("file:///h.py", 1, "python", text, encoding)
        table = DocumentSnapshot("file:///h.py", 1, "python", text, encoding)
        table._starts  # noqa: B018 - build the table up front: the reference answers
        assert fast.line_count == table.line_count
        for _ in range(6):
            position = types.Position(rng.randrange(0, 60_001), rng.randrange(0, 50))
            offset = fast.offset_at(position)
            assert offset == table.offset_at(position)
            assert fast.position_at(offset) == table.position_at(offset)
