"""One runtime in its own process (for a clean RSS): load, three generations, print JSON.

python benchmarks/_runtime_child.py MODEL.gguf RUNTIME TOKENS < prompts (one per line)
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import psutil

from codetune_lsp.models.base import GenerationRequest
from codetune_lsp.models.local import LocalBackend
from codetune_lsp.settings import ModelProfile


async def main(path: str, runtime: str, tokens: int) -> None:
    profile = ModelProfile(family="qwen2.5-coder", id=path, runtime=runtime)  # type: ignore[arg-type]
    backend = LocalBackend("bench", profile)
    started = time.perf_counter()
    await backend.ready()
    load = time.perf_counter() - started
    speeds = []
    for _ in range(3):
        prompt = sys.stdin.readline().rstrip("\n").replace("\\n", "\n")
        result = await backend.generate(GenerationRequest(prompt=prompt, max_new_tokens=tokens))
        speeds.append(result.tokens_out / result.duration_s)
    rss = psutil.Process().memory_info().rss / 2**20
    converted = any("converting" in stage for stage in backend.stages)
    await backend.close()
    speed = sorted(speeds)[1]
    print(
        json.dumps({"load_s": load, "tokens_per_s": speed, "rss_mib": rss, "converted": converted})
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
