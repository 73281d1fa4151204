"""Shared by the store commands (``history``, ``stats``, ``cache``): opening the store,
printing aligned tables and JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from codetune_lsp.cli.context import CliContext
from codetune_lsp.redaction import redact

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported only when a store command runs
    from codetune_lsp.store import Store


@contextmanager
def opened_store(cli: CliContext) -> Iterator[Store]:
    """Open (and migrate) the configured store for one command; errors become messages."""
    from codetune_lsp.store import SchemaError, open_store
    from codetune_lsp.store.history import HistoryError

    try:
        store = open_store(cli.resolved.settings, cli.paths)
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # unreachable database, bad URL...
        message = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])
        raise click.ClickException(f"cannot open the store: {message}") from None
    try:
        yield store
    except HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def since_option(text: str | None) -> datetime | None:
    if text is None:
        return None
    from codetune_lsp.store.history import HistoryError, parse_since

    try:
        return parse_since(text)
    except HistoryError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def echo_json(value: Any) -> None:
    click.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))


def format_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[format_cell(v) for v in row] for row in rows]
    numeric = [
        all(
            (isinstance(row[i], int | float) and not isinstance(row[i], bool)) or row[i] is None
            for row in rows
        )
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)
