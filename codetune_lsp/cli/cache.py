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
    from codetune_lsp.store import cache as cache_ops
    from codetune_lsp.store.models import utcnow

    with opened_store(cli) as store:
        policy = store.cache_policy
        info = store.read(
            lambda s: {
                **cache_ops.table_stats(s.connection(), utcnow()),
                **cache_ops.recorded_hit_rate(s.connection()),
            }
        )
    info["max_entries"] = policy.max_entries
    info["ttl_s"] = int(policy.ttl.total_seconds()) if policy.ttl else None
    info["enabled"] = policy.enabled
    info["cache_sampled"] = policy.cache_sampled
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
    from codetune_lsp.store import cache as cache_ops

    with opened_store(cli) as store:
        if template_version is None:
            count = store.write(lambda s: cache_ops.clear(s.connection()))
        else:
            count = store.write(
                lambda s: cache_ops.invalidate_version(s.connection(), template_version)
            )
    click.echo(f"deleted {count} cached responses")


@cache_group.command("prune")
@pass_cli
def prune_command(cli: CliContext) -> None:
    """Delete expired entries and the least recently used ones above the size cap."""
    from codetune_lsp.store import cache as cache_ops
    from codetune_lsp.store.models import utcnow

    with opened_store(cli) as store:
        cap = store.cache_policy.max_entries
        counts = store.write(lambda s: cache_ops.prune(s.connection(), utcnow(), cap))
    click.echo(
        f"deleted {counts['expired']} expired and {counts['evicted']} least recently used "
        f"entries (cap {cap})"
    )
