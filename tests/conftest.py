"""Test-wide isolation: no test reads or writes the real user's config, data or HF cache."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="codetune-tests-"))


def pytest_configure(config: pytest.Config) -> None:
    # Set in os.environ (not monkeypatch) so server subprocesses inherit it too.
    os.environ["CODETUNE_HOME"] = str(_SESSION_ROOT / "data")
    os.environ["CODETUNE_CONFIG"] = str(_SESSION_ROOT / "config" / "config.toml")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HOME"] = str(_SESSION_ROOT / "hf")
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    for name in list(os.environ):
        if name.startswith("CODETUNE__"):
            del os.environ[name]


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)  # leave the machine as we found it


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data dir and config path for one test."""
    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CODETUNE_CONFIG", str(tmp_path / "config.toml"))
    return tmp_path
