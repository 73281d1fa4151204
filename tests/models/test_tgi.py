"""The native TGI backend against recorded wire exchanges.

No TGI server runs on this machine. ``recordings/tgi.json`` was written by hand from TGI's
documented wire format and is replayed by a loopback server, which also checks that the
backend sends exactly the recorded request. A real TGI server would be the stronger test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codetune_lsp.models.base import (
    BackendError,
    ChatMessage,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
)
from codetune_lsp.models.tgi import TGIBackend
from codetune_lsp.settings import ModelProfile
from tests.models.servers import FakeServer, Reply, Seen

pytestmark = pytest.mark.timeout(30)
RECORDINGS = json.loads((Path(__file__).parent / "recordings" / "tgi.json").read_text())


def replay(*names: str):
    """A handler answering each request with the next named exchange."""
    queue = [RECORDINGS[name] for name in names]
    mismatches: list[str] = []

    def handler(seen: Seen) -> Reply:
        exchange = queue.pop(0)
        want = exchange["request"]
        if (seen.method, seen.path) != (want["method"], want["path"]):
            mismatches.append(f"{seen.method} {seen.path} != {want['method']} {want['path']}")
        if "body" in want and seen.body != want["body"]:
            mismatches.append(f"body {seen.body!r} != {want['body']!r}")
        response = exchange["response"]
        if "sse" in response:
            return Reply(response["status"], response["sse"], sse=True)
        return Reply(response["status"], response["body"], headers=response.get("headers", {}))

    handler.mismatches = mismatches  # type: ignore[attr-defined]
    return handler


def _backend(url: str) -> TGIBackend:
    return TGIBackend("tgi", ModelProfile(backend="tgi", id="wrn", url=url, max_retries=0))


async def test_greedy_generate_request_and_answer_follow_the_recording():
    handler = replay("generate_greedy")
    with FakeServer(handler) as server:
        backend = _backend(server.url)
        result = await backend.generate(
            GenerationRequest(prompt="def add(a, b):\n", max_new_tokens=8)
        )
        await backend.close()
    assert handler.mismatches == []
    assert result.text == "    return a + b\n"
    assert (result.finish_reason, result.tokens_in, result.tokens_out) == ("length", 6, 8)


async def test_grammar_is_sent_and_the_answer_still_validated():
    handler = replay("generate_grammar")
    schema = RECORDINGS["generate_grammar"]["request"]["body"]["parameters"]["grammar"]["value"]
    messages = (ChatMessage("system", "Answer in JSON."), ChatMessage("user", "Rate it."))
    with FakeServer(handler) as server:
        backend = _backend(server.url)
        result = await backend.generate(
            GenerationRequest(
                messages=messages,
                max_new_tokens=32,
                temperature=0.7,
                top_p=0.9,
                seed=42,
                json_schema=schema,
            )
        )
        await backend.close()
    assert handler.mismatches == []
    # The recorded server honoured the grammar's shape but not its bound: score 11 > 10.
    assert result.finish_reason == "error" and result.json is None
    assert "11 is greater than the maximum of 10" in result.error


async def test_stream_skips_special_tokens_and_reads_the_final_details():
    handler = replay("generate_stream")
    with FakeServer(handler) as server:
        backend = _backend(server.url)
        request = GenerationRequest(prompt="import ", max_new_tokens=5, stop=("\n\n",))
        events = [e async for e in backend.stream(request)]
        await backend.close()
    assert handler.mismatches == []
    *deltas, final = events
    assert isinstance(final, GenerationResult)
    assert "".join(d.text for d in deltas if isinstance(d, StreamDelta)) == "os\nimport sys"
    assert final.text == "os\nimport sys" and final.finish_reason == "stop"
    assert final.tokens_out == 5


async def test_validation_error_becomes_one_clear_message():
    with FakeServer(replay("generate_validation_error")) as server:
        backend = _backend(server.url)
        with pytest.raises(BackendError) as info:
            await backend.generate(GenerationRequest(prompt="x" * 10, max_new_tokens=200))
        await backend.close()
    assert info.value.profile == "tgi"
    assert "answered 422" in str(info.value) and "must be <= 4096" in str(info.value)
    assert not info.value.retryable


async def test_tokenize_counts_exactly_and_info_gives_model_and_revision():
    with FakeServer(replay("tokenize", "info")) as server:
        backend = _backend(server.url)
        assert await backend.count_tokens("def f():") == 3
        health = await backend.health()
        await backend.close()
    assert health.ok
    assert (health.model_id, health.revision) == (
        "WhiteRabbitNeo/WhiteRabbitNeo-33B-v1.5",
        "97a5da2",
    )


@pytest.mark.parametrize(
    "body",
    [[1], [{"details": []}], {"generated_text": "x", "details": ["a"]}, {"details": {}}],
)
async def test_a_wrong_shape_answer_is_one_clear_error(body: object) -> None:
    with FakeServer(lambda s: Reply(body=body)) as server:
        backend = _backend(server.url)
        with pytest.raises(BackendError, match="not in the expected form"):
            await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
