"""Decoding that must begin a certain way: with one of a set of words, as after ``module.``
where only the module's names are valid (monitor-guided decoding, in its simplest form), or
with a given text, the characters typed at the cursor that the prompt left out so that the
model picks its own tokens for them (token healing).

The rule is on text, so it holds for any tokenizer: while the answer is still one
identifier, a token is allowed only if the identifier it makes is a start of some word, or,
when the token ends the identifier (a character that cannot be part of one follows), a whole
word. End of text is allowed only after a whole word. Once the identifier has ended, nothing
is constrained. An empty word allows a non-identifier character at once (what is typed
after the dot is already a whole name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

IDENTIFIER_START = re.compile(r"[A-Za-z0-9_]*")


class FirstWordTokens:
    """The token ids a ``FirstWord`` rule allows, from the vocabulary's token texts."""

    def __init__(self, token_texts: Sequence[str]) -> None:
        self.texts = token_texts
        self._by_first_char: dict[str, list[tuple[int, str]]] | None = None
        # Token ids by the identifier characters they start with: those that stay inside
        # the identifier (within[lead]) and those that end it (ending[lead]).
        self.within: dict[str, list[int]] = {}
        self.ending: dict[str, list[int]] = {}
        for token, text in enumerate(token_texts):
            if not text:
                continue  # special and unknown tokens never start a name
            lead = IDENTIFIER_START.match(text).group()  # type: ignore[union-attr]
            table = self.within if len(lead) == len(text) else self.ending
            table.setdefault(lead, []).append(token)

    def allowed(self, words: Iterable[str], written: str) -> list[int] | None:
        """Token ids allowed after ``written``; None when the identifier has ended (no rule
        any more). End-of-text ids are the caller's: allowed when ``written`` is a word."""
        typed = IDENTIFIER_START.match(written).group()  # type: ignore[union-attr]
        if len(typed) < len(written):
            return None
        found: set[int] = set()
        for word in words:
            if not word.startswith(typed):
                continue
            rest = word[len(typed) :]
            found.update(self.ending.get(rest, ()))
            for end in range(1, len(rest) + 1):
                found.update(self.within.get(rest[:end], ()))
        return sorted(found)

    def starting_with(self, char: str) -> list[tuple[int, str]]:
        """(id, text) of the tokens whose text begins with ``char`` (indexed on first use)."""
        if self._by_first_char is None:
            index: dict[str, list[tuple[int, str]]] = {}
            for token, text in enumerate(self.texts):
                if text:
                    index.setdefault(text[0], []).append((token, text))
            self._by_first_char = index
        return self._by_first_char.get(char, [])


class RequiredStart:
    """The answer must begin with ``text``: a token is allowed while the text it makes and
    ``text`` agree (one is a start of the other), and what it writes past ``text`` passes
    ``beyond`` (anything, by default). End of text is not allowed before it."""

    def __init__(
        self,
        text: str,
        tokens: FirstWordTokens,
        beyond: Callable[[str], bool] = lambda after: True,
    ) -> None:
        self.text = text
        self.tokens = tokens
        self.beyond = beyond
        self.done = False

    def allowed(self, written: str) -> list[int] | None:
        if self.done:
            return None
        if len(written) >= len(self.text) or not self.text.startswith(written):
            self.done = True
            return None
        rest = self.text[len(written) :]
        fitting = [
            token
            for token, text in self.tokens.starting_with(rest[0])
            if rest.startswith(text) or (text.startswith(rest) and self.beyond(text[len(rest) :]))
        ]
        return fitting or None


class FirstWordRule:
    """The rule for one generation: which token ids may come next, from the text written."""

    def __init__(self, words: Sequence[str], tokens: FirstWordTokens, eos: Iterable[int]) -> None:
        self.words = tuple(words)
        self.whole = frozenset(self.words)
        self.tokens = tokens
        self.eos_ids = sorted(set(eos))
        self.done = False

    def allowed(self, written: str) -> list[int] | None:
        """Ids allowed next; None once the rule no longer applies (or nothing fits, where
        the model is left free rather than stalled)."""
        if self.done:
            return None
        allowed = self.tokens.allowed(self.words, written)
        if allowed is None:
            self.done = True
            return None
        if written in self.whole:
            allowed = allowed + self.eos_ids
        return allowed or None


class StartThenWord:
    """``starts_with``, then ``first_word``: the typed characters the prompt left out, then
    the rest of one of the module's names (the words are what follows the typed text). A
    token may cross from the one into the other; it must agree with both."""

    def __init__(
        self, text: str, words: Sequence[str], tokens: FirstWordTokens, eos: Iterable[int]
    ) -> None:
        self.word = FirstWordRule(words, tokens, eos)
        self.start = RequiredStart(text, tokens, self._word_agrees)
        self.done = False

    def allowed(self, written: str) -> list[int] | None:
        if self.done:
            return None
        text = self.start.text
        if len(written) < len(text):
            allowed = self.start.allowed(written)
            self.done = self.start.done  # the answer left the required start: free
            return allowed
        allowed = self.word.allowed(written[len(text) :])
        self.done = self.word.done
        return allowed

    def _word_agrees(self, after: str) -> bool:
        """Whether ``after`` (text past the required start) can begin a rest of a name."""
        name = IDENTIFIER_START.match(after).group()  # type: ignore[union-attr]
        if len(name) == len(after):
            return any(word.startswith(name) for word in self.word.words)
        return name in self.word.whole


def start_rule(
    request: Any, tokens: FirstWordTokens, eos: Iterable[int]
) -> FirstWordRule | RequiredStart | StartThenWord | None:
    """The rule a request's ``starts_with`` and ``first_word`` ask for (None: free)."""
    if request.starts_with and request.first_word:
        return StartThenWord(request.starts_with, request.first_word, tokens, eos)
    if request.first_word:
        return FirstWordRule(request.first_word, tokens, eos)
    if request.starts_with:
        return RequiredStart(request.starts_with, tokens)
    return None


def first_word_processor(
    rule: FirstWordRule | RequiredStart | StartThenWord,
    prompt_tokens: int,
    decode: Callable[[Sequence[int]], str],
) -> Callable[[Any, Any], Any]:
    """A llama-cpp-python logits processor (numpy, one sequence) enforcing ``rule``."""
    import numpy as np

    def process(input_ids: Any, scores: Any) -> Any:
        allowed = rule.allowed(decode(list(input_ids[prompt_tokens:]))) if not rule.done else None
        if allowed is None:
            return scores
        mask = np.full(scores.shape, -np.inf, dtype=scores.dtype)
        mask[allowed] = 0.0
        return scores + mask

    return process
