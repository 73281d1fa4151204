"""``workspace/executeCommand`` commands that are not tied to one AI feature."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from codetune_lsp import __version__
from codetune_lsp.dashboard import default_report_path
from codetune_lsp.documents import DocumentNotOpen, DocumentSnapshot
from codetune_lsp.server import CodetuneServer

STATUS = "codetune.status"


def snapshot_or_invalid(ls: CodetuneServer, uri: Any) -> DocumentSnapshot:
    """The open document ``uri``, or an InvalidParams error the client can show."""
    if not isinstance(uri, str):
        raise JsonRpcInvalidParams("expected a document URI string")
    try:
        return ls.documents.snapshot(uri)
    except DocumentNotOpen as exc:
        raise JsonRpcInvalidParams(str(exc)) from exc


def status(ls: CodetuneServer, *args: Any) -> dict[str, Any]:
    """Server status; with a document URI argument, the server's view of that document."""
    if args:
        snap = snapshot_or_invalid(ls, args[0])
        return {
            "uri": snap.uri,
            "version": snap.version,
            "languageId": snap.language_id,
            "lineCount": snap.line_count,
            "length": len(snap.text),
            "sha256": hashlib.sha256(snap.text.encode("utf-8")).hexdigest(),
        }
    return {
        "version": __version__,
        "positionEncoding": ls.documents.encoding,
        "openDocuments": len(ls.documents),
        "workspaceFolders": [str(path) for path in ls.roots.paths],
        "settingsProblems": [str(p) for p in ls.resolved.problems],
        "features": dataclasses.asdict(ls.settings.features),
        "crossFileIndex": ls.cross_file.status(),
        # Where `codetune-lsp report` writes by default, for editors to open.
        "report": {
            "path": str(default_report_path(ls.paths)),
            "command": ["codetune-lsp", "report"],
        },
        "pending": _pending(ls),
    }


def _pending(ls: CodetuneServer) -> dict[str, int]:
    """Bookkeeping of work in flight (all zero when idle: nothing is kept after it ends)."""
    protocol = ls.protocol
    requests = [key for key in protocol._request_futures if key != protocol.msg_id]
    return {
        "requests": len(requests),
        "progressTokens": len(ls.work_done_progress.tokens),
        "cancellable": len(protocol._nested),
        "actionsWithProgress": len(ls.code_actions._progress_tasks),
    }
