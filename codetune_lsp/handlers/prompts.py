"""Prompt commands for editors: list, deploy and roll back from the command palette."""

from __future__ import annotations

import asyncio
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from codetune_lsp.server import CodetuneServer

LIST = "codetune.prompts.list"
DEPLOY = "codetune.prompts.deploy"
ROLLBACK = "codetune.prompts.rollback"


async def _library(ls: CodetuneServer) -> Any:
    return (await ls.services()).library


async def _call(fn: Any, *args: Any) -> Any:
    from codetune_lsp.store import PromptStoreError

    try:
        return await asyncio.to_thread(fn, *args)
    except PromptStoreError as exc:
        raise JsonRpcInvalidParams(str(exc)) from exc


async def list_prompts(ls: CodetuneServer, *args: Any) -> list[dict[str, Any]]:
    return await _call((await _library(ls)).list)


async def deploy(ls: CodetuneServer, *args: Any) -> dict[str, Any]:
    """Arguments: template name, version number, [label]."""
    if len(args) < 2 or not isinstance(args[0], str) or not isinstance(args[1], int):
        raise JsonRpcInvalidParams(f"{DEPLOY} arguments: template name, version, [label]")
    label = args[2] if len(args) > 2 and isinstance(args[2], str) else "production"
    moved = await _call((await _library(ls)).deploy, args[0], args[1], label, "editor")
    return {"template": args[0], "label": label, "version": moved.version}


async def rollback(ls: CodetuneServer, *args: Any) -> dict[str, Any]:
    """Arguments: template name, [label]."""
    if not args or not isinstance(args[0], str):
        raise JsonRpcInvalidParams(f"{ROLLBACK} arguments: template name, [label]")
    label = args[1] if len(args) > 1 and isinstance(args[1], str) else "production"
    moved = await _call((await _library(ls)).rollback, args[0], label, "editor")
    return {"template": args[0], "label": label, "version": moved.version}
