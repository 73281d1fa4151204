"""The LSP lifecycle: exit codes, shutdown semantics, EOF and the editor's death."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from .raw import RawServer, notification, request


@pytest.fixture
def server():
    srv = RawServer()
    yield srv
    srv.kill()


def test_shutdown_then_exit_exits_zero(server: RawServer) -> None:
    server.initialized()
    server.send(request(2, "shutdown"))
    assert server.response(2) == {"jsonrpc": "2.0", "id": 2, "result": None}
    server.send(notification("exit"))
    assert server.wait(5) == 0


def test_exit_without_shutdown_exits_one(server: RawServer) -> None:
    server.initialized()
    server.send(notification("exit"))
    assert server.wait(5) == 1


def test_requests_after_shutdown_are_invalid(server: RawServer) -> None:
    server.initialized()
    server.send(request(2, "shutdown") + request(3, "workspace/executeCommand", {"command": "x"}))
    replies = {m["id"]: m for m in (server.next_message(), server.next_message())}
    assert replies[2]["result"] is None
    assert replies[3]["error"]["code"] == -32600
    server.send(request(4, "workspace/executeCommand", {"command": "codetune.status"}))
    assert server.response(4)["error"]["code"] == -32600
    server.send(notification("exit"))
    assert server.wait(5) == 0


def test_pipelined_shutdown_and_exit_still_exit_zero(server: RawServer) -> None:
    server.initialized()
    server.send(request(2, "shutdown") + notification("exit"))
    assert server.wait(5) == 0


def test_stdin_eof_exits_promptly(server: RawServer) -> None:
    """EOF is seen at once: the server exits without waiting for a request or a timeout
    (a bound on seconds is left to benchmarks: a loaded machine can miss any budget)."""
    server.initialized()
    server.close_stdin()
    assert server.wait(5) == 1


def test_server_exits_within_five_seconds_of_the_editor_dying(server: RawServer) -> None:
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        server.initialized(process_id=editor.pid)
        time.sleep(0.5)
        assert server.proc.poll() is None
        editor.kill()
        editor.wait(5)
        started = time.monotonic()
        server.wait(6)
        assert time.monotonic() - started < 5.0
    finally:
        editor.kill()


def test_a_closed_output_pipe_stops_the_server_while_stdin_stays_open() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "codetune_lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        proc.stdout.close()  # the editor stopped reading; its end of our stdin stays open
        proc.stdin.write(request(1, "initialize", {"processId": None, "capabilities": {}}))
        proc.stdin.flush()
        assert proc.wait(30) == 1
        assert proc.stderr is not None
        log = proc.stderr.read().decode(errors="replace")
        assert log.count("output stream is closed") == 1 and "Traceback" not in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
