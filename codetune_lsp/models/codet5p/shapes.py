"""Shapes of the published CodeT5+ 2B/6B/16B configs (facts from their config.json files).

Every size shares the encoder (CodeGen-350M-mono shaped); the decoder is CodeGen-2B/6B/16B-mono
shaped, with one cross-attention in its last layer. All use the CodeGen vocabulary (51200 rows)
and 2048 positions. The instruction-tuned 16B has the 16B shape.
"""

from __future__ import annotations

from typing import Any

_COMMON: dict[str, Any] = {"vocab_size": 51200, "n_positions": 2048, "n_ctx": 2048}
ENCODER: dict[str, Any] = {**_COMMON, "n_embd": 1024, "n_layer": 20, "n_head": 16, "rotary_dim": 32}

DECODERS: dict[str, dict[str, Any]] = {
    "codet5p-2b": {**_COMMON, "n_embd": 2560, "n_layer": 32, "n_head": 32, "rotary_dim": 64},
    "codet5p-6b": {**_COMMON, "n_embd": 4096, "n_layer": 33, "n_head": 16, "rotary_dim": 64},
    "codet5p-16b": {**_COMMON, "n_embd": 6144, "n_layer": 34, "n_head": 24, "rotary_dim": 64},
}
DECODERS["instructcodet5p-16b"] = DECODERS["codet5p-16b"]


def published_config_dict(variant: str) -> dict[str, Any]:
    """The ``encoder``/``decoder`` shape of ``variant`` as a config dict (raises KeyError)."""
    return {
        "encoder": dict(ENCODER),
        "decoder": {**DECODERS[variant], "is_decoder": True, "add_cross_attention": True},
    }
