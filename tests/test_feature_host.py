"""A feature driven through a small real host, with no language server around it."""

from __future__ import annotations

import logging
from pathlib import Path

from codetune_lsp.documents import UTF16, DocumentSnapshot
from codetune_lsp.features.host import HeadlessHost
from codetune_lsp.features.prompt_files import PromptFiles
from codetune_lsp.paths import Paths
from codetune_lsp.settings import SettingsSources


class ShowingHost(HeadlessHost):
    """Remembers what it would have shown the user."""

    shown: list[str]

    def show(self, message: str, level: int = logging.WARNING) -> None:
        self.shown.append(message)


def host_trusting(tmp_path: Path, *trusted: Path) -> ShowingHost:
    paths = Paths(tmp_path / "config" / "config.toml", "test", tmp_path / "data", "test")
    user = {"workspace": {"trusted": [str(t) for t in trusted]}}
    settings = SettingsSources(paths, user, {}, {}, []).resolve().settings
    host = ShowingHost(settings, None, paths)
    host.shown = []
    return host


def template_in(folder: Path) -> DocumentSnapshot:
    path = folder / "mine.toml"
    return DocumentSnapshot(path.as_uri(), 1, "toml", 'name = "x"\n', UTF16)


def test_templates_count_in_the_user_dir_and_trusted_workspaces_only(tmp_path: Path) -> None:
    trusted, other = tmp_path / "trusted", tmp_path / "other"
    files = PromptFiles(host_trusting(tmp_path, trusted))
    assert files.kind_of(template_in(tmp_path / "config" / "prompts").uri) == "user"
    assert files.kind_of(template_in(trusted / ".codetune" / "prompts").uri) == "trusted"
    assert files.kind_of(template_in(other / ".codetune" / "prompts").uri) == "untrusted"
    assert files.kind_of(template_in(other).uri) is None  # not a prompts folder
    assert files.kind_of((other / "a.py").as_uri()) is None


async def test_saving_in_an_untrusted_workspace_says_once_how_to_trust_it(tmp_path: Path) -> None:
    host = host_trusting(tmp_path)
    files = PromptFiles(host)
    snap = template_in(tmp_path / "repo" / ".codetune" / "prompts")
    await files.save(snap)
    await files.save(snap)  # no services needed: nothing is loaded
    assert len(host.shown) == 1
    assert "not trusted" in host.shown[0] and str(tmp_path / "repo") in host.shown[0]


def test_lint_returns_the_problems_for_the_handler_to_publish(tmp_path: Path) -> None:
    files = PromptFiles(host_trusting(tmp_path))
    problems = files.lint(template_in(tmp_path))
    assert problems and all(p.severity in {"error", "warning"} for p in problems)
