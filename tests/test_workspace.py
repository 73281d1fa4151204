"""Only paths inside the workspace folders are ever touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from codetune_lsp.workspace import OutsideWorkspace, WorkspaceRoots


def test_paths_inside_a_root_resolve(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    roots = WorkspaceRoots([tmp_path.as_uri()])
    assert roots.resolve_inside((tmp_path / "pkg" / "a.py").as_uri()) == tmp_path / "pkg" / "a.py"
    assert roots.resolve_inside(tmp_path / "new_test.py") == tmp_path / "new_test.py"


@pytest.mark.parametrize("escape", ["../outside.py", "pkg/../../outside.py", "/etc/passwd"])
def test_paths_outside_every_root_are_refused(tmp_path: Path, escape: str) -> None:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    roots = WorkspaceRoots([root.as_uri()])
    with pytest.raises(OutsideWorkspace):
        roots.resolve_inside(root / escape)


def test_a_symlink_cannot_lead_outside(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("x")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(OutsideWorkspace):
        WorkspaceRoots([root.as_uri()]).resolve_inside(root / "link.txt")


def test_a_sibling_with_a_common_prefix_is_outside(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws-evil").mkdir()
    roots = WorkspaceRoots([(tmp_path / "ws").as_uri()])
    with pytest.raises(OutsideWorkspace):
        roots.resolve_inside(tmp_path / "ws-evil" / "x.py")


def test_roots_follow_initialize_and_folder_changes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    params = types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        root_uri=a.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=b.as_uri(), name="b")],
    )
    roots = WorkspaceRoots.from_initialize(params)  # folders win over rootUri
    assert roots.paths == [b]
    roots.add(a.as_uri())
    roots.remove(b.as_uri())
    assert roots.paths == [a]
    with pytest.raises(OutsideWorkspace):
        roots.resolve_inside(b / "x.py")
    assert (
        WorkspaceRoots.from_initialize(
            types.InitializeParams(capabilities=types.ClientCapabilities())
        ).paths
        == []
    )
