"""Cancelled code actions leave nothing behind, whenever the cancel arrives.

A loopback OpenAI-compatible backend answers slowly, so each ``codetune.runAction`` is still
running when its ``$/cancelRequest`` comes: while the client is creating the progress token,
just after progress began, or while the model is asked.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.models.servers import FakeServer, Reply, Seen

from .raw import RawServer, notification, request

pytestmark = pytest.mark.timeout(120)
SOURCE = "def area(w, h):\n    result = w * h\n    return result\n"
RUNS = 24
STATUS = {"command": "codetune.status"}


def write_config(root: Path, url: str) -> Path:
    config = root / "config.toml"
    config.write_text(
        f'[models.remote]\nbackend = "openai"\nurl = "{url}/v1"\nid = "slow"\n'
        'family = "whiterabbitneo"\nmax_retries = 0\n\n'
        "[store]\ncache_enabled = false\n\n"
        '[features.code_actions]\nmodel = "remote"\n\n'
        '[features.completion]\nmodel = "remote"\n\n'
        '[features.diagnostics]\nmodel = "remote"\nrun_on = ["off"]\n'
    )
    return config


class Client:
    """Answers the server's own requests, except progress creation when told to hold it."""

    def __init__(self, server: RawServer) -> None:
        self.server = server

    def next_request_from_server(self, method: str) -> dict[str, Any]:
        while True:
            message = self.server.next_message(30)
            if message.get("method") == method and "id" in message:
                return message
            self.answer_if_request(message)

    def answer_if_request(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:
            self.reply(message)

    def reply(self, message: dict[str, Any]) -> None:
        self.server.send(_frame({"jsonrpc": "2.0", "id": message["id"], "result": None}))

    def response(self, msg_id: int) -> dict[str, Any]:
        while True:
            message = self.server.next_message(60)
            if "method" not in message and message.get("id") == msg_id:
                return message
            self.answer_if_request(message)


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_cancelled_actions_leave_nothing_behind(tmp_path: Path) -> None:
    release = threading.Event()

    def slow(seen: Seen) -> Reply:
        release.wait(30)  # held until the cancels are in
        return Reply(body={"choices": [{"text": "It multiplies.", "finish_reason": "stop"}]})

    with FakeServer(slow) as fake:
        env = {
            "CODETUNE_CONFIG": str(write_config(tmp_path, fake.url)),
            "CODETUNE_HOME": str(tmp_path / "data"),
        }
        server = RawServer(env=env)
        try:
            client = Client(server)
            server.initialized(
                rootUri=tmp_path.as_uri(), capabilities={"window": {"workDoneProgress": True}}
            )
            uri = (tmp_path / "geometry.py").as_uri()
            doc = {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}
            server.send(notification("textDocument/didOpen", {"textDocument": doc}))
            where = {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}}
            params = {"textDocument": {"uri": uri}, "range": where, "context": {"diagnostics": []}}
            server.send(request(2, "textDocument/codeAction", params))
            actions = client.response(2)["result"]
            explain = next(a for a in actions if a["title"].startswith("AI: Explain"))
            command = {"command": explain["command"], "arguments": explain["arguments"]}

            rng = random.Random(154)
            for run in range(RUNS):
                msg_id = 100 + run
                server.send(request(msg_id, "workspace/executeCommand", command))
                create = client.next_request_from_server("window/workDoneProgress/create")
                when = rng.choice(["while creating the token", "after progress began"])
                if when == "while creating the token":
                    server.send(notification("$/cancelRequest", {"id": msg_id}))
                    client.reply(create)
                else:
                    client.reply(create)
                    while server.next_message(30).get("method") != "$/progress":
                        pass
                    server.send(notification("$/cancelRequest", {"id": msg_id}))
                reply = client.response(msg_id)
                assert reply["error"]["code"] == -32800, (when, reply)
            release.set()
            change = {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [doc]}
            server.send(notification("textDocument/didChange", change))
            for run in range(3):  # the document moved on: each action is refused as stale
                server.send(request(200 + run, "workspace/executeCommand", command))
                client.reply(client.next_request_from_server("window/workDoneProgress/create"))
                assert client.response(200 + run)["error"]["code"] == -32801

            idle = {"requests": 0, "progressTokens": 0, "cancellable": 0, "actionsWithProgress": 0}
            pending: dict[str, int] = {}
            for poll in range(200):  # cancelled work unwinds just after its answer is sent
                server.send(request(1000 + poll, "workspace/executeCommand", STATUS))
                pending = client.response(1000 + poll)["result"]["pending"]
                if pending == idle:
                    break
                time.sleep(0.05)
            assert pending == idle
            server.send(request(5, "shutdown"))
            client.response(5)
            server.send(notification("exit"))
            assert server.wait(30) == 0
            log = "".join(server.stderr_lines)
            assert "InvalidStateError" not in log and "Traceback" not in log, log[-4000:]
        finally:
            release.set()
            server.kill()
