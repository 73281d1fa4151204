"""``codetune-lsp config``: show the resolved settings and the paths in use."""

from __future__ import annotations

import json
from typing import Any

import click

from codetune_lsp.cli.context import CliContext, pass_cli
from codetune_lsp.redaction import mask_url
from codetune_lsp.settings import SECRET_LEAVES, flatten


def _display(key: str, value: Any) -> Any:
    if key.rsplit(".", 1)[-1] in SECRET_LEAVES and isinstance(value, str) and value:
        return mask_url(value)
    return value


def _origin(cli: CliContext, key: str) -> str:
    parts = key.split(".")
    for cut in range(len(parts), 0, -1):
        origin = cli.resolved.origins.get(".".join(parts[:cut]))
        if origin:
            return origin
    return "default"


@click.group("config")
def config_group() -> None:
    """Inspect the settings in use."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like lines.")
@pass_cli
def show(cli: CliContext, as_json: bool) -> None:
    """Print every setting, its value (secrets masked) and where it came from."""
    rows = {key: _display(key, value) for key, value in flatten(cli.resolved.settings).items()}
    if as_json:
        payload = {
            key: {"value": value, "source": _origin(cli, key)} for key, value in rows.items()
        }
        problems = [str(p) for p in cli.resolved.problems]
        click.echo(json.dumps({"settings": payload, "problems": problems}, indent=2))
        return
    width = max(len(key) for key in rows)
    for key, value in rows.items():
        click.echo(f"{key.ljust(width)} = {json.dumps(value)}  # {_origin(cli, key)}")
    cli.warn_problems()


@config_group.command("path")
@pass_cli
def path(cli: CliContext) -> None:
    """Print the files and directories in use."""
    paths = cli.paths
    exists = "exists" if paths.config_file.exists() else "not created yet"
    click.echo(f"config file:  {paths.config_file}  ({paths.config_file_origin}; {exists})")
    click.echo(f"data dir:     {paths.data_dir}  ({paths.data_dir_origin})")
    click.echo(f"log file:     {paths.log_file}")
    click.echo(f"prompts dir:  {paths.user_prompts_dir}")
    store_url = cli.resolved.settings.store.url
    click.echo(f"store:        {mask_url(store_url) if store_url else paths.default_database}")
