"""The OpenAI-compatible backend: against a real llama.cpp server and small local servers."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time

import aiohttp
import pytest

from codetune_lsp.models.base import (
    BackendError,
    CancelToken,
    ChatMessage,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
)
from codetune_lsp.models.openai import OpenAIBackend
from codetune_lsp.models.remote import Tally
from codetune_lsp.models.structured import validation_errors
from codetune_lsp.settings import ModelProfile
from tests.models.servers import LLAMA_KEY, FakeServer, Reply, Seen, free_port

pytestmark = pytest.mark.timeout(60)
KEY_ENV = "CODETUNE_TEST_LLAMA_KEY"
SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["n"],
}


def _profile(url: str, **kw) -> ModelProfile:
    base = {"backend": "openai", "id": "tiny", "url": url, "api_key_env": KEY_ENV}
    return ModelProfile(**{**base, **kw})


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, LLAMA_KEY)
    return LLAMA_KEY


def _completion(text: str, reason: str = "length", **usage: int) -> dict:
    return {
        "model": "fake",
        "choices": [{"text": text, "index": 0, "finish_reason": reason}],
        "usage": {"prompt_tokens": usage.get("i", 3), "completion_tokens": usage.get("o", 2)},
    }


# -- against llama.cpp ---------------------------------------------------------------------


async def test_completion_equals_a_raw_call_to_the_same_server(llama_server: str, key: str):
    body = {"model": "tiny", "prompt": "def add(a, b):", "max_tokens": 16, "temperature": 0}
    async with (
        aiohttp.ClientSession() as raw,
        raw.post(
            llama_server + "/v1/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response,
    ):
        expected = await response.json()
    backend = OpenAIBackend("llama", _profile(llama_server))
    try:
        result = await backend.generate(
            GenerationRequest(prompt="def add(a, b):", max_new_tokens=16)
        )
    finally:
        await backend.close()
    assert result.text == expected["choices"][0]["text"]
    assert result.finish_reason == "length"
    assert (result.tokens_in, result.tokens_out) == (
        expected["usage"]["prompt_tokens"],
        expected["usage"]["completion_tokens"],
    )
    assert result.model_id == "tiny"


async def test_a_base_url_written_with_v1_is_not_doubled(llama_server: str, key: str):
    for url in (llama_server + "/v1", llama_server + "/v1/"):
        backend = OpenAIBackend("llama", _profile(url))
        try:
            result = await backend.generate(GenerationRequest(prompt="def f():", max_new_tokens=4))
            health = await backend.health()
        finally:
            await backend.close()
        assert result.tokens_out == 4 and health.ok


async def test_streaming_from_llama_cpp_adds_up_to_the_plain_answer(llama_server: str, key: str):
    backend = OpenAIBackend("llama", _profile(llama_server))
    request = GenerationRequest(prompt="import os\n", max_new_tokens=24)
    try:
        plain = await backend.generate(request)
        events = [e async for e in backend.stream(request)]
    finally:
        await backend.close()
    *deltas, final = events
    assert isinstance(final, GenerationResult) and final.finish_reason == "length"
    assert all(isinstance(d, StreamDelta) for d in deltas)
    assert "".join(d.text for d in deltas) == final.text == plain.text
    assert final.tokens_out == 24
    assert final.time_to_first_token_s is not None


async def test_chat_api_with_a_schema_is_validated_whatever_the_server_claims(
    llama_server: str, key: str
):
    backend = OpenAIBackend(
        "llama", _profile(llama_server, api="chat", response_format="json_object")
    )
    try:
        result = await backend.generate(
            GenerationRequest(
                messages=(ChatMessage("user", "Give n."),), max_new_tokens=30, json_schema=SCHEMA
            )
        )
    finally:
        await backend.close()
    value = json.loads(result.text)  # llama.cpp's grammar did make it JSON ...
    problems = validation_errors(value, SCHEMA)
    if problems:  # ... but not necessarily within the bounds: then it is reported, not trusted
        assert result.finish_reason == "error" and result.json is None
        assert problems[0] in result.error
    else:
        assert result.json == value and result.finish_reason in ("stop", "length")


async def test_wrong_or_missing_key_is_one_clear_error_without_the_key(
    llama_server: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, "wrong-key-0123456789abcdef")
    backend = OpenAIBackend("llama", _profile(llama_server))
    try:
        with pytest.raises(BackendError) as info:
            await backend.generate(GenerationRequest(prompt="x", max_new_tokens=2))
    finally:
        await backend.close()
    assert info.value.profile == "llama"
    assert "refused the credentials (401)" in str(info.value)
    assert KEY_ENV in info.value.fix
    assert "wrong-key" not in str(info.value) and "wrong-key" not in caplog.text


async def test_cancel_stops_a_long_remote_stream(llama_server: str, key: str):
    backend = OpenAIBackend("llama", _profile(llama_server))
    cancel = CancelToken()
    request = GenerationRequest(prompt="x = ", max_new_tokens=3000, cancel=cancel)
    received: list[str] = []

    async def consume() -> GenerationResult:
        async for event in backend.stream(request):
            if isinstance(event, StreamDelta):
                received.append(event.text)
            else:
                return event
        raise AssertionError("no final result")

    try:
        task = asyncio.create_task(consume())
        while not received:
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        cancel.cancel()
        result = await task
        assert time.perf_counter() - started < 0.3
        assert result.finish_reason == "cancelled"
        assert result.text == "".join(received)
        # The server is free for the next request at once.
        quick = await backend.generate(GenerationRequest(prompt="y", max_new_tokens=2))
        assert quick.tokens_out == 2
    finally:
        await backend.close()


async def test_health_reports_the_served_model_and_a_down_server(llama_server: str, key: str):
    up = OpenAIBackend("llama", _profile(llama_server))
    down = OpenAIBackend("gone", _profile(f"http://127.0.0.1:{free_port()}", max_retries=0))
    try:
        assert (await up.health()).ok
        health = await down.health()
        assert not health.ok and "cannot connect" in health.detail
    finally:
        await up.close()
        await down.close()


# -- against small local servers -----------------------------------------------------------


async def test_payload_carries_stops_seed_and_both_response_format_forms():
    with FakeServer(lambda s: Reply(body=_completion('{"n": 3}', "stop"))) as server:
        for form, expected in (
            (
                "json_schema",
                {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": SCHEMA, "strict": True},
                },
            ),
            ("json_object", {"type": "json_object", "schema": SCHEMA}),
        ):
            backend = OpenAIBackend("fake", _profile(server.url, response_format=form))
            result = await backend.generate(
                GenerationRequest(prompt="p", stop=("\n\n",), seed=7, json_schema=SCHEMA)
            )
            await backend.close()
            sent = server.seen[-1].body
            assert sent["response_format"] == expected
            assert sent["stop"] == ["\n\n", "USER:"] and sent["seed"] == 7
            assert sent["prompt"] == "p"
            assert result.json == {"n": 3} and result.finish_reason == "stop"


async def test_out_of_bounds_json_from_the_server_is_an_error_result():
    with FakeServer(lambda s: Reply(body=_completion('```json\n{"n": 9}\n```', "stop"))) as server:
        backend = OpenAIBackend("fake", _profile(server.url))
        result = await backend.generate(GenerationRequest(prompt="p", json_schema=SCHEMA))
        await backend.close()
    assert result.finish_reason == "error" and result.json is None
    assert "n: 9 is greater than the maximum of 5" in result.error
    assert result.text == '```json\n{"n": 9}\n```'


async def test_safe_failures_are_retried_with_backoff_then_succeed():
    replies = iter(
        [Reply(503), Reply(429, headers={"retry-after": "0"}), Reply(body=_completion("ok"))]
    )
    with FakeServer(lambda s: next(replies)) as server:
        backend = OpenAIBackend("fake", _profile(server.url, max_retries=2))
        result = await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
    assert result.text == "ok"
    assert len(server.seen) == 3


async def test_errors_are_not_retried_beyond_the_bound_and_bad_requests_not_at_all():
    with FakeServer(lambda s: Reply(502, body={"error": "bad gateway"})) as server:
        backend = OpenAIBackend("fake", _profile(server.url, max_retries=1))
        with pytest.raises(BackendError) as info:
            await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
    assert len(server.seen) == 2 and "answered 502" in str(info.value)
    with FakeServer(lambda s: Reply(400, body={"error": "bad"})) as server:
        backend = OpenAIBackend("fake", _profile(server.url, max_retries=3))
        with pytest.raises(BackendError):
            await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
    assert len(server.seen) == 1


async def test_read_timeout_is_separate_from_connect_and_not_retried():
    with FakeServer(lambda s: Reply(body=_completion("late"), delay_s=1.0)) as server:
        backend = OpenAIBackend("fake", _profile(server.url, timeout_s=0.3, max_retries=3))
        started = time.perf_counter()
        with pytest.raises(BackendError) as info:
            await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
    assert time.perf_counter() - started < 0.9
    assert "no answer from" in str(info.value) and "timeout_s" in info.value.fix
    assert len(server.seen) == 1


async def test_circuit_opens_after_repeated_failures_and_fails_fast():
    with FakeServer(lambda s: Reply(503, body={"error": "overloaded"})) as server:
        backend = OpenAIBackend("flaky", _profile(server.url, max_retries=0))
        for _ in range(5):
            with pytest.raises(BackendError, match="503"):
                await backend.generate(GenerationRequest(prompt="p"))
        with pytest.raises(BackendError) as info:
            await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
    assert len(server.seen) == 5  # the sixth request never touched the network
    assert "paused" in str(info.value) and info.value.retryable


async def test_refused_connections_open_the_circuit_too():
    backend = OpenAIBackend("gone", _profile(f"http://127.0.0.1:{free_port()}", max_retries=0))
    for _ in range(5):
        with pytest.raises(BackendError, match="cannot connect"):
            await backend.generate(GenerationRequest(prompt="p"))
    with pytest.raises(BackendError, match="paused"):
        await backend.generate(GenerationRequest(prompt="p"))
    await backend.close()


async def test_key_is_not_sent_to_another_host_after_a_redirect(key: str):
    with FakeServer(lambda s: Reply(body=_completion("from b")), host="127.0.0.2") as b:

        def redirect(seen: Seen) -> Reply:
            return Reply(307, body="", headers={"location": b.url + seen.path})

        with FakeServer(redirect, host="127.0.0.1") as a:
            backend = OpenAIBackend("redir", _profile(a.url))
            result = await backend.generate(GenerationRequest(prompt="p"))
            await backend.close()
    assert result.text == "from b"
    assert a.seen[0].headers["authorization"] == f"Bearer {key}"
    assert "authorization" not in b.seen[0].headers
    assert b.seen[0].body["prompt"] == "p"  # 307 keeps the method and the body


async def test_requests_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
):
    # The server's address is not listening: only the proxy can answer for it.
    target = f"http://127.0.0.3:{free_port()}"
    with FakeServer(lambda s: Reply(body=_completion("via proxy"))) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        backend = OpenAIBackend("proxied", _profile(target))
        result = await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
    assert result.text == "via proxy"
    assert proxy.seen[0].path == target + "/v1/completions"  # the absolute form a proxy gets


async def test_no_proxy_sends_straight_to_the_server(monkeypatch: pytest.MonkeyPatch):
    with (
        FakeServer(lambda s: Reply(body=_completion("direct"))) as server,
        FakeServer(lambda s: Reply(502, body="the proxy must not be used")) as proxy,
    ):
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        backend = OpenAIBackend("direct", _profile(server.url, max_retries=0))
        result = await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
    assert result.text == "direct"
    assert proxy.seen == [] and len(server.seen) == 1


async def test_key_is_kept_on_a_same_origin_redirect(key: str):
    def handler(seen: Seen) -> Reply:
        if seen.path == "/old/v1/completions":
            return Reply(308, body="", headers={"location": "/v1/completions"})
        return Reply(body=_completion("moved"))

    with FakeServer(handler) as server:
        backend = OpenAIBackend("redir", _profile(server.url + "/old"))
        result = await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
    assert result.text == "moved"
    assert [s.headers.get("authorization") for s in server.seen] == [f"Bearer {key}"] * 2


async def test_stop_strings_are_applied_even_when_the_server_ignores_them():
    with FakeServer(lambda s: Reply(body=_completion("x = 1\nUSER: more", "length"))) as server:
        backend = OpenAIBackend("fake", _profile(server.url))
        result = await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
    assert result.text == "x = 1\n" and result.finish_reason == "stop"


class _RacingCancel(CancelToken):
    """A cancel that reaches the stream in the same turn as the server's next chunks."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks_arrive = asyncio.Event()

    async def wait(self, poll_s: float = 0.01) -> None:
        await super().wait(poll_s)
        # The reader wakes as the stream sees the cancel, and reads two buffered chunks.
        asyncio.get_running_loop().call_soon(self.chunks_arrive.set)


