"""``codetune.feedback``: the editor tells us whether a suggestion or action was used."""

from __future__ import annotations

from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from codetune_lsp.server import CodetuneServer

FEEDBACK = "codetune.feedback"
USAGE = (
    "arguments: execution id, kind (accepted|rejected|applied|dismissed|rating), [value], [comment]"
)


async def feedback(ls: CodetuneServer, *args: Any) -> dict[str, Any]:
    """Store feedback against an execution; bad arguments get InvalidParams with usage."""
    if len(args) < 2 or not all(isinstance(a, str) for a in args[:2]):
        raise JsonRpcInvalidParams(f"codetune.feedback {USAGE}")
    execution_id, kind = args[0], args[1]
    value = args[2] if len(args) > 2 else None
    comment = args[3] if len(args) > 3 else None
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise JsonRpcInvalidParams("codetune.feedback: the rating must be a whole number 1-5")
    if comment is not None and not isinstance(comment, str):
        raise JsonRpcInvalidParams("codetune.feedback: the comment must be a string")
    services = await ls.services()
    if kind == "accepted":
        ls.completion.accepted(execution_id)
    from codetune_lsp.store import UnknownExecutionError

    try:
        pending = services.store.add_feedback(execution_id, kind, rating=value, comment=comment)
        feedback_id = await pending
    except (ValueError, UnknownExecutionError) as exc:
        raise JsonRpcInvalidParams(f"codetune.feedback: {exc}") from exc
    return {"id": feedback_id}
