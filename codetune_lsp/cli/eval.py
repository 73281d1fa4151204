"""``codetune-lsp eval``: run suites through the product, list, show, compare, rank."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import click

from codetune_lsp.cli._store import echo_json, format_table
from codetune_lsp.cli.context import CliContext, pass_cli


@click.group("eval")
def eval_group() -> None:
    """Evaluate template versions and models on fixed suites (stored, immutable runs)."""


def _library(cli: CliContext) -> Any:
    from codetune_lsp.cli.prompts import library

    return library(cli)


def _fail(message: str) -> None:
    raise click.ClickException(message)


@eval_group.command("run")
@click.argument("suite")
@click.option("--template", "template_ref", metavar="NAME[:LABEL|:VERSION]")
@click.option("--model", metavar="PROFILE", help="Model profile (default: the feature's).")
@click.option("--mode", help="humaneval: chat | completion.")
@click.option(
    "--action",
    type=click.Choice(["docstring", "tests", "optimize"]),
    help="actions: run this action only (default: all three, one run each).",
)
@click.option("--limit", type=click.IntRange(1), help="Only the first N items.")
@click.option("--samples", type=click.IntRange(1, 200), default=1, show_default=True)
@click.option("--temperature", type=click.FloatRange(0, 2), help="Override the template's.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def run(
    cli: CliContext,
    suite: str,
    template_ref: str | None,
    model: str | None,
    mode: str | None,
    action: str | None,
    limit: int | None,
    samples: int,
    temperature: float | None,
    jobs: int,
    as_json: bool,
) -> None:
    """Run SUITE (humaneval, humaneval-infill, security, actions, or a .jsonl/.toml file).

    An unfinished run with the same suite, version, model and parameters is resumed.
    """
    from codetune_lsp.logs import configure_logging

    settings = cli.resolved.settings
    configure_logging(cli.paths.log_file, settings.server.log_level, stderr=False)
    cli.warn_problems()
    if samples > 1 and not temperature:
        _fail("--samples above 1 needs --temperature above 0 (greedy samples are identical)")
    if action and suite != "actions":
        _fail("--action is for the actions suite")
    modes: list[str | None] = [mode]
    if suite == "actions":
        if action and mode and action != mode:
            _fail("give --action or --mode, not both")
        modes = [action or mode] if (action or mode) else ["docstring", "tests", "optimize"]
        if template_ref and len(modes) > 1:
            _fail("--template on the actions suite needs --action")
    for chosen_mode in modes:
        _run_one(
            cli,
            suite,
            template_ref,
            model,
            chosen_mode,
            limit,
            samples,
            temperature,
            jobs,
            as_json,
        )


def _run_one(
    cli: CliContext,
    suite: str,
    template_ref: str | None,
    model: str | None,
    mode: str | None,
    limit: int | None,
    samples: int,
    temperature: float | None,
    jobs: int,
    as_json: bool,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from codetune_lsp.evaluation.session import make_runner, plan
    from codetune_lsp.evaluation.suites import SuiteError

    settings = cli.resolved.settings
    try:
        chosen = plan(settings, suite, template_ref, model, mode, limit)
    except SuiteError as exc:
        _fail(str(exc))
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=as_json,
        console=_stderr_console(),
    )
    task = bar.add_task(f"{chosen.suite.name} {chosen.suite.mode}", total=None)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with _library(cli) as prompts:
        runner = make_runner(
            settings,
            prompts.store,
            prompts,
            chosen,
            jobs=jobs,
            samples=samples,
            temperature=temperature,
            progress=progress,
        )
        try:
            with bar:
                finished = asyncio.run(runner.run())
        except KeyboardInterrupt:
            click.echo("interrupted: run it again to resume", err=True)
            sys.exit(130)
        except Exception as exc:
            logging.getLogger(__name__).exception("eval run failed")
            _fail(f"eval run failed: {exc}")
    if runner.resumed:
        click.echo(f"resumed: {runner.resumed} item(s) were already done", err=True)
    if as_json:
        echo_json(_run_dict(finished))
        return
    click.echo(_describe(finished))


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _run_dict(run: Any) -> dict[str, Any]:
    data = dict(vars(run))
    data["started_at"] = run.started_at.isoformat()
    data["finished_at"] = run.finished_at.isoformat() if run.finished_at else None
    return data


def _fmt(value: Any) -> str:
    return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def _describe(run: Any) -> str:
    from codetune_lsp.evaluation.scoring import headline

    s = run.summary or {}
    metric, value = headline(s)
    lines = [
        f"run {run.id}  {run.suite} ({run.mode})  {run.template_name} "
        f"[version id {run.template_version_id}]  {run.model_profile} ({run.model_id})",
        f"{metric} {_fmt(value)}  items {s.get('n_items', run.n_items)}  passed {s.get('passed')}"
        f"  failed {s.get('failed')}  errors {s.get('errors')}",
    ]
    extra = {k: v for k, v in s.items() if k.startswith("pass@") and k != "pass@1"}
    for key in (
        "single_line",
        "multi_line",
        "precision",
        "recall",
        "compile_rate",
        "latency_ms_median",
        "latency_ms_p95",
    ):
        if key in s:
            extra[key] = s[key]
    if extra:
        lines.append("  ".join(f"{k} {_fmt(v)}" for k, v in extra.items()))
    for cwe, c in (s.get("per_cwe") or {}).items():
        lines.append(
            f"  {cwe:<8} P {_fmt(c['precision'])}  R {_fmt(c['recall'])}  F1 {_fmt(c['f1'])}"
            f"  (tp {c['tp']} fp {c['fp']} fn {c['fn']})"
        )
    return "\n".join(lines)


@eval_group.command("bandit")
@click.option("--run", "run_id", metavar="RUN", help="The product's security run to compare.")
@click.option(
    "--severity",
    type=click.Choice(["low", "medium", "high"]),
    default="low",
    show_default=True,
    help="bandit's severity threshold (medium drops its import-only notes).",
)
@click.option(
    "--suite",
    "suite_name",
    type=click.Choice(["security", "security-holdout"]),
    default="security",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def bandit(
    cli: CliContext, run_id: str | None, severity: str, suite_name: str, as_json: bool
) -> None:
    """bandit on the security suite, per CWE class, next to a product run's figures.

    Without --run, the newest finished run of the suite that reports findings (any mode but
    fix) is the comparison.
    """
    from codetune_lsp.cli._store import opened_store
    from codetune_lsp.evaluation.bandit_peer import COVERED, BanditMissing, run_bandit
    from codetune_lsp.evaluation.suites import load_suite
    from codetune_lsp.store.evaluations import EvalStoreError

    try:
        peer = run_bandit(load_suite(suite_name), severity)
    except BanditMissing as exc:
        _fail(str(exc))
    product = None
    with opened_store(cli) as store:
        repo = store.evaluations
        try:
            if run_id:
                product = store.read(lambda s: repo.get_run(s, run_id))
            else:
                runs = store.read(lambda s: repo.list_runs(s, suite_name, "finished", 20))
                product = next((r for r in runs if r.mode != "fix"), None)  # findings, not fixes
        except EvalStoreError as exc:
            _fail(str(exc))
    ours = (product.summary or {}).get("per_cwe", {}) if product else {}
    if as_json:
        echo_json(
            {
                "bandit": {
                    "version": peer.version,
                    "severity": severity,
                    "seconds": peer.seconds,
                    **peer.summary,
                },
                "covered": list(COVERED),
                "product": _run_dict(product) if product else None,
            }
        )
        return
    if product:
        click.echo(
            f"product: run {product.id} {product.template_name} [version id "
            f"{product.template_version_id}] {product.model_profile}"
        )
    else:
        click.echo("product: no finished security run in the store (eval run security)")
    click.echo(
        f"bandit {peer.version} (severity >= {severity}): {peer.seconds:.1f} s for "
        f"{len(peer.findings)} cases"
    )
    rows = []
    for cwe in sorted(set(peer.summary["per_cwe"]) | set(COVERED) | set(ours)):
        b, p = peer.summary["per_cwe"].get(cwe, {}), ours.get(cwe, {})
        rows.append(
            [
                cwe,
                "yes" if cwe in COVERED else "no",
                _fmt(b.get("recall")),
                _fmt(b.get("precision")),
                f"{b.get('tp', 0)}/{b.get('fp', 0)}/{b.get('fn', 0)}",
                _fmt(p.get("recall")) if product else "",
                _fmt(p.get("precision")) if product else "",
                f"{p.get('tp', 0)}/{p.get('fp', 0)}/{p.get('fn', 0)}" if product else "",
            ]
        )
    headers = [
        "class",
        "bandit covers",
        "bandit R",
        "bandit P",
        "tp/fp/fn",
        "ours R",
        "ours P",
        "tp/fp/fn",
    ]
    click.echo(format_table(headers, rows))
    s = peer.summary
    click.echo(
        f"bandit overall: recall {_fmt(s['recall'])} precision {_fmt(s['precision'])} "
        f"F1 {_fmt(s['f1'])}"
    )


@eval_group.command("list")
@click.option("--suite")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def list_(cli: CliContext, suite: str | None, as_json: bool) -> None:
    """Recent runs, newest first."""
    from codetune_lsp.cli._store import opened_store
    from codetune_lsp.evaluation.scoring import headline

    with opened_store(cli) as store:
        runs = store.read(lambda s: store.evaluations.list_runs(s, suite))
    if as_json:
        echo_json([_run_dict(r) for r in runs])
        return
    rows = []
    for r in runs:
        metric, value = headline(r.summary)
        rows.append(
            [
                r.id,
                r.suite,
                r.mode,
                r.template_name,
                r.template_version_id,
                r.model_profile,
                r.status,
                r.n_items,
                f"{metric} {_fmt(value)}",
            ]
        )
    headers = ["run", "suite", "mode", "template", "version id", "model", "status", "n", "score"]
    click.echo(format_table(headers, rows) if rows else "no evaluation runs")


@eval_group.command("show")
@click.argument("run_id", metavar="RUN")
@click.option("--failures", is_flag=True, help="Only failed items, with outputs and reasons.")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def show(cli: CliContext, run_id: str, failures: bool, as_json: bool) -> None:
    """A run's summary and its items (raw model output, served text, reason)."""
    from codetune_lsp.cli._store import opened_store
    from codetune_lsp.store.evaluations import EvalStoreError

    with opened_store(cli) as store:
        repo = store.evaluations
        try:
            run = store.read(lambda s: repo.get_run(s, run_id))
        except EvalStoreError as exc:
            _fail(str(exc))
        items = store.read(lambda s: repo.list_items(s, run.id))
    if failures:
        items = [i for i in items if i.verdict != "pass"]
    if as_json:
        echo_json({"run": _run_dict(run), "items": [vars(i) for i in items]})
        return
    click.echo(_describe(run))
    for item in items:
        click.echo(f"\n== {item.item_id}: {item.verdict}  {item.reason or ''}")
        if failures:
            click.echo("-- raw model output:\n" + (item.raw_output or "(none)"))
            click.echo("-- served:\n" + (item.served_output or "(none)"))


