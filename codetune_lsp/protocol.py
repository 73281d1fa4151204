"""JSON-RPC handling hardened on top of pygls' LanguageServerProtocol.

pygls 2.1.1 drops requests whose params fail to deserialise, sends tracebacks to the
client, keeps answering nothing after ``shutdown``, and lets ``exit`` end the process with
status 0 either way. This layer fixes those: every request with an id gets exactly one
response, errors carry a short message and no traceback, and ``exit`` stops the server with
0 after ``shutdown`` and 1 without.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import json
import logging
import time
from collections.abc import Generator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from codetune_lsp.documents import DocumentNotOpen

if TYPE_CHECKING:
    from codetune_lsp.server import CodetuneServer

logger = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
SERVER_NOT_INITIALIZED = -32002
INTERNAL_ERROR = -32603
# No LSP message comes near this; anything deeper is refused before it reaches cattrs, so
# structuring it, and echoing it back in a reply, cannot exhaust the recursion limit.
MAX_NESTING = 100
_MAX_ERROR_DETAILS = 3
_LIFECYCLE_FREE = {types.INITIALIZE, types.EXIT}


def _summarise_structure_error(exc: BaseException) -> str:
    """A short, user-readable reason why params did not match the LSP type."""
    cause = exc.__cause__ or exc
    if isinstance(cause, cattrs.BaseValidationError):
        details = cattrs.transform_error(cause, path="$")
        shown = "; ".join(details[:_MAX_ERROR_DETAILS])
        more = len(details) - _MAX_ERROR_DETAILS
        return shown + (f"; and {more} more" if more > 0 else "")
    return type(cause).__name__


class CodetuneProtocol(LanguageServerProtocol):
    """The protocol the server speaks; owns message-level robustness only."""

    _server: CodetuneServer

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self.initialize_received = False
        # Set as soon as a shutdown request arrives, before its handler finishes, so
        # that nothing queued behind it is served and a prompt exit still returns 0.
        self.shutdown_received = False
        # Tasks to cancel with a request id that pygls cannot reach itself: a command runs
        # as a nested handler, so cancelling workspace/executeCommand would not stop it.
        self._nested: dict[Any, Any] = {}
        self.last_message_at = 0.0  # time.monotonic() when the last message arrived

    def track_cancellable(self, msg_id: Any, task: Any) -> None:
        """Cancel ``task`` when the client cancels request ``msg_id``."""
        self._nested[msg_id] = task
        task.add_done_callback(lambda _: self._nested.pop(msg_id, None))

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        answers_request = (
            isinstance(callback, functools.partial) and callback.func == self._send_handler_result
        )
        if not answers_request:
            # A notification, or a handler nested in a generator handler (a command, a
            # didChange): pygls files its future under a random id and never removes it, so
            # each one would stay in memory for good.
            future = self._request_futures.get(msg_id)
            if future is not None:
                future.add_done_callback(functools.partial(self._forget, msg_id))

    def _forget(self, msg_id: Any, future: Any) -> None:
        # Deferred: a future cancelled while pygls walks ``_request_futures`` (shutdown
        # cancels every pending one) runs this callback at once, inside that walk.
        try:
            asyncio.get_running_loop().call_soon(self._request_futures.pop, msg_id, None)
        except RuntimeError:  # no loop in this thread
            self._request_futures.pop(msg_id, None)
        if not future.cancelled() and future.exception() is not None:
            # Retrieved here: pygls drops a nested handler's error once its request was
            # cancelled, and asyncio would log it as "never retrieved".
            logger.debug("handler %s ended with %r", msg_id, future.exception())

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        nested = self._nested.pop(msg_id, None)
        if nested is not None:
            nested.cancel()
        super()._handle_cancel_notification(msg_id)

    # -- entry point for one message body --------------------------------------

    def handle_body(self, body: bytes | str) -> None:
        """Decode one message and dispatch it; malformed input gets a JSON-RPC error."""
        self.last_message_at = time.monotonic()
        if logger.isEnabledFor(logging.DEBUG):  # documents appear in logs at debug only
            logger.debug(
                "received: %.65536s",
                body if isinstance(body, str) else body.decode(errors="replace"),
            )
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            logger.warning("Discarding a message that is not JSON: %s", exc)
            self.send_error(None, PARSE_ERROR, "Parse error: the message is not valid JSON")
            return
        except RecursionError:
            logger.warning("Discarding a message nested too deeply to decode")
            self.send_error(None, PARSE_ERROR, "Parse error: the message is nested too deeply")
            return
        if _nested_deeper_than(data, MAX_NESTING):
            method = data.get("method") if isinstance(data, dict) else None
            msg_id = _id_or_none(data) if isinstance(data, dict) else None
            logger.warning("Refusing %s: nested deeper than %d", method or "a message", MAX_NESTING)
            if msg_id is not None and isinstance(method, str):
                reason = f"Invalid request: the message is nested deeper than {MAX_NESTING} levels"
                self.send_error(msg_id, INVALID_REQUEST, reason)
            elif not isinstance(data, dict) or "id" not in data:
                self.send_error(None, INVALID_REQUEST, "Invalid request: nested too deeply")
            return
        if not isinstance(data, dict) or data.get("jsonrpc") != self.VERSION:
            msg_id = data.get("id") if isinstance(data, dict) else None
            self.send_error(
                msg_id if _valid_id(msg_id) else None,
                INVALID_REQUEST,
                'Invalid request: expected a JSON object with "jsonrpc": "2.0"',
            )
            return
        method = data.get("method")
        if "method" in data and not isinstance(method, str):
            self.send_error(_id_or_none(data), INVALID_REQUEST, "Invalid request: bad method")
            return
        is_request = method is not None and "id" in data
        if is_request and not _valid_id(data["id"]):
            self.send_error(
                None, INVALID_REQUEST, "Invalid request: id must be a string or integer"
            )
            return
        if method is not None and not self._admit(data, method, is_request):
            return
        if is_request and method == types.SHUTDOWN:
            self.shutdown_received = True
        try:
            message = self.structure_message(data)
        except JsonRpcException as exc:
            reason = _summarise_structure_error(exc)
            if is_request:
                self.send_error(
                    data["id"], INVALID_PARAMS, f"Invalid params for {method}: {reason}"
                )
            else:
                logger.warning("Ignoring %s with invalid params: %s", method or "message", reason)
            return
        self.handle_message(message)

    def _admit(self, data: dict[str, Any], method: str, is_request: bool) -> bool:
        """Apply the lifecycle rules before a message reaches its handler."""
        if method in _LIFECYCLE_FREE:
            return True
        if not self.initialize_received:
            if is_request:
                self.send_error(
                    data["id"],
                    SERVER_NOT_INITIALIZED,
                    "Server not initialized: send initialize first",
                )
            return False
        if self.shutdown_received:
            if is_request:
                self.send_error(
                    data["id"], INVALID_REQUEST, "Invalid request: the server is shutting down"
                )
            return False
        return True

    def send_error(self, msg_id: Any, code: int, message: str) -> None:
        if msg_id is None:  # JSON-RPC wants an explicit null id when it is unknown
            error = {"code": code, "message": message}
            self._send_data({"jsonrpc": self.VERSION, "id": None, "error": error})
            return
        self._send_response(msg_id, error=types.ResponseError(code=code, message=message))

    def _send_handler_result(self, future: Future[Any], *, msg_id: Any) -> None:
        """Expected request errors (bad params, cancelled, modified) are answered quietly."""
        if not future.cancelled() and isinstance(future.exception(), DocumentNotOpen):
            self._request_futures.pop(msg_id, None)
            self.send_error(msg_id, INVALID_PARAMS, str(future.exception()))
            return
        if not future.cancelled() and isinstance(future.exception(), JsonRpcException):
            self._request_futures.pop(msg_id, None)
            exc = future.exception()
            assert isinstance(exc, JsonRpcException)
            logger.debug("request %s answered with error %s: %s", msg_id, exc.code, exc.message)
            self._send_response(msg_id, error=exc.to_response_error())
            return
        super()._send_handler_result(future, msg_id=msg_id)

    # -- every reply is sent, even one that cannot be serialised -----------------

    def _send_data(self, data: Any) -> None:
        if not data:
            return
        if self.writer is None:
            logger.error("cannot send: no transport")
            return
        try:
            text = json.dumps(data, default=self._serialize_message)
        except (RecursionError, ValueError, TypeError) as exc:
            text = self._unserialisable(data, exc)
            if text is None:
                return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("sent: %.65536s", text)
        payload = text.encode(self.CHARSET)
        if self._include_headers:
            payload = b"Content-Length: %d\r\n\r\n" % len(payload) + payload
        result = self.writer.write(payload)
        if inspect.isawaitable(result):
            self._server.spawn(result)

    def _unserialisable(self, data: Any, exc: BaseException) -> str | None:
        """The error reply to send instead of a response that failed to serialise."""
        msg_id = getattr(data, "id", None)
        if hasattr(data, "method") or not _valid_id(msg_id):
            logger.error("dropping an outgoing message that cannot be serialised: %r", exc)
            return None
        logger.error("request %s: the reply cannot be serialised: %r", msg_id, exc)
        message = "Internal error: the reply could not be encoded"
        error = {"code": INTERNAL_ERROR, "message": message}
        return json.dumps({"jsonrpc": self.VERSION, "id": msg_id, "error": error})

    # -- responses never carry tracebacks --------------------------------------

    def _send_response(
        self,
        msg_id: Any,
        result: Any | None = None,
        error: types.ResponseError | None = None,
    ) -> None:
        if error is not None and isinstance(error.data, dict) and "traceback" in error.data:
            lines = error.message.strip().splitlines()
            summary = lines[-1] if lines else "unexpected failure"
            error = types.ResponseError(
                code=error.code,
                message=f"Internal error: {summary} (details are in the codetune-lsp log)",
            )
        super()._send_response(msg_id, result, error)

    # -- lifecycle ------------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(
        self, params: types.InitializeParams
    ) -> Generator[Any, Any, types.InitializeResult]:
        self.initialize_received = True
        result = yield from super().lsp_initialize(params)
        encoding = self.workspace.position_encoding
        self._server.documents.encoding = (
            encoding.value if isinstance(encoding, enum.Enum) else str(encoding)
        )
        return result

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> None:
        code = 0 if self.shutdown_received else 1
        if code:
            logger.warning("exit received without shutdown; exiting with status 1")
        self._server.request_stop(code)

    # -- documents live in the server's DocumentStore, never read from disk ----

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, None]:
        doc = params.text_document
        self._server.documents.open(doc.uri, doc.language_id, doc.version, doc.text)
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        doc = params.text_document
        self._server.documents.change(doc.uri, doc.version, params.content_changes)
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, None]:
        self._server.documents.close(params.text_document.uri)
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _user_handler(self, method: str, params: Any) -> Generator[Any, Any, None]:
        handler = self.fm.features.get(method)
        if handler is not None:
            yield handler, (params,), None


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (checked without recursion)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _id_or_none(data: dict[str, Any]) -> Any:
    value = data.get("id")
    return value if _valid_id(value) else None
