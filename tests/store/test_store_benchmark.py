"""The benchmark script runs end to end (tiny sizes; the real figures come from a full run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.store.conftest import REPO_ROOT, worker_env


@pytest.mark.timeout(120)
def test_bench_store_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "bench_store.py"),
            "--rows=400",
            "--unbatched-rows=80",
            "--requests=200",
            "--paced-requests=20",
            "--processes=2",
            f"--json={out}",
        ],
        capture_output=True,
        text=True,
        env=worker_env(),
        timeout=110,
    )
    assert result.returncode == 0, result.stderr
    assert "batched / unbatched" in result.stdout
    data = json.loads(out.read_text())
    assert data["throughput"]["multi_process"]["stored"] == 400
    assert data["throughput"]["batched"]["rows_per_transaction"] > 1
    assert data["latency"]["record_call"]["p50_us"] > 0
