"""Every editor folder has a README and a config that parses and starts codetune-lsp."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from .conftest import EDITORS

FOLDERS = ["vscode", "neovim", "helix", "emacs", "vim", "sublime", "zed"]


def jsonc(text: str) -> dict:
    """JSON with // line comments (Sublime and Zed settings)."""
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.MULTILINE))


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_editor_has_a_readme(folder: str) -> None:
    readme = EDITORS / folder / "README.md"
    assert readme.is_file() and "Check it works" in readme.read_text()


def test_helix_languages_toml() -> None:
    config = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text())
    assert config["language-server"]["codetune"]["command"] == "codetune-lsp"
    (python,) = [lang for lang in config["language"] if lang["name"] == "python"]
    assert "codetune" in python["language-servers"]


def test_sublime_settings() -> None:
    client = jsonc((EDITORS / "sublime" / "LSP.sublime-settings").read_text())["clients"]
    assert client["codetune"]["command"] == ["codetune-lsp"]
    assert "codetune" in client["codetune"]["settings"]


def test_zed_settings_and_extension() -> None:
    settings = jsonc((EDITORS / "zed" / "settings.json").read_text())
    assert settings["lsp"]["codetune"]["binary"]["path"] == "codetune-lsp"
    assert "codetune" in settings["languages"]["Python"]["language_servers"]
    extension = tomllib.loads((EDITORS / "zed" / "extension.toml").read_text())
    assert "codetune" in extension["language_servers"]
    assert "codetune-lsp" in (EDITORS / "zed" / "src" / "lib.rs").read_text()


def test_emacs_vim_neovim_default_to_the_codetune_lsp_command() -> None:
    assert '\'("codetune-lsp")' in (EDITORS / "emacs" / "codetune-eglot.el").read_text()
    assert "'codetune-lsp'" in (EDITORS / "vim" / "codetune.vim").read_text()
    assert (
        "cmd = { 'codetune-lsp' }"
        in (EDITORS / "neovim" / "lua" / "codetune" / "init.lua").read_text()
    )
