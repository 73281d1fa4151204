"""Vim 9 + ALE 3.3 in silent Ex mode, through editors/vim/codetune.vim."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.needs import missing

from .conftest import EDITORS, Workspace, need, run_client
from .tiny_action import TITLE

SCRIPT = Path(__file__).with_name("ale_client.vim")
ALE_DIRS = [Path("/usr/share/vim-ale"), Path("/usr/share/vim/vimfiles/pack/ale/start/ale")]


def test_ale_diagnostics_completion_and_code_action(workspace: Workspace) -> None:
    vim = need("vim")
    ale = next((d for d in ALE_DIRS if (d / "autoload" / "ale.vim").exists()), None)
    if ale is None:
        missing("ALE is not installed (apt-get install vim-ale)")
    out = workspace.root.parent / "vim.json"
    env = {
        **workspace.env,
        "CT_ALE": str(ale),
        "CT_CONFIG": str(EDITORS / "vim" / "codetune.vim"),
        "CT_SERVER": str(workspace.server),
        "CT_FILE": str(workspace.source),
        "CT_OUT": str(out),
        "CT_ACTION": TITLE,
    }
    argv = [vim, "-Nu", "NONE", "-i", "NONE", "-es", "-S", str(SCRIPT)]
    result = run_client(argv, env, out, timeout=100)
    assert result["errors"] == [], result
    assert result["ale_3_3"] == 1 and result["linters"] == ["codetune"]
    # diagnostics pushed by the server, in ALE's list and the window's location list
    (item,) = result["loclist"]
    assert item["lnum"] == 1 and item["code"] == "CWE-78" and item["type"] == "W"
    assert item["linter"] == "codetune" and result["vim_loclist"] == 1
    # completion through ALE's LSP completion
    assert result["completions"] >= 1
    # code action: ALE's menu lists the server's Commands, the edit lands in the buffer
    assert f") {TITLE}" in result["menu"] and result["changed"] == 1
