"""Backends by name: built-ins and plugins from the ``codetune_lsp.backends`` entry points.

A plugin is a callable ``factory(name, profile, *, progress=None) -> Backend`` registered as

    [project.entry-points."codetune_lsp.backends"]
    mine = "my_package.backend:MyBackend"

and selected with ``models.NAME.backend = "mine"``. The built-ins are registered the same way
in this project's pyproject; the table below is the fallback for a source checkout that was
not installed. A plugin cannot replace a built-in name.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from codetune_lsp.models.base import Backend, BackendError, ProgressCallback
from codetune_lsp.settings import ModelProfile

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "codetune_lsp.backends"
BUILTIN_BACKENDS: dict[str, str] = {
    "local": "codetune_lsp.models.local:LocalBackend",
    "openai": "codetune_lsp.models.openai:OpenAIBackend",
    "tgi": "codetune_lsp.models.tgi:TGIBackend",
}


def available_backends() -> dict[str, str]:
    """Backend kind -> ``module:attribute`` for every built-in and installed plugin."""
    found = dict(BUILTIN_BACKENDS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN_BACKENDS:
            if ep.value != BUILTIN_BACKENDS[ep.name]:
                log.warning(
                    "backend plugin %r (%s) ignored: the name is built in", ep.name, ep.value
                )
            continue
        found[ep.name] = ep.value
    return found


def _load(target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def create_backend(
    name: str, profile: ModelProfile, *, progress: ProgressCallback | None = None
) -> Backend:
    """Build the backend a profile asks for; nothing is loaded or connected yet."""
    kinds = available_backends()
    target = kinds.get(profile.backend)
    if target is None:
        raise BackendError(
            name,
            f"unknown backend {profile.backend!r}",
            f"set models.{name}.backend to one of {', '.join(sorted(kinds))}, or install the "
            "plugin that provides it",
        )
    try:
        factory = _load(target)
    except Exception as exc:
        raise BackendError(
            name,
            f"backend {profile.backend!r} ({target}) cannot be imported: {exc}",
            "reinstall the package that provides it",
        ) from exc
    return factory(name, profile, progress=progress)


BackendFactory = Callable[..., Backend]  # factory(name, profile, *, progress=None)


class BackendManager:
    """The one backend cache: a backend per profile name, created on first use and shared
    by every feature (the engine owns one).

    ``progress(profile_name, stage)`` receives loading stages (for ``$/progress``).
    """

    def __init__(
        self,
        profiles: Mapping[str, ModelProfile],
        *,
        progress: Callable[[str, str], None] | None = None,
        factory: BackendFactory = create_backend,
    ) -> None:
        self._profiles = dict(profiles)
        self._progress = progress
        self._factory = factory
        self._backends: dict[str, tuple[ModelProfile, Backend]] = {}

    def get(self, name: str) -> Backend:
        profile = self._profiles.get(name)
        if profile is None:
            raise UnknownProfile(name, sorted(self._profiles))
        cached = self._backends.get(name)
        if cached is not None and cached[0] == profile:
            return cached[1]
        if self._progress is None:
            backend = self._factory(name, profile)
        else:
            report = self._progress

            def callback(stage: str) -> None:
                report(name, stage)

            backend = self._factory(name, profile, progress=callback)
        self._backends[name] = (profile, backend)
        return backend

    async def update(self, profiles: Mapping[str, ModelProfile]) -> None:
        """New settings: backends whose profile changed or vanished are closed."""
        self._profiles = dict(profiles)
        stale = [n for n, (p, _) in self._backends.items() if self._profiles.get(n) != p]
        await asyncio.gather(*(self._backends.pop(n)[1].close() for n in stale))

    async def aclose(self) -> None:
        backends = [b for _, b in self._backends.values()]
        self._backends.clear()
        outcomes = await asyncio.gather(*(b.close() for b in backends), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                log.warning("closing a backend failed: %s", outcome)


class UnknownProfile(BackendError):
    """A feature names a model profile that the settings do not define."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            name,
            "no such model profile",
            f"add a [models.{name}] table to your user config file, or use one of "
            f"{', '.join(known) or 'none'}",
        )
