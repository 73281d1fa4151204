"""Shared pieces of the feature benchmarks: a sandbox (temp config, data dir, HF_HOME), the
~20M-parameter test model, statistics, a non-blocking stdio LSP client and an in-process
server.

Nothing here changes the package: the server runs as shipped, only its config is written.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import selectors
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from codetune_lsp.framing import Frame, FrameParser, encode_frame  # noqa: E402

HUMANEVAL = Path("/work/shared/data/HumanEval.jsonl.gz")  # MIT licence
PROFILE = "tiny"
# ~20M parameters (hidden 512, 6 layers, GQA 8/2 heads): generation dominates a request.
MODEL_20M = {
    "hidden": 512,
    "layers": 6,
    "heads": 8,
    "kv_heads": 2,
    "intermediate": 1408,
    "vocab_size": 4000,
}
NOTE = (
    "Shared, noisy machine (2 CPU cores, other jobs running): absolute times vary from run to "
    "run; the ratios against the baseline measured in the same run are what matters."
)


# -- statistics ---------------------------------------------------------------------------


def pick(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    """Median, p90, p99, max and mean of samples in seconds, as milliseconds."""
    return {
        "n": len(samples_s),
        "median_ms": round(statistics.median(samples_s) * 1000, 3),
        "p90_ms": round(pick(samples_s, 0.90) * 1000, 3),
        "p99_ms": round(pick(samples_s, 0.99) * 1000, 3),
        "max_ms": round(max(samples_s) * 1000, 3),
        "mean_ms": round(statistics.fmean(samples_s) * 1000, 3),
    }


def paired_ratio(subject: list[float], baseline: list[float]) -> float:
    """Median of the per-pair ratios: each pair ran back to back, so slow drifts of the
    machine's load cancel out better than in a ratio of medians."""
    return statistics.median(a / b for a, b in zip(subject, baseline, strict=True))


