"""The torch side of the local backend: loading and one batched ``generate`` call.

Imported only from the model worker thread (and tests), so the server starts without torch.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    GenerationConfig,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from codetune_lsp.models.base import BackendError, ChatMessage
from codetune_lsp.models.install import is_gguf_profile
from codetune_lsp.models.profiles import FamilyProfile
from codetune_lsp.redaction import redact
from codetune_lsp.settings import ModelProfile

if TYPE_CHECKING:
    from codetune_lsp.models.local import Slot

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LoadedModel:
    """A model and its tokenizer, ready to generate, plus the facts ``models check`` prints."""

    name: str
    profile: ModelProfile
    row: FamilyProfile
    model: Any
    tokenizer: Any
    eos_ids: list[int]
    pad_id: int
    device: str
    dtype: str
    quantization: str
    model_id: str
    revision: str
    context_length: int
    load_s: float
    seq2seq: bool
    fim_enabled: bool
    extras: dict[str, Any] = field(default_factory=dict)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True).input_ids)

    def footprint_bytes(self) -> int:
        return int(self.model.get_memory_footprint())

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def format_chat(self, messages: Sequence[ChatMessage]) -> str | None:
        """The chat in the tokenizer's own template, or None (no template, or not wanted)."""
        if self.profile.chat_format == "family" or not getattr(
            self.tokenizer, "chat_template", None
        ):
            return None
        return self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            tokenize=False,
            add_generation_prompt=True,
        )


def _hub_resolvable() -> bool:
    """Whether the hub's host name resolves (a failed DNS lookup answers at once)."""
    host = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.getaddrinfo(host or "huggingface.co", 443)
    except OSError:
        return False
    return True


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _resolve_dtype(profile: ModelProfile, cuda: bool) -> torch.dtype:
    if profile.dtype != "auto":
        return _DTYPES[profile.dtype]
    if cuda:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _quantization_config(profile: ModelProfile, cuda: bool) -> BitsAndBytesConfig | None:
    q = profile.quantization
    if q == "none":
        return None
    if q == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = (
        _DTYPES[profile.compute_dtype]
        if profile.compute_dtype != "auto"
        else (torch.bfloat16 if cuda else torch.float32)
    )
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=q,
        bnb_4bit_compute_dtype=compute,
        bnb_4bit_use_double_quant=profile.double_quant,
    )


def placement(profile: ModelProfile, cuda: bool, quant: Any) -> dict[str, Any]:
    """``from_pretrained`` arguments for quantization, device map and memory limits."""
    kwargs: dict[str, Any] = {}
    if quant is not None:
        kwargs["quantization_config"] = quant
    if profile.device_map and (cuda or quant is not None or profile.device_map != "auto"):
        kwargs["device_map"] = profile.device_map
    if profile.max_memory:
        kwargs["max_memory"] = {
            (int(k) if k.isdigit() else k): v for k, v in profile.max_memory.items()
        }
    return kwargs


