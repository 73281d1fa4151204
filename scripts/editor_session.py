"""Drive the server over stdio the way an editor does, and print what it answers.

Used by `scripts/run`: it shows the server serving a real session (initialize, open a file,
list code actions, ask for a completion, pull diagnostics, shut down) even when no model
weights are present, in which case the server says which model is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from codetune_lsp.framing import Frame, FrameParser, encode_frame


def main(path: Path) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-m", "codetune_lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    replies: dict[int, dict] = {}
    notices: list[dict] = []

    def read() -> None:
        parser = FrameParser()
        while chunk := os.read(proc.stdout.fileno(), 65536):  # type: ignore[union-attr]
            for event in parser.feed(chunk):
                if isinstance(event, Frame):
                    message = json.loads(event.body)
                    if "id" in message and "method" not in message:
                        replies[message["id"]] = message
                    elif message.get("method") in ("window/showMessage", "window/logMessage"):
                        notices.append(message["params"])

    threading.Thread(target=read, daemon=True).start()

    def send(message: dict) -> None:
        proc.stdin.write(encode_frame(json.dumps({"jsonrpc": "2.0", **message}).encode()))  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    def call(msg_id: int, method: str, params: dict, timeout: float = 60) -> dict:
        send({"id": msg_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while msg_id not in replies and time.monotonic() < deadline:
            time.sleep(0.02)
        return replies.get(msg_id, {"error": {"message": "no answer"}})

    uri = path.resolve().as_uri()
    caps = {"textDocument": {"codeAction": {"resolveSupport": {"properties": ["edit"]}}}}
    init = call(
        1,
        "initialize",
        {"processId": os.getpid(), "rootUri": path.resolve().parent.as_uri(), "capabilities": caps},
    )
    print(
        "server:",
        init["result"]["serverInfo"],
        "capabilities:",
        sorted(init["result"]["capabilities"]),
    )
    send({"method": "initialized", "params": {}})
    text = path.read_text()
    send(
        {
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}
            },
        }
    )
    where = {
        "textDocument": {"uri": uri},
        "range": {"start": {"line": 9, "character": 4}, "end": {"line": 9, "character": 4}},
        "context": {"diagnostics": []},
    }
    actions = call(2, "textDocument/codeAction", where)
    print("code actions:", [a["title"] for a in actions.get("result") or []])
    completion = call(
        3,
        "textDocument/completion",
        {
            "textDocument": {"uri": uri},
            "position": {"line": 9, "character": 4},
            "context": {"triggerKind": 1},
        },
    )
    print("completion items:", len((completion.get("result") or {}).get("items", [])))
    time.sleep(0.5)
    for notice in notices:
        if notice.get("type", 4) <= 2:
            print("server says:", notice["message"])
    call(4, "shutdown", None)
    send({"method": "exit"})
    return proc.wait(10)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/unsafe_app.py")))
