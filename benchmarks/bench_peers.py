"""Server overhead side by side: a bare pygls server, tabby-agent and codetune-lsp.

Each server gets the same session over stdio, in one run, alternating, ``--reps`` times:
initialize, open a 200-line Python file, then ``--requests`` completion requests
(``Invoked``) at varying positions with a full-text ``didChange`` before every third one.
The backends are one loopback stub HTTP server in this process that answers at once, so
what is measured is each server's own cost:

- bare pygls (``bare_completion_server.py``): answers one fixed item; the floor.
- tabby-agent 1.5.0 from npm, ``--lsp --stdio``, pointed at the stub's Tabby endpoints
  (``/v1/health``, ``/v1/completions``) through ``$HOME/.tabby-client/agent/config.toml``
  in a temp HOME; debounce fixed at 0, anonymous usage tracking off. Installed with npm
  into ``~/.cache/codetune-lsp/bench/tabby-agent`` on first use (needs node ≥ 18 and npm).
- codetune-lsp, ``backend = "openai"`` at the stub's ``/v1``, ``debounce_ms = 0``, every
  feature on the stub and diagnostics on save only (no save is sent); the response cache
  stays on, and every request differs (position or text), so each one is a
  miss that reaches the backend (counted by the stub).

Measured per server: spawn → initialize answered, spawn → first completion with an item,
the uncached completion round trip (p50/p99 over all reps), the server process's CPU time
(user + system, children included) from spawn to the end of the requests, and its RSS then.

    python benchmarks/bench_peers.py [--reps 3 --requests 300 --json peers.json]

``--baseline DIR`` adds a fourth server: codetune-lsp imported from another checkout
(e.g. ``git archive main codetune_lsp | tar -x -C DIR``), so a change is measured
before and after in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
from _bench_common import (
    NOTE,
    ROOT,
    Sandbox,
    StdioClient,
    bare_cmd,
    codetune_cmd,
    compile_bytecode,
    machine,
    pick,
    python_file,
    write_json,
)

TABBY_VERSION = "1.5.0"
TABBY_DIR = Path.home() / ".cache" / "codetune-lsp" / "bench" / "tabby-agent"
SUGGESTION = "total = sum(values)"
LINES = 200
CAPABILITIES = {
    "textDocument": {
        "completion": {"completionItem": {"snippetSupport": False}},
        "synchronization": {"didSave": True},
    },
    "general": {"positionEncodings": ["utf-16"]},
}
BASELINE = "codetune base"  # --baseline: the same server from another checkout
GOALS = {  # from the issue: codetune-lsp's targets
    "initialize_ms": "≤ tabby-agent",
    "first_completion_ms": "≤ 350",
    "rtt_p50_ms": "≤ 2",
    "rtt_p99_ms": "≤ 6",
    "cpu_s": "≤ 0.6",
    "rss_mb": "≤ 60",
}


# -- the stub backend ----------------------------------------------------------------------


class Stub:
    """Answers Tabby's and the OpenAI-compatible endpoints at once; counts completions.

    Each reply goes out in one write with Nagle off: a reply split in two writes would wait
    for the client's delayed ACK (~40 ms on Linux) and hide every server's own cost.
    """

    def __init__(self) -> None:
        self.completions = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                status, reply = outer.reply(self.path.split("?", 1)[0], body)
                payload = json.dumps(reply).encode()
                head = (
                    f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                    "content-type: application/json\r\n"
                    f"content-length: {len(payload)}\r\n\r\n"
                ).encode()
                self.wfile.write(head + payload)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Stub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply(self, path: str, body: Any) -> tuple[int, Any]:
        if path == "/v1/health":
            return 200, {
                "model": "stub",
                "device": "cpu",
                "arch": "x86_64",
                "cpu_info": "stub",
                "cpu_count": 1,
                "cuda_devices": [],
                "version": {"build_date": "2024-01-01", "git_describe": "v0.8.0"},
            }
        if path == "/v1/completions" and isinstance(body, dict) and "segments" in body:
            self.completions += 1  # Tabby's own completion API
            return 200, {
                "id": f"cmpl-{self.completions}",
                "choices": [{"index": 0, "text": SUGGESTION}],
            }
        if path in ("/v1/completions", "/v1/chat/completions"):
            self.completions += 1
            choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
            if path.endswith("chat/completions"):
                choice["message"] = {"role": "assistant", "content": SUGGESTION}
            else:
                choice["text"] = SUGGESTION
            return 200, {"id": "x", "choices": [choice], "usage": {}}
        if path == "/v1/events":
            return 200, {}
        return 404, {"error": "not found"}


# -- the peers ------------------------------------------------------------------------------


def tabby_cli() -> Path:
    """tabby-agent's CLI, installed from npm into the cache dir on first use."""
    package = TABBY_DIR / "node_modules" / "tabby-agent"
    if (
        not (package / "package.json").exists()
        or json.loads((package / "package.json").read_text()).get("version") != TABBY_VERSION
    ):
        if shutil.which("npm") is None or shutil.which("node") is None:
            raise SystemExit("tabby-agent needs node >= 18 and npm on PATH")
        TABBY_DIR.mkdir(parents=True, exist_ok=True)
        manifest = TABBY_DIR / "package.json"
        if not manifest.exists():
            manifest.write_text('{"name": "bench-peers", "private": true}\n')
        print(f"installing tabby-agent@{TABBY_VERSION} into {TABBY_DIR} ...", flush=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", f"tabby-agent@{TABBY_VERSION}"],
            cwd=TABBY_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    bin_rel = json.loads((package / "package.json").read_text())["bin"]["tabby-agent"]
    return (package / bin_rel).resolve()


def tabby_home(box: Sandbox, url: str) -> Path:
    home = box.root / "tabby-home"
    config = home / ".tabby-client" / "agent" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[server]\nendpoint = "{url}"\n\n'
        '[completion.debounce]\nmode = "fixed"\ninterval = 0\n\n'
        '[logs]\nlevel = "silent"\n\n'
        "[anonymousUsageTracking]\ndisable = true\n",
        encoding="utf-8",
    )
    return home


