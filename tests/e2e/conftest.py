"""pytest-lsp sessions against the real server, once per recorded editor capability set."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.needs import need

# Capability sets recorded from real editors, shipped with pytest-lsp.
CLIENTS = ["visual-studio-code", "neovim", "emacs"]
SERVER_COMMAND = [sys.executable, "-m", "codetune_lsp"]


@pytest_lsp.fixture(params=CLIENTS, config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(request, lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(request.param),
            root_uri="file:///workspace",
            workspace_folders=[types.WorkspaceFolder(uri="file:///workspace", name="workspace")],
        )
    )
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("torch", "the local backend, extra 'local'")
    from tests.models.tiny_models import build_llama

    return build_llama(tmp_path_factory.mktemp("e2e-llama"))
