"""A minimal blocking LSP client for benchmarks (spawn, request, read the reply)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from codetune_lsp.framing import Frame, FrameParser, encode_frame


class BenchClient:
    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        self._parser = FrameParser()
        self._pending: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(encode_frame(json.dumps(message).encode()))
        self.proc.stdin.flush()

    def request(self, msg_id: int, method: str, params: Any = None) -> dict[str, Any]:
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return self.wait_for(msg_id)

    def wait_for(self, msg_id: int) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            for message in self._pending:
                if message.get("id") == msg_id and "method" not in message:
                    self._pending.remove(message)
                    return message
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("server closed its output")
            self._pending += [
                json.loads(e.body) for e in self._parser.feed(chunk) if isinstance(e, Frame)
            ]

    def stop(self) -> None:
        try:
            self.request(999_999, "shutdown")
            self.send({"jsonrpc": "2.0", "method": "exit"})
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
            self.proc.wait(5)


INITIALIZE = {"processId": None, "rootUri": None, "capabilities": {}}
