"""TCP and WebSocket transports: loopback by default; WebSocket needs Origin and token."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from codetune_lsp.framing import Frame, FrameParser

from .raw import initialize, notification, request


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "codetune_lsp", "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "listening on" in line:
            return proc, line.strip()
    proc.kill()
    raise AssertionError("server did not announce its address")


def test_tcp_serves_one_client_on_loopback() -> None:
    proc, line = start("--tcp", "0")  # port 0: pick a free one, host defaults to loopback
    try:
        host, port = re.search(r"\('([\d.]+)', (\d+)\)", line).groups()
        assert host == "127.0.0.1"
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(initialize() + request(2, "shutdown") + notification("exit"))
            parser, replies = FrameParser(), []
            while len(replies) < 2 and (chunk := sock.recv(65536)):
                replies += [json.loads(e.body) for e in parser.feed(chunk) if isinstance(e, Frame)]
        assert replies[0]["result"]["serverInfo"]["name"] == "codetune-lsp"
        assert proc.wait(10) == 0
    finally:
        proc.kill()


@pytest.fixture
def ws_server():
    env = {"CODETUNE__SERVER__WS_ALLOWED_ORIGINS": "['http://editor.local']"}
    proc, line = start("--ws", "127.0.0.1:0", env=env)
    url = re.search(r"(ws://\S+)", line).group(1)
    yield proc, url
    proc.kill()


def test_websocket_refuses_a_foreign_origin(ws_server) -> None:
    _, url = ws_server
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="http://evil.example", open_timeout=10)
    assert refused.value.response.status_code == 403


def test_websocket_refuses_a_missing_or_wrong_token(ws_server) -> None:
    _, url = ws_server
    bare = url.split("?")[0]
    for target in (bare, bare + "?token=wrong"):
        with pytest.raises(InvalidStatus) as refused:
            connect(target, open_timeout=10)
        assert refused.value.response.status_code == 401


def test_websocket_with_token_and_allowed_origin_speaks_lsp(ws_server) -> None:
    proc, url = ws_server
    with connect(url, origin="http://editor.local", open_timeout=10) as ws:
        ws.send(initialize().split(b"\r\n\r\n", 1)[1].decode())
        reply = json.loads(ws.recv(timeout=10))
        assert reply["result"]["capabilities"]["textDocumentSync"]["change"] == 2
        ws.send(request(2, "shutdown").split(b"\r\n\r\n", 1)[1].decode())
        assert json.loads(ws.recv(timeout=10))["id"] == 2
        ws.send(notification("exit").split(b"\r\n\r\n", 1)[1].decode())
    assert proc.wait(10) == 0


def test_a_malformed_address_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codetune_lsp", "serve", "--tcp", "nonsense:port"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "HOST:PORT" in result.stderr


def test_only_loopback_addresses_count_as_loopback() -> None:
    from codetune_lsp.transports import parse_address

    assert parse_address("9000") == parse_address("127.0.0.1:9000")
    assert parse_address("[::1]:9000").is_loopback
    assert parse_address("localhost:1").is_loopback
    assert not parse_address("0.0.0.0:9000").is_loopback
    assert not parse_address("192.0.2.7:9000").is_loopback
