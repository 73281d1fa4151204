"""The local transformers backend, run on tiny models built at test time."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from codetune_lsp.models.base import (
    BackendError,
    CancelToken,
    ChatMessage,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
)
from codetune_lsp.models.local import LocalBackend
from codetune_lsp.models.profiles import DEEPSEEK_EOS, DEEPSEEK_EOT
from codetune_lsp.settings import ModelProfile
from tests.models.helpers import PROMPTS, load_reference, reference_greedy
from tests.needs import need

need("torch", "the local backend, extra 'local'")
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def llama(tiny_llama: Path):
    backend = LocalBackend("tiny-llama", ModelProfile(family="whiterabbitneo", id=str(tiny_llama)))
    yield backend
    await backend.close()


@pytest.fixture
async def t5(tiny_t5: Path):
    backend = LocalBackend("tiny-t5", ModelProfile(family="codet5p", id=str(tiny_t5)))
    yield backend
    await backend.close()


async def test_greedy_llama_output_equals_model_generate(llama: LocalBackend, tiny_llama: Path):
    loaded = await llama.ready()
    reference = load_reference(tiny_llama)
    for prompt in PROMPTS:
        result = await llama.generate(GenerationRequest(prompt=prompt, max_new_tokens=24))
        expected = reference_greedy(reference, loaded.tokenizer, prompt, 24, loaded.eos_ids)
        assert result.text == expected
        assert result.finish_reason == "length"
        assert result.tokens_out == 24
        assert result.tokens_in == len(loaded.tokenizer(prompt).input_ids)
        assert result.model_id == str(tiny_llama)
        assert result.time_to_first_token_s is not None
        assert 0 < result.time_to_first_token_s <= result.duration_s


async def test_greedy_t5_span_infill_equals_model_generate(t5: LocalBackend, tiny_t5: Path):
    loaded = await t5.ready()
    assert loaded.seq2seq and loaded.fim_enabled
    reference = load_reference(tiny_t5, seq2seq=True)
    for prompt in ("def add(a, b):\n    return <extra_id_0>\n", "x = <extra_id_0> + 1"):
        result = await t5.generate(GenerationRequest(prompt=prompt, max_new_tokens=16))
        expected = reference_greedy(reference, loaded.tokenizer, prompt, 16, loaded.eos_ids)
        assert result.text == expected
        assert result.text  # the tiny model really produced something


async def test_eos_is_set_explicitly_from_the_family_not_the_config(llama: LocalBackend):
    loaded = await llama.ready()
    vocab = loaded.tokenizer.get_vocab()
    assert loaded.eos_ids == sorted([vocab[DEEPSEEK_EOT], vocab[DEEPSEEK_EOS]])
    # The fixture's config.json and generation_config.json name other ids, like the 33B.
    assert loaded.model.config.eos_token_id not in loaded.eos_ids


async def test_concurrent_requests_are_batched_and_equal_unbatched_greedy(llama: LocalBackend):
    await llama.ready()
    alone = [
        (await llama.generate(GenerationRequest(prompt=p, max_new_tokens=20))).text for p in PROMPTS
    ]
    assert set(llama.batch_sizes) == {1}
    together = await asyncio.gather(
        *(llama.generate(GenerationRequest(prompt=p, max_new_tokens=20)) for p in PROMPTS)
    )
    assert [r.text for r in together] == alone
    assert max(llama.batch_sizes) > 1  # some of them really shared a generate call


async def test_batched_rows_keep_their_own_budgets(llama: LocalBackend):
    await llama.ready()
    short, long = await asyncio.gather(
        llama.generate(GenerationRequest(prompt=PROMPTS[0], max_new_tokens=3)),
        llama.generate(GenerationRequest(prompt=PROMPTS[1], max_new_tokens=30)),
    )
    assert (short.tokens_out, long.tokens_out) == (3, 30)
    assert short.finish_reason == long.finish_reason == "length"


async def test_cancel_token_stops_a_long_generation_within_the_bound(llama: LocalBackend):
    await llama.ready()
    cancel = CancelToken()
    request = GenerationRequest(prompt=PROMPTS[1], max_new_tokens=2000, cancel=cancel)
    task = asyncio.create_task(llama.generate(request))
    await asyncio.sleep(0.2)
    cancelled_at = time.perf_counter()
    cancel.cancel()
    result = await task
    latency = time.perf_counter() - cancelled_at
    assert result.finish_reason == "cancelled"
    assert latency < 0.3, f"stopped {latency * 1000:.0f} ms after the cancel"
    assert 0 < result.tokens_out < 2000


async def test_cancelling_the_task_stops_the_generation_itself(llama: LocalBackend):
    await llama.ready()
    task = asyncio.create_task(
        llama.generate(GenerationRequest(prompt=PROMPTS[0], max_new_tokens=2000))
    )
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The worker is free again at once: a short request is not stuck behind 2000 tokens.
    started = time.perf_counter()
    await llama.generate(GenerationRequest(prompt=PROMPTS[2], max_new_tokens=4))
    assert time.perf_counter() - started < 1.0


async def test_request_cancelled_before_it_runs_is_answered_without_generating(
    llama: LocalBackend,
):
    await llama.ready()
    cancel = CancelToken()
    cancel.cancel()
    result = await llama.generate(GenerationRequest(prompt="x", max_new_tokens=50, cancel=cancel))
    assert (result.finish_reason, result.tokens_out, result.text) == ("cancelled", 0, "")


async def test_stream_deltas_add_up_to_the_final_text(llama: LocalBackend):
    await llama.ready()
    plain = await llama.generate(GenerationRequest(prompt=PROMPTS[1], max_new_tokens=30))
    events = [
        e async for e in llama.stream(GenerationRequest(prompt=PROMPTS[1], max_new_tokens=30))
    ]
    *deltas, final = events
    assert isinstance(final, GenerationResult)
    assert all(isinstance(d, StreamDelta) for d in deltas) and len(deltas) > 3
    assert "".join(d.text for d in deltas) == final.text == plain.text


async def test_stop_string_cuts_the_output_and_reports_stop(llama: LocalBackend):
    await llama.ready()
    full = (await llama.generate(GenerationRequest(prompt=PROMPTS[0], max_new_tokens=40))).text
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    assert stop.strip()
    result = await llama.generate(
        GenerationRequest(prompt=PROMPTS[0], max_new_tokens=40, stop=(stop,))
    )
    assert result.text == full[: full.index(stop)]
    assert result.finish_reason == "stop"
    assert result.tokens_out < 40


async def test_end_when_stops_the_generation_once_the_caller_has_its_answer(llama: LocalBackend):
    await llama.ready()
    full = (await llama.generate(GenerationRequest(prompt=PROMPTS[0], max_new_tokens=40))).text
    enough = len(full) // 2
    seen: list[str] = []

    def has_half(text: str) -> bool:
        seen.append(text)
        return len(text) >= enough

    result = await llama.generate(
        GenerationRequest(prompt=PROMPTS[0], max_new_tokens=40, end_when=has_half)
    )
    assert result.finish_reason == "stop" and result.tokens_out < 40
    assert full.startswith(result.text) and len(result.text) >= enough
    assert seen[-1] == result.text and all(len(text) < enough for text in seen[:-1])


async def test_a_failing_end_when_never_ends_a_generation_early(llama: LocalBackend):
    await llama.ready()
    full = await llama.generate(GenerationRequest(prompt=PROMPTS[0], max_new_tokens=40))

    def broken(text: str) -> bool:
        raise ValueError("a bug in the caller's judge")

    result = await llama.generate(
        GenerationRequest(prompt=PROMPTS[0], max_new_tokens=40, end_when=broken)
    )
    assert (result.text, result.finish_reason) == (full.text, full.finish_reason)


async def test_streamed_text_never_leaks_a_stop_string(llama: LocalBackend):
    await llama.ready()
    full = (await llama.generate(GenerationRequest(prompt=PROMPTS[0], max_new_tokens=40))).text
    stop = full[len(full) // 2 : len(full) // 2 + 4]
    request = GenerationRequest(prompt=PROMPTS[0], max_new_tokens=40, stop=(stop,))
    events = [e async for e in llama.stream(request)]
    streamed = "".join(e.text for e in events if isinstance(e, StreamDelta))
    assert stop not in streamed
    assert streamed == events[-1].text == full[: full.index(stop)]


async def test_chat_messages_use_the_family_format_and_stop_at_user(llama: LocalBackend):
    await llama.ready()
    messages = (ChatMessage("system", "Be brief."), ChatMessage("user", "Write add()."))
    chat = await llama.generate(GenerationRequest(messages=messages, max_new_tokens=16))
    prompt = "SYSTEM: Be brief.\nUSER: Write add().\nASSISTANT: "
    raw = await llama.generate(GenerationRequest(prompt=prompt, max_new_tokens=16))
    assert chat.text == raw.text
    assert chat.tokens_in == raw.tokens_in


async def test_prompt_longer_than_the_context_is_refused_clearly(tiny_llama: Path):
    backend = LocalBackend("small-ctx", ModelProfile(id=str(tiny_llama), context_length=32))
    try:
        with pytest.raises(BackendError) as info:
            await backend.generate(GenerationRequest(prompt=PROMPTS[1] * 4, max_new_tokens=8))
        assert info.value.profile == "small-ctx"
        assert "context holds 32" in str(info.value)
    finally:
        await backend.close()


async def test_loading_reports_progress_stages_on_the_loop(tiny_llama: Path):
    stages: list[str] = []
    backend = LocalBackend("progress", ModelProfile(id=str(tiny_llama)), progress=stages.append)
    try:
        await backend.ready()
        await asyncio.sleep(0.05)  # callbacks are scheduled onto the loop
        assert stages[0].startswith("reading the configuration")
        assert any(s.startswith("loading weights (none, float32)") for s in stages)
        assert stages[-1] == "ready"
        health = await backend.health()
        assert health.ok and "cpu" in health.detail
    finally:
        await backend.close()


async def test_a_request_cancelled_while_the_model_loads_leaves_the_load_alone(tiny_llama: Path):
    """Editors cancel requests all the time; one cancelled during loading must not cancel
    the load itself (it used to, and every later request failed with CancelledError)."""
    backend = LocalBackend("cancel-load", ModelProfile(id=str(tiny_llama)))
    try:
        first = asyncio.ensure_future(
            backend.generate(GenerationRequest(prompt=PROMPTS[0], max_new_tokens=4))
        )
        await asyncio.sleep(0)  # the request is waiting for the load
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert backend.loaded is None  # still loading, not broken
        result = await backend.generate(GenerationRequest(prompt=PROMPTS[0], max_new_tokens=4))
        assert result.tokens_out > 0 and backend.loaded is not None
    finally:
        await backend.close()


async def test_missing_weights_offline_give_one_message_with_the_fix():
    backend = LocalBackend(
        "whiterabbitneo-7b",
        ModelProfile(id="WhiteRabbitNeo/WhiteRabbitNeo-7B-v1.5a", revision="main"),
    )
    with pytest.raises(BackendError) as info:
        await backend.ready()
    err = info.value
    assert err.profile == "whiterabbitneo-7b"
    assert "not in the local cache and HF_HUB_OFFLINE is set" in str(err)
    assert "huggingface-cli download WhiteRabbitNeo/WhiteRabbitNeo-7B-v1.5a --revision main" in (
        err.fix
    )
    assert "models.whiterabbitneo-7b.id" in err.fix
    health = await backend.health()
    assert not health.ok
    await backend.close()


async def test_pickled_weights_are_never_loaded(tmp_path: Path, tiny_llama: Path):
    import shutil

    import torch
    from safetensors.torch import load_file

    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_llama / name, tmp_path / name)
    torch.save(load_file(tiny_llama / "model.safetensors"), tmp_path / "pytorch_model.bin")
    backend = LocalBackend("pickled", ModelProfile(id=str(tmp_path)))
    with pytest.raises(BackendError) as info:
        await backend.ready()
    assert "no safetensors weights" in str(info.value)
    assert "pickled" in info.value.fix


async def test_remote_code_is_not_run_unless_the_user_allows_it(tmp_path: Path):
    marker = tmp_path / "ran.txt"
    (tmp_path / "config.json").write_text(
        '{"model_type": "evil", "architectures": ["EvilModel"],'
        ' "auto_map": {"AutoConfig": "configuration_evil.EvilConfig"}}'
    )
    (tmp_path / "configuration_evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('pwned')\n"
        "from transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
    )
    backend = LocalBackend("evil", ModelProfile(id=str(tmp_path)))
    with pytest.raises(BackendError) as info:
        await backend.ready()
    assert not marker.exists()
    assert "trust_remote_code = true" in info.value.fix
