"""Dependencies that a tier of tests needs: skipped on a developer's partial install, a
failure in CI (where scripts/setup installs everything, so a missing one is a broken setup)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def need(module: str, why: str) -> ModuleType:
    """Import ``module``; without it, fail under CI and skip elsewhere, saying ``why``."""
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a native library that cannot load
        message = f"{module} is needed ({why}) but cannot be imported: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"CI installs every test dependency: {message}")
        pytest.skip(message)


def missing(message: str) -> None:
    """Something a test needs is absent: fail under CI (setup installs it), else skip."""
    if os.environ.get("CI"):
        pytest.fail(f"CI installs every test dependency: {message}")
    pytest.skip(message)
