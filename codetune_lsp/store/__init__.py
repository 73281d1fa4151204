"""The store: execution history, feedback, the response cache and prompt-version tables.

Start with :func:`open_store`; see :class:`Store` for the API the server and engine call.

The names are imported on first use: the value types the engine needs on the request path
(records, cache keys, ``Pending``) come from modules without SQLAlchemy, so a server can
answer its first completion while another thread is still importing SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codetune_lsp.store.cache_policy import (
        CacheCounters,
        CachedResponse,
        CachePolicy,
        CacheRequest,
        request_key,
    )
    from codetune_lsp.store.canonical import canonical_hash, canonical_json
    from codetune_lsp.store.execution import ExecutionRecord
    from codetune_lsp.store.ids import new_ulid
    from codetune_lsp.store.migrate import SchemaError
    from codetune_lsp.store.pending import Pending
    from codetune_lsp.store.prompt_info import (
        ArmInfo,
        ExperimentInfo,
        LabelInfo,
        PromptStoreError,
        VersionInfo,
        choose_arm,
    )
    from codetune_lsp.store.store import Store, UnknownExecutionError, open_store
    from codetune_lsp.store.writer import StoreClosedError

_HOMES = {  # name -> the module that defines it
    "CacheCounters": "cache_policy",
    "CachePolicy": "cache_policy",
    "CacheRequest": "cache_policy",
    "CachedResponse": "cache_policy",
    "request_key": "cache_policy",
    "canonical_hash": "canonical",
    "canonical_json": "canonical",
    "ExecutionRecord": "execution",
    "new_ulid": "ids",
    "SchemaError": "migrate",
    "Pending": "pending",
    "ArmInfo": "prompt_info",
    "ExperimentInfo": "prompt_info",
    "LabelInfo": "prompt_info",
    "PromptStoreError": "prompt_info",
    "VersionInfo": "prompt_info",
    "choose_arm": "prompt_info",
    "Store": "store",
    "UnknownExecutionError": "store",
    "open_store": "store",
    "StoreClosedError": "writer",
}

__all__ = [
    "ArmInfo",
    "CacheCounters",
    "CachePolicy",
    "CacheRequest",
    "CachedResponse",
    "ExecutionRecord",
    "ExperimentInfo",
    "LabelInfo",
    "Pending",
    "PromptStoreError",
    "SchemaError",
    "Store",
    "StoreClosedError",
    "UnknownExecutionError",
    "VersionInfo",
    "canonical_hash",
    "canonical_json",
    "choose_arm",
    "new_ulid",
    "open_store",
    "request_key",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
