"""Native CodeT5+ 2B/6B/16B against Salesforce's published code, and through the local backend.

Parity: random small configs of the published shape family, one state dict loaded into the
reference (``../shared/reference``) and into the native model. Loading: checkpoints written
in the published layout (sharded .bin + index with causal masks; safetensors) with the real
CodeGen tokenizer. Quantization: bitsandbytes int8 and nf4 on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.needs import need

torch = need("torch", "the local backend, extra 'local'")

from codetune_lsp.models.base import GenerationRequest  # noqa: E402
from codetune_lsp.models.codet5p.configuration import CodeT5pConfig  # noqa: E402
from codetune_lsp.models.codet5p.memory import meta_model, variant_memory  # noqa: E402
from codetune_lsp.models.codet5p.modeling import CodeT5pForConditionalGeneration  # noqa: E402
from codetune_lsp.models.local import LocalBackend  # noqa: E402
from codetune_lsp.models.profiles import FAMILY_TABLE, family_for  # noqa: E402
from codetune_lsp.settings import ModelProfile  # noqa: E402
from tests.models import tiny_codet5p as tiny  # noqa: E402

pytestmark = pytest.mark.timeout(300)
ROTARY = [(4, 8), (8, 12), (2, 4)]  # (encoder, decoder) rotary_dim; head dims are 8 and 12


def _pair(enc_rotary: int, dec_rotary: int, vocab: int = 96) -> tuple[Any, Any, dict]:
    config = tiny.tiny_config(enc_rotary=enc_rotary, dec_rotary=dec_rotary, vocab_size=vocab)
    native = tiny.build_native(config)
    reference = tiny.build_reference(config, native.state_dict())
    return native, reference, config


def _batch(vocab: int) -> tuple[Any, Any]:
    """Two prompts of 9 and 6 tokens, the second right-padded (as the backend pads them)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, vocab, (2, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    ids[1, 6:] = 0
    return ids, mask


@pytest.mark.parametrize(("enc_rotary", "dec_rotary"), ROTARY)
def test_logits_equal_the_reference_within_1e_5(enc_rotary: int, dec_rotary: int):
    native, reference, _ = _pair(enc_rotary, dec_rotary)
    ids, mask = _batch(96)
    dec_ids = torch.randint(1, 96, (2, 11), generator=torch.Generator().manual_seed(2))
    dec_mask = torch.ones_like(dec_ids)
    dec_mask[1, :3] = 0  # left padding in the decoder, as generation uses it
    with torch.no_grad():
        ours = native(
            input_ids=ids,
            attention_mask=mask,
            decoder_input_ids=dec_ids,
            decoder_attention_mask=dec_mask,
            use_cache=False,
        ).logits
        theirs = reference(
            input_ids=ids,
            attention_mask=mask,
            decoder_input_ids=dec_ids,
            decoder_attention_mask=dec_mask,
            use_cache=False,
        ).logits
    valid = dec_mask.bool()  # padded decoder positions produce nothing anyone reads
    assert ours.dtype == torch.float32
    assert torch.allclose(ours[valid], theirs[valid], atol=1e-5, rtol=0)
    assert ours[valid].abs().max() > 0.1  # not a trivially small output


@pytest.mark.parametrize(("enc_rotary", "dec_rotary"), ROTARY)
def test_cached_greedy_generation_equals_the_uncached_reference(enc_rotary: int, dec_rotary: int):
    native, reference, _ = _pair(enc_rotary, dec_rotary)
    ids, mask = _batch(96)
    start = 0
    native.config.decoder_start_token_id = start
    native.config.pad_token_id = start
    dec_ids, dec_mask = native.prompt_as_decoder_input(ids, mask)
    # [start] + prompt, left-padded: row 1 has three fewer tokens.
    assert dec_ids[0, 0] == start and torch.equal(dec_ids[0, 1:], ids[0])
    assert dec_mask[1].tolist() == [0, 0, 0] + [1] * 7
    steps = 24
    expected = tiny.reference_greedy_uncached(reference, ids, mask, dec_ids, dec_mask, steps)

    lengths: list[int] = []
    cross_calls: list[int] = []
    hooks = [
        native.decoder.transformer.wte.register_forward_hook(
            lambda m, args, out: lengths.append(args[0].shape[1])
        ),
        native.decoder.transformer.h[-1].crossattention.qkv_proj.register_forward_hook(
            lambda m, args, out: cross_calls.append(1)
        ),
    ]
    try:
        with torch.no_grad():
            got = native.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=steps,
                do_sample=False,
                eos_token_id=None,
                pad_token_id=start,
                decoder_start_token_id=start,
            )
    finally:
        for hook in hooks:
            hook.remove()
    assert torch.equal(got, expected)
    # A real cache: the prompt once, then one token per step; encoder K/V computed once.
    assert lengths == [dec_ids.shape[1]] + [1] * (steps - 1)
    assert cross_calls == [1]


