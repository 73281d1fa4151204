"""``codetune-lsp serve``: the language server (stdio by default, or TCP / WebSocket)."""

from __future__ import annotations

import gc
import logging
import os
import secrets
import sys

import click

from codetune_lsp.cli.context import CliContext, pass_cli
from codetune_lsp.logs import configure_logging

WS_TOKEN_ENV = "CODETUNE_WS_TOKEN"
# How long a background thread (the store writer, a model worker's Python side) may hold the
# GIL while the event loop waits for it after a system call: 5 ms by default, which showed
# up whole in completion round trips. 0.5 ms keeps the loop responsive.
GIL_SWITCH_INTERVAL_S = 0.0005


def _address(value: str | None, flag: str):  # type: ignore[no-untyped-def]
    from codetune_lsp.transports import parse_address

    if value is None:
        return None
    try:
        address = parse_address(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from exc
    if not address.is_loopback:
        click.echo(
            f"codetune-lsp: warning: {flag} binds to {address.host}, which is not loopback: "
            "anyone who can reach it can use your models and read your documents.",
            err=True,
        )
    return address


@click.command()
@click.option("--stdio", is_flag=True, help="Serve over stdin/stdout (the default).")
@click.option("--tcp", metavar="[HOST:]PORT", help="Serve one client over TCP (host: 127.0.0.1).")
@click.option(
    "--ws",
    metavar="[HOST:]PORT",
    help=f"Serve one client over WebSocket; needs the token printed at start (or ${WS_TOKEN_ENV}).",
)
@pass_cli
def serve(cli: CliContext, stdio: bool, tcp: str | None, ws: str | None) -> None:
    """Run the language server. Editors start this (plain `codetune-lsp` does too)."""
    if tcp and ws:
        raise click.UsageError("choose one transport: --tcp or --ws")
    tcp_address, ws_address = _address(tcp, "--tcp"), _address(ws, "--ws")
    settings = cli.resolved.settings
    log_file = configure_logging(cli.paths.log_file, settings.server.log_level)
    logger = logging.getLogger("codetune_lsp")
    logger.info("codetune-lsp starting (pid %d); log file %s", os.getpid(), log_file)

    from codetune_lsp import transports
    from codetune_lsp.server import create_server

    server = create_server(cli.sources)
    # Start-up objects live for the whole session: keep them out of full GC passes, which
    # otherwise pause every handler while many history writes are queued.
    gc.freeze()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    try:
        if tcp_address is not None:
            code = transports.run_tcp(server, tcp_address)
        elif ws_address is not None:
            token = os.environ.get(WS_TOKEN_ENV) or secrets.token_urlsafe(24)
            gate = transports.WebSocketGate(token, settings.server.ws_allowed_origins)
            code = transports.run_ws(server, ws_address, gate)
        else:
            code = transports.run_stdio(server, sys.stdin.buffer, sys.stdout.buffer)
    except KeyboardInterrupt:
        code = 130
    logger.info("codetune-lsp exiting with status %d", code)
    logging.shutdown()
    sys.stderr.flush()
    # Worker threads (a model mid-generation, the blocked stdin reader) must not hold
    # the process: the editor expects it gone now.
    os._exit(code)
