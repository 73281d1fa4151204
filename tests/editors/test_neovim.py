"""Neovim (0.7+) headless, through the project's Lua module in editors/neovim."""

from __future__ import annotations

import hashlib
import json

from .conftest import EDITORS, SERVER_COMMAND, Workspace, need, run_client
from .tiny_action import TITLE

SCRIPT = __file__.replace("test_neovim.py", "nvim_client.lua")


def test_neovim_completion_code_action_diagnostics_progress_messages(
    workspace: Workspace,
) -> None:
    nvim = need("nvim")
    out = workspace.root.parent / "nvim.json"
    env = {
        **workspace.env,
        "CT_FILE": str(workspace.source),
        "CT_CMD": json.dumps(SERVER_COMMAND),
        "CT_OUT": str(out),
        "XDG_STATE_HOME": str(workspace.root.parent / "state"),
    }
    argv = [
        nvim, "--headless", "-u", "NONE", "-i", "NONE",
        "-c", f"set rtp+={EDITORS / 'neovim'}", "-c", f"luafile {SCRIPT}",
    ]  # fmt: skip
    result = run_client(argv, env, out)
    assert result["errors"] == [], result
    assert result["root_dir"] == str(workspace.root)  # found by the .git marker
    # pushed diagnostics
    (diagnostic,) = result["diagnostics"]
    assert diagnostic["source"] == "codetune" and diagnostic["code"] == "CWE-78"
    assert diagnostic["lnum"] == 0
    # completion
    assert result["completion_items"] >= 1
    # code action: listed lazily, resolved, edit applied to the buffer, server in step
    assert TITLE in result["action_titles"] and result["action_lazy"]
    assert result["buffer_changed"]
    assert result["feedback"] and "id" in result["feedback"]
    expected = hashlib.sha256(result["buffer_text"].encode()).hexdigest()
    assert result["server_sha256"] == expected
    # $/progress and the settings problem from initializationOptions
    assert result["progress"] > 0
    (problem,) = [m for m in result["messages"] if "debounce_ms" in m["message"]]
    assert problem["type"] == 2  # Warning
