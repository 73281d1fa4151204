"""Soak: mixed requests with cancels for a long time; does the server's memory stay flat?

The server runs as shipped over stdio, every feature pointed at a loopback OpenAI-compatible
backend that answers after a short delay (so requests are in flight when cancels arrive).
The client loops over a mix: an edit then a completion, a code-action list, a
``codetune.runAction`` (Explain or Review), a save (diagnostics on save) and a pull
diagnostic. About half of the completions and actions are cancelled with
``$/cancelRequest``, at a random moment. Every request is waited for.

RSS of the server process is sampled every ``--sample-s`` seconds (default 60), together with
the server's own bookkeeping of work in flight (``codetune.status`` → ``pending``). The
result is the least-squares slope of RSS over time, after the first sample (warm-up), in
MB per hour and in bytes per request. Goal: flat within noise.

    python benchmarks/bench_soak.py                # 30 minutes
    python benchmarks/bench_soak.py --minutes 3    # a quick look
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

import psutil
from _bench_common import NOTE, Sandbox, StdioClient, codetune_cmd, machine, write_json

from tests.models.servers import FakeServer, Reply, Seen

SOURCE = (
    "import os\n\n\n"
    "def area(w, h):\n"
    "    result = w * h\n"
    "    return result\n\n\n"
    "def read(path):\n"
    "    with open(path) as handle:\n"
    "        return handle.read()\n"
)
CAPABILITIES = {
    "window": {"workDoneProgress": True},
    "workspace": {"applyEdit": True},
    "textDocument": {
        "completion": {"completionItem": {"snippetSupport": False}},
        "codeAction": {
            "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["", "quickfix"]}},
        },
        "diagnostic": {},
        "publishDiagnostics": {},
    },
}
ANSWER = '{"findings": []}'


def backend(delay_s: float):
    def reply(seen: Seen) -> Reply:
        body = {"choices": [{"text": ANSWER, "finish_reason": "stop"}], "usage": {}}
        return Reply(body=body, delay_s=delay_s)

    return reply


def write_config(box: Sandbox, url: str) -> None:
    box.config.write_text(
        "[store]\ncache_enabled = false\n\n"
        f'[models.loopback]\nbackend = "openai"\nurl = "{url}/v1"\nid = "soak"\n'
        'family = "whiterabbitneo"\nmax_retries = 0\n\n'
        '[features.completion]\nmodel = "loopback"\ndebounce_ms = 0\n\n'
        '[features.code_actions]\nmodel = "loopback"\n\n'
        '[features.diagnostics]\nmodel = "loopback"\nrun_on = ["save"]\n',
        encoding="utf-8",
    )


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    if len(points) < 2:
        return float("nan")
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


class Soak:
    def __init__(self, client: StdioClient, uri: str, rng: random.Random, cancel: float) -> None:
        self.client, self.uri, self.rng, self.cancel_ratio = client, uri, rng, cancel
        self.version = 1
        self.counts: dict[str, int] = {}
        self.actions: list[dict[str, Any]] = []

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def finish(self, msg_id: int, cancel: bool) -> None:
        if cancel:
            self.client.pump(self.rng.uniform(0, 0.08))  # cancel at a random moment
            self.client.notify("$/cancelRequest", {"id": msg_id})
            self.count("cancels")
        response = self.client.wait(msg_id, timeout=120)[1]
        self.count("requests")
        if "error" in response:
            self.count(f"error {response['error'].get('code')}")

    def position(self) -> dict[str, int]:
        return {"line": 5, "character": 17}

    def edit_and_complete(self) -> None:
        self.version += 1
        text = SOURCE.replace("result\n", f"result  # {self.version}\n", 1)
        self.client.replace(self.uri, text, self.version)
        params = {
            "textDocument": {"uri": self.uri},
            "position": self.position(),
            "context": {"triggerKind": 1},
        }
        self.finish(self.client.request("textDocument/completion", params), self.cancelled())

    def list_actions(self) -> None:
        where = {"start": {"line": 4, "character": 4}, "end": {"line": 5, "character": 17}}
        params = {
            "textDocument": {"uri": self.uri},
            "range": where,
            "context": {"diagnostics": []},
        }
        msg_id = self.client.request("textDocument/codeAction", params)
        response = self.client.wait(msg_id, timeout=120)[1]
        self.count("requests")
        self.actions = [
            a
            for a in response.get("result") or []
            if a["title"].startswith(("AI: Explain", "AI: Review"))
        ]

    def run_action(self) -> None:
        if not self.actions:
            self.list_actions()
        action = self.rng.choice(self.actions)
        command = action if isinstance(action.get("command"), str) else action.get("command")
        if not command:  # a literal to resolve first
            msg_id = self.client.request("codeAction/resolve", action)
            command = self.client.wait(msg_id, timeout=120)[1]["result"]["command"]
            self.count("requests")
        params = {"command": command["command"], "arguments": command.get("arguments", [])}
        self.finish(self.client.request("workspace/executeCommand", params), self.cancelled())

    def save_and_pull(self) -> None:
        self.client.notify("textDocument/didSave", {"textDocument": {"uri": self.uri}})
        params = {"textDocument": {"uri": self.uri}}
        self.finish(self.client.request("textDocument/diagnostic", params), self.cancelled())

    def cancelled(self) -> bool:
        return self.rng.random() < self.cancel_ratio

    def step(self) -> None:
        self.rng.choice(
            [
                self.edit_and_complete,
                self.edit_and_complete,
                self.list_actions,
                self.run_action,
                self.run_action,
                self.save_and_pull,
            ]
        )()

    def pending(self) -> dict[str, int]:
        params = {"command": "codetune.status"}
        response = self.client.call("workspace/executeCommand", params, timeout=120)
        self.count("requests")
        return (response.get("result") or {}).get("pending", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--sample-s", type=float, default=60.0, help="RSS sampling interval")
    parser.add_argument("--cancel", type=float, default=0.5, help="share of requests cancelled")
    parser.add_argument("--delay-ms", type=float, default=40.0, help="backend answer delay")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    box = Sandbox()
    try:
        with FakeServer(backend(args.delay_ms / 1000)) as fake:
            fake._server.handle_error = lambda *_: None  # a cancel resets its connection
            write_config(box, fake.url)
            client = StdioClient(codetune_cmd(), box.env)
            process = psutil.Process(client.proc.pid)
            client.initialize(box.workspace, CAPABILITIES)
            uri = (box.workspace / "soak.py").as_uri()
            (box.workspace / "soak.py").write_text(SOURCE, encoding="utf-8")
            client.open(uri, SOURCE)
            soak = Soak(client, uri, random.Random(args.seed), args.cancel)
            for _ in range(20):  # warm up: store opened, every path taken once
                soak.step()

            started = time.perf_counter()
            end = started + args.minutes * 60
            samples: list[dict[str, Any]] = []
            next_sample = started
            while True:
                now = time.perf_counter()
                if now >= next_sample:
                    samples.append(
                        {
                            "t_s": round(now - started, 1),
                            "rss_mb": round(process.memory_info().rss / 2**20, 2),
                            "requests": soak.counts.get("requests", 0),
                            "pending": soak.pending(),
                        }
                    )
                    print(
                        f"t={samples[-1]['t_s']:>7.1f}s  rss={samples[-1]['rss_mb']:>8.2f} MB  "
                        f"requests={samples[-1]['requests']:>7}  pending={samples[-1]['pending']}",
                        flush=True,
                    )
                    next_sample += args.sample_s
                    if now >= end:
                        break
                soak.step()
            client.stop()
    finally:
        box.cleanup()

    steady = samples[1:] if len(samples) > 2 else samples
    per_hour = slope([(s["t_s"] / 3600, s["rss_mb"]) for s in steady])
    per_request = slope([(s["requests"], s["rss_mb"] * 2**20) for s in steady])
    requests = samples[-1]["requests"] - samples[0]["requests"]
    print()
    print(f"requests {requests} in {samples[-1]['t_s']:.0f} s; counts {soak.counts}")
    print(f"RSS first {samples[0]['rss_mb']} MB, last {samples[-1]['rss_mb']} MB")
    print(
        f"slope after the first sample: {per_hour:+.2f} MB/hour, {per_request:+.1f} bytes/request"
    )
    print(f"pending at the end: {samples[-1]['pending']} (all zero when nothing is kept)")
    print(NOTE)
    write_json(
        args.json,
        {
            "machine": machine(),
            "args": vars(args) | {"json": str(args.json) if args.json else None},
            "samples": samples,
            "counts": soak.counts,
            "slope_mb_per_hour": per_hour,
            "slope_bytes_per_request": per_request,
        },
    )


if __name__ == "__main__":
    main()
