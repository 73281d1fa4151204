"""The llama.cpp side of the local backend: a GGUF model in this process (llama-cpp-python).

Imported only from the model worker thread (and tests). It offers the same two calls as the
transformers runtime (``load`` and ``run_batch``), so the worker, its queue, the stop rules and
cancellation are shared. llama.cpp runs one sequence at a time here; consecutive prompts that
share a prefix reuse the evaluated state (llama-cpp-python keeps the last tokens and only
evaluates what differs), which is what typing produces.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import llama_cpp

from codetune_lsp.models.base import BackendError, ChatMessage
from codetune_lsp.models.install import locate_gguf
from codetune_lsp.models.profiles import FamilyProfile
from codetune_lsp.settings import ModelProfile

if TYPE_CHECKING:
    from codetune_lsp.models.local import Preemption, Slot

# The window we open by default: the model may allow 32k, but a KV cache that large costs
# memory and time on a laptop CPU, and features fit their prompts to what we report.
DEFAULT_CONTEXT = 8192


def physical_cores() -> int:
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except Exception:
        cores = None
    return max(1, cores or os.cpu_count() or 1)


def default_threads() -> int:
    """The thread count a model starts with: one per physical core but one, at least one."""
    return max(1, physical_cores() - 1)


class ThreadChooser:
    """Threads for the next generation, from how busy the other processes were lately.

    llama.cpp's threads spin while they wait for each other, so a thread per core collapses
    when anything else runs: on 2 cores, 2 threads gave 37.9 tokens/s on an idle machine and
    0.7 on a busy one, where 1 thread gave 24.8 and 9.1 (benchmarks/bench_real_model.py).
    So: every core while the rest of the machine is idle, one core fewer per core others use.
    """

    def __init__(self, cores: int) -> None:
        self.cores = cores
        self._last: tuple[float, float, float] | None = None

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        import psutil

        system = psutil.cpu_times()
        busy = system.user + system.nice + system.system
        busy += getattr(system, "irq", 0.0) + getattr(system, "softirq", 0.0)
        busy += getattr(system, "steal", 0.0)
        own = psutil.Process().cpu_times()
        return time.monotonic(), busy, own.user + own.system

    def choose(self) -> int:
        try:
            now = self._sample()
        except Exception:
            return default_threads()
        last, self._last = self._last, now
        if last is None or now[0] - last[0] <= 0:
            return default_threads()
        others = max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / (now[0] - last[0])
        if others < 0.5:
            return self.cores
        return max(1, self.cores - math.ceil(others))


@dataclass
class LlamaModel:
    """A loaded GGUF model and the facts ``models check`` prints (same shape as transformers')."""

    name: str
    profile: ModelProfile
    row: FamilyProfile
    llm: Any
    path: Path
    eos_ids: list[int]
    model_id: str
    revision: str
    context_length: int
    load_s: float
    fim_enabled: bool
    threads: int
    chat_template: str | None
    add_bos: bool = False
    chooser: ThreadChooser | None = None  # None: the profile fixed the thread count
    device: str = "cpu"
    quantization: str = "gguf"
    seq2seq: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def dtype(self) -> str:
        return str(self.llm.metadata.get("general.file_type", "gguf"))

    def encode(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=self.add_bos, special=True))

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]:
        return [
            len(self.llm.tokenize(t.encode("utf-8"), add_bos=False, special=False)) for t in texts
        ]

    def decode(self, ids: Sequence[int]) -> str:
        return self.llm.detokenize(list(ids)).decode("utf-8", errors="replace")

    def footprint_bytes(self) -> int:
        return self.path.stat().st_size

    def format_chat(self, messages: Sequence[ChatMessage]) -> str | None:
        """The chat in the model's own template, or None where it has none."""
        if not self.chat_template:
            return None
        formatter = self.extras.get("chat_formatter")
        if formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            formatter = self.extras["chat_formatter"] = Jinja2ChatFormatter(
                self.chat_template,
                eos_token=self._token_text(self.llm.token_eos()),
                bos_token=self._token_text(self.llm.token_bos()),
            )
        result = formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
        return result.prompt

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")


def load(
    name: str, profile: ModelProfile, row: FamilyProfile, progress: Callable[[str], None]
) -> LlamaModel:
    """Open the GGUF file a profile names; every failure is one ``BackendError``."""
    started = time.perf_counter()
    path = locate_gguf(name, profile)
    threads = profile.threads or default_threads()
    wanted = profile.context_length or min(row.context_length, DEFAULT_CONTEXT)
    progress(f"loading {path.name} with llama.cpp ({threads} threads)")
    try:
        llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=wanted,
            n_batch=512,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
    except Exception as exc:
        raise BackendError(
            name,
            f"llama.cpp cannot open {path} ({type(exc).__name__}: {exc})",
            f"check that models.{name} names a valid GGUF file, or set "
            f'models.{name}.runtime = "transformers"',
        ) from exc
    eos_ids = sorted({tok for text in row.eos_tokens for tok in _special_ids(llm, text)})
    eos_ids = sorted({*eos_ids, llm.token_eos()})
    chat_template = None
    if profile.chat_format != "family":
        chat_template = llm.metadata.get("tokenizer.chat_template") or None
    fim_tokens = row.fim.tokens if row.fim else ()
    fim = bool(fim_tokens) and all(_special_ids(llm, t) for t in fim_tokens)
    loaded = LlamaModel(
        name=name,
        profile=profile,
        row=row,
        llm=llm,
        path=path,
        eos_ids=[t for t in eos_ids if t >= 0],
        model_id=profile.id or str(path),
        revision=profile.revision,
        context_length=int(llm.n_ctx()),
        load_s=time.perf_counter() - started,
        fim_enabled=fim,
        threads=threads,
        chat_template=chat_template,
        add_bos=str(llm.metadata.get("tokenizer.ggml.add_bos_token", "")).lower() == "true",
        chooser=None if profile.threads else ThreadChooser(physical_cores()),
    )
    progress("ready")
    return loaded


