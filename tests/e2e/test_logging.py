"""The log file: written in the data dir, without document text or credentials."""

from __future__ import annotations

from pathlib import Path

from .raw import SERVER_CMD, RawServer, notification, request

DOC_TEXT = "def very_distinctive_function_name():\n    return 42\n"
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def run_session(home: Path, *flags: str) -> str:
    server = RawServer(
        cmd=[*SERVER_CMD, *flags],
        env={"CODETUNE_HOME": str(home), "CODETUNE_CONFIG": str(home / "config.toml")},
    )
    try:
        server.initialized(
            initializationOptions={"features": {"completion": {"debounce_ms": TOKEN}}}
        )
        server.send(
            notification(
                "textDocument/didOpen",
                {
                    "textDocument": {
                        "uri": "file:///w/a.py",
                        "languageId": "python",
                        "version": 1,
                        "text": DOC_TEXT,
                    }
                },
            )
        )
        server.send(request(2, "shutdown") + notification("exit"))
        assert server.wait(10) == 0
    finally:
        server.kill()
    return (home / "logs" / "codetune-lsp.log").read_text()


def test_info_log_has_no_document_text_and_no_credentials(tmp_path: Path) -> None:
    log = run_session(tmp_path)
    assert "codetune-lsp starting" in log
    assert "features.completion.debounce_ms" in log  # the settings problem is logged...
    assert TOKEN not in log  # ...with the credential-looking value redacted
    assert "[REDACTED]" in log
    assert "very_distinctive_function_name" not in log


def test_debug_log_may_show_traffic_but_still_redacts(tmp_path: Path) -> None:
    log = run_session(tmp_path, "--log-level", "debug")
    assert "very_distinctive_function_name" in log  # debug shows the wire traffic
    assert TOKEN not in log
