"""Weights-only memory of a CodeT5+ config at each precision, from a model on the meta device.

No weights are read: the model is built on ``meta`` and its parameters are counted.
bitsandbytes quantizes every ``nn.Linear`` except the LM head, which (like embeddings, layer
norms and biases) stays in the 16-bit compute dtype; int8 adds one fp32 scale per output row,
nf4 one fp32 absmax per 64 weights (double quantization packs that to about a quarter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from codetune_lsp.models.codet5p.configuration import CodeT5pConfig
from codetune_lsp.models.codet5p.modeling import CodeT5pForConditionalGeneration

NF4_BLOCK = 64


@dataclass(frozen=True)
class WeightMemory:
    """Parameter counts, and ``bytes`` at each precision (fp32, fp16, bf16, int8, nf4)."""

    parameters: int
    quantizable: int  # weights of the Linear layers bitsandbytes replaces
    rows: int  # their output rows (one int8 scale each)

    @property
    def rest(self) -> int:
        """Parameters bitsandbytes leaves alone (embeddings, norms, biases, the LM head)."""
        return self.parameters - self.quantizable

    def quantized_bytes(self, kind: str, rest_bytes: int = 2) -> int:
        """Bytes with ``kind`` (int8 or nf4) quantization, the rest at ``rest_bytes`` each."""
        if kind == "int8":
            return self.quantizable + 4 * self.rows + rest_bytes * self.rest
        if kind in {"nf4", "fp4"}:
            blocks = -(-self.quantizable // NF4_BLOCK)
            return self.quantizable // 2 + 4 * blocks + rest_bytes * self.rest
        raise ValueError(f"unknown quantization {kind!r}")

    @property
    def bytes(self) -> dict[str, int]:
        total = self.parameters
        return {
            "fp32": 4 * total,
            "fp16": 2 * total,
            "bf16": 2 * total,
            "int8": self.quantized_bytes("int8"),
            "nf4": self.quantized_bytes("nf4"),
        }


def meta_model(config: CodeT5pConfig) -> CodeT5pForConditionalGeneration:
    with torch.device("meta"):
        return CodeT5pForConditionalGeneration(config)


def weight_memory(config: CodeT5pConfig | Mapping[str, Any]) -> WeightMemory:
    """Count the parameters of ``config`` on the meta device; bytes at each precision."""
    if not isinstance(config, CodeT5pConfig):
        config = CodeT5pConfig(**dict(config))
    model = meta_model(config)
    head = model.get_output_embeddings()
    total = sum(p.numel() for p in model.parameters())
    quantizable = rows = 0
    for module in model.modules():
        if isinstance(module, nn.Linear) and module is not head:
            quantizable += module.weight.numel()
            rows += module.out_features
    return WeightMemory(parameters=total, quantizable=quantizable, rows=rows)


def variant_memory(variant: str) -> WeightMemory:
    """Memory of a published variant (``codet5p-16b`` ...), from the shipped shapes."""
    from codetune_lsp.models.codet5p.shapes import published_config_dict

    return weight_memory(published_config_dict(variant))
