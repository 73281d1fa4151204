"""The engine: one path from template to recorded execution, for every feature."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.engine import AroundCursor, Engine, EngineError, EngineRequest, fim_markers
from codetune_lsp.models.base import CancelToken, GenerationRequest
from codetune_lsp.prompts.completion_text import postprocess
from codetune_lsp.settings import ModelProfile
from codetune_lsp.store.tables import Execution

DOC = DocumentSnapshot("file:///w/app.py", 7, "python", "def add(a, b):\n    return a + b\n")
EXPLAIN_VARS = {"code": DOC.text, "language": "python", "file_name": "app.py"}


def explain(**changes) -> EngineRequest:
    base = dict(
        feature="code_action",
        template="code_action.explain",
        model="tiny",
        variables=EXPLAIN_VARS,
        document=DOC,
        unit_key="w|app.py",
        max_new_tokens=12,
    )
    return EngineRequest(**{**base, **changes})


def executions(engine: Engine) -> list[Execution]:
    engine.store.flush().result()
    return engine.store.read(
        lambda s: list(s.scalars(select(Execution).order_by(Execution.created_at)))
    )


async def test_a_request_runs_the_model_and_is_recorded_with_its_version(engine: Engine) -> None:
    result = await engine.run(explain())
    assert result.execution_id and not result.cache_hit
    assert await result.recorded == result.execution_id  # committed
    (row,) = executions(engine)
    assert row.id == result.execution_id
    assert (row.feature, row.template_name, row.requested_label) == (
        "code_action",
        "code_action.explain",
        "production",
    )
    assert row.resolved_version_id == result.version_id and result.version == 1
    assert row.success and row.model_profile == "tiny" and row.document_version == 7
    assert row.input_tokens and row.output_tokens and row.latency_ms > 0


async def test_the_output_is_what_the_backend_returns_for_the_rendered_prompt(
    engine: Engine,
) -> None:
    from codetune_lsp.engine import build_generation

    resolved = await engine.resolve(explain())
    generation = build_generation(resolved.template, EXPLAIN_VARS, 12, None)
    direct = await engine.backend("tiny").generate(generation)
    via_engine = await engine.run(explain(), resolved)
    assert via_engine.text == direct.text
    assert (
        generation.messages[0].role == "system"
        and "explaining code" in generation.messages[0].content
    )
    assert DOC.text in generation.messages[-1].content


async def test_an_identical_request_is_a_cache_hit_recorded_as_such(engine: Engine) -> None:
    first = await engine.run(explain())
    engine.store.flush().result()  # the cache write commits off the request path
    calls = []
    backend = engine.backend("tiny")
    original = backend.generate

    async def counting(request: GenerationRequest):
        calls.append(request)
        return await original(request)

    backend.generate = counting  # type: ignore[method-assign]
    second = await engine.run(explain())
    assert second.cache_hit and second.text == first.text and calls == []
    await second.recorded
    rows = executions(engine)
    assert [r.cache_hit for r in rows] == [False, True]
    assert rows[1].estimated_cost == 0


async def test_unknown_profiles_and_missing_variables_are_clear_errors(engine: Engine) -> None:
    with pytest.raises(EngineError, match=r"no model profile named 'nope'.*\[models\.nope\]"):
        await engine.run(explain(model="nope"))
    with pytest.raises(EngineError, match="needs variable 'language'"):
        await engine.run(explain(variables={"code": "x", "file_name": "a.py"}))
    with pytest.raises(EngineError, match="is for code_action, not diagnostics"):
        await engine.run(explain(feature="diagnostics"))


async def test_a_failing_model_is_recorded_and_named(engine: Engine) -> None:
    with pytest.raises(EngineError) as caught:
        await engine.run(explain(model="missing"))
    assert "model profile 'missing'" in str(caught.value)
    assert caught.value.kind == "backend"
    (row,) = executions(engine)
    assert not row.success and row.error_class == "BackendError" and row.model_profile == "missing"


async def test_cancelling_stops_generation_and_records_it(engine: Engine) -> None:
    token = CancelToken()
    token.cancel()
    result = await engine.run(explain(cancel=token, max_new_tokens=200))
    assert result.finish_reason == "cancelled"
    (row,) = executions(engine)
    assert not row.success and row.finish_reason == "cancelled"


async def test_experiment_arm_is_recorded(engine: Engine) -> None:
    from codetune_lsp.prompts.library import builtin_sources

    source = dict(builtin_sources())["code_action.explain.toml"]
    engine.library.import_source(source.replace("concise", "brief"), "v2.toml", move_label=False)
    engine.library.start_experiment("code_action.explain", [(1, 50), (2, 50)])
    result = await engine.run(explain())
    (row,) = executions(engine)
    assert row.experiment_arm_id is not None and result.arm in ("v1", "v2")
    assert row.resolved_version_id == result.version_id


async def test_context_fitting_counts_with_the_real_tokenizer_once_loaded(engine: Engine) -> None:
    from codetune_lsp.models.base import estimate_tokens

    text = "def add(a, b):\n    return a + b  # 😀\n"
    backend = engine.backend("tiny")
    before = engine.info("tiny")  # not loaded yet: an estimate, flagged as such
    assert not before.loaded and not before.exact_counts
    assert before.count_tokens([text]) == estimate_tokens([text])
    await backend.ready()
    tokenizer = backend.loaded.tokenizer
    expected = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    after = engine.info("tiny")
    assert after.loaded and after.exact_counts and after.kind == "local"
    assert after.count_tokens([text, ""]) == [expected, 0]


async def test_repeated_hits_are_served_from_memory_and_still_recorded(engine: Engine) -> None:
    await engine.run(explain())
    engine.store.flush().result()
    await engine.run(explain())  # from the store's cache: now remembered in memory
    lookups = []
    original = engine.store.cache_get

    async def counting(request):
        lookups.append(request)
        return await original(request)

    engine.store.cache_get = counting  # type: ignore[method-assign]
    third = await engine.run(explain())
    assert third.cache_hit and lookups == []
    await third.recorded
    assert [r.cache_hit for r in executions(engine)] == [False, True, True]


async def test_the_served_text_is_recorded_beside_the_raw_output(engine: Engine) -> None:
    result = await engine.run(explain(postprocess=lambda raw: "served: " + raw[:4]))
    assert result.text == "served: " + result.raw_text[:4]
    await result.recorded
    (row,) = executions(engine)
    assert row.output == result.raw_text and row.served_output == result.text
    assert row.success and not row.empty_result


async def test_an_answer_emptied_by_post_processing_is_recorded_as_empty(engine: Engine) -> None:
    result = await engine.run(explain(postprocess=lambda raw: ""))
    assert result.text == "" and result.raw_text
    await result.recorded
    (row,) = executions(engine)
    assert row.empty_result and not row.success and row.error_class == "EmptyResult"
    assert row.output == result.raw_text and row.served_output == ""


async def test_a_backend_that_never_answers_is_recorded_as_a_timeout(tmp_path) -> None:
    import socket

    from codetune_lsp.models.registry import create_backend
    from codetune_lsp.paths import Paths
    from codetune_lsp.prompts.library import PromptLibrary
    from codetune_lsp.store import open_store

    from .conftest import settings_with

    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        profile = ModelProfile(family="whiterabbitneo", backend="openai", id="m", url=url)
        settings = settings_with({"silent": profile})
        store = open_store(settings, Paths(tmp_path / "c.toml", "t", tmp_path / "data", "t"))
        library = PromptLibrary(store)
        library.seed_builtins()
        silent_engine = Engine(settings, store, library, create_backend)
        try:
            with pytest.raises(EngineError, match="gave no answer") as caught:
                await silent_engine.run(explain(model="silent", timeout_s=0.5))
            assert caught.value.kind == "timeout"
            (row,) = executions(silent_engine)
        finally:
            await silent_engine.aclose()
            store.close()
    assert row.finish_reason == "timeout" and not row.success and row.error_class == "Timeout"


def prompt_of(engine: Engine, row: Execution) -> str:
    from codetune_lsp.store.tables import PromptText

    return engine.store.read(lambda s: s.get(PromptText, row.rendered_prompt_hash).text)


def infill(fit: AroundCursor) -> EngineRequest:
    return EngineRequest(
        feature="completion",
        template="completion.infill",
        model="tiny",
        variables={
            "language": "python",
            "file_name": "app.py",
            "cursor": "line",
            "chat": {},
            "repo_name": "",
            "file_path": "app.py",
        },
        document=DOC,
        unit_key="w|app.py",
        max_new_tokens=4,
        fit=fit,
        postprocess=lambda raw: postprocess(raw, fit.prefix + fit.typed, fit.suffix),
    )


async def test_typed_text_follows_the_middle_marker_so_the_prompt_extends_the_last(
    engine: Engine,
) -> None:
    around = ("def f():\n    x = ", "\n    return x\n")
    await engine.run(infill(AroundCursor(*around)))
    result = await engine.run(infill(AroundCursor(*around, typed="len(a, b")))
    first, second = (prompt_of(engine, row) for row in executions(engine))
    # The last word typed, with the sign before it, is not in the prompt: the answer
    # must begin with it (the model picks its own tokens for it), and is served after it.
    assert second == first + "len(a,"
    assert json.loads(executions(engine)[1].params_json)["starts_with"] == " b"
    assert result.raw_text.startswith(" b")
    assert result.text == postprocess(result.raw_text[2:], around[0] + "len(a, b", around[1])


async def test_a_template_without_a_middle_gets_the_typed_text_in_its_prefix(
    engine: Engine,
) -> None:
    from codetune_lsp.prompts.library import builtin_sources

    source = dict(builtin_sources())["completion.infill.toml"]
    older = source.replace("{{ middle }}", "").replace('middle = "str"\n', "")
    assert older != source
    engine.library.import_source(older, "older.toml")
    await engine.run(infill(AroundCursor("def f():\n    x = ", "\n    return x\n", typed="ab")))
    (row,) = executions(engine)
    fim = fim_markers(engine.info("tiny").fim_format)
    assert f"x = ab{fim['suffix']}" in prompt_of(engine, row)
    assert prompt_of(engine, row).endswith(fim["middle"])
