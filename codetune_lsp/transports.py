"""Run a server over stdio, TCP or WebSocket, with our own bounded framing.

Each runner returns the exit status the process should end with.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from codetune_lsp.framing import MAX_CONTENT_LENGTH, Frame, FrameParser, FramingError
from codetune_lsp.server import CodetuneServer

logger = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
# Frames parsed but not yet handled; the reader waits beyond this (back-pressure).
MAX_PENDING_FRAMES = 64
EOF_STATUS_WITHOUT_SHUTDOWN = 1
EXIT_STATUS_OUTPUT_BROKEN = 1


class LockedWriter:
    """Writes whole frames to a binary stream; safe to call from several threads.

    When the stream breaks (the editor closed our stdout), ``on_broken`` is called once and
    later writes are dropped: with nobody to answer, the server should stop.
    """

    def __init__(self, stream: IO[bytes], on_broken: Callable[[], None] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._on_broken = on_broken
        self.broken = False

    def write(self, data: bytes) -> None:
        with self._lock:
            if self.broken:
                return
            try:
                self._stream.write(data)
                self._stream.flush()
            except (OSError, ValueError) as exc:  # EPIPE, or a closed file object
                self.broken = True
                logger.error("the editor's end of the output stream is closed (%s); stopping", exc)
                if self._on_broken is not None:
                    self._on_broken()

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._stream.flush()


def _dispatch(server: CodetuneServer, event: Frame | FramingError) -> None:
    if isinstance(event, Frame):
        try:
            server.protocol.handle_body(event.body)
        except Exception:  # never let one message kill the loop
            logger.exception("unexpected failure while handling a message")
    else:
        logger.error("discarded %d bytes of bad input: %s", event.discarded, event.reason)


def _status_on_eof(server: CodetuneServer) -> int:
    return 0 if server.protocol.shutdown_received else EOF_STATUS_WITHOUT_SHUTDOWN


async def _finish(server: CodetuneServer, waiter: asyncio.Future[int]) -> int:
    code = await waiter
    await server.aclose()
    return code


def run_stdio(server: CodetuneServer, stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Serve one client over stdin/stdout until exit, EOF or the editor's death."""
    return asyncio.run(_stdio_main(server, stdin, stdout))


async def _stdio_main(server: CodetuneServer, stdin: IO[bytes], stdout: IO[bytes]) -> int:
    loop = asyncio.get_running_loop()
    waiter = server.attach_stop_waiter()

    def output_broken() -> None:
        loop.call_soon_threadsafe(server.request_stop, EXIT_STATUS_OUTPUT_BROKEN)

    server.protocol.set_writer(LockedWriter(stdout, output_broken), include_headers=True)
    slots = threading.BoundedSemaphore(MAX_PENDING_FRAMES)

    def handle(event: Frame | FramingError) -> None:
        try:
            _dispatch(server, event)
        finally:
            slots.release()

    def read_forever() -> None:
        parser = FrameParser()
        fd = stdin.fileno()
        while True:
            try:
                chunk = os.read(fd, READ_CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                loop.call_soon_threadsafe(lambda: server.request_stop(_status_on_eof(server)))
                return
            for event in parser.feed(chunk):
                slots.acquire()
                loop.call_soon_threadsafe(handle, event)

    threading.Thread(target=read_forever, name="lsp-stdin", daemon=True).start()
    return await _finish(server, waiter)


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_address(text: str, default_host: str = "127.0.0.1") -> Address:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` → Address (ValueError when malformed)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = default_host, text
    host = host.strip("[]") or default_host
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected PORT or HOST:PORT, got {text!r}")
    return Address(host, int(port))


def run_tcp(server: CodetuneServer, address: Address) -> int:
    """Accept one client on ``address`` and serve it until it is done."""
    return asyncio.run(_tcp_main(server, address))


async def _tcp_main(server: CodetuneServer, address: Address) -> int:
    waiter = server.attach_stop_waiter()
    busy = False

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal busy
        if busy:  # one editor per server process
            writer.close()
            return
        busy = True
        server.protocol.set_writer(writer, include_headers=True)  # type: ignore[arg-type]
        parser = FrameParser()
        try:
            while chunk := await reader.read(READ_CHUNK):
                for event in parser.feed(chunk):
                    _dispatch(server, event)
        except ConnectionError:
            pass
        server.request_stop(_status_on_eof(server))

    listener = await asyncio.start_server(connection, address.host, address.port)
    bound = ", ".join(str(sock.getsockname()[:2]) for sock in listener.sockets)
    logger.info("listening for one LSP client over TCP on %s", bound)
    announce(f"codetune-lsp: listening on tcp {bound}")
    async with listener:
        return await _finish(server, waiter)


class WebSocketGate:
    """Admission rules for the WebSocket transport: allowed Origin and a secret token."""

    def __init__(self, token: str, allowed_origins: Sequence[str]) -> None:
        self.token = token
        self.allowed_origins = set(allowed_origins)

    def refusal(self, path: str, headers: Any) -> tuple[HTTPStatus, str] | None:
        origin = headers.get("Origin")
        if origin is not None and origin not in self.allowed_origins:
            return HTTPStatus.FORBIDDEN, f"origin {origin} is not allowed\n"
        offered = parse_qs(urlsplit(path).query).get("token", [""])[0]
        auth = headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            offered = offered or auth[7:].strip()
        if not offered or not hmac.compare_digest(offered.encode(), self.token.encode()):
            return HTTPStatus.UNAUTHORIZED, "missing or wrong token\n"
        return None


def run_ws(server: CodetuneServer, address: Address, gate: WebSocketGate) -> int:
    """Serve one WebSocket client (each message is one JSON-RPC body)."""
    return asyncio.run(_ws_main(server, address, gate))


async def _ws_main(server: CodetuneServer, address: Address, gate: WebSocketGate) -> int:
    from pygls.io_ import WebSocketWriter
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    waiter = server.attach_stop_waiter()
    busy = False

    def process_request(connection: Any, request: Any) -> Any:
        refused = gate.refusal(request.path, request.headers)
        if refused is not None:
            status, reason = refused
            logger.warning("refused a WebSocket connection: %s", reason.strip())
            return connection.respond(status, reason)
        if busy:
            return connection.respond(HTTPStatus.CONFLICT, "another client is connected\n")
        return None

    async def connection(ws: Any) -> None:
        nonlocal busy
        busy = True
        server.protocol.set_writer(WebSocketWriter(ws), include_headers=False)
        try:
            async for message in ws:
                _dispatch(
                    server, Frame(message if isinstance(message, bytes) else message.encode())
                )
        except ConnectionClosed:
            pass
        server.request_stop(_status_on_eof(server))

    async with serve(
        connection,
        address.host,
        address.port,
        process_request=process_request,
        max_size=MAX_CONTENT_LENGTH,
    ) as listener:
        bound = ", ".join(str(sock.getsockname()[:2]) for sock in listener.sockets)
        port = listener.sockets[0].getsockname()[1]
        logger.info("listening for one LSP client over WebSocket on %s", bound)
        announce(f"codetune-lsp: listening on ws://{address.host}:{port}/?token={gate.token}")
        return await _finish(server, waiter)


def announce(line: str) -> None:
    """Tell the person who started the server where to connect (stderr, unbuffered)."""
    import sys

    print(line, file=sys.stderr, flush=True)
