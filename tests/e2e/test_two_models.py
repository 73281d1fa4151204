"""Two local models loading at once in one server (diagnostics and completions at start-up)
must both load: model construction is process-global, so loads take turns."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities
from pytest_lsp.client import make_test_lsp_client

from .model_server import count_at_least, history, open_doc

SOURCE = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"


@pytest.fixture(scope="session")
def tiny_t5_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.models.tiny_models import build_t5

    return build_t5(tmp_path_factory.mktemp("e2e-t5"))


@pytest.mark.parametrize("round_", [1, 2])
async def test_diagnostics_and_completion_models_load_together(
    tmp_path: Path, tiny_llama_path: Path, tiny_t5_path: Path, round_: int
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[models.llama]\nfamily = "whiterabbitneo"\nid = "{tiny_llama_path}"\n\n'
        f'[models.t5]\nfamily = "codet5p"\nid = "{tiny_t5_path}"\n\n'
        '[features.completion]\nmodel = "t5"\nmax_new_tokens = 8\ndebounce_ms = 0\n\n'
        '[features.code_actions]\nmodel = "llama"\n\n'
        '[features.diagnostics]\nmodel = "llama"\nrun_on = ["open"]\n'
        'templates = ["diagnostics.quality"]\n'
    )
    client = make_test_lsp_client()
    env = {**os.environ, "CODETUNE_CONFIG": str(config), "CODETUNE_HOME": str(tmp_path / "data")}
    await client.start_io(sys.executable, "-m", "codetune_lsp", env=env)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            root_uri=tmp_path.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="ws")],
        )
    )
    try:
        uri = (tmp_path / "app.py").as_uri()
        open_doc(client, uri, SOURCE)  # diagnostics start loading the Llama now
        await client.text_document_completion_async(  # and the completion loads the T5
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=4, character=11),
                context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
            )
        )
        await count_at_least(
            tmp_path, "SELECT count(*) FROM executions WHERE feature = 'diagnostics'", 1, 120
        )
        rows = history(
            tmp_path,
            "SELECT feature, model_profile, error_class, error_message FROM executions",
        )
        by_feature = {feature: (model, error, message) for feature, model, error, message in rows}
        assert set(by_feature) == {"completion", "diagnostics"}, rows
        for model, error, message in by_feature.values():
            # The model answered (an emptied or invalid answer is fine for random weights);
            # a load that broke would be a BackendError naming meta tensors.
            assert error not in ("BackendError", "EngineError"), (model, message)
            assert "meta" not in (message or ""), (model, message)
    finally:
        await client.shutdown_session()
        await client.stop()
