"""``codetune-lsp models list / info / check``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from codetune_lsp.cli import main

pytestmark = pytest.mark.timeout(120)


def _run(tmp_path: Path, config: str, *args: str):
    cfg = tmp_path / "config.toml"
    cfg.write_text(config)
    return CliRunner().invoke(main, ["--config", str(cfg), "models", *args])


def test_list_shows_family_facts_and_configured_profiles(tmp_path: Path):
    result = _run(
        tmp_path, '[models.mine]\nbackend = "openai"\nurl = "http://u:pw@127.0.0.1:8000"\n', "list"
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "whiterabbitneo-33b-v1 " in out and "66.7" in out and "19.4" in out
    assert "codet5p-16b" in out and "CodeT5pEncoderDecoderModel" in out
    assert "mine" in out and "whiterabbitneo-7b" in out and "codet5p-220m-py" in out
    assert "pw" not in out  # the URL password is masked


def test_info_prints_profile_and_family_facts(tmp_path: Path):
    result = _run(tmp_path, "", "info", "whiterabbitneo-7b")
    assert result.exit_code == 0, result.output
    assert "Qwen2ForCausalLM" in result.output and "32768" in result.output
    assert "nf4" in result.output
    result = _run(tmp_path, "", "info", "codet5p-2b")
    assert "refused" not in result.output and "weights nf4" in result.output
    assert _run(tmp_path, "", "info", "nope").exit_code != 0


def test_check_loads_generates_and_reports(tmp_path: Path, tiny_llama: Path):
    result = _run(
        tmp_path, f'[models.tiny]\nid = "{tiny_llama}"\n', "check", "tiny", "--max-new-tokens", "8"
    )
    assert result.exit_code == 0, result.output
    out = result.output
    for key in ("device", "dtype", "quantization", "memory", "speed"):
        assert key in out
    assert "cpu" in out and "float32" in out and "8 tokens in" in out


def test_check_failure_is_one_message_with_profile_and_fix(tmp_path: Path):
    result = _run(tmp_path, "", "check", "whiterabbitneo-7b")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("codetune-lsp:")]
    assert len(lines) == 1
    assert "model profile 'whiterabbitneo-7b'" in lines[0]
    assert (
        "huggingface-cli download WhiteRabbitNeo/WhiteRabbitNeo-2.5-Qwen-2.5-Coder-7B" in lines[0]
    )
    assert "Traceback" not in result.output
