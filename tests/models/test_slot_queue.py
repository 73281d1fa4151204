"""The model worker's queue: priority order, and the peek a pausing runtime uses."""

from __future__ import annotations

from codetune_lsp.models.base import CancelToken, GenerationRequest
from codetune_lsp.models.local import Slot, _SlotQueue


def slot(priority: int) -> Slot:
    request = GenerationRequest(prompt=f"p{priority}", priority=priority)
    return Slot(request, request.prompt or "", (), CancelToken(), "m", "", lambda _: None)


def test_only_a_more_urgent_request_is_taken_ahead() -> None:
    queue = _SlotQueue()
    diagnostics, completion = slot(2), slot(0)
    queue.put(diagnostics)
    assert not queue.waiting_before(2) and queue.take_before(2) is None
    queue.put(completion)
    assert queue.waiting_before(2) and not queue.waiting_before(0)
    assert queue.take_before(2) is completion
    assert queue.take_before(2) is None  # the equal one waits its turn
    assert queue.get_nowait() is diagnostics
