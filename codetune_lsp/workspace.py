"""Workspace roots: the only places on disk the server may read from or write to.

Features that touch files (workspace prompt templates, a generated test file) resolve
paths through ``WorkspaceRoots.resolve_inside``, which refuses anything outside the roots,
symbolic-link escapes included.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path


class OutsideWorkspace(PermissionError):
    """A path that is not inside any workspace root."""


class WorkspaceRoots:
    """The folders the client opened, kept current through didChangeWorkspaceFolders."""

    def __init__(self, uris: Iterable[str] = ()) -> None:
        self._roots: dict[str, Path] = {}
        for uri in uris:
            self.add(uri)

    def add(self, uri: str) -> None:
        path = to_fs_path(uri)
        if path:
            self._roots[uri] = Path(path).resolve()

    def remove(self, uri: str) -> None:
        self._roots.pop(uri, None)

    @property
    def paths(self) -> list[Path]:
        return list(self._roots.values())

    def resolve_inside(self, uri_or_path: str | Path) -> Path:
        """The real path of ``uri_or_path`` if it lies inside a root; else OutsideWorkspace."""
        text = str(uri_or_path)
        raw = to_fs_path(text) if text.startswith("file:") else text
        if not raw:
            raise OutsideWorkspace(f"{text} is not a local file")
        real = Path(raw).resolve()  # follows symlinks, so a link cannot lead outside
        for root in self._roots.values():
            if real == root or real.is_relative_to(root):
                return real
        raise OutsideWorkspace(f"{real} is outside the workspace folders")

    @classmethod
    def from_initialize(cls, params: types.InitializeParams) -> WorkspaceRoots:
        if params.workspace_folders:
            return cls(folder.uri for folder in params.workspace_folders)
        if params.root_uri:
            return cls([params.root_uri])
        return cls()