def codetune_config(box: Sandbox, url: str) -> None:
    box.config.write_text(
        f'[models.stub]\nbackend = "openai"\nurl = "{url}/v1"\nid = "stub"\n'
        'family = "whiterabbitneo"\nmax_retries = 0\n\n'
        '[features.completion]\nmodel = "stub"\ndebounce_ms = 0\n\n'
        # Completion only, like tabby-agent: the other features on the stub too, and no
        # diagnostics run on open (the embedded local model would load otherwise).
        '[features.code_actions]\nmodel = "stub"\n\n'
        '[features.diagnostics]\nmodel = "stub"\nrun_on = ["save"]\n',
        encoding="utf-8",
    )


# -- one session ----------------------------------------------------------------------------


def edited(text: str, line: int, n: int) -> str:
    """``text`` with a comment line inserted above ``line``: a new version each edit."""
    lines = text.split("\n")
    indent = lines[line][: len(lines[line]) - len(lines[line].lstrip())]
    lines.insert(line, f"{indent}# edit {n}")
    return "\n".join(lines)


def cpu_s(process: psutil.Process) -> float:
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def rss_mb(process: psutil.Process) -> float:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def session(
    cmd: list[str], env: dict[str, str], box: Sandbox, requests: int, salt: str
) -> dict[str, Any]:
    """One server's session; ``salt`` makes its text unlike any earlier session's, so the
    store's response cache, which outlives a process, holds nothing for it. It ends every
    tenth line as a comment, so every prompt window holds it (on line 1 alone, it fell
    outside most windows, and a third of the requests were answered from the cache)."""
    lines = (f"# session {salt}\n" + python_file(LINES - 1)).split("\n")
    base = "\n".join(
        f"{line}  # {salt}" if n % 10 == 5 and line.strip() else line
        for n, line in enumerate(lines)
    )
    path = box.workspace / "peers.py"
    path.write_text(base, encoding="utf-8")
    uri = path.as_uri()
    started = time.perf_counter()
    client = StdioClient(cmd, env)
    process = psutil.Process(client.proc.pid)
    try:
        client.initialize(box.workspace, CAPABILITIES)
        initialized = time.perf_counter() - started
        client.open(uri, base)
        text, version, edits = base, 1, 0
        lines = text.split("\n")
        # Cursor at the end of non-blank lines, walking the file; an edit every third request
        # inserts a comment above the next cursor, so every request differs from the others.
        targets = [  # not a salted line: a cursor after a comment asks for nothing
            i for i, line in enumerate(lines[:-1]) if line.strip() and not line.endswith(salt)
        ]
        samples: list[float] = []
        steady: list[float] = []
        first = None
        empty = 0
        cpu_first = 0.0
        # The first one is spawn → first completion; ``requests`` follow at once (start-up
        # still under way), then, once the server has settled, ``requests`` more (steady).
        for i in range(2 * requests + 1):
            if i == requests + 1:
                settle(client, cmd)
            line = targets[(i * 7) % len(targets)] + edits
            if i % 3 == 0 and i > 0:
                edits += 1
                version += 1
                text = edited(text, line, edits)
                line += 1
                client.replace(uri, text, version)
            character = len(text.split("\n")[line])
            params = {
                "textDocument": {"uri": uri},
                "position": {"line": line, "character": character},
                "context": {"triggerKind": 1},
            }
            elapsed, response = client.timed("textDocument/completion", params)
            result = response.get("result") or {}
            items = result.get("items") if isinstance(result, dict) else result
            if not items:
                empty += 1
            if first is None:
                first = time.perf_counter() - started
                cpu_first = cpu_s(process)
            else:
                (samples if i <= requests else steady).append(elapsed)
        cpu = cpu_s(process)
        rss = rss_mb(process)
    finally:
        client.stop()
    return {
        "initialize_s": initialized,
        "first_completion_s": first,
        "samples": samples,
        "steady": steady,
        "empty": empty,
        "cpu_s": cpu,
        "cpu_requests_s": cpu - cpu_first,
        "rss_mb": rss,
    }


