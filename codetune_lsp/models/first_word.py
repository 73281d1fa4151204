"""Decoding that must begin with one of a set of words, as after ``module.`` where only the
module's names are valid (monitor-guided decoding, in its simplest form).

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


def first_word_processor(
    words: Sequence[str],
    tokens: FirstWordTokens,
    eos: Iterable[int],
    prompt_tokens: int,
    decode: Callable[[Sequence[int]], str],
) -> Callable[[Any, Any], Any]:
    """A llama-cpp-python logits processor (numpy, one sequence) enforcing the rule."""
    import numpy as np

    rule = FirstWordRule(words, tokens, eos)

    def process(input_ids: Any, scores: Any) -> Any:
        allowed = rule.allowed(decode(list(input_ids[prompt_tokens:]))) if not rule.done else None
        if allowed is None:
            return scores
        mask = np.full(scores.shape, -np.inf, dtype=scores.dtype)
        mask[allowed] = 0.0
        return scores + mask

    return process
