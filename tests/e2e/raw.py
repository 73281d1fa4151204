"""A deliberately low-level LSP peer for tests: sends any bytes, reads framed replies."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from codetune_lsp.framing import Frame, FrameParser, encode_frame

SERVER_CMD = [sys.executable, "-m", "codetune_lsp"]
FAILING_SERVER_CMD = [sys.executable, str(Path(__file__).with_name("failing_server.py"))]


def body(message: dict[str, Any]) -> bytes:
    return encode_frame(json.dumps(message).encode())


def request(msg_id: int | str, method: str, params: Any = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    return body(message)


def notification(method: str, params: Any = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return body(message)


def initialize(msg_id: int = 1, process_id: int | None = None, **extra: Any) -> bytes:
    params = {"processId": process_id, "rootUri": None, "capabilities": {}, **extra}
    return request(msg_id, "initialize", params)


class RawServer:
    """A server subprocess driven byte by byte."""

    def __init__(self, cmd: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            cmd or SERVER_CMD,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self._messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        parser = FrameParser()
        assert self.proc.stdout is not None
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            for event in parser.feed(chunk):
                assert isinstance(event, Frame), event
                self._messages.put(json.loads(event.body))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode(errors="replace"))

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def next_message(self, timeout: float = 10.0) -> dict[str, Any]:
        return self._messages.get(timeout=timeout)

    def response(self, msg_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the response to ``msg_id``, skipping notifications."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next_message(max(0.01, deadline - time.monotonic()))
            if "method" not in message and message.get("id") == msg_id:
                return message

    def notifications(self, method: str, wait: float = 0.5) -> list[dict[str, Any]]:
        found, deadline = [], time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                message = self.next_message(max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if message.get("method") == method:
                found.append(message)
        return found

    def initialized(self, **extra: Any) -> dict[str, Any]:
        self.send(initialize(**extra))
        result = self.response(1)
        self.send(notification("initialized", {}))
        return result

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
