"""The family table: the facts every backend and the prompt layer rely on."""

from __future__ import annotations

import pytest

from codetune_lsp.models.base import BackendError, ChatMessage
from codetune_lsp.models.profiles import (
    DEEPSEEK_FIM,
    FAMILY_TABLE,
    LICENCE_NOTES,
    _LicenceNotes,
    family_for,
    refuse_if_unsupported,
)
from codetune_lsp.settings import ModelProfile


def test_deepseek_fim_tokens_use_fullwidth_bars_and_block_underscores():
    assert DEEPSEEK_FIM.tokens == (
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581hole\uff5c>",
        "<\uff5cfim\u2581end\uff5c>",
    )
    assert DEEPSEEK_FIM.build("a = ", "\nprint(a)") == (
        "<\uff5cfim\u2581begin\uff5c>a = <\uff5cfim\u2581hole\uff5c>\nprint(a)"
        "<\uff5cfim\u2581end\uff5c>"
    )


def test_33b_facts_match_the_published_figures():
    row = FAMILY_TABLE["whiterabbitneo-33b-v1"]
    assert row.architecture == "LlamaForCausalLM"
    assert row.context_length == 16384
    assert (row.memory.fp16_gb, row.memory.int8_gb, row.memory.nf4_gb) == (66.7, 33.8, 19.4)
    assert not row.memory.estimated
    assert "32022/32023" in row.notes and "32013/32014" in row.notes


def test_every_whiterabbitneo_variant_has_chat_format_user_stop_and_explicit_eos():
    rows = [r for r in FAMILY_TABLE.values() if r.family == "whiterabbitneo"]
    assert {r.key for r in rows} >= {
        "whiterabbitneo-33b-v1",
        "whiterabbitneo-33b-v1.5",
        "whiterabbitneo-13b",
        "whiterabbitneo-7b",
        "whiterabbitneo-2.5-qwen-7b",
    }
    for row in rows:
        assert row.eos_tokens
        assert row.chat_format is not None
        if row.key != "whiterabbitneo-2.5-qwen-7b":
            assert "USER:" in row.stop
    # 2.5 is a Qwen2.5-Coder fine-tune: its base's ChatML, not SYSTEM:/USER:/ASSISTANT:.
    assert FAMILY_TABLE["whiterabbitneo-2.5-qwen-7b"].chat_format.name == "ChatML"
    assert "<|im_end|>" in FAMILY_TABLE["whiterabbitneo-2.5-qwen-7b"].stop
    assert FAMILY_TABLE["whiterabbitneo-2.5-qwen-7b"].architecture == "Qwen2ForCausalLM"
    assert FAMILY_TABLE["whiterabbitneo-2.5-qwen-7b"].context_length == 32768
    assert FAMILY_TABLE["whiterabbitneo-13b"].base_model.startswith("CodeLlama")


def test_chat_format_renders_system_user_assistant():
    row = FAMILY_TABLE["whiterabbitneo-7b"]
    text = row.format_chat([ChatMessage("system", "S"), ChatMessage("user", "U")])
    assert text == "SYSTEM: S\nUSER: U\nASSISTANT: "
    turns = [ChatMessage("user", "a"), ChatMessage("assistant", "b"), ChatMessage("user", "c")]
    assert row.format_chat(turns) == "USER: a\nASSISTANT: b\nUSER: c\nASSISTANT: "
    with pytest.raises(ValueError):
        row.format_chat([ChatMessage("system", "only")])


def test_qwen_coder_rows_have_chatml_fim_and_their_own_licence():
    for key in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "qwen2.5-coder-7b"):
        row = FAMILY_TABLE[key]
        assert row.family == "qwen2.5-coder"
        assert row.fim is not None and row.fim.name == "qwen"
        assert row.context_length == 32768
        assert row.licence == "apache-2.0" and not row.licence_note
    assert FAMILY_TABLE["qwen2.5-coder-0.5b"].hub_id == "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF"
    assert FAMILY_TABLE["qwen2.5-coder-0.5b"].params_b < 1


def test_chatml_adds_qwens_default_system_prompt_like_its_own_template():
    row = FAMILY_TABLE["qwen2.5-coder-0.5b"]
    text = row.format_chat([ChatMessage("user", "hi")])
    assert text == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
        "assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_codet5p_small_models_infill_with_sentinels_in_a_512_context():
    for key in ("codet5p-220m", "codet5p-220m-py", "codet5p-770m", "codet5p-770m-py"):
        row = FAMILY_TABLE[key]
        assert row.architecture == "T5ForConditionalGeneration"
        assert row.context_length == 512 and row.seq2seq and not row.refused
        assert row.fim is not None and row.fim.build("a(", ")") == "a(<extra_id_0>)"


@pytest.mark.parametrize("key", ["codet5p-2b", "codet5p-6b", "codet5p-16b", "instructcodet5p-16b"])
def test_large_codet5p_models_load_natively_with_salesforce_conventions(key: str):
    row = FAMILY_TABLE[key]
    assert row.params_b >= 3 and not row.refused
    assert row.architecture == "CodeT5pEncoderDecoderModel" and row.seq2seq
    assert row.context_length == 2048 and row.fim is None
    assert row.stop == ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
    assert row.eos_tokens == ("<|endoftext|>",)
    assert not row.memory.estimated and row.memory.nf4_gb < row.memory.int8_gb
    profile = ModelProfile(family="codet5p", id=row.hub_id)
    assert family_for("big", profile) is row
    refuse_if_unsupported("big", profile, row)  # loads locally, remote code or not
    chat = [ChatMessage("system", "S"), ChatMessage("user", "U")]
    if key.startswith("instruct"):
        assert row.format_chat(chat) == "S\n\n### Instruction:\nU\n\n### Response:"
    else:
        assert row.format_chat(chat) == "S\n\nU"


def test_profile_matching_by_variant_then_hub_id_then_family():
    by_id = ModelProfile(id="whiterabbitneo/whiterabbitneo-33b-v1.5")
    assert family_for("p", by_id).key == "whiterabbitneo-33b-v1.5"
    by_variant = ModelProfile(id="/models/mine", variant="whiterabbitneo-13b")
    assert family_for("p", by_variant).key == "whiterabbitneo-13b"
    assert family_for("p", ModelProfile(id="/models/x")).key == "whiterabbitneo"
    assert family_for("p", ModelProfile(family="codet5p", id="/x")).key == "codet5p"
    with pytest.raises(BackendError) as info:
        family_for("p", ModelProfile(variant="nope"))
    assert "models.p.variant" in info.value.fix


def test_licence_note_is_given_once_per_process():
    notes = _LicenceNotes()
    row = FAMILY_TABLE["whiterabbitneo-33b-v1"]
    first = notes.take(row)
    assert first and "DeepSeek" in first
    assert notes.take(row) is None
    assert notes.take(FAMILY_TABLE["codet5p-220m"]) is None  # no note for this licence
    assert LICENCE_NOTES is not notes
