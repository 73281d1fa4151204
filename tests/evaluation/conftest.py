"""Fixtures for the evaluation tests: a real SQLite store in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codetune_lsp.paths import Paths
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store import Store, open_store


def _paths(root: Path) -> Paths:
    from tests.store.conftest import make_paths

    return make_paths(root)


@pytest.fixture
def eval_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'eval.db'}"), _paths(tmp_path))
    yield store
    store.close()