def test_weight_names_and_sizes_match_the_published_16b_index():
    index = json.loads((tiny.REFERENCE / "pytorch_model.bin.index.json").read_text())
    published = {k for k in index["weight_map"] if not k.endswith("causal_mask")}
    config = CodeT5pConfig(**tiny.published_config())
    model = meta_model(config)
    assert set(model.state_dict()) == published
    masks = sum(k.endswith("causal_mask") for k in index["weight_map"])
    params = sum(p.numel() for p in model.parameters())
    assert index["metadata"]["total_size"] == 2 * params + masks * 2048 * 2048  # fp16 + uint8
    assert variant_memory("instructcodet5p-16b").parameters == params


def test_published_config_loads_natively_without_remote_code(tmp_path: Path):
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    (tmp_path / "config.json").write_text((tiny.REFERENCE / "config.json").read_text())
    config = AutoConfig.from_pretrained(tmp_path, trust_remote_code=False)
    assert isinstance(config, CodeT5pConfig)
    assert (config.encoder.n_embd, config.decoder.n_embd, config.decoder.n_layer) == (
        1024,
        6144,
        34,
    )
    with torch.device("meta"):
        model = AutoModelForSeq2SeqLM.from_config(config)
    assert isinstance(model, CodeT5pForConditionalGeneration)


def test_real_tokenizer_sends_four_spaces_as_a_tab_and_returns_them(tmp_path: Path):
    from transformers import AutoTokenizer

    from codetune_lsp.models.codet5p.tokenizer import apply_tab_convention

    tok = apply_tab_convention(AutoTokenizer.from_pretrained(tiny.REFERENCE))
    text = "def f(x):\n    if x:\n        return x\n"
    ids = tok(text).input_ids
    tokens = tok.convert_ids_to_tokens(ids)
    assert "".join(tokens).count("\t") == 3  # "\t" and the added "\t\t" token
    assert not any(t.startswith("ĠĠ") for t in tokens)  # no space-run tokens
    assert tok.decode(ids) == text
    assert tok.decode(tok("\tx = 1").input_ids) == "    x = 1"


# -- through the local backend -----------------------------------------------------------------
@pytest.fixture(scope="module")
def published_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    # Widths that are multiples of 64: the bitsandbytes 4-bit CPU kernel works in 64-blocks.
    config = tiny.tiny_config(
        vocab_size=tiny.REAL_VOCAB, n_positions=512, enc_embd=64, dec_embd=128
    )
    model = tiny.build_native(config, seed=3)
    out = tiny.write_published_layout(model, config, tmp_path_factory.mktemp("codet5p-bin"))
    return out, model


def _profile(path: Path, **extra: Any) -> ModelProfile:
    return ModelProfile(id=str(path), family="codet5p", variant="codet5p-16b", **extra)


def _direct_greedy(model: Any, prompt: str, tokens: int) -> str:
    """What the model itself generates for ``prompt`` with the family's conventions."""
    from transformers import AutoTokenizer

    from codetune_lsp.models.codet5p.tokenizer import apply_tab_convention

    tok = apply_tab_convention(AutoTokenizer.from_pretrained(tiny.REFERENCE))
    enc = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **enc, max_new_tokens=tokens, do_sample=False, eos_token_id=[50256], pad_token_id=50256
        )
    new = out[0, 1 + enc.input_ids.shape[1] :].tolist()
    if 50256 in new:
        new = new[: new.index(50256)]
    return tok.decode(new, skip_special_tokens=True)


async def _generate(path: Path, prompt: str, tokens: int = 12, **extra: Any) -> tuple[Any, Any]:
    backend = LocalBackend("c5", _profile(path, **extra))
    try:
        loaded = await backend.ready()
        result = await backend.generate(
            GenerationRequest(prompt=prompt, max_new_tokens=tokens, stop=())
        )
        return loaded, result
    finally:
        await backend.close()


