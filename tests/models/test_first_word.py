"""Decoding that must begin a certain way: with one of a set of words (the names after
``module.``), or with the characters typed at the cursor that the prompt left out."""

from __future__ import annotations

import numpy as np

from codetune_lsp.models.first_word import (
    FirstWordRule,
    FirstWordTokens,
    RequiredStart,
    StartThenWord,
    first_word_processor,
)

VOCAB = ["", "HF", "_HUB", "_CACHE", "_CA", "CHE", "END", "POINT", ")", ".", " ", "HFX", "(", "E"]
WORDS = ("HF_HUB_CACHE", "ENDPOINT")


def spelled(ids: list[int] | None) -> set[str]:
    assert ids is not None
    return {VOCAB[i] for i in ids}


def test_only_starts_of_a_word_may_begin_the_answer() -> None:
    tokens = FirstWordTokens(VOCAB)
    assert spelled(tokens.allowed(WORDS, "")) == {"HF", "END", "E"}


def test_inside_a_word_only_its_continuations_and_its_end_are_allowed() -> None:
    tokens = FirstWordTokens(VOCAB)
    assert spelled(tokens.allowed(WORDS, "HF_HUB")) == {"_CACHE", "_CA"}
    assert spelled(tokens.allowed(WORDS, "HF_HUB_CA")) == {"CHE"}
    # A token that ends the identifier is allowed only right after a whole word.
    assert spelled(tokens.allowed(WORDS, "HF_HUB_CACHE")) == {")", ".", " ", "("}


def test_the_rule_ends_with_the_identifier() -> None:
    tokens = FirstWordTokens(VOCAB)
    assert tokens.allowed(WORDS, "ENDPOINT)") is None
    assert tokens.allowed(WORDS, " anything") is None  # cannot happen under the rule


def test_an_empty_word_allows_ending_at_once() -> None:
    tokens = FirstWordTokens(VOCAB)
    assert spelled(tokens.allowed(("", "_x"), "")) == {")", ".", " ", "("}


def test_the_processor_masks_the_rest_and_allows_the_end_after_a_whole_word() -> None:
    decode = lambda ids: "".join(VOCAB[i] for i in ids)  # noqa: E731
    prompt = [9, 9]  # two prompt tokens, not part of the answer
    tokens = FirstWordTokens(VOCAB)
    process = first_word_processor(FirstWordRule(WORDS, tokens, [0]), len(prompt), decode)
    scores = np.zeros(len(VOCAB), dtype=np.float32)
    first = process(np.array(prompt), scores.copy())
    assert {VOCAB[i] for i in np.flatnonzero(first == 0)} == {"HF", "END", "E"}
    at_end = process(np.array([*prompt, 6, 7]), scores.copy())  # "ENDPOINT"
    assert {i for i in np.flatnonzero(at_end == 0)} == {0, 8, 9, 10, 12}  # end-of-text too
    free = process(np.array([*prompt, 6, 7, 8]), scores.copy())  # "ENDPOINT)"
    assert np.all(free == 0)


HEALING_VOCAB = ["", " M", " Mark", " Ma", "M", "ark", "down", " m", "=", " =", "down("]


def test_a_required_start_allows_the_tokens_that_agree_with_it_then_anything() -> None:
    rule = RequiredStart(" Mark", FirstWordTokens(HEALING_VOCAB))
    named = lambda ids: {HEALING_VOCAB[i] for i in ids}  # noqa: E731
    # A token may cover part of the text, or all of it and more.
    assert named(rule.allowed("")) == {" M", " Mark", " Ma"}
    assert named(rule.allowed(" M")) == {"ark"}
    assert rule.allowed(" Mark") is None and rule.done  # written: the model is free again


def test_a_required_start_no_token_can_spell_leaves_the_model_free() -> None:
    rule = RequiredStart(" Q", FirstWordTokens(HEALING_VOCAB))
    assert rule.allowed("") is None


def test_a_required_start_then_a_name_allows_tokens_that_cross_from_one_into_the_other() -> None:
    # Typed "HF" (left out of the prompt), then the rest of a module's name.
    rule = StartThenWord("H", ("F_HUB_CACHE", "F_ENDPOINT"), FirstWordTokens(VOCAB), [0])
    # "HF" crosses into the name and agrees with it; "HFX" names nothing the module has.
    assert spelled(rule.allowed("")) == {"HF"}
    assert spelled(rule.allowed("HF")) == {"_HUB"}
    assert spelled(rule.allowed("HF_HUB")) == {"_CACHE", "_CA"}
    assert 0 in rule.allowed("HF_HUB_CACHE")  # a whole name: the answer may end
