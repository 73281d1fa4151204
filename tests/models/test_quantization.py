"""bitsandbytes int8 / nf4 / fp4 through the real loading path, compared with model.generate.

bitsandbytes 0.50 runs all three on CPU; on a machine where a mode cannot load, the test
fails with the exact error the backend reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codetune_lsp.models.base import GenerationRequest
from codetune_lsp.models.local import LocalBackend
from codetune_lsp.settings import ModelProfile
from tests.models.helpers import PROMPTS, load_reference, reference_greedy
from tests.needs import need

need("bitsandbytes", "quantized local models, extra 'local'")
pytestmark = pytest.mark.timeout(180)


def _bnb_config(quantization: str, double_quant: bool):
    import torch
    from transformers import BitsAndBytesConfig

    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quantization,
        bnb_4bit_compute_dtype=torch.float32,
        bnb_4bit_use_double_quant=double_quant,
    )


@pytest.mark.parametrize(
    ("quantization", "double_quant"),
    [("int8", False), ("nf4", False), ("nf4", True), ("fp4", False)],
)
async def test_quantized_greedy_output_equals_model_generate(
    tiny_llama: Path, quantization: str, double_quant: bool
):
    profile = ModelProfile(
        id=str(tiny_llama),
        quantization=quantization,
        double_quant=double_quant,  # type: ignore[arg-type]
    )
    backend = LocalBackend(f"tiny-{quantization}", profile)
    try:
        loaded = await backend.ready()  # bitsandbytes runs every mode on the CPU too
        assert loaded.quantization == quantization
        reference = load_reference(
            tiny_llama, quantization_config=_bnb_config(quantization, double_quant)
        )
        assert loaded.footprint_bytes() == reference.get_memory_footprint()
        for prompt in PROMPTS[:2]:
            result = await backend.generate(GenerationRequest(prompt=prompt, max_new_tokens=12))
            expected = reference_greedy(reference, loaded.tokenizer, prompt, 12, loaded.eos_ids)
            assert result.text == expected
    finally:
        await backend.close()


async def test_quantized_weights_take_less_memory_than_fp32(tiny_llama: Path):
    sizes = {}
    for quantization in ("none", "int8", "nf4"):
        backend = LocalBackend(
            quantization, ModelProfile(id=str(tiny_llama), quantization=quantization)
        )  # type: ignore[arg-type]
        try:
            sizes[quantization] = (await backend.ready()).footprint_bytes()
        finally:
            await backend.close()
    assert sizes["nf4"] < sizes["int8"] < sizes["none"]
