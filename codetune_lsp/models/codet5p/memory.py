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
    """Parameter count and bytes per precision (``fp32``, ``fp16``, ``bf16``, ``int8``, ``nf4``)."""

    parameters: int
    quantizable: int  # weights of the Linear layers bitsandbytes replaces
    bytes: Mapping[str, int]


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
    rest = total - quantizable
    nf4_blocks = -(-quantizable // NF4_BLOCK)
    return WeightMemory(
        parameters=total,
        quantizable=quantizable,
        bytes={
            "fp32": 4 * total,
            "fp16": 2 * total,
            "bf16": 2 * total,
            "int8": quantizable + 4 * rows + 2 * rest,
            "nf4": quantizable // 2 + 4 * nf4_blocks + 2 * rest,
        },
    )


def variant_memory(variant: str) -> WeightMemory:
    """Memory of a published variant (``codet5p-16b`` ...), from the shipped shapes."""
    from codetune_lsp.models.codet5p.shapes import published_config_dict

    return weight_memory(published_config_dict(variant))
