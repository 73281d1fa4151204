"""Backend overheads, measured in one run: ``python benchmarks/bench_backends.py``.

1. local backend vs raw ``model.generate`` on a ~20M-parameter random Llama (target <= 1.10x);
2. 8 concurrent requests batched vs one by one (throughput ratio);
3. remote OpenAI backend vs a raw aiohttp call to the same llama.cpp server (target <= 1.10x;
   skipped when llama-cpp-python[server] is not installed);
4. weights memory of nf4 and int8 relative to fp32 (``model.get_memory_footprint()``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="bench-hf-"))

from codetune_lsp.models.base import GenerationRequest  # noqa: E402
from codetune_lsp.models.local import LocalBackend  # noqa: E402
from codetune_lsp.settings import ModelProfile  # noqa: E402
from tests.models.tiny_models import build_gguf, build_llama  # noqa: E402

PROMPT = "def is_palindrome(text: str) -> bool:\n"
NEW_TOKENS = 48
REPEATS = 5


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def _ms(samples: list[float]) -> str:
    return f"{_median(samples) * 1000:.1f} ms"


async def bench_local(path: Path) -> list[tuple[str, str]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    backend = LocalBackend("bench", ModelProfile(id=str(path)))
    loaded = await backend.ready()
    params = sum(p.numel() for p in loaded.model.parameters())
    tok = AutoTokenizer.from_pretrained(path)
    raw = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    enc = tok(PROMPT, return_tensors="pt")

    def raw_once() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            raw.generate(
                **enc,
                max_new_tokens=NEW_TOKENS,
                do_sample=False,
                eos_token_id=loaded.eos_ids,
                pad_token_id=tok.pad_token_id,
            )
        return time.perf_counter() - start

    async def backend_once() -> float:
        start = time.perf_counter()
        await backend.generate(GenerationRequest(prompt=PROMPT, max_new_tokens=NEW_TOKENS))
        return time.perf_counter() - start

    raw_once()
    await backend_once()
    raw_t, backend_t = [], []
    for _ in range(REPEATS):  # interleaved, so drift hits both alike
        raw_t.append(raw_once())
        backend_t.append(await backend_once())
    ratio = _median(backend_t) / _median(raw_t)

    prompts = [
        PROMPT,
        "import os\n",
        "class Stack:\n",
        "for i in range(",
        "x = [",
        "def main():\n",
        "async def fetch(url):\n",
        "# sort the list\n",
    ]
    start = time.perf_counter()
    for p in prompts:
        await backend.generate(GenerationRequest(prompt=p, max_new_tokens=NEW_TOKENS))
    serial = time.perf_counter() - start
    start = time.perf_counter()
    await asyncio.gather(
        *(backend.generate(GenerationRequest(prompt=p, max_new_tokens=NEW_TOKENS)) for p in prompts)
    )
    batched = time.perf_counter() - start
    sizes = backend.batch_sizes[-3:]
    await backend.close()
    return [
        (
            "model",
            f"random Llama, {params / 1e6:.1f}M parameters, fp32, CPU, {NEW_TOKENS} new tokens",
        ),
        (
            "local backend / raw generate",
            f"{ratio:.3f}x  (median {_ms(backend_t)} vs {_ms(raw_t)})",
        ),
        (
            "8 requests: batched vs one by one",
            f"{serial / batched:.2f}x throughput  ({serial:.2f} s -> {batched:.2f} s, "
            f"batch sizes {sizes})",
        ),
    ]


def bench_memory(path: Path) -> list[tuple[str, str]]:
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    def footprint(q: BitsAndBytesConfig | None) -> int:
        kwargs = {"dtype": torch.float32}
        if q is not None:
            kwargs["quantization_config"] = q
        return AutoModelForCausalLM.from_pretrained(path, **kwargs).get_memory_footprint()

    fp32 = footprint(None)
    int8 = footprint(BitsAndBytesConfig(load_in_8bit=True))
    nf4 = footprint(
        BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
        )
    )
    return [
        ("memory fp32", f"{fp32 / 2**20:.1f} MiB"),
        ("memory int8 / fp32", f"{int8 / fp32:.3f}  ({int8 / 2**20:.1f} MiB)"),
        ("memory nf4 / fp32", f"{nf4 / fp32:.3f}  ({nf4 / 2**20:.1f} MiB)"),
    ]


async def bench_remote(tmp: Path) -> list[tuple[str, str]]:
    try:
        import llama_cpp.server  # noqa: F401
    except Exception as exc:
        return [
            (
                "remote backend / raw aiohttp",
                f"skipped: llama-cpp-python[server] unavailable ({exc})",
            )
        ]
    import aiohttp

    from codetune_lsp.models.openai import OpenAIBackend
    from tests.models.servers import LLAMA_KEY, llama_cpp_server

    gguf = build_gguf(tmp / "bench.gguf")
    os.environ["BENCH_LLAMA_KEY"] = LLAMA_KEY
    with llama_cpp_server(gguf, tmp / "server.log") as url:
        profile = ModelProfile(backend="openai", id="tiny", url=url, api_key_env="BENCH_LLAMA_KEY")
        backend = OpenAIBackend("bench", profile)
        body = {
            "model": "tiny",
            "prompt": PROMPT,
            "max_tokens": 64,
            "temperature": 0,
            "stop": ["USER:"],
        }
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as client:

            async def raw_once() -> float:
                start = time.perf_counter()
                async with client.post(
                    url + "/v1/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {LLAMA_KEY}"},
                ) as r:
                    await r.json()
                return time.perf_counter() - start

            async def backend_once() -> float:
                start = time.perf_counter()
                await backend.generate(GenerationRequest(prompt=PROMPT, max_new_tokens=64))
                return time.perf_counter() - start

            await raw_once()
            await backend_once()
            raw_t, backend_t = [], []
            for _ in range(REPEATS * 4):
                raw_t.append(await raw_once())
                backend_t.append(await backend_once())
        await backend.close()
    ratio = _median(backend_t) / _median(raw_t)
    return [
        (
            "remote backend / raw aiohttp",
            f"{ratio:.3f}x  (median {_ms(backend_t)} vs {_ms(raw_t)}, llama.cpp, 64 tokens)",
        )
    ]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        # ~20M parameters: hidden 512, 6 layers, GQA 8 heads / 2 KV heads.
        path = build_llama(
            tmp / "llama20m",
            hidden=512,
            layers=6,
            heads=8,
            kv_heads=2,
            intermediate=1408,
            vocab_size=4000,
        )
        rows = await bench_local(path)
        rows += bench_memory(path)
        rows += await bench_remote(tmp)
    width = max(len(k) for k, _ in rows)
    print(f"bench_backends ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPU cores)")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    asyncio.run(main())
