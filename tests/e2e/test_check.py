"""`codetune-lsp check`: exit codes, and text, JSON and SARIF 2.1.0 output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from .forced_template import FORCED

SARIF_SCHEMA = Path(__file__).parents[1] / "data" / "sarif" / "sarif-schema-2.1.0.json"
SOURCE = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"


@pytest.fixture
def workspace(tmp_path: Path, tiny_llama_path: Path) -> Path:
    config_dir = tmp_path / "config"
    (config_dir / "prompts").mkdir(parents=True)
    (config_dir / "prompts" / "diagnostics.forced.toml").write_text(FORCED)
    (config_dir / "config.toml").write_text(
        f'[models.tiny]\nfamily = "whiterabbitneo"\nid = "{tiny_llama_path}"\n\n'
        '[features.diagnostics]\nmodel = "tiny"\n'
    )
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.py", "b.py"):
        (src / name).write_text(SOURCE)
    return tmp_path


def check(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CODETUNE_CONFIG": str(workspace / "config" / "config.toml"),
        "CODETUNE_HOME": str(workspace / "data"),
    }
    return subprocess.run(
        [sys.executable, "-m", "codetune_lsp", "check", *args],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_findings_exit_one_and_print_like_a_linter(workspace: Path) -> None:
    result = check(
        workspace, "src", "--template", "diagnostics.forced", "--rules", "none", "--jobs", "2"
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ("a.py", "b.py"), strict=True):
        assert re.fullmatch(rf"src/{name}:1:1: warning CWE-78 [a-z]+", line), line


def test_below_the_threshold_exits_zero(workspace: Path) -> None:
    result = check(
        workspace,
        "src",
        "--template",
        "diagnostics.forced",
        "--rules",
        "none",
        "--min-severity",
        "error",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_json_output(workspace: Path) -> None:
    result = check(
        workspace,
        "src/a.py",
        "--template",
        "diagnostics.forced",
        "--rules",
        "none",
        "--format",
        "json",
    )
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    (finding,) = payload["findings"]
    assert finding["path"] == "src/a.py" and finding["line"] == 1 and finding["rule"] == "CWE-78"
    assert finding["execution_id"] and payload["errors"] == []


def test_sarif_output_is_valid_sarif_2_1_0(workspace: Path) -> None:
    out = workspace / "report.sarif"
    result = check(
        workspace,
        "src",
        "--template",
        "diagnostics.forced",
        "--rules",
        "none",
        "--format",
        "sarif",
        "-o",
        str(out),
    )
    assert result.returncode == 1
    log = json.loads(out.read_text())
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "codetune-lsp"
    assert [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    ] == ["src/a.py", "src/b.py"]
    assert run["tool"]["driver"]["rules"][0]["helpUri"].endswith("/78.html")


def test_sarif_schema_rejects_a_broken_log() -> None:
    schema = json.loads(SARIF_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert not validator.is_valid({"version": "2.1.0", "runs": [{"results": []}]})  # no tool


def unloadable_model_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a check whose diagnostics model cannot load."""
    (tmp_path / "config.toml").write_text(
        f'[models.gone]\nid = "{tmp_path / "no-model"}"\n\n[features.diagnostics]\nmodel = "gone"\n'
    )
    return {
        **os.environ,
        "CODETUNE_CONFIG": str(tmp_path / "config.toml"),
        "CODETUNE_HOME": str(tmp_path / "d"),
    }


def test_a_missing_model_exits_two_and_says_how_to_get_it(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SOURCE)
    env = unloadable_model_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "codetune_lsp", "check", "a.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "model profile 'gone'" in result.stderr


EXAMPLES = Path(__file__).parents[2] / "examples"


def test_rules_alone_find_the_weaknesses_without_loading_a_model(tmp_path: Path) -> None:
    env = unloadable_model_env(tmp_path)  # a check that touched the model would exit 2
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "codetune_lsp",
            "check",
            "--template",
            "none",
            "--format",
            "json",
            "unsafe_app.py",
            "safe_app.py",
        ],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    found = {(f["path"], f["rule"], f["line"]) for f in json.loads(result.stdout)["findings"]}
    assert found == {
        ("unsafe_app.py", "CWE-89", 10),
        ("unsafe_app.py", "CWE-22", 15),
        ("unsafe_app.py", "CWE-78", 21),
    }


def test_an_unknown_rule_set_exits_two_and_names_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SOURCE)
    result = subprocess.run(
        [sys.executable, "-m", "codetune_lsp", "check", "--rules", "java-security", "a.py"],
        cwd=tmp_path,
        env={**os.environ, "CODETUNE_HOME": str(tmp_path / "d")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown rule set java-security" in result.stderr
    assert "python-security" in result.stderr


def test_usage_errors_exit_two(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codetune_lsp", "check", "--format", "xml", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
