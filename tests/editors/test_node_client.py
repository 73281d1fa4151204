"""The Node LSP stack VS Code's client is built on (vscode-languageserver-protocol +
vscode-jsonrpc), driven by editors/node-client-test/client.js."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from tests.needs import missing

from .conftest import EDITORS, SERVER_COMMAND, Workspace, need
from .tiny_action import TITLE

CLIENT = EDITORS / "node-client-test"


def test_inline_completion_pull_diagnostics_resolve_and_cancellation(
    workspace: Workspace,
) -> None:
    node = need("node")
    if not (CLIENT / "node_modules" / "vscode-languageserver-protocol").is_dir():
        missing("run `npm ci` in editors/node-client-test (install-test-clients.sh does)")
    env = {**workspace.env, "CT_CMD": json.dumps(SERVER_COMMAND), "CT_FILE": str(workspace.source)}
    env["CT_ACTION"] = TITLE
    proc = subprocess.run(
        [node, str(CLIENT / "client.js")],
        env=env, capture_output=True, text=True, timeout=100, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report (exit {proc.returncode}); stderr:\n{proc.stderr[-4000:]}"
    report = json.loads(lines[-1])
    assert report["errors"] == [], report
    assert report["inlineProvider"] and report["diagnosticProvider"]
    # pull diagnostics: the forced finding, then "unchanged" for the same result id
    assert report["pull"] == {
        "kind": "full",
        "codes": ["CWE-78"],
        "lines": [0],
        "sources": ["codetune"],
    }
    assert report["pullAgain"] == "unchanged"
    assert report.get("pushed") is None  # a pull client is not pushed to
    # inline completion: one item whose acceptance reports feedback
    assert report["inlineItems"] == 1 and report["inlineCommand"] == "codetune.feedback"
    # codeAction/resolve fills in the edit of a lazily listed action
    assert report["lazy"] and report["resolvedEdits"] >= 1
    assert report["resolvedCommand"] == "codetune.feedback"
    # cancelling a long resolve: RequestCancelled, the generation stopped, still serving
    assert report["cancel"]["outcome"] == "rejected" and report["cancel"]["code"] == -32800
    assert report["afterCancel"]["version"] == 1
    assert report["exitCode"] == 0
    database = workspace.env["CODETUNE_HOME"] + "/codetune.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT finish_reason, success FROM executions WHERE template_name = ?",
            ("code_action.optimize",),
        ).fetchall()
    assert rows == [("cancelled", 0)]