PROMPT = "def add(a, b):\n    "


async def test_published_bin_layout_loads_and_generates_through_the_backend(
    published_dir: tuple[Path, Any],
):
    path, model = published_dir
    assert sorted(p.name for p in path.glob("pytorch_model-*.bin")) == [
        f"pytorch_model-0000{i}-of-00003.bin" for i in (1, 2, 3)
    ]
    loaded, result = await _generate(path, PROMPT)
    assert isinstance(loaded.model, CodeT5pForConditionalGeneration)
    assert loaded.quantization == "none" and loaded.dtype == "float32"
    assert loaded.context_length == 511  # the decoder start token takes one position
    for name, param in loaded.model.state_dict().items():
        assert torch.equal(param, model.state_dict()[name]), name
    assert result.tokens_out > 0
    expected = _direct_greedy(model, PROMPT, 12)
    for stop in FAMILY_TABLE["codet5p-16b"].stop:  # the profile's stop strings apply
        expected = expected.split(stop, 1)[0]
    assert result.text == expected


async def test_safetensors_layout_gives_the_same_output(
    published_dir: tuple[Path, Any], tmp_path: Path
):
    path, model = published_dir
    model.save_pretrained(tmp_path, safe_serialization=True)
    for name in tiny.TOKENIZER_FILES:
        (tmp_path / name).write_bytes((path / name).read_bytes())
    assert not list(tmp_path.glob("*.bin"))
    _, from_bin = await _generate(path, PROMPT)
    _, from_st = await _generate(tmp_path, PROMPT)
    assert from_st.text == from_bin.text


async def test_a_folder_without_weights_is_one_clear_error(tmp_path: Path):
    from codetune_lsp.models.base import BackendError

    (tmp_path / "config.json").write_text((tiny.REFERENCE / "config.json").read_text())
    with pytest.raises(BackendError, match="no CodeT5\\+ weights"):
        await _generate(tmp_path, PROMPT)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
async def test_half_precision_loads_generate_like_the_model_itself(
    published_dir: tuple[Path, Any], dtype: str
):
    path, _ = published_dir
    loaded, result = await _generate(path, PROMPT, dtype=dtype)
    assert loaded.dtype == dtype
    assert loaded.model.decoder.lm_head.weight.dtype == getattr(torch, dtype)
    direct = CodeT5pForConditionalGeneration.from_pretrained(
        path, dtype=getattr(torch, dtype), weights_only=True
    ).eval()
    expected = _direct_greedy(direct, PROMPT, 12)
    for stop in FAMILY_TABLE["codet5p-16b"].stop:
        expected = expected.split(stop, 1)[0]
    assert result.tokens_out > 0 and result.text == expected


@pytest.mark.parametrize("quantization", ["int8", "nf4"])
async def test_bitsandbytes_quantized_load_generates_like_the_model_itself(
    published_dir: tuple[Path, Any], quantization: str
):
    need("bitsandbytes", "quantized local models")
    from transformers import BitsAndBytesConfig

    path, _ = published_dir
    loaded, result = await _generate(path, PROMPT, quantization=quantization)
    kind = {"int8": "Linear8bitLt", "nf4": "Linear4bit"}[quantization]
    layer = loaded.model.decoder.transformer.h[0].attn.qkv_proj
    assert type(layer).__name__ == kind
    assert type(loaded.model.decoder.lm_head).__name__ == "Linear"  # kept in full precision
    bnb = (
        BitsAndBytesConfig(load_in_8bit=True)
        if quantization == "int8"
        else BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
        )
    )
    direct = CodeT5pForConditionalGeneration.from_pretrained(
        path, quantization_config=bnb, dtype=torch.float32, weights_only=True
    ).eval()
    # bitsandbytes int8 on CPU converts its weights during the first forward, which then
    # differs from later ones; the backend warms up with one, so the comparison does too.
    _direct_greedy(direct, "x", 1)
    expected = _direct_greedy(direct, PROMPT, 12)
    for stop in FAMILY_TABLE["codet5p-16b"].stop:
        expected = expected.split(stop, 1)[0]
    assert result.tokens_out > 0
    assert result.text == expected
    # The memory `models info` reports, against what bitsandbytes really allocated.
    from codetune_lsp.models.codet5p.memory import weight_memory

    estimate = weight_memory(loaded.model.config)
    footprint = loaded.footprint_bytes()  # parameters only: not the scales kept beside them
    rest = 4 * estimate.rest  # embeddings, norms, biases and the LM head stay fp32 here
    if quantization == "int8":  # one byte per weight + one fp32 scale per output row
        assert footprint == estimate.quantizable + rest
        assert estimate.quantized_bytes("int8", 4) == footprint + 4 * estimate.rows
    else:  # two weights per byte + one fp32 absmax per 64 weights
        assert footprint == estimate.quantizable // 2 + rest
        blocks = estimate.quantizable // 64
        assert estimate.quantized_bytes("nf4", 4) == footprint + 4 * blocks


