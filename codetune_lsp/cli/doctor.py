"""``codetune-lsp doctor``: can each feature run here, and if not, how to fix it."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import click

from codetune_lsp.cli.context import CliContext, pass_cli
from codetune_lsp.redaction import mask_url
from codetune_lsp.settings import ModelProfile

OK, MISSING = "ok ", "!! "


def _gguf_model(name: str, profile: ModelProfile, data_dir: Path) -> tuple[bool, str]:
    from codetune_lsp.models.base import BackendError
    from codetune_lsp.models.install import locate_gguf
    from codetune_lsp.models.local import choose_runtime

    runtime = choose_runtime(profile)
    needs = "llama_cpp" if runtime == "llama.cpp" else "transformers"
    if importlib.util.find_spec(needs) is None:
        extra = "llamacpp" if runtime == "llama.cpp" else "local"
        return (
            False,
            f"the {runtime} runtime is not installed: `pip install 'codetune-lsp[{extra}]'`",
        )
    try:
        path = locate_gguf(name, profile, data_dir)
    except BackendError as exc:
        return False, f"{exc.problem}: {exc.fix}"
    return True, f"{path.name} ({path.stat().st_size / 2**20:.0f} MiB) with {runtime}"


def _local_model(name: str, profile: ModelProfile) -> tuple[bool, str]:
    """Whether a local profile's weights are here, without loading them."""
    if importlib.util.find_spec("transformers") is None:  # found, not imported (slow)
        return False, "torch/transformers are not installed: `pip install 'codetune-lsp[local]'`"
    path = Path(profile.id).expanduser()
    if path.is_dir():
        has_config = (path / "config.json").exists()
        return (
            has_config,
            f"local weights in {path}" if has_config else f"{path} has no config.json",
        )
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(profile.id, "config.json", revision=profile.revision or None)
    if isinstance(cached, str):
        return True, f"{profile.id} is in the Hugging Face cache"
    return False, (
        f"weights for {profile.id} are not here: run `huggingface-cli download {profile.id}` on a "
        f"connected machine (they go to the Hugging Face cache), or set models.{name}.id to a "
        "local folder"
    )


async def _remote_model(name: str, profile: ModelProfile) -> tuple[bool, str]:
    from codetune_lsp.models.registry import create_backend

    backend = create_backend(name, profile)
    try:
        health = await asyncio.wait_for(backend.health(), 10)
    except Exception as exc:
        return False, f"{mask_url(profile.url)} did not answer: {exc}"
    finally:
        await backend.close()
    return health.ok, f"{mask_url(profile.url)}: {health.detail}"


@click.command("doctor")
@pass_cli
def doctor(cli: CliContext) -> None:
    """Check settings, the store, the prompt templates and every feature's model."""
    settings = cli.resolved.settings
    problems = 0

    def line(ok: bool, text: str) -> None:
        nonlocal problems
        problems += not ok
        click.echo(f"{OK if ok else MISSING}{text}")

    line(not cli.resolved.problems, f"settings ({cli.paths.config_file})")
    for problem in cli.resolved.problems:
        click.echo(f"     {problem}")
    try:
        from codetune_lsp.cli.prompts import library

        with library(cli) as prompts:
            rows = prompts.list()
            store_url = settings.store.url or str(cli.paths.default_database)
            line(True, f"store {mask_url(store_url)}")
            line(bool(rows), f"{len(rows)} prompt templates")
    except click.ClickException as exc:
        line(False, f"store: {exc.message}")
    features = settings.features
    checked: dict[str, tuple[bool, str]] = {}
    for feature, config in (
        ("completion", features.completion),
        ("code actions", features.code_actions),
        ("diagnostics", features.diagnostics),
    ):
        if not config.enabled:
            click.echo(f"-- {feature}: disabled")
            continue
        name = config.model
        profile = settings.models.get(name)
        if profile is None:
            line(False, f"{feature}: no model profile named {name!r}; add [models.{name}]")
            continue
        if name not in checked:
            if profile.backend == "local" and (profile.gguf_file or profile.id.endswith(".gguf")):
                checked[name] = _gguf_model(name, profile, cli.paths.data_dir)
            elif profile.backend == "local":
                checked[name] = _local_model(name, profile)
            else:
                checked[name] = asyncio.run(_remote_model(name, profile))
        ok, detail = checked[name]
        line(ok, f"{feature}: model profile '{name}' ({profile.backend}): {detail}")
    click.echo(f"log file: {cli.paths.log_file}")
    if problems:
        click.echo(
            f"{problems} problem(s): the features above marked !! answer nothing until fixed"
        )
        sys.exit(1)
    click.echo("everything is in place")
