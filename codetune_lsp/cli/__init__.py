"""The ``codetune-lsp`` command: sub-commands grouped by noun, ``serve`` by default."""

from __future__ import annotations

import importlib

import click

from codetune_lsp import __version__
from codetune_lsp.cli.context import CliContext
from codetune_lsp.cli.serve import serve

# Sub-command name -> "module:attribute", imported only when that command runs, so that
# starting the server (what editors do) imports no other command's dependencies.
LAZY_COMMANDS = {
    "cache": "codetune_lsp.cli.cache:cache_group",
    "check": "codetune_lsp.cli.check:check",
    "config": "codetune_lsp.cli.config:config_group",
    "doctor": "codetune_lsp.cli.doctor:doctor",
    "eval": "codetune_lsp.cli.eval:eval_group",
    "history": "codetune_lsp.cli.history:history_group",
    "models": "codetune_lsp.cli.models:models_group",
    "prompts": "codetune_lsp.cli.prompts:prompts_group",
    "report": "codetune_lsp.cli.report:report",
    "stats": "codetune_lsp.cli.stats:stats",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported when used (or listed by --help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module, _, attribute = LAZY_COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


@click.group(
    cls=LazyGroup,
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
