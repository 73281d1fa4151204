"""The CodeT5+ 2B/6B/16B encoder-decoder as torch modules, with a real KV cache.

Layout (module names follow the published weight keys, so checkpoints load unchanged):

* ``encoder``: a CodeGen-shaped stack (``wte``, ``h.N``, ``ln_f``) with bidirectional attention;
* ``enc_to_dec_proj``: a biased linear map from the encoder width to the decoder width;
* ``decoder.transformer``: the decoder stack; its last block also has ``crossattention``;
* ``decoder.lm_head``: a biased linear head.

Each block is GPT-J style: one ``ln_1`` feeding attention, MLP (and, in the last decoder
block, cross-attention) in parallel, all added to the residual. ``qkv_proj`` packs its output
in four model-parallel groups, each holding query, value, key in that order. Rotary embedding
rotates interleaved pairs of the first ``rotary_dim`` dimensions of queries and keys;
attention scores are computed in fp32.

Generation caches every decoder layer's keys and values (rotary applied at the token's
absolute position before caching) in a transformers ``EncoderDecoderCache``; the encoder
output is projected and turned into cross-attention keys and values once, on the first step,
and kept in that cache's cross-attention half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import ModelOutput

from codetune_lsp.models.codet5p.configuration import CodeT5pConfig, CodeT5pStackConfig

#: The published checkpoints pack qkv_proj in four model-parallel groups.
MP_GROUPS = 4
_CROSS_LAYER = 0  # index of the single cross-attention layer in the cache's cross half


# -- rotary embedding ------------------------------------------------------------------------
def rotary_tables(
    start: int, length: int, dim: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """sin and cos for absolute positions ``start .. start+length-1``, each ``[length, dim]``.

    Frequencies pair dimensions (0,1), (2,3), ...: every angle is repeated twice in a row.
    """
    inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2, device=device).float() / dim))
    positions = torch.arange(start, start + length, device=device, dtype=torch.float32)
    angles = positions[:, None] * inv_freq[None, :]
    return (
        angles.sin().repeat_interleave(2, dim=-1),
        angles.cos().repeat_interleave(2, dim=-1),
    )


def apply_rotary(
    x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor, rotary_dim: int
) -> torch.Tensor:
    """Rotate the first ``rotary_dim`` dims of ``x`` (``[B, H, T, D]``); the result is fp32."""
    x = x.float()
    rot, rest = x[..., :rotary_dim], x[..., rotary_dim:]
    even, odd = rot[..., 0::2], rot[..., 1::2]
    swapped = torch.stack((-odd, even), dim=-1).flatten(-2)
    rot = rot * cos + swapped * sin
    return torch.cat((rot, rest), dim=-1)


# -- attention -------------------------------------------------------------------------------
def _heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """``[B, T, E]`` (or ``[B, T, groups, E/groups]``) to ``[B, H, T, D]``."""
    b, t = x.shape[:2]
    return x.reshape(b, t, n_head, -1).transpose(1, 2)


def attend(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, allowed: torch.Tensor | None
) -> torch.Tensor:
    """Softmax attention with fp32 scores; ``allowed`` broadcasts to ``[B, H, Tq, Tk]``."""
    scores = torch.matmul(query.float(), key.float().transpose(-1, -2))
    scores = scores / math.sqrt(query.shape[-1])
    if allowed is not None:
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1).to(value.dtype)
    return torch.matmul(weights, value)


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


class SelfAttention(nn.Module):
    """Multi-head self-attention; causal or not is decided by the mask it is given."""

    def __init__(self, config: CodeT5pStackConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.rotary_dim = config.rotary_dim or config.head_dim
        self.qkv_proj = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.out_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def forward(
        self,
        hidden: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        allowed: torch.Tensor | None,
        cache: Cache | None = None,
        layer_idx: int = 0,
    ) -> torch.Tensor:
        b, t, _ = hidden.shape
        packed = self.qkv_proj(hidden).view(b, t, MP_GROUPS, 3, -1)
        query, value, key = (_heads(packed[:, :, :, i], self.n_head) for i in range(3))
        sin, cos = rotary
        query = apply_rotary(query, sin, cos, self.rotary_dim)
        key = apply_rotary(key, sin, cos, self.rotary_dim).to(value.dtype)
        if cache is not None:
            key, value = cache.update(key, value, layer_idx)
        return self.out_proj(_merge(attend(query, key, value, allowed)))


class CrossAttention(nn.Module):
    """Decoder-to-encoder attention; keys and values come from ``kv`` once per generation."""

    def __init__(self, config: CodeT5pStackConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.rotary_dim = config.rotary_dim or config.head_dim
        self.q_attn = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.qkv_proj = nn.Linear(config.n_embd, 2 * config.n_embd, bias=False)
        self.out_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def kv(self, encoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys (rotary at encoder positions 0..S-1) and values for projected encoder states."""
        b, s, _ = encoded.shape
        packed = self.qkv_proj(encoded).view(b, s, MP_GROUPS, 2, -1)
        value, key = (_heads(packed[:, :, :, i], self.n_head) for i in range(2))
        sin, cos = rotary_tables(0, s, self.rotary_dim, encoded.device)
        return apply_rotary(key, sin, cos, self.rotary_dim).to(value.dtype), value

    def forward(
        self,
        hidden: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        key: torch.Tensor,
        value: torch.Tensor,
        allowed: torch.Tensor | None,
    ) -> torch.Tensor:
        query = apply_rotary(_heads(self.q_attn(hidden), self.n_head), *rotary, self.rotary_dim)
        return self.out_proj(_merge(attend(query, key, value, allowed)))


