"""``codetune-lsp stats``: how the features, templates, versions and models perform."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from codetune_lsp.cli._store import echo_json, format_table, opened_store, since_option
from codetune_lsp.cli.context import CliContext, pass_cli

if TYPE_CHECKING:
    from codetune_lsp.store.history import StatsRow

GROUPS = ("feature", "template", "version", "model")

HEADERS = (
    "group",
    "count",
    "ok %",
    "p50 ms",
    "p95 ms",
    "ttft p50",
    "tok in",
    "tok out",
    "cost",
    "cache %",
    "accept %",
)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _cells(row: StatsRow) -> list[object]:
    return [
        row.group,
        row.count,
        _pct(row.success_rate),
        row.latency_p50_ms,
        row.latency_p95_ms,
        row.ttft_p50_ms,
        row.tokens_in,
        row.tokens_out,
        row.estimated_cost,
        _pct(row.cache_hit_rate),
        _pct(row.acceptance_rate),
    ]


@click.command("stats")
@click.option(
    "--by", type=click.Choice(GROUPS), default="feature", show_default=True, help="Group rows by."
)
@click.option("--since", metavar="WHEN", help="e.g. 1d, 12h, 30m or 2026-05-01.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def stats(cli: CliContext, by: str, since: str | None, as_json: bool) -> None:
    """Count, success rate, latency, tokens, cost, cache hits and acceptance per group.

    Acceptance = (accepted + applied) / (accepted + applied + rejected + dismissed) feedback.
    """
    from codetune_lsp.store.history import HistoryFilter, compute_stats

    filters = HistoryFilter(since=since_option(since))
    with opened_store(cli) as store:
        rows = store.read(lambda s: compute_stats(s, by, filters))  # type: ignore[arg-type]
    from codetune_lsp.store.significance import compare_versions

    comparisons = compare_versions(rows) if by == "version" else []
    evaluations = _evaluations(cli) if by == "version" else []
    if as_json:
        payload = {"by": by, "since": filters.since, "rows": [r.as_dict() for r in rows]}
        if by == "version":
            payload["comparisons"] = [vars(c) for c in comparisons]
            payload["evaluations"] = evaluations
        echo_json(payload)
        return
    if evaluations:
        click.echo("evaluations (latest finished run per version, suite and model):")
        for e in evaluations:
            click.echo(
                f"  {e['template']} [version id {e['version_id']}]  {e['suite']} ({e['mode']})"
                f"  {e['model']}  {e['metric']} {e['value']}  n={e['n']}  run {e['run']}"
            )
    if rows[-1].count == 0:
        click.echo("no executions recorded" + (" in that period" if since else ""))
        return
    click.echo(format_table([by, *HEADERS[1:]], [_cells(r) for r in rows]))
    if comparisons:
        click.echo("\nversions compared:")
        for comparison in comparisons:
            click.echo(f"  {comparison.describe()}")


def _evaluations(cli: CliContext) -> list[dict[str, object]]:
    """The newest finished eval run per template version x suite x mode x model."""
    from codetune_lsp.evaluation.scoring import headline

    with opened_store(cli) as store:
        grouped = store.read(store.evaluations.by_version)
    latest: dict[tuple[object, ...], dict[str, object]] = {}
    for version_id, runs in grouped.items():
        for run in runs:
            metric, value = headline(run.summary)
            latest[(version_id, run.suite, run.mode, run.model_profile)] = {
                "template": run.template_name,
                "version_id": version_id,
                "suite": run.suite,
                "mode": run.mode,
                "model": run.model_profile,
                "metric": metric,
                "value": None if value is None else round(value, 4),
                "n": run.n_items,
                "run": run.id,
            }
    return list(latest.values())