def settle(client: StdioClient, cmd: list[str]) -> None:
    """Let the server reach its steady state. codetune-lsp opens its history store in the
    first pause after start-up (a burst of requests does not wait for it): a command that
    reads the store waits until it is open. The peers have nothing to wait for."""
    if "codetune_lsp" in cmd:
        client.call(
            "workspace/executeCommand", {"command": "codetune.prompts.list", "arguments": []}
        )


# -- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="also run codetune-lsp imported from DIR (a checkout holding codetune_lsp/)",
    )
    args = parser.parse_args()

    compile_bytecode(ROOT, *([args.baseline] if args.baseline is not None else []))
    box = Sandbox()
    try:
        with Stub() as stub:
            codetune_config(box, stub.url)
            home = tabby_home(box, stub.url)
            servers: dict[str, tuple[list[str], dict[str, str]]] = {
                "bare pygls": (bare_cmd(), box.env),
                "tabby-agent": (
                    ["node", str(tabby_cli()), "--lsp", "--stdio"],
                    {**box.env, "HOME": str(home)},
                ),
                "codetune-lsp": (codetune_cmd(), box.env),
            }
            if args.baseline is not None:
                # -P: not the current directory first on sys.path (it may hold another
                # codetune_lsp), only PYTHONPATH.
                baseline_env = {**box.env, "PYTHONPATH": str(args.baseline.resolve())}
                servers[BASELINE] = ([sys.executable, "-P", "-m", "codetune_lsp"], baseline_env)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
            calls: dict[str, list[int]] = {name: [] for name in servers}
            names = list(servers)
            for name in names:  # warm-up, not counted: OS file cache, the store created
                session(*servers[name], box, 3, f"warm-up {name}")
            for rep in range(args.reps):
                order = names[rep % len(names) :] + names[: rep % len(names)]
                for name in order:
                    cmd, env = servers[name]
                    before = stub.completions
                    runs[name].append(session(cmd, env, box, args.requests, f"{rep} {name}"))
                    calls[name].append(stub.completions - before)
                    r = runs[name][-1]
                    print(
                        f"rep {rep + 1} {name:<13} init {r['initialize_s'] * 1000:7.1f} ms  "
                        f"first {r['first_completion_s'] * 1000:7.1f} ms  "
                        f"p50 {statistics.median(r['samples']) * 1000:6.2f} ms  "
                        f"cpu {r['cpu_s']:5.2f} s  rss {r['rss_mb']:5.1f} MB  "
                        f"backend calls {calls[name][-1]}  empty {r['empty']}",
                        flush=True,
                    )
    finally:
        box.cleanup()

    table = {name: aggregate(rows, calls[name]) for name, rows in runs.items()}
    print_table(table, args)
    write_json(
        args.json,
        {
            "machine": machine(),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "results": table,
            "goals": GOALS,
            "runs": {
                name: [{k: v for k, v in r.items() if k not in ("samples", "steady")} for r in rows]
                for name, rows in runs.items()
            },
        },
    )


