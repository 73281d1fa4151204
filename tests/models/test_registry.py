"""Backends by name: built-ins, entry-point plugins, one shared backend per profile."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from codetune_lsp.models import BackendError, BackendManager, available_backends, create_backend
from codetune_lsp.models.local import LocalBackend
from codetune_lsp.models.openai import OpenAIBackend
from codetune_lsp.models.tgi import TGIBackend
from codetune_lsp.settings import ModelProfile

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed-looking distribution that registers backend 'echo' (and tries 'local')."""
    (tmp_path / "echo_backend_plugin.py").write_text(
        textwrap.dedent(
            """
            class EchoBackend:
                kind = "echo"

                def __init__(self, name, profile, *, progress=None):
                    self.name, self.profile = name, profile
            """
        )
    )
    dist = tmp_path / "echo_backend_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: echo-backend-plugin\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        "[codetune_lsp.backends]\n"
        "echo = echo_backend_plugin:EchoBackend\n"
        "local = echo_backend_plugin:EchoBackend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "echo"


def test_builtins_are_available_by_kind():
    kinds = available_backends()
    assert kinds["local"].endswith(":LocalBackend")
    p = ModelProfile(backend="openai", url="http://127.0.0.1:1")
    assert isinstance(create_backend("o", p), OpenAIBackend)
    assert isinstance(create_backend("t", ModelProfile(backend="tgi", url="http://x")), TGIBackend)
    assert isinstance(create_backend("l", ModelProfile(id="/nowhere")), LocalBackend)


def test_plugin_from_entry_points_is_created_and_cannot_shadow_a_builtin(plugin: str):
    kinds = available_backends()
    assert kinds["echo"] == "echo_backend_plugin:EchoBackend"
    assert kinds["local"] == "codetune_lsp.models.local:LocalBackend"
    backend = create_backend("mine", ModelProfile(backend="echo"))
    assert type(backend).__name__ == "EchoBackend" and backend.name == "mine"


def test_unknown_backend_names_the_profile_and_the_choices():
    with pytest.raises(BackendError) as info:
        create_backend("p", ModelProfile(backend="nope"))
    assert info.value.profile == "p"
    assert "local, openai, tgi" in info.value.fix


async def test_manager_shares_one_backend_per_profile_and_replaces_changed_ones():
    profiles = {"a": ModelProfile(backend="openai", url="http://127.0.0.1:1")}
    manager = BackendManager(profiles)
    first = manager.get("a")
    assert manager.get("a") is first
    await manager.update({"a": ModelProfile(backend="openai", url="http://127.0.0.1:2")})
    assert manager.get("a") is not first
    with pytest.raises(BackendError) as info:
        manager.get("missing")
    assert "[models.missing]" in info.value.fix
    await manager.aclose()


def test_importing_the_models_package_does_not_import_torch():
    code = (
        "import sys, codetune_lsp.models, codetune_lsp.models.local, codetune_lsp.models.openai;"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
