"""Model backends: the contract, the family table, and how to get a backend for a profile.

Importing this package is cheap: torch and transformers load only when a local model does.

    manager = BackendManager(settings.models, progress=report)
    backend = manager.get("whiterabbitneo-7b")
    result = await backend.generate(GenerationRequest(prompt=..., max_new_tokens=64))
"""

from codetune_lsp.models.base import (
    Backend,
    BackendError,
    CancelToken,
    ChatMessage,
    FinishReason,
    GenerationRequest,
    GenerationResult,
    Health,
    ProgressCallback,
    StreamDelta,
    StreamEvent,
)
from codetune_lsp.models.profiles import FAMILY_TABLE, FamilyProfile, FimFormat, family_for
from codetune_lsp.models.registry import BackendManager, available_backends, create_backend

__all__ = [
    "FAMILY_TABLE",
    "Backend",
    "BackendError",
    "BackendManager",
    "CancelToken",
    "ChatMessage",
    "FamilyProfile",
    "FimFormat",
    "FinishReason",
    "GenerationRequest",
    "GenerationResult",
    "Health",
    "ProgressCallback",
    "StreamDelta",
    "StreamEvent",
    "available_backends",
    "create_backend",
    "family_for",
]