def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    width = max(len(title), *(len(name) for name in rows))
    print(f"{title:<{width}} {'n':>6} {'median ms':>10} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for name, s in rows.items():
        print(
            f"{name:<{width}} {s['n']:>6} {s['median_ms']:>10.3f} {s['p90_ms']:>9.3f} "
            f"{s['p99_ms']:>9.3f} {s['max_ms']:>9.3f}"
        )


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_json(path: Path | None, results: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"JSON written to {path}")


# -- source text ----------------------------------------------------------------------------


def humaneval(limit: int | None = None) -> list[dict[str, str]]:
    """HumanEval problems (prompt + canonical solution); a synthetic stand-in if missing."""
    problems: list[dict[str, str]] = []
    if HUMANEVAL.exists():
        with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                problems.append({"prompt": row["prompt"], "solution": row["canonical_solution"]})
                if limit is not None and len(problems) >= limit:
                    break
    if not problems:
        for i in range(limit or 164):
            problems.append(
                {
                    "prompt": f'def f{i}(xs: list[int]) -> int:\n    """Sum plus {i}."""\n',
                    "solution": f"    total = {i}\n    for x in xs:\n        total += x\n"
                    "    return total\n",
                }
            )
    return problems


def python_file(lines: int) -> str:
    """A Python file of exactly ``lines`` lines made of HumanEval prompts and solutions."""
    out: list[str] = []
    problems = humaneval()
    i = 0
    while len(out) < lines:
        p = problems[i % len(problems)]
        out += (p["prompt"] + p["solution"] + "\n\n").splitlines()
        i += 1
    return "\n".join(out[:lines]) + "\n"


# -- the sandbox ----------------------------------------------------------------------------


class Sandbox:
    """A temp dir holding the config file, the data dir, HF_HOME and a workspace folder."""

    def __init__(self, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="codetune-bench-"))
        self.keep = keep
        self.config = self.root / "config.toml"
        self.data = self.root / "data"
        self.prompts = self.root / "prompts"
        self.workspace = self.root / "ws"
        self.hf_home = self.root / "hf"
        for d in (self.data, self.prompts, self.workspace, self.hf_home):
            d.mkdir(parents=True)
        self.env = {
            "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "1",
            "HF_HOME": str(self.hf_home),
            "CODETUNE_HOME": str(self.data),
            "CODETUNE_CONFIG": str(self.config),
            "TOKENIZERS_PARALLELISM": "false",
        }
        os.environ.update(self.env)  # in-process services see the same sandbox

    def write_config(
        self,
        model: Path,
        *,
        cache: bool = True,
        completion: str = "",
        code_actions: str = "",
        diagnostics: str = "",
    ) -> None:
        """The user config: the test model for every feature, plus extra TOML lines for each
        feature's table."""
        self.config.write_text(
            f"[store]\ncache_enabled = {str(cache).lower()}\n\n"
            f'[models.{PROFILE}]\nfamily = "whiterabbitneo"\nid = "{model}"\n\n'
            f'[features.completion]\nmodel = "{PROFILE}"\n{completion}\n'
            f'[features.code_actions]\nmodel = "{PROFILE}"\n{code_actions}\n'
            f'[features.diagnostics]\nmodel = "{PROFILE}"\n{diagnostics}\n',
            encoding="utf-8",
        )

    def history(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = self.data / "codetune.db"
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
            return conn.execute(sql, args).fetchall()

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def model_path(kind: str = "20m") -> Path:
    """Build the test model once per machine (cached in the temp dir; no download)."""
    params = MODEL_20M if kind == "20m" else {}
    cache = Path(tempfile.gettempdir()) / "codetune-bench-models" / f"llama-{kind}-v1"
    if (cache / "model.safetensors").exists() and (cache / "tokenizer.json").exists():
        return cache
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tests.models.tiny_models import build_llama

    building = cache.with_name(cache.name + f".{os.getpid()}.tmp")
    shutil.rmtree(building, ignore_errors=True)
    build_llama(building, **params)
    shutil.rmtree(cache, ignore_errors=True)
    building.rename(cache)
    return cache


# -- a stdio client ------------------------------------------------------------------------


class StdioClient:
    """Spawns a server and talks LSP over its stdin/stdout, from this one thread.

    Requests from the server (progress tokens, configuration) are answered with null;
    notifications go to ``on_notification`` (time received, message) when it is set.
    """

    def __init__(
        self,
        cmd: list[str],
        env: dict[str, str],
        on_notification: Callable[[float, dict[str, Any]], None] | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._fd, selectors.EVENT_READ)
        self._parser = FrameParser()
        self.responses: dict[Any, tuple[float, dict[str, Any]]] = {}
        self.on_notification = on_notification
        self._next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(encode_frame(json.dumps(message).encode()))
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any = None) -> int:
        self._next_id += 1
        self.send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return self._next_id

    def pump(self, timeout: float, once: bool = False) -> None:
        """Read and dispatch whatever arrives within ``timeout`` seconds (at least one poll);
        with ``once``, return after the first read."""
        deadline = time.perf_counter() + timeout
        while True:
            remaining = deadline - time.perf_counter()
            if not self._sel.select(max(remaining, 0)):
                return
            try:
                chunk = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise RuntimeError("the server closed its output")
            now = time.perf_counter()
            for event in self._parser.feed(chunk):
                if isinstance(event, Frame):
                    self._dispatch(now, json.loads(event.body))
            if once or remaining <= 0:
                return

    def _dispatch(self, now: float, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:  # a request from the server
            self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        elif "method" in message:
            if self.on_notification is not None:
                self.on_notification(now, message)
        else:
            self.responses[message.get("id")] = (now, message)

    def wait(self, msg_id: int, timeout: float = 120.0) -> tuple[float, dict[str, Any]]:
        """(time received, response) of request ``msg_id``."""
        deadline = time.perf_counter() + timeout
        while msg_id not in self.responses:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no answer to request {msg_id} in {timeout} s")
            self.pump(deadline - time.perf_counter(), once=True)
        return self.responses.pop(msg_id)

    def call(self, method: str, params: Any = None, timeout: float = 120.0) -> dict[str, Any]:
        return self.wait(self.request(method, params), timeout)[1]

    def timed(self, method: str, params: Any) -> tuple[float, dict[str, Any]]:
        """One round trip: seconds from writing the request to parsing its answer."""
        started = time.perf_counter()
        received, response = self.wait(self.request(method, params))
        return received - started, response

    def initialize(self, root: Path, capabilities: dict[str, Any]) -> dict[str, Any]:
        result = self.call(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": "ws"}],
                "capabilities": capabilities,
            },
        )
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": version,
                    "text": text,
                }
            },
        )

    def replace(self, uri: str, text: str, version: int) -> None:
        self.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"text": text}],
            },
        )

    def warm_completion(self, params: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
        """Request until an answer has an item: the first requests may end empty while the
        model loads (a completion gives up after features.completion.timeout_ms)."""
        deadline = time.perf_counter() + timeout
        while True:
            response = self.call("textDocument/completion", params, timeout=timeout)
            result = response.get("result") or {}
            if result.get("items") or time.perf_counter() > deadline:
                return response
            time.sleep(0.5)

    def stop(self) -> None:
        try:
            self.wait(self.request("shutdown"), timeout=30)
            self.notify("exit", None)
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait(10)
        self._sel.close()


def compile_bytecode(*checkouts: Path) -> None:
    """Write each checkout's ``codetune_lsp`` bytecode, as installing a wheel does. An
    editable checkout in an environment with PYTHONDONTWRITEBYTECODE set (these machines)
    would otherwise compile its sources on every start (about 60 ms of start-up here)."""
    import compileall

    for checkout in checkouts:
        compileall.compile_dir(checkout / "codetune_lsp", quiet=1)


def codetune_cmd() -> list[str]:
    return [sys.executable, "-m", "codetune_lsp"]


def bare_cmd() -> list[str]:
    return [sys.executable, str(HERE / "bare_completion_server.py")]


# -- an in-process server -------------------------------------------------------------------


async def in_process_server(capabilities: Any = None) -> Any:
    """The real server object with its services open, not connected to any client.

    Call inside a running event loop; the sandbox's env must already be in place.
    """
    from lsprotocol import types

    from codetune_lsp.paths import resolve_paths
    from codetune_lsp.server import create_server
    from codetune_lsp.settings import SettingsSources

    server = create_server(SettingsSources.load(resolve_paths()))
    server.protocol.client_capabilities = capabilities or types.ClientCapabilities()
    await server.services()
    return server


async def load_model(server: Any, profile: str = PROFILE) -> Any:
    services = await server.services()
    backend = services.engine.backend(profile)
    await backend.ready()
    return backend


async def overhead_with_instant_backend(
    backend: Any, result: Any, run: Callable[[], Any], n: int = 50
) -> list[float]:
    """Time ``run()`` with ``backend.generate`` answering ``result`` at once: what the path
    costs around the model, free of the model's (noisy) time."""

    async def instant(request: Any) -> Any:
        return result

    backend.generate = instant
    try:
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            await run()
            samples.append(time.perf_counter() - started)
        return samples
    finally:
        del backend.generate


class Spy:
    """Wraps ``backend.generate`` to keep the GenerationRequests the engine builds."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.requests: list[Any] = []
        self._real = backend.generate

    def __enter__(self) -> Spy:
        real = self._real

        async def spying(request: Any) -> Any:
            self.requests.append(request)
            return await real(request)

        self.backend.generate = spying
        return self

    def __exit__(self, *exc: object) -> None:
        del self.backend.generate  # back to the class method