class MLP(nn.Module):
    def __init__(self, config: CodeT5pStackConfig) -> None:
        super().__init__()
        self.fc_in = nn.Linear(config.n_embd, config.inner_dim)
        self.fc_out = nn.Linear(config.inner_dim, config.n_embd)
        self.act = ACT2FN[config.activation_function]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.act(self.fc_in(hidden)))


class Block(nn.Module):
    """``ln_1`` once, then attention (+ cross-attention) and MLP in parallel on the residual."""

    def __init__(self, config: CodeT5pStackConfig, cross: bool) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = SelfAttention(config)
        self.mlp = MLP(config)
        self.crossattention = CrossAttention(config) if cross else None

    def forward(
        self,
        hidden: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        allowed: torch.Tensor | None,
        cache: Cache | None,
        layer_idx: int,
        cross_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        cross_allowed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        normed = self.ln_1(hidden)
        out = self.attn(normed, rotary, allowed, cache, layer_idx)
        if self.crossattention is not None:
            if cross_kv is None:
                raise ValueError("the cross-attention block needs the encoder's keys and values")
            out = out + self.crossattention(normed, rotary, *cross_kv, cross_allowed)
        return out + self.mlp(normed) + hidden


class Stack(nn.Module):
    """Embedding, blocks, final norm: the encoder, or the decoder's ``transformer``."""

    def __init__(self, config: CodeT5pStackConfig) -> None:
        super().__init__()
        self.config = config
        self.rotary_dim = config.rotary_dim or config.head_dim
        last = config.n_layer - 1
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.h = nn.ModuleList(
            Block(config, cross=config.add_cross_attention and i == last)
            for i in range(config.n_layer)
        )
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    @property
    def cross_block(self) -> Block:
        return self.h[-1]  # type: ignore[return-value]

    def forward(
        self,
        input_ids: torch.Tensor,
        allowed: torch.Tensor | None,
        past_length: int = 0,
        cache: Cache | None = None,
        cross_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        cross_allowed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.wte(input_ids)
        rotary = rotary_tables(past_length, input_ids.shape[1], self.rotary_dim, hidden.device)
        for i, block in enumerate(self.h):
            hidden = block(hidden, rotary, allowed, cache, i, cross_kv, cross_allowed)
        return self.ln_f(hidden)


class Encoder(Stack):
    """The encoder stack as ``generate`` calls it: ids and padding mask in, states out."""

    main_input_name = "input_ids"

    def forward(  # type: ignore[override]
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutput:
        allowed = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        return BaseModelOutput(last_hidden_state=super().forward(input_ids, allowed))


class Decoder(nn.Module):
    """The decoder stack (``transformer``) and its language-model head (``lm_head``)."""

    def __init__(self, config: CodeT5pStackConfig) -> None:
        super().__init__()
        self.transformer = Stack(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)


@dataclass
class CodeT5pOutput(ModelOutput):
    """Logits (fp32) for every decoder position, and the cache to pass back on the next step."""

    logits: torch.Tensor | None = None
    cache: Cache | None = None
    encoder_last_hidden_state: torch.Tensor | None = None


def causal_allowed(
    query_length: int, past_length: int, key_mask: torch.Tensor | None, device: torch.device
) -> torch.Tensor:
    """``[B|1, 1, Tq, Tk]``: query i (at ``past_length + i``) may see key j <= its position."""
    total = past_length + query_length
    q_pos = torch.arange(past_length, total, device=device)[:, None]
    allowed = (torch.arange(total, device=device)[None, :] <= q_pos)[None, None]
    if key_mask is not None:
        allowed = allowed & key_mask.bool()[:, None, None, :total]
    return allowed


class CodeT5pPreTrainedModel(PreTrainedModel):
    config_class = CodeT5pConfig
    base_model_prefix = "codet5p"
    main_input_name = "input_ids"
    _no_split_modules = ["Block"]
    # The published checkpoints store each attention's 2048x2048 causal mask: not weights.
    _keys_to_ignore_on_load_unexpected = [r"causal_mask"]

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.decoder.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class CodeT5pForConditionalGeneration(CodeT5pPreTrainedModel, GenerationMixin):
    """The whole model; ``generate`` follows the family's prompt convention (see below)."""

    def __init__(self, config: CodeT5pConfig) -> None:
        super().__init__(config)
        enc, dec = config.encoder, config.decoder
        assert isinstance(enc, CodeT5pStackConfig) and isinstance(dec, CodeT5pStackConfig)
        if not dec.add_cross_attention:
            raise ValueError("the decoder config must have add_cross_attention = true")
        self.encoder = Encoder(enc)
        self.decoder = Decoder(dec)
        # As published: a projection only when the widths differ (always, for 2B/6B/16B).
        self.enc_to_dec_proj = (
            nn.Linear(enc.n_embd, dec.n_embd) if enc.n_embd != dec.n_embd else None
        )
        self.post_init()

    # -- transformers plumbing --------------------------------------------------------------
    def get_encoder(self, *args: Any, **kwargs: Any) -> Encoder:
        return self.encoder

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.wte

    def get_output_embeddings(self) -> nn.Module:
        return self.decoder.lm_head

    # -- forward ------------------------------------------------------------------------------
    def _cross_kv(
        self, cache: EncoderDecoderCache | None, encoded: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cross-attention keys and values: from the cache, or computed once and stored."""
        cross = cache.cross_attention_cache if cache is not None else None
        if cross is not None and cross.get_seq_length(_CROSS_LAYER) > 0:
            layer = cross.layers[_CROSS_LAYER]
            return layer.keys, layer.values
        if self.enc_to_dec_proj is not None:
            encoded = self.enc_to_dec_proj(encoded)
        attention = self.decoder.transformer.cross_block.crossattention
        assert attention is not None
        key, value = attention.kv(encoded)
        if cross is not None:
            key, value = cross.update(key, value, _CROSS_LAYER)
            if cache is not None and hasattr(cache, "is_updated"):
                cache.is_updated[_CROSS_LAYER] = True
        return key, value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        cache: Cache | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> CodeT5pOutput:
        """One step: encode (unless ``encoder_outputs``), then decode ``decoder_input_ids``.

        ``attention_mask`` masks encoder padding; ``decoder_attention_mask`` covers the cached
        and the new decoder positions (left padding). With a cache, only the new decoder ids
        are passed; their rotary positions continue from the cached length.
        """
        if decoder_input_ids is None:
            raise ValueError("decoder_input_ids are required")
        if encoder_outputs is None:
            if input_ids is None:
                raise ValueError("pass input_ids or encoder_outputs")
            encoder_outputs = self.encoder(input_ids, attention_mask)
        encoded = (
            encoder_outputs[0]
            if isinstance(encoder_outputs, tuple)
            else encoder_outputs.last_hidden_state
        )
        cache = cache if cache is not None else past_key_values
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if cache is None and use_cache:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        if cache is not None and not isinstance(cache, EncoderDecoderCache):
            raise TypeError(f"expected an EncoderDecoderCache, got {type(cache).__name__}")
        past = cache.get_seq_length() if cache is not None else 0
        self_cache = cache.self_attention_cache if cache is not None else None
        cross_kv = self._cross_kv(cache, encoded)
        allowed = causal_allowed(
            decoder_input_ids.shape[1], past, decoder_attention_mask, decoder_input_ids.device
        )
        cross_allowed = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        hidden = self.decoder.transformer(
            decoder_input_ids, allowed, past, self_cache, cross_kv, cross_allowed
        )
        logits = self.decoder.lm_head(hidden).float()
        return CodeT5pOutput(
            logits=logits,
            cache=cache if use_cache else None,
            encoder_last_hidden_state=encoded,
        )

    # -- generation ---------------------------------------------------------------------------
    def generate(  # type: ignore[override]
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """``GenerationMixin.generate`` with the family's convention for the decoder input.

        When ``config.prompt_to_decoder`` is on and no ``decoder_input_ids`` are given, the
        decoder receives ``decoder_start_token_id`` followed by each row's prompt tokens (the
        unmasked ones), left-padded, so it continues the prompt; the returned sequences start
        with that decoder input. The encoder input may be padded on either side.
        """
        start = self._special(kwargs, "decoder_start_token_id")
        # The same start token for our decoder input and for generate's own check of it
        # (the published sub-configs carry generation defaults that would pick bos instead).
        kwargs["decoder_start_token_id"] = start
        if decoder_input_ids is None and input_ids is not None and self.config.prompt_to_decoder:
            pad = self._special(kwargs, "pad_token_id")
            decoder_input_ids, decoder_attention_mask = self.prompt_as_decoder_input(
                input_ids, attention_mask, start, start if pad is None else pad
            )
        if decoder_input_ids is not None:
            kwargs["decoder_input_ids"] = decoder_input_ids
        if decoder_attention_mask is not None:
            kwargs["decoder_attention_mask"] = decoder_attention_mask
        return super().generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    def _special(self, kwargs: dict[str, Any], name: str) -> int | None:
        """A special token id: ``generate``'s argument, its generation config, else ours."""
        if kwargs.get(name) is not None:
            return int(kwargs[name])
        value = getattr(kwargs.get("generation_config"), name, None)
        if value is None:
            value = getattr(self.config, name, None)
        return None if value is None else int(value)

    def prompt_as_decoder_input(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        start: int | None = None,
        pad: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[start] + prompt`` per row, left-padded, and its attention mask."""
        start = self.config.decoder_start_token_id if start is None else start
        pad = self.config.pad_token_id if pad is None else pad
        if start is None or pad is None:
            raise ValueError("set decoder_start_token_id and pad_token_id in the config")
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        rows = [ids[m.bool()] for ids, m in zip(input_ids, mask, strict=True)]
        width = 1 + max(len(r) for r in rows)
        device = input_ids.device
        out = torch.full((len(rows), width), pad, dtype=input_ids.dtype, device=device)
        out_mask = torch.zeros((len(rows), width), dtype=mask.dtype, device=device)
        for i, row in enumerate(rows):
            out[i, width - len(row) - 1] = start
            out[i, width - len(row) :] = row
            out_mask[i, width - len(row) - 1 :] = 1
        return out, out_mask


def register() -> None:
    """Make ``AutoConfig`` / ``AutoModelForSeq2SeqLM`` resolve ``model_type: codet5p`` here.

    The published config.json also names Salesforce's remote code in ``auto_map``; with the
    type registered, transformers uses these classes when ``trust_remote_code`` is off.
    """
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    from codetune_lsp.models.codet5p.configuration import MODEL_TYPE, STACK_MODEL_TYPE

    AutoConfig.register(MODEL_TYPE, CodeT5pConfig, exist_ok=True)
    AutoConfig.register(STACK_MODEL_TYPE, CodeT5pStackConfig, exist_ok=True)
    AutoModelForSeq2SeqLM.register(CodeT5pConfig, CodeT5pForConditionalGeneration, exist_ok=True)


register()
