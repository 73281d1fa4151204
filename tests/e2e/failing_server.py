"""The real server plus one command that fails unexpectedly, to test internal errors."""

from __future__ import annotations

import sys

from codetune_lsp.paths import resolve_paths
from codetune_lsp.server import create_server
from codetune_lsp.settings import SettingsSources
from codetune_lsp.transports import run_stdio


def main() -> int:
    server = create_server(SettingsSources.load(resolve_paths()))

    @server.command("test.fail")
    def fail(ls: object, *args: object) -> None:
        raise RuntimeError("boom at /home/someone/secret/path.py")

    @server.command("test.snapshot")
    async def snapshot(ls: object, *args: object) -> str:
        return server.documents.snapshot(str(args[0])).text  # raises DocumentNotOpen

    @server.command("test.circular")
    def circular(ls: object, *args: object) -> list[object]:
        loop: list[object] = []
        loop.append(loop)
        return loop  # cannot be serialised

    return run_stdio(server, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