async def test_instruct_profile_renders_a_chat_in_code_alpaca_form(
    published_dir: tuple[Path, Any],
):
    from codetune_lsp.models.base import ChatMessage

    path, _ = published_dir
    profile = ModelProfile(id=str(path), family="codet5p", variant="instructcodet5p-16b")
    row = family_for("i5", profile)
    text = row.format_chat(
        [ChatMessage("system", "You document code."), ChatMessage("user", "Add a docstring.")]
    )
    assert text == "You document code.\n\n### Instruction:\nAdd a docstring.\n\n### Response:"
    backend = LocalBackend("i5", profile)
    try:
        result = await backend.generate(
            GenerationRequest(messages=(ChatMessage("user", "Write add(a, b)."),), max_new_tokens=6)
        )
    finally:
        await backend.close()
    assert result.finish_reason in {"stop", "length"} and result.tokens_in > 5


def test_models_info_reports_weight_memory_from_the_config(tmp_path: Path):
    from click.testing import CliRunner

    from codetune_lsp.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text("")
    result = CliRunner().invoke(main, ["--config", str(cfg), "models", "info", "codet5p-16b"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "CodeT5pEncoderDecoderModel" in out and "refused" not in out
    assert "16,493,680,640" in out  # parameters counted on the meta device
    for line in ("fp32", "fp16", "bf16", "int8", "nf4"):
        assert f"weights {line}" in out
    assert "61.4 GiB" in out  # 16,493,680,640 x 4 bytes


async def test_completion_and_code_action_templates_run_through_the_engine(
    published_dir: tuple[Path, Any], tmp_path: Path
):
    """The built-in templates a CodeT5+ profile gets: recorded, successful executions."""
    from sqlalchemy import select

    from codetune_lsp.documents import DocumentSnapshot
    from codetune_lsp.engine import Engine, EngineRequest
    from codetune_lsp.paths import Paths
    from codetune_lsp.prompts.library import PromptLibrary
    from codetune_lsp.settings import Settings
    from codetune_lsp.store import open_store
    from codetune_lsp.store.tables import Execution

    path, _ = published_dir
    models = {
        "c5": _profile(path),
        "i5": ModelProfile(id=str(path), family="codet5p", variant="instructcodet5p-16b"),
    }
    settings = Settings(models=models)
    store = open_store(settings, Paths(tmp_path / "c.toml", "t", tmp_path / "data", "t"))
    library = PromptLibrary(store)
    library.seed_builtins()
    engine = Engine(settings, store, library, lambda n, p: LocalBackend(n, p))
    code = "def add(a, b):\n    return a + b\n"
    doc = DocumentSnapshot("file:///w/app.py", 1, "python", code)
    common = {"language": "python", "file_name": "app.py"}
    requests = [
        ("c5", "completion", "completion.chat", {"prefix": "def add(a, b):\n    ", "suffix": ""}),
        ("i5", "code_action", "code_action.docstring", {"code": code}),
        ("c5", "code_action", "code_action.explain", {"code": code}),
    ]
    try:
        for model, feature, template, variables in requests:
            result = await engine.run(
                EngineRequest(
                    feature=feature,
                    template=template,
                    model=model,
                    variables={**common, **variables},
                    document=doc,
                    max_new_tokens=8,
                )
            )
            assert result.finish_reason in {"stop", "length"}, (template, result)
            assert "\t" not in result.text  # tabs come back as four spaces
        store.flush().result()
        rows = store.read(lambda s: list(s.scalars(select(Execution))))
        assert len(rows) == 3 and all(row.success for row in rows)
        assert {row.template_name for row in rows} == {t for _, _, t, _ in requests}
    finally:
        await engine.aclose()
        store.close()
