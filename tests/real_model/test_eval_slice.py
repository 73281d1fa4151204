"""A 10-problem HumanEval slice through the product's own action path with the real model.

The full run (164 problems) is a benchmark, not a test: its figures are in docs/quality.md.
Here the harness, the template and the model must work together; the score is printed and
only bounded below by what a working path gets on the easiest problems.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import qwen_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
CLI = [sys.executable, "-m", "codetune_lsp"]
LIMIT = ["--limit", "10", "--json"]


def test_a_humaneval_slice_in_chat_mode_passes_through_the_product(
    qwen_gguf: Path, tmp_path: Path
) -> None:
    config = qwen_config(tmp_path, qwen_gguf)
    env = {**os.environ, "CODETUNE_CONFIG": str(config), "CODETUNE_HOME": str(tmp_path / "data")}
    started = time.perf_counter()
    result = subprocess.run(
        [*CLI, "eval", "run", "humaneval", "--mode", "chat", "--model", "qwen", *LIMIT],
        env=env,
        capture_output=True,
        text=True,
        timeout=850,
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout[result.stdout.index("{") :])
    summary = run["summary"]
    wall = time.perf_counter() - started
    print(f"HumanEval/0-9 chat: pass@1 {summary['pass@1']:.2f} in {wall:.0f}s")
    assert run["status"] == "finished" and summary["n_items"] == 10
    assert summary["errors"] == 0
    # The full run passes 85/164; the first ten are among the easiest (8/10 by hand).
    assert summary["passed"] >= 5
