"""textDocument/inlineCompletion (ghost text) and textDocument/completion (menu items)."""

from __future__ import annotations

import logging
import re

from lsprotocol import types

from codetune_lsp.features.completion import Suggestion
from codetune_lsp.handlers.feedback import FEEDBACK
from codetune_lsp.handlers.guard import passive
from codetune_lsp.server import CodetuneServer

logger = logging.getLogger(__name__)

INLINE_OPTIONS = types.InlineCompletionOptions()
COMPLETION_OPTIONS = types.CompletionOptions(trigger_characters=[".", "(", "[", "{", ",", ":", " "])
_WORD_BEFORE = re.compile(r"[\w$]*$")


def _serves(ls: CodetuneServer, kind: str) -> bool:
    mode = ls.settings.features.completion.mode
    if mode == "both":
        return True
    if mode == "auto":
        return ls.client.inline_completion == (kind == "inline")
    return mode == kind


async def _suggest(ls: CodetuneServer, uri: str, position: types.Position, explicit: bool):
    snap = ls.documents.snapshot(uri)  # taken before the first await
    suggestion = await ls.completion.suggest(snap, snap.offset_at(position), explicit)
    if suggestion is not None and not ls.documents.is_current(uri, snap.version):
        return snap, None  # the document moved on: a stale suggestion would misplace text
    return snap, suggestion


def _accepted(suggestion: Suggestion) -> types.Command:
    return types.Command(
        title="codetune: suggestion accepted",
        command=FEEDBACK,
        arguments=[suggestion.execution_id, "accepted"],
    )


def _documentation(ls: CodetuneServer, language: str, code: str) -> types.MarkupContent | str:
    """The full suggestion: Markdown where the client renders it, else a plain string
    (always allowed, unlike MarkupContent of a kind the client did not list)."""
    if ls.client.markdown_documentation:
        fenced = f"```{language}\n{code}\n```"
        return types.MarkupContent(kind=types.MarkupKind.Markdown, value=fenced)
    return code


def _no_inline() -> types.InlineCompletionList:
    return types.InlineCompletionList(items=[])


def _no_items() -> types.CompletionList:
    return types.CompletionList(is_incomplete=True, items=[])


@passive(_no_inline)
async def on_inline_completion(
    ls: CodetuneServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    if not _serves(ls, "inline"):
        return types.InlineCompletionList(items=[])
    explicit = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    _, suggestion = await _suggest(ls, params.text_document.uri, params.position, explicit)
    if suggestion is None:
        return types.InlineCompletionList(items=[])
    item = types.InlineCompletionItem(
        insert_text=suggestion.text,
        range=types.Range(start=params.position, end=params.position),
        command=_accepted(suggestion),
    )
    return types.InlineCompletionList(items=[item])


@passive(_no_items)
async def on_completion(ls: CodetuneServer, params: types.CompletionParams) -> types.CompletionList:
    if not _serves(ls, "classic"):
        return types.CompletionList(is_incomplete=False, items=[])
    explicit = bool(
        params.context and params.context.trigger_kind == types.CompletionTriggerKind.Invoked
    )
    snap, suggestion = await _suggest(ls, params.text_document.uri, params.position, explicit)
    if suggestion is None:
        return types.CompletionList(is_incomplete=True, items=[])
    # Replace the word being typed with word + suggestion, so the client's filter keeps it.
    line = snap.line_text(params.position.line)
    cursor = snap.offset_at(params.position) - snap.offset_at(
        types.Position(line=params.position.line, character=0)
    )
    word = _WORD_BEFORE.search(line[:cursor]).group(0)  # type: ignore[union-attr]
    start = snap.position_at(snap.offset_at(params.position) - len(word))
    first_line = suggestion.text.strip().splitlines()[0] if suggestion.text.strip() else ""
    item = types.CompletionItem(
        label=(word + first_line)[:80] or suggestion.text[:80],
        kind=types.CompletionItemKind.Snippet,
        detail=f"codetune ({ls.settings.features.completion.model})",
        documentation=_documentation(ls, snap.language_id, word + suggestion.text),
        filter_text=word + suggestion.text,
        sort_text="0",
        preselect=True,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(
            range=types.Range(start=start, end=params.position), new_text=word + suggestion.text
        ),
        command=_accepted(suggestion),
    )
    return types.CompletionList(is_incomplete=True, items=[item])
