"""Reference generation with plain transformers, to compare the backends against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROMPTS = (
    "def add(a, b):\n",
    'def is_palindrome(text: str) -> bool:\n    """Check whether text reads the same backwards.\n',
    "import os\n\nclass Config:\n",
    "for i in range(",
)


def load_reference(path: Path, *, seq2seq: bool = False, quantization_config: Any = None) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    kwargs: dict[str, Any] = {"dtype": torch.float32, "use_safetensors": True}
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    return cls.from_pretrained(path, **kwargs).eval()


def reference_greedy(
    model: Any, tokenizer: Any, prompt: str, max_new_tokens: int, eos_ids: list[int]
) -> str:
    """What ``model.generate`` returns for one prompt, greedy, decoded without specials."""
    import torch

    enc = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=eos_ids,
            pad_token_id=tokenizer.pad_token_id,
        )
    start = 1 if model.config.is_encoder_decoder else enc.input_ids.shape[1]
    return tokenizer.decode(out[0, start:], skip_special_tokens=True)