class _ChunksAtCancel(OpenAIBackend):
    """Streams one piece; two more arrive just as the caller cancels."""

    async def _stream(self, request: GenerationRequest, tally: Tally):  # type: ignore[override]
        assert isinstance(request.cancel, _RacingCancel)
        text, _ = tally.add("first ")
        yield StreamDelta(text)
        await request.cancel.chunks_arrive.wait()
        for piece in ("second ", "third"):
            text, _ = tally.add(piece)
            yield StreamDelta(text)
        await asyncio.Event().wait()  # the connection stays open until cancelled


async def test_a_cancelled_stream_hands_over_every_piece_its_result_holds():
    backend = _ChunksAtCancel("fake", _profile("http://127.0.0.1:9"))
    cancel = _RacingCancel()
    received: list[str] = []
    result = None
    async for event in backend.stream(GenerationRequest(prompt="p", cancel=cancel)):
        if isinstance(event, StreamDelta):
            received.append(event.text)
            cancel.cancel()
        else:
            result = event
    await backend.close()
    assert result is not None and result.finish_reason == "cancelled"
    assert result.text == "".join(received) == "first second third"


async def test_sse_stream_with_usage_and_stop_holdback():
    chunks = [
        json.dumps({"choices": [{"text": t, "finish_reason": None}]})
        for t in ("a", "b\nUS", "ER: c")
    ] + ["[DONE]"]
    with FakeServer(lambda s: Reply(body=chunks, sse=True)) as server:
        backend = OpenAIBackend("fake", _profile(server.url))
        events = [e async for e in backend.stream(GenerationRequest(prompt="p"))]
        await backend.close()
    deltas = [e.text for e in events if isinstance(e, StreamDelta)]
    assert "".join(deltas) == "ab\n" and "US" not in "".join(deltas)
    assert events[-1].finish_reason == "stop" and events[-1].text == "ab\n"
    assert server.seen[0].body["stream_options"] == {"include_usage": True}


