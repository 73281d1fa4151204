"""The family's text convention, built into the real CodeGen tokenizer.

Salesforce ran CodeT5+ 2B/6B/16B with every four spaces replaced by a tab in the prompt and
every tab turned back into four spaces in the output. Doing that in the fast tokenizer's own
normalizer and decoder keeps one tokenizer object (its class, vocabulary and special tokens
unchanged), so token counting, decoding and streaming all see the same convention.
"""

from __future__ import annotations

from typing import Any

FOUR_SPACES = "    "
TAB = "\t"


def apply_tab_convention(tokenizer: Any) -> Any:
    """Make ``tokenizer`` encode four spaces as a tab and decode a tab as four spaces."""
    from tokenizers import decoders, normalizers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TypeError(f"{type(tokenizer).__name__} is not a fast tokenizer")
    if getattr(tokenizer, "_codetune_tabs", False):
        return tokenizer
    spaces_to_tab = normalizers.Replace(FOUR_SPACES, TAB)
    backend.normalizer = (
        spaces_to_tab
        if backend.normalizer is None
        else normalizers.Sequence([backend.normalizer, spaces_to_tab])
    )
    tab_to_spaces = decoders.Replace(TAB, FOUR_SPACES)
    backend.decoder = (
        tab_to_spaces
        if backend.decoder is None
        else decoders.Sequence([backend.decoder, tab_to_spaces])
    )
    tokenizer._codetune_tabs = True
    return tokenizer
