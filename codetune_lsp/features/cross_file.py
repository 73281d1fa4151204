"""Cross-file completion context for the server: which roots may be indexed, keeping the
index current from text sync and file events, and the snippets for one cursor.

Only workspace roots the user's own config trusts (``workspace.trusted``) are indexed and
read, unless the user set ``workspace.context_in_untrusted``; neither can come from an
editor or a repository. A document under no allowed root gets no cross-file context.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pygls.uris import to_fs_path

from codetune_lsp.context.files import FileLimits
from codetune_lsp.context.service import ContextSwitches, CrossFileContext, CursorContext
from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.features.host import FeatureHost

logger = logging.getLogger(__name__)


def uri_path(uri: str) -> Path | None:
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path) if path else None


class CrossFileFeature:
    def __init__(self, host: FeatureHost) -> None:
        self.host = host
        self.context = CrossFileContext()
        self._indexed: list[Path] | None = None
        self._failed_once = False
        self._trusted: tuple[tuple[str, ...], frozenset[Path]] | None = None

    @property
    def _settings(self) -> Any:
        return self.host.settings

    def enabled(self) -> bool:
        completion = self._settings.features.completion
        return bool(completion.enabled and completion.cross_file.enabled)

    def allowed_roots(self) -> list[Path]:
        workspace = self._settings.workspace
        if not self.enabled():
            return []
        if workspace.context_in_untrusted:
            return self.host.roots.paths
        trusted = self._trusted_paths(tuple(workspace.trusted))
        return [root for root in self.host.roots.paths if root in trusted]

    def _trusted_paths(self, configured: tuple[str, ...]) -> frozenset[Path]:
        """The trusted folders, links resolved; resolved again when the setting changes."""
        if self._trusted is None or self._trusted[0] != configured:
            real = frozenset(Path(p).expanduser().resolve() for p in configured)
            self._trusted = (configured, real)
        return self._trusted[1]

    def refresh_roots(self) -> None:
        """Index the allowed roots when they changed (settings, workspace folders)."""
        roots = self.allowed_roots()
        if roots == self._indexed:
            return
        workspace = self._settings.workspace
        self.context.limits = FileLimits(
            workspace.index_max_files, workspace.index_max_file_kib * 1024
        )
        self._indexed = roots
        self.context.set_roots(roots)

    # -- events ---------------------------------------------------------------------------

    def edited(self, uri: str) -> None:
        snap = self.host.documents.snapshot(uri)
        self.context.edited(uri, uri_path(uri), snap.language_id, snap.text)

    def saved(self, uri: str) -> None:
        path = uri_path(uri)
        if path is not None:
            self.context.file_changed(path)

    def closed(self, uri: str) -> None:
        self.context.closed(uri)

    def files_changed(self, changes: list[tuple[str, bool]]) -> None:
        """``(uri, deleted)`` pairs from the client's file watcher."""
        for uri, deleted in changes:
            path = uri_path(uri)
            if path is None:
                continue
            if deleted:
                self.context.file_deleted(path)
            else:
                self.context.file_changed(path)

    # -- one completion -------------------------------------------------------------------

    def gather(
        self, snap: DocumentSnapshot, offset: int, snippets: bool = True
    ) -> CursorContext | None:
        """Snippets for the cursor (``snippets`` off: only the names after ``module.``), or
        None (off, untrusted, outside the roots, or failed: a completion never fails because
        its context did)."""
        if not self.enabled():
            return None
        settings = self._settings.features.completion.cross_file
        switches = ContextSwitches(
            settings.open_documents,
            settings.definitions,
            settings.retrieval,
            settings.max_snippets,
            snippets,
        )
        try:
            self.refresh_roots()
            return self.context.gather(
                snap.uri, uri_path(snap.uri), snap.language_id, snap.text, offset, switches
            )
        except Exception:
            if not self._failed_once:
                logger.exception("cross-file context failed; completing without it")
                self._failed_once = True
            return None

    def status(self) -> dict[str, object]:
        self.refresh_roots()
        return {"enabled": self.enabled(), **self.context.status()}

    def close(self) -> None:
        self.context.close()
