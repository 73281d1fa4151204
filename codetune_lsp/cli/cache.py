"""``codetune-lsp cache``: inspect, prune or clear the response cache."""

from __future__ import annotations

import click

from codetune_lsp.cli._store import echo_json, format_table, opened_store
from codetune_lsp.cli.context import CliContext, pass_cli


@click.group("cache")
def cache_group() -> None:
    """The response cache (identical deterministic requests answered from the store)."""


@cache_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def stats_command(cli: CliContext, as_json: bool) -> None:
    """Entries, size, hits, expired entries and the recorded cache hit rate."""
    with opened_store(cli) as store:
        info = store.cache_stats()
    if as_json:
        echo_json(info)
        return
    rows = [[key.replace("_", " "), value] for key, value in info.items()]
    click.echo(
        format_table(["", "value"], [[k, str(v) if v is not None else "-"] for k, v in rows])
    )


@cache_group.command("clear")
@click.option("--template-version", type=int, metavar="ID", help="Only this template version id.")
@pass_cli
def clear_command(cli: CliContext, template_version: int | None) -> None:
    """Delete cached responses (all, or those of one template version)."""
    with opened_store(cli) as store:
        if template_version is None:
            count = store.clear_cache().result()
        else:
            count = store.invalidate_cache(template_version).result()
    click.echo(f"deleted {count} cached responses")


@cache_group.command("prune")
@pass_cli
def prune_command(cli: CliContext) -> None:
    """Delete expired entries and the least recently used ones above the size cap."""
    with opened_store(cli) as store:
        cap = store.cache_policy.max_entries
        counts = store.prune_cache().result()
    click.echo(
        f"deleted {counts['expired']} expired and {counts['evicted']} least recently used "
        f"entries (cap {cap})"
    )
