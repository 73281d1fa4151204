"""A huge file keeps the server responsive: diagnostics skip it with a message, edits and
requests are served, and shutdown is honoured at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.models.servers import FakeServer, Reply, Seen

from .raw import RawServer, notification, request

pytestmark = pytest.mark.timeout(120)
LINE = "    value = compute(alpha, beta, gamma)  # a typical line of code\n"
LINES = 100_000  # 6.6 MB: far over features.diagnostics.max_file_chars


def answer(seen: Seen) -> Reply:
    return Reply(body={"choices": [{"text": '{"findings": []}', "finish_reason": "stop"}]})


def test_a_huge_file_is_not_analysed_edits_are_served_and_shutdown_is_honoured(
    tmp_path: Path,
) -> None:
    with FakeServer(answer) as fake:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[models.loop]\nbackend = "openai"\nurl = "{fake.url}/v1"\nid = "m"\n'
            'family = "whiterabbitneo"\n\n[features.diagnostics]\nmodel = "loop"\n'
            'run_on = ["open", "save"]\n'
        )
        env = {"CODETUNE_CONFIG": str(config), "CODETUNE_HOME": str(tmp_path / "data")}
        server = RawServer(env=env)
        try:
            server.initialized(rootUri=tmp_path.as_uri())
            uri = (tmp_path / "big.py").as_uri()
            text = "def f():\n" + LINE * LINES
            item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
            server.send(notification("textDocument/didOpen", {"textDocument": item}))
            told = []
            while not told:
                message = server.next_message(60)
                if message.get("method") == "window/logMessage":
                    told = [m for m in [message["params"]["message"]] if "not analysed" in m]
            assert "max_file_chars" in told[0]
            for version in range(2, 12):  # keystrokes deep in the file
                where = {"line": LINES - version, "character": 4}
                change = {"range": {"start": where, "end": where}, "text": "x"}
                params = {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [change],
                }
                server.send(notification("textDocument/didChange", params))
            server.send(notification("textDocument/didSave", {"textDocument": {"uri": uri}}))
            status = {"command": "codetune.status", "arguments": [uri]}
            server.send(request(2, "workspace/executeCommand", status))
            state = server.response(2, timeout=60)["result"]
            assert state["version"] == 11 and state["length"] == len(text) + 10
            server.send(request(3, "shutdown"))
            assert server.response(3, timeout=30)["result"] is None
            server.send(notification("exit"))
            assert server.wait(30) == 0
            assert fake.seen == []  # no model request for a file it will not analyse
        finally:
            server.kill()
