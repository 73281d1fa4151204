"""A request cancelled while the model is still loading must not break the backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from codetune_lsp.models.base import GenerationRequest
from codetune_lsp.models.local import LocalBackend
from codetune_lsp.settings import ModelProfile

pytest.importorskip("torch")
pytestmark = pytest.mark.timeout(120)


async def test_a_request_cancelled_during_loading_leaves_the_load_running(tiny_llama: Path):
    backend = LocalBackend("tiny-llama", ModelProfile(family="whiterabbitneo", id=str(tiny_llama)))
    try:
        # A completion that times out (or is superseded) while the model is still loading.
        first = asyncio.ensure_future(
            backend.generate(GenerationRequest(prompt="def f(", max_new_tokens=4))
        )
        await asyncio.sleep(0)  # it is now waiting for the load
        assert backend.loaded is None
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        # The load itself carries on, and later requests are served.
        await backend.ready()
        result = await backend.generate(GenerationRequest(prompt="def f(", max_new_tokens=4))
        assert result.tokens_out == 4
    finally:
        await backend.close()
