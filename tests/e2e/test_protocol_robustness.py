"""Every request gets an answer; broken input never kills, hangs or bloats the server."""

from __future__ import annotations

import json

import psutil
import pytest

from codetune_lsp.framing import encode_frame

from .raw import FAILING_SERVER_CMD, RawServer, notification, request


@pytest.fixture
def server():
    srv = RawServer()
    yield srv
    srv.kill()


def status_request(msg_id: int, *args: object) -> bytes:
    params = {"command": "codetune.status", "arguments": list(args)}
    return request(msg_id, "workspace/executeCommand", params)


def test_requests_before_initialize_get_server_not_initialized(server: RawServer) -> None:
    server.send(request(7, "workspace/executeCommand", {"command": "codetune.status"}))
    assert server.response(7)["error"]["code"] == -32002
    server.initialized()
    server.send(status_request(8))
    assert "result" in server.response(8)


def test_bad_params_get_invalid_params_and_the_server_keeps_serving(server: RawServer) -> None:
    server.initialized()
    server.send(request(2, "workspace/executeCommand", {"arguments": 5}))
    error = server.response(2)["error"]
    assert error["code"] == -32602
    assert "workspace/executeCommand" in error["message"] and "command" in error["message"]
    server.send(request(3, "textDocument/didOpen", {"textDocument": "nope"}))
    assert server.response(3)["error"]["code"] in (-32601, -32602)
    server.send(status_request(4))
    assert server.response(4)["result"]["version"]


def test_unknown_method_gets_method_not_found(server: RawServer) -> None:
    server.initialized()
    server.send(request(2, "codetune/noSuchThing", {}))
    assert server.response(2)["error"]["code"] == -32601


def test_internal_errors_carry_no_traceback() -> None:
    srv = RawServer(FAILING_SERVER_CMD)
    try:
        srv.initialized()
        srv.send(request(2, "workspace/executeCommand", {"command": "test.fail"}))
        reply = srv.response(2)
        assert reply["error"]["code"] == -32603
        text = json.dumps(reply)
        assert "Traceback" not in text and 'File "' not in text
        assert "data" not in reply["error"]
        srv.send(status_request(3))
        assert "result" in srv.response(3)
        params = {"command": "test.snapshot", "arguments": ["file:///not/open.py"]}
        srv.send(request(4, "workspace/executeCommand", params))
        assert srv.response(4)["error"]["code"] == -32602
    finally:
        srv.kill()


def test_garbage_bodies_get_parse_or_invalid_request_errors(server: RawServer) -> None:
    server.initialized()
    server.send(encode_frame(b"{not json"))
    parse_error = server.next_message()
    assert parse_error == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": parse_error["error"]["message"]},
    }
    server.send(encode_frame(b"[1, 2]"))
    assert server.next_message()["error"]["code"] == -32600
    server.send(encode_frame(b'{"id": 9, "method": "shutdown"}'))  # no "jsonrpc": "2.0"
    reply = server.next_message()
    assert reply["id"] == 9 and reply["error"]["code"] == -32600


def test_truncated_and_garbled_frames_resynchronise(server: RawServer) -> None:
    server.initialized()
    server.send(b'Content-Length: 4000\r\n\r\n{"jsonrpc": "2.0", "id": 50, "meth')
    server.send(status_request(51))
    assert "result" in server.response(51, timeout=5)
    server.send(b"GARBAGE\x00\xff\r\nmore garbage\r\n\r\n")
    server.send(status_request(52))
    assert "result" in server.response(52, timeout=5)


def test_huge_content_length_does_not_allocate_it(server: RawServer) -> None:
    server.initialized()
    rss_before = psutil.Process(server.proc.pid).memory_info().rss
    server.send(b"Content-Length: 999999999999\r\n\r\n" + b"x" * (4 * 1024 * 1024))
    server.send(status_request(60))
    assert "result" in server.response(60, timeout=10)
    rss_after = psutil.Process(server.proc.pid).memory_info().rss
    assert rss_after - rss_before < 32 * 1024 * 1024
    assert server.proc.poll() is None


def test_notifications_with_bad_params_are_dropped_without_reply(server: RawServer) -> None:
    server.initialized()
    server.send(notification("textDocument/didChange", {"textDocument": 3}))
    server.send(status_request(70))
    reply = server.next_message()
    assert reply["id"] == 70 and "result" in reply


def test_unopened_documents_are_not_read_from_disk(server: RawServer, tmp_path) -> None:
    on_disk = tmp_path / "secret.py"
    on_disk.write_text("API_TOKEN = 'x'\n")
    server.initialized(rootUri=tmp_path.as_uri())
    server.send(status_request(80, on_disk.as_uri()))
    error = server.response(80)["error"]
    assert error["code"] == -32602 and "not open" in error["message"]


def test_initialize_reports_only_served_capabilities(server: RawServer) -> None:
    result = server.initialized()["result"]
    caps = result["capabilities"]
    assert result["serverInfo"]["name"] == "codetune-lsp"
    assert set(caps) == {
        "positionEncoding",
        "textDocumentSync",
        "executeCommandProvider",
        "workspace",
        "completionProvider",
        "inlineCompletionProvider",
        "codeActionProvider",
        "diagnosticProvider",
    }
    assert caps["textDocumentSync"]["change"] == 2 and caps["textDocumentSync"]["save"] is not False
    assert caps["codeActionProvider"]["resolveProvider"] is True
    assert caps["executeCommandProvider"]["commands"] == [
        "codetune.status",
        "codetune.feedback",
        "codetune.runAction",
        "codetune.prompts.list",
        "codetune.prompts.deploy",
        "codetune.prompts.rollback",
    ]
