"""Installing an embedded model: parts found through package metadata, verified, never half-done."""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from codetune_lsp.models import install as inst
from codetune_lsp.models.base import BackendError
from codetune_lsp.settings import ModelProfile

PART_SIZE = 64 * 1024


def _make_dist(site: Path, name: str, version: str, payload: bytes, index: int) -> None:
    """A data-only distribution as pip would install it: package dir, data file, dist-info."""
    package = name.replace("-", "_")
    data = site / package / "data" / f"part{index:02d}.bin"
    data.parent.mkdir(parents=True)
    data.write_bytes(payload)
    (site / package / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    info = site / f"{package}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text(
        f"{package}/__init__.py,,\n{package}/data/part{index:02d}.bin,,\n{info.name}/RECORD,,\n"
    )


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """Three installed part packages and the EmbeddedModel they assemble into."""
    site = tmp_path / "site"
    site.mkdir()
    payloads = [os.urandom(PART_SIZE) for _ in range(3)]
    names = tuple(f"codetune-test-part{i}" for i in range(1, 4))
    for i, (name, payload) in enumerate(zip(names, payloads, strict=True), start=1):
        _make_dist(site, name, "1.0", payload, i)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    whole = b"".join(payloads)
    model = inst.EmbeddedModel(
        key="test-model",
        filename="test-model.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        part_dists=names,
        part_version="1.0",
        hub_repo="nobody/test-model-GGUF",
        hub_revision="0" * 40,
        licence="test",
        description="a test model",
        extra="model",
    )
    return model, whole, site


def test_assembles_the_parts_in_order_and_verifies_them(parts, tmp_path):
    model, whole, _ = parts
    path = inst.install(model, tmp_path / "data")
    assert path.read_bytes() == whole
    assert inst.installed_path(model, tmp_path / "data") == path


def test_a_second_install_is_a_no_op(parts, tmp_path):
    model, _, _ = parts
    first = inst.install(model, tmp_path / "data")
    stamp = first.stat().st_mtime_ns
    assert inst.install(model, tmp_path / "data") == first
    assert first.stat().st_mtime_ns == stamp


def test_the_part_packages_code_is_never_imported(parts, tmp_path):
    model, _, _ = parts
    inst.install(model, tmp_path / "data")
    assert not any(name.startswith("codetune_test_part") for name in sys.modules)


def test_a_wrong_hash_removes_the_file_and_says_why(parts, tmp_path):
    model, _, _ = parts
    bad = replace(model, sha256="0" * 64)
    with pytest.raises(inst.InstallError, match=r"does not match.*removed"):
        inst.install(bad, tmp_path / "data")
    leftovers = list((tmp_path / "data" / "models").iterdir())
    assert leftovers == []


def test_a_missing_part_names_the_pip_command(parts, tmp_path, monkeypatch):
    model, _, _ = parts
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = replace(model, part_dists=(*model.part_dists, "codetune-test-part-absent"))
    with pytest.raises(inst.InstallError) as caught:
        inst.install(missing, tmp_path / "data")
    message = str(caught.value)
    assert "codetune-test-part-absent" in message
    assert "pip install 'codetune-lsp[model]'" in message
    assert not (tmp_path / "data" / "models" / model.filename).exists()


def test_an_interrupted_assembly_leaves_no_file_at_the_final_name(parts, tmp_path):
    model, _, _ = parts

    def interrupt(done: int, total: int) -> None:
        if done > PART_SIZE:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        inst.install(model, tmp_path / "data", interrupt)
    directory = tmp_path / "data" / "models"
    assert list(directory.iterdir()) == []
    assert inst.installed_path(model, tmp_path / "data") is None
    assert inst.install(model, tmp_path / "data").stat().st_size == model.size


def test_a_partial_file_left_by_a_killed_install_is_cleaned_up(parts, tmp_path):
    model, _, _ = parts
    directory = tmp_path / "data" / "models"
    directory.mkdir(parents=True)
    dead_pid = 2**22 + 17  # above pid_max on Linux: no such process
    stale = directory / f".{model.filename}.{dead_pid}.partial"
    stale.write_bytes(b"half")
    inst.install(model, tmp_path / "data")
    assert not stale.exists()


def test_a_file_changed_after_install_is_not_trusted(parts, tmp_path):
    model, whole, _ = parts
    path = inst.install(model, tmp_path / "data")
    with path.open("r+b") as fh:
        fh.write(b"X")
    os.utime(path, ns=(0, 0))
    assert inst.installed_path(model, tmp_path / "data") is None
    # Installing again finds the file wrong, rebuilds it from the parts and verifies it.
    assert inst.install(model, tmp_path / "data").read_bytes() == whole
    assert inst.installed_path(model, tmp_path / "data") is not None


def test_too_little_disk_space_is_refused_before_writing(parts, tmp_path, monkeypatch):
    model, _, _ = parts

    class Usage:
        free = 1024

    monkeypatch.setattr(inst.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(inst.InstallError, match="not enough disk space"):
        inst.install(model, tmp_path / "data")


def test_an_uninstalled_embedded_profile_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    profile = ModelProfile(
        family="qwen2.5-coder",
        id=inst.QWEN_05B.hub_repo,
        gguf_file=inst.QWEN_05B.filename,
        revision=inst.QWEN_05B.hub_revision,
    )
    with pytest.raises(BackendError) as caught:
        inst.locate_gguf("qwen", profile, tmp_path)
    assert "codetune-lsp models install qwen2.5-coder-0.5b" in str(caught.value)


def test_a_profile_may_name_a_gguf_path_directly(tmp_path):
    path = tmp_path / "mine.gguf"
    path.write_bytes(b"GGUF")
    profile = ModelProfile(family="qwen2.5-coder", id=str(path))
    assert inst.locate_gguf("mine", profile, tmp_path) == path
