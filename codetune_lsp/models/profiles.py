"""Model family facts as one table: architecture, prompt format, FIM tokens, stops, licence.

Facts come from the published model cards and config files; memory figures are weights
only. A ``ModelProfile`` from the settings is matched to one row here by
its ``variant`` or its hub ``id``; a local path falls back to the family's generic row.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from codetune_lsp.models.base import BackendError, ChatMessage
from codetune_lsp.settings import ModelProfile

# DeepSeek-Coder spells these with FULLWIDTH VERTICAL LINE (U+FF5C) and LOWER ONE EIGHTH BLOCK
# (U+2581), not ASCII "|" and "_".
DEEPSEEK_BOS = "<\uff5cbegin\u2581of\u2581sentence\uff5c>"
DEEPSEEK_EOS = "<\uff5cend\u2581of\u2581sentence\uff5c>"
DEEPSEEK_EOT = "<|EOT|>"
DEEPSEEK_FIM_BEGIN = "<\uff5cfim\u2581begin\uff5c>"
DEEPSEEK_FIM_HOLE = "<\uff5cfim\u2581hole\uff5c>"
DEEPSEEK_FIM_END = "<\uff5cfim\u2581end\uff5c>"


@dataclass(frozen=True)
class FimFormat:
    """Fill-in-the-middle layout: ``template`` has ``{prefix}`` and ``{suffix}`` slots."""

    name: str
    template: str
    tokens: tuple[str, ...]  # must all be in the tokenizer for this format to be used

    def build(self, prefix: str, suffix: str) -> str:
        return self.template.replace("{prefix}", prefix, 1).replace("{suffix}", suffix, 1)


DEEPSEEK_FIM = FimFormat(
    "deepseek",
    f"{DEEPSEEK_FIM_BEGIN}{{prefix}}{DEEPSEEK_FIM_HOLE}{{suffix}}{DEEPSEEK_FIM_END}",
    (DEEPSEEK_FIM_BEGIN, DEEPSEEK_FIM_HOLE, DEEPSEEK_FIM_END),
)
QWEN_FIM = FimFormat(
    "qwen",
    "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
)
CODELLAMA_FIM = FimFormat(
    "codellama", "<PRE> {prefix} <SUF>{suffix} <MID>", ("<PRE>", "<SUF>", "<MID>")
)
T5_SPAN = FimFormat("t5-span", "{prefix}<extra_id_0>{suffix}", ("<extra_id_0>",))
# Repository-level markers: the name token, then the file separator before each file's
# path and content, the current file last (Qwen2.5-Coder's pretraining format).
QWEN_REPO = ("<|repo_name|>", "<|file_sep|>")


@dataclass(frozen=True)
class ChatFormat:
    """Role cues; a chat renders as ``<system>s<sep><user>u<sep><assistant>``.

    ``default_system`` is used when the chat has no system message (as the model's own chat
    template does, where it has one).
    """

    name: str = "SYSTEM:/USER:/ASSISTANT:"
    system: str = "SYSTEM: "
    user: str = "USER: "
    assistant: str = "ASSISTANT: "
    sep: str = "\n"
    default_system: str = ""

    def cues(self) -> dict[str, str]:
        """The role markers, for a template that writes a chat turn into a raw prompt (to
        start the assistant's answer itself)."""
        return {
            "system": self.system,
            "user": self.user,
            "assistant": self.assistant,
            "end": self.sep,
            "default_system": self.default_system,
        }


WRN_CHAT = ChatFormat()
CHATML = ChatFormat(
    name="ChatML",
    system="<|im_start|>system\n",
    user="<|im_start|>user\n",
    assistant="<|im_start|>assistant\n",
    sep="<|im_end|>\n",
)
# Qwen2.5's ChatML, as its tokenizer's chat template renders it (tools aside).
CHATML_QWEN = replace(
    CHATML, default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
)
WRN_LICENCE = (
    "WhiteRabbitNeo models are published under the {base} licence plus WhiteRabbitNeo's "
    "usage restrictions (no use that harms others, breaks the law or targets systems you "
    "are not authorised to test). By using this profile you accept them: see {url}."
)


@dataclass(frozen=True)
class MemoryFacts:
    """Weights-only footprint in GB; ``estimated`` when scaled from the parameter count."""

    fp16_gb: float
    int8_gb: float
    nf4_gb: float
    estimated: bool = True


def _scaled(params_b: float) -> MemoryFacts:
    # Ratios of the published 33B figures (66.7 / 33.8 / 19.4 GB for 33.3B parameters).
    fp16 = params_b * 2.003
    return MemoryFacts(round(fp16, 1), round(fp16 * 0.507, 1), round(fp16 * 0.291, 1))


@dataclass(frozen=True)
class FamilyProfile:
    """One row of the table: the facts every backend and the prompt layer rely on."""

    key: str
    family: str
    hub_id: str
    architecture: str
    base_model: str
    params_b: float
    context_length: int
    tokenizer: str
    licence: str
    memory: MemoryFacts
    seq2seq: bool = False
    chat_format: ChatFormat | None = None
    stop: tuple[str, ...] = ()
    # Token strings that end generation; resolved to ids with the real tokenizer at load.
    eos_tokens: tuple[str, ...] = ()
    fim: FimFormat | None = None
    repo: tuple[str, str] | None = None  # repository name token, file separator token
    licence_note: str = ""
    notes: str = ""
    refused: str = ""  # non-empty: never loaded locally, this is why

    def format_chat(self, messages: Sequence[ChatMessage]) -> str:
        """Render ``messages`` in this family's chat format, ending with the assistant cue."""
        if not any(m.role == "user" for m in messages):
            raise ValueError("a chat needs at least one user message")
        fmt = self.chat_format
        if fmt is None:  # encoder-decoder code models have no chat format
            return "\n\n".join(m.content for m in messages)
        system = "\n".join(m.content for m in messages if m.role == "system")
        system = system or fmt.default_system
        parts = [f"{fmt.system}{system}{fmt.sep}"] if system else []
        for m in messages:
            if m.role != "system":
                cue = fmt.user if m.role == "user" else fmt.assistant
                parts.append(f"{cue}{m.content}{fmt.sep}")
        parts.append(fmt.assistant)
        return "".join(parts)

    def fim_supported(self, vocab: set[str] | dict[str, int]) -> bool:
        return self.fim is not None and all(tok in vocab for tok in self.fim.tokens)


_DEEPSEEK_33B = dict(
    family="whiterabbitneo",
    architecture="LlamaForCausalLM",
    base_model="deepseek-coder-33b-base",
    params_b=33.3,
    context_length=16384,
    tokenizer="DeepSeek-Coder byte-level BPE (vocab 32256)",
    licence="deepseek",
    memory=MemoryFacts(66.7, 33.8, 19.4, estimated=False),
    chat_format=WRN_CHAT,
    stop=("USER:",),
    fim=DEEPSEEK_FIM,
)

_ROWS: tuple[FamilyProfile, ...] = (
    FamilyProfile(
        key="whiterabbitneo-33b-v1",
        hub_id="WhiteRabbitNeo/WhiteRabbitNeo-33B-v1",
        eos_tokens=(DEEPSEEK_EOS,),
        licence_note=WRN_LICENCE.format(
            base="DeepSeek", url="https://huggingface.co/WhiteRabbitNeo/WhiteRabbitNeo-33B-v1"
        ),
        notes=(
            "config.json says bos/eos 32022/32023, generation_config.json 32013/32014; "
            "eos is set explicitly from the tokenizer's end-of-sentence token. "
            "62 layers, 56 heads, 8 KV heads, linear rope x4."
        ),
        **_DEEPSEEK_33B,  # type: ignore[arg-type]
    ),
    FamilyProfile(
        key="whiterabbitneo-33b-v1.5",
        hub_id="WhiteRabbitNeo/WhiteRabbitNeo-33B-v1.5",
        eos_tokens=(DEEPSEEK_EOT, DEEPSEEK_EOS),
        licence_note=WRN_LICENCE.format(
            base="DeepSeek", url="https://huggingface.co/WhiteRabbitNeo/WhiteRabbitNeo-33B-v1.5"
        ),
        notes="generation_config.json ends at <|EOT|> (32021); eos set explicitly.",
        **_DEEPSEEK_33B,  # type: ignore[arg-type]
    ),
    FamilyProfile(
        key="whiterabbitneo-13b",
        family="whiterabbitneo",
        hub_id="WhiteRabbitNeo/WhiteRabbitNeo-13B-v1",
        architecture="LlamaForCausalLM",
        base_model="CodeLlama-13b",
        params_b=13.0,
        context_length=16384,
        tokenizer="CodeLlama SentencePiece (vocab 32016)",
        licence="llama2",
        memory=_scaled(13.0),
        chat_format=WRN_CHAT,
        stop=("USER:",),
        eos_tokens=("</s>",),
        fim=CODELLAMA_FIM,
        licence_note=WRN_LICENCE.format(
            base="Llama 2", url="https://huggingface.co/WhiteRabbitNeo/WhiteRabbitNeo-13B-v1"
        ),
        notes="The repository ships remote code; the stock Llama class loads it without it.",
    ),
    FamilyProfile(
        key="whiterabbitneo-7b",
        family="whiterabbitneo",
        hub_id="WhiteRabbitNeo/WhiteRabbitNeo-7B-v1.5a",
        architecture="LlamaForCausalLM",
        base_model="deepseek-coder-6.7b-base",
        params_b=6.7,
        context_length=16384,
        tokenizer="DeepSeek-Coder byte-level BPE (vocab 32256)",
        licence="deepseek",
        memory=_scaled(6.7),
        chat_format=WRN_CHAT,
        stop=("USER:",),
        eos_tokens=(DEEPSEEK_EOT, DEEPSEEK_EOS),
        fim=DEEPSEEK_FIM,
        licence_note=WRN_LICENCE.format(
            base="DeepSeek", url="https://huggingface.co/WhiteRabbitNeo/WhiteRabbitNeo-7B-v1.5a"
        ),
    ),
    FamilyProfile(
        key="whiterabbitneo-2.5-qwen-7b",
        family="whiterabbitneo",
        hub_id="WhiteRabbitNeo/WhiteRabbitNeo-2.5-Qwen-2.5-Coder-7B",
        architecture="Qwen2ForCausalLM",
        base_model="Qwen2.5-Coder-7B",
        params_b=7.6,
        context_length=32768,
        tokenizer="Qwen2 byte-level BPE (vocab 151646 + specials)",
        licence="apache-2.0",
        memory=_scaled(7.6),
        chat_format=CHATML,
        stop=("<|im_end|>", "<|endoftext|>", "<|file_sep|>"),
        eos_tokens=("<|im_end|>", "<|endoftext|>", "<|fim_pad|>"),
        fim=QWEN_FIM,
        repo=QWEN_REPO,
        licence_note=WRN_LICENCE.format(
            base="Apache-2.0",
            url="https://huggingface.co/WhiteRabbitNeo/WhiteRabbitNeo-2.5-Qwen-2.5-Coder-7B",
        ),
    ),
    *(
        FamilyProfile(
            key=f"qwen2.5-coder-{size}",
            family="qwen2.5-coder",
            hub_id=f"Qwen/Qwen2.5-Coder-{size.upper()}-Instruct{'-GGUF' if gguf else ''}",
            architecture="Qwen2ForCausalLM",
            base_model=f"Qwen2.5-Coder-{size.upper()} (instruct)",
            params_b=params_b,
            context_length=32768,
            tokenizer="Qwen2 byte-level BPE (vocab 151646 + specials)",
            licence="apache-2.0",
            memory=_scaled(params_b),
            chat_format=CHATML_QWEN,
            stop=("<|im_end|>", "<|endoftext|>", "<|file_sep|>"),
            eos_tokens=("<|im_end|>", "<|endoftext|>", "<|fim_pad|>"),
            fim=QWEN_FIM,
            repo=QWEN_REPO,
            notes=(
                "The base family of WhiteRabbitNeo-2.5: same tokenizer, FIM and repo-level "
                "tokens (<|repo_name|>, <|file_sep|>) and ChatML."
                + (" Published as GGUF; the embedded default is the Q4_K_M file." if gguf else "")
            ),
        )
        for size, params_b, gguf in (("0.5b", 0.49, True), ("1.5b", 1.54, True), ("7b", 7.6, False))
    ),
    # A local path or an unknown id of the family: DeepSeek conventions, checked against the
    # real tokenizer (FIM only where it has the tokens).
    FamilyProfile(
        key="whiterabbitneo",
        family="whiterabbitneo",
        hub_id="",
        architecture="LlamaForCausalLM",
        base_model="(unknown)",
        params_b=0.0,
        context_length=16384,
        tokenizer="from the model",
        licence="see the model card",
        memory=MemoryFacts(0, 0, 0),
        chat_format=WRN_CHAT,
        stop=("USER:",),
        eos_tokens=(DEEPSEEK_EOT, DEEPSEEK_EOS),
        fim=DEEPSEEK_FIM,
    ),
    FamilyProfile(
        key="qwen2.5-coder",
        family="qwen2.5-coder",
        hub_id="",
        architecture="Qwen2ForCausalLM",
        base_model="(unknown)",
        params_b=0.0,
        context_length=32768,
        tokenizer="from the model",
        licence="see the model card",
        memory=MemoryFacts(0, 0, 0),
        chat_format=CHATML_QWEN,
        stop=("<|im_end|>", "<|endoftext|>", "<|file_sep|>"),
        eos_tokens=("<|im_end|>", "<|endoftext|>", "<|fim_pad|>"),
        fim=QWEN_FIM,
        repo=QWEN_REPO,
    ),
)

# Salesforce's HumanEval script for CodeT5+ 2B/6B/16B: cut the output at these.
CODET5P_STOPS = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
# InstructCodeT5+ was tuned on Code Alpaca prompts.
ALPACA_CHAT = ChatFormat(
    system="", user="### Instruction:\n", assistant="### Response:", sep="\n\n"
)
# Weights only, GB, computed from the published configs on the meta device (see
# codetune_lsp/models/codet5p/memory.py; `models info` recomputes them).
_CODET5P_MEMORY = {
    "2b": MemoryFacts(6.2, 3.4, 2.2, estimated=False),
    "6b": MemoryFacts(14.9, 7.9, 4.9, estimated=False),
    "16b": MemoryFacts(33.0, 17.2, 10.3, estimated=False),
}
_CODET5P_NATIVE = (
    "Native implementation (no remote code). Prompt conventions as Salesforce ran it: the "
    "prompt goes to the encoder and, after the start token, to the decoder, which continues "
    "it; four spaces are sent as a tab and tabs come back as four spaces."
)


def _codet5p(
    size: str, params_b: float, *, py: bool = False, native: bool = False
) -> FamilyProfile:
    name = f"codet5p-{size}{'-py' if py else ''}"
    return FamilyProfile(
        key=name,
        family="codet5p",
        hub_id=f"Salesforce/{name}",
        architecture="CodeT5pEncoderDecoderModel" if native else "T5ForConditionalGeneration",
        base_model="CodeT5+" + (" (further trained on Python)" if py else ""),
        params_b=params_b,
        context_length=2048 if native else 512,
        tokenizer="CodeGen BPE (vocab 51200)"
        if native
        else "RoBERTa byte-level BPE + <extra_id_N> sentinels",
        licence="bsd-3-clause",
        memory=_CODET5P_MEMORY.get(size, _scaled(params_b)),
        seq2seq=True,
        stop=CODET5P_STOPS if native else (),
        eos_tokens=("<|endoftext|>",) if native else ("</s>", "<extra_id_1>"),
        fim=None if native else T5_SPAN,
        notes=_CODET5P_NATIVE if native else "",
    )


_ROWS += (
    _codet5p("220m", 0.22),
    _codet5p("220m", 0.22, py=True),
    _codet5p("770m", 0.77),
    _codet5p("770m", 0.77, py=True),
    _codet5p("2b", 3.1, native=True),
    _codet5p("6b", 7.4, native=True),
    _codet5p("16b", 16.5, native=True),
    FamilyProfile(
        **{
            **_codet5p("16b", 16.5, native=True).__dict__,
            "key": "instructcodet5p-16b",
            "hub_id": "Salesforce/instructcodet5p-16b",
            "base_model": "CodeT5+ 16B, instruction-tuned (Code Alpaca)",
            "chat_format": ALPACA_CHAT,
        }
    ),
    FamilyProfile(
        key="codet5p",
        family="codet5p",
        hub_id="",
        architecture="T5ForConditionalGeneration",
        base_model="(unknown)",
        params_b=0.0,
        context_length=512,
        tokenizer="from the model",
        licence="see the model card",
        memory=MemoryFacts(0, 0, 0),
        seq2seq=True,
        eos_tokens=("</s>", "<extra_id_1>"),
        fim=T5_SPAN,
    ),
)

FAMILY_TABLE: dict[str, FamilyProfile] = {row.key: row for row in _ROWS}
_BY_HUB_ID = {row.hub_id.lower(): row for row in _ROWS if row.hub_id}


def family_for(name: str, profile: ModelProfile) -> FamilyProfile:
    """The table row for a configured profile: by ``variant``, else hub ``id``, else generic."""
    if profile.variant:
        row = FAMILY_TABLE.get(profile.variant)
        if row is None:
            raise BackendError(
                name,
                f"unknown variant {profile.variant!r}",
                f"set models.{name}.variant to one of {', '.join(sorted(FAMILY_TABLE))}",
            )
        return row
    row = _BY_HUB_ID.get(profile.id.lower())
    if row is not None:
        return row
    return FAMILY_TABLE[profile.family]


def refuse_if_unsupported(name: str, profile: ModelProfile, row: FamilyProfile) -> None:
    """Raise for rows that must not load locally; a remote server may still serve them."""
    if row.refused and profile.backend == "local":
        raise BackendError(
            name,
            f"{row.hub_id} is not supported: {row.refused}",
            "use codet5p-220m-py or codet5p-770m-py, or serve the model remotely "
            f'(models.{name}.backend = "openai" or "tgi")',
        )


@dataclass
class _LicenceNotes:
    shown: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, row: FamilyProfile) -> str | None:
        """The licence note the first time a row is used in this process, then ``None``."""
        if not row.licence_note:
            return None
        with self.lock:
            if row.key in self.shown:
                return None
            self.shown.add(row.key)
        return row.licence_note


LICENCE_NOTES = _LicenceNotes()