async def test_a_stream_closes_once_the_caller_has_its_answer():
    chunks = [
        json.dumps({"choices": [{"text": t, "finish_reason": None}]})
        for t in ("x = 1", "\ny = 2", "\nz = 3", "\n")
    ] + ["[DONE]"]
    request = GenerationRequest(prompt="p", end_when=lambda text: text.count("\n") >= 1)
    with FakeServer(lambda s: Reply(body=chunks, sse=True)) as server:
        backend = OpenAIBackend("fake", _profile(server.url))
        events = [e async for e in backend.stream(request)]
        await backend.close()
    assert events[-1].finish_reason == "stop" and events[-1].text == "x = 1\ny = 2"


async def test_a_stream_event_of_a_megabyte_is_read_whole():
    text = "x" * 2**20
    chunks = [json.dumps({"choices": [{"text": text, "finish_reason": "length"}]}), "[DONE]"]
    with FakeServer(lambda s: Reply(body=chunks, sse=True)) as server:
        backend = OpenAIBackend("fake", _profile(server.url))
        events = [e async for e in backend.stream(GenerationRequest(prompt="p"))]
        await backend.close()
    assert events[-1].text == text


async def test_a_stream_that_breaks_off_is_one_clear_error():
    chunks = [json.dumps({"choices": [{"text": "x = ", "finish_reason": None}]})]
    with FakeServer(lambda s: Reply(body=chunks, sse=True, cut=True)) as server:
        backend = OpenAIBackend("fake", _profile(server.url, max_retries=0))
        with pytest.raises(BackendError) as info:
            [e async for e in backend.stream(GenerationRequest(prompt="p"))]
        await backend.close()
    assert "broke off" in str(info.value) and info.value.retryable


