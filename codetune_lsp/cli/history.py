"""``codetune-lsp history``: list, show, export and purge recorded executions."""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

import click

from codetune_lsp.cli._store import (
    echo_json,
    format_table,
    opened_store,
    since_option,
    to_jsonable,
)
from codetune_lsp.cli.context import CliContext, pass_cli

if TYPE_CHECKING:
    from codetune_lsp.store.history import HistoryFilter

LIST_COLUMNS = (
    ("id", "id"),
    ("created_at", "created (UTC)"),
    ("feature", "feature"),
    ("template_name", "template"),
    ("model_profile", "model"),
    ("success", "ok"),
    ("latency_ms", "latency ms"),
    ("output_tokens", "tokens out"),
    ("cache_hit", "cache"),
)


def _filters(
    feature: str | None,
    template: str | None,
    model: str | None,
    since: str | None,
    failed: bool,
) -> HistoryFilter:
    from codetune_lsp.store.history import HistoryFilter

    return HistoryFilter(feature, template, model, since_option(since), failed)


def filter_options(fn: Any) -> Any:
    fn = click.option("--failed", is_flag=True, help="Only failed executions.")(fn)
    fn = click.option("--since", metavar="WHEN", help="e.g. 1d, 12h, 30m or 2026-05-01.")(fn)
    fn = click.option("--model", metavar="M", help="Model profile name or model id.")(fn)
    fn = click.option("--template", metavar="NAME", help="Prompt template name.")(fn)
    fn = click.option("--feature", metavar="F", help="completion, code_action, diagnostics...")(fn)
    return fn


@click.group("history")
def history_group() -> None:
    """Browse the recorded executions."""


@history_group.command("list")
@filter_options
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def list_command(
    cli: CliContext,
    feature: str | None,
    template: str | None,
    model: str | None,
    since: str | None,
    failed: bool,
    limit: int,
    as_json: bool,
) -> None:
    """List executions, newest first."""
    from codetune_lsp.store.history import HistoryFilter, list_executions

    filters = _filters(feature, template, model, since, failed)
    with opened_store(cli) as store:
        rows = store.read(lambda s: list_executions(s, filters, limit))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(
            "no executions recorded"
            + (" matching the filters" if filters != HistoryFilter() else "")
        )
        return
    click.echo(
        format_table(
            [title for _key, title in LIST_COLUMNS],
            [[row[key] for key, _title in LIST_COLUMNS] for row in rows],
        )
    )


@history_group.command("show")
@click.argument("execution_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def show_command(cli: CliContext, execution_id: str, as_json: bool) -> None:
    """Show one execution in full (a unique prefix of its id is enough)."""
    from codetune_lsp.store.history import get_execution

    with opened_store(cli) as store:
        row = store.read(lambda s: get_execution(s, execution_id))
    if row is None:
        raise click.ClickException(f"no execution with id {execution_id!r}")
    if as_json:
        echo_json(row)
        return
    long_fields = ("prompt_text", "output", "error_message", "feedback", "params_json")
    width = max(len(k) for k in row)
    for key, value in row.items():
        if key not in long_fields:
            click.echo(f"{key.ljust(width)}  {to_jsonable(value) if value is not None else '-'}")
    if row["params_json"]:
        click.echo(f"{'params'.ljust(width)}  {row['params_json']}")
    for item in row["feedback"]:
        extra = f" rating={item['rating']}" if item["rating"] is not None else ""
        comment = f" {item['comment']!r}" if item["comment"] else ""
        click.echo(f"{'feedback'.ljust(width)}  {item['kind']}{extra}{comment}")
    for key in ("error_message", "prompt_text", "output"):
        if row[key] is not None:
            click.echo(f"\n--- {key.replace('_', ' ')} ---\n{row[key]}")


@history_group.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File (default: stdout)."
)
@filter_options
@pass_cli
def export_command(
    cli: CliContext,
    fmt: str,
    output: str | None,
    feature: str | None,
    template: str | None,
    model: str | None,
    since: str | None,
    failed: bool,
) -> None:
    """Export executions (oldest first) as JSON lines or CSV."""
    filters = _filters(feature, template, model, since, failed)
    with opened_store(cli) as store:
        if output:
            with open(output, "w", encoding="utf-8", newline="") as handle:
                count = store.read(lambda s: _write(s, filters, fmt, handle))
            click.echo(f"exported {count} executions to {output}", err=True)
        else:
            store.read(lambda s: _write(s, filters, fmt, sys.stdout))


def _write(session: Any, filters: HistoryFilter, fmt: str, handle: TextIO) -> int:
    from codetune_lsp.store.history import EXECUTION_COLUMNS, iter_executions

    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(handle, fieldnames=list(EXECUTION_COLUMNS))
        writer.writeheader()
        for row in iter_executions(session, filters):
            writer.writerow(to_jsonable(row))
            count += 1
    else:
        for row in iter_executions(session, filters):
            handle.write(json.dumps(to_jsonable(row), ensure_ascii=False) + "\n")
            count += 1
    return count


@history_group.command("purge")
@click.option("--older-than", required=True, metavar="AGE", help="e.g. 30d, 12w.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@pass_cli
def purge_command(cli: CliContext, older_than: str, dry_run: bool) -> None:
    """Delete executions (and their feedback) older than AGE."""
    from codetune_lsp.store.history import HistoryError, count_older, parse_duration, purge
    from codetune_lsp.store.tables import utcnow

    try:
        before = utcnow() - parse_duration(older_than)
    except HistoryError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    with opened_store(cli) as store:
        if dry_run:
            count = store.read(lambda s: count_older(s, before))
            click.echo(
                f"would delete {count} executions created before {before:%Y-%m-%d %H:%M} UTC"
            )
            return
        counts = store.write(lambda s: purge(s, before))
    click.echo(
        f"deleted {counts['executions']} executions, {counts['feedback']} feedback rows and "
        f"{counts['prompt_texts']} unused prompt texts (created before "
        f"{before:%Y-%m-%d %H:%M} UTC)"
    )
