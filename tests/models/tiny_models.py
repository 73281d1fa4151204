"""Build tiny models at test time: no weights are downloaded anywhere.

* a byte-level BPE tokenizer trained on HumanEval prompts (MIT licence) with ``tokenizers``;
* a 2-layer Llama in the WhiteRabbitNeo-33B shape (grouped-query attention, linear rope
  scaling, DeepSeek special and FIM tokens, config and generation_config disagreeing on eos);
* a 2-layer T5 with ``<extra_id_N>`` sentinels (the CodeT5+ 220m/770m layout);
* a tiny GGUF (llama architecture, gpt2-style BPE vocabulary) for llama.cpp.

Everything is saved with ``save_pretrained`` (safetensors) and loaded by the code under test
from the local path, through the same loading path a real model takes.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from codetune_lsp.models.profiles import (
    DEEPSEEK_BOS,
    DEEPSEEK_EOS,
    DEEPSEEK_EOT,
    DEEPSEEK_FIM_BEGIN,
    DEEPSEEK_FIM_END,
    DEEPSEEK_FIM_HOLE,
)

# The checkout's sibling shared/ folder (as CI lays it out), or $CODETUNE_HUMANEVAL.
CORPUS = Path(
    os.environ.get("CODETUNE_HUMANEVAL")
    or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "HumanEval.jsonl.gz"
)
LLAMA_SPECIALS = [
    DEEPSEEK_BOS,
    DEEPSEEK_EOS,
    DEEPSEEK_EOT,
    DEEPSEEK_FIM_BEGIN,
    DEEPSEEK_FIM_HOLE,
    DEEPSEEK_FIM_END,
    "<pad>",
]
T5_SENTINELS = [f"<extra_id_{i}>" for i in range(16)]
T5_SPECIALS = ["<pad>", "</s>", "<unk>", *T5_SENTINELS]


def corpus_text(limit_chars: int = 60_000) -> list[str]:
    """Python prompts from HumanEval (the tokenizers are trained on them)."""
    if not CORPUS.is_file():
        raise FileNotFoundError(
            f"HumanEval is not at {CORPUS}: the tests expect the shared/ folder beside the "
            "checkout, or $CODETUNE_HUMANEVAL naming HumanEval.jsonl.gz"
        )
    texts: list[str] = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for line in fh:
            texts.append(json.loads(line)["prompt"])
            if sum(map(len, texts)) > limit_chars:
                break
    return texts


def _train_bpe(specials: list[str], vocab_size: int):  # -> tokenizers.Tokenizer
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_text(), trainer=trainer)
    return tok


def build_llama(
    out: Path,
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    vocab_size: int = 1024,
    seed: int = 0,
) -> Path:
    """A WhiteRabbitNeo-shaped Llama; returns the directory."""
    import torch
    from tokenizers import processors
    from transformers import (
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    raw = _train_bpe(LLAMA_SPECIALS, vocab_size)
    bos_id = raw.token_to_id(DEEPSEEK_BOS)
    raw.post_processor = processors.TemplateProcessing(
        single=f"{DEEPSEEK_BOS} $A", special_tokens=[(DEEPSEEK_BOS, bos_id)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token=DEEPSEEK_BOS,
        eos_token=DEEPSEEK_EOS,
        pad_token="<pad>",
        model_max_length=16384,
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=16384,
        rope_scaling={"rope_type": "linear", "factor": 4.0},
        rope_theta=100000.0,
        rms_norm_eps=1e-6,
        # Like the 33B: config.json and generation_config.json disagree on bos/eos.
        bos_token_id=tokenizer.convert_tokens_to_ids(DEEPSEEK_FIM_BEGIN),
        eos_token_id=tokenizer.convert_tokens_to_ids(DEEPSEEK_FIM_END),
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    _never_emit(model.lm_head.weight, [tokenizer.convert_tokens_to_ids(t) for t in LLAMA_SPECIALS])
    model.generation_config = GenerationConfig(
        bos_token_id=bos_id, eos_token_id=tokenizer.convert_tokens_to_ids(DEEPSEEK_EOT)
    )
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def build_t5(out: Path, *, d_model: int = 64, layers: int = 2, vocab_size: int = 1024) -> Path:
    """A CodeT5+-shaped T5 (span infilling with sentinels); returns the directory."""
    import torch
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    raw = _train_bpe(T5_SPECIALS, vocab_size)
    raw.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", raw.token_to_id("</s>"))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=T5_SENTINELS,
        model_max_length=512,
    )
    torch.manual_seed(1)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=16,
        d_ff=d_model * 2,
        num_layers=layers,
        num_decoder_layers=layers,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = T5ForConditionalGeneration(config)
    # Keep the random decoder from ending early on a special token, except the first sentinel.
    specials = [tokenizer.convert_tokens_to_ids(t) for t in T5_SPECIALS if t != "<extra_id_0>"]
    _never_emit(model.lm_head.weight, specials)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def _never_emit(weight, ids: list[int]) -> None:
    """Zero the output rows of special tokens: their logit is exactly 0 while the best of ~1000
    random logits is positive, so greedy decoding of a random model runs to its budget."""
    import torch

    with torch.no_grad():
        weight[ids] = 0.0


def _gpt2_byte_chars() -> dict[int, str]:
    """The byte -> printable character map of GPT-2 style byte-level BPE."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def build_gguf(out_file: Path, *, vocab_size: int = 512, seed: int = 0) -> Path:
    """A tiny llama-architecture GGUF with a gpt2-style BPE vocabulary for llama.cpp."""
    import gguf
    import numpy as np

    raw = _train_bpe(["<s>", "</s>", "<unk>"], vocab_size)
    vocab = raw.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    model_json = json.loads(raw.to_str())
    merges = [m if isinstance(m, str) else " ".join(m) for m in model_json["model"]["merges"]]

    n_vocab, n_embd, n_ff, n_layer, n_head, n_kv = len(tokens), 64, 128, 2, 4, 2
    head_dim = n_embd // n_head
    writer = gguf.GGUFWriter(str(out_file), "llama")
    writer.add_name("codetune-tiny")
    writer.add_context_length(4096)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_rope_dimension_count(head_dim)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    types = [gguf.TokenType.CONTROL if i < 3 else gguf.TokenType.NORMAL for i in range(n_vocab)]
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    writer.add_add_bos_token(False)

    rng = np.random.default_rng(seed)

    def tensor(name: str, *shape: int, ones: bool = False) -> None:
        data = np.ones(shape, np.float32) if ones else rng.normal(0, 0.05, shape).astype(np.float32)
        writer.add_tensor(name, data)

    tensor("token_embd.weight", n_vocab, n_embd)
    for i in range(n_layer):
        tensor(f"blk.{i}.attn_norm.weight", n_embd, ones=True)
        tensor(f"blk.{i}.attn_q.weight", n_embd, n_embd)
        tensor(f"blk.{i}.attn_k.weight", n_kv * head_dim, n_embd)
        tensor(f"blk.{i}.attn_v.weight", n_kv * head_dim, n_embd)
        tensor(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        tensor(f"blk.{i}.ffn_norm.weight", n_embd, ones=True)
        tensor(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        tensor(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        tensor(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
    tensor("output_norm.weight", n_embd, ones=True)
    out_w = rng.normal(0, 0.05, (n_vocab, n_embd)).astype(np.float32)
    # Control tokens (bos/eos/unk) score 0 and never win, so runs go to their full length; so do
    # tokens holding non-ASCII bytes, so every output is valid UTF-8 and streams token by token.
    byte_of = {ch: b for b, ch in _gpt2_byte_chars().items()}
    non_ascii = [
        i for i, t in enumerate(tokens) if i < 3 or any(byte_of.get(c, 0) >= 0x80 for c in t)
    ]
    out_w[non_ascii] = 0.0
    writer.add_tensor("output.weight", out_w)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_file