def load(
    name: str, profile: ModelProfile, row: FamilyProfile, progress: Callable[[str], None]
) -> LoadedModel:
    """Load tokenizer and weights for ``profile``; every failure is one ``BackendError``."""
    if row.architecture == "CodeT5pEncoderDecoderModel":  # native, never remote code
        from codetune_lsp.models.codet5p import loader as codet5p

        return codet5p.load(name, profile, row, progress)
    started = time.perf_counter()
    source = profile.id
    if not source:
        raise BackendError(name, "no model id is set", f"set models.{name}.id to a hub id or path")
    if is_gguf_profile(profile):
        source = str(_converted_gguf(name, profile, progress))
    local = Path(source).expanduser().is_dir()
    if local:
        source = str(Path(source).expanduser())
    common: dict[str, Any] = {"trust_remote_code": profile.trust_remote_code}
    if profile.revision and not local:
        common["revision"] = profile.revision
    if not local and not _offline() and not _hub_resolvable():
        # No route to the hub: use the local cache only, instead of retrying for half a minute.
        common["local_files_only"] = True
    cuda = torch.cuda.is_available()
    try:
        progress(f"reading the configuration of {profile.id}")
        config = AutoConfig.from_pretrained(source, **common)
        _check_architecture(name, row, config)
        progress("loading the tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(source, **common)
        dtype = _resolve_dtype(profile, cuda)
        quant = _quantization_config(profile, cuda)
        kwargs: dict[str, Any] = dict(
            common, use_safetensors=True, dtype=dtype, **placement(profile, cuda, quant)
        )
        progress(f"loading weights ({profile.quantization}, {str(dtype).removeprefix('torch.')})")
        cls = AutoModelForSeq2SeqLM if row.seq2seq else AutoModelForCausalLM
        model = cls.from_pretrained(source, **kwargs)
    except BackendError:
        raise
    except BaseException as exc:
        raise explain_load_error(name, profile, exc) from exc
    model.eval()
    vocab = tokenizer.get_vocab()
    eos_ids = sorted({vocab[t] for t in row.eos_tokens if t in vocab})
    if not eos_ids and tokenizer.eos_token_id is not None:
        eos_ids = [tokenizer.eos_token_id]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    context = profile.context_length or row.context_length
    config_ctx = getattr(config, "max_position_embeddings", None) or getattr(
        config, "n_positions", None
    )
    if not profile.context_length and config_ctx and not row.seq2seq:
        context = min(context, int(config_ctx))
    device = str(next(model.parameters()).device)
    loaded = LoadedModel(
        name=name,
        profile=profile,
        row=row,
        model=model,
        tokenizer=tokenizer,
        eos_ids=eos_ids,
        pad_id=int(pad_id),
        device=device,
        dtype=str(getattr(model, "dtype", dtype)).removeprefix("torch."),
        quantization=profile.quantization,
        model_id=profile.id,
        revision=_resolved_revision(model, profile),
        context_length=context,
        load_s=time.perf_counter() - started,
        seq2seq=row.seq2seq,
        fim_enabled=row.fim_supported(vocab),
    )
    progress("warming up")
    _warm_up(loaded)
    progress("ready")
    return loaded


def _converted_gguf(name: str, profile: ModelProfile, progress: Callable[[str], None]) -> Path:
    """A safetensors copy of the profile's GGUF file, made on first use and kept.

    transformers dequantises a GGUF on every load (about 46 s for the 0.5B model on 2 cores);
    the copy loads in a few seconds. It lives beside the data dir's models, keyed by the
    GGUF's name, size and mtime and the dtype, so a changed file is converted again.
    """
    from codetune_lsp.models.install import locate_gguf
    from codetune_lsp.paths import resolve_paths

    gguf = locate_gguf(name, profile)
    dtype = _resolve_dtype(profile, torch.cuda.is_available())
    dtype_name = str(dtype).removeprefix("torch.")
    stat = gguf.stat()
    stamp = f"{gguf.name} {stat.st_size} {stat.st_mtime_ns} {dtype_name}"
    target = resolve_paths().data_dir / "models" / "converted" / f"{gguf.stem}-{dtype_name}"
    marker = target / "codetune-source.txt"
    if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
        return target
    progress(f"converting {gguf.name} to safetensors once ({dtype_name})")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype)
        # A GGUF-loaded model refuses to save while it still names its quantizer; the weights
        # are already dequantised, so the copy is a plain checkpoint.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / marker.name).write_text(stamp, encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, BackendError):
            raise
        raise BackendError(
            name,
            f"cannot convert {gguf.name} for transformers ({type(exc).__name__}: {exc})",
            "install the `gguf` package (`pip install 'codetune-lsp[local]'`), or use the "
            f'llama.cpp runtime (models.{name}.runtime = "llama.cpp")',
        ) from exc
    return target


def constraint(loaded: LoadedModel, schema: Any) -> Any:
    """The compiled grammar that only admits JSON matching ``schema``, or None without
    xgrammar; ``run_batch`` gives each constrained row a matcher of its own.

    Without it the answer is generated freely and still validated against the schema, so
    the features work on a plain ``pip install 'codetune-lsp[local]'``, a little less reliably.
    """
    from codetune_lsp.models.structured import compiled_json_grammar

    if importlib.util.find_spec("xgrammar") is None:
        if not loaded.extras.get("warned_no_xgrammar"):
            loaded.extras["warned_no_xgrammar"] = True
            logging.getLogger(__name__).warning(
                "model profile '%s': xgrammar is not installed, so JSON answers are not "
                "constrained while generated (they are still validated); install it with "
                "`pip install --no-deps xgrammar==0.2.8 apache-tvm-ffi`",
                loaded.name,
            )
        return None
    return compiled_json_grammar(loaded, schema)


