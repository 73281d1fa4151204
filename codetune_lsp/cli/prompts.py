"""``codetune-lsp prompts``: see, compare, deploy and roll back the prompt templates."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from codetune_lsp.cli._store import opened_store
from codetune_lsp.cli.context import CliContext, pass_cli

_REF = re.compile(r"^(?P<name>[^@:]+)(?:@(?P<version>\d+)|:(?P<label>[\w.-]+))?$")


@contextmanager
def library(cli: CliContext) -> Iterator[Any]:
    """The prompt library on the configured store, built-ins seeded, errors as messages."""
    from codetune_lsp.prompts.library import PromptLibrary
    from codetune_lsp.prompts.template import TemplateInvalid
    from codetune_lsp.services import import_prompt_dir
    from codetune_lsp.store import PromptStoreError

    with opened_store(cli) as store:
        prompts = PromptLibrary(store)
        prompts.seed_builtins()
        for problem in import_prompt_dir(prompts, cli.paths.user_prompts_dir):
            click.echo(f"codetune-lsp: warning: {problem}", err=True)
        try:
            yield prompts
        except (PromptStoreError, TemplateInvalid) as exc:
            raise click.ClickException(str(exc)) from None


@click.group("prompts")
def prompts_group() -> None:
    """Versioned prompt templates: list, show, diff, deploy, roll back, experiments."""


@prompts_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def list_(cli: CliContext, as_json: bool) -> None:
    """Every template with its versions, labels and running experiment."""
    with library(cli) as prompts:
        rows = prompts.list()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=10)
    click.echo(f"{'template'.ljust(width)}  {'feature':<12} versions  labels / experiment")
    for row in rows:
        labels = ", ".join(f"{k}=v{v}" for k, v in sorted(row["labels"].items()))
        if row["experiment"]:
            labels += "  experiment " + ", ".join(
                f"{k}:{w:g}" for k, w in row["experiment"].items()
            )
        click.echo(
            f"{row['name'].ljust(width)}  {row['feature']:<12} {row['versions']:>8}  {labels}"
        )


@prompts_group.command("show")
@click.argument("ref", metavar="NAME[@VERSION|:LABEL]")
@pass_cli
def show(cli: CliContext, ref: str) -> None:
    """Print a version as a template file (default: what `production` points at)."""
    from codetune_lsp.prompts.library import to_toml

    match = _REF.match(ref)
    if not match:
        raise click.BadParameter("expected NAME, NAME@VERSION or NAME:LABEL", param_hint="REF")
    version = int(match["version"]) if match["version"] else None
    with library(cli) as prompts:
        found = prompts.get(match["name"], version=version, label=match["label"])
    click.echo(f"# {found.template.name} version {found.version}")
    click.echo(to_toml(found.template), nl=False)


@prompts_group.command("diff")
@click.argument("name")
@click.argument("old", type=int)
@click.argument("new", type=int)
@pass_cli
def diff(cli: CliContext, name: str, old: int, new: int) -> None:
    """A unified diff of two versions, then their field-by-field changes."""
    with library(cli) as prompts:
        click.echo(prompts.diff(name, old, new) or "(no differences)\n", nl=False)


@prompts_group.command("deploy")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--label", default="production", show_default=True)
@click.option(
    "--require-eval",
    "suite",
    metavar="SUITE",
    help="Refuse when VERSION is significantly worse than LABEL's version on SUITE.",
)
@click.option(
    "--model", metavar="PROFILE", help="Model for --require-eval (default: the feature's)."
)
@click.option("--mode", help="Suite mode for --require-eval (humaneval: chat | completion).")
@click.option("--limit", type=click.IntRange(1), help="Gate on the suite's first N items only.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--force", is_flag=True, help="Deploy even if the gate refuses (logged).")
@pass_cli
def deploy(
    cli: CliContext,
    name: str,
    version: int,
    label: str,
    suite: str | None,
    model: str | None,
    mode: str | None,
    limit: int | None,
    jobs: int,
    force: bool,
) -> None:
    """Point LABEL at VERSION (the move is logged, so it can be rolled back).

    With --require-eval, VERSION and LABEL's current version are evaluated on SUITE with
    the same model (matching finished runs are reused) and the move is refused (exit 1)
    when VERSION is significantly worse; --force overrides and says so in the label's log.
    """
    reason = "deploy"
    with library(cli) as prompts:
        if suite:
            reason = _gate(
                cli, prompts, name, version, label, suite, model, mode, limit, jobs, force
            )
        moved = prompts.deploy(name, version, label, reason=reason)
    click.echo(f"{name}: {label} -> v{moved.version}")


def _gate(
    cli: CliContext,
    prompts: Any,
    name: str,
    version: int,
    label: str,
    suite: str,
    model: str | None,
    mode: str | None,
    limit: int | None,
    jobs: int,
    force: bool,
) -> str:
    """Run the promotion gate; the label event's reason, or exit 1 when refused."""
    import sys

    from codetune_lsp.evaluation.gate import check_promotion
    from codetune_lsp.evaluation.suites import SuiteError

    try:
        result = check_promotion(
            cli.resolved.settings,
            prompts.store,
            prompts,
            name,
            version,
            suite,
            label=label,
            model=model,
            mode=mode,
            limit=limit,
            jobs=jobs,
            say=lambda line: click.echo(line, err=True),
        )
    except SuiteError as exc:
        raise click.ClickException(str(exc)) from None
    runs = f"runs {result.baseline_run} -> {result.candidate_run}"
    if result.allowed:
        click.echo(f"eval gate: {result.message}", err=True)
        return f"deploy (eval {suite}: passed; {runs})"
    click.echo(f"eval gate: {result.message}", err=True)
    if not force:
        click.echo(f"{name}: {label} not moved (use --force to override)", err=True)
        sys.exit(1)
    return f"deploy --force (eval {suite}: refused, overridden; {runs})"


