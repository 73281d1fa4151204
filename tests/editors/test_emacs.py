"""Emacs 28 + eglot 1.9 in batch mode, through editors/emacs/codetune-eglot.el."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.needs import missing

from .conftest import ROOT, SERVER_COMMAND, Workspace, need, run_client
from .tiny_action import TITLE

SCRIPT = Path(__file__).with_name("eglot_client.el")
ELPA = Path("/usr/share/emacs/site-lisp/elpa")


def test_eglot_flymake_diagnostics_completion_and_command_code_action(
    workspace: Workspace,
) -> None:
    emacs = need("emacs")
    if not list(ELPA.glob("eglot-*")):
        missing("eglot is not installed (apt-get install elpa-eglot)")
    out = workspace.root.parent / "emacs.json"
    env = {
        **workspace.env,
        "CT_ROOT": str(ROOT),
        "CT_CMD": json.dumps(SERVER_COMMAND),
        "CT_FILE": str(workspace.source),
        "CT_OUT": str(out),
        "CT_ACTION": TITLE,
    }
    result = run_client([emacs, "-Q", "--batch", "-l", str(SCRIPT)], env, out, timeout=100)
    assert result["errors"] == [], result
    assert result["mode"] == "python-mode" and result["server"] == "codetune-lsp"
    # pushed diagnostics reach flymake
    assert result["flymake"]
    (diagnostic,) = result["diagnostics"]
    assert diagnostic["line"] == 1 and diagnostic["type"] == "eglot-warning"
    assert diagnostic["text"].startswith("codetune [CWE-78]")
    # completion through eglot's capf
    assert result["completions"] >= 1
    # no codeAction/resolve in eglot 1.9: a plain Command, run by the server, edit applied
    assert TITLE in result["titles"] and result["command"] == "codetune.runAction"
    assert result["result"]["applied"] is True and result["changed"]
    assert result["server_sha256"] == result["buffer_sha256"]
