"""Prompt template files in the editor: lint them while open, version them on save.

Files in the user's prompts dir always count. Files in ``.codetune/prompts`` of a workspace
count only when the user's own config lists that workspace in ``workspace.trusted``. A
repository cannot trust itself. Others are linted but never loaded, and the user is told
once how to trust the workspace.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pygls.uris import to_fs_path

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.features.host import FeatureHost

if TYPE_CHECKING:
    from codetune_lsp.prompts.template import TemplateProblem

logger = logging.getLogger(__name__)

WORKSPACE_PROMPTS = Path(".codetune") / "prompts"
Kind = Literal["user", "trusted", "untrusted"]


class PromptFiles:
    def __init__(self, host: FeatureHost) -> None:
        self.host = host
        self._told: set[Path] = set()

    def _trusted(self) -> set[Path]:
        return {Path(p).expanduser().resolve() for p in self.host.settings.workspace.trusted}

    def kind_of(self, uri: str) -> Kind | None:
        """Whether ``uri`` is a template file, and whether it may be loaded."""
        raw = to_fs_path(uri) if uri.startswith("file:") else None
        if not raw or not raw.endswith(".toml"):
            return None
        path = Path(raw).resolve()
        if path.parent == self.host.paths.user_prompts_dir.resolve():
            return "user"
        if path.parent.name == "prompts" and path.parent.parent.name == ".codetune":
            return "trusted" if path.parent.parent.parent in self._trusted() else "untrusted"
        return None

    # -- linting ------------------------------------------------------------------------

    def lint(self, snap: DocumentSnapshot) -> list[TemplateProblem]:
        """The template's problems (the handler publishes them as diagnostics)."""
        from codetune_lsp.prompts.template import parse_template

        _, problems = parse_template(snap.text)
        return list(problems)

    # -- versioning ----------------------------------------------------------------------

    async def save(self, snap: DocumentSnapshot) -> None:
        """A saved user or trusted template becomes a version; production follows it."""
        from codetune_lsp.prompts.template import TemplateInvalid

        kind = self.kind_of(snap.uri)
        if kind == "untrusted":
            root = Path(to_fs_path(snap.uri) or "").resolve().parent.parent.parent
            self._tell_untrusted(root)
            return
        if kind is None:
            return
        services = await self.host.services()
        origin = to_fs_path(snap.uri) or snap.uri
        try:
            result = await asyncio.to_thread(services.library.import_source, snap.text, origin)
        except TemplateInvalid as exc:
            self.host.tell(f"codetune: not saved as a version: {exc}", logging.WARNING)
            return
        if result.created or result.label_moved:
            moved = "; production now uses it" if result.label_moved else ""
            self.host.tell(f"codetune: {result.name} version {result.version} saved{moved}")

    async def scan_workspaces(self) -> None:
        """Load trusted workspaces' templates; say once how to trust the others."""
        from codetune_lsp.services import import_prompt_dir

        trusted = self._trusted()
        for root in self.host.roots.paths:
            folder = root / WORKSPACE_PROMPTS
            if not folder.is_dir() or not any(folder.glob("*.toml")):
                continue
            if root.resolve() not in trusted:
                self._tell_untrusted(root)
                continue
            services = await self.host.services()
            problems = await asyncio.to_thread(import_prompt_dir, services.library, folder)
            for problem in problems:
                self.host.tell(problem, logging.WARNING)

    def _tell_untrusted(self, root: Path) -> None:
        if root in self._told:
            return
        self._told.add(root)
        config = self.host.paths.config_file
        self.host.show(
            f"codetune: the prompt templates in {root / WORKSPACE_PROMPTS} are ignored because "
            f"this workspace is not trusted. To use them, add it to your config file {config}:\n"
            f'[workspace]\ntrusted = ["{root}"]',
            logging.WARNING,
        )