@prompts_group.command("rollback")
@click.argument("name")
@click.option("--label", default="production", show_default=True)
@pass_cli
def rollback(cli: CliContext, name: str, label: str) -> None:
    """Move LABEL back to the version it pointed at before its last move."""
    with library(cli) as prompts:
        moved = prompts.rollback(name, label)
    click.echo(f"{name}: {label} -> v{moved.version}")


@prompts_group.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@pass_cli
def import_(cli: CliContext, path: Path) -> None:
    """Store template files (a file or a folder of *.toml); same content makes no version."""
    with library(cli) as prompts:
        results = prompts.import_path(path)
    for result in results:
        state = "new version" if result.created else "unchanged"
        moved = ", production moved" if result.label_moved else ""
        click.echo(f"{result.name}: v{result.version} ({state}{moved})")


@prompts_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@pass_cli
def export(cli: CliContext, directory: Path) -> None:
    """Write what `production` points at, one TOML file per template."""
    with library(cli) as prompts:
        written = prompts.export(directory)
    click.echo(f"wrote {len(written)} template(s) to {directory}")


@prompts_group.group("experiment")
def experiment_group() -> None:
    """A/B experiments between versions of one template."""


def _arm(text: str) -> tuple[int, float]:
    version, sep, weight = text.partition("=")
    try:
        parsed = int(version.lstrip("v")), float(weight)
    except ValueError:
        raise click.BadParameter(
            f"expected VERSION=WEIGHT, got {text!r}", param_hint="--arm"
        ) from None
    if not sep or parsed[1] < 0:
        raise click.BadParameter(f"expected VERSION=WEIGHT, got {text!r}", param_hint="--arm")
    return parsed


@experiment_group.command("start")
@click.argument("name")
@click.option("--arm", "arms", multiple=True, required=True, metavar="VERSION=WEIGHT")
@click.option("--label", default="production", show_default=True)
@pass_cli
def start(cli: CliContext, name: str, arms: tuple[str, ...], label: str) -> None:
    """Split LABEL's traffic between versions; each document sticks to one arm."""
    parsed = [_arm(a) for a in arms]
    if len(parsed) < 2:
        raise click.UsageError("an experiment needs at least two --arm options")
    with library(cli) as prompts:
        started = prompts.start_experiment(name, parsed, label)
    click.echo(
        f"{name}: experiment {started.name} running with arms "
        + ", ".join(f"{a.name}={a.weight:g}" for a in started.arms)
    )


@experiment_group.command("stop")
@click.argument("name")
@click.option("--winner", type=int, help="Also point the label at this version.")
@pass_cli
def stop(cli: CliContext, name: str, winner: int | None) -> None:
    """Stop the running experiment (compare arms first: `codetune-lsp stats --by version`)."""
    with library(cli) as prompts:
        stopped = prompts.stop_experiment(name, winner)
    suffix = f"; production -> v{winner}" if winner is not None else ""
    click.echo(f"{name}: experiment {stopped.name} stopped{suffix}")
