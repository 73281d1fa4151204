"""The store: execution history, feedback, the response cache and prompt-version tables.

Start with :func:`open_store`; see :class:`Store` for the API the server and engine call.
"""

from __future__ import annotations

from codetune_lsp.store.cache import (
    CacheCounters,
    CachedResponse,
    CachePolicy,
    CacheRequest,
    request_key,
)
from codetune_lsp.store.canonical import canonical_hash, canonical_json
from codetune_lsp.store.ids import new_ulid
from codetune_lsp.store.migrate import SchemaError
from codetune_lsp.store.prompts import (
    ArmInfo,
    ExperimentInfo,
    LabelInfo,
    PromptStoreError,
    VersionInfo,
    choose_arm,
)
from codetune_lsp.store.records import ExecutionRecord
from codetune_lsp.store.store import Store, UnknownExecutionError, open_store
from codetune_lsp.store.writer import Pending, StoreClosedError

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
