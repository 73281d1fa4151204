"""Drive the server over stdio the way an editor does, and print what it answers.

Used by `scripts/run`: initialize, open a file, let diagnostics arrive, ask for ghost text in a
function body the user starts typing, list the code actions and apply one (the docstring),
then shut down. When a model is missing, the server says which and how to get it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from lsprotocol import types

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.framing import Frame, FrameParser, encode_frame
from codetune_lsp.prompts.edits import apply_edits

NEW_FUNCTION = '\n\ndef is_even(n: int) -> bool:\n    """Whether n is even."""\n    '
WAIT_S = 600  # a cold model on a busy laptop CPU; the server reports progress meanwhile


class Session:
    """A JSON-RPC peer over the server's stdio, answering nothing but reading everything."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codetune_lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.replies: dict[int, dict] = {}
        self.notices: list[dict] = []
        self.diagnostics: dict[str, list] = {}
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        parser = FrameParser()
        while chunk := os.read(self.proc.stdout.fileno(), 65536):  # type: ignore[union-attr]
            for event in parser.feed(chunk):
                if isinstance(event, Frame):
                    self._take(json.loads(event.body))

    def _take(self, message: dict) -> None:
        with self.changed:
            method = message.get("method")
            if "id" in message and method is None:
                self.replies[message["id"]] = message
            elif method in ("window/showMessage", "window/logMessage"):
                self.notices.append(message["params"])
            elif method == "textDocument/publishDiagnostics":
                self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
            elif "id" in message:  # a request from the server (progress, applyEdit): accept
                self.send({"id": message["id"], "result": None})
            self.changed.notify_all()

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.proc.stdin.write(encode_frame(body))  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]

    def call(self, msg_id: int, method: str, params: object) -> dict:
        self.send({"id": msg_id, "method": method, "params": params})
        with self.changed:
            self.changed.wait_for(lambda: msg_id in self.replies, WAIT_S)
        return self.replies.get(msg_id, {"error": {"message": "no answer"}})

    def wait_diagnostics(self, uri: str, timeout: float) -> list:
        with self.changed:
            self.changed.wait_for(lambda: uri in self.diagnostics, timeout)
        return self.diagnostics.get(uri, [])


def _show_problems(session: Session) -> None:
    for notice in session.notices:
        if notice.get("type", 4) <= 2:
            print("server says:", notice["message"])


def main(path: Path) -> int:
    session = Session()
    uri = path.resolve().as_uri()
    caps = {
        "textDocument": {
            "codeAction": {"resolveSupport": {"properties": ["edit"]}},
            "inlineCompletion": {},
            "publishDiagnostics": {},
        }
    }
    root = path.resolve().parent.as_uri()
    init = session.call(
        1, "initialize", {"processId": os.getpid(), "rootUri": root, "capabilities": caps}
    )
    print("server:", init["result"]["serverInfo"])
    session.send({"method": "initialized", "params": {}})
    text = path.read_text()
    document = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    session.send({"method": "textDocument/didOpen", "params": {"textDocument": document}})

    started = time.perf_counter()
    found = session.wait_diagnostics(uri, WAIT_S)
    print(f"diagnostics on open ({time.perf_counter() - started:.1f} s):")
    for item in found:
        print(f"  line {item['range']['start']['line'] + 1}: {item.get('code')} {item['message']}")

    typed = text + NEW_FUNCTION
    change = {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": typed}]}
    session.send({"method": "textDocument/didChange", "params": change})
    lines = typed.split("\n")
    cursor = {"line": len(lines) - 1, "character": len(lines[-1])}
    started = time.perf_counter()
    reply = session.call(
        2,
        "textDocument/inlineCompletion",
        {"textDocument": {"uri": uri}, "position": cursor, "context": {"triggerKind": 1}},
    )
    items = (reply.get("result") or {}).get("items", [])
    suggestion = items[0]["insertText"] if items else ""
    print(f"ghost text in the new function ({time.perf_counter() - started:.1f} s):")
    print("    " + suggestion.replace("\n", "\n    ") if suggestion else "  (none)")

    here = {"start": {"line": 9, "character": 4}, "end": {"line": 9, "character": 4}}
    where = {"textDocument": {"uri": uri}, "range": here, "context": {"diagnostics": []}}
    actions = session.call(3, "textDocument/codeAction", where).get("result") or []
    print("code actions:", [a["title"] for a in actions])
    docstring = next((a for a in actions if a["title"].startswith("AI: Add docstring")), None)
    if docstring is not None:
        started = time.perf_counter()
        resolved = session.call(4, "codeAction/resolve", docstring).get("result") or {}
        changes = (resolved.get("edit") or {}).get("documentChanges") or []
        if changes:
            snap = DocumentSnapshot(uri, 2, "python", typed, "utf-16")
            edits = [types.TextEdit(**_edit(e)) for e in changes[0]["edits"]]
            after = apply_edits(typed, snap, edits)
            print(f"after 'AI: Add docstring' ({time.perf_counter() - started:.1f} s):")
            print("\n".join(after.split("\n")[6:20]))
        else:
            print("the docstring action returned no edit:", resolved)
    _show_problems(session)
    session.call(5, "shutdown", None)
    session.send({"method": "exit"})
    return session.proc.wait(10)


def _edit(raw: dict) -> dict:
    start, end = raw["range"]["start"], raw["range"]["end"]
    return {
        "range": types.Range(
            start=types.Position(line=start["line"], character=start["character"]),
            end=types.Position(line=end["line"], character=end["character"]),
        ),
        "new_text": raw["newText"],
    }


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/unsafe_app.py")))
