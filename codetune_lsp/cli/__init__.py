"""The ``codetune-lsp`` command: sub-commands grouped by noun, ``serve`` by default."""

from __future__ import annotations

import click

from codetune_lsp import __version__
from codetune_lsp.cli.cache import cache_group
from codetune_lsp.cli.check import check
from codetune_lsp.cli.config import config_group
from codetune_lsp.cli.context import CliContext
from codetune_lsp.cli.doctor import doctor
from codetune_lsp.cli.history import history_group
from codetune_lsp.cli.models import models_group
from codetune_lsp.cli.prompts import prompts_group
from codetune_lsp.cli.serve import serve
from codetune_lsp.cli.stats import stats

LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_override",
    metavar="FILE",
    help="User config file to use (default: $CODETUNE_CONFIG, else the platform config dir).",
)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one setting, e.g. --set features.completion.debounce_ms=100 (repeatable).",
)
@click.option("--log-level", type=LOG_LEVELS, help="Log level for the log file.")
@click.option("--stdio", is_flag=True, hidden=True, help="Accepted for editors that pass it.")
@click.version_option(__version__, prog_name="codetune-lsp")
@click.pass_context
def main(
    ctx: click.Context,
    config_override: str | None,
    assignments: tuple[str, ...],
    log_level: str | None,
    stdio: bool,
) -> None:
    """codetune-lsp: an AI language server (completions, code actions, diagnostics).

    With no sub-command it serves the Language Server Protocol over stdio, which is
    what editors start. See `codetune-lsp COMMAND --help` for each command.
    """
    ctx.obj = CliContext(config_override, assignments, log_level.lower() if log_level else None)
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


main.add_command(serve)
main.add_command(config_group)
main.add_command(history_group)
main.add_command(stats)
main.add_command(cache_group)
main.add_command(models_group)
main.add_command(check)
main.add_command(prompts_group)
main.add_command(doctor)
