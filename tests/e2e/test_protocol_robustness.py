"""Every request gets an answer; broken input never kills, hangs or bloats the server."""

from __future__ import annotations

import json
import random

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


def nested(depth: int, rng: random.Random) -> str:
    """A JSON value ``depth`` containers deep, arrays and objects mixed."""
    opening = "".join(rng.choice(["[", '{"k":']) for _ in range(depth))
    closing = "".join("]" if c == "[" else "}" for c in reversed(opening.replace('{"k":', "{")))
    return opening + "0" + closing


def deep_status_request(msg_id: int, depth: int, rng: random.Random) -> bytes:
    params = {"command": "codetune.status", "arguments": ["@"]}
    message = {"jsonrpc": "2.0", "id": msg_id, "method": "workspace/executeCommand"}
    text = json.dumps({**message, "params": params}).replace('"@"', nested(depth, rng))
    return encode_frame(text.encode())


def test_json_too_deep_to_decode_gets_a_parse_error_with_null_id(server: RawServer) -> None:
    rng = random.Random(153)
    server.initialized()
    for probe in range(20):
        server.send(deep_status_request(probe, rng.randint(1_000, 50_000), rng))
        reply = server.next_message()
        assert reply["id"] is None and reply["error"]["code"] == -32700
    server.send(status_request(99))
    assert "result" in server.response(99)


def test_deep_well_formed_requests_are_answered(server: RawServer) -> None:
    rng = random.Random(154)
    server.initialized()
    for probe in range(27):
        server.send(deep_status_request(probe, rng.randint(101, 900), rng))
        assert server.response(probe)["error"]["code"] == -32600
    server.send(status_request(99))
    assert "result" in server.response(99)


def test_a_code_action_echoing_deep_data_is_answered(server: RawServer, tmp_path) -> None:
    server.initialized(rootUri=tmp_path.as_uri())
    uri = (tmp_path / "a.py").as_uri()
    doc = {"uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}
    server.send(notification("textDocument/didOpen", {"textDocument": doc}))
    where = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 5}}
    for depth in (95, 318):
        data = json.loads(nested(depth, random.Random(depth)))
        diagnostic = {"range": where, "message": "m", "data": data}
        params = {
            "textDocument": {"uri": uri},
            "range": where,
            "context": {"diagnostics": [diagnostic]},
        }
        server.send(request(depth, "textDocument/codeAction", params))
        reply = server.response(depth)
        assert "result" in reply or reply["error"]["code"] in (-32600, -32603)


def test_a_reply_that_cannot_be_serialised_is_still_answered_with_an_error() -> None:
    srv = RawServer(FAILING_SERVER_CMD)
    try:
        srv.initialized()
        srv.send(request(2, "workspace/executeCommand", {"command": "test.circular"}))
        assert srv.response(2)["error"]["code"] == -32603
        srv.send(status_request(3))
        assert "result" in srv.response(3)
    finally:
        srv.kill()
