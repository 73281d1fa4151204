"""Real editor clients against the real server, with a tiny model built at test time.

Each test starts one editor (Neovim, Emacs + eglot, Vim + ALE, the Node LSP stack), which
starts ``python -m codetune_lsp`` from this worktree as its language server. The forced
diagnostics template makes one finding (CWE-78 on line 1) certain even from a random model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.needs import missing
from tests.needs import need as need_module

from tests.e2e.forced_template import FORCED
from tests.e2e.model_server import write_config
from tests.editors.tiny_action import TINY_EDIT

ROOT = Path(__file__).resolve().parents[2]
EDITORS = ROOT / "editors"
SERVER_COMMAND = [sys.executable, "-m", "codetune_lsp"]
SOURCE = (
    "import subprocess\n"
    "\n"
    "\n"
    "def run(cmd):\n"
    "    result = subprocess.call(cmd, shell=True)\n"
    "    return result\n"
)
FORCED_DIAGNOSTICS = 'templates = ["diagnostics.forced"]\nrules = []\n'


@dataclass
class Workspace:
    root: Path
    source: Path
    env: dict[str, str]
    server: Path  # an executable wrapper for editors that want one program name


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        missing(f"{binary} is not installed (editors/install-test-clients.sh installs it)")
    return path


@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_module("torch", "the local backend, extra 'local'")
    from tests.models.tiny_models import build_llama

    return build_llama(tmp_path_factory.mktemp("editors-llama"))


@pytest.fixture
def workspace(tmp_path: Path, tiny_llama_path: Path) -> Workspace:
    """A project folder, a config using the tiny model, and the env the editor runs with."""
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)  # a root marker, as in a real checkout
    source = root / "app.py"
    source.write_text(SOURCE)
    config_dir = tmp_path / "config"
    (config_dir / "prompts").mkdir(parents=True)
    (config_dir / "prompts" / "diagnostics.forced.toml").write_text(FORCED)
    (config_dir / "prompts" / "code_action.tiny_edit.toml").write_text(TINY_EDIT)
    # The extra lines land in the [features.diagnostics] table that write_config ends with.
    config = write_config(config_dir, tiny_llama_path, FORCED_DIAGNOSTICS)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CODETUNE_CONFIG": str(config),
        "CODETUNE_HOME": str(tmp_path / "data"),
        "HOME": str(tmp_path / "home"),  # no user init files of the editors
    }
    (tmp_path / "home").mkdir()
    server = tmp_path / "codetune-lsp"
    server.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m codetune_lsp "$@"\n')
    server.chmod(0o755)
    return Workspace(root=root, source=source, env=env, server=server)


def run_client(argv: list[str], env: dict[str, str], out: Path, timeout: float = 90) -> dict:
    """Run an editor to completion and read the JSON its script wrote to ``out``."""
    try:
        proc = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        partial = out.read_text() if out.exists() else "(nothing)"
        raise AssertionError(
            f"{argv[0]} ran past {timeout}s; results so far: {partial}\n"
            f"stderr: {(exc.stderr or b'')[-4000:]!r}"
        ) from None
    if not out.exists():
        raise AssertionError(
            f"{argv[0]} wrote no results (exit {proc.returncode})\n"
            f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return json.loads(out.read_text())


def required(what: str, hint: str) -> NoReturn:
    """Skip for a developer without ``what``; fail under CI, whose setup installs it."""
    message = f"{what} is not installed ({hint})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def vsix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension compiled and packaged by @vscode/vsce (a devDependency, no publishing)."""
    npm = shutil.which("npm")
    if npm is None:
        required("npm", "editors/install-test-clients.sh installs it")
    extension = EDITORS / "vscode"
    if not (extension / "node_modules" / "@vscode" / "vsce").is_dir():
        ci = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=extension, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert ci.returncode == 0, ci.stderr[-4000:]
    target = tmp_path_factory.mktemp("vsix") / "codetune.vsix"
    packaged = subprocess.run(
        [npm, "run", "package", "--", "--out", str(target)],
        cwd=extension, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert packaged.returncode == 0, packaged.stdout[-4000:] + packaged.stderr[-4000:]
    return target