def _warm_up(loaded: LoadedModel) -> None:
    """One single-token generation so the first real request does not pay for lazy setup."""
    start = loaded.eos_ids[0] if loaded.seq2seq else (loaded.tokenizer.bos_token_id or 0)
    ids = torch.tensor([[start]], device=loaded.device)
    with torch.inference_mode():
        loaded.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            generation_config=GenerationConfig(
                max_new_tokens=1, do_sample=False, pad_token_id=loaded.pad_id, eos_token_id=None
            ),
        )


def _resolved_revision(model: Any, profile: ModelProfile) -> str:
    commit = getattr(model.config, "_commit_hash", None)
    return str(commit or profile.revision or "")


def _check_architecture(name: str, row: FamilyProfile, config: Any) -> None:
    archs = list(getattr(config, "architectures", None) or [])
    is_enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    if is_enc_dec != row.seq2seq:
        want = "an encoder-decoder (T5)" if row.seq2seq else "a decoder-only (Llama/Qwen)"
        raise BackendError(
            name,
            f"the weights are {', '.join(archs) or config.model_type}, not {want} model "
            f"as family '{row.family}' expects",
            f"set models.{name}.family to match the weights",
        )


def explain_load_error(name: str, profile: ModelProfile, exc: BaseException) -> BackendError:
    """Map a loading failure to one message with the fix."""
    text = redact(f"{type(exc).__name__}: {exc}")
    low = text.lower()
    model_id = profile.id
    rev = f" --revision {profile.revision}" if profile.revision else ""
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in low or "can't allocate" in low:
        return BackendError(
            name,
            f"not enough memory to load {model_id} ({profile.quantization}, {profile.dtype})",
            f'set models.{name}.quantization = "nf4", pick a smaller variant, or set '
            f"models.{name}.max_memory to offload layers to the CPU",
        )
    if "trust_remote_code" in low or "custom code" in low:
        return BackendError(
            name,
            f"{model_id} needs its own remote code to load",
            f"only if you trust the repository, set models.{name}.trust_remote_code = true in "
            "your user config file",
        )
    if profile.quantization != "none" and ("bitsandbytes" in low or "bnb" in low or "cuda" in low):
        return BackendError(
            name,
            f"{profile.quantization} quantization is not available here ({text[:200]})",
            f'set models.{name}.quantization = "none" on this machine, or run it on a CUDA GPU '
            "with bitsandbytes installed",
        )
    local = Path(model_id).expanduser().exists() or model_id.startswith(("/", ".", "~"))
    if local:
        if "safetensors" in low or "no file named" in low or "does not appear" in low:
            return BackendError(
                name,
                f"no safetensors weights in {model_id}",
                "save the model with save_pretrained(..., safe_serialization=True); pickled "
                ".bin weights are never loaded",
            )
        return BackendError(
            name,
            f"cannot load the model at {model_id} ({text[:200]})",
            f"check that models.{name}.id points at a directory made by save_pretrained",
        )
    if "revision" in low and profile.revision:
        return BackendError(
            name,
            f"revision {profile.revision} of {model_id} was not found",
            f"check models.{name}.revision",
        )
    if "safetensors" in low or "does not appear to have a file named" in low:
        return BackendError(
            name,
            f"{model_id} has no safetensors weights",
            "use a revision or a conversion that ships .safetensors; pickled weights are never "
            "loaded",
        )
    if _offline() or "connect" in low or "offline" in low or "cached" in low:
        why = "HF_HUB_OFFLINE is set" if _offline() else "the hub cannot be reached"
        return BackendError(
            name,
            f"weights for {model_id} are not in the local cache and {why}",
            f"download them on a connected machine with `huggingface-cli download {model_id}"
            f"{rev}` or set models.{name}.id to a local path",
        )
    return BackendError(
        name,
        f"cannot load {model_id} ({text[:200]})",
        f"check models.{name}.id and models.{name}.revision",
    )


