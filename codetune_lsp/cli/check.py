"""``codetune-lsp check``: the AI diagnostics without an editor, for CI."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from codetune_lsp.cli.context import CliContext, pass_cli
from codetune_lsp.context.files import LANGUAGE_BY_SUFFIX
from codetune_lsp.rules import RULE_SETS

LANGUAGES = {**LANGUAGE_BY_SUFFIX}  # one table for the whole package
SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", "build", "dist"}
SEVERITY = {"info": 0, "warning": 1, "error": 2}
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def collect(paths: tuple[str, ...]) -> list[Path]:
    """Source files named, or found under named directories (hidden and build dirs skipped)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
            continue
        for candidate in sorted(path.rglob("*")):
            parts = candidate.relative_to(path).parts
            if any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1]):
                continue
            if candidate.is_file() and candidate.suffix in LANGUAGES:
                found.append(candidate)
    return list(dict.fromkeys(found))


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text")
@click.option(
    "--min-severity",
    type=click.Choice(["error", "warning", "info"]),
    default="warning",
    help="Report (and fail on) findings at or above this severity.",
)
@click.option(
    "--template",
    "templates",
    multiple=True,
    metavar="NAME",
    help="Diagnostics template(s) to run (default: features.diagnostics.templates); "
    "'none' runs no template, so no model is loaded.",
)
@click.option(
    "--rules",
    "rule_sets",
    multiple=True,
    metavar="NAME",
    help="Rule set(s) to run (default: features.diagnostics.rules): python-security, or 'none'.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    help="Files analysed at once; the local backend batches their chunks.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report here.")
@pass_cli
def check(
    cli: CliContext,
    paths: tuple[str, ...],
    fmt: str,
    min_severity: str,
    templates: tuple[str, ...],
    rule_sets: tuple[str, ...],
    jobs: int,
    output: str | None,
) -> None:
    """Analyse files like a linter: exit 1 on findings, 0 on none, 2 on an error."""
    from codetune_lsp.logs import configure_logging
    from codetune_lsp.report import as_json, as_sarif, as_text

    settings = cli.resolved.settings
    configure_logging(cli.paths.log_file, settings.server.log_level, stderr=False)
    cli.warn_problems()
    files = collect(paths)
    if not files:
        click.echo("codetune-lsp check: no source files found", err=True)
        sys.exit(EXIT_ERROR)
    diagnostics = settings.features.diagnostics
    chosen_templates = _chosen(templates, diagnostics.templates)
    chosen_rules = _chosen(rule_sets, diagnostics.rules)
    unknown = sorted(set(chosen_rules) - set(RULE_SETS))
    if unknown:
        click.echo(
            f"codetune-lsp check: unknown rule set {', '.join(unknown)} "
            f"(known: {', '.join(sorted(RULE_SETS))}, or none)",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    try:
        results, errors = asyncio.run(
            _analyse_all(cli, files, chosen_templates, chosen_rules, jobs)
        )
    except Exception as exc:  # the model, the store or a template is not usable
        click.echo(f"codetune-lsp check: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    threshold = SEVERITY[min_severity]
    reported = [(p, f) for p, f in results if SEVERITY.get(f.severity, 1) >= threshold]
    if fmt == "sarif":
        text = as_sarif(reported, base=Path.cwd())
    elif fmt == "json":
        text = as_json(reported, errors)
    else:
        text = as_text(reported)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    for error in errors:
        click.echo(f"codetune-lsp check: {error}", err=True)
    if errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if reported else EXIT_CLEAN)


def _chosen(given: tuple[str, ...], default: list[str]) -> list[str]:
    """The names given on the command line ('none' for none), else the configured ones."""
    if not given:
        return list(default)
    return [name for name in given if name != "none"]


async def _analyse_all(  # type: ignore[no-untyped-def]
    cli: CliContext, files: list[Path], templates: list[str], rules: list[str], jobs: int
):
    from codetune_lsp.documents import UTF32, DocumentSnapshot
    from codetune_lsp.features.diagnostics import Analyzer
    from codetune_lsp.services import open_services

    settings = cli.resolved.settings
    diagnostics = settings.features.diagnostics
    services = await asyncio.to_thread(open_services, settings, cli.paths)
    try:
        engine = services.engine
        if templates:  # rule sets alone need no model
            await engine.backend(diagnostics.model).ready()
        analyzer = Analyzer(
            engine,
            diagnostics.model,
            templates,
            diagnostics.label,
            max_chars=diagnostics.max_file_chars,
            max_chunks=diagnostics.max_chunks,
            rules=rules,
        )
        gate = asyncio.Semaphore(jobs)
        errors: list[str] = []

        async def one(path: Path) -> list[tuple[str, object]]:
            async with gate:
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    errors.append(f"{path}: cannot be read: {exc}")
                    return []
                language = LANGUAGES.get(path.suffix, "plaintext")
                snap = DocumentSnapshot(path.resolve().as_uri(), 0, language, text, UTF32)
                analysis = await analyzer.analyse(snap, f"check|{path}")
                if analysis.note:  # a partial check is worth saying, not failing
                    click.echo(f"codetune-lsp check: warning: {analysis.note}", err=True)
                return [(str(path), finding) for finding in analysis.findings]

        batches = await asyncio.gather(*(one(path) for path in files))
        return [item for batch in batches for item in batch], errors
    finally:
        await services.aclose()
