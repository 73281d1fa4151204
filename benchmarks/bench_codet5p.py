"""CodeT5+ 2B/6B/16B generation with the KV cache vs without it, in one run.

``python benchmarks/bench_codet5p.py [--prompts 32,128,256] [--outputs 16,64,128] [--json PATH]``

A random model of the family's shape (CodeGen-shaped encoder and decoder, one cross-attention
in the last decoder layer; scaled down so it runs on a CPU) generates greedily with
``generate()``. "cached" keeps every decoder layer's keys and values and computes the encoder's
cross-attention keys and values once; "uncached" (``use_cache=False``) re-runs the whole
decoder over prompt + output at every step, which is what Salesforce's published code does in
practice. Each cell alternates the two, ``--repeats`` times, and reports the median tokens/s
and the ratio. Without the cache the cost of a token grows with the sequence (quadratic in
total); with it, roughly flat (linear in total): the ratio grows with prompt and output length.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from codetune_lsp.models.codet5p.configuration import CodeT5pConfig  # noqa: E402
from codetune_lsp.models.codet5p.modeling import CodeT5pForConditionalGeneration  # noqa: E402

SHAPE = {  # a shallow encoder and a deeper, twice-as-wide decoder, small enough for 2 cores
    "encoder": {"n_embd": 128, "n_layer": 2, "n_head": 4, "rotary_dim": 16},
    "decoder": {"n_embd": 256, "n_layer": 6, "n_head": 4, "rotary_dim": 32},
}
VOCAB = 4096
NOTE = (
    "Shared, noisy machine (2 CPU cores, other jobs running): absolute tokens/s vary from run "
    "to run; the cached/uncached ratio measured in the same run is what matters."
)


def build_model() -> CodeT5pForConditionalGeneration:
    torch.manual_seed(0)
    common = {"vocab_size": VOCAB, "n_positions": 2048, "n_ctx": 2048}
    config = CodeT5pConfig(
        encoder={**common, **SHAPE["encoder"]},
        decoder={**common, **SHAPE["decoder"], "is_decoder": True, "add_cross_attention": True},
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=None,
    )
    return CodeT5pForConditionalGeneration(config).eval()


def tokens_per_s(model: Any, prompt: torch.Tensor, new: int, cache: bool) -> float:
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
            use_cache=cache,
            eos_token_id=None,
            pad_token_id=0,
            decoder_start_token_id=0,
        )
    elapsed = time.perf_counter() - started
    assert out.shape[1] == 1 + prompt.shape[1] + new
    return new / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", default="32,128,256", help="prompt lengths (tokens)")
    parser.add_argument("--outputs", default="16,64,128", help="new tokens per generation")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 by default: on a shared machine more threads mostly spin)",
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    prompts = [int(x) for x in args.prompts.split(",")]
    outputs = [int(x) for x in args.outputs.split(",")]
    model = build_model()
    params = sum(p.numel() for p in model.parameters())
    print(f"CodeT5+ family model, random weights: {params / 1e6:.1f}M parameters, fp32, CPU")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}")
    gen = torch.Generator().manual_seed(1)
    tokens_per_s(model, torch.randint(1, VOCAB, (1, 8), generator=gen), 4, True)  # warm-up
    rows: list[dict[str, Any]] = []
    header = f"{'prompt':>7} {'new':>5} {'cached tok/s':>13} {'uncached tok/s':>15} {'ratio':>7}"
    print(header)
    started = time.perf_counter()
    for p_len in prompts:
        prompt = torch.randint(1, VOCAB, (1, p_len), generator=gen)
        for new in outputs:
            cached: list[float] = []
            uncached: list[float] = []
            for i in range(args.repeats):  # alternate the order so drift hits both
                pair = [(True, cached), (False, uncached)]
                for use_cache, samples in pair if i % 2 == 0 else pair[::-1]:
                    samples.append(tokens_per_s(model, prompt, new, use_cache))
            row = {
                "prompt_tokens": p_len,
                "new_tokens": new,
                "cached_tok_s": statistics.median(cached),
                "uncached_tok_s": statistics.median(uncached),
            }
            row["ratio"] = row["cached_tok_s"] / row["uncached_tok_s"]
            rows.append(row)
            print(
                f"{p_len:>7} {new:>5} {row['cached_tok_s']:>13.1f} "
                f"{row['uncached_tok_s']:>15.1f} {row['ratio']:>6.2f}x",
                flush=True,
            )
    wall = time.perf_counter() - started
    print(f"\n{args.repeats} alternated repeats per cell, median; wall time {wall:.0f} s.")
    print(NOTE)
    if args.json:
        args.json.write_text(
            json.dumps({"params": params, "repeats": args.repeats, "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()