@eval_group.command("compare")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def compare(cli: CliContext, run_a: str, run_b: str, as_json: bool) -> None:
    """Item by item, B against A: fixed, broken, same, and a paired verdict."""
    from codetune_lsp.cli._store import opened_store
    from codetune_lsp.evaluation.compare import compare_items
    from codetune_lsp.evaluation.gate import paired
    from codetune_lsp.store.evaluations import EvalStoreError

    with opened_store(cli) as store:
        repo = store.evaluations
        try:
            a = store.read(lambda s: repo.get_run(s, run_a))
            b = store.read(lambda s: repo.get_run(s, run_b))
        except EvalStoreError as exc:
            _fail(str(exc))
        result = compare_items(paired(store, a.id), paired(store, b.id))
    if a.suite_hash != b.suite_hash:
        click.echo("warning: the runs used different suite contents", err=True)
    if as_json:
        echo_json({"a": a.id, "b": b.id, **result.as_dict()})
        return
    click.echo(
        f"A {a.id} ({a.template_name} [{a.template_version_id}], {a.model_profile}) "
        f"{100 * result.rate_a:.1f}%\nB {b.id} ({b.template_name} [{b.template_version_id}], "
        f"{b.model_profile}) {100 * result.rate_b:.1f}%"
    )
    click.echo(
        f"n={result.n}  fixed {len(result.fixed)}  broken {len(result.broken)}  "
        f"same {result.same}  McNemar p={result.p_value:.3g}  mean difference "
        f"{result.mean_difference:+.3f} [{result.interval[0]:+.3f}, {result.interval[1]:+.3f}]"
    )
    for key in result.fixed:
        click.echo(f"  fixed   {key}")
    for key in result.broken:
        click.echo(f"  broken  {key}")
    click.echo(
        f"B is {result.verdict} than A"
        if result.verdict in ("better", "worse")
        else f"verdict: {result.verdict}"
    )