def test_a_backend_used_from_one_event_loop_after_another_closes_cleanly(caplog) -> None:
    reply = {"choices": [{"text": "hi", "finish_reason": "stop"}]}
    with FakeServer(lambda s: Reply(body=reply)) as server:
        backend = OpenAIBackend("loops", _profile(server.url))
        answers = [
            asyncio.run(backend.generate(GenerationRequest(prompt="p"))).text for _ in range(2)
        ]
        asyncio.run(backend.close())
        gc.collect()  # an unclosed session would report itself now
    assert answers == ["hi", "hi"]
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]


WRONG_SHAPES = {
    "a list": [],
    "choices of lists": {"choices": [[]]},
    "choices of strings": {"choices": ["text"]},
    "choices not a list": {"choices": {"text": "x"}},
    "usage a list": {"choices": [{"text": "x"}], "usage": ["x"]},
    "tokens not a number": {"choices": [{"text": "x"}], "usage": {"prompt_tokens": "many"}},
    "text a number": {"choices": [{"text": 5}]},
}


@pytest.mark.parametrize("name", sorted(WRONG_SHAPES))
async def test_a_wrong_shape_answer_is_one_clear_error(name: str, caplog) -> None:
    with FakeServer(lambda s: Reply(body=WRONG_SHAPES[name])) as server:
        backend = OpenAIBackend("fake", _profile(server.url, max_retries=0))
        with pytest.raises(BackendError) as info:
            await backend.generate(GenerationRequest(prompt="p"))
        await backend.close()
    assert "the server's answer was not in the expected form" in str(info.value)
    assert "AttributeError" not in str(info.value)
    assert not any(record.exc_info for record in caplog.records)


@pytest.mark.parametrize("chunk", ["[1, 2]", '{"choices": ["x"]}', '{"choices": 3}', "{not json"])
async def test_a_wrong_shape_stream_is_one_clear_error(chunk: str) -> None:
    with FakeServer(lambda s: Reply(body=[chunk, "[DONE]"], sse=True)) as server:
        backend = OpenAIBackend("fake", _profile(server.url, max_retries=0))
        with pytest.raises(BackendError, match="not in the expected form"):
            [e async for e in backend.stream(GenerationRequest(prompt="p"))]
        await backend.close()
