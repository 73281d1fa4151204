"""Load a CodeT5+ 2B/6B/16B checkpoint for the local backend, without remote code.

The published repositories hold sharded ``pytorch_model-*.bin`` files plus
``pytorch_model.bin.index.json`` and no safetensors. Safetensors are preferred when present;
otherwise the .bin shards are read with ``torch.load(weights_only=True)``, which rebuilds
tensors only and refuses any other pickled object. The stored ``causal_mask`` buffers are
skipped. Quantization (bitsandbytes int8/nf4/fp4), dtype and device placement follow the
profile exactly as for the other local models.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from codetune_lsp.models import _hf
from codetune_lsp.models.base import BackendError
from codetune_lsp.models.codet5p.configuration import CodeT5pConfig
from codetune_lsp.models.codet5p.modeling import CodeT5pForConditionalGeneration, register
from codetune_lsp.models.codet5p.tokenizer import apply_tab_convention
from codetune_lsp.models.profiles import FamilyProfile
from codetune_lsp.settings import ModelProfile

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def _check_local_weights(name: str, path: Path) -> None:
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        raise BackendError(
            name,
            f"no CodeT5+ weights in {path}",
            "expected model.safetensors (or its index) or the published pytorch_model-*.bin "
            "shards with pytorch_model.bin.index.json",
        )


def load(
    name: str, profile: ModelProfile, row: FamilyProfile, progress: Callable[[str], None]
) -> _hf.LoadedModel:
    """Tokenizer (with the tab convention) and native model for a CodeT5+ 2B/6B/16B profile."""
    started = time.perf_counter()
    source = profile.id
    if not source:
        raise BackendError(name, "no model id is set", f"set models.{name}.id to a hub id or path")
    local = Path(source).expanduser().is_dir()
    common: dict[str, Any] = {"trust_remote_code": False}
    if local:
        source = str(Path(source).expanduser())
        _check_local_weights(name, Path(source))
    else:
        if profile.revision:
            common["revision"] = profile.revision
        if not _hf._offline() and not _hf._hub_resolvable():
            common["local_files_only"] = True
    register()
    cuda = torch.cuda.is_available()
    try:
        progress(f"reading the configuration of {profile.id}")
        config = CodeT5pConfig.from_pretrained(source, **common)
        progress("loading the tokenizer")
        tokenizer = apply_tab_convention(AutoTokenizer.from_pretrained(source, **common))
        dtype = _hf._resolve_dtype(profile, cuda)
        quant = _hf._quantization_config(profile, cuda)
        kwargs: dict[str, Any] = dict(
            common, config=config, dtype=dtype, weights_only=True,
            **_hf.placement(profile, cuda, quant),
        )  # fmt: skip
        progress(f"loading weights ({profile.quantization}, {str(dtype).removeprefix('torch.')})")
        model = CodeT5pForConditionalGeneration.from_pretrained(source, **kwargs)
    except BackendError:
        raise
    except BaseException as exc:
        raise _hf.explain_load_error(name, profile, exc) from exc
    model.eval()
    vocab = tokenizer.get_vocab()
    eos_ids = sorted({vocab[t] for t in row.eos_tokens if t in vocab})
    if not eos_ids and tokenizer.eos_token_id is not None:
        eos_ids = [tokenizer.eos_token_id]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    assert isinstance(config.decoder, type(config.encoder))
    # The decoder holds the start token, the prompt and the new tokens within its positions.
    context = profile.context_length or min(row.context_length, config.decoder.n_positions - 1)
    loaded = _hf.LoadedModel(
        name=name,
        profile=profile,
        row=row,
        model=model,
        tokenizer=tokenizer,
        eos_ids=eos_ids,
        pad_id=int(pad_id),
        device=str(next(model.parameters()).device),
        dtype=str(model.dtype).removeprefix("torch."),
        quantization=profile.quantization,
        model_id=profile.id,
        revision=_hf._resolved_revision(model, profile),
        context_length=context,
        load_s=time.perf_counter() - started,
        seq2seq=True,
        fim_enabled=False,
    )
    progress("warming up")
    _hf._warm_up(loaded)
    progress("ready")
    return loaded
