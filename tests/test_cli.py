"""The command line: help, version, config show/path, and serve's argument errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from codetune_lsp import __version__
from codetune_lsp.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_version_and_help() -> None:
    code, out = run("--version")
    assert code == 0 and __version__ in out
    code, out = run("--help")
    assert code == 0
    for command in ("serve", "config"):
        assert command in out


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codetune_lsp", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and __version__ in result.stdout


def test_config_path_reports_env_overrides(isolated_home: Path) -> None:
    code, out = run("config", "path")
    assert code == 0
    assert f"{isolated_home / 'config.toml'}  ($CODETUNE_CONFIG; not created yet)" in out
    assert str(isolated_home / "data" / "codetune.db") in out


def test_config_show_masks_secrets_and_names_sources(isolated_home: Path) -> None:
    (isolated_home / "config.toml").write_text(
        '[store]\nurl = "postgresql+psycopg://team:hunter2@db.internal/codetune"\n'
        "[features.completion]\ndebounce_ms = 90\n"
    )
    code, out = run("--set", "features.completion.max_new_tokens=32", "config", "show", "--json")
    assert code == 0
    shown = json.loads(out)
    settings = shown["settings"]
    assert "hunter2" not in out
    assert (
        settings["store.url"]["value"]
        == "postgresql+psycopg://team:[REDACTED]@db.internal/codetune"
    )
    assert settings["features.completion.debounce_ms"] == {
        "value": 90,
        "source": f"config file {isolated_home / 'config.toml'}",
    }
    assert settings["features.completion.max_new_tokens"]["source"] == "--set"
    assert settings["features.completion.timeout_ms"]["source"] == "default"
    assert shown["problems"] == []


def test_config_show_lists_problems(isolated_home: Path) -> None:
    (isolated_home / "config.toml").write_text("[features.completion]\ndebounce_ms = 'soon'\n")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 0
    assert "features.completion.debounce_ms" in result.output
    assert "whole number" in result.output


def test_serve_rejects_two_transports() -> None:
    result = CliRunner().invoke(main, ["serve", "--tcp", "1", "--ws", "2"])
    assert result.exit_code == 2 and "choose one transport" in result.output
