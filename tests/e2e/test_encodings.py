"""Position encodings negotiated at initialize and used for incremental sync on the wire."""

from __future__ import annotations

import hashlib

import pytest

from .raw import RawServer, notification, request

URI = "file:///work/enc.py"
# astral emoji, a combining mark, CJK and CRLF line ends
TEXT = "def f():\r\n    s = '😀e\u0301中'\r\n    return s\r\n"


def units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (None, "utf-16"),
        (["utf-16"], "utf-16"),
        (["utf-8", "utf-16"], "utf-8"),
        (["utf-32"], "utf-32"),
    ],
)
def test_negotiated_encoding_is_used_for_incremental_edits(offered, chosen) -> None:
    capabilities = {"general": {"positionEncodings": offered}} if offered else {}
    server = RawServer()
    try:
        result = server.initialized(capabilities=capabilities)["result"]
        assert result["capabilities"]["positionEncoding"] == chosen
        server.send(
            notification(
                "textDocument/didOpen",
                {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": TEXT}},
            )
        )
        # Replace "中'" on line 1 with "文字'" : its start column is counted in `chosen` units.
        line1 = "    s = '😀e\u0301中'"
        start = units(line1[: line1.index("中")], chosen)
        end = units(line1, chosen)
        edit = {
            "range": {
                "start": {"line": 1, "character": start},
                "end": {"line": 1, "character": end},
            },
            "text": "文字'",
        }
        # then append a line after the last CRLF
        append = {
            "range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}},
            "text": "x = '𝄞'\r\n",
        }
        server.send(
            notification(
                "textDocument/didChange",
                {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [edit, append]},
            )
        )
        expected = TEXT.replace("中'", "文字'") + "x = '𝄞'\r\n"
        server.send(
            request(
                5, "workspace/executeCommand", {"command": "codetune.status", "arguments": [URI]}
            )
        )
        doc = server.response(5)["result"]
        assert doc["version"] == 2
        assert doc["sha256"] == hashlib.sha256(expected.encode()).hexdigest()
    finally:
        server.kill()
