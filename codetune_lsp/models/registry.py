"""Backend kinds by name: the built-ins plus plugins from the ``codetune_lsp.backends``
entry-point group (a plugin names a class taking ``(profile_name, profile)``)."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from codetune_lsp.models.base import Backend, BackendError
from codetune_lsp.settings import ModelProfile

ENTRY_POINT_GROUP = "codetune_lsp.backends"
BUILTIN_KINDS = {
    "local": "codetune_lsp.models.local:LocalBackend",
    "openai": "codetune_lsp.models.openai:OpenAIBackend",
    "tgi": "codetune_lsp.models.tgi:TGIBackend",
}


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_kinds() -> dict[str, str]:
    """Kind name → ``module:Class``; plugins may add kinds (not replace built-ins)."""
    kinds = dict(BUILTIN_KINDS)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        kinds.setdefault(entry.name, entry.value)
    return kinds


def create_backend(name: str, profile: ModelProfile) -> Backend:
    """The backend for one configured profile; a missing kind or plugin is a clear error."""
    target = backend_kinds().get(profile.backend)
    if target is None:
        raise BackendError(
            name,
            f"unknown backend {profile.backend!r}",
            f"set models.{name}.backend to one of {', '.join(sorted(backend_kinds()))} or "
            "install the plugin that provides it",
        )
    try:
        cls = _load(target)
    except ImportError as exc:
        extra = "local" if profile.backend == "local" else profile.backend
        raise BackendError(
            name,
            f"the {profile.backend} backend cannot be imported ({exc.name or exc})",
            f"install it, e.g. `pip install 'codetune-lsp[{extra}]'`",
        ) from exc
    return cls(name, profile)