def _special_ids(llm: Any, text: str) -> list[int]:
    """The id of a special token written as ``text`` (empty when the vocab lacks it)."""
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    return list(ids) if len(ids) == 1 else []


def constraint(loaded: LlamaModel, schema: Mapping[str, Any]) -> Any:
    """A llama.cpp grammar that only admits JSON matching ``schema`` (compiled once)."""
    key = json.dumps(schema, sort_keys=True)
    grammars: dict[str, Any] = loaded.extras.setdefault("grammars", {})
    grammar = grammars.get(key)
    if grammar is None:
        grammar = grammars[key] = llama_cpp.LlamaGrammar.from_json_schema(key, verbose=False)
    return grammar


def _set_threads(loaded: LlamaModel) -> None:
    if loaded.chooser is None:
        return
    wanted = loaded.chooser.choose()
    if wanted != loaded.threads:
        llama_cpp.llama_set_n_threads(loaded.llm.ctx, wanted, wanted)
        loaded.threads = wanted


# The worker may hand this runtime a Preemption: a generation pauses between tokens for a
# more urgent request (a completion during diagnostics) and resumes exactly where it was.
PAUSES = True


@dataclass
class _Paused:
    """What a paused generation needs back: the evaluated tokens, llama.cpp's state (the KV
    cache) and the sampler, which llama-cpp-python keeps on the Llama object and which holds
    a grammar's progress through the JSON."""

    n_tokens: int
    input_ids: Any
    state: Any
    size: int
    sampler: Any

    @classmethod
    def take(cls, llm: Any) -> _Paused:
        size = llama_cpp.llama_state_get_size(llm.ctx)
        buffer = (ctypes.c_uint8 * int(size))()
        used = llama_cpp.llama_state_get_data(llm.ctx, buffer, size)
        ids = llm.input_ids[: llm.n_tokens].copy()
        return cls(llm.n_tokens, ids, buffer, int(used), llm._sampler)

    def restore(self, llm: Any) -> None:
        if llama_cpp.llama_state_set_data(llm.ctx, self.state, self.size) != self.size:
            raise RuntimeError("llama.cpp could not restore a paused generation's state")
        llm.input_ids[: self.n_tokens] = self.input_ids
        llm.n_tokens = self.n_tokens
        llm._sampler = self.sampler
        llm._requires_eval = True


def run_batch(
    loaded: LlamaModel,
    slots: Sequence[Slot],
    constraints: Sequence[Any] = (),
    preemption: Preemption | None = None,
) -> None:
    """Generate for each slot in turn, under its own grammar (``constraints[i]`` or None);
    every slot is finished when this returns."""
    for index, slot in enumerate(slots):
        _generate(loaded, slot, constraints[index] if constraints else None, preemption)


def _first_word(loaded: LlamaModel, request: Any, prompt_tokens: int, eos: frozenset[int]) -> Any:
    """The logits processor for ``request.first_word`` or ``starts_with`` (None without
    either)."""
    if not request.first_word and not request.starts_with:
        return None
    from codetune_lsp.models.first_word import first_word_processor, start_rule

    rule = start_rule(request, _token_table(loaded).result(), eos)
    return [first_word_processor(rule, prompt_tokens, loaded.decode)] if rule else None


def _token_table(loaded: LlamaModel) -> Future[Any]:
    """The vocabulary's token texts, for the start rules, read once per model on a thread of
    its own (about half a second for 150k tokens). It starts after the first generation:
    the first request that needs it comes after typing, and then rarely waits."""
    pending = loaded.extras.get("token_table")
    if pending is None:
        pending = loaded.extras["token_table"] = Future()
        threading.Thread(
            target=_read_token_table, args=(loaded.llm, pending), name="llama-vocab", daemon=True
        ).start()
    return pending


def _read_token_table(llm: Any, into: Future[Any]) -> None:
    from codetune_lsp.models.first_word import FirstWordTokens

    try:
        texts = [
            llm.detokenize([token], special=False).decode("utf-8", errors="replace")
            for token in range(llm.n_vocab())
        ]
        table = FirstWordTokens(texts)
        table.starting_with(" ")  # builds its index by first character
        into.set_result(table)
    except BaseException as exc:  # the request that needs it raises it
        into.set_exception(exc)


def _generate(loaded: LlamaModel, slot: Slot, grammar: Any, preemption: Preemption | None) -> None:
    _set_threads(loaded)
    eos = frozenset(loaded.eos_ids)
    tokens = loaded.encode(slot.prompt_text)
    slot.begin(len(tokens), loaded.decode)
    request = slot.request
    if request.seed is not None:
        loaded.llm.set_seed(request.seed)
    stream = loaded.llm.generate(
        tokens,
        temp=request.temperature,
        top_p=request.top_p,
        top_k=0 if request.greedy else 40,
        min_p=0.0,
        repeat_penalty=1.0,
        reset=True,
        grammar=grammar,
        logits_processor=_first_word(loaded, request, len(tokens), eos),
    )
    try:
        for token in stream:
            if slot.step(int(token), eos):
                break
            if preemption is not None and preemption.waiting(request.priority):
                paused = _Paused.take(loaded.llm)
                try:
                    preemption.serve(request.priority)
                finally:
                    paused.restore(loaded.llm)
    finally:
        stream.close()
        _token_table(loaded)
    slot.finish_if_open("length")
