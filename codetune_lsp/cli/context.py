"""What every sub-command shares: resolved paths and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import click

from codetune_lsp.paths import Paths, resolve_paths
from codetune_lsp.settings import ResolvedSettings, SettingsSources


@dataclass
class CliContext:
    """Built once by the top-level command; sub-commands read it with ``pass_cli``."""

    config_override: str | None = None
    assignments: tuple[str, ...] = ()
    log_level: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @cached_property
    def paths(self) -> Paths:
        return resolve_paths(self.config_override)

    @cached_property
    def sources(self) -> SettingsSources:
        assignments = list(self.assignments)
        if self.log_level:
            assignments.append(f'server.log_level="{self.log_level}"')
        return SettingsSources.load(self.paths, assignments)

    @cached_property
    def resolved(self) -> ResolvedSettings:
        return self.sources.resolve()

    def warn_problems(self) -> None:
        """Print each settings problem once to stderr (stdout may carry the protocol)."""
        for problem in self.resolved.problems:
            click.echo(f"codetune-lsp: warning: {problem}", err=True)


pass_cli = click.make_pass_decorator(CliContext)
