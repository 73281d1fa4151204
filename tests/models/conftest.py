"""Shared fixtures for the model backends: offline hub, tiny models built once per session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.needs import need

# Before anything imports huggingface_hub (it reads these once): never touch the network or
# the real cache.
_HF_HOME = Path(tempfile.mkdtemp(prefix="codetune-models-hf-"))
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HOME"] = str(_HF_HOME)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(_HF_HOME))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("torch", "the local backend, extra 'local'")
    from tests.models.tiny_models import build_llama

    return build_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("torch", "the local backend, extra 'local'")
    from tests.models.tiny_models import build_t5

    return build_t5(tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("gguf", "writing a GGUF, extra 'local'")
    from tests.models.tiny_models import build_gguf

    return build_gguf(tmp_path_factory.mktemp("tiny-gguf") / "tiny.gguf")


@pytest.fixture(scope="session")
def llama_server(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real OpenAI-compatible server (llama-cpp-python) on loopback."""
    need("llama_cpp.server", "the OpenAI-compatible test server, llama-cpp-python[server]")
    from tests.models.servers import llama_cpp_server

    with llama_cpp_server(tiny_gguf, tmp_path_factory.mktemp("llama") / "server.log") as url:
        yield url
