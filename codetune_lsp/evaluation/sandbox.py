"""Run untrusted Python (HumanEval tests, user tests, model answers) in a contained process.

Each run gets a fresh temporary working directory (removed afterwards), a closed stdin,
stdout and stderr written to files there (so the file-size limit caps them), an environment
with nothing of the caller's in it, resource limits (address space, CPU seconds, file size,
processes), a wall-clock timeout that kills the whole process group, and, where the kernel
allows it, an empty network namespace. ``_bootstrap.py`` sets all of that up inside the
child before the program runs; what it could not do is reported in ``SandboxResult.network``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BOOTSTRAP = Path(__file__).with_name("_bootstrap.py")
OUTPUT_CAP = 64 * 1024  # characters kept of stdout and of stderr


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_bytes: int = 1024 * 1024 * 1024
    cpu_s: int = 10
    file_bytes: int = 1024 * 1024
    processes: int = 1  # the process itself; no children


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    seconds: float
    network: str  # "isolated", or "shared: why" when no namespace could be made

    @property
    def reason(self) -> str:
        """One line saying why it failed ("" when it passed)."""
        if self.passed:
            return ""
        if self.timed_out:
            return "timed out"
        if self.returncode is not None and self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = str(-self.returncode)
            return f"killed by {name}"
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return (lines[-1] if lines else f"exit status {self.returncode}")[:300]


def _scrubbed_env(work: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": work,
        "TMPDIR": work,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONIOENCODING": "utf-8",
    }


def _read(path: Path) -> str:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return handle.read(OUTPUT_CAP)
    except OSError:
        return ""


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_python(program: str, limits: Limits | None = None) -> SandboxResult:
    """Run ``program`` (Python source) contained; never raises for what the program does."""
    limits = limits or Limits()
    work = tempfile.mkdtemp(prefix="codetune-eval-")
    started = time.perf_counter()
    try:
        root = Path(work)
        (root / "program.py").write_text(program, encoding="utf-8")
        with (root / "stdout.txt").open("wb") as out, (root / "stderr.txt").open("wb") as err:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-B",
                str(BOOTSTRAP),
                "program.py",
                str(limits.memory_bytes),
                str(limits.cpu_s),
                str(limits.file_bytes),
                str(limits.processes),
                cwd=work,
                env=_scrubbed_env(work),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group, killed as one
            )
        timed_out = False
        try:
            returncode: int | None = await asyncio.wait_for(process.wait(), limits.timeout_s)
        except TimeoutError:
            timed_out = True
            _kill_group(process.pid)
            returncode = await process.wait()
        except asyncio.CancelledError:
            _kill_group(process.pid)
            await asyncio.shield(process.wait())
            raise
        _kill_group(process.pid)  # anything it left behind in its group
        network = _read(root / "network.txt").strip() or "unknown: the sandbox did not start"
        return SandboxResult(
            passed=returncode == 0 and not timed_out,
            returncode=returncode,
            timed_out=timed_out,
            stdout=_read(root / "stdout.txt"),
            stderr=_read(root / "stderr.txt"),
            seconds=time.perf_counter() - started,
            network=network,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def network_isolation() -> str:
    """Whether runs get their own network namespace here ("isolated" or "shared: why")."""
    return asyncio.run(run_python("pass", Limits(timeout_s=30))).network
