"""Logging: a rotating file in the data dir, redacted, quiet about document text."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from codetune_lsp.redaction import redact

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 3
# pygls logs whole messages (documents included) at INFO; only let that through at DEBUG.
CHATTY_LOGGERS = ("pygls", "websockets", "asyncio", "aiohttp")


class RedactingFilter(logging.Filter):
    """Render the message once and strip anything that looks like a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class AnsweredElsewhereFilter(logging.Filter):
    """Drop pygls' traceback for params our protocol layer already answered with -32602."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unable to deserialize message")


def configure_logging(log_file: Path | None, level: str, stderr: bool = True) -> Path | None:
    """Send logs to ``log_file`` (rotating) and to stderr; return the file really used.

    stdout is never used: over stdio it carries the protocol.
    """
    numeric = getattr(logging, level.upper(), logging.INFO)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(numeric)
    formatter = logging.Formatter(LOG_FORMAT)
    redacting = RedactingFilter()
    used: Path | None = None
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
            )
            file_handler.setFormatter(formatter)
            file_handler.addFilter(redacting)
            root.addHandler(file_handler)
            used = log_file
        except OSError as exc:
            print(f"codetune-lsp: cannot write log file {log_file}: {exc}", file=sys.stderr)
    if stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(formatter)
        stream.addFilter(redacting)
        stream.setLevel(max(numeric, logging.WARNING))
        root.addHandler(stream)
    chatty_level = logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty_level)
    json_rpc_logger = logging.getLogger("pygls.protocol.json_rpc")
    for existing in list(json_rpc_logger.filters):
        if isinstance(existing, AnsweredElsewhereFilter):
            json_rpc_logger.removeFilter(existing)
    if numeric > logging.DEBUG:
        json_rpc_logger.addFilter(AnsweredElsewhereFilter())
    return used
