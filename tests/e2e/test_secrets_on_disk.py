"""Canary secrets never reach disk: history, cache, answers/*.md and the debug log.

A loopback OpenAI-compatible backend answers every request by echoing the canaries, so
secrets arrive both from the document (prompts) and from the model (outputs, answers).
"""

from __future__ import annotations

import base64
import os
import random
import sys
from pathlib import Path

from lsprotocol import types
from pytest_lsp import client_capabilities
from pytest_lsp.client import make_test_lsp_client

from tests.models.servers import FakeServer, Reply, Seen

from .model_server import count_at_least, open_doc

_rng = random.Random(1505)
_KEY = base64.b64encode(_rng.randbytes(700)).decode()
KEY_LINES = [_KEY[i : i + 64] for i in range(0, len(_KEY), 64)]
SECRETS = [
    "canary-Db-Pa55",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARYKEY0",
    "ghp_CANARY0123456789abcdefghijklmnopqrstu",
    "AKIACANARY0123456789",
    "canaryUrlPw9",
    *KEY_LINES[:-1],  # the last, short line may be too short to tell from code
]
SOURCE = (
    "import os\n\n"
    f'DB_PASS = "{SECRETS[0]}"\n'
    f'AWS_SECRET_ACCESS_KEY = "{SECRETS[1]}"\n'
    f'GITHUB = "{SECRETS[2]}"\n'
    f'AWS_KEY_ID = "{SECRETS[3]}"\n'
    f'DSN = "postgresql://app:{SECRETS[4]}@db/x"\n'
    'PEM = """\n' + "\n".join(KEY_LINES) + '\n-----END PRIVATE KEY-----\n"""\n\n\n'
    "def area(w, h):\n    return w * h\n"
)
# What the model "says": every secret again, as an answer might quote them.
ANSWER = (
    "This module hard-codes credentials:\n"
    f'- `DB_PASS = "{SECRETS[0]}"`\n'
    f"- an AWS secret {SECRETS[1]} and key id {SECRETS[3]}\n"
    f"- a token {SECRETS[2]}\n"
    f"- postgresql://app:{SECRETS[4]}@db/x\n"
    "- key lines:\n" + "\n".join(KEY_LINES[2:8]) + "\n"
)


def backend(seen: Seen) -> Reply:
    usage = {"prompt_tokens": 10, "completion_tokens": 10}
    return Reply(body={"choices": [{"text": ANSWER, "finish_reason": "stop"}], "usage": usage})


def write_config(root: Path, url: str) -> Path:
    config = root / "config.toml"
    config.write_text(
        '[server]\nlog_level = "debug"\n\n'
        f'[models.remote]\nbackend = "openai"\nurl = "{url}"\nid = "canary"\n'
        'family = "whiterabbitneo"\napi = "completions"\nmax_retries = 0\n\n'
        '[features.completion]\nmodel = "remote"\n\n'
        '[features.code_actions]\nmodel = "remote"\nmarkdown_output = "document"\n\n'
        '[features.diagnostics]\nmodel = "remote"\nrun_on = ["off"]\n'
    )
    return config


def every_file_under(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_canaries_reach_no_file_on_disk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with FakeServer(backend) as fake:
        config = write_config(tmp_path, fake.url + "/v1")
        client = make_test_lsp_client()
        env = {**os.environ, "CODETUNE_CONFIG": str(config), "CODETUNE_HOME": str(data)}
        await client.start_io(sys.executable, "-m", "codetune_lsp", env=env)
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                root_uri=tmp_path.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="ws")],
            )
        )
        try:
            uri = (tmp_path / "settings.py").as_uri()
            (tmp_path / "settings.py").write_text("# the editor's copy is what counts\n")
            open_doc(client, uri, SOURCE)
            key_start = SOURCE.splitlines().index(KEY_LINES[0])
            selection = types.Range(  # a selection of key lines, without the BEGIN line
                start=types.Position(line=key_start + 1, character=10),
                end=types.Position(line=key_start + 6, character=0),
            )
            context = types.CodeActionContext(diagnostics=[])
            params = types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=selection,
                context=context,
            )
            actions = await client.text_document_code_action_async(params)
            explain = next(a for a in actions if a.title.startswith("AI: Explain"))
            explain = await client.code_action_resolve_async(explain)
            command = explain.command
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
            )
            position = types.Position(line=len(SOURCE.splitlines()) - 1, character=15)
            await client.text_document_completion_async(
                types.CompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=position,
                    context=types.CompletionContext(
                        trigger_kind=types.CompletionTriggerKind.Invoked
                    ),
                )
            )
            assert len(fake.seen) >= 2  # the model really saw the secrets and echoed them
            assert (
                await count_at_least(
                    tmp_path, "SELECT count(*) FROM executions WHERE success = 1", 2
                )
                >= 2
            )
        finally:
            await client.shutdown_session()
            await client.stop()
    files = every_file_under(data)
    names = {p.relative_to(data).parts[0] for p in files}
    assert {"answers", "logs"} <= names and any(p.suffix == ".db" for p in files)
    answer = next(p for p in files if p.suffix == ".md")
    assert b"hard-codes credentials" in files[answer]  # the answer is there, redacted
    log = next(content for path, content in files.items() if path.suffix == ".log")
    assert b"received:" in log and b"DB_PASS" in log  # documents reached the debug log
    leaks = [
        f"{secret[:10]}... in {path.relative_to(data)}"
        for path, content in files.items()
        for secret in SECRETS
        if secret.encode() in content
    ]
    assert leaks == [], "\n".join(leaks)
