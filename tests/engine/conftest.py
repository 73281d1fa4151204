"""A real engine: tiny models built at test time, the local backend, a SQLite store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from codetune_lsp.engine import Engine
from codetune_lsp.paths import Paths
from codetune_lsp.prompts.library import PromptLibrary
from codetune_lsp.settings import ModelProfile, Settings, StoreSettings
from tests.needs import need


@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("torch", "the local backend, extra 'local'")
    from tests.models.tiny_models import build_llama

    return build_llama(tmp_path_factory.mktemp("engine-llama"))


def local_factory(name: str, profile: ModelProfile):  # type: ignore[no-untyped-def]
    from codetune_lsp.models.local import LocalBackend

    return LocalBackend(name, profile)


def settings_with(models: dict[str, ModelProfile], **store: object) -> Settings:
    return Settings(models=models, store=StoreSettings(**store))  # type: ignore[arg-type]


@pytest.fixture
async def engine(tiny_llama_path: Path, tmp_path: Path) -> AsyncIterator[Engine]:
    from codetune_lsp.store import open_store

    settings = settings_with(
        {
            "tiny": ModelProfile(family="whiterabbitneo", id=str(tiny_llama_path)),
            "missing": ModelProfile(family="whiterabbitneo", id=str(tmp_path / "no-such-model")),
        }
    )
    store = open_store(settings, Paths(tmp_path / "c.toml", "t", tmp_path / "data", "t"))
    library = PromptLibrary(store)
    library.seed_builtins()
    built = Engine(settings, store, library, local_factory)
    yield built
    await built.aclose()
    store.close()


@contextlib.asynccontextmanager
async def loopback_engine(tmp_path: Path, answer: Any) -> AsyncIterator[tuple[Engine, Any]]:
    """An engine whose model profile ``loop`` is a loopback OpenAI-compatible server that
    answers every completion with ``answer(seen)``; the built-in templates are seeded."""
    from codetune_lsp.models.registry import create_backend
    from codetune_lsp.store import open_store
    from tests.models.servers import FakeServer

    with FakeServer(answer) as fake:
        profile = ModelProfile(
            backend="openai", url=fake.url + "/v1", id="m", context_length=1024, max_retries=0
        )
        settings = Settings(models={"loop": profile})
        store = open_store(settings, Paths(tmp_path / "c.toml", "t", tmp_path / "data", "t"))
        library = PromptLibrary(store)
        library.seed_builtins()
        engine = Engine(settings, store, library, create_backend)
        try:
            yield engine, fake
        finally:
            await engine.aclose()
            store.close()
