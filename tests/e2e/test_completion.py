"""Completions end to end with a tiny real model, for each recorded editor."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities

from codetune_lsp.engine import fim_markers
from codetune_lsp.prompts.completion_text import postprocess

from .conftest import CLIENTS
from .model_server import (
    count_at_least,
    history,
    invoke_inline,
    open_doc,
    replace_all,
    start_client,
)

PREFIX = "def g():\n    total = "
SUFFIX = "\n    return total\n"
TEXT = PREFIX + SUFFIX
CURSOR = types.Position(line=1, character=len("    total = "))


@pytest.fixture(scope="session")
def expected_text(tiny_llama_path: Path) -> str:
    """The post-processed greedy output of the model on the same FIM prompt."""
    from codetune_lsp.models.base import GenerationRequest
    from codetune_lsp.models.local import LocalBackend
    from codetune_lsp.settings import ModelProfile

    async def generate() -> str:
        backend = LocalBackend(
            "tiny", ModelProfile(family="whiterabbitneo", id=str(tiny_llama_path))
        )
        try:
            await backend.ready()
            fim = fim_markers(backend.row.fim.template)
            prompt = f"{fim['prefix']}{PREFIX}{fim['suffix']}{SUFFIX}{fim['middle']}"
            result = await backend.generate(GenerationRequest(prompt=prompt, max_new_tokens=24))
            return postprocess(result.text, PREFIX, SUFFIX)
        finally:
            await backend.close()

    text = asyncio.run(generate())
    assert text, "the tiny model should produce a non-empty completion here"
    return text


def completion_params(uri: str, invoked: bool = True) -> types.CompletionParams:
    kind = (
        types.CompletionTriggerKind.Invoked
        if invoked
        else types.CompletionTriggerKind.TriggerCharacter
    )
    return types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=CURSOR,
        context=types.CompletionContext(
            trigger_kind=kind, trigger_character=None if invoked else " "
        ),
    )


@pytest.fixture(params=CLIENTS)
async def client(request, tmp_path: Path, tiny_llama_path: Path):
    started = await start_client(tmp_path, tiny_llama_path, request.param, diagnostics=False)
    started.root = tmp_path  # type: ignore[attr-defined]
    yield started
    await started.shutdown_session()
    await started.stop()


async def test_classic_item_is_the_post_processed_model_output(client, expected_text: str) -> None:
    uri = (client.root / "g.py").as_uri()
    open_doc(client, uri, TEXT)
    result = await client.text_document_completion_async(completion_params(uri))
    (item,) = result.items
    assert item.text_edit.new_text == expected_text  # no word before the cursor
    assert item.filter_text == expected_text
    assert item.text_edit.range.start == CURSOR and result.is_incomplete
    # accepting runs the feedback command, stored against the execution
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
    )
    await asyncio.sleep(0.3)
    rows = history(
        client.root,
        "SELECT e.id, f.kind FROM executions e JOIN feedback f ON f.execution_id = e.id",
    )
    assert rows == [(item.command.arguments[0], "accepted")]


async def test_typing_ahead_is_served_without_a_model_call(client, expected_text: str) -> None:
    uri = (client.root / "g.py").as_uri()
    open_doc(client, uri, TEXT)
    await client.text_document_completion_async(completion_params(uri))
    typed = expected_text[:2]
    replace_all(client, uri, PREFIX + typed + SUFFIX, 2)
    params = completion_params(uri, invoked=False)
    params.position = types.Position(line=1, character=CURSOR.character + len(typed))
    result = await client.text_document_completion_async(params)
    (item,) = result.items
    assert item.text_edit.new_text.endswith(expected_text[2:])
    await asyncio.sleep(0.3)
    rows = history(
        client.root,
        "SELECT backend, cache_hit FROM executions"
        " WHERE feature = 'completion' ORDER BY created_at",
    )
    assert rows == [("local", 0), ("type-ahead", 1)]


async def test_typing_at_the_cursor_extends_the_last_prompt_until_an_edit_elsewhere(
    tmp_path: Path, tiny_llama_path: Path, expected_text: str
) -> None:
    client = await start_client(tmp_path, tiny_llama_path, "neovim", diagnostics=False)

    async def complete_at(line: int, character: int) -> None:
        params = completion_params(uri)
        params.position = types.Position(line=line, character=character)
        await client.text_document_completion_async(params)

    try:
        uri = (tmp_path / "g.py").as_uri()
        open_doc(client, uri, TEXT)
        await client.text_document_completion_async(completion_params(uri))
        typed = "zq + 1" if not expected_text.startswith("zq") else "qz + 1"  # no type-ahead
        replace_all(client, uri, PREFIX + typed + SUFFIX, 2)
        await complete_at(1, CURSOR.character + len(typed))
        replace_all(client, uri, PREFIX + typed + "\n    " + SUFFIX, 3)
        await complete_at(2, 4)
        replace_all(client, uri, "x = 1\n" + PREFIX + typed + "\n    " + SUFFIX, 4)
        await complete_at(3, 4)
        query = "FROM executions WHERE feature = 'completion' AND cache_hit = 0"
        await count_at_least(tmp_path, f"SELECT count(*) {query}", 4, timeout=60)
        rows = history(
            tmp_path,
            f"SELECT (SELECT text FROM prompt_texts WHERE hash = rendered_prompt_hash) {query}"
            " ORDER BY created_at",
        )
        first, second, third, fourth = (prompt for (prompt,) in rows)
        # Each prompt is the first with the typed text after the FIM middle marker, less
        # its last word (the answer's required start): a local model evaluates only those
        # characters. A new line stays in the prompt; the indentation after it is left out.
        assert second == first + typed[: -len(" 1")]
        assert third == first + typed + "\n"
        # An edit elsewhere in the file starts afresh, with everything in the prefix.
        assert "x = 1\n" + PREFIX + typed + "\n    " in fourth
        assert not fourth.startswith(first)
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_inline_completion_gives_the_same_text(
    tmp_path: Path, tiny_llama_path: Path, expected_text: str
) -> None:
    caps = client_capabilities("visual-studio-code")
    caps.text_document.inline_completion = types.InlineCompletionClientCapabilities()
    client = await start_client(
        tmp_path, tiny_llama_path, "visual-studio-code", capabilities=caps, diagnostics=False
    )
    try:
        uri = (tmp_path / "g.py").as_uri()
        open_doc(client, uri, TEXT)
        inline = await invoke_inline(client, uri, CURSOR)
        (item,) = inline.items
        assert item.insert_text == expected_text
        assert item.command.command == "codetune.feedback"
        classic = await client.text_document_completion_async(completion_params(uri))
        assert len(classic.items) == 0  # auto mode: ghost text only where the client has it
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_fast_typing_runs_one_generation_and_answers_every_request(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    client = await start_client(tmp_path, tiny_llama_path, "neovim", diagnostics=False)
    try:
        uri = (tmp_path / "g.py").as_uri()
        open_doc(client, uri, TEXT)
        warm_up = completion_params(uri)  # an invoked request waits for the model to load
        warm_up.position = types.Position(line=0, character=0)
        await client.text_document_completion_async(warm_up)
        await asyncio.sleep(0.3)
        loaded = await count_at_least(
            tmp_path, "SELECT count(*) FROM executions WHERE feature = 'completion'"
        )
        requests = []
        for _ in range(6):
            requests.append(
                asyncio.ensure_future(
                    client.text_document_completion_async(completion_params(uri, invoked=False))
                )
            )
            await asyncio.sleep(0.02)  # faster than the 150 ms debounce
        results = await asyncio.gather(*requests)
        assert [len(r.items) for r in results[:-1]] == [0] * 5 and len(results[-1].items) == 1
        await asyncio.sleep(0.3)
        assert history(
            tmp_path, "SELECT count(*) FROM executions WHERE feature = 'completion'"
        ) == [(loaded + 1,)]
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_a_suggestion_replaced_without_acceptance_counts_as_rejected(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    client = await start_client(tmp_path, tiny_llama_path, "neovim", diagnostics=False)
    try:
        uri = (tmp_path / "g.py").as_uri()
        open_doc(client, uri, TEXT)
        first = await client.text_document_completion_async(completion_params(uri))
        (item,) = first.items
        replace_all(client, uri, "x = 1\n" + TEXT, 2)  # elsewhere: not typing into it
        moved = completion_params(uri)
        moved.position = types.Position(line=CURSOR.line + 1, character=CURSOR.character)
        await client.text_document_completion_async(moved)
        await asyncio.sleep(0.3)
        rows = history(tmp_path, "SELECT execution_id, kind FROM feedback ORDER BY created_at")
        assert rows == [(item.command.arguments[0], "rejected")]
    finally:
        await client.shutdown_session()
        await client.stop()
