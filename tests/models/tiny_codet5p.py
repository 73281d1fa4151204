"""Tiny CodeT5+ 2B/6B/16B-family checkpoints and Salesforce's reference code, for tests.

* ``tiny_config`` — a small config of the published shape family (2-layer encoder, 3-layer
  decoder, cross-attention in the last decoder layer, a projection between the widths);
* ``write_published_layout`` — random weights written exactly as Salesforce published them:
  the reference ``config.json`` with the shape replaced, sharded ``pytorch_model-*.bin`` plus
  ``pytorch_model.bin.index.json`` (``causal_mask`` buffers included), and the real CodeGen
  tokenizer files copied from the reference folder;
* ``import_reference`` — ``modeling_codet5p.py`` from ``../shared/reference``, imported as a
  package and patched (here, never in the package) where current transformers removed what it
  calls.
"""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "codet5p-16b"
if not REFERENCE.is_dir():  # the worktree's ../shared is a link; CI clones sit next to it too
    REFERENCE = Path("/work/shared/reference/codet5p-16b")
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
)
REAL_VOCAB = 51200  # rows in the published embeddings; the tokenizer has 50295 tokens


def published_config() -> dict[str, Any]:
    return json.loads((REFERENCE / "config.json").read_text())


def tiny_config(
    *,
    enc_rotary: int = 4,
    dec_rotary: int = 8,
    vocab_size: int = 96,
    enc_embd: int = 32,
    dec_embd: int = 48,
    n_positions: int = 256,
) -> dict[str, Any]:
    """The published config.json with a tiny shape: every key as Salesforce wrote it."""
    config = published_config()
    shape = {"vocab_size": vocab_size, "n_positions": n_positions, "n_ctx": n_positions}
    config["encoder"].update(shape, n_embd=enc_embd, n_layer=2, n_head=4, rotary_dim=enc_rotary)
    config["decoder"].update(shape, n_embd=dec_embd, n_layer=3, n_head=4, rotary_dim=dec_rotary)
    return config


def build_native(config: dict[str, Any], seed: int = 0) -> Any:
    import torch

    from codetune_lsp.models.codet5p.configuration import CodeT5pConfig
    from codetune_lsp.models.codet5p.modeling import CodeT5pForConditionalGeneration

    torch.manual_seed(seed)
    model = CodeT5pForConditionalGeneration(CodeT5pConfig(**json.loads(json.dumps(config))))
    with torch.no_grad():  # LayerNorms away from the identity, so they are checked too
        for name, param in model.named_parameters():
            if "ln_" in name or name.endswith("bias"):
                param.add_(0.1 * torch.randn_like(param))
    return model.eval()


def _causal_masks(model: Any, n_positions: int) -> dict[str, Any]:
    """The ``causal_mask`` buffer Salesforce's checkpoints store in every attention."""
    import torch

    mask = torch.tril(torch.ones((n_positions, n_positions), dtype=torch.uint8))[None, None]
    names = [n for n, _ in model.named_modules() if n.endswith((".attn", ".crossattention"))]
    return {f"{n}.causal_mask": mask.clone() for n in names}


def write_published_layout(
    model: Any, config: dict[str, Any], out: Path, *, shards: int = 3, tokenizer: bool = True
) -> Path:
    """Write ``model`` as sharded .bin + index + config.json (+ tokenizer files)."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    state.update(_causal_masks(model, config["decoder"]["n_positions"]))
    keys = sorted(state)
    per_shard = -(-len(keys) // shards)
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(shards):
        name = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
        part = {k: state[k] for k in keys[i * per_shard : (i + 1) * per_shard]}
        torch.save(part, out / name)
        for key, tensor in part.items():
            weight_map[key] = name
            total += tensor.numel() * tensor.element_size()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "pytorch_model.bin.index.json").write_text(json.dumps(index, indent=2))
    (out / "config.json").write_text(json.dumps(config, indent=2))
    if tokenizer:
        for name in TOKENIZER_FILES:
            shutil.copy(REFERENCE / name, out / name)
    return out


# -- the reference (Salesforce's remote code) --------------------------------------------------
def import_reference() -> types.ModuleType:
    """``modeling_codet5p`` from the reference folder, importable on current transformers."""
    package = "codet5p_reference"
    if f"{package}.modeling_codet5p" in sys.modules:
        return sys.modules[f"{package}.modeling_codet5p"]
    pkg = types.ModuleType(package)
    pkg.__path__ = [str(REFERENCE)]
    sys.modules[package] = pkg
    for name in ("configuration_codet5p", "modeling_codet5p"):
        path = REFERENCE / f"{name}.py"
        module = types.ModuleType(f"{package}.{name}")
        module.__package__ = package
        module.__file__ = str(path)
        sys.modules[module.__name__] = module
        exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    modeling = sys.modules[f"{package}.modeling_codet5p"]
    _patch_reference(modeling)
    return modeling


def _patch_reference(modeling: types.ModuleType) -> None:
    """Put back the two PreTrainedModel helpers transformers 5 removed; nothing else."""
    import torch

    base = modeling.CodeT5pPreTrainedModel
    if not hasattr(base, "get_head_mask"):

        def get_head_mask(self: Any, head_mask: Any, n_layer: int) -> list[None]:
            assert head_mask is None
            return [None] * n_layer

        base.get_head_mask = get_head_mask
    if not hasattr(base, "invert_attention_mask"):

        def invert_attention_mask(self: Any, mask: Any) -> Any:
            extended = mask[:, None, None, :].to(self.dtype)
            return (1.0 - extended) * torch.finfo(self.dtype).min

        base.invert_attention_mask = invert_attention_mask


def build_reference(config: dict[str, Any], state_dict: dict[str, Any]) -> Any:
    """The reference model for ``config`` with ``state_dict`` loaded (causal masks its own)."""
    modeling = import_reference()
    configuration = sys.modules["codet5p_reference.configuration_codet5p"]
    cfg = json.loads(json.dumps(config))
    # The reference reads this top-level key that the published config.json leaves out.
    ref_config = configuration.CodeT5pConfig(
        encoder=cfg["encoder"], decoder=cfg["decoder"], tie_encoder_decoder=False
    )
    model = modeling.CodeT5pEncoderDecoderModel(ref_config)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    assert not unexpected, unexpected
    assert all(k.endswith("causal_mask") for k in missing), missing
    return model.eval()


def reference_greedy_uncached(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    decoder_input_ids: Any,
    decoder_attention_mask: Any,
    steps: int,
) -> Any:
    """Greedy decoding as the reference really runs: the whole decoder input every step."""
    import torch

    seq, mask = decoder_input_ids, decoder_attention_mask
    with torch.no_grad():
        for _ in range(steps):
            logits = model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                decoder_input_ids=seq,
                decoder_attention_mask=mask,
                use_cache=False,
            ).logits
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
            mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
    return seq