def aggregate(rows: list[dict[str, Any]], calls: list[int]) -> dict[str, Any]:
    pooled = [s for r in rows for s in r["samples"]]
    steady = [s for r in rows for s in r["steady"]]
    return {
        "initialize_ms": statistics.median(r["initialize_s"] for r in rows) * 1000,
        "first_completion_ms": statistics.median(r["first_completion_s"] for r in rows) * 1000,
        "rtt_p50_ms": statistics.median(pooled) * 1000,
        "rtt_p99_ms": pick(pooled, 0.99) * 1000,
        "steady_p50_ms": statistics.median(steady) * 1000,
        "steady_p99_ms": pick(steady, 0.99) * 1000,
        "cpu_s": statistics.median(r["cpu_s"] for r in rows),
        "cpu_requests_s": statistics.median(r["cpu_requests_s"] for r in rows),
        "rss_mb": statistics.median(r["rss_mb"] for r in rows),
        "backend_calls": calls,
        "empty_answers": [r["empty"] for r in rows],
        "n_rtt": len(pooled),
    }


ROWS = [
    ("initialize_ms", "spawn → initialize, median ms", "{:.0f}"),
    ("first_completion_ms", "spawn → first completion, ms", "{:.0f}"),
    ("rtt_p50_ms", "round trip p50 after start, ms", "{:.2f}"),
    ("rtt_p99_ms", "round trip p99 after start, ms", "{:.2f}"),
    ("steady_p50_ms", "round trip p50 settled, ms", "{:.2f}"),
    ("steady_p99_ms", "round trip p99 settled, ms", "{:.2f}"),
    ("cpu_s", "server CPU, spawn → last answer, s", "{:.2f}"),
    ("cpu_requests_s", "server CPU after the first answer, s", "{:.2f}"),
    ("rss_mb", "RSS after the run, MB", "{:.0f}"),
]


def print_table(table: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    bare, tabby, ours = table["bare pygls"], table["tabby-agent"], table["codetune-lsp"]
    print()
    print(
        f"{args.reps} reps alternating, 1 + 2 x {args.requests} uncached completions each "
        f"({args.requests} right after the first, {args.requests} once settled), stub backends"
    )
    base = table.get(BASELINE)
    head = f"{'measure':<38} {'bare':>8} {'tabby':>8} {'codetune':>9} {'÷bare':>7} {'÷tabby':>7}"
    if base is not None:
        head += f" {'base':>8} {'÷bare':>7} {'÷tabby':>7}"
    print(head)
    print("-" * len(head))
    for key, label, fmt in ROWS:
        line = (
            f"{label:<38} {fmt.format(bare[key]):>8} {fmt.format(tabby[key]):>8} "
            f"{fmt.format(ours[key]):>9} {ours[key] / bare[key]:>6.2f}x "
            f"{ours[key] / tabby[key]:>6.2f}x"
        )
        if base is not None:
            line += (
                f" {fmt.format(base[key]):>8} {base[key] / bare[key]:>6.2f}x "
                f"{base[key] / tabby[key]:>6.2f}x"
            )
        print(line)
    print(
        f"backend calls per run: tabby {tabby['backend_calls']}, "
        f"codetune {ours['backend_calls']} (each request a miss when = {2 * args.requests + 1})"
    )
    print(
        f"empty answers per run: bare {bare['empty_answers']}, tabby {tabby['empty_answers']}, "
        f"codetune {ours['empty_answers']}"
    )
    print("goals for codetune-lsp: " + ", ".join(f"{k} {v}" for k, v in GOALS.items()))
    print(NOTE)


if __name__ == "__main__":
    if str(Path(__file__).resolve().parent) not in sys.path:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
