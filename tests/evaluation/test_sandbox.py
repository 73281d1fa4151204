"""Untrusted code is contained: each escape attempt ends as a failed item, nothing hangs,
nothing is left behind."""

from __future__ import annotations

import asyncio
import socket
import tempfile
from pathlib import Path

import pytest

from codetune_lsp.evaluation.sandbox import Limits, run_python

# The CPU limit above the wall-clock one: a busy loop then always ends by the timeout (with
# equal limits the kernel's CPU kill and the timeout raced, and either could win).
LIMITS = Limits(timeout_s=5, cpu_s=10)


def _run(program: str):  # type: ignore[no-untyped-def]
    return asyncio.run(run_python(program, LIMITS))


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("codetune-eval-*")}


def test_a_passing_program_passes_in_its_own_network_namespace() -> None:
    result = _run("import math\nprint(math.sqrt(16))")
    assert result.passed and result.stdout.strip() == "4.0"
    assert result.network == "isolated" or result.network.startswith("shared: ")


@pytest.mark.parametrize(
    ("name", "program", "reason"),
    [
        ("infinite loop", "while True:\n    pass", "timed out"),
        ("fork bomb", "import os\nwhile True:\n    os.fork()", "os.fork is not allowed"),
        ("subprocess", "import subprocess\nsubprocess.run(['true'])", "not allowed"),
        ("memory bomb", "x = bytearray(8 * 1024 ** 3)", "MemoryError"),
        ("stdin", "input()", "EOFError"),
        ("huge output", "while True:\n    print('x' * 1000)", ""),
    ],
)
def test_escape_attempts_fail_without_hanging(name: str, program: str, reason: str) -> None:
    before = _leftovers()
    result = _run(program)
    assert not result.passed, name
    assert reason in result.reason
    assert len(result.stdout) <= 64 * 1024
    assert _leftovers() <= before


def test_writing_outside_the_work_dir_fails_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    result = _run(f"open({str(target)!r}, 'w').write('x')")
    assert not result.passed and "not allowed" in result.reason
    assert not target.exists()
    assert _run("open('inside.txt', 'w').write('x')").passed


def test_a_socket_cannot_reach_a_listening_server() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0)
        port = listener.getsockname()[1]
        program = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
        result = _run(program)
        assert not result.passed
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody ever connected
