"""Hugging Face text-generation-inference, native API: ``/generate``, ``/generate_stream``.

A schema goes out as TGI's ``grammar`` parameter (``{"type": "json", "value": schema}``) and
the answer is validated here regardless. Token counts come from the ``details`` TGI returns
and its ``x-prompt-tokens`` header; ``/tokenize`` gives exact counts for context fitting.
"""

from __future__ import annotations

import math
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

_REASONS: dict[str, FinishReason] = {
    "length": "length",
    "eos_token": "stop",
    "stop_sequence": "stop",
}


class TGIBackend(RemoteBackend):
    kind = "tgi"

    def payload(self, request: GenerationRequest, *, stream: bool) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_new_tokens": request.max_new_tokens,
            "do_sample": not request.greedy,
            "details": True,
        }
        if not request.greedy:  # TGI rejects temperature 0 and top_p outside (0, 1)
            params["temperature"] = request.temperature
            if request.top_p < 1:
                params["top_p"] = request.top_p
        stops = list(self.stops(request))
        if stops:
            params["stop"] = stops
        if request.seed is not None:
            params["seed"] = request.seed
        if request.json_schema is not None:
            params["grammar"] = {"type": "json", "value": dict(request.json_schema)}
        return {"inputs": self.prompt_text(request), "parameters": params, "stream": stream}

    @staticmethod
    def _details(tally: Tally, details: Mapping[str, Any] | None) -> FinishReason | None:
        if not details:
            return None
        if details.get("generated_tokens") is not None:
            tally.tokens_out = int(details["generated_tokens"])
        prefill = details.get("prefill")
        if prefill:
            tally.tokens_in = len(prefill)
        return _REASONS.get(str(details.get("finish_reason")), "stop")

    async def _generate(self, request: GenerationRequest, tally: Tally) -> GenerationResult:
        body, headers = await self.client.post_json(
            "/generate", self.payload(request, stream=False)
        )
        if isinstance(body, list):  # some versions answer a one-element list
            body = body[0] if body else {}
        if not isinstance(body, dict) or "generated_text" not in body:
            raise BackendError(
                self.name,
                "the server's answer was not in the expected form (no generated_text)",
                "check the server log",
            )
        if headers.get("x-prompt-tokens", "").isdigit():
            tally.tokens_in = int(headers["x-prompt-tokens"])
        reason = self._details(tally, body.get("details"))
        tally.add(str(body["generated_text"]))
        tally.t_first = None  # not streamed
        return tally.result(reason or "stop")

    async def _stream(self, request: GenerationRequest, tally: Tally) -> AsyncIterator[StreamEvent]:
        reason: FinishReason | None = None
        async with self.client.sse(
            "/generate_stream", self.payload(request, stream=True)
        ) as events:
            async for event in events:
                if "error" in event:
                    raise BackendError(
                        self.name,
                        f"the server failed while generating: {str(event['error'])[:200]}",
                        "check the server log",
                    )
                token = event.get("token") or {}
                if not token.get("special"):
                    text, stopped = tally.add(str(token.get("text", "")))
                    if text:
                        yield StreamDelta(text)
                    if stopped:
                        yield tally.result("stop")
                        return
                tally.tokens_out += 1
                reason = self._details(tally, event.get("details")) or reason
        tail = tally.tail()
        if tail:
            yield StreamDelta(tail)
        yield tally.result(reason or "stop")

    async def count_tokens(self, text: str) -> int:
        try:
            body, _ = await self.client.post_json("/tokenize", {"inputs": text})
        except BackendError:
            return math.ceil(len(text.encode("utf-8")) / 3)
        return len(body) if isinstance(body, list) else math.ceil(len(text.encode("utf-8")) / 3)

    async def health(self) -> Health:
        try:
            info = await self.client.get_json("/info")
        except BackendError as exc:
            return Health(False, str(exc), self.profile.id)
        model = str(info.get("model_id", "")) if isinstance(info, dict) else ""
        sha = str(info.get("model_sha") or "") if isinstance(info, dict) else ""
        return Health(True, f"serving {model or 'a model'}", model or self.profile.id, sha)
