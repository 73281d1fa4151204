"""A real SQLite store per test for the prompt library."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codetune_lsp.paths import Paths
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store import Store, open_store


def paths_in(root: Path) -> Paths:
    return Paths(root / "config.toml", "test", root / "data", "test")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(StoreSettings(), paths_in(tmp_path))
    yield opened
    opened.close()