class _BatchControl(StoppingCriteria):
    """Per-step hook: feeds each row's new token to its slot and says which rows are done."""

    def __init__(self, slots: Sequence[Slot], eos_ids: Sequence[int]) -> None:
        self.slots = slots
        self.eos = frozenset(eos_ids)

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        last = input_ids[:, -1].tolist()
        done = [slot.step(token, self.eos) for slot, token in zip(self.slots, last, strict=True)]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _FirstWord:
    """``first_word`` or ``starts_with`` as a transformers logits processor, for a batch
    of one row."""

    def __init__(self, loaded: LoadedModel, slot: Slot, prompt_tokens: int) -> None:
        from codetune_lsp.models.first_word import FirstWordTokens, start_rule

        table = loaded.extras.get("first_word_tokens")
        if table is None:  # the vocabulary's token texts, read once per model
            tok = loaded.tokenizer
            texts = tok.batch_decode([[i] for i in range(len(tok))], skip_special_tokens=True)
            table = loaded.extras["first_word_tokens"] = FirstWordTokens(texts)
        rule = start_rule(slot.request, table, loaded.eos_ids)
        assert rule is not None, "built only for a request with a start rule"
        self.rule = rule
        self.tokenizer = loaded.tokenizer
        self.prompt_tokens = prompt_tokens

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.rule.done:
            return scores
        written = self.tokenizer.decode(
            input_ids[0, self.prompt_tokens :].tolist(), skip_special_tokens=True
        )
        allowed = self.rule.allowed(written)
        if allowed is None:
            return scores
        mask = torch.full_like(scores, float("-inf"))
        mask[:, allowed] = 0.0
        return scores + mask


def run_batch(
    loaded: LoadedModel,
    slots: Sequence[Slot],
    constraints: Sequence[Any] = (),
) -> None:
    """Generate for ``slots`` in one call; every slot is finished when this returns.
    ``constraints[i]`` is row i's compiled grammar (from ``constraint``) or None."""
    tok = loaded.tokenizer
    encoded = [tok(slot.prompt_text, add_special_tokens=True).input_ids for slot in slots]
    width = max(len(ids) for ids in encoded)
    left = not loaded.seq2seq  # decoder-only models continue from the right edge
    input_ids = torch.full((len(slots), width), loaded.pad_id, dtype=torch.long)
    mask = torch.zeros((len(slots), width), dtype=torch.long)
    for row, ids in enumerate(encoded):
        span = slice(width - len(ids), width) if left else slice(0, len(ids))
        input_ids[row, span] = torch.tensor(ids, dtype=torch.long)
        mask[row, span] = 1
        slots[row].begin(len(ids), loaded.decode)
    first = slots[0].request
    config = GenerationConfig(
        max_new_tokens=max(slot.request.max_new_tokens for slot in slots),
        do_sample=not first.greedy,
        temperature=first.temperature if not first.greedy else None,
        top_p=first.top_p if not first.greedy else None,
        top_k=None,
        num_beams=1,
        eos_token_id=loaded.eos_ids,
        pad_token_id=loaded.pad_id,
        decoder_start_token_id=getattr(loaded.model.config, "decoder_start_token_id", None),
    )
    device = loaded.device if loaded.device != "meta" else "cpu"
    if first.seed is not None:
        torch.manual_seed(first.seed)
    control = _BatchControl(slots, loaded.eos_ids)
    logits_processors: list[Any] = []
    if any(c is not None for c in constraints):
        from codetune_lsp.models.structured import RowGrammars

        logits_processors.append(RowGrammars(constraints, lambda row: slots[row].done))
    if len(slots) == 1 and (first.first_word or first.starts_with):  # never batched
        written_from = 1 if loaded.seq2seq else width  # after the decoder's start token
        logits_processors.append(_FirstWord(loaded, slots[0], written_from))
    with torch.inference_mode():
        loaded.model.generate(
            input_ids=input_ids.to(device),
            attention_mask=mask.to(device),
            generation_config=config,
            stopping_criteria=StoppingCriteriaList([control]),
            logits_processor=LogitsProcessorList(logits_processors),
        )
    for slot in slots:
        slot.finish_if_open("length")
