"""Fitting cross-file snippets beside the text around the cursor."""

from __future__ import annotations

from collections.abc import Sequence

from codetune_lsp.context.sources import Snippet
from codetune_lsp.engine.fit import AroundCursor


def words(texts: Sequence[str]) -> list[int]:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return [len(text.split()) for text in texts]


DEFINITION = Snippet("definition", "lib/geo.py", 0, "def area(w, h): ...")
RETRIEVED = Snippet("retrieval", "lib/other.py", 40, " ".join(["filler"] * 30))
PREFIX = "".join(f"line {n} of the file\n" for n in range(100))


def fitted(fit: AroundCursor, budget: int):
    (piece,) = fit.pieces(budget, words)
    return piece


def test_snippets_are_taken_in_priority_order_and_shown_most_important_last() -> None:
    small = Snippet("open_document", "notes.py", 3, "total = area(2, 3)")
    piece = fitted(AroundCursor(PREFIX, "", (DEFINITION, small), context_tokens=50), 400)
    assert [c["path"] for c in piece.variables["context"]] == ["notes.py", "lib/geo.py"]
    assert [r["source"] for r in piece.context] == ["definition", "open_document"]
    assert all(r["tokens"] > 0 for r in piece.context)


def test_snippets_stay_within_their_share_and_a_big_one_is_skipped_whole() -> None:
    fit = AroundCursor(PREFIX, "", (RETRIEVED, DEFINITION), context_tokens=20)
    piece = fitted(fit, 400)
    assert [c["path"] for c in piece.variables["context"]] == ["lib/geo.py"]
    assert sum(r["tokens"] for r in piece.context) <= 20


def test_the_document_keeps_the_rest_of_the_budget() -> None:
    piece = fitted(AroundCursor(PREFIX, "", (DEFINITION,), context_tokens=60), 200)
    document = words([piece.variables["prefix"]])[0]
    assert document + sum(r["tokens"] for r in piece.context) <= 200
    assert document > 100  # the share was reserved, not the whole budget


def test_snippets_come_on_top_of_the_documents_limit() -> None:
    alone = fitted(AroundCursor(PREFIX, "", limit=50), 10_000)
    both = fitted(AroundCursor(PREFIX, "", (DEFINITION,), context_tokens=60, limit=50), 10_000)
    assert both.variables["prefix"] == alone.variables["prefix"]  # none of the file pushed out
    assert [c["path"] for c in both.variables["context"]] == ["lib/geo.py"]


def test_limit_caps_the_prompt_below_the_window() -> None:
    piece = fitted(AroundCursor(PREFIX, "", limit=50), 10_000)
    assert words([piece.variables["prefix"]])[0] <= 50
    assert piece.variables["prefix"].endswith("line 99 of the file\n")  # nearest the cursor


def test_snippets_never_take_more_than_half_the_prompt() -> None:
    piece = fitted(AroundCursor(PREFIX, "", (RETRIEVED,), context_tokens=1000), 40)
    assert piece.variables["context"] == []  # 30+ tokens do not fit in half of 40


def test_commented_snippets_use_the_language_comment() -> None:
    python = fitted(AroundCursor("x = ", "", (DEFINITION,), 50, language="python"), 400)
    script = fitted(AroundCursor("x = ", "", (DEFINITION,), 50, language="typescript"), 400)
    assert python.variables["context"][0]["commented"] == "# lib/geo.py\n# def area(w, h): ..."
    assert script.variables["context"][0]["commented"].startswith("// lib/geo.py\n// def")


def test_without_context_drops_the_snippets() -> None:
    piece = fitted(AroundCursor(PREFIX, "", (DEFINITION,), 50).without_context(), 400)
    assert piece.variables["context"] == [] and piece.context == ()


def test_typed_text_goes_to_the_middle_less_its_last_word_the_answer_starts_with() -> None:
    def split(typed: str) -> tuple[str, str]:
        piece = fitted(AroundCursor("x = ", "\n", typed=typed), 400)
        return piece.variables["middle"], piece.answer_start

    assert split("md = M") == ("md =", " M")
    assert split("protoc") == ("", "protoc")
    assert split("tests.") == ("tests", ".")
    assert split("foo(a, ") == ("foo(a,", " ")
    # A new line stays in the prompt (a token ends there); the indentation after it does not.
    assert split("if x:\n        ret") == ("if x:\n", "        ret")
    assert split("") == ("", "")