@eval_group.command("leaderboard")
@click.argument("suite")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def leaderboard(cli: CliContext, suite: str, as_json: bool) -> None:
    """The best finished run per template version x model on SUITE."""
    from codetune_lsp.cli._store import opened_store
    from codetune_lsp.evaluation.scoring import headline

    with opened_store(cli) as store:
        runs = store.read(lambda s: store.evaluations.list_runs(s, suite, "finished", 10_000))
    best: dict[tuple[Any, ...], Any] = {}
    for run in runs:
        key = (run.mode, run.template_name, run.template_version_id, run.model_profile)
        score = headline(run.summary)[1] or 0.0
        if key not in best or score > (headline(best[key].summary)[1] or 0.0):
            best[key] = run
    ranked = sorted(best.values(), key=lambda r: -(headline(r.summary)[1] or 0.0))
    if as_json:
        echo_json([_run_dict(r) for r in ranked])
        return
    rows = [
        [
            i + 1,
            r.mode,
            r.template_name,
            r.template_version_id,
            r.model_profile,
            r.model_id,
            f"{headline(r.summary)[0]} {_fmt(headline(r.summary)[1])}",
            r.n_items,
            r.id,
        ]
        for i, r in enumerate(ranked)
    ]
    headers = ["#", "mode", "template", "version id", "model", "model id", "score", "n", "run"]
    click.echo(format_table(headers, rows) if rows else f"no finished runs on {suite}")
