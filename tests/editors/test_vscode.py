"""The VS Code extension: its settings mirror the server's, and it compiles."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import typing
import zipfile
from pathlib import Path

import pytest

from tests.needs import missing

from codetune_lsp import settings as S

from .conftest import EDITORS

EXTENSION = EDITORS / "vscode"
EXTENSION_ONLY = {"lsp.path", "lsp.args", "lsp.languages", "trace.server"}


def server_keys(cls: type = S.Settings, path: tuple[str, ...] = ()) -> set[str]:
    keys: set[str] = set()
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        key = (*path, field.name)
        if key[0] == "models" or S.is_privileged(key):
            continue
        if dataclasses.is_dataclass(hints[field.name]):
            keys |= server_keys(hints[field.name], key)
        else:
            keys.add(".".join(key))
    return keys


def test_settings_are_the_servers_non_privileged_keys_in_user_scope() -> None:
    package = json.loads((EXTENSION / "package.json").read_text())
    properties = package["contributes"]["configuration"]["properties"]
    keys = {key.removeprefix("codetune.") for key in properties}
    assert keys - EXTENSION_ONLY == server_keys()
    assert not any(S.is_privileged(tuple(key.split("."))) for key in keys)
    # settings a workspace could use to run something are machine-scoped and restricted
    assert all(properties[f"codetune.{k}"]["scope"] == "machine" for k in server_keys())
    trust = package["capabilities"]["untrustedWorkspaces"]
    assert trust["supported"] == "limited"
    assert {"codetune.lsp.path", "codetune.lsp.args"} <= set(trust["restrictedConfigurations"])
    commands = {c["command"] for c in package["contributes"]["commands"]}
    assert {
        "codetune.rateLastSuggestion",
        "codetune.deployPrompt",
        "codetune.rollbackPrompt",
        "codetune.openHistory",
    } <= commands
    assert not commands & {"codetune.status", "codetune.feedback", "codetune.runAction"}


def test_the_extension_compiles(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        missing("npm is not installed")
    if not (EXTENSION / "node_modules" / "typescript").is_dir():
        ci = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=EXTENSION, capture_output=True, text=True, timeout=100,
        )  # fmt: skip
        assert ci.returncode == 0, ci.stderr[-4000:]
    out = tmp_path / "out"
    compiled = subprocess.run(
        [npm, "run", "compile", "--", "--outDir", str(out)],
        cwd=EXTENSION, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stdout[-4000:] + compiled.stderr[-4000:]
    assert (out / "extension.js").is_file()


def test_the_extension_packages_as_a_vsix_with_icon_readme_settings_and_commands(
    vsix: Path,
) -> None:
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
        vsixmanifest = archive.read("extension.vsixmanifest").decode()
    assert {
        "extension/out/extension.js",
        "extension/images/icon.png",
        "extension/readme.md",
        "extension/node_modules/vscode-languageclient/package.json",
    } <= names
    assert not any(name.startswith("extension/src/") for name in names)  # compiled only
    assert manifest["icon"] == "images/icon.png" and "icon.png" in vsixmanifest
    properties = manifest["contributes"]["configuration"]["properties"]
    undocumented = [
        key for key, spec in properties.items()
        if not (spec.get("description") or spec.get("markdownDescription"))
    ]  # fmt: skip
    assert undocumented == []
    commands = {c["command"]: c["title"] for c in manifest["contributes"]["commands"]}
    assert set(commands) >= {
        "codetune.rateLastSuggestion",
        "codetune.deployPrompt",
        "codetune.rollbackPrompt",
        "codetune.openHistory",
        "codetune.openReport",
    }
    assert all(commands.values())
