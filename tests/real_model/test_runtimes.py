"""The embedded model through both local runtimes: llama.cpp in process, and transformers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from codetune_lsp.models.base import ChatMessage, GenerationRequest
from codetune_lsp.models.local import LocalBackend
from codetune_lsp.settings import ModelProfile

CHAT = (ChatMessage("system", "Answer briefly."), ChatMessage("user", "Name a sorting algorithm."))
PROMPT = "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n<|fim_middle|>"


def profile(gguf: Path, **changes) -> ModelProfile:
    return ModelProfile(family="qwen2.5-coder", id=str(gguf), **changes)


async def test_llama_cpp_uses_the_models_own_chat_template(qwen_gguf: Path) -> None:
    backend = LocalBackend("qwen", profile(qwen_gguf))
    try:
        loaded = await backend.ready()
        assert backend.runtime == "llama.cpp"
        own = loaded.format_chat(CHAT)
        # The template shipped in the GGUF renders exactly the profile table's ChatML,
        # including Qwen's default system prompt when the chat has none.
        assert own == backend.row.format_chat(CHAT)
        user_only = (ChatMessage("user", "hi"),)
        assert loaded.format_chat(user_only) == backend.row.format_chat(user_only)
        assert "You are Qwen" in loaded.format_chat(user_only)
    finally:
        await backend.close()


async def test_llama_cpp_fills_in_the_middle(qwen_gguf: Path) -> None:
    backend = LocalBackend("qwen", profile(qwen_gguf))
    try:
        await backend.ready()
        started = time.perf_counter()
        result = await backend.generate(GenerationRequest(prompt=PROMPT, max_new_tokens=32))
        print(f"llama.cpp FIM: {result.tokens_out} tokens in {time.perf_counter() - started:.2f}s")
        print(repr(result.text))
        assert result.text.lstrip().startswith("return a + b")
        assert result.tokens_out <= 32
    finally:
        await backend.close()


@pytest.mark.slow
@pytest.mark.timeout(1200)
async def test_transformers_converts_the_gguf_once_and_agrees_with_llama_cpp(
    qwen_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path))
    request = GenerationRequest(prompt=PROMPT, max_new_tokens=12)
    outputs = {}
    for attempt in ("cold", "warm"):
        backend = LocalBackend("qwen-hf", profile(qwen_gguf, runtime="transformers"))
        try:
            started = time.perf_counter()
            await backend.ready()
            print(f"transformers {attempt} load: {time.perf_counter() - started:.1f}s")
            converted = any("converting" in stage for stage in backend.stages)
            assert converted == (attempt == "cold")
            outputs[attempt] = (await backend.generate(request)).text
        finally:
            await backend.close()
    llama = LocalBackend("qwen", profile(qwen_gguf))
    try:
        await llama.ready()
        reference = (await llama.generate(request)).text
    finally:
        await llama.close()
    assert outputs["cold"] == outputs["warm"] == reference


KEYWORDS = (
    ChatMessage("system", "You answer with JSON only."),
    ChatMessage("user", 'List thirty Python keywords and builtins as JSON: {"names": [...]}.'),
)
NAMES_SCHEMA = {
    "type": "object",
    "properties": {"names": {"type": "array", "items": {"type": "string"}}},
    "required": ["names"],
}


async def test_a_completion_during_a_long_constrained_generation_is_served_first_and_exactly(
    qwen_gguf: Path,
) -> None:
    """A diagnostics-like generation (JSON grammar, priority 2) pauses for a completion
    (priority 0) that arrives while it runs; both answers equal those generated alone."""
    import asyncio

    from codetune_lsp.models.base import GenerationResult, StreamDelta

    backend = LocalBackend("qwen", profile(qwen_gguf))
    long = GenerationRequest(
        messages=KEYWORDS, max_new_tokens=96, json_schema=NAMES_SCHEMA, priority=2
    )
    short = GenerationRequest(prompt=PROMPT, max_new_tokens=12, priority=0)
    try:
        await backend.ready()
        long_alone = await backend.generate(long)
        short_alone = await backend.generate(short)
        assert long_alone.tokens_out > 40, "the long answer must leave room to pause"
        finished: list[str] = []
        short_task = None
        long_result = None
        async for event in backend.stream(long):
            if isinstance(event, StreamDelta) and short_task is None:
                short_task = asyncio.ensure_future(backend.generate(short))
                short_task.add_done_callback(lambda _: finished.append("completion"))
            elif isinstance(event, GenerationResult):
                finished.append("diagnostics")
                long_result = event
        assert short_task is not None and long_result is not None
        short_result = await short_task
    finally:
        await backend.close()
    assert finished == ["completion", "diagnostics"]
    assert short_result.text == short_alone.text
    assert long_result.text == long_alone.text and long_result.json == long_alone.json
