"""OpenAI-compatible servers (llama.cpp, vLLM, OpenAI, ...): ``/v1/completions`` and chat.

A schema is sent as ``response_format`` (``json_schema`` or ``json_object`` form, per
``models.NAME.response_format``) and what comes back is validated here all the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from codetune_lsp.models.base import (
    BackendError,
    FinishReason,
    GenerationRequest,
    GenerationResult,
    Health,
    StreamDelta,
    StreamEvent,
)
from codetune_lsp.models.remote import RemoteBackend, Tally

OPENAI_MAX_STOPS = 4


def _finish(reason: str | None) -> FinishReason | None:
    if reason is None:
        return None
    return "length" if reason == "length" else "stop"


class OpenAIBackend(RemoteBackend):
    kind = "openai"

    def _api(self, path: str) -> str:
        """``/v1`` + path, unless the configured URL already ends with ``/v1`` (the usual way
        to write an OpenAI-compatible base URL)."""
        if self.client.base_url.endswith("/v1"):
            return path
        return "/v1" + path

    @property
    def _path(self) -> str:
        return self._api("/chat/completions" if self.profile.api == "chat" else "/completions")

    def payload(self, request: GenerationRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.profile.id,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": stream,
        }
        stops = list(self.stops(request))[:OPENAI_MAX_STOPS]
        if stops:
            body["stop"] = stops  # also applied here, in case the server ignores some
        if request.seed is not None:
            body["seed"] = request.seed
        if stream:
            body["stream_options"] = {"include_usage": True}
        if self.profile.api == "chat":
            if request.messages:
                body["messages"] = [
                    {"role": m.role, "content": m.content} for m in request.messages
                ]
            else:
                body["messages"] = [{"role": "user", "content": request.prompt}]
        else:
            body["prompt"] = self.prompt_text(request)
        if request.json_schema is not None:
            body["response_format"] = self.response_format(request.json_schema)
        return body

    def response_format(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        if self.profile.response_format == "json_object":
            return {"type": "json_object", "schema": dict(schema)}
        return {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": dict(schema), "strict": True},
        }

    def _piece(self, choice: Mapping[str, Any], *, stream: bool) -> str:
        if self.profile.api == "chat":
            part = choice.get("delta" if stream else "message") or {}
            return part.get("content") or ""
        return choice.get("text") or ""

    def _read_usage(self, tally: Tally, body: Mapping[str, Any]) -> None:
        usage = body.get("usage") or {}
        tally.tokens_in = int(usage.get("prompt_tokens") or tally.tokens_in)
        tally.tokens_out = int(usage.get("completion_tokens") or tally.tokens_out)
        if body.get("model"):
            tally.model_id = str(body["model"])
        if body.get("system_fingerprint") and not tally.revision:
            tally.revision = str(body["system_fingerprint"])

    async def _generate(self, request: GenerationRequest, tally: Tally) -> GenerationResult:
        body, _ = await self.client.post_json(self._path, self.payload(request, stream=False))
        choices = body.get("choices") if isinstance(body, dict) else None
        if not choices:
            raise BackendError(
                self.name,
                "the server's answer was not in the expected form (no choices)",
                "check the server log",
            )
        self._read_usage(tally, body)
        tally.add(self._piece(choices[0], stream=False))
        tally.t_first = None  # not streamed: no honest time to first token
        return tally.result(_finish(choices[0].get("finish_reason")) or "stop")

    async def _stream(self, request: GenerationRequest, tally: Tally) -> AsyncIterator[StreamEvent]:
        reason: FinishReason | None = None
        chunks = 0  # one per token on llama.cpp and vLLM; used when no usage is reported
        async with self.client.sse(self._path, self.payload(request, stream=True)) as events:
            async for chunk in events:
                self._read_usage(tally, chunk)
                for choice in chunk.get("choices") or []:
                    if choice.get("finish_reason") is None or self._piece(choice, stream=True):
                        chunks += 1
                    if not chunk.get("usage"):
                        tally.tokens_out = max(tally.tokens_out, chunks)
                    text, stopped = tally.add(self._piece(choice, stream=True))
                    if text:
                        yield StreamDelta(text)
                    if stopped:
                        yield tally.result("stop")
                        return
                    reason = _finish(choice.get("finish_reason")) or reason
        tail = tally.tail()
        if tail:
            yield StreamDelta(tail)
        yield tally.result(reason or "stop")

    async def health(self) -> Health:
        try:
            body = await self.client.get_json(self._api("/models"))
        except BackendError as exc:
            return Health(False, str(exc), self.profile.id)
        ids = [m.get("id", "") for m in (body.get("data") or [])] if isinstance(body, dict) else []
        return Health(True, f"serving {', '.join(ids) or 'a model'}", self.profile.id)
