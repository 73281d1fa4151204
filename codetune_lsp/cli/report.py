"""``codetune-lsp report``: the history, experiments and evaluations as one HTML file."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from codetune_lsp.cli._store import opened_store, since_option
from codetune_lsp.cli.context import CliContext, pass_cli


@click.command("report")
@click.option("--since", metavar="WHEN", help="e.g. 7d, 12h or 2026-05-01 (default: everything).")
@click.option("--feature", metavar="NAME", help="Only this feature (completion, code_action...).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: report.html in the data dir).",
)
@click.option("--open", "open_it", is_flag=True, help="Open the report in the browser.")
@pass_cli
def report(
    cli: CliContext, since: str | None, feature: str | None, output: Path | None, open_it: bool
) -> None:
    """Write a self-contained HTML report: executions and latency over time, cache hits,
    acceptance per template version, A/B experiments, evaluation runs, tokens and cost per
    model, the most frequent errors. It opens offline; every chart is also a table."""
    from codetune_lsp.dashboard import build_report, default_report_path
    from codetune_lsp.store.history import HistoryFilter
    from codetune_lsp.store.tables import utcnow

    filters = HistoryFilter(feature=feature, since=since_option(since))
    target = output or default_report_path(cli.paths)
    with opened_store(cli) as store:
        html = build_report(store, filters, utcnow())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(html, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(str(target))
    if open_it and not webbrowser.open(target.resolve().as_uri()):
        click.echo("no browser found; open the file above yourself", err=True)
